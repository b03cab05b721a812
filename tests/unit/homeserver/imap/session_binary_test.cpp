// IMAP session, BINARY (RFC 3516, RFC 9051 6.4.5): decoded parts, literal8 for NUL, BINARY.SIZE,
// partial fetches of decoded data, \Seen, UNKNOWN-CTE and non-leaf parts; the decoders behind
// them on clean and broken input; and the IMAP4rev2 SELECT responses (RFC 9051 6.3.2).
#include "session_fixture.hpp"

#include "imap/mime.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

using namespace std::string_literals;

// Part 1: quoted-printable text; 2: base64 octets 00 01 02 ff; 3: an encoding nobody knows;
// 4: message/rfc822; 5: base64 text with bare LF.
const std::string multi =
    "From: a@x.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nsoft\r\n"
    "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    "\r\nAAEC/w==\r\n"
    "--b1\r\nContent-Type: application/x-foo\r\nContent-Transfer-Encoding: x-uuencode\r\n"
    "\r\nbegin 644 x\r\n"
    "--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"
    "--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\nYQpi\r\n"
    "--b1--\r\n";

const std::string unknown_cte =
    "From: a@x.test\r\nSubject: u\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\nxxxx\r\n";

TEST(ImapSessionBinary, DecodedPartsSizesAndLiteral8) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(multi.size()), multi);
    auto s = f.selected();
    auto r = say(s, "c CAPABILITY\r\n");
    EXPECT_TRUE(has(r.output, " BINARY ")) << r.output;

    r = say(s, "d FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (BINARY[1] {10}\r\ncaf\xC3\xA9 soft BINARY.SIZE[1] 10)"))
        << r.output;
    EXPECT_TRUE(has(r.output, "d OK")) << r.output;

    // NUL in the decoded data: literal8 (RFC 3516 4.3), and the size matches it.
    r = say(s, "e FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])\r\n");
    EXPECT_TRUE(has(r.output, "BINARY.SIZE[2] 4 BINARY[2] ~{4}\r\n\x00\x01\x02\xff)"s)) << r.output;
    // A partial fetch counts decoded octets; no NUL left, so a plain literal.
    r = say(s, "f FETCH 1 (BINARY.PEEK[2]<1.2>)\r\n");
    EXPECT_TRUE(has(r.output, "(BINARY[2]<1> {2}\r\n\x01\x02)")) << r.output;
    r = say(s, "g FETCH 1 (BINARY.PEEK[2]<9.2>)\r\n");
    EXPECT_TRUE(has(r.output, "(BINARY[2]<9> {0}\r\n)")) << r.output;

    // Text parts keep their decoded line ends (RFC 3516 4.2); a part inside message/rfc822.
    r = say(s, "h FETCH 1 (BINARY.PEEK[5] BINARY.SIZE[5] BINARY.PEEK[4.1])\r\n");
    EXPECT_TRUE(has(r.output, "BINARY[5] {3}\r\na\nb BINARY.SIZE[5] 3 "
                              "BINARY[4.1] {10}\r\ninner body)"))
        << r.output;

    // BINARY[] is the message as stored; BINARY.SIZE[] its size.
    r = say(s, "i FETCH 1 (BINARY.SIZE[] BINARY.PEEK[])\r\n");
    EXPECT_TRUE(has(r.output, "BINARY.SIZE[] " + std::to_string(multi.size()) + " BINARY[] {" +
                                  std::to_string(multi.size()) + "}\r\n" + multi + ")"))
        << r.output;
    // A part that does not exist is empty, as for BODY[].
    r = say(s, "j FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])\r\n");
    EXPECT_TRUE(has(r.output, "(BINARY[9] {0}\r\n BINARY.SIZE[9] 0)")) << r.output;

    r = say(s, "k FETCH 1 (FLAGS)\r\n");
    EXPECT_FALSE(has(r.output, "\\Seen")) << "BINARY.PEEK set \\Seen: " << r.output;
    r = say(s, "l FETCH 1 (BINARY.SIZE[1])\r\n");
    EXPECT_FALSE(has(r.output, "\\Seen")) << "BINARY.SIZE set \\Seen: " << r.output;
    r = say(s, "m UID FETCH 1 (BINARY[1])\r\n");
    EXPECT_TRUE(has(r.output, "BINARY[1] {10}")) << r.output;
    EXPECT_TRUE(has(r.output, "FLAGS (\\Seen")) << "BINARY sets \\Seen: " << r.output;
}

// Issue 15 item 15 (RFC 3516 4.2): BINARY of a base64 text/plain attachment returns the
// decoded octets unchanged (bare LF and bare CR stay), and BINARY.SIZE is their count.
TEST(ImapSessionBinary, TextAttachmentOctetsUnchanged) {
    const std::string data = "line one\nline two\rthree\r\nline one\nline two\rthree\r\n"
                             "line one\nline two\rthree\r\n";
    const std::string m = "Subject: att\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                          "--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
                          "--b\r\nContent-Type: text/plain; name=a.txt\r\n"
                          "Content-Transfer-Encoding: "
                          "base64\r\n\r\nbGluZSBvbmUKbGluZSB0d28NdGhyZWUNCmxpbmUgb25lCmxpbmUgdHdvDX"
                          "Ro\r\ncmVlDQpsaW5lIG9uZQpsaW5lIHR3bw10aHJlZQ0K\r\n"
                          "--b--\r\n";
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "a UID FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (UID 1 BINARY[2] {75}\r\n" + data +
                            " BINARY.SIZE[2] 75)\r\na OK UID FETCH completed\r\n");
}

// Issue 15 item 12 (RFC 3516 4.2, RFC 9051 7.5.2): a partial BINARY answer carries its origin,
// like BODY[]<0>; literal8 when the slice holds NUL.
TEST(ImapSessionBinary, PartialCarriesOrigin) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(multi.size()), multi);
    auto s = f.selected();
    auto r = say(s, "a FETCH 1 (BINARY.PEEK[1]<0.10>)\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BINARY[1]<0> {10}\r\ncaf\xC3\xA9 soft)\r\n"
                        "a OK FETCH completed\r\n");
    r = say(s, "b FETCH 1 (BINARY.PEEK[2]<0.2>)\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BINARY[2]<0> ~{2}\r\n\x00\x01)\r\nb OK FETCH completed\r\n"s);
}

TEST(ImapSessionBinary, ErrorsUnknownEncodingAndNonLeafParts) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(multi.size()), multi);
    f.deliver("1700000001.M1P1Q2.host,S=" + std::to_string(unknown_cte.size()), unknown_cte);
    auto s = f.selected();
    auto r = say(s, "a FETCH 1 (BINARY.PEEK[3])\r\n");
    EXPECT_TRUE(has(r.output, "a NO [UNKNOWN-CTE]")) << r.output;
    EXPECT_FALSE(has(r.output, "* 1 FETCH")) << r.output;
    r = say(s, "b FETCH 1 (BINARY.SIZE[3])\r\n");
    EXPECT_TRUE(has(r.output, "b NO [UNKNOWN-CTE]")) << r.output;
    // RFC 9051 6.4.5: leaf parts only.
    r = say(s, "c FETCH 1 (BINARY.PEEK[4])\r\n");
    EXPECT_TRUE(has(r.output, "c NO ")) << r.output;
    EXPECT_FALSE(has(r.output, "* 1 FETCH")) << r.output;
    // The messages that can be answered are; the one that cannot is left out; NO at the end.
    r = say(s, "d FETCH 1:2 (BINARY[1])\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (BINARY[1] {10}")) << r.output;
    EXPECT_FALSE(has(r.output, "* 2 FETCH")) << r.output;
    EXPECT_TRUE(has(r.output, "d NO [UNKNOWN-CTE]")) << r.output;
    r = say(s, "e FETCH 2 (FLAGS)\r\n");
    EXPECT_FALSE(has(r.output, "\\Seen")) << "a failed BINARY set \\Seen: " << r.output;
    // Syntax: section-binary is part numbers only; BINARY.SIZE has no partial.
    for (const char* bad_item :
         {"BINARY[HEADER]", "BINARY[1.MIME]", "BINARY.PEEK[1.TEXT]", "BINARY.SIZE[1]<0.5>",
          "BINARY[1..2]", "BINARY[.1]", "BINARY[0]", "BINARY[1]<5>"}) {
        r = say(s, "f FETCH 1 (" + std::string(bad_item) + ")\r\n");
        EXPECT_TRUE(has(r.output, "f BAD")) << bad_item << ": " << r.output;
    }
}

TEST(ImapSessionBinary, AppendLiteral8AndFetchItBack) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(msg1.size()), msg1);
    auto s = f.selected();
    std::string m = "Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\0b\r\n"s;
    auto r = say(s, "a APPEND INBOX ~{" + std::to_string(m.size()) + "+}\r\n" + m + "\r\n");
    EXPECT_TRUE(has(r.output, "a OK [APPENDUID")) << r.output;
    r = say(s, "b NOOP\r\nc FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
    EXPECT_TRUE(has(r.output, "BINARY[1] ~{5}\r\na\0b\r\n BINARY.SIZE[1] 5)"s)) << r.output;
}

TEST(ImapMimeDecode, Base64CleanAndBroken) {
    EXPECT_EQ(mime::decode_base64("QUJD"), "ABC");
    EXPECT_EQ(mime::decode_base64("QU\r\nJD\r\n"), "ABC");
    EXPECT_EQ(mime::decode_base64("QUJDRA=="), "ABCD");
    EXPECT_EQ(mime::decode_base64("AAEC/w=="), "\x00\x01\x02\xff"s);
    // garbage outside the alphabet is skipped (RFC 2045 6.8)
    EXPECT_EQ(mime::decode_base64("Q!U J\x00"
                                  "D*"s),
              "ABC");
    // missing padding: whole octets of the last group
    EXPECT_EQ(mime::decode_base64("QUJDRA"), "ABCD");
    EXPECT_EQ(mime::decode_base64("QUJDREU"), "ABCDE");
    // one lone character holds no octet
    EXPECT_EQ(mime::decode_base64("QUJDR"), "ABC");
    // padding ends a group; concatenated blocks decode to their concatenation
    EXPECT_EQ(mime::decode_base64("QQ==QkM="), "ABC");
    EXPECT_EQ(mime::decode_base64("===="), "");
    EXPECT_EQ(mime::decode_base64(""), "");
}

TEST(ImapMimeDecode, QuotedPrintableCleanAndBroken) {
    EXPECT_EQ(mime::decode_quoted_printable("a=3Db"), "a=b");
    EXPECT_EQ(mime::decode_quoted_printable("a=3db"), "a=b");     // lower case hex accepted
    EXPECT_EQ(mime::decode_quoted_printable("a=\r\nb"), "ab");    // soft line break
    EXPECT_EQ(mime::decode_quoted_printable("a=\nb"), "ab");      // ... with bare LF
    EXPECT_EQ(mime::decode_quoted_printable("a= \t\r\nb"), "ab"); // blanks after the "="
    EXPECT_EQ(mime::decode_quoted_printable("a  \t\r\nb\n"), "a\r\nb\r\n"); // rule 3, CRLF
    EXPECT_EQ(mime::decode_quoted_printable("a=zz=4"), "a=zz=4");           // bad "=" kept as is
    EXPECT_EQ(mime::decode_quoted_printable("a="), "a");
    EXPECT_EQ(mime::decode_quoted_printable("=00=FF"), "\x00\xff"s);
    EXPECT_EQ(mime::decode_quoted_printable(""), "");
}

TEST(ImapMimeDecode, DecodedBodyByEncoding) {
    auto t = mime::parse(multi);
    ASSERT_EQ(t.children.size(), 5u);
    EXPECT_EQ(mime::decoded_body(multi, t.children[0]), "caf\xC3\xA9 soft");
    EXPECT_EQ(mime::decoded_body(multi, t.children[1]), "\x00\x01\x02\xff"s);
    EXPECT_EQ(mime::decoded_body(multi, t.children[2]), std::nullopt);
    EXPECT_EQ(mime::decoded_body(multi, t.children[4]), "a\nb"); // exactly (RFC 3516 4.2)
}

TEST(ImapSessionRev2, SelectSendsListAndNoRev1Responses) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(msg1.size()), msg1);
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    say(s, "b1 CREATE Work\r\nb2 CREATE Work.Projects\r\n");
    // IMAP4rev1: no LIST, RECENT and UNSEEN as before.
    auto r = say(s, "c SELECT INBOX\r\n");
    EXPECT_FALSE(has(r.output, "* LIST")) << r.output;
    EXPECT_TRUE(has(r.output, "* 1 RECENT")) << r.output;
    EXPECT_TRUE(has(r.output, "[UNSEEN 1]")) << r.output;
    r = say(s, "d UNSELECT\r\ne ENABLE IMAP4rev2\r\n");
    EXPECT_TRUE(has(r.output, "* ENABLED IMAP4rev2")) << r.output;
    // RFC 9051 6.3.2: FLAGS, EXISTS, LIST; OK PERMANENTFLAGS, UIDNEXT, UIDVALIDITY.
    r = say(s, "f SELECT inbox\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX\r\n")) << r.output;
    EXPECT_TRUE(has(r.output, "* FLAGS (")) << r.output;
    EXPECT_TRUE(has(r.output, "* 1 EXISTS\r\n")) << r.output;
    EXPECT_TRUE(has(r.output, "* OK [UIDVALIDITY ")) << r.output;
    EXPECT_TRUE(has(r.output, "* OK [UIDNEXT 2]")) << r.output;
    EXPECT_TRUE(has(r.output, "* OK [PERMANENTFLAGS ")) << r.output;
    EXPECT_FALSE(has(r.output, "RECENT")) << r.output;
    EXPECT_FALSE(has(r.output, "[UNSEEN")) << r.output;
    EXPECT_TRUE(has(r.output, "f OK [READ-WRITE]")) << r.output;
    r = say(s, "g EXAMINE Work\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasChildren) \".\" Work\r\n")) << r.output;
    EXPECT_TRUE(has(r.output, "g OK [READ-ONLY]")) << r.output;
    r = say(s, "h SUBSCRIBE Work.Projects\r\ni SELECT Work.Projects\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" Work.Projects\r\n"))
        << r.output;
    r = say(s, "j SELECT Sent\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed \\Sent) \".\" Sent\r\n"))
        << r.output;
    // A mailbox that does not exist: NO and no LIST.
    r = say(s, "k SELECT Nope\r\n");
    EXPECT_TRUE(has(r.output, "k NO [NONEXISTENT]")) << r.output;
    EXPECT_FALSE(has(r.output, "* LIST")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
