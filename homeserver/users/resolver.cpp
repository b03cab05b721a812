// RCPT verdicts and XDIRECTORY from the user database; see resolver.hpp.
#include "users/resolver.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/users/password.hpp"

#include <algorithm>

namespace splitmail::home {

recipient_resolver::recipient_resolver(users::live_database& db,
                                       std::chrono::milliseconds refresh_interval)
    : db_(db), interval_(refresh_interval) {}

bool recipient_resolver::reload() {
    last_check_ = std::chrono::steady_clock::now();
    auto r = db_.reload();
    if (!r) {
        log::error("users", "", "reload failed; keeping the previous user database",
                   {{"error", r.error()}});
        return false;
    }
    auto db = db_.current();
    log::info("users", "", "user database loaded",
              {{"users", db->user_count()},
               {"aliases", db->alias_count()},
               {"version", db->dir().version.substr(0, 12)}});
    return true;
}

void recipient_resolver::refresh() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_check_ < interval_) return;
    last_check_ = now;
    bool changed = false;
    if (auto err = db_.refresh(&changed)) {
        log::error("users", "", "reload failed; keeping the previous user database",
                   {{"error", *err}});
    } else if (changed) {
        auto db = db_.current();
        log::info("users", "", "user database changed on disk; reloaded",
                  {{"users", db->user_count()}, {"aliases", db->alias_count()}});
    }
}

lmtp::rcpt_verdict recipient_resolver::resolve(const smtp::rcpt_to& r) {
    refresh();
    lmtp::rcpt_verdict v;
    auto db = db_.current();
    if (!db) {
        v.refusal = smtp::make_reply(451, "4.3.0", "User database not available, try again later");
        return v;
    }
    std::string address;
    if (r.postmaster) {
        if (db->dir().domains.empty()) {
            v.refusal = smtp::make_reply(550, "5.1.1", "No postmaster here");
            return v;
        }
        address = "postmaster@" + db->dir().domains.front();
    } else {
        address = r.recipient.canonical();
    }
    auto res = db->lookup(address);
    switch (res.st) {
    case users::lookup_result::status::found: v.users = std::move(res.users); return v;
    case users::lookup_result::status::tempfail:
        log::error("users", "", "lookup failed", {{"rcpt", address}, {"error", res.reason}});
        v.refusal = smtp::make_reply(451, "4.3.0", "Recipient lookup failed, try again later");
        return v;
    case users::lookup_result::status::unknown: break;
    }
    if (!db->is_local_domain(r.recipient.domain) && !r.postmaster)
        v.refusal = smtp::make_reply(550, "5.1.2", "<" + address + ">: domain not served here");
    else
        v.refusal = smtp::make_reply(550, "5.1.1", "<" + address + ">: user unknown");
    return v;
}

std::vector<std::string> recipient_resolver::directory_lines() {
    refresh();
    auto db = db_.current();
    if (!db) return {};
    return users::xdirectory_lines(db->dir());
}

smtp::reply recipient_resolver::authenticate(std::string_view user, std::string_view password) {
    auto found = auth_lookup(user);
    if (found.final) return *found.final;
    return auth_finish(found,
                       users::verify_password(password, found.hash) == users::verify_result::match);
}

recipient_resolver::auth_lookup_result recipient_resolver::auth_lookup(std::string_view user) {
    refresh();
    auth_lookup_result r;
    auto db = db_.current();
    if (!db) {
        r.final = smtp::make_reply(454, "4.7.0", "User database not available, try again later");
        return r;
    }
    auto norm = users::normalize_address(user);
    const users::user_entry* u = norm ? db->find_user(*norm) : nullptr;
    if (!u) {
        log::warn("users", "", "XAUTH failed",
                  {{"user", std::string(user.substr(0, 100))}, {"reason", "unknown user"}});
        r.final = smtp::make_reply(535, "5.7.8", "Authentication credentials invalid");
        return r;
    }
    r.address = u->address;
    r.hash = u->hash;
    return r;
}

smtp::reply recipient_resolver::auth_finish(const auth_lookup_result& found, bool matches) {
    if (!matches) {
        log::warn("users", "", "XAUTH failed", {{"user", found.address}, {"reason", "password"}});
        return smtp::make_reply(535, "5.7.8", "Authentication credentials invalid");
    }
    return accepted(found.address);
}

smtp::reply recipient_resolver::accepted(const std::string& address) {
    auto db = db_.current();
    const users::user_entry* u = db ? db->find_user(address) : nullptr;
    if (!u) // removed while the hash was being checked
        return smtp::make_reply(535, "5.7.8", "Authentication credentials invalid");
    std::vector<std::string> lines = {"ok", u->address};
    for (const auto& r : db->dir().recipients) {
        if (r == u->address) continue;
        auto res = db->lookup(r);
        if (res.st == users::lookup_result::status::found &&
            std::find(res.users.begin(), res.users.end(), u->address) != res.users.end())
            lines.push_back(r);
    }
    log::info("users", "", "XAUTH ok", {{"user", u->address}, {"addresses", lines.size() - 1}});
    return smtp::make_reply(235, "2.7.0", std::move(lines));
}

} // namespace splitmail::home
