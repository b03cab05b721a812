#pragma once
// Text renderings of a DNS plan: the zone-file fragment of `splitmail dns export` (for people
// whose DNS is not at deSEC) and the table of `splitmail dns plan`.
//
// Guarantees: export lines are RFC 1035 5.1 master-file entries with absolute owner names
// (ending in '.'), an explicit TTL and class IN, so they can be pasted into any zone without
// $ORIGIN; notes become ';' comments. Record data is the plan's presentation format unchanged.
// Does not: parse zone files.
#include <cstdint>
#include <string>

#include "dns/plan.hpp"

namespace splitmail::provision::dns {

// `ttl` overrides the TTL of every record when non-zero.
std::string zone_fragment(const plan& p, std::uint32_t ttl = 0);

// Names relative to the zone ("@" for the apex), aligned columns, notes at the end.
std::string plan_table(const plan& p);

} // namespace splitmail::provision::dns
