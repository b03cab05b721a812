// DKIM-Signature and key record parsing (RFC 6376 3.2, 3.5, 3.6.1, 6.1.1; RFC 8463 4.2), and
// simple canonicalization (3.4.1, 3.4.3), table-driven.
#include "dkim/body_hash.hpp"
#include "dkim/canon.hpp"
#include "dkim/key_record.hpp"
#include "dkim/signature.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay::dkim;

namespace {
const std::string bh32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
std::string base_sig(const std::string& extra = "") {
    return " v=1; a=rsa-sha256; d=Example.TEST; s=sel; h=From : To;\r\n\tbh=" + bh32 +
           "; b=dGVz\r\n dA==" + extra;
}
} // namespace

// RFC 6376 3.2: tag-list syntax.
TEST(dkim_tag_list, grammar_table) {
    struct row {
        std::string in;
        bool ok;
        std::size_t tags;
    };
    const row rows[] = {
        {"", true, 0},
        {"a=1", true, 1},
        {"a=1;", true, 1},
        {" a = 1 ;\r\n\tb=x y ; ", true, 2},
        {"a=", true, 1},        // empty value is allowed
        {"a=1;;b=2", false, 0}, // empty tag-spec in the middle
        {";a=1", false, 0},
        {"a=1; a=2", false, 0}, // duplicate
        {"a", false, 0},        // no '='
        {"1a=2", false, 0},     // tag-name starts with ALPHA
        {"a-b=2", false, 0},    // ALNUMPUNC is ALPHA / DIGIT / "_"
        {"a_b2=2", true, 1},
        {"a=\x01", false, 0}, // VALCHAR is %x21-3A / %x3C-7E
        {"a=\xc3\xa9", false, 0},
    };
    for (const auto& r : rows) {
        auto t = parse_tags(r.in);
        EXPECT_EQ(t.has_value(), r.ok) << r.in;
        if (t && r.ok) {
            EXPECT_EQ(t->size(), r.tags) << r.in;
        }
    }
    std::string many;
    for (int i = 0; i < 65; ++i) many += "t" + std::to_string(i) + "=1;";
    EXPECT_FALSE(parse_tags(many)) << "more than max_tags";
    auto t = parse_tags(" a = x  y ;b=2");
    ASSERT_TRUE(t);
    EXPECT_EQ((*t)[0].value, "x  y");
}

TEST(dkim_base64, strict) {
    EXPECT_EQ(decode_base64("dGVzdA=="), "test");
    EXPECT_EQ(decode_base64("dGVz\r\n dA=="), "test"); // FWS inside b= (3.5)
    EXPECT_EQ(decode_base64(""), "");
    EXPECT_FALSE(decode_base64("dGVzdA="));  // length
    EXPECT_FALSE(decode_base64("dG=zdA==")); // padding in the middle
    EXPECT_FALSE(decode_base64("dGVzdA=a"));
    EXPECT_FALSE(decode_base64("dGVz*A=="));
    EXPECT_FALSE(decode_base64("d==="));
}

// RFC 6376 3.5 / 6.1.1.
TEST(dkim_signature, parses_required_and_defaults) {
    auto s = parse_signature(base_sig());
    ASSERT_TRUE(s) << s.error().reason;
    EXPECT_EQ(s->alg, sig_algorithm::rsa_sha256);
    EXPECT_EQ(s->domain, "example.test"); // lower-cased
    EXPECT_EQ(s->selector, "sel");
    EXPECT_EQ(s->auid, "@example.test");       // i= default
    EXPECT_EQ(s->header_canon, canon::simple); // c= default simple/simple
    EXPECT_EQ(s->body_canon, canon::simple);
    EXPECT_EQ(s->signed_headers, (std::vector<std::string>{"from", "to"}));
    EXPECT_EQ(s->b, "test");
    EXPECT_EQ(s->bh.size(), 32u);
    EXPECT_FALSE(s->length);
    const std::string field = "DKIM-Signature:" + base_sig();
    const std::string stripped = without_b_value(field, 15, *s);
    EXPECT_TRUE(stripped.ends_with("; b=")) << stripped;
    EXPECT_EQ(stripped.find("dGVz"), std::string::npos);
}

TEST(dkim_signature, error_table) {
    using k = signature_error::kind;
    struct row {
        std::string in;
        k kind;
        std::string reason_has;
    };
    const row rows[] = {
        {" v=1; a=rsa-sha256; d=example.test; s=sel; h=from; bh=" + bh32, k::syntax,
         "missing tag b"},
        {base_sig("; v=2"), k::syntax, "duplicate"},
        {" v=2; a=rsa-sha256; d=e.test; s=s; h=from; bh=" + bh32 + "; b=dGVzdA==", k::syntax,
         "version"},
        {base_sig("; c=fancy/simple"), k::syntax, "canonicalization"},
        {" v=1; a=rsa-md5; d=e.test; s=s; h=from; bh=" + bh32 + "; b=dGVzdA==", k::syntax,
         "algorithm"},
        {" v=1; a=rsa-sha256; d=e.test; s=s; h=from; bh=AAAA; b=dGVzdA==", k::syntax, "bh="},
        {" v=1; a=rsa-sha256; d=e.test; s=s; h=from; bh=" + bh32 + "; b=!!", k::syntax, "b="},
        {base_sig("; l=12x"), k::syntax, "l="},
        {base_sig("; x=1234567890123456789"), k::syntax, "x="}, // 19 digits
        {base_sig("; i=nobody"), k::syntax, "i="},
        {" v=1; a=rsa-sha256; d=bad..domain; s=s; h=from; bh=" + bh32 + "; b=dGVzdA==", k::syntax,
         "d="},
        {" v=1; a=rsa-sha256; d=e.test; s=s; h=from::to; bh=" + bh32 + "; b=dGVzdA==", k::syntax,
         "h="},
        {" v=1; a=rsa-sha256; d=e.test; s=s; h=to:subject; bh=" + bh32 + "; b=dGVzdA==", k::policy,
         "From"},
        {base_sig("; i=a@other.test"), k::policy, "i="},
        {base_sig("; i=a@xexample.test"), k::policy, "i="}, // not a subdomain, only a suffix
        {base_sig("; t=200; x=100"), k::policy, "x="},
        {base_sig("; q=http/well-known"), k::policy, "q="},
    };
    for (const auto& r : rows) {
        auto s = parse_signature(r.in);
        ASSERT_FALSE(s) << r.in;
        EXPECT_EQ(s.error().type, r.kind) << r.in;
        EXPECT_NE(s.error().reason.find(r.reason_has), std::string::npos)
            << r.in << " -> " << s.error().reason;
    }
}

TEST(dkim_signature, optional_tags) {
    auto s = parse_signature(
        base_sig("; c=relaxed/relaxed; l=123; t=100; x=200; i=a@Sub.Example.test; q=dns/txt"));
    ASSERT_TRUE(s) << s.error().reason;
    EXPECT_EQ(s->header_canon, canon::relaxed);
    EXPECT_EQ(s->body_canon, canon::relaxed);
    EXPECT_EQ(s->length, 123u);
    EXPECT_EQ(s->timestamp, 100);
    EXPECT_EQ(s->expiry, 200);
    EXPECT_EQ(s->auid, "a@Sub.Example.test");
    auto e =
        parse_signature(" v=1; a=ed25519-sha256; c=relaxed; d=e.test; s=s; h=from; bh=" + bh32 +
                        "; b=dGVzdA==; z=From:x|To:y; unknown=tag");
    ASSERT_TRUE(e) << e.error().reason;
    EXPECT_EQ(e->alg, sig_algorithm::ed25519_sha256);
    EXPECT_EQ(e->body_canon, canon::simple);
}

// RFC 6376 3.6.1, RFC 8463 4.2.
TEST(dkim_key_record, table) {
    struct row {
        std::string in;
        bool ok;
        key_type type;
        bool strict, revoked;
    };
    const row rows[] = {
        {"v=DKIM1; k=rsa; p=dGVzdA==", true, key_type::rsa, false, false},
        {"p=dGVzdA==", true, key_type::rsa, false, false}, // v= and k= optional
        {"v=DKIM1; k=ed25519; p=dGVzdA==", true, key_type::ed25519, false, false},
        {"v=DKIM1; p=", true, key_type::rsa, false, true}, // revoked
        {"v=DKIM1; t=y:s; p=dGVzdA==", true, key_type::rsa, true, false},
        {"v=DKIM1; h=sha1:sha256; s=email; n=notes; p=dGVzdA==", true, key_type::rsa, false, false},
        {"k=rsa; v=DKIM1; p=dGVzdA==", false, {}, false, false}, // v= not first
        {"v=DKIM2; p=dGVzdA==", false, {}, false, false},
        {"v=DKIM1; k=dsa; p=dGVzdA==", false, {}, false, false},
        {"v=DKIM1; h=sha1; p=dGVzdA==", false, {}, false, false}, // no sha256
        {"v=DKIM1; s=tlsrpt; p=dGVzdA==", false, {}, false, false},
        {"v=DKIM1; k=rsa", false, {}, false, false}, // no p=
        {"v=DKIM1; p=dGVzdA=", false, {}, false, false},
        {"v=spf1 -all", false, {}, false, false},
    };
    for (const auto& r : rows) {
        auto k = parse_key_record(r.in);
        EXPECT_EQ(k.has_value(), r.ok) << r.in;
        if (!k || !r.ok) continue;
        EXPECT_EQ(k->type, r.type) << r.in;
        EXPECT_EQ(k->strict, r.strict) << r.in;
        EXPECT_EQ(k->public_key.empty(), r.revoked) << r.in;
    }
    EXPECT_FALSE(load_public_key(*parse_key_record("v=DKIM1; p=")));
    EXPECT_FALSE(load_public_key(*parse_key_record("v=DKIM1; p=dGVzdA==")));
    EXPECT_FALSE(load_public_key(*parse_key_record("v=DKIM1; k=ed25519; p=dGVzdA==")));
}

// RFC 6376 3.4.3 / 3.4.5: simple body canonicalization.
TEST(dkim_canon_simple, body_table) {
    struct row {
        std::string in, out;
    };
    const row rows[] = {
        {"", "\r\n"}, // empty body: one CRLF
        {"\r\n\r\n", "\r\n"},
        {"a\r\n", "a\r\n"},
        {"a", "a\r\n"},
        {" C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n"}, // RFC 6376 3.4.5 example
        {"a\r\n \r\n", "a\r\n \r\n"}, // a WSP-only line is not empty for simple
    };
    for (const auto& r : rows) {
        EXPECT_EQ(simple_body(r.in), r.out) << r.in;
        body_canonicalizer c(canon::simple);
        std::string streamed;
        auto sink = [&](std::string_view s) { streamed.append(s); };
        for (char ch : r.in) c.update(std::string_view(&ch, 1), sink);
        c.finish(sink);
        EXPECT_EQ(streamed, r.out) << r.in;
    }
}

// l= in the hasher: only `limit` canonical octets go into the digest; the length counts all.
TEST(dkim_body_hash, limit) {
    body_hasher limited(canon::relaxed, 4);
    limited.update("abc\r\ndef\r\n");
    const auto a = limited.finish();
    EXPECT_EQ(limited.canonical_length(), 10u);
    body_hasher other(canon::relaxed, 4); // same first 4 canonical octets "abc\r"
    other.update("abc\r\nxyz\r\n");
    EXPECT_EQ(a, other.finish());
    EXPECT_NE(a, body_hash("abc\r\n"));
    body_hasher zero(canon::simple, 0);
    zero.update("anything");
    body_hasher empty_input(canon::relaxed);
    EXPECT_EQ(zero.finish(), empty_input.finish());
}
