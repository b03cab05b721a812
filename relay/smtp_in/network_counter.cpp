// Refused-recipient counts per client network; see network_counter.hpp.
#include "smtp_in/network_counter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

namespace splitmail::relay {

std::optional<std::string> network_counter::network_of(std::string_view ip_text) {
    const std::string ip(ip_text);
    std::array<unsigned char, 16> b{};
    char buf[64];
    if (::inet_pton(AF_INET, ip.c_str(), b.data()) == 1) {
        std::snprintf(buf, sizeof buf, "4:%u.%u.%u", b[0], b[1], b[2]);
        return std::string(buf);
    }
    if (::inet_pton(AF_INET6, ip.c_str(), b.data()) != 1) return std::nullopt;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(mapped, mapped + 12, b.begin())) { // ::ffff:a.b.c.d is an IPv4 client
        std::snprintf(buf, sizeof buf, "4:%u.%u.%u", b[12], b[13], b[14]);
        return std::string(buf);
    }
    // /64: the smallest block an IPv6 end site is given (RFC 6177), so one client rotating its
    // interface identifier stays one network.
    std::snprintf(buf, sizeof buf, "6:%02x%02x:%02x%02x:%02x%02x:%02x%02x", b[0], b[1], b[2], b[3],
                  b[4], b[5], b[6], b[7]);
    return std::string(buf);
}

void network_counter::make_room(clock::time_point now) {
    std::erase_if(map_, [&](const auto& kv) { return now - kv.second.start >= p_.window; });
    if (map_.size() < p_.max_networks) return;
    // The lightest eighth goes (fewest refusals, earliest first), so a flood of one-probe
    // networks cannot push out the count of a network that is harvesting, and the O(n) pass
    // runs once per n/8 inserts, not on every one.
    using item = std::pair<std::pair<std::size_t, clock::time_point>, const std::string*>;
    std::vector<item> all;
    all.reserve(map_.size());
    for (const auto& [k, e] : map_) all.push_back({{e.count, e.start}, &k});
    const std::size_t drop = std::max<std::size_t>(1, map_.size() / 8);
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(drop - 1), all.end(),
                     [](const item& a, const item& b) { return a.first < b.first; });
    std::vector<std::string> victims;
    victims.reserve(drop);
    for (std::size_t i = 0; i < drop; ++i) victims.push_back(*all[i].second);
    for (const auto& v : victims) map_.erase(v);
}

void network_counter::add(std::string_view ip, clock::time_point now) {
    auto key = network_of(ip);
    if (!key || p_.max_networks == 0) return;
    auto it = map_.find(*key);
    if (it == map_.end()) {
        if (map_.size() >= p_.max_networks) make_room(now);
        map_.emplace(std::move(*key), entry{now, 1});
        return;
    }
    if (now - it->second.start >= p_.window) it->second = entry{now, 0}; // a new window
    ++it->second.count;
}

bool network_counter::over_limit(std::string_view ip, clock::time_point now) const {
    auto key = network_of(ip);
    if (!key) return false;
    auto it = map_.find(*key);
    if (it == map_.end() || now - it->second.start >= p_.window) return false;
    return it->second.count >= p_.limit;
}

} // namespace splitmail::relay
