// Non-public address ranges; see public_address.hpp.
#include "setup/public_address.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <string>

namespace splitmail::provision::setup {

namespace {

struct range {
    std::array<std::uint8_t, 16> prefix;
    unsigned bits;
    const char* what;
};

bool in(const std::uint8_t* a, const range& r) {
    for (unsigned i = 0; i < r.bits; ++i) {
        const unsigned byte = i / 8, bit = 7 - i % 8;
        if (((a[byte] >> bit) & 1u) != ((r.prefix[byte] >> bit) & 1u)) return false;
    }
    return true;
}

// RFC 6890 and the IANA special-purpose registries.
const range v4[] = {
    {{0}, 8, "\"this network\" (RFC 1122)"},
    {{10}, 8, "private (RFC 1918)"},
    {{100, 64}, 10, "shared address space of carrier-grade NAT (RFC 6598)"},
    {{127}, 8, "loopback"},
    {{169, 254}, 16, "link-local (RFC 3927)"},
    {{172, 16}, 12, "private (RFC 1918)"},
    {{192, 0, 0}, 24, "IETF protocol assignments (RFC 6890)"},
    {{192, 0, 2}, 24, "documentation, TEST-NET-1 (RFC 5737)"},
    {{192, 168}, 16, "private (RFC 1918)"},
    {{198, 18}, 15, "benchmarking (RFC 2544)"},
    {{198, 51, 100}, 24, "documentation, TEST-NET-2 (RFC 5737)"},
    {{203, 0, 113}, 24, "documentation, TEST-NET-3 (RFC 5737)"},
    {{224}, 4, "multicast"},
    {{240}, 4, "reserved (RFC 1112)"},
};
const range v6[] = {
    {{0}, 127, "unspecified or loopback"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "IPv4-mapped (RFC 4291)"},
    {{0xfc}, 7, "unique local, private (RFC 4193)"},
    {{0xfe, 0x80}, 10, "link-local (RFC 4291)"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (RFC 3849)"},
    {{0xff}, 8, "multicast"},
};

} // namespace

std::string not_public_reason(std::string_view ip) {
    const std::string text(ip);
    std::uint8_t a[16] = {};
    if (inet_pton(AF_INET, text.c_str(), a) == 1) {
        for (const auto& r : v4)
            if (in(a, r)) return r.what;
        return "";
    }
    if (inet_pton(AF_INET6, text.c_str(), a) == 1) {
        for (const auto& r : v6)
            if (in(a, r)) return r.what;
        return "";
    }
    return "not an IP address";
}

} // namespace splitmail::provision::setup
