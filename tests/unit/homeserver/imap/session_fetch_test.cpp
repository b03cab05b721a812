// IMAP session, fetch family: SELECT/EXAMINE counts, FETCH items and sections, \Seen on
// BODY[] but not BODY.PEEK[], and the MIME parser behind BODYSTRUCTURE and sections.
#include "session_fixture.hpp"

#include "imap/mime.hpp"
#include "imap/structure_cache.hpp"

#include <fstream>

namespace splitmail::home::imap {
namespace {
using namespace testing;

TEST(ImapSessionFetch, SelectFetchSections) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(msg1.size()), msg1);
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT INBOX\r\n");
    EXPECT_TRUE(has(r.output, "* 1 EXISTS")) << r.output;
    EXPECT_TRUE(has(r.output, "* 1 RECENT"));
    EXPECT_TRUE(has(r.output, "[UIDNEXT 2]"));
    EXPECT_TRUE(fs::is_empty(f.root / "demo" / "new")) << "SELECT moved new/ to cur/";
    r = say(s, "c FETCH 1 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    EXPECT_TRUE(has(r.output, "UID 1 RFC822.SIZE " + std::to_string(msg1.size()))) << r.output;
    EXPECT_TRUE(has(r.output, "{18}\r\nSubject: hello\r\n\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "\\Seen")) << r.output;
    r = say(s, "d FETCH 1 (BODY[TEXT])\r\ne FETCH 1 (FLAGS)\r\n");
    EXPECT_TRUE(has(r.output, "{10}\r\nbody one\r\n")) << r.output;
    EXPECT_TRUE(has(r.output, "\\Seen")) << "BODY[] sets \\Seen: " << r.output;
    r = say(s, "g FETCH 1 (BOGUS)\r\n");
    EXPECT_TRUE(has(r.output, "g BAD")) << r.output;
    r = say(s, "h EXAMINE INBOX\r\n");
    EXPECT_TRUE(has(r.output, "h OK [READ-ONLY]")) << r.output;
}

TEST(ImapMime, MultipartBodyStructureAndSections) {
    std::string m = "Content-Type: multipart/mixed; boundary=\"b1\"\r\nSubject: s\r\n\r\n"
                    "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"
                    "--b1\r\nContent-Type: application/pdf; name=x.pdf\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b1--\r\n";
    auto t = mime::parse(m);
    ASSERT_EQ(t.children.size(), 2u);
    EXPECT_EQ(mime::body_of(m, t.children[0]), "hi");
    EXPECT_EQ(mime::body_of(m, t.children[1]), "AAAA");
    EXPECT_EQ(mime::body_structure(m, t, false),
              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 2 1)"
              "(\"APPLICATION\" \"PDF\" (\"NAME\" \"x.pdf\") NIL NIL \"BASE64\" 4) \"MIXED\")");
    auto* p2 = mime::find_part(t, {2});
    ASSERT_NE(p2, nullptr);
    EXPECT_EQ(p2->subtype, "PDF");
    EXPECT_EQ(mime::find_part(t, {3}), nullptr);
    EXPECT_EQ(mime::envelope("From: \"B, C\" <b@c.test>\r\n\r\n"),
              "(NIL NIL ((\"B, C\" NIL \"b\" \"c.test\")) ((\"B, C\" NIL \"b\" \"c.test\")) "
              "((\"B, C\" NIL \"b\" \"c.test\")) NIL NIL NIL NIL NIL)");
}

// Issue 15 item 5 (RFC 3501 6.4.5): for a message whose top-level type is message/rfc822,
// part 1 is the whole encapsulated message; 1.HEADER/1.TEXT its header and body; 1.1, 1.2 the
// parts of its multipart body, 1.1.MIME the MIME header of its first part.
TEST(ImapSessionFetch, TopLevelMessageRfc822PartNumbers) {
    const std::string inner =
        "Subject: inner\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\n";
    const std::string m = "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n" + inner;
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "c FETCH 1 (BODY.PEEK[1])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BODY[1] {" + std::to_string(inner.size()) + "}\r\n" + inner +
                            ")\r\nc OK FETCH completed\r\n");
    r = say(s, "d FETCH 1 (BODY.PEEK[1.HEADER])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BODY[1.HEADER] {63}\r\nSubject: inner\r\n"
                        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n)\r\n"
                        "d OK FETCH completed\r\n");
    r = say(s, "e FETCH 1 (BODY.PEEK[1.1] BODY.PEEK[1.2] BODY.PEEK[1.1.MIME])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BODY[1.1] {8}\r\npart one BODY[1.2] {10}\r\n<p>two</p> "
                        "BODY[1.1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n)\r\n"
                        "e OK FETCH completed\r\n");
    r = say(s, "g FETCH 1 (BODY.PEEK[1.TEXT])\r\n");
    EXPECT_TRUE(
        has(r.output, "BODY[1.TEXT] {" + std::to_string(inner.size() - 63) + "}\r\n--b\r\n"))
        << r.output;
    r = say(s, "h FETCH 1 (BODY.PEEK[1.3])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BODY[1.3] {0}\r\n)\r\nh OK FETCH completed\r\n");
}

// Issue 15 item 6 (RFC 3501 7.4.2, RFC 5322 3.4): groups end where their ';' is, an empty
// group has one end marker, a trailing comment is the personal name, a source route is the adl.
TEST(ImapSessionFetch, EnvelopeGroupsCommentNameAndRoute) {
    const std::string m = "From: user@domain.org (Real Name)\r\n"
                          "To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n"
                          "Cc: empty:;, <@route:user@domain>\r\n"
                          "Bcc: \"Q\" <@a,@b:q@c.org>, last: x@y.org\r\n"
                          "Subject: s\r\n\r\nbody\r\n";
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "c FETCH 1 (ENVELOPE)\r\n");
    const std::string from = "((\"Real Name\" NIL \"user\" \"domain.org\"))";
    EXPECT_EQ(
        r.output,
        "* 1 FETCH (ENVELOPE (NIL \"s\" " + from + " " + from + " " + from +
            " "
            "((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")"
            "(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")"
            "(NIL NIL NIL NIL)) "
            "((NIL NIL \"empty\" NIL)(NIL NIL NIL NIL)(NIL \"@route\" \"user\" \"domain\")) "
            "((\"Q\" \"@a,@b\" \"q\" \"c.org\")(NIL NIL \"last\" NIL)(NIL NIL \"x\" \"y.org\")"
            "(NIL NIL NIL NIL)) NIL NIL))\r\nc OK FETCH completed\r\n");
}

// Issue 15 item 1 (RFC 3501 9: CHAR8 excludes NUL; RFC 2045 6.8): BODY[1] of a part stored
// with Content-Transfer-Encoding: binary holding NUL was a plain literal carrying the NUL. It
// is sent base64-encoded, BODYSTRUCTURE says BASE64 with that size (so a client decoding it
// gets the stored octets), and BINARY[1] still gives the octets themselves in a literal8.
TEST(ImapSessionFetch, NulInABinaryPartIsSentAsBase64) {
    using namespace std::string_literals;
    std::string blob;
    for (int i = 0; i < 100; ++i) blob += static_cast<char>(i % 7 == 0 ? 0 : 'a' + i % 26);
    const std::string m = "Subject: nul\r\nMIME-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                          "--b\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Transfer-Encoding: binary\r\n\r\nab\0cd\r\n"s +
                          "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n"
                          "\r\n" +
                          blob +
                          "\r\n"
                          "--b\r\nContent-Type: text/plain\r\n\r\nno nul\r\n--b--\r\n";
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "c FETCH 1 (BODY.PEEK[1])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BODY[1] {8}\r\nYWIAY2Q=)\r\nc OK FETCH completed\r\n");
    r = say(s, "d FETCH 1 (BODYSTRUCTURE)\r\n");
    EXPECT_TRUE(has(r.output, "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 8 NIL"))
        << r.output;
    // 100 octets: two encoded lines (RFC 2045 6.8: at most 76 characters), 136 + 2 octets.
    const std::string text_plain = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL ";
    EXPECT_TRUE(has(r.output, text_plain + "\"BASE64\" 138 2 NIL")) << r.output;
    EXPECT_TRUE(has(r.output, text_plain + "\"7BIT\" 6 1 NIL")) << r.output;
    r = say(s, "e FETCH 1 (BODY.PEEK[2] BODY.PEEK[2]<76.6> BODY.PEEK[3])\r\n");
    std::string encoded = "BODY[2] {138}\r\n";
    auto at = r.output.find(encoded);
    ASSERT_NE(at, std::string::npos) << r.output;
    std::string b64 = r.output.substr(at + encoded.size(), 138);
    EXPECT_EQ(b64.find('\0'), std::string::npos);
    EXPECT_EQ(b64.substr(76, 2), "\r\n");
    EXPECT_EQ(mime::decode_base64(b64), blob);
    EXPECT_TRUE(has(r.output, "BODY[2]<76> {6}\r\n\r\n" + b64.substr(78, 4) + " ")) << r.output;
    EXPECT_TRUE(has(r.output, "BODY[3] {6}\r\nno nul)")) << r.output;
    r = say(s, "g FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2])\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (BINARY[1] ~{5}\r\nab\0cd BINARY.SIZE[1] 5 "
                        "BINARY[2] ~{100}\r\n"s +
                            blob + ")\r\ng OK FETCH completed\r\n");
}

// Issue 15 (mixed workload): ENVELOPE and BODYSTRUCTURE are computed once per message and
// kept with the folder; a second FETCH of them, also from another session, reads no file.
// Shown by changing the file in place (which nothing does to a Maildir message): the answers
// stay those of the first read, while BODY.PEEK[] reads the file.
TEST(ImapSessionFetch, EnvelopeAndBodystructureComeFromTheFolderCache) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(msg1.size()), msg1);
    auto s = f.selected();
    auto first = say(s, "c FETCH 1 (UID ENVELOPE BODYSTRUCTURE)\r\n").output;
    ASSERT_TRUE(has(first, "\"hello\"")) << first;
    fs::path file;
    for (auto& e : fs::directory_iterator(f.root / "demo" / "cur")) file = e.path();
    ASSERT_FALSE(file.empty());
    std::string changed = msg1;
    changed.replace(changed.find("hello"), 5, "HELLO");
    {
        std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
        out << changed; // same size, same name, same directory mtime
    }
    auto again = say(s, "c FETCH 1 (UID ENVELOPE BODYSTRUCTURE)\r\n").output;
    EXPECT_EQ(again, first) << "answered from the cache";
    auto other = f.selected();
    EXPECT_EQ(say(other, "c FETCH 1 (UID ENVELOPE BODYSTRUCTURE)\r\n").output, first)
        << "shared by the folder's sessions";
    auto body = say(s, "d FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n").output;
    EXPECT_TRUE(has(body, "Subject: HELLO")) << "sections still read the file: " << body;
}

TEST(ImapStructureCache, BoundedAndEmptiedByANewUidvalidity) {
    structure_cache c;
    using item = structure_cache::item;
    c.put(7, 1, item::envelope, "(env)");
    ASSERT_NE(c.find(7, 1, item::envelope), nullptr);
    EXPECT_EQ(*c.find(7, 1, item::envelope), "(env)");
    EXPECT_EQ(c.find(7, 1, item::bodystructure), nullptr);
    EXPECT_EQ(c.find(7, 2, item::envelope), nullptr);
    c.put(7, 1, item::envelope, "(other)");
    EXPECT_EQ(*c.find(7, 1, item::envelope), "(env)") << "a message's strings never change";
    EXPECT_EQ(c.find(8, 1, item::envelope), nullptr) << "new UIDVALIDITY: emptied";
    EXPECT_EQ(c.size(), 0u);
    c.put(8, 1, item::body, std::string(structure_cache::max_bytes / 16, 'x'));
    EXPECT_EQ(c.find(8, 1, item::body), nullptr) << "too large to keep";
    const std::string v(1000, 'y');
    for (std::uint32_t uid = 1; uid <= 10000; ++uid) c.put(8, uid, item::envelope, v);
    EXPECT_LE(c.bytes(), structure_cache::max_bytes);
    EXPECT_GT(c.bytes(), structure_cache::max_bytes - 2 * (v.size() + 64));
    EXPECT_EQ(c.find(8, 1, item::envelope), nullptr) << "the oldest went first";
    EXPECT_NE(c.find(8, 10000, item::envelope), nullptr);
}

} // namespace
} // namespace splitmail::home::imap
