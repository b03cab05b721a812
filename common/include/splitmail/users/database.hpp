#pragma once
// The user database of splitmail-home, shared by LMTP delivery, IMAP and the admin CLI:
// the users file (address:{SCHEME}hash) and the aliases file (alias@dom: a@dom, b@dom;
// catch-all "@dom: a@dom"), formats in docs/internal/contracts.md.
//
// Guarantees:
// - Parsing reports the first error as "FILE:LINE: reason". Addresses are lower-cased (ASCII;
//   local part and domain are matched case-insensitively) and must be usable as Maildir path
//   components: no '/', no control characters or spaces, no leading '.', a valid domain.
// - A database only exists if every alias expands, within max_alias_depth, to real users with
//   no loop; otherwise build()/load() fail naming the aliases file line.
// - lookup() resolves in this order: the exact address (an alias definition takes precedence
//   over a user of the same name, as Postfix virtual_alias_maps do; an alias naming itself, or
//   an address already being expanded, means that address's own mailbox when it is a user),
//   then plus-addressing (local part cut at the first occurrence of the delimiter, when that is
//   not at position 0: "user+tag@" -> "user@", "alias+tag@" -> "alias@"), then the domain's
//   catch-all. Each resulting user appears once, in first-seen order.
// - directory() is the recipient list the relay validates against (XDIRECTORY, contracts.md);
//   its version is the SHA-256 of its content, so equal content gives an equal version.
// Does not: watch files (live_database.hpp does), verify passwords (password.hpp), or know
// where Maildirs are.
#include <cstddef>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::users {

inline constexpr std::size_t max_alias_depth = 10;

struct user_entry {
    std::string address; // lower-case local@domain
    std::string hash;    // "{SCHEME}data"
    std::size_t line = 0;
};

struct alias_entry {
    std::string address;              // lower-case local@domain, or "@domain" for a catch-all
    std::vector<std::string> targets; // lower-case addresses
    std::size_t line = 0;
};

struct parse_error {
    std::string file;
    std::size_t line = 0; // 0: not about one line
    std::string reason;
    std::string message() const; // "FILE:LINE: reason"
};

std::expected<std::vector<user_entry>, parse_error> parse_users(std::string_view text,
                                                                std::string_view name);
std::expected<std::vector<alias_entry>, parse_error> parse_aliases(std::string_view text,
                                                                   std::string_view name);

// Lower-cases and checks "local@domain" (see the guarantees above); nullopt if unusable.
std::optional<std::string> normalize_address(std::string_view address);

// The one normalisation of a login name, applied where a credential enters (IMAP LOGIN and
// AUTHENTICATE, submission AUTH, LMTP XAUTH): ASCII white space around it trimmed, then
// normalize_address (lower-case local part and domain, as the users file is matched). `key`
// is what the login brake counts and what the user is looked up by; for a name that is not a
// usable address (usable = false, it can never log in) it is the trimmed, lower-cased name
// cut to 320 octets, so such guesses are braked too. No IDNA: non-ASCII domains stay as sent.
struct login_name {
    std::string key;
    bool usable = false;
};
login_name normalize_login(std::string_view login);

struct lookup_result {
    enum class status { found, unknown, tempfail };
    status st = status::unknown;
    std::vector<std::string> users; // final mailboxes (user addresses) when found
    std::string reason;             // for logs: why unknown / tempfail
};

struct directory {
    std::string version; // hex SHA-256 of the lines below
    std::string delimiter;
    std::vector<std::string> domains;    // sorted
    std::vector<std::string> catchall;   // sorted domains having a catch-all
    std::vector<std::string> recipients; // sorted users and alias addresses
};

// The XDIRECTORY reply text lines (without "250-"): "version ...", "delimiter +",
// "domain d", "catchall d", "rcpt a@d", ..., "end". "delimiter" is left out when empty.
std::vector<std::string> xdirectory_lines(const directory& d);

class database {
public:
    // `domains`: the local domains (home.domains); empty means "every domain named in the
    // files". A user or alias outside explicit domains is an error.
    static std::expected<database, std::string>
    build(std::vector<user_entry> users, std::vector<alias_entry> aliases, std::string delimiter,
          std::vector<std::string> domains = {}, std::string aliases_name = "aliases");
    // `aliases_file` may be empty (no aliases). Errors read "FILE:LINE: reason".
    static std::expected<database, std::string> load(const std::filesystem::path& users_file,
                                                     const std::filesystem::path& aliases_file,
                                                     std::string delimiter,
                                                     std::vector<std::string> domains = {});

    lookup_result lookup(std::string_view address) const;
    // Exact user (no alias, no plus-addressing): for authentication.
    const user_entry* find_user(std::string_view address) const;
    bool is_local_domain(std::string_view domain) const;

    const directory& dir() const { return dir_; }
    const std::string& delimiter() const { return delimiter_; }
    std::size_t user_count() const { return users_.size(); }
    std::size_t alias_count() const { return aliases_.size(); }

private:
    struct expansion;
    bool resolve(const std::string& address, expansion& x, std::size_t depth) const;
    std::expected<bool, std::string> expand_alias(const alias_entry& a, expansion& x,
                                                  std::size_t depth) const;

    std::map<std::string, user_entry, std::less<>> users_;
    std::map<std::string, alias_entry, std::less<>> aliases_; // includes "@dom" catch-alls
    std::vector<std::string> domains_;                        // sorted
    std::string delimiter_;
    directory dir_;
};

} // namespace splitmail::users
