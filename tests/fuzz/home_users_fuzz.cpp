// Fuzz target: the users and aliases file parsers and the database built from them.
// Input: the users text, a NUL byte, then the aliases text (no NUL: users only).
// Invariants checked: no crash; every parsed address is normalized (lower-case, usable as a
// Maildir path); a built database resolves every alias to users that exist.
#include "splitmail/users/database.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace splitmail::users;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto nul = in.find('\0');
    auto users_text = in.substr(0, nul);
    auto aliases_text = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
    auto u = parse_users(users_text, "users");
    auto a = parse_aliases(aliases_text, "aliases");
    if (u)
        for (const auto& e : *u)
            if (normalize_address(e.address) != e.address) std::abort();
    if (!u || !a) return 0;
    auto db = database::build(*u, *a, "+");
    if (!db) return 0;
    for (const auto& e : *a) {
        auto r = db->lookup(e.address.front() == '@' ? "anything" + e.address : e.address);
        if (r.st != lookup_result::status::found || r.users.empty()) std::abort();
        for (const auto& user : r.users)
            if (!db->find_user(user)) std::abort();
    }
    (void)xdirectory_lines(db->dir());
    return 0;
}
