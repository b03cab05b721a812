#pragma once
// Refused recipients per client network across connections (issue 11 item 8: recipient
// harvesting). One harvester opens many connections, or cycles addresses of its network, so
// the count is keyed by the network (/24 for IPv4 and IPv4-mapped IPv6, /64 for IPv6) and kept
// for a fixed window that starts at the network's first refusal.
//
// Guarantees: memory is bounded (at most `max_networks` entries; when full, expired entries
// go first, then the eighth with the fewest refusals, earliest first); every call is O(1)
// amortised (an insert into a full table costs O(max_networks) once per max_networks/8
// inserts). Not thread-safe: the relay runs its SMTP
// sessions on one io_context thread.
// Does not do: decide replies (the session does), remember anything across restarts.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace splitmail::relay {

class network_counter {
public:
    using clock = std::chrono::steady_clock;
    struct policy {
        std::size_t limit = 50; // refusals per window before over_limit()
        std::chrono::seconds window{3600};
        std::size_t max_networks = 16384;
    };

    explicit network_counter(policy p) : p_(p) {}

    // ip's network (net::parse_client_network: "a.b.c.0/24", "x:x:x:x::/64"); nullopt when
    // ip is not an address.
    static std::optional<std::string> network_of(std::string_view ip);

    void add(std::string_view ip, clock::time_point now);
    bool over_limit(std::string_view ip, clock::time_point now) const;
    std::size_t size() const { return map_.size(); }

private:
    struct entry {
        clock::time_point start;
        std::size_t count = 0;
    };
    void make_room(clock::time_point now);

    policy p_;
    std::unordered_map<std::string, entry> map_;
};

} // namespace splitmail::relay
