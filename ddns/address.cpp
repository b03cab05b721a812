#include "address.hpp"

#include <arpa/inet.h>

namespace splitmail::ddns {

std::string_view record_type(family f) noexcept { return f == family::v4 ? "A" : "AAAA"; }
std::string_view family_name(family f) noexcept { return f == family::v4 ? "IPv4" : "IPv6"; }

std::string ip_address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(fam == family::v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::expected<ip_address, std::string> parse_ip(std::string_view text) {
    if (text.empty() || text.size() > 45) return std::unexpected("not an IP address");
    std::string s(text); // inet_pton needs a terminated string; embedded NULs are rejected below
    if (s.find('\0') != std::string::npos) return std::unexpected("not an IP address");
    ip_address a;
    if (s.find(':') == std::string::npos) {
        a.fam = family::v4;
        // glibc inet_pton(AF_INET) accepts exactly a.b.c.d in decimal without leading zeros.
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1)
            return std::unexpected("not an IPv4 address");
    } else {
        a.fam = family::v6;
        if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1)
            return std::unexpected("not an IPv6 address");
    }
    return a;
}

std::expected<ip_address, std::string> parse_ip_answer(std::string_view body, family want) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!body.empty() && space(body.front())) body.remove_prefix(1);
    while (!body.empty() && space(body.back())) body.remove_suffix(1);
    if (body.empty()) return std::unexpected("empty answer");
    for (char c : body)
        if (space(c)) return std::unexpected("answer is not a single address");
    auto a = parse_ip(body);
    if (!a) return std::unexpected("answer is not an IP address");
    if (a->fam != want)
        return std::unexpected(std::string("answer is an ") + std::string(family_name(a->fam)) +
                               " address, wanted " + std::string(family_name(want)));
    return a;
}

namespace {

bool in_prefix(const ip_address& a, std::initializer_list<std::uint8_t> prefix, int bits) {
    int i = 0;
    for (std::uint8_t p : prefix) {
        int take = std::min(8, bits - i * 8);
        if (take <= 0) break;
        std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - take));
        if ((a.bytes[static_cast<std::size_t>(i)] & mask) != (p & mask)) return false;
        ++i;
    }
    return true;
}

address_class classify_v4(const ip_address& a) {
    // IANA IPv4 Special-Purpose Address Registry (RFC 6890 2.2.2 and its updates).
    if (in_prefix(a, {0}, 8)) return address_class::unspecified;
    if (in_prefix(a, {10}, 8) || in_prefix(a, {172, 16}, 12) || in_prefix(a, {192, 168}, 16))
        return address_class::private_use;                        // RFC 1918
    if (in_prefix(a, {100, 64}, 10)) return address_class::cgnat; // RFC 6598
    if (in_prefix(a, {127}, 8)) return address_class::loopback;
    if (in_prefix(a, {169, 254}, 16)) return address_class::link_local; // RFC 3927
    if (in_prefix(a, {192, 0, 2}, 24) || in_prefix(a, {198, 51, 100}, 24) ||
        in_prefix(a, {203, 0, 113}, 24))
        return address_class::documentation;                             // RFC 5737
    if (in_prefix(a, {198, 18}, 15)) return address_class::benchmarking; // RFC 2544
    if (in_prefix(a, {192, 0, 0}, 24) || in_prefix(a, {192, 88, 99}, 24))
        return address_class::reserved; // IETF protocol assignments, deprecated 6to4 relay
    if (in_prefix(a, {224}, 4)) return address_class::multicast;
    if (in_prefix(a, {240}, 4)) return address_class::reserved; // incl. 255.255.255.255
    return address_class::global;
}

address_class classify_v6(const ip_address& a) {
    static constexpr std::array<std::uint8_t, 16> zero{};
    std::array<std::uint8_t, 16> one{};
    one[15] = 1;
    if (a.bytes == zero) return address_class::unspecified;
    if (a.bytes == one) return address_class::loopback;
    if (in_prefix(a, {0x20, 0x01, 0x0d, 0xb8}, 32) || in_prefix(a, {0x3f, 0xff}, 20))
        return address_class::documentation;                              // RFC 3849, RFC 9637
    if (in_prefix(a, {0xfe, 0x80}, 10)) return address_class::link_local; // RFC 4291 2.5.6
    if (in_prefix(a, {0xfc}, 7)) return address_class::unique_local;      // RFC 4193
    if (in_prefix(a, {0xff}, 8)) return address_class::multicast;
    if (in_prefix(a, {0x20, 0x01, 0x00, 0x02, 0, 0}, 48)) return address_class::benchmarking;
    // RFC 4291 2.4: global unicast is 2000::/3; everything else (v4-mapped ::ffff:0:0/96,
    // NAT64 64:ff9b::/96, discard 100::/64, site-local fec0::/10, ...) is not ours to publish.
    if (!in_prefix(a, {0x20}, 3)) return address_class::reserved;
    return address_class::global;
}

} // namespace

address_class classify(const ip_address& a) noexcept {
    return a.fam == family::v4 ? classify_v4(a) : classify_v6(a);
}

std::string_view describe(address_class c) noexcept {
    switch (c) {
    case address_class::global: return "a global address";
    case address_class::unspecified: return "an unspecified address";
    case address_class::loopback: return "a loopback address";
    case address_class::private_use: return "a private address (RFC 1918)";
    case address_class::cgnat: return "a CGNAT shared address (RFC 6598, 100.64.0.0/10)";
    case address_class::link_local: return "a link-local address";
    case address_class::documentation: return "a documentation address";
    case address_class::unique_local: return "a unique local address (RFC 4193)";
    case address_class::benchmarking: return "a benchmarking address";
    case address_class::multicast: return "a multicast address";
    case address_class::reserved: return "a reserved, non-global address";
    }
    return "an unknown address";
}

} // namespace splitmail::ddns
