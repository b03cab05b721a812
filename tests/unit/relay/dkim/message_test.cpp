// Header section handling: split, fields, the h= choice (oversigned From, duplicates, List-*),
// and the bottom-up selection of RFC 6376 5.4.2.
#include "dkim/message.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay::dkim;

namespace {
std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ":") + x;
    return s;
}
} // namespace

TEST(dkim_message, split_message_forms) {
    auto m = split_message("A: 1\r\nB: 2\r\n\r\nbody\r\n");
    EXPECT_EQ(m.header, "A: 1\r\nB: 2\r\n");
    EXPECT_EQ(m.body, "body\r\n");
    m = split_message("A: 1\r\n\r\n");
    EXPECT_EQ(m.header, "A: 1\r\n");
    EXPECT_EQ(m.body, "");
    m = split_message("A: 1\r\n"); // no empty line: all header
    EXPECT_EQ(m.header, "A: 1\r\n");
    EXPECT_EQ(m.body, "");
    m = split_message("A: 1\n\nb\n"); // bare LF forms
    EXPECT_EQ(m.header, "A: 1\n");
    EXPECT_EQ(m.body, "b\n");
    m = split_message("\r\nbody");
    EXPECT_EQ(m.header, "");
    EXPECT_EQ(m.body, "body");
    m = split_message("A: 1\r\n \r\nstill header\r\n\r\nx"); // WSP line is not the empty line
    EXPECT_EQ(m.body, "x");
}

TEST(dkim_message, find_body_offset_needs_the_empty_line) {
    EXPECT_FALSE(find_body_offset("A: 1\r\n"));
    EXPECT_FALSE(find_body_offset("A: 1\r\n\r"));
    EXPECT_EQ(find_body_offset("A: 1\r\n\r\n"), 8u);
    EXPECT_EQ(find_body_offset("A: 1\r\n\r\nrest"), 8u);
}

TEST(dkim_message, parse_header_fields_and_continuations) {
    const std::string h = "From: a@b\r\nSubject: one\r\n two\r\n\tthree\r\nX-No-Colon\r\nTo :c\r\n";
    const auto f = parse_header(h);
    ASSERT_EQ(f.size(), 4u);
    EXPECT_EQ(f[0].name, "From");
    EXPECT_EQ(f[0].raw, "From: a@b\r\n");
    EXPECT_EQ(f[1].name, "Subject");
    EXPECT_EQ(f[1].raw, "Subject: one\r\n two\r\n\tthree\r\n");
    EXPECT_EQ(f[2].name, ""); // no colon: never signed
    EXPECT_EQ(f[3].name, "To");
    // A leading continuation line has no field above it: it becomes a nameless field.
    const auto g = parse_header(" orphan\r\nA: 1\r\n");
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[0].name, "");
    EXPECT_EQ(g[1].name, "A");
}

TEST(dkim_message, headers_to_sign_oversigns_from_and_follows_the_list) {
    const std::string h = "Received: x\r\nSubject: s\r\nfrom: a@b\r\nTO: c@d\r\nDate: d\r\n"
                          "Message-ID: <m>\r\nX-Mailer: y\r\nMIME-Version: 1.0\r\n"
                          "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n";
    const auto f = parse_header(h);
    auto hs = headers_to_sign(f);
    ASSERT_TRUE(hs);
    EXPECT_EQ(join(*hs), "from:from:to:subject:date:message-id:mime-version:content-type:"
                         "content-transfer-encoding");
}

TEST(dkim_message, headers_to_sign_duplicates_and_list_headers) {
    const std::string h = "From: a@b\r\nTo: 1\r\nTo: 2\r\nCc: 3\r\nReply-To: r\r\n"
                          "In-Reply-To: <i>\r\nReferences: <i>\r\nList-Id: <l>\r\n"
                          "List-Unsubscribe: <u1>\r\nlist-unsubscribe: <u2>\r\n"
                          "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nList-: odd\r\n";
    auto hs = headers_to_sign(parse_header(h));
    ASSERT_TRUE(hs);
    EXPECT_EQ(join(*hs), "from:from:to:to:cc:reply-to:in-reply-to:references:list-id:"
                         "list-unsubscribe:list-unsubscribe:list-unsubscribe-post");
    // Two From fields (not RFC 5322, but seen): both signed, plus one.
    auto two = headers_to_sign(parse_header("From: a\r\nFrom: b\r\n"));
    ASSERT_TRUE(two);
    EXPECT_EQ(join(*two), "from:from:from");
}

TEST(dkim_message, no_from_is_refused) {
    EXPECT_FALSE(headers_to_sign(parse_header("To: a\r\nSubject: s\r\n")));
    EXPECT_FALSE(headers_to_sign(parse_header("From a@b\r\n"))); // no colon: not a From field
}

TEST(dkim_message, hash_input_takes_instances_bottom_up_and_skips_missing) {
    const auto f = parse_header("To: first\r\nFrom: A <a@b>\r\nTo:  second \r\n");
    const std::vector<std::string> h = {"from", "from", "to", "to", "to", "cc"};
    const std::string sig = "DKIM-Signature: v=1; a=rsa-sha256;\r\n b=";
    EXPECT_EQ(header_hash_input(f, h, sig), "from:A <a@b>\r\n"
                                            "to:second\r\n"
                                            "to:first\r\n"
                                            "dkim-signature:v=1; a=rsa-sha256; b=");
}
