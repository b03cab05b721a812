#pragma once
// Credential checks for the relay's submission ports (issue 3). The home server owns the user
// database; the relay asks it with the private LMTP command XAUTH over a short-lived connection
// through the tunnel (contracts.md), and keeps a cache of successful checks for when home is
// offline.
//
// Design (and what a password change does):
//  - Home is always asked first. Its answer is final while it is reachable: 235 -> accepted and
//    the cache entry refreshed; 535 -> refused and the user's cache entry dropped. So a changed
//    password works, and the old one stops working, as soon as home has the new users file.
//  - Only when home cannot answer (connection refused/timeout, TLS/pin failure, 454, garbage)
//    is the cache consulted: an entry made by a successful check in the last `ttl` (default 7
//    days) whose salted SHA-256 of the password matches. Thus an old password keeps working from
//    the cache only while home is unreachable, and at most `ttl` after it was last accepted.
//  - The cache holds per user: a random 16-byte salt, SHA-256(salt || password), the addresses
//    home allowed, and when. Never the password. It lives in memory only (a relay restart while
//    home is offline means no submission until home is back).
//  - A credential home has never accepted is never accepted from the cache.
// Failed-auth throttling (auth_throttle): every failure costs a fixed delay before the reply.
// After `max_failures` within `window` a client IP is locked out (454 4.7.0) for `lockout`; so is
// a user name after `max_failures` failures from any addresses (a guessing botnet), except from
// the addresses that user last authenticated from successfully, so an attacker cannot lock the
// owner out of their own devices. Logs name the user and IP, never the password.
// Does not: parse SMTP (smtp_in/session.hpp does), or persist anything.
#include "settings.hpp"
#include "smtp_in/session.hpp" // auth_outcome

#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

using sys_time = std::chrono::system_clock::time_point;

class credential_cache {
public:
    explicit credential_cache(std::chrono::seconds ttl = std::chrono::hours(24 * 7)) : ttl_(ttl) {}

    void remember(std::string_view user, std::string_view password,
                  std::vector<std::string> addresses, sys_time now);
    void forget(std::string_view user);
    // The addresses when (user, password) was accepted by home within ttl; nullopt otherwise.
    std::optional<std::vector<std::string>> check(std::string_view user,
                                                  std::string_view password, sys_time now) const;
    std::size_t size() const { return entries_.size(); }

private:
    struct entry {
        std::string salt;
        std::string digest; // SHA-256(salt || password), raw
        std::vector<std::string> addresses;
        sys_time verified;
    };
    std::chrono::seconds ttl_;
    std::map<std::string, entry, std::less<>> entries_;
};

class auth_throttle {
public:
    struct policy {
        std::size_t max_failures = 5;
        std::chrono::seconds window{15 * 60};
        std::chrono::seconds lockout{15 * 60};
    };
    auth_throttle() = default;
    explicit auth_throttle(policy p) : p_(p) {}

    // Per client IP only.
    bool locked(std::string_view ip, sys_time now);
    void failure(std::string_view ip, sys_time now);
    void success(std::string_view ip);
    // Per client IP and per user (user names compared case-insensitively).
    bool locked(std::string_view ip, std::string_view user, sys_time now);
    void failure(std::string_view ip, std::string_view user, sys_time now);
    void success(std::string_view ip, std::string_view user);

private:
    struct state {
        std::size_t failures = 0;
        sys_time first{};
        sys_time locked_until{};
    };
    using table = std::map<std::string, state, std::less<>>;
    bool is_locked(table& t, std::string_view key, sys_time now);
    void add_failure(table& t, std::string_view key, sys_time now);
    policy p_;
    table ips_;
    table users_;
    // user -> the last few addresses it authenticated from (exempt from the user lockout)
    std::map<std::string, std::vector<std::string>, std::less<>> known_;
};

// Canonical login: trimmed, lower-cased ASCII.
std::string canonical_user(std::string_view user);
// Parses home's 235 reply lines ("ok", addresses...) into lower-case addresses.
std::vector<std::string> addresses_from_reply(const std::vector<std::string>& lines);

class home_authenticator {
public:
    home_authenticator(const settings& s, const net::tls_context& home_tls,
                       std::chrono::seconds cache_ttl = std::chrono::hours(24 * 7));

    // Asks home (XAUTH), falls back to the cache when home cannot answer.
    net::asio::awaitable<auth_outcome> check(std::string user, std::string password,
                                             std::string conn_id);
    credential_cache& cache() { return cache_; }

private:
    const settings& s_;
    const net::tls_context& home_tls_;
    credential_cache cache_;
};

} // namespace splitmail::relay
