// Zone-file fragment and plan table: see zone.hpp.
#include "dns/zone.hpp"

#include <algorithm>
#include <sstream>

#include "dns/diff.hpp"

namespace splitmail::provision::dns {

std::string zone_fragment(const plan& p, std::uint32_t ttl) {
    std::ostringstream o;
    o << "; splitmail: DNS records for " << p.domain << " (`splitmail dns export`)\n";
    for (const auto& n : p.notes) o << "; note: " << n << '\n';
    std::size_t width = 0;
    for (const auto& r : p.rrsets)
        width = std::max(width, absolute_name(r.subname, p.domain).size());
    for (const auto& r : p.rrsets) {
        const std::string name = absolute_name(r.subname, p.domain);
        for (const auto& rec : r.records)
            o << name << std::string(width - name.size() + 1, ' ') << (ttl ? ttl : r.ttl) << " IN "
              << r.type << ' ' << rec << '\n';
    }
    return o.str();
}

std::string plan_table(const plan& p) {
    std::ostringstream o;
    const std::uint32_t ttl = p.rrsets.empty() ? 0 : p.rrsets.front().ttl;
    o << p.domain << " (TTL " << ttl
      << ", raised to the domain's minimum at deSEC by `dns apply`):\n";
    std::size_t width = 1;
    for (const auto& r : p.rrsets) width = std::max(width, r.subname.size());
    for (const auto& r : p.rrsets) {
        const std::string name = r.subname.empty() ? "@" : r.subname;
        for (const auto& rec : r.records)
            o << "  " << name << std::string(width - name.size() + 2, ' ') << r.type
              << std::string(r.type.size() < 5 ? 6 - r.type.size() : 1, ' ') << rec << '\n';
    }
    for (const auto& n : p.notes) o << "  note: " << n << '\n';
    return o.str();
}

} // namespace splitmail::provision::dns
