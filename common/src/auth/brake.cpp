// The login brake; see brake.hpp.
#include "splitmail/auth/brake.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace splitmail::auth {

std::string client_network(std::string_view ip) {
    std::string s(ip);
    if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct); // zone id
    unsigned char v4[4];
    unsigned char v6[16];
    char buf[INET6_ADDRSTRLEN] = {};
    if (::inet_pton(AF_INET, s.c_str(), v4) == 1) {
        v4[3] = 0;
        ::inet_ntop(AF_INET, v4, buf, sizeof buf);
        return std::string(buf) + "/24";
    }
    if (::inet_pton(AF_INET6, s.c_str(), v6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(v6, mapped, 12) == 0) {
            std::memcpy(v4, v6 + 12, 4);
            v4[3] = 0;
            ::inet_ntop(AF_INET, v4, buf, sizeof buf);
            return std::string(buf) + "/24";
        }
        std::memset(v6 + 8, 0, 8);
        ::inet_ntop(AF_INET6, v6, buf, sizeof buf);
        return std::string(buf) + "/64";
    }
    return std::string(ip.substr(0, 64));
}

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
    // Still full of live entries (a spray): drop the least recently touched idle one.
    auto victim = t.end();
    for (auto it = t.begin(); it != t.end(); ++it)
        if (it->second.in_flight == 0 &&
            (victim == t.end() || it->second.touched < victim->second.touched))
            victim = it;
    if (victim != t.end()) t.erase(victim);
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

bool brake::is_known(const std::string& user, const std::string& net,
                     clock::time_point now) const {
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
    a.network = client_network(client_ip);
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
