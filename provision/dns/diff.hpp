#pragma once
// What `splitmail dns apply` must change at deSEC to reach a plan: the difference between the
// planned RRsets and the zone's current RRsets, the bulk PATCH body for it, and a readable
// rendering of it for the person who confirms.
//
// Ownership: splitmail owns exactly the (subname, type) pairs of the plan. Other RRsets are left
// alone unless `prune` is set; even then the apex NS (deSEC's delegation) and the RRsets in
// `keep` (e.g. the A/AAAA that splitmail-ddns maintains) are never removed.
// Records compare as sets (order does not matter), TTLs exactly.
// Guarantees: pure functions, deterministic output (changes sorted by subname, then type).
// Does not: talk to deSEC (apply.hpp does).
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dns/plan.hpp"
#include "splitmail/desec/types.hpp"

namespace splitmail::provision::dns {

enum class change_kind { create, update, remove };

struct change {
    change_kind kind;
    desec::rrset before; // empty records for create
    desec::rrset after;  // empty records for remove
};

struct diff_options {
    std::uint32_t ttl = 3600; // TTL every planned RRset gets (site TTL raised to deSEC's minimum)
    bool prune = false;
    std::vector<std::pair<std::string, std::string>> keep; // (subname, type) never pruned
};

std::vector<change> compute_diff(const plan& desired, std::span<const desec::rrset> current,
                                 const diff_options& options);

// The body of the one bulk PATCH: created and updated RRsets in full (ttl and records),
// removed ones as `records: []`.
std::vector<desec::rrset> patch_items(std::span<const change> changes);

// "name." for a subname of `domain` ("" = the apex).
std::string absolute_name(const std::string& subname, const std::string& domain);

// Lines such as
//   + _dmarc.example.com. 3600 TXT "v=DMARC1; p=none; rua=..."
//   ~ sm1-rsa._domainkey.example.com. TXT
//       - "v=DKIM1; k=rsa; p=OLD..."
//       + "v=DKIM1; k=rsa; p=NEW..."
//   - old.example.com. 3600 A 192.0.2.1
std::string render_diff(std::span<const change> changes, const std::string& domain);

} // namespace splitmail::provision::dns
