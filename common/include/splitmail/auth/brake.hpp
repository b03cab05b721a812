#pragma once
// The login brake: one policy for every login path (IMAP LOGIN/AUTHENTICATE, submission AUTH,
// the relay's offline credential cache, LMTP XAUTH; POP3/ManageSieve later). Pure: no clock of
// its own (every call takes `now`), no I/O, no threads (callers use it from one io thread).
//
// Policy (ideas from Dovecot's auth_penalty, Postfix anvil and fail2ban):
//  - Failures are counted per user (the key from users::normalize_login, so every spelling of
//    a name shares one counter) and per client network (IPv4 /24, IPv6 /64), across
//    connections and protocols, within `window` of the first failure.
//  - Attempts in flight count too: begin() reserves a slot before the verdict is known and
//    end() turns it into a failure or a success. So N parallel guesses cannot all pass a
//    check made before any of them fails (issue 11 item 6).
//  - A user with `max_user_failures` (failures + attempts in flight) is locked for `lockout`;
//    so is a network with `max_network_failures`. A locked attempt is refused without
//    verifying the password, after the same delay a failure costs, so the reply says nothing
//    about the password.
//  - Every failure costs an exponential delay before its reply: base_delay * 2^(n-1), n the
//    larger of the user's and the network's failure counts, at most max_delay.
//  - A network the user logged in from successfully within `known_for` is exempt from the
//    user's lockout (an attacker elsewhere cannot lock the owner out), but not from its own:
//    failures of that user from that network are counted on their own (user, network) key,
//    with the same limit, and the network's own counter applies as always.
// Guarantees: memory is bounded (at most `max_entries` keys per table: expired ones dropped
// first, then the least recently touched eighth of a full table at once, so the O(n) pass runs
// once per n/8 new keys: amortised O(log n) per call, also under a spray of new names).
// Does not: sleep (callers wait the delay it returns), verify passwords, or log.
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::auth {

using clock = std::chrono::steady_clock;

struct brake_policy {
    std::size_t max_user_failures = 5;
    std::size_t max_network_failures = 20;
    std::chrono::seconds window{15 * 60};
    std::chrono::seconds lockout{15 * 60};
    std::chrono::milliseconds base_delay{1000};
    std::chrono::milliseconds max_delay{16000};
    std::chrono::seconds known_for{30 * 86400};
    std::size_t max_entries = 100000;
    std::size_t known_networks_per_user = 8;
};

class brake {
public:
    enum class outcome { success, failure, neutral }; // neutral: could not be decided
    // in_flight: the user's slots are all taken by attempts whose verdict is not known yet.
    enum class refusal { none, user_locked, network_locked, in_flight };

    // One attempt between begin() and end().
    struct attempt {
        std::string user;    // normalised login
        std::string network; // net::client_network(ip)
        bool admitted = false;
        refusal why = refusal::none;
        bool known_network = false;         // the user logged in from this network recently
        std::chrono::milliseconds delay{0}; // for a refused attempt: wait this, then refuse
        bool open = false;                  // holds an in-flight slot
    };

    brake() = default;
    explicit brake(brake_policy p) : p_(p) {}

    // Decides before any password is verified. Admitted: a slot is reserved until end().
    attempt begin(std::string_view user, std::string_view client_ip, clock::time_point now);
    // Records the verdict and gives the slot back; returns the delay to wait before a failure
    // reply (0 for success and neutral). Calling it twice, or for a refused attempt, does nothing.
    std::chrono::milliseconds end(attempt& a, outcome o, clock::time_point now);

    const brake_policy& policy() const { return p_; }
    // For tests and metrics.
    std::size_t entries() const;
    static const char* reason(refusal r); // for logs: "user locked", ...

private:
    struct counter {
        std::size_t failures = 0;
        std::size_t in_flight = 0;
        clock::time_point first{};
        clock::time_point touched{};
        clock::time_point locked_until{};
    };
    using table = std::map<std::string, counter, std::less<>>;
    struct known {
        std::vector<std::pair<std::string, clock::time_point>> networks; // most recent last
        clock::time_point touched{};
    };

    counter& slot(table& t, const std::string& key, clock::time_point now);
    bool locked(table& t, const std::string& key, std::size_t limit, clock::time_point now);
    void release(table& t, const std::string& key, bool failed, std::size_t limit,
                 clock::time_point now, std::size_t& count);
    bool is_known(const std::string& user, const std::string& net, clock::time_point now) const;
    std::chrono::milliseconds delay_for(std::size_t failures) const;
    bool lock_running(const table& t, const std::string& key, clock::time_point now) const;
    void expire(table& t, clock::time_point now);

    brake_policy p_;
    table users_;
    table networks_;
    table user_networks_; // "user network": failures from a known network
    std::map<std::string, known, std::less<>> known_;
};

} // namespace splitmail::auth
