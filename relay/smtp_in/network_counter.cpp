// Refused-recipient counts per client network; see network_counter.hpp.
#include "smtp_in/network_counter.hpp"

#include "splitmail/net/network.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

namespace splitmail::relay {

std::optional<std::string> network_counter::network_of(std::string_view ip) {
    return net::parse_client_network(ip);
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
