// DNS rdata -> text; see rdata.hpp.
#include "splitmail/dns/rdata.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/text/hex.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <utility>

namespace splitmail::dns {

namespace {

constexpr std::array<std::pair<rr_type, std::string_view>, 9> type_names{{
    {rr_type::a, "A"},
    {rr_type::ns, "NS"},
    {rr_type::cname, "CNAME"},
    {rr_type::ptr, "PTR"},
    {rr_type::mx, "MX"},
    {rr_type::txt, "TXT"},
    {rr_type::aaaa, "AAAA"},
    {rr_type::srv, "SRV"},
    {rr_type::tlsa, "TLSA"},
}};

// One octet in zone-file form (RFC 1035 5.1): `quoted` (the label separator of a name, the
// quote of a TXT string) and '\\' get a backslash; octets outside lowest..0x7e are \DDD.
void append_escaped(std::string& out, std::uint8_t b, char quoted, std::uint8_t lowest) {
    if (b == static_cast<std::uint8_t>(quoted) || b == '\\') {
        out += '\\';
        out += static_cast<char>(b);
    } else if (b < lowest || b > 0x7e) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(b));
        out += buf;
    } else {
        out += static_cast<char>(b);
    }
}

// Reads a wire name starting at `pos`; advances pos. Names in rdata are uncompressed
// (RFC 3597 4: libunbound hands out rdata with names expanded).
std::optional<std::string> read_name(std::span<const std::uint8_t> w, std::size_t& pos) {
    std::string out;
    std::size_t total = 0;
    while (true) {
        if (pos >= w.size()) return std::nullopt;
        const std::uint8_t len = w[pos++];
        if (len == 0) break;
        if (len > 63 || pos + len > w.size()) return std::nullopt; // also refuses pointers
        total += len + 1;
        if (total > 254) return std::nullopt; // RFC 1035 2.3.4: 255 octets on the wire
        for (std::size_t i = 0; i < len; ++i) {
            // Lower case first: 'A'..'Z' are plain octets, so the escaping does not change.
            const auto lower =
                static_cast<std::uint8_t>(address::lower_ascii(static_cast<char>(w[pos + i])));
            append_escaped(out, lower, '.', 0x21);
        }
        pos += len;
        out += '.';
    }
    return out.empty() ? std::string(".") : out;
}

std::uint16_t u16(std::span<const std::uint8_t> w, std::size_t pos) {
    return static_cast<std::uint16_t>((w[pos] << 8) | w[pos + 1]);
}

// Calls each(string) for every character-string of a TXT rdata item (RFC 1035 3.3.14: one or
// more <character-string>s, each a length octet and that many octets); false if malformed.
template <class F>
bool each_txt_string(std::span<const std::uint8_t> w, F each) {
    if (w.empty()) return false;
    std::size_t pos = 0;
    while (pos < w.size()) {
        const std::size_t len = w[pos++];
        if (pos + len > w.size()) return false;
        each(w.subspan(pos, len));
        pos += len;
    }
    return true;
}

std::optional<std::string> address_text(int family, std::span<const std::uint8_t> w) {
    if (w.size() != (family == AF_INET ? 4u : 16u)) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, w.data(), buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

} // namespace

std::optional<rr_type> parse_rr_type(std::string_view name) {
    for (auto [t, n] : type_names)
        if (address::iequals_ascii(n, name)) return t;
    return std::nullopt;
}

std::string_view to_string(rr_type t) noexcept {
    for (auto [x, n] : type_names)
        if (x == t) return n;
    return "?";
}

std::optional<std::string> wire_name_to_text(std::span<const std::uint8_t> wire) {
    std::size_t pos = 0;
    auto n = read_name(wire, pos);
    if (!n || pos != wire.size()) return std::nullopt;
    return n;
}

std::string host_name(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
}

std::optional<std::string> txt_joined(std::span<const std::uint8_t> rdata) {
    std::string out;
    if (!each_txt_string(rdata, [&](std::span<const std::uint8_t> s) {
            out.append(reinterpret_cast<const char*>(s.data()), s.size());
        }))
        return std::nullopt;
    return out;
}

std::optional<std::string> rdata_to_text(rr_type t, std::span<const std::uint8_t> w) {
    switch (t) {
    case rr_type::a: return address_text(AF_INET, w);
    case rr_type::aaaa: return address_text(AF_INET6, w);
    case rr_type::ns:
    case rr_type::cname:
    case rr_type::ptr: return wire_name_to_text(w);
    case rr_type::mx: {
        if (w.size() < 3) return std::nullopt;
        auto name = wire_name_to_text(w.subspan(2));
        if (!name) return std::nullopt;
        return std::to_string(u16(w, 0)) + " " + *name;
    }
    case rr_type::srv: {
        if (w.size() < 7) return std::nullopt;
        auto name = wire_name_to_text(w.subspan(6));
        if (!name) return std::nullopt;
        return std::to_string(u16(w, 0)) + " " + std::to_string(u16(w, 2)) + " " +
               std::to_string(u16(w, 4)) + " " + *name;
    }
    case rr_type::tlsa: {
        if (w.size() < 4) return std::nullopt; // RFC 6698 2.1: association data is not empty
        return std::to_string(w[0]) + " " + std::to_string(w[1]) + " " + std::to_string(w[2]) +
               " " + text::hex(w.subspan(3));
    }
    case rr_type::txt: {
        std::string out;
        auto quoted = [&](std::span<const std::uint8_t> s) {
            if (!out.empty()) out += ' ';
            out += '"';
            for (const std::uint8_t b : s) append_escaped(out, b, '"', 0x20);
            out += '"';
        };
        if (!each_txt_string(w, quoted)) return std::nullopt;
        return out;
    }
    }
    return std::nullopt;
}

} // namespace splitmail::dns
