#pragma once
// Glue between the LMTP session and the user database: RCPT verdicts and the XDIRECTORY
// lines, from a live_database that is re-checked for changed files at most once per
// `refresh_interval` (a stat of two files) and reloaded on demand (SIGHUP).
//
// Guarantees: unknown recipient -> 550 5.1.1; domain not ours -> 550 5.1.2; database missing
// or a lookup that cannot be completed -> 451 4.3.0 (the relay retries, nothing bounces).
// "<Postmaster>" without a domain (RFC 5321 4.1.1.3) is postmaster@ the first local domain.
// Reload failures keep the previous database and are logged.
// Not thread-safe by itself: use from the io thread (live_database is safe for other readers).
#include "lmtp/session.hpp"

#include "splitmail/users/live_database.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace splitmail::home {

class recipient_resolver {
public:
    explicit recipient_resolver(
        users::live_database& db,
        std::chrono::milliseconds refresh_interval = std::chrono::seconds(1));

    lmtp::rcpt_verdict resolve(const smtp::rcpt_to& r);
    std::vector<std::string> directory_lines();
    // XAUTH for the relay's submission service: the user (exact address, no alias) and the
    // password are checked with users::verify_password. 235 2.7.0 lists "ok" and then every
    // address the user may send as: their own and each alias whose expansion contains them
    // (catch-alls do not count). 535 5.7.8 for an unknown user or a wrong password (one reply
    // for both, RFC 4954 6), 454 4.7.0 without a database. Logs the user, never the password.
    smtp::reply authenticate(std::string_view user, std::string_view password);
    // The same in two halves, so that the slow hash check can run on another thread:
    // auth_lookup() finds the user (a final reply when there is nothing to verify: 454 without
    // a database, 535 for an unknown user), the caller runs users::verify_password(password,
    // hash) anywhere, and auth_finish() builds the reply. Both halves on the io thread.
    struct auth_lookup_result {
        std::optional<smtp::reply> final; // set: the answer, no hash to verify
        std::string address;              // the user's canonical address
        std::string hash;                 // stored "{SCHEME}..." to verify against
    };
    auth_lookup_result auth_lookup(std::string_view user);
    smtp::reply auth_finish(const auth_lookup_result& found, bool password_matches);
    // The 235 reply for a user whose password was verified (users/login.hpp did it): "ok",
    // their own address, and every alias whose expansion contains them; 535 if the user is gone.
    smtp::reply accepted(const std::string& address);
    users::live_database& database() { return db_; }
    // Unconditional reload (SIGHUP); returns false (and logs) when it failed.
    bool reload();
    // Reload if the files changed, throttled by refresh_interval.
    void refresh();

private:
    users::live_database& db_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_check_{};
};

} // namespace splitmail::home
