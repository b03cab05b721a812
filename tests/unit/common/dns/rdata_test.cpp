// Unit tests of common/dns: wire rdata -> text (rdata.hpp) and the forwarder syntax of the
// libunbound set-up (context.hpp), shared by the relay's resolver and `splitmail check`.
#include "splitmail/dns/context.hpp"
#include "splitmail/dns/rdata.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace splitmail::dns;

namespace {
std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
    std::vector<std::uint8_t> out;
    for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
    return out;
}
std::vector<std::uint8_t> name_wire(const std::string& dotted) {
    std::vector<std::uint8_t> out;
    std::size_t pos = 0;
    while (pos < dotted.size()) {
        auto dot = dotted.find('.', pos);
        auto label = dotted.substr(pos, dot - pos);
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        pos = dot == std::string::npos ? dotted.size() : dot + 1;
    }
    out.push_back(0);
    return out;
}
} // namespace

TEST(dns_rdata, to_text) {
    EXPECT_EQ(rdata_to_text(rr_type::a, bytes({203, 0, 113, 5})), "203.0.113.5");
    auto v6 = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25});
    EXPECT_EQ(rdata_to_text(rr_type::aaaa, v6), "2001:db8::25");
    auto mx = bytes({0, 10});
    auto n = name_wire("MX.Example.com");
    mx.insert(mx.end(), n.begin(), n.end());
    EXPECT_EQ(rdata_to_text(rr_type::mx, mx), "10 mx.example.com.");
    auto srv = bytes({0, 0, 0, 1, 0x01, 0xd1});
    srv.insert(srv.end(), n.begin(), n.end());
    EXPECT_EQ(rdata_to_text(rr_type::srv, srv), "0 1 465 mx.example.com.");
    EXPECT_EQ(rdata_to_text(rr_type::srv, bytes({0, 0, 0, 0, 0, 0, 0})), "0 0 0 .");
    EXPECT_EQ(rdata_to_text(rr_type::ptr, n), "mx.example.com.");
    EXPECT_EQ(rdata_to_text(rr_type::tlsa, bytes({3, 1, 1, 0xab, 0xCD})), "3 1 1 abcd");
    auto txt = bytes({3, 'a', '"', 'b', 2, 'c', 0x01});
    EXPECT_EQ(rdata_to_text(rr_type::txt, txt), "\"a\\\"b\" \"c\\001\"");
    EXPECT_EQ(rdata_to_text(rr_type::txt, bytes({0})), "\"\"");
}

TEST(dns_rdata, refuses_malformed) {
    EXPECT_FALSE(rdata_to_text(rr_type::a, bytes({1, 2, 3})));
    EXPECT_FALSE(rdata_to_text(rr_type::aaaa, bytes({1, 2, 3, 4})));
    EXPECT_FALSE(rdata_to_text(rr_type::mx, bytes({0, 10, 3, 'a', 'b'}))); // short label
    EXPECT_FALSE(rdata_to_text(rr_type::mx, bytes({0, 10, 0xc0, 0x0c})));  // pointer
    EXPECT_FALSE(rdata_to_text(rr_type::ptr, bytes({1, 'a', 0, 1})));      // trailing byte
    EXPECT_FALSE(rdata_to_text(rr_type::txt, bytes({5, 'a', 'b'})));       // length > data
    EXPECT_FALSE(rdata_to_text(rr_type::txt, {}));
    EXPECT_FALSE(rdata_to_text(rr_type::tlsa, bytes({3, 1, 1}))); // no data
    std::vector<std::uint8_t> long_name;
    for (int i = 0; i < 5; ++i) {
        long_name.push_back(63);
        long_name.insert(long_name.end(), 63, 'a');
    }
    long_name.push_back(0);
    EXPECT_FALSE(rdata_to_text(rr_type::ptr, long_name)); // > 255 octets
}

TEST(dns_rdata, type_names) {
    EXPECT_EQ(parse_rr_type("tlsa"), rr_type::tlsa);
    EXPECT_EQ(to_string(rr_type::aaaa), "AAAA");
    EXPECT_FALSE(parse_rr_type("CAA"));
}

TEST(dns_rdata, names_escape_what_a_host_name_cannot_hold) {
    // RFC 1035 5.1: a dot or backslash inside a label, and octets outside 0x21..0x7e, are
    // escaped, so "a.b" as one label never reads as two labels.
    EXPECT_EQ(wire_name_to_text(bytes({3, 'a', '.', 'B', 3, 'c', 'o', 'm', 0})), "a\\.b.com.");
    EXPECT_EQ(wire_name_to_text(bytes({3, 'a', '\\', ' ', 1, 0, 0})), "a\\\\\\032.\\000.");
    EXPECT_EQ(wire_name_to_text(bytes({0})), ".");
    EXPECT_FALSE(wire_name_to_text({}));
}

TEST(dns_rdata, host_name_drops_the_trailing_dot) {
    EXPECT_EQ(host_name("mx.example.com."), "mx.example.com");
    EXPECT_EQ(host_name("."), "");
    EXPECT_EQ(host_name("mx"), "mx");
}

TEST(dns_rdata, txt_joined_concatenates_character_strings) {
    // RFC 7208 3.3, RFC 6376 3.6.2.2: the strings are joined without a separator.
    std::vector<std::uint8_t> spf = {6, 'v', '=', 's', 'p', 'f', '1', 5, ' ', '-', 'a', 'l', 'l'};
    EXPECT_EQ(txt_joined(spf).value_or("?"), "v=spf1 -all");
    EXPECT_EQ(txt_joined(bytes({0})).value_or("?"), "");
    EXPECT_EQ(txt_joined(bytes({2, '"', 0x01})).value_or("?"), std::string("\"\x01"));
    EXPECT_FALSE(txt_joined(bytes({7, 's', 'h', 'o', 'r', 't'}))); // length past the end
    EXPECT_FALSE(txt_joined({}));                                  // RFC 1035 3.3.14: 1+ strings
}

TEST(dns_context, forwarder_syntax) {
    EXPECT_EQ(to_unbound_address("127.0.0.1:5353").value_or(""), "127.0.0.1@5353");
    EXPECT_EQ(to_unbound_address("[::1]:53").value_or(""), "::1@53");
    EXPECT_EQ(to_unbound_address("192.0.2.1:053").value_or(""), "192.0.2.1@53");
    EXPECT_FALSE(to_unbound_address("127.0.0.1"));
    EXPECT_FALSE(to_unbound_address("127.0.0.1:"));
    EXPECT_FALSE(to_unbound_address("127.0.0.1:0"));
    EXPECT_FALSE(to_unbound_address("127.0.0.1:99999"));
    EXPECT_FALSE(to_unbound_address("127.0.0.1:x"));
    EXPECT_FALSE(to_unbound_address("::1:53"));         // IPv6 needs brackets
    EXPECT_FALSE(to_unbound_address("[127.0.0.1]:53")); // and only IPv6 has them
    EXPECT_FALSE(to_unbound_address("localhost:53"));   // an address, not a name
    auto e = to_unbound_address("nonsense");
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().find("is not ip:port"), std::string::npos) << e.error();
}

TEST(dns_context, make_context_refuses_a_bad_forwarder) {
    auto c = make_context("resolver.example:53");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("is not ip:port"), std::string::npos) << c.error();
    EXPECT_TRUE(make_context("127.0.0.1:9")) << "a well-formed forwarder makes a context";
}
