// PROXY protocol v2 codec: golden bytes, round trips, byte-by-byte feeding, refusals.
#include "splitmail/proxy/v2.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace splitmail::proxy;

namespace {

std::span<const unsigned char> bytes(const std::string& s) {
    return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

const std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);

// 127.0.0.2:40000 -> 127.0.0.1:993, written by hand from spec 2.2.
const std::string golden_v4 = sig + std::string("\x21\x11\x00\x0c"
                                                "\x7f\x00\x00\x02"
                                                "\x7f\x00\x00\x01"
                                                "\x9c\x40\x03\xe1",
                                                16);

endpoint ep(std::string_view ip, std::uint16_t port) {
    auto e = make_endpoint(ip, port);
    EXPECT_TRUE(e) << ip;
    return e.value_or(endpoint{});
}

// Feeds the way a driver does: read exactly `need` bytes, then parse again.
parse_result feed_exactly(const std::string& in) {
    std::size_t have = 0;
    parse_result r;
    for (int guard = 0; guard < 4; ++guard) {
        r = parse(bytes(in.substr(0, have)));
        if (r.st != parse_result::status::need_more) return r;
        if (r.need <= have || r.need > in.size()) return r;
        have = r.need;
    }
    return r;
}

} // namespace

TEST(ProxyV2, EncodesIpv4Golden) {
    EXPECT_EQ(encode(ep("127.0.0.2", 40000), ep("127.0.0.1", 993)), golden_v4);
}

TEST(ProxyV2, ParsesIpv4GoldenWholeAndByteByByte) {
    auto r = parse(bytes(golden_v4));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.need, 28u);
    EXPECT_EQ(r.value.cmd, command::proxy);
    EXPECT_EQ(r.value.source.ip_text(), "127.0.0.2");
    EXPECT_EQ(r.value.source.port, 40000);
    EXPECT_EQ(r.value.destination.ip_text(), "127.0.0.1");
    EXPECT_EQ(r.value.destination.port, 993);
    for (std::size_t n = 0; n < golden_v4.size(); ++n) {
        auto p = parse(bytes(golden_v4.substr(0, n)));
        ASSERT_EQ(p.st, parse_result::status::need_more) << n;
        EXPECT_EQ(p.need, n < 16 ? 16u : 28u) << n;
    }
}

TEST(ProxyV2, DoesNotConsumeBytesAfterTheHeader) {
    std::string in = golden_v4 + "\x16\x03\x01 ClientHello";
    auto r = parse(bytes(in));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.need, golden_v4.size());
    EXPECT_EQ(feed_exactly(in).need, golden_v4.size());
}

TEST(ProxyV2, RoundTripsIpv6AndMixedFamilies) {
    auto r = parse(bytes(encode(ep("2001:db8::7", 51000), ep("2001:db8::1", 993))));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.need, 16u + 36u);
    EXPECT_EQ(r.value.source.ip_text(), "2001:db8::7");
    EXPECT_EQ(r.value.source.port, 51000);
    EXPECT_EQ(r.value.destination.ip_text(), "2001:db8::1");

    // IPv4 client on an IPv6 listener: sent as AF_INET6 with the client mapped, read as IPv4.
    std::string mixed = encode(ep("192.0.2.9", 1234), ep("2001:db8::1", 993));
    EXPECT_EQ(static_cast<unsigned char>(mixed[13]), 0x21);
    r = parse(bytes(mixed));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.value.source.ip_text(), "192.0.2.9");
    EXPECT_FALSE(ep("::ffff:192.0.2.9", 1).v6);
    EXPECT_EQ(ep("[::1]", 1).ip_text(), "::1");
    EXPECT_FALSE(make_endpoint("192.0.2.300", 1));
    EXPECT_FALSE(make_endpoint("host.example", 1));
    EXPECT_FALSE(make_endpoint("", 1));
}

TEST(ProxyV2, LocalCommandIsAcceptedWithoutAddresses) {
    auto r = parse(bytes(encode_local()));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.value.cmd, command::local);
    // LOCAL with an address block (any family) still skips the block.
    std::string local_v4 = golden_v4;
    local_v4[12] = '\x20';
    r = parse(bytes(local_v4));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.value.cmd, command::local);
    EXPECT_EQ(r.need, 28u);
}

TEST(ProxyV2, SkipsWellFormedTlvs) {
    std::string in = golden_v4;
    in[15] = char(12 + 7); // + one TLV of 4 bytes of value
    in += std::string("\x04\x00\x04"
                      "abcd",
                      7);
    auto r = parse(bytes(in));
    ASSERT_EQ(r.st, parse_result::status::done);
    EXPECT_EQ(r.value.source.ip_text(), "127.0.0.2");
    EXPECT_EQ(r.need, in.size());
}

TEST(ProxyV2, Refusals) {
    struct bad {
        std::string in;
        std::string_view why;
    };
    auto with = [](std::size_t at, char c) {
        std::string s = golden_v4;
        s[at] = c;
        return s;
    };
    std::string bad_tlv = golden_v4;
    bad_tlv[15] = char(12 + 3);
    bad_tlv += std::string("\x04\x00\x09", 3); // claims 9 bytes of value, has none
    std::string huge = golden_v4.substr(0, 14) + "\xff\xff";
    std::vector<bad> cases = {
        {"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "version 1"},
        {"a001 LOGIN", "signature"},
        {std::string("\x16\x03\x01", 3), "signature"}, // a TLS ClientHello
        {with(12, '\x11'), "version"},
        {with(12, '\x22'), "command"},
        {with(13, '\x12'), "TCP"},         // DGRAM
        {with(13, '\x31'), "IPv4/IPv6"},   // AF_UNIX
        {with(13, '\x01'), "unspecified"}, // AF_UNSPEC with PROXY
        {with(15, '\x04'), "too short"},   // 4-byte block for AF_INET
        {bad_tlv, "TLV"},
        {huge, "too long"},
    };
    for (const auto& c : cases) {
        auto r = parse(bytes(c.in));
        ASSERT_EQ(r.st, parse_result::status::error) << c.why;
        EXPECT_NE(r.error.find(c.why), std::string_view::npos) << r.error;
    }
    // A wrong first byte is refused at once, without waiting for 16 bytes.
    EXPECT_EQ(parse(bytes(std::string("G"))).st, parse_result::status::error);
    EXPECT_EQ(parse(bytes(std::string("\r\n"))).st, parse_result::status::need_more);
}

TEST(ProxyV2, SourcePolicy) {
    EXPECT_EQ(source_policy(true, false), expectation::refuse);
    EXPECT_EQ(source_policy(true, true), expectation::header);
    EXPECT_EQ(source_policy(false, true), expectation::header);
    EXPECT_EQ(source_policy(false, false), expectation::none);
}
