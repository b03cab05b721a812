#pragma once
// Mail exchanger selection for outbound delivery (RFC 5321 5.1, RFC 7505): pure functions
// over DNS record data, so the policy is tested without a DNS server.
//
// Guarantees:
//  - parse_* accept exactly the RFC 1035 wire format of one rdata item (uncompressed names,
//    as libunbound hands them out) and refuse anything else with nullopt; the rdata is read by
//    common/dns (splitmail/dns/rdata.hpp), so names are lower case and octets a host name
//    cannot hold come escaped as in zone files ("a\.b", "\000"): a label never poses as two;
//  - order_mx sorts by preference (lowest first) and shuffles hosts of equal preference
//    (RFC 5321 5.1: "randomize them to spread the load"); duplicates are dropped;
//  - is_null_mx is true only for the single record "0 ." (RFC 7505 3); a "." among other
//    records is an invalid target and is skipped by order_mx.
// Does not: query DNS (resolver.hpp does), or look up addresses.
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dns {

struct mx_record {
    std::uint16_t preference = 0;
    std::string exchange; // lower-case, no trailing dot; "" is the root (null MX)
    bool operator==(const mx_record&) const = default;
};

// One MX rdata: 16-bit preference + wire-format domain name (RFC 1035 3.3.9).
std::optional<mx_record> parse_mx_rdata(std::span<const std::uint8_t> rdata);
// A wire-format domain name that fills `wire` exactly, as a host name: presentation text
// without the trailing dot ("mx.example.com", "" for root).
std::optional<std::string> parse_wire_name(std::span<const std::uint8_t> wire);
// A (4 octets) and AAAA (16 octets) rdata as address text.
std::optional<std::string> parse_a_rdata(std::span<const std::uint8_t> rdata);
std::optional<std::string> parse_aaaa_rdata(std::span<const std::uint8_t> rdata);

// RFC 7505 3: a single MX with preference 0 and the root as exchange.
bool is_null_mx(const std::vector<mx_record>& records);

// Exchanges in the order to try them (see the guarantees above).
std::vector<mx_record> order_mx(std::vector<mx_record> records, std::mt19937_64& rng);

} // namespace splitmail::relay::dns
