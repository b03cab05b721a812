#pragma once
// The Public Suffix List (publicsuffix.org format; Debian's `publicsuffix` package installs it
// at /usr/share/publicsuffix/public_suffix_list.dat) and the Organizational Domain of DMARC
// (RFC 7489 3.2): the public suffix of a name plus one label.
//
// Guarantees: the list's algorithm: normal rules, wildcards ("*.ck"), exceptions ("!www.ck")
// which win over everything; with no matching rule the suffix is the last label (the implied
// "*" rule). Names are compared lower-case, without a trailing dot. Lookups are linear in the
// number of labels (hash sets). A name that is itself a public suffix is its own
// Organizational Domain.
// Does not: IDNA (rules and names are compared as written; our inputs are A-labels), or
// distinguish the ICANN and PRIVATE sections (both count, as libpsl does by default).
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>

namespace splitmail::relay::dmarc {

inline constexpr std::string_view default_psl_path =
    "/usr/share/publicsuffix/public_suffix_list.dat";

class suffix_list {
public:
    // Parses the list's text (comments "//", one rule per line, the rule ends at white space).
    static suffix_list parse(std::string_view text);
    static std::expected<suffix_list, std::string> load(const std::filesystem::path& file);

    std::string public_suffix(std::string_view domain) const;
    std::string organizational_domain(std::string_view domain) const;
    std::size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

private:
    std::unordered_set<std::string> rules_, wildcards_, exceptions_; // wildcards_ without "*."
};

} // namespace splitmail::relay::dmarc
