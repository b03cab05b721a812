// The login brake; see brake.hpp.
#include "splitmail/auth/brake.hpp"

#include "splitmail/net/network.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace splitmail::auth {

std::chrono::milliseconds brake::delay_for(std::size_t failures) const {
    if (failures == 0 || p_.base_delay.count() <= 0) return std::chrono::milliseconds(0);
    auto d = p_.base_delay;
    for (std::size_t i = 1; i < failures && d < p_.max_delay; ++i) d *= 2;
    return std::min(d, p_.max_delay);
}

void brake::expire(table& t, clock::time_point now) {
    for (auto it = t.begin(); it != t.end();) {
        const auto& c = it->second;
        bool idle = c.in_flight == 0 && c.locked_until <= now &&
                    (c.failures == 0 || now - c.first > p_.window);
        it = idle ? t.erase(it) : std::next(it);
    }
    if (t.size() < p_.max_entries) return;
    // Still full of live entries (a spray): the least recently touched eighth of those with no
    // attempt in flight goes at once, so this O(n) pass runs once per n/8 new keys, not on
    // every attempt of a spray (a client-driven loop must stay linear overall).
    std::vector<std::pair<clock::time_point, table::iterator>> idle;
    idle.reserve(t.size());
    for (auto it = t.begin(); it != t.end(); ++it)
        if (it->second.in_flight == 0) idle.emplace_back(it->second.touched, it);
    if (idle.empty()) return;
    const std::size_t drop = std::max<std::size_t>(1, std::min(idle.size(), t.size() / 8));
    std::nth_element(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(drop - 1), idle.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < drop; ++i) t.erase(idle[i].second);
}

brake::counter& brake::slot(table& t, const std::string& key, clock::time_point now) {
    auto it = t.find(key);
    if (it != t.end()) return it->second;
    if (t.size() >= p_.max_entries) expire(t, now);
    return t[key];
}

bool brake::locked(table& t, const std::string& key, std::size_t limit, clock::time_point now) {
    auto it = t.find(key);
    if (it == t.end()) return false;
    auto& c = it->second;
    if (c.locked_until > now) return true;
    if (c.locked_until != clock::time_point{} || (c.failures > 0 && now - c.first > p_.window)) {
        // The lockout is over, or the failures are old: start afresh.
        c.failures = 0;
        c.locked_until = {};
    }
    return c.failures + c.in_flight >= limit;
}

bool brake::is_known(const std::string& user, const std::string& net, clock::time_point now) const {
    auto it = known_.find(user);
    if (it == known_.end()) return false;
    for (const auto& [n, when] : it->second.networks)
        if (n == net && now - when <= p_.known_for) return true;
    return false;
}

brake::attempt brake::begin(std::string_view user, std::string_view client_ip,
                            clock::time_point now) {
    attempt a;
    a.user = std::string(user.substr(0, 320));
    a.network = net::client_network(client_ip);
    a.known_network = is_known(a.user, a.network, now);
    const std::string pair = a.user + " " + a.network;
    table& ut = a.known_network ? user_networks_ : users_;
    const std::string& ukey = a.known_network ? pair : a.user;
    if (locked(networks_, a.network, p_.max_network_failures, now)) {
        a.why = refusal::network_locked;
    } else if (locked(ut, ukey, p_.max_user_failures, now)) {
        a.why = lock_running(ut, ukey, now) ? refusal::user_locked : refusal::in_flight;
    }
    if (a.why != refusal::none) {
        // The same wait a failure at the limit costs, and no verification at all.
        a.delay = delay_for(p_.max_user_failures);
        return a;
    }
    auto& n = slot(networks_, a.network, now);
    ++n.in_flight;
    n.touched = now;
    auto& u = slot(ut, ukey, now);
    ++u.in_flight;
    u.touched = now;
    a.admitted = true;
    a.open = true;
    return a;
}

void brake::release(table& t, const std::string& key, bool failed, std::size_t limit,
                    clock::time_point now, std::size_t& count) {
    auto& c = slot(t, key, now);
    if (c.in_flight > 0) --c.in_flight;
    c.touched = now;
    if (failed) {
        if (c.failures == 0 || now - c.first > p_.window) {
            c.failures = 0;
            c.first = now;
        }
        ++c.failures;
        if (c.failures >= limit && c.locked_until <= now) c.locked_until = now + p_.lockout;
    }
    count = std::max(count, c.failures);
}

std::chrono::milliseconds brake::end(attempt& a, outcome o, clock::time_point now) {
    if (!a.open) return std::chrono::milliseconds(0);
    a.open = false;
    const bool failed = o == outcome::failure;
    std::size_t count = 0;
    release(networks_, a.network, failed, p_.max_network_failures, now, count);
    if (a.known_network) {
        const std::string pair = a.user + " " + a.network;
        release(user_networks_, pair, failed, p_.max_user_failures, now, count);
        if (o == outcome::success) user_networks_.erase(pair); // the owner's own typos
        if (failed) { // still counts against the user everywhere else
            std::size_t ignored = 0;
            auto& u = slot(users_, a.user, now);
            ++u.in_flight; // release() gives one back
            release(users_, a.user, true, p_.max_user_failures, now, ignored);
        }
    } else {
        release(users_, a.user, failed, p_.max_user_failures, now, count);
    }
    if (o == outcome::success) {
        // A success does not clear the user's or the network's failures: guesses from
        // elsewhere, or for other users from this network, still count.
        auto it = known_.find(a.user);
        if (it == known_.end()) {
            if (known_.size() >= p_.max_entries) {
                auto victim = known_.begin();
                for (auto k = known_.begin(); k != known_.end(); ++k)
                    if (k->second.touched < victim->second.touched) victim = k;
                known_.erase(victim);
            }
            it = known_.emplace(a.user, known{}).first;
        }
        auto& nets = it->second.networks;
        std::erase_if(nets, [&](const auto& e) { return e.first == a.network; });
        nets.emplace_back(a.network, now);
        if (nets.size() > p_.known_networks_per_user) nets.erase(nets.begin());
        it->second.touched = now;
        return std::chrono::milliseconds(0);
    }
    return failed ? delay_for(count) : std::chrono::milliseconds(0);
}

bool brake::lock_running(const table& t, const std::string& key, clock::time_point now) const {
    auto it = t.find(key);
    return it != t.end() && it->second.locked_until > now;
}

const char* brake::reason(refusal r) {
    switch (r) {
    case refusal::none: return "none";
    case refusal::user_locked: return "user locked";
    case refusal::network_locked: return "network locked";
    case refusal::in_flight: return "too many attempts in flight";
    }
    return "?";
}

std::size_t brake::entries() const {
    return users_.size() + networks_.size() + user_networks_.size() + known_.size();
}

} // namespace splitmail::auth
