// User and alias files: parsing, alias expansion, lookup, recipient directory; see
// users/database.hpp.
#include "splitmail/users/database.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/text/hex.hpp"
#include "splitmail/text/trim.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/users/password.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace splitmail::users {
namespace {

using text::trim;

// Calls f(line_number, line) for every line that is not blank or a comment.
template <class F>
std::optional<parse_error> for_each_line(std::string_view text, std::string_view name, F f) {
    std::size_t no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++no;
        auto line = trim(raw);
        if (line.empty() || line.front() == '#') continue;
        if (line.find('\0') != std::string_view::npos)
            return parse_error{std::string(name), no, "NUL byte in line"};
        if (auto why = f(no, line); !why.empty())
            return parse_error{std::string(name), no, std::move(why)};
    }
    return std::nullopt;
}

bool valid_local(std::string_view local) {
    if (local.empty() || local.size() > address::max_local_part) return false;
    if (local.front() == '.') return false; // also rules out "." and ".."
    for (unsigned char c : local) {
        // '/' and NUL would escape the Maildir path; the rest are separators of our files.
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '@' || c == ':' || c == ',' ||
            c == '"' || c == '#')
            return false;
    }
    return true;
}

std::string sha256_hex(std::string_view text) {
    std::array<unsigned char, 32> md{};
    unsigned len = 0;
    EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr);
    return text::hex(md.data(), len);
}

std::string domain_of(std::string_view address) {
    auto at = address.rfind('@');
    return std::string(at == std::string_view::npos ? std::string_view{} : address.substr(at + 1));
}

std::expected<std::string, std::string> read_file(const std::filesystem::path& p) {
    auto r = durable::read_file(p, {64u << 20}); // far above any real users/aliases file
    if (!r) return std::unexpected(r.error().text());
    return std::move(*r);
}

} // namespace

std::string parse_error::message() const {
    if (line == 0) return file + ": " + reason;
    return file + ":" + std::to_string(line) + ": " + reason;
}

std::optional<std::string> normalize_address(std::string_view address) {
    auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0) return std::nullopt;
    auto local = address.substr(0, at);
    auto domain = address.substr(at + 1);
    if (!valid_local(local)) return std::nullopt;
    if (domain.empty() || domain.front() == '[' || domain.front() == '.') return std::nullopt;
    if (!address::valid_domain(domain)) return std::nullopt;
    return address::lower_ascii(address);
}

login_name normalize_login(std::string_view login) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!login.empty() && ws(login.front())) login.remove_prefix(1);
    while (!login.empty() && ws(login.back())) login.remove_suffix(1);
    if (auto a = normalize_address(login)) return login_name{std::move(*a), true};
    return login_name{address::lower_ascii(login.substr(0, 320)), false};
}

std::expected<std::vector<user_entry>, parse_error> parse_users(std::string_view text,
                                                                std::string_view name) {
    std::vector<user_entry> out;
    std::set<std::string> seen;
    auto err = for_each_line(text, name, [&](std::size_t no, std::string_view line) {
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return std::string("expected \"address:{SCHEME}hash\"");
        auto addr = normalize_address(trim(line.substr(0, colon)));
        if (!addr)
            return "\"" + std::string(trim(line.substr(0, colon))) +
                   "\" is not a usable address (local@domain, no '/', spaces or leading '.')";
        // Dovecot passwd-file lines carry more ':'-separated fields after the password
        // (uid:gid:...); they are ignored so such files can be used as they are.
        auto rest = line.substr(colon + 1);
        auto hash = trim(rest.substr(0, rest.find(':')));
        if (hash.empty()) return "no password hash for " + *addr;
        if (scheme_of(hash) == scheme::unknown)
            return "unknown password scheme for " + *addr +
                   " (expected {ARGON2ID}, {ARGON2I}, {SHA512-CRYPT}, {SHA256-CRYPT}, "
                   "{BLF-CRYPT}, {SSHA512}, {SHA512}, {PLAIN})";
        if (!seen.insert(*addr).second) return *addr + " is listed twice";
        out.push_back(user_entry{*addr, std::string(hash), no});
        return std::string();
    });
    if (err) return std::unexpected(*err);
    return out;
}

std::expected<std::vector<alias_entry>, parse_error> parse_aliases(std::string_view text,
                                                                   std::string_view name) {
    std::vector<alias_entry> out;
    std::set<std::string> seen;
    auto err = for_each_line(text, name, [&](std::size_t no, std::string_view line) {
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return std::string("expected \"alias@domain: target@domain, ...\"");
        auto lhs = trim(line.substr(0, colon));
        alias_entry a;
        a.line = no;
        if (lhs.starts_with('@')) {
            // Catch-all "@domain": the domain alone must be valid.
            auto d = lhs.substr(1);
            if (d.empty() || !address::valid_domain(d) || d.front() == '[')
                return "\"" + std::string(lhs) + "\" is not a valid catch-all (\"@domain\")";
            a.address = "@" + address::lower_ascii(d);
        } else {
            auto addr = normalize_address(lhs);
            if (!addr) return "\"" + std::string(lhs) + "\" is not a usable alias address";
            a.address = *addr;
        }
        std::string_view rhs = line.substr(colon + 1);
        std::size_t pos = 0;
        while (pos <= rhs.size()) {
            auto end = rhs.find_first_of(", \t", pos);
            auto tok = rhs.substr(pos, end == std::string_view::npos ? rhs.npos : end - pos);
            if (!tok.empty()) {
                auto t = normalize_address(tok);
                if (!t) return "\"" + std::string(tok) + "\" is not a usable target address";
                if (std::ranges::find(a.targets, *t) == a.targets.end()) a.targets.push_back(*t);
            }
            if (end == std::string_view::npos) break;
            pos = end + 1;
        }
        if (a.targets.empty()) return "alias " + a.address + " has no target";
        if (!seen.insert(a.address).second) return a.address + " is defined twice";
        out.push_back(std::move(a));
        return std::string();
    });
    if (err) return std::unexpected(*err);
    return out;
}

std::vector<std::string> xdirectory_lines(const directory& d) {
    std::vector<std::string> out;
    out.push_back("version " + d.version);
    if (!d.delimiter.empty()) out.push_back("delimiter " + d.delimiter);
    for (const auto& x : d.domains) out.push_back("domain " + x);
    for (const auto& x : d.catchall) out.push_back("catchall " + x);
    for (const auto& x : d.recipients) out.push_back("rcpt " + x);
    out.push_back("end");
    return out;
}

// State of one expansion: the addresses on the current path (loop detection) and the result.
struct database::expansion {
    std::vector<std::string> path;
    std::vector<std::string> users;
    std::string error;
    void add(const std::string& u) {
        if (std::ranges::find(users, u) == users.end()) users.push_back(u);
    }
};

std::expected<bool, std::string> database::expand_alias(const alias_entry& a, expansion& x,
                                                        std::size_t depth) const {
    if (depth > max_alias_depth)
        return std::unexpected("alias " + a.address + " nests deeper than " +
                               std::to_string(max_alias_depth) + " levels");
    x.path.push_back(a.address);
    for (const auto& t : a.targets) {
        if (std::ranges::find(x.path, t) != x.path.end()) {
            // Self-reference: the address's own mailbox, if it has one (Postfix semantics).
            if (users_.count(t)) {
                x.add(t);
                continue;
            }
            return std::unexpected("alias loop through " + t);
        }
        if (!resolve(t, x, depth + 1)) {
            if (!x.error.empty()) return std::unexpected(x.error);
            return std::unexpected("alias " + a.address + ": target " + t +
                                   " is neither a user nor an alias");
        }
    }
    x.path.pop_back();
    return true;
}

// Exact address (alias first, then user), then plus-addressing. No catch-all here: targets
// of aliases must name real addresses.
bool database::resolve(const std::string& address, expansion& x, std::size_t depth) const {
    auto try_exact = [&](const std::string& a) -> std::optional<bool> {
        if (auto it = aliases_.find(a); it != aliases_.end()) {
            auto r = expand_alias(it->second, x, depth);
            if (!r) {
                x.error = r.error();
                return false;
            }
            return true;
        }
        if (users_.count(a)) {
            x.add(a);
            return true;
        }
        return std::nullopt;
    };
    if (auto r = try_exact(address)) return *r;
    if (!delimiter_.empty()) {
        auto at = address.rfind('@');
        auto pos = address.find(delimiter_);
        if (pos != std::string::npos && pos > 0 && pos < at) {
            auto base = address.substr(0, pos) + address.substr(at);
            if (auto r = try_exact(base)) return *r;
        }
    }
    return false;
}

std::expected<database, std::string>
database::build(std::vector<user_entry> users, std::vector<alias_entry> aliases,
                std::string delimiter, std::vector<std::string> domains, std::string aliases_name) {
    database db;
    db.delimiter_ = std::move(delimiter);
    bool explicit_domains = !domains.empty();
    std::set<std::string> doms;
    for (auto& d : domains) doms.insert(address::lower_ascii(d));
    auto domain_ok = [&](const std::string& dom) {
        if (explicit_domains) return doms.count(dom) > 0;
        doms.insert(dom);
        return true;
    };
    for (auto& u : users) {
        if (!domain_ok(domain_of(u.address)))
            return std::unexpected("user " + u.address + " (line " + std::to_string(u.line) +
                                   "): domain not in home.domains");
        auto key = u.address;
        db.users_.emplace(std::move(key), std::move(u));
    }
    for (auto& a : aliases) {
        if (!domain_ok(domain_of(a.address)))
            return std::unexpected(aliases_name + ":" + std::to_string(a.line) + ": " + a.address +
                                   ": domain not in home.domains");
        auto key = a.address;
        db.aliases_.emplace(std::move(key), std::move(a));
    }
    db.domains_.assign(doms.begin(), doms.end());
    // Every alias must expand now, so lookups cannot meet a loop or a dangling target later.
    for (const auto& [name, a] : db.aliases_) {
        expansion x;
        auto r = db.expand_alias(a, x, 1);
        if (!r)
            return std::unexpected(aliases_name + ":" + std::to_string(a.line) + ": " + r.error());
    }
    // The recipient directory for the relay.
    directory& d = db.dir_;
    d.delimiter = db.delimiter_;
    d.domains = db.domains_;
    for (const auto& [name, u] : db.users_) d.recipients.push_back(name);
    for (const auto& [name, a] : db.aliases_) {
        if (name.front() == '@')
            d.catchall.push_back(name.substr(1));
        else if (!db.users_.count(name))
            d.recipients.push_back(name);
    }
    std::ranges::sort(d.recipients);
    std::ranges::sort(d.catchall);
    std::string content;
    for (const auto& l : xdirectory_lines(d)) content += l + "\n";
    d.version = sha256_hex(content);
    return db;
}

std::expected<database, std::string> database::load(const std::filesystem::path& users_file,
                                                    const std::filesystem::path& aliases_file,
                                                    std::string delimiter,
                                                    std::vector<std::string> domains) {
    auto utext = read_file(users_file);
    if (!utext) return std::unexpected(utext.error());
    auto users = parse_users(*utext, users_file.string());
    if (!users) return std::unexpected(users.error().message());
    std::vector<alias_entry> aliases;
    if (!aliases_file.empty()) {
        auto atext = read_file(aliases_file);
        if (!atext) return std::unexpected(atext.error());
        auto a = parse_aliases(*atext, aliases_file.string());
        if (!a) return std::unexpected(a.error().message());
        aliases = std::move(*a);
    }
    return build(std::move(*users), std::move(aliases), std::move(delimiter), std::move(domains),
                 aliases_file.empty() ? "aliases" : aliases_file.string());
}

bool database::is_local_domain(std::string_view domain) const {
    return std::ranges::binary_search(domains_, address::lower_ascii(domain));
}

const user_entry* database::find_user(std::string_view address) const {
    auto it = users_.find(address::lower_ascii(address));
    return it == users_.end() ? nullptr : &it->second;
}

lookup_result database::lookup(std::string_view address) const {
    lookup_result r;
    auto a = address::lower_ascii(address);
    auto at = a.rfind('@');
    if (at == std::string::npos || at == 0) {
        r.reason = "not an address";
        return r;
    }
    auto dom = a.substr(at + 1);
    if (!is_local_domain(dom)) {
        r.reason = "not a local domain";
        return r;
    }
    expansion x;
    if (resolve(a, x, 1)) {
        r.st = lookup_result::status::found;
        r.users = std::move(x.users);
        return r;
    }
    if (!x.error.empty()) {
        r.st = lookup_result::status::tempfail;
        r.reason = x.error;
        return r;
    }
    if (auto it = aliases_.find("@" + dom); it != aliases_.end()) {
        expansion c;
        auto e = expand_alias(it->second, c, 1);
        if (!e) {
            r.st = lookup_result::status::tempfail;
            r.reason = e.error();
            return r;
        }
        r.st = lookup_result::status::found;
        r.users = std::move(c.users);
        return r;
    }
    r.reason = "no such user";
    return r;
}

} // namespace splitmail::users
