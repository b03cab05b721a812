#pragma once
// One login check for every login path of the home server (IMAP LOGIN/AUTHENTICATE, LMTP
// XAUTH for the relay's submission service), through the one login brake (auth/brake.hpp),
// so failures from IMAP and submission count together per user and per client network.
//
// Order of work (issue 11 items 3, 5, 9):
//  1. users::normalize_login once: its key is both the brake key and the lookup key, so
//     "  Alice@Dom" and "alice@dom" are one user for the lockout and for the password check.
//  2. brake.begin(): a locked user or network is refused after the same delay a failure costs,
//     without verifying anything (the reply does not reveal whether the password was right).
//  3. A known user whose exact password was verified within users.auth_cache_ttl (against the
//     same database and stored hash) is answered from `cache` (verified_cache.hpp: keyed
//     HMAC, never the password; microseconds instead of an argon2 run). Otherwise:
//     the hash is verified on `pool` (never the io thread). An unknown user is verified
//     against a real user's hash (the result discarded), so unknown and known users cost the
//     same time and the timing tells nothing about which users exist.
//  4. brake.end(); a failure waits the brake's exponential delay before returning.
// Logs (fail2ban-friendly, never the password), component "auth":
//   warn  "login failed"  service=imap|submission client=IP user=KEY reason=password|unknown user
//   warn  "login refused" service=... client=IP user=KEY reason=user locked|network locked|
//                        too many attempts in flight
//   info  "login"         service=... client=IP user=ADDRESS [cache=hit]
// Does not: build protocol replies (callers map the status), or count connections.
#include "splitmail/auth/brake.hpp"
#include "splitmail/net/connection.hpp"
#include "splitmail/users/live_database.hpp"
#include "users/verified_cache.hpp"

#include <boost/asio/thread_pool.hpp>

#include <string>
#include <string_view>

namespace splitmail::home {

class hash_workers;

struct login_context {
    users::live_database* users = nullptr;
    auth::brake* brake = nullptr;             // null: no brake (tests)
    boost::asio::thread_pool* pool = nullptr; // null: verify on the calling thread (tests)
    verified_cache* cache = nullptr;          // null: every login verifies the hash
    hash_workers* workers = nullptr; // the pool's threads ask a worker process; null: in-process
};

struct login_result {
    enum class status { ok, bad, locked, unavailable };
    status st = status::bad;
    std::string address; // ok: the user's canonical address
};

net::asio::awaitable<login_result> check_login(login_context& ctx, std::string_view service,
                                               std::string conn_id, std::string user,
                                               std::string password, std::string client_ip);

} // namespace splitmail::home
