// Scripted IMAP sessions over a temp Maildir: auth rules, mailbox commands, FETCH/STORE/SEARCH,
// and changes made by a second session reported at the allowed points only.
#include "imap/mime.hpp"
#include "imap/session.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

struct fixture {
    fs::path root;
    fixture() {
        char tmpl[] = "/tmp/imap-session-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~fixture() { fs::remove_all(root); }
    session make(bool tls = true, bool plain = false) {
        session_config cfg;
        cfg.tls_active = tls;
        cfg.starttls_offered = true;
        cfg.plaintext_auth = plain;
        session_hooks h;
        h.authenticate = [](std::string_view u, std::string_view p) -> std::optional<std::string> {
            if (u == "demo@example.test" && p == "secret") return std::string(u);
            return std::nullopt;
        };
        h.maildir_of = [this](const std::string&) { return root / "demo"; };
        return session(cfg, h);
    }
    void deliver(const std::string& name, const std::string& content) {
        fs::create_directories(root / "demo" / "new");
        std::ofstream(root / "demo" / "new" / name, std::ios::binary) << content;
    }
};

step say(session& s, const std::string& in) {
    s.feed(in);
    return s.advance();
}

const std::string msg1 = "From: A <a@x.test>\r\nTo: demo@example.test\r\nSubject: hello\r\n\r\nbody one\r\n";

TEST(ImapSessionAuth, LoginDisabledBeforeTls) {
    fixture f;
    auto s = f.make(false, false);
    EXPECT_NE(s.greeting().find("LOGINDISABLED"), std::string::npos);
    auto r = say(s, "a LOGIN demo@example.test secret\r\n");
    EXPECT_NE(r.output.find("a NO [PRIVACYREQUIRED]"), std::string::npos) << r.output;
    r = say(s, "b STARTTLS\r\nc LOGIN injected x\r\n");
    EXPECT_TRUE(r.start_tls);
    EXPECT_EQ(r.output, "b OK Begin TLS negotiation now\r\n") << "pipelined command not run";
    s.tls_started();
    r = s.advance();
    EXPECT_EQ(r.output, "") << "input buffered before TLS is dropped";
    r = say(s, "d LOGIN demo@example.test wrong\r\n");
    EXPECT_TRUE(r.delay);
    EXPECT_NE(r.output.find("d NO [AUTHENTICATIONFAILED]"), std::string::npos);
    // AUTHENTICATE PLAIN with SASL-IR: "\0demo@example.test\0secret"
    r = say(s, "e AUTHENTICATE PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n");
    EXPECT_NE(r.output.find("e OK"), std::string::npos) << r.output;
    EXPECT_EQ(s.current_state(), session::state::authenticated);
}

TEST(ImapSessionAuth, AuthenticateContinuationAndLoopbackPlaintext) {
    fixture f;
    auto s = f.make(false, true);
    EXPECT_NE(s.greeting().find("AUTH=PLAIN"), std::string::npos);
    auto r = say(s, "a AUTHENTICATE PLAIN\r\n");
    EXPECT_EQ(r.output, "+ \r\n");
    r = say(s, "*\r\n");
    EXPECT_NE(r.output.find("a BAD"), std::string::npos) << "client cancelled";
    r = say(s, "b AUTHENTICATE PLAIN\r\nAGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n");
    EXPECT_NE(r.output.find("b OK"), std::string::npos) << r.output;
}

TEST(ImapSessionMailbox, SelectFetchStoreSearch) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(msg1.size()), msg1);
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT INBOX\r\n");
    EXPECT_NE(r.output.find("* 1 EXISTS"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("* 1 RECENT"), std::string::npos);
    EXPECT_NE(r.output.find("[UIDNEXT 2]"), std::string::npos);
    EXPECT_TRUE(fs::is_empty(f.root / "demo" / "new")) << "SELECT moved new/ to cur/";
    r = say(s, "c FETCH 1 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    EXPECT_NE(r.output.find("UID 1 RFC822.SIZE " + std::to_string(msg1.size())), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("{18}\r\nSubject: hello\r\n\r\n"), std::string::npos) << r.output;
    r = say(s, "d STORE 1 +FLAGS (\\Seen \\Flagged)\r\n");
    EXPECT_NE(r.output.find("* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))"), std::string::npos)
        << r.output;
    auto files = std::vector<fs::path>(fs::directory_iterator(f.root / "demo" / "cur"), {});
    ASSERT_EQ(files.size(), 1u);
    EXPECT_TRUE(files[0].filename().string().ends_with(":2,FS")) << files[0];
    r = say(s, "e SEARCH FLAGGED SUBJECT hello\r\n");
    EXPECT_NE(r.output.find("* SEARCH 1\r\n"), std::string::npos) << r.output;
    r = say(s, "f SEARCH UNSEEN\r\n");
    EXPECT_NE(r.output.find("* SEARCH\r\n"), std::string::npos) << r.output;
    r = say(s, "g SELECT ../x\r\n");
    EXPECT_NE(r.output.find("g NO"), std::string::npos);
    r = say(s, "h CREATE a/b\r\ni CREATE .hidden\r\n");
    EXPECT_NE(r.output.find("h NO"), std::string::npos);
    EXPECT_NE(r.output.find("i NO"), std::string::npos);
}

TEST(ImapSessionMailbox, OtherSessionChangesAtAllowedPoints) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    f.deliver("1700000001.M1P1Q2.host", msg1);
    auto a = f.make(), b = f.make();
    say(a, "a LOGIN demo@example.test secret\r\na SELECT INBOX\r\n");
    say(b, "b LOGIN demo@example.test secret\r\nb SELECT INBOX\r\n");
    auto r = say(b, "b1 STORE 1 +FLAGS (\\Deleted)\r\nb2 EXPUNGE\r\n");
    EXPECT_NE(r.output.find("* 1 EXPUNGE"), std::string::npos) << r.output;
    r = say(a, "a1 FETCH 1:* (FLAGS)\r\n");
    EXPECT_EQ(r.output.find("EXPUNGE"), std::string::npos) << "no EXPUNGE during FETCH: " << r.output;
    r = say(a, "a2 NOOP\r\n");
    EXPECT_NE(r.output.find("* 1 EXPUNGE"), std::string::npos) << r.output;
    f.deliver("1700000002.M1P1Q3.host", msg1);
    r = say(a, "a3 NOOP\r\n");
    EXPECT_NE(r.output.find("* 2 EXISTS"), std::string::npos) << r.output;
    r = say(a, "a4 UID FETCH 1:* (UID)\r\n");
    EXPECT_NE(r.output.find("UID 2"), std::string::npos);
    EXPECT_NE(r.output.find("UID 3"), std::string::npos) << r.output;
}

TEST(ImapSessionMailbox, CopyMoveAppendList) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "l LIST \"\" *\r\n");
    EXPECT_NE(r.output.find("* LIST (\\HasNoChildren \\Sent) \".\" Sent"), std::string::npos)
        << r.output;
    say(s, "b SELECT INBOX\r\n");
    r = say(s, "c COPY 1 Archive\r\n");
    EXPECT_NE(r.output.find("c OK [COPYUID "), std::string::npos) << r.output;
    r = say(s, "d MOVE 1 Trash\r\n");
    EXPECT_NE(r.output.find("* OK [COPYUID"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("* 1 EXPUNGE"), std::string::npos) << r.output;
    r = say(s, "e APPEND Drafts (\\Draft) {5}\r\n");
    EXPECT_EQ(r.output, "+ Ready for literal data\r\n");
    r = say(s, "x\r\ny\r\n");
    EXPECT_NE(r.output.find("e OK [APPENDUID"), std::string::npos) << r.output;
    r = say(s, "f APPEND Nope {1+}\r\nx\r\n");
    EXPECT_NE(r.output.find("f NO [TRYCREATE]"), std::string::npos) << r.output;
    r = say(s, "g STATUS Drafts (MESSAGES UIDNEXT)\r\n");
    EXPECT_NE(r.output.find("* STATUS Drafts (MESSAGES 1 UIDNEXT 2)"), std::string::npos)
        << r.output;
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

} // namespace
} // namespace splitmail::home::imap
