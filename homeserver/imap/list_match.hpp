#pragma once
// LIST/LSUB mailbox patterns (RFC 3501 6.3.8, RFC 9051 6.3.9): '*' matches any run of
// characters, '%' any run without the hierarchy delimiter, every other octet itself.
//
// Guarantees:
// - Matching costs O(len(name) * ceil(len(pattern) / 64)) word operations, whatever the
//   pattern: a bit-parallel simulation of the pattern's automaton (one bit per pattern
//   position), no backtracking and no recursion. "*%*%...zzz" costs the same as "zzz" per
//   octet of name (issue 11: the old recursive matcher took minutes on 80 wildcards and held
//   the io thread that every session and LMTP delivery share).
// - list_pattern_problem() states the caps a command enforces before matching (pattern
//   octets, wildcards), so the work of one LIST stays bounded even with many mailboxes.
// Does not: know about INBOX's case-insensitivity (the caller upper-cases pattern and name),
// references (the caller concatenates reference and pattern, RFC 3501 6.3.8).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::home::imap {

// Caps on one LIST pattern (reference + pattern, as matched) and on one LIST command.
// Names on disk are at most 255 octets (mailbox_store::valid_name); the caps leave room for
// wildcards and for IMAP4rev2 names that grow when converted to modified UTF-7.
inline constexpr std::size_t max_list_pattern_octets = 1024;
inline constexpr std::size_t max_list_pattern_wildcards = 64;
inline constexpr std::size_t max_list_patterns = 32; // LIST-EXTENDED pattern list (RFC 5258)

// nullopt when `pattern` is within the caps, else the reason (names the limit) for a BAD.
std::optional<std::string> list_pattern_problem(std::string_view pattern);

class list_pattern {
public:
    explicit list_pattern(std::string_view pattern, char delim = '.');
    bool matches(std::string_view name) const;

private:
    using word = std::uint64_t;
    char delim_;
    std::size_t tokens_ = 0; // pattern positions; bit `tokens_` is the accepting state
    std::size_t words_ = 1;
    std::uint16_t lit_index_[256] = {}; // octet -> row of lit_ (0: appears in no literal)
    std::vector<word> lit_;             // rows of words_: positions holding that literal octet
    std::vector<word> star_, pct_;      // positions holding '*' / '%'
};

// One-shot form of list_pattern(pattern, delim).matches(name).
bool list_match(std::string_view pattern, std::string_view name, char delim = '.');

} // namespace splitmail::home::imap
