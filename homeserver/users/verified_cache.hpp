#pragma once
// Verified-credential cache for the home server's logins (issue 16), after Dovecot's
// auth_cache: a webmail that logs in on every click pays the password hash (argon2id, 0.1 to
// 0.5 s of CPU) once per `ttl`, not once per request.
//
// What is kept per user (the normalised login key, users::normalize_login): one tag,
// HMAC-SHA256 under a random key made at start-up and never stored, over the key, the
// password and the user's stored hash, and when it expires. Never the password, never an
// unkeyed digest of it (a memory dump gives nothing to brute-force offline without the key,
// which is as secret as the process), never a failure (a wrong password always costs the full
// verification and the login brake's delay).
//
// Guarantees:
// - check() is true only for the same key and password that remember() was given, within
//   `ttl` of it (steady clock), while the user's stored hash is unchanged (a password change
//   invalidates the entry even before a reload is noticed) and the database object is the
//   one it was verified against: any reload of the users file (SIGHUP or a change on disk)
//   drops every entry.
// - Bounded: at most `max_entries` entries; a full cache drops expired entries, then the one
//   expiring first. check()/remember() are O(1) except when full (one pass over the entries).
// - Thread-safe (one mutex).
// Does not: decide anything on its own (users/login.cpp calls it after the login brake has
// admitted the attempt, so locked users and networks are refused as before), or persist.
#include "splitmail/users/database.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace splitmail::home {

struct verified_cache_options {
    std::chrono::seconds ttl{300};   // users.auth_cache_ttl; 0 disables the cache
    std::size_t max_entries = 10000; // users.auth_cache_size; 0 disables the cache
};

class verified_cache {
public:
    using clock = std::chrono::steady_clock;

    explicit verified_cache(verified_cache_options opt = {});
    verified_cache(const verified_cache&) = delete;
    verified_cache& operator=(const verified_cache&) = delete;

    bool enabled() const { return opt_.ttl.count() > 0 && opt_.max_entries > 0; }
    // Was `password` verified for `key` within the TTL, against `db` and the stored `hash`?
    bool check(std::string_view key, std::string_view password, const users::database* db,
               std::string_view hash, clock::time_point now);
    // After a successful verification of `password` against `hash` of `db`.
    void remember(std::string_view key, std::string_view password, const users::database* db,
                  std::string_view hash, clock::time_point now);
    void clear();
    std::size_t size() const;

private:
    using tag_t = std::array<unsigned char, 32>;
    tag_t tag(std::string_view key, std::string_view password, std::string_view hash) const;
    void follow(const users::database* db); // drops everything when the database changed

    struct entry {
        tag_t tag;
        clock::time_point expires;
    };
    verified_cache_options opt_;
    std::array<unsigned char, 32> secret_{};
    mutable std::mutex mu_;
    const users::database* db_ = nullptr;
    std::unordered_map<std::string, entry> entries_;
};

} // namespace splitmail::home
