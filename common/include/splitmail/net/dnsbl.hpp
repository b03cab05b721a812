#pragma once
// DNS block and allow lists (issue 18): the pure half. One list ("site") is written the way
// Postfix's postscreen_dnsbl_sites writes it, so a Postfix admin's list carries over:
//
//   zone[=pattern][*weight]      e.g. zen.spamhaus.org=127.0.0.[2..11]*3
//   zone[&mask][*weight]         e.g. bl.example.org&0.0.0.4*2   (bit-mask lists)
//                                      list.dnswl.org=127.0.[0..255].[1..3]*-2  (an allow list)
//
// The pattern has four octets, each a number, [a..b] (a range) or [a;b;c] (a choice); without a
// pattern or mask any listing counts; the weight defaults to 1 (negative for allow lists).
//
// A client is looked up as its reversed IPv4 octets (or IPv6 nibbles) under each zone (an A
// query). Only answers in 127.0.0.0/8 count: a resolver that "helpfully" answers NXDOMAIN with
// an address of its own (some ISPs do) must not list everybody. Answers in 127.255.255.0/24 are
// a list's error codes (Spamhaus: 127.255.255.252 typo in the zone, .254 query through a public
// resolver, .255 excessive queries): never a listing, reported as `refused`.
//
// Guarantees: parse_site() never throws and bounds its input (a zone of at most 253 octets, a
// weight within +-100); evaluate() is linear in the answers. Does not: do DNS (the relay's
// driver asks its resolver), or decide what to reply (the relay's connection policy).
#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::net {

struct dnsbl_site {
    std::string zone; // lower case, no trailing dot
    // Pattern: for each octet of the answer, the ranges of values that count.
    std::array<std::vector<std::pair<std::uint8_t, std::uint8_t>>, 4> octets;
    bool has_pattern = false;
    std::optional<std::uint32_t> mask; // &mask: the answer AND the mask is not zero
    int weight = 1;
    std::string text; // as written (logs)
};

std::expected<dnsbl_site, std::string> parse_site(std::string_view text);

// "4.3.2.1.zone" for 1.2.3.4, nibbles for IPv6; nullopt when `ip` is not an address.
std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view zone);

// What one site's answer (A record addresses as text; empty: not listed) means.
struct site_result {
    enum class what { not_listed, listed, refused } result = what::not_listed;
    std::string codes; // the answers that counted (listed) or the error codes (refused)
};
site_result judge(const dnsbl_site& site, const std::vector<std::string>& answers);

} // namespace splitmail::net
