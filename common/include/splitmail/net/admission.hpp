#pragma once
// Who may take a connection slot on a listener (net::server), and whom to close to make room.
// Pure bookkeeping: no sockets, no clock, no logging; one io thread uses it (not thread-safe).
//
// Connections come in two classes:
//   - trusted/authenticated: admitted as trusted (relay.trusted_networks), or moved out of the
//     pool by authenticated() after a login. They count only against max_connections.
//   - the pool: everything else (not yet authenticated, not trusted). Pool connections count
//     against max_unauthenticated (smaller than max_connections, so logged-in users and
//     trusted peers always find room), against max_per_ip per client address and against
//     max_per_network per network (/24 for IPv4, /64 for IPv6; IPv4-mapped IPv6 is IPv4).
//   A pool connection is "idle" until the driver reports progress (progressed(): SMTP EHLO
//   accepted). Only idle connections are ever evicted; nothing else is taken away.
//
// Guarantees:
//   - fair share: when the pool or the total is full, an untrusted newcomer is admitted by
//     evicting the oldest idle connection of the network holding the most pool slots, and only
//     if that network holds at least two more pool slots than the newcomer's. A client with
//     few connections is therefore never pushed out by a flood from other networks, and a
//     flood cannot push out its own connections (no churn);
//   - a trusted newcomer when the total is full evicts the oldest idle connection of the
//     heaviest network (there is no fairness between untrusted and trusted);
//   - an evicted connection stops counting at once (its close function is called once; the
//     release() that follows when its handler ends changes no count);
//   - overloaded() is true while the pool or the total is at least 3/4 full: drivers then
//     use short deadlines (Postfix's stress-adaptive timeouts);
//   - every operation is O(log n), except eviction, which scans the networks holding idle
//     connections (at most max_unauthenticated of them).
// Does not: close sockets itself (the close function given to admit() does), log, or know
// any protocol.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace splitmail::net {

struct admission_limits {
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
    std::size_t max_connections = 500;
    std::size_t max_per_ip = 20;                 // pool connections from one address
    std::size_t max_per_network = unlimited;     // pool connections from one /24 or /64
    std::size_t max_unauthenticated = unlimited; // the pool; clamped to max_connections
};

class admission {
public:
    using id = std::uint64_t;
    struct verdict {
        id slot = 0;             // 0: refused
        std::string_view reason; // why refused (static text, for the 421 and the log)
        std::string evicted_ip;  // the client closed to make room, "" if none
    };

    explicit admission(admission_limits l);

    // A new connection from `ip` ("192.0.2.1", "2001:db8::1"). `close` is called if the
    // connection is later evicted to make room for another.
    verdict admit(std::string_view ip, bool trusted, std::function<void()> close);
    // The client logged in: it leaves the pool (and is no longer evictable).
    void authenticated(id slot);
    // The client made protocol progress: no longer evictable (it stays in the pool).
    void progressed(id slot);
    // The connection ended.
    void release(id slot);

    bool overloaded() const;
    std::size_t total() const { return total_; }
    std::size_t pool() const { return pool_; }
    const admission_limits& limits() const { return limits_; }

    // net::client_network: "192.0.2.0/24", "2001:db8:1:2::/64"; the text itself otherwise.
    static std::string network_of(std::string_view ip);

private:
    struct entry {
        std::string ip, network;
        bool in_pool = false;
        bool idle = false;
        std::function<void()> close;
    };
    struct network_state {
        std::size_t pool = 0;
        std::set<id> idle; // ids grow with time: begin() is the oldest
    };

    void leave_pool(entry& e, id slot);
    bool evict_for(const std::string& newcomer_network, bool trusted, std::string& evicted_ip);

    admission_limits limits_;
    id next_ = 1;
    std::size_t total_ = 0;
    std::size_t pool_ = 0;
    std::unordered_map<id, entry> entries_;
    std::unordered_map<std::string, std::size_t> per_ip_; // pool connections per address
    std::map<std::string, network_state> per_network_;    // pool connections per network
};

} // namespace splitmail::net
