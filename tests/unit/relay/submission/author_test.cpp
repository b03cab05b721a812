// From:/Sender: of a submitted message against the user's addresses (issue 11 item 4):
// RFC 5322 address lists in all their forms, display names that look like addresses
// (plain, quoted, RFC 2047 encoded), duplicate fields.
#include <gtest/gtest.h>

#include "submission/author.hpp"

using namespace splitmail::relay;

namespace {

const std::vector<std::string> bob = {"bob@example.test", "info@example.test"};

author_verdict check(const std::string& header) {
    return check_authors(header + "\r\n\r\nbody with From: alice@example.test\r\n", bob,
                         "bob@example.test");
}

std::vector<std::string> addrs(std::string_view v) {
    auto l = parse_address_list(v);
    return l ? l->addresses : std::vector<std::string>{"<unparsed>"};
}

} // namespace

TEST(author, address_list_forms) {
    using v = std::vector<std::string>;
    EXPECT_EQ(addrs(" bob@example.test"), v{"bob@example.test"});
    EXPECT_EQ(addrs(" Bob <Bob@Example.TEST>"), v{"bob@example.test"});
    EXPECT_EQ(addrs(" \"Bob, Q.\" <bob@example.test>, alice@x.test"),
              (v{"bob@example.test", "alice@x.test"}));
    EXPECT_EQ(addrs(" bob@example.test (Bob (the (nested)) one)"), v{"bob@example.test"});
    EXPECT_EQ(addrs(" John Q. Public <jqp@example.test>"), v{"jqp@example.test"}); // obs-phrase
    EXPECT_EQ(addrs(" <@relay.test,@other.test:bob@example.test>"), v{"bob@example.test"});
    EXPECT_EQ(addrs(" team: a@x.test, b@y.test;, c@z.test"),
              (v{"a@x.test", "b@y.test", "c@z.test"}));
    EXPECT_EQ(addrs(" undisclosed:;"), v{});
    EXPECT_EQ(addrs(" \"quoted local\"@example.test"), v{"quoted local@example.test"});
    EXPECT_EQ(addrs(" bob . smith @ example . test"), v{"bob.smith@example.test"}); // obs CFWS
    EXPECT_EQ(addrs(" Bob\r\n <bob@example.test>\r\n"), v{"bob@example.test"});     // folded
    EXPECT_EQ(addrs(" bob@[192.0.2.1]"), v{"bob@[192.0.2.1]"});
    EXPECT_EQ(addrs(" ,,bob@example.test,,"), v{"bob@example.test"}); // obs-addr-list
    for (const char* bad : {" <bob@example.test", " \"open", " (open", " a@b.test c@d.test", " <>",
                            " bob", " @example.test", " a@", " x <a@b.test> y", " g: a@b.test",
                            " <a@b.test>>", " a\\b@c.test"})
        EXPECT_FALSE(parse_address_list(bad).has_value()) << bad;
}

TEST(author, encoded_words_and_lookalikes) {
    EXPECT_EQ(decode_encoded_words("=?utf-8?q?alice=40example=2Etest?="), "alice@example.test");
    EXPECT_EQ(decode_encoded_words("=?UTF-8?B?YWxpY2VAZXhhbXBsZS50ZXN0?="), "alice@example.test");
    // RFC 2047 6.2: whitespace between adjacent encoded-words goes.
    EXPECT_EQ(decode_encoded_words("=?utf-8?q?alice?= \t=?utf-8?q?=40example.test?="),
              "alice@example.test");
    EXPECT_EQ(decode_encoded_words("a =?utf-8?q?b?= c"), "a b c");
    EXPECT_EQ(decode_encoded_words("=?x?z?bad?= =?utf-8?q"), "=?x?z?bad?= =?utf-8?q");
    // A charset nobody knows still shows its octets (a reader may be shown them); a known
    // one is converted, so an address spelt in UTF-16 is seen as one.
    EXPECT_EQ(decode_encoded_words("=?x-unknown?q?alice=40example.test?="), "alice@example.test");
    EXPECT_EQ(
        decode_encoded_words("=?utf-16be?b?AGEAbABpAGMAZQBAAGUAeABhAG0AcABsAGUALgB0AGUAcwB0?="),
        "alice@example.test");
    EXPECT_EQ(decode_encoded_words("=?iso-8859-1?q?M=FCller?="), "M\xC3\xBCller");
    using v = std::vector<std::string>;
    EXPECT_EQ(addresses_in_text("Alice@Example.test"), v{"alice@example.test"});
    EXPECT_EQ(addresses_in_text("mail alice @ example.test. now"), v{"alice@example.test"});
    EXPECT_EQ(addresses_in_text("alice\xEF\xBC\xA0"
                                "example.test"),
              v{"alice@example.test"});
    EXPECT_EQ(addresses_in_text("Bob @ home"), v{});
    EXPECT_EQ(addresses_in_text("@@@ a@ @b.test"), v{});
}

TEST(author, own_addresses_and_aliases_pass) {
    for (const char* h : {"From: bob@example.test", "From: Bob <BOB@example.TEST>",
                          "From: \"Bob\" <bob@example.test>, info@example.test",
                          "From: \"bob@example.test\" <bob@example.test>",
                          "From: =?utf-8?q?Bob_=C3=BC?= <bob@example.test>",
                          "From: Info <info@example.test>\r\nSender: bob@example.test",
                          "Subject: x\r\nfrom :bob@example.test"}) {
        auto r = check(h);
        EXPECT_EQ(r.st, author_verdict::status::ok) << h << " -> " << r.text;
    }
    EXPECT_EQ(check("Subject: no author").st, author_verdict::status::missing_from);
    EXPECT_EQ(check_authors("", bob, "bob").st, author_verdict::status::missing_from);
}

TEST(author, forgeries_are_refused_naming_the_address) {
    struct row {
        const char* header;
        const char* names; // in the reply text
    };
    for (const row& r : std::initializer_list<row>{
             {"From: alice@example.test", "address alice@example.test not owned by user bob"},
             {"From: Alice <alice@example.test>", "alice@example.test"},
             {"From: bob@example.test, alice@example.test", "alice@example.test"},
             {"From: team: bob@example.test, alice@example.test;", "alice@example.test"},
             {"From: <@x.test:alice@example.test>", "alice@example.test"},
             {"From: \"alice@example.test\" <bob@example.test>",
              "display name or comment shows address alice@example.test"},
             {"From: alice@example.test <bob@example.test>", "cannot parse"},
             {"From: =?utf-8?q?alice=40example.test?= <bob@example.test>", "alice@example.test"},
             {"From: =?utf-8?B?YWxpY2VAZXhhbXBsZS50ZXN0?= <bob@example.test>",
              "alice@example.test"},
             {"From: bob@example.test (alice@example.test)", "alice@example.test"},
             {"From: =?utf-16be?b?AGEAbABpAGMAZQBAAGUAeABhAG0AcABsAGUALgB0AGUAcwB0?= "
              "<bob@example.test>",
              "alice@example.test"},
             {"From: =?x-unknown?q?alice=40example.test?= <bob@example.test>",
              "alice@example.test"},
             {"From: bob@example.test\r\nFrom: alice@example.test", "more than one From:"},
             {"From: bob@example.test\r\nFROM: bob@example.test", "more than one From:"},
             {"From: bob@example.test\r\nSender: alice@example.test", "Sender: address alice"},
             {"From: bob@example.test\r\nSender: a@b.test\r\nSender: bob@example.test",
              "more than one Sender:"},
             {"From: Bob\r\n <alice@example.test>", "alice@example.test"},
             {"From: \"al\\ice\"@example.test", "alice@example.test"},
             {"From: undisclosed:;", "names no address"},
             {"From: ", "names no address"},
             {"From: bob@example.test <", "cannot parse"},
             {"Sender: alice@example.test", "alice@example.test"}, // checked without From: too
         }) {
        auto v = check(r.header);
        EXPECT_EQ(v.st, author_verdict::status::refused) << r.header;
        EXPECT_NE(v.text.find(r.names), std::string::npos) << r.header << " -> " << v.text;
    }
    // Only the header block counts.
    EXPECT_EQ(check("From: bob@example.test").st, author_verdict::status::ok);
    // Bounded reply text, no control characters from the message.
    auto v = check("From: " + std::string(5000, 'a') + "\x01@example.test");
    ASSERT_EQ(v.st, author_verdict::status::refused);
    EXPECT_LT(v.text.size(), 400u);
    auto big = check("From: " + std::string(20000, ' ') + "bob@example.test");
    EXPECT_EQ(big.st, author_verdict::status::refused);
}
