// Connection admission: caps, pre-authentication pool, fair-share eviction; see admission.hpp.
#include "splitmail/net/admission.hpp"
#include "splitmail/net/network.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace splitmail::net {

admission::admission(admission_limits l) : limits_(l) {
    limits_.max_connections = std::max<std::size_t>(limits_.max_connections, 1);
    limits_.max_unauthenticated =
        std::clamp<std::size_t>(limits_.max_unauthenticated, 1, limits_.max_connections);
    limits_.max_per_ip = std::max<std::size_t>(limits_.max_per_ip, 1);
    limits_.max_per_network = std::max<std::size_t>(limits_.max_per_network, 1);
}

std::string admission::network_of(std::string_view ip) { return client_network(ip); }

bool admission::overloaded() const {
    // 3/4 of either cap, computed without overflow for huge limits.
    auto over = [](std::size_t n, std::size_t cap) { return n >= cap - cap / 4; };
    return over(pool_, limits_.max_unauthenticated) || over(total_, limits_.max_connections);
}

bool admission::evict_for(const std::string& newcomer_network, bool trusted,
                          std::string& evicted_ip) {
    std::size_t own = 0;
    if (auto it = per_network_.find(newcomer_network); it != per_network_.end())
        own = it->second.pool;
    // The network with the most pool slots among those that have an idle connection (ties:
    // the one whose idle connection is oldest).
    network_state* heaviest = nullptr;
    for (auto& [name, ns] : per_network_)
        if (!ns.idle.empty() &&
            (!heaviest || ns.pool > heaviest->pool ||
             (ns.pool == heaviest->pool && *ns.idle.begin() < *heaviest->idle.begin())))
            heaviest = &ns;
    if (!heaviest) return false;
    // Fair share: after the swap the victim's network must still hold at least as many slots
    // as the newcomer's, otherwise two floods would take turns evicting each other.
    if (!trusted && heaviest->pool < own + 2) return false;
    id victim = *heaviest->idle.begin();
    auto it = entries_.find(victim);
    entry e = std::move(it->second);
    leave_pool(e, victim);
    --total_;
    entries_.erase(it);
    evicted_ip = e.ip;
    if (e.close) e.close();
    return true;
}

admission::verdict admission::admit(std::string_view ip_text, bool trusted,
                                    std::function<void()> close) {
    verdict v;
    std::string ip(ip_text);
    std::string network = network_of(ip);
    if (!trusted) {
        auto ipit = per_ip_.find(ip);
        if (ipit != per_ip_.end() && ipit->second >= limits_.max_per_ip) {
            v.reason = "too many connections from your address";
            return v;
        }
        auto nit = per_network_.find(network);
        if (nit != per_network_.end() && nit->second.pool >= limits_.max_per_network) {
            v.reason = "too many connections from your network";
            return v;
        }
    }
    bool full =
        total_ >= limits_.max_connections || (!trusted && pool_ >= limits_.max_unauthenticated);
    if (full && !evict_for(network, trusted, v.evicted_ip)) {
        v.reason = "too many connections";
        return v;
    }
    id slot = next_++;
    entry e;
    e.ip = ip;
    e.network = network;
    e.close = std::move(close);
    ++total_;
    if (!trusted) {
        e.in_pool = true;
        e.idle = true;
        ++pool_;
        ++per_ip_[ip];
        auto& ns = per_network_[network];
        ++ns.pool;
        ns.idle.insert(slot);
    }
    entries_.emplace(slot, std::move(e));
    v.slot = slot;
    return v;
}

void admission::leave_pool(entry& e, id slot) {
    if (!e.in_pool) return;
    e.in_pool = false;
    --pool_;
    if (auto it = per_ip_.find(e.ip); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
    if (auto it = per_network_.find(e.network); it != per_network_.end()) {
        it->second.idle.erase(slot);
        if (--it->second.pool == 0) per_network_.erase(it);
    }
    e.idle = false;
}

void admission::authenticated(id slot) {
    auto it = entries_.find(slot);
    if (it != entries_.end()) leave_pool(it->second, slot);
}

void admission::progressed(id slot) {
    auto it = entries_.find(slot);
    if (it == entries_.end() || !it->second.idle) return;
    it->second.idle = false;
    if (auto n = per_network_.find(it->second.network); n != per_network_.end())
        n->second.idle.erase(slot);
}

void admission::release(id slot) {
    auto it = entries_.find(slot);
    if (it == entries_.end()) return; // evicted: already uncounted
    leave_pool(it->second, slot);
    --total_;
    entries_.erase(it);
}

} // namespace splitmail::net
