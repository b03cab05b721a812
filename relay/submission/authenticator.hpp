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
// The login brake (common auth/brake.hpp, issue 11): check() normalises the name once
// (users::normalize_login: the key for the brake, the cache and home), asks the brake before
// anything else (a locked user or network gets 454 4.7.0 after the brake's delay, without
// asking home or the cache), and records every verdict: home's 535, home's "locked" 454, and
// a credential the offline cache cannot confirm (home unreachable) are failures with the
// brake's exponential delay, exactly as online. The submission client's address goes to home
// with XAUTH (CLIENT=), so home's brake counts these failures together with IMAP's.
// Logs (component "auth", fail2ban-friendly, never the password):
//   warn "login failed"  service=submission client=IP user=KEY reason=password|locked at home|
//                        home unreachable, not confirmed by cache
//   warn "login refused" service=submission client=IP user=KEY reason=user locked|network locked|
//                        too many attempts in flight
// Does not: parse SMTP (smtp_in/session.hpp does), or persist anything.
#include "splitmail/config/relay.hpp"
#include "submission/auth_outcome.hpp"

#include "splitmail/auth/brake.hpp"
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
    std::optional<std::vector<std::string>> check(std::string_view user, std::string_view password,
                                                  sys_time now) const;
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

// Parses home's 235 reply lines ("ok", addresses...) into lower-case addresses.
std::vector<std::string> addresses_from_reply(const std::vector<std::string>& lines);

class home_authenticator {
public:
    home_authenticator(const settings& s, const net::tls_context& home_tls,
                       std::chrono::seconds cache_ttl = std::chrono::hours(24 * 7));

    struct checked {
        auth_outcome outcome;
        std::chrono::milliseconds delay{0}; // wait this long before replying
    };
    // The brake, then home (XAUTH), then the cache when home cannot answer; see above.
    // `brake` may be null (no brake: tests).
    net::asio::awaitable<checked> check(std::string user, std::string password,
                                        std::string client_ip, std::string conn_id,
                                        auth::brake* brake);
    credential_cache& cache() { return cache_; }

private:
    const settings& s_;
    const net::tls_context& home_tls_;
    credential_cache cache_;
};

} // namespace splitmail::relay
