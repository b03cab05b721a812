// PROXY protocol v2 codec; see proxy/v2.hpp. Section numbers refer to HAProxy's
// "The PROXY protocol" (doc/proxy-protocol.txt).
#include "splitmail/proxy/v2.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace splitmail::proxy {
namespace {

constexpr unsigned char version2 = 0x20;  // 2.2: high nibble of byte 13
constexpr unsigned char cmd_local = 0x00; // low nibble
constexpr unsigned char cmd_proxy = 0x01;
constexpr unsigned char af_unspec = 0x00; // 2.2: high nibble of byte 14
constexpr unsigned char af_inet = 0x10;
constexpr unsigned char af_inet6 = 0x20;
constexpr unsigned char proto_stream = 0x01;
constexpr std::size_t inet_block = 12;  // 2 x 4-byte address + 2 x 2-byte port
constexpr std::size_t inet6_block = 36; // 2 x 16-byte address + 2 x 2-byte port
constexpr unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_v4_mapped(const endpoint& e) {
    return e.v6 && std::memcmp(e.addr.data(), v4_mapped_prefix, 12) == 0;
}

endpoint unmap(endpoint e) {
    if (!is_v4_mapped(e)) return e;
    endpoint r;
    r.port = e.port;
    std::memcpy(r.addr.data(), e.addr.data() + 12, 4);
    return r;
}

endpoint as_v6(const endpoint& e) {
    if (e.v6) return e;
    endpoint r;
    r.v6 = true;
    r.port = e.port;
    std::memcpy(r.addr.data(), v4_mapped_prefix, 12);
    std::memcpy(r.addr.data() + 12, e.addr.data(), 4);
    return r;
}

std::uint16_t be16(const unsigned char* p) { return std::uint16_t((p[0] << 8) | p[1]); }

void put16(std::string& out, std::uint16_t v) {
    out.push_back(char(v >> 8));
    out.push_back(char(v & 0xff));
}

// 2.2.7: TLVs are type (1), length (2), value; they must fill the rest of the header exactly.
bool tlvs_well_formed(std::span<const unsigned char> t) {
    while (!t.empty()) { // each step consumes at least 3 bytes: linear
        if (t.size() < 3) return false;
        std::size_t len = be16(t.data() + 1);
        if (t.size() - 3 < len) return false;
        t = t.subspan(3 + len);
    }
    return true;
}

parse_result fail(std::string_view why) {
    parse_result r;
    r.st = parse_result::status::error;
    r.error = why;
    return r;
}

} // namespace

std::string endpoint::ip_text() const {
    endpoint e = unmap(*this);
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(e.v6 ? AF_INET6 : AF_INET, e.addr.data(), buf, sizeof buf)) return {};
    return buf;
}

std::optional<endpoint> make_endpoint(std::string_view ip, std::uint16_t port) {
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    std::string text(ip); // inet_pton wants a terminated string
    endpoint e;
    e.port = port;
    if (inet_pton(AF_INET, text.c_str(), e.addr.data()) == 1) return e;
    e.v6 = true;
    if (inet_pton(AF_INET6, text.c_str(), e.addr.data()) == 1) return unmap(e);
    return std::nullopt;
}

parse_result parse(std::span<const unsigned char> data) {
    // A prefix that already differs from the signature can never become a header.
    std::size_t sig = std::min(data.size(), signature.size());
    if (!std::equal(data.begin(), data.begin() + long(sig), signature.begin()))
        return fail(data.size() >= 5 && std::memcmp(data.data(), "PROXY", 5) == 0
                        ? "PROXY protocol version 1 (text) header; version 2 expected"
                        : "no PROXY protocol v2 signature");
    parse_result r;
    if (data.size() < fixed_size) return r; // need_more, need = 16
    const unsigned char ver_cmd = data[12], fam = data[13];
    const std::size_t len = be16(data.data() + 14);
    if ((ver_cmd & 0xf0) != version2) return fail("unsupported PROXY protocol version");
    const unsigned char cmd = ver_cmd & 0x0f;
    if (cmd != cmd_local && cmd != cmd_proxy) return fail("unknown PROXY command");
    if (len > max_header - fixed_size) return fail("PROXY header too long");
    r.need = fixed_size + len;
    if (data.size() < r.need) return r;

    auto block = data.subspan(fixed_size, len);
    r.st = parse_result::status::done;
    if (cmd == cmd_local) {
        // 2.2: LOCAL: "the receiver must accept this connection as valid and must use the real
        // connection endpoints and discard the protocol block including the family".
        r.value.cmd = command::local;
        return r;
    }
    r.value.cmd = command::proxy;
    const unsigned char family = fam & 0xf0, transport = fam & 0x0f;
    if (family == af_unspec) return fail("PROXY command with an unspecified address family");
    if (family != af_inet && family != af_inet6)
        return fail("PROXY address family other than IPv4/IPv6");
    if (transport != proto_stream) return fail("PROXY transport other than TCP (STREAM)");
    const std::size_t alen = family == af_inet ? 4 : 16;
    const std::size_t need_block = family == af_inet ? inet_block : inet6_block;
    if (len < need_block) return fail("PROXY address block too short for its family");
    if (!tlvs_well_formed(block.subspan(need_block))) return fail("malformed PROXY TLV");
    endpoint& s = r.value.source;
    endpoint& d = r.value.destination;
    s.v6 = d.v6 = family == af_inet6;
    std::memcpy(s.addr.data(), block.data(), alen);
    std::memcpy(d.addr.data(), block.data() + alen, alen);
    s.port = be16(block.data() + 2 * alen);
    d.port = be16(block.data() + 2 * alen + 2);
    s = unmap(s);
    d = unmap(d);
    return r;
}

std::string encode(const endpoint& source, const endpoint& destination) {
    endpoint s = unmap(source), d = unmap(destination);
    if (s.v6 != d.v6) {
        s = as_v6(s);
        d = as_v6(d);
    }
    const std::size_t alen = s.v6 ? 16 : 4;
    std::string out(reinterpret_cast<const char*>(signature.data()), signature.size());
    out.push_back(char(version2 | cmd_proxy));
    out.push_back(char((s.v6 ? af_inet6 : af_inet) | proto_stream));
    put16(out, std::uint16_t(s.v6 ? inet6_block : inet_block));
    out.append(reinterpret_cast<const char*>(s.addr.data()), alen);
    out.append(reinterpret_cast<const char*>(d.addr.data()), alen);
    put16(out, s.port);
    put16(out, d.port);
    return out;
}

std::string encode_local() {
    std::string out(reinterpret_cast<const char*>(signature.data()), signature.size());
    out.push_back(char(version2 | cmd_local));
    out.push_back(char(af_unspec));
    put16(out, 0);
    return out;
}

expectation source_policy(bool dedicated_listener, bool trusted_source) {
    if (trusted_source) return expectation::header;
    return dedicated_listener ? expectation::refuse : expectation::none;
}

} // namespace splitmail::proxy
