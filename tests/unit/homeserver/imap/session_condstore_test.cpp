// Scripted sessions: keywords (STORE, FLAGS/PERMANENTFLAGS, SEARCH KEYWORD/UNKEYWORD, APPEND)
// and CONDSTORE/QRESYNC (RFC 7162): HIGHESTMODSEQ in SELECT and STATUS, FETCH MODSEQ and
// CHANGEDSINCE, STORE UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, ENABLE QRESYNC with
// SELECT (QRESYNC ...) and VANISHED (EARLIER), VANISHED instead of EXPUNGE.
#include "imap/session.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

struct cs_fixture {
    fs::path root;
    cs_fixture() {
        char tmpl[] = "/tmp/imap-condstore-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~cs_fixture() { fs::remove_all(root); }
    session make() {
        session_config cfg;
        cfg.tls_active = true;
        session_hooks h;
        h.authenticate = [](std::string_view u, std::string_view p) -> std::optional<std::string> {
            if (u == "demo@example.test" && p == "secret") return std::string(u);
            return std::nullopt;
        };
        h.maildir_of = [this](const std::string&) { return root / "demo"; };
        return session(cfg, h);
    }
    void deliver(const std::string& name) {
        for (auto d : {"new", "cur", "tmp"}) fs::create_directories(root / "demo" / d);
        std::ofstream(root / "demo" / "new" / name, std::ios::binary)
            << "From: a@x.test\r\nSubject: s\r\n\r\nbody\r\n";
    }
};

std::string say(session& s, const std::string& in) {
    s.feed(in);
    auto st = s.advance();
    std::string out = st.output;
    while (st.more) {
        st = s.advance();
        out += st.output;
    }
    return out;
}
bool has(const std::string& out, const std::string& what) {
    return out.find(what) != std::string::npos;
}
std::uint64_t number_after(const std::string& out, const std::string& what) {
    auto p = out.find(what);
    if (p == std::string::npos) return 0;
    return std::stoull(out.substr(p + what.size()));
}

TEST(ImapSessionKeywords, StoreFlagsSearchAppend) {
    cs_fixture f;
    f.deliver("1700000000.M1P1Q1.host");
    f.deliver("1700000001.M1P1Q2.host");
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT INBOX\r\n");
    EXPECT_TRUE(has(r, "[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"))
        << r;
    r = say(s, "c STORE 1 +FLAGS ($Forwarded Project)\r\n");
    EXPECT_TRUE(has(r, "* 1 FETCH (FLAGS ($Forwarded Project \\Recent))")) << r;
    EXPECT_TRUE(has(r, "c OK")) << r;
    auto cur = std::vector<fs::path>(fs::directory_iterator(f.root / "demo" / "cur"), {});
    std::sort(cur.begin(), cur.end());
    ASSERT_EQ(cur.size(), 2u);
    EXPECT_TRUE(cur[0].filename().string().ends_with(":2,ab")) << cur[0];
    r = say(s, "d SEARCH KEYWORD project\r\ne SEARCH UNKEYWORD $Forwarded\r\n");
    EXPECT_TRUE(has(r, "* SEARCH 1\r\nd OK")) << r;
    EXPECT_TRUE(has(r, "* SEARCH 2\r\ne OK")) << r;
    r = say(s, "f STORE 1 -FLAGS (Project)\r\n");
    EXPECT_TRUE(has(r, "* 1 FETCH (FLAGS ($Forwarded \\Recent))")) << r;
    r = say(s, "g STORE 1 +FLAGS (\\Bogus)\r\n");
    EXPECT_TRUE(has(r, "g BAD")) << r;
    r = say(s, "h APPEND INBOX (\\Seen Later) {3}\r\n");
    r = say(s, "x\r\n\r\n");
    EXPECT_TRUE(has(r, "h OK [APPENDUID")) << r;
    EXPECT_TRUE(has(r, "* 3 EXISTS")) << r;
    r = say(s, "i FETCH 3 (FLAGS)\r\n");
    EXPECT_TRUE(has(r, "(\\Seen Later")) << r;
    // A second session learns the new keyword in FLAGS.
    auto t = f.make();
    say(t, "a LOGIN demo@example.test secret\r\n");
    r = say(t, "b EXAMINE INBOX\r\n");
    EXPECT_TRUE(has(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Project "
                       "Later)"))
        << r;
    EXPECT_TRUE(has(r, "[PERMANENTFLAGS ()]")) << r;
}

// Issue 15 item 11: RFC 3501 7.2.6 / 7.1: a keyword new to the mailbox is announced with
// "* FLAGS" and "* OK [PERMANENTFLAGS]" before the FETCH that carries it, in the session that
// stored it and in every other session on the mailbox (EXAMINE: FLAGS only); a keyword
// already announced is not announced again.
TEST(ImapSessionKeywords, NewKeywordAnnouncedBeforeTheFetch) {
    cs_fixture f;
    f.deliver("1700000000.M1P1Q1.host");
    f.deliver("1700000001.M1P1Q2.host");
    auto a = f.make(), b = f.make(), c = f.make();
    for (auto* s : {&a, &b, &c}) say(*s, "a LOGIN demo@example.test secret\r\n");
    say(a, "b SELECT INBOX\r\n");
    say(b, "b SELECT INBOX\r\n");
    say(c, "b EXAMINE INBOX\r\n");
    const std::string flags1 = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $new1)\r\n";
    const std::string perm1 = "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                              "\\Draft $new1 \\*)] Flags permitted\r\n";
    auto r = say(a, "s STORE 1 +FLAGS ($new1)\r\n");
    EXPECT_EQ(r, flags1 + perm1 + "* 1 FETCH (FLAGS ($new1 \\Recent))\r\ns OK STORE completed\r\n");
    r = say(b, "n NOOP\r\n");
    EXPECT_EQ(r, flags1 + perm1 + "* 1 FETCH (FLAGS ($new1))\r\nn OK NOOP completed\r\n");
    r = say(c, "n NOOP\r\n");
    EXPECT_EQ(r, flags1 + "* 1 FETCH (FLAGS ($new1))\r\nn OK NOOP completed\r\n")
        << "read-only: FLAGS without PERMANENTFLAGS";
    r = say(a, "t STORE 2 +FLAGS ($new1)\r\n");
    EXPECT_EQ(r, "* 2 FETCH (FLAGS ($new1 \\Recent))\r\nt OK STORE completed\r\n")
        << "known keyword: no second announcement";
    r = say(b, "n NOOP\r\n");
    EXPECT_EQ(r, "* 2 FETCH (FLAGS ($new1))\r\nn OK NOOP completed\r\n");
    // .SILENT still announces (the client must learn the keyword exists).
    r = say(a, "u STORE 1 +FLAGS.SILENT ($new2)\r\n");
    EXPECT_TRUE(r.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $new1 "
                              "$new2)\r\n* OK [PERMANENTFLAGS ("))
        << r;
    // A keyword arriving with APPEND in another session: FLAGS before EXISTS and FETCH.
    r = say(b, "p APPEND INBOX ($new3) {3}\r\n");
    r = say(b, "x\r\n\r\n");
    auto fl = r.find("* FLAGS (");
    auto ex = r.find("* 3 EXISTS");
    ASSERT_NE(fl, std::string::npos) << r;
    ASSERT_NE(ex, std::string::npos) << r;
    EXPECT_LT(fl, ex) << r;
    EXPECT_TRUE(has(r, "$new2 $new3)\r\n")) << r;
    r = say(a, "n NOOP\r\n");
    fl = r.find("* FLAGS (");
    ASSERT_NE(fl, std::string::npos) << r;
    EXPECT_LT(fl, r.find("EXISTS")) << r;
}

// Found by bench/imap workload (5): the other session's next command is a FETCH, not a NOOP.
// The folder is shared, so the FETCH already carries the new keyword: FLAGS and PERMANENTFLAGS
// must come before it, not just before the tagged OK (RFC 3501 7.2.6).
TEST(ImapSessionKeywords, NewKeywordAnnouncedBeforeAnotherSessionsFetch) {
    cs_fixture f;
    f.deliver("1700000000.M1P1Q1.host");
    auto a = f.make(), b = f.make();
    for (auto* s : {&a, &b}) say(*s, "a LOGIN demo@example.test secret\r\n");
    say(a, "b SELECT INBOX\r\n");
    say(b, "b SELECT INBOX\r\n");
    say(a, "s STORE 1 +FLAGS (zznew)\r\n");
    auto r = say(b, "f FETCH 1:* (UID FLAGS)\r\n");
    const auto fl = r.find("* FLAGS (");
    const auto fe = r.find("* 1 FETCH (UID 1 FLAGS (zznew");
    ASSERT_NE(fl, std::string::npos) << r;
    ASSERT_NE(fe, std::string::npos) << r;
    EXPECT_LT(fl, fe) << r;
    EXPECT_LT(r.find("* OK [PERMANENTFLAGS ("), fe) << r;
    EXPECT_EQ(r.find("* FLAGS (", fl + 1), std::string::npos) << "announced once: " << r;
}

TEST(ImapSessionCondstore, ModseqFetchStoreSearchStatus) {
    cs_fixture f;
    f.deliver("1700000000.M1P1Q1.host");
    f.deliver("1700000001.M1P1Q2.host");
    f.deliver("1700000002.M1P1Q3.host");
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT INBOX (CONDSTORE)\r\n");
    std::uint64_t hms = number_after(r, "[HIGHESTMODSEQ ");
    ASSERT_GT(hms, 0u) << r;
    r = say(s, "c FETCH 1:* (UID MODSEQ)\r\n");
    EXPECT_TRUE(has(r, "* 3 FETCH (UID 3 MODSEQ (" + std::to_string(hms) + "))")) << r;
    r = say(s, "d UID STORE 2 +FLAGS.SILENT (\\Flagged)\r\n");
    EXPECT_TRUE(has(r, "* 2 FETCH (UID 2 MODSEQ (" + std::to_string(hms + 1) + "))")) << r;
    r = say(s, "e UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + std::to_string(hms) + ")\r\n");
    EXPECT_TRUE(has(r, "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (" +
                           std::to_string(hms + 1) + "))"))
        << r;
    EXPECT_FALSE(has(r, "UID 1 ")) << "unchanged messages are left out: " << r;
    // Conditional STORE: message 2 changed after hms, message 1 did not.
    r = say(s, "f STORE 1:2 (UNCHANGEDSINCE " + std::to_string(hms) + ") +FLAGS (\\Seen)\r\n");
    EXPECT_TRUE(has(r, "f OK [MODIFIED 2]")) << r;
    EXPECT_TRUE(
        has(r, "* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (" + std::to_string(hms + 2) + "))"))
        << r;
    r = say(s, "g UID STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)\r\n");
    EXPECT_TRUE(has(r, "g OK [MODIFIED 3]")) << r;
    r = say(s, "h SEARCH MODSEQ " + std::to_string(hms + 1) + "\r\n");
    EXPECT_TRUE(has(r, "* SEARCH 1 2 (MODSEQ " + std::to_string(hms + 2) + ")")) << r;
    r = say(s, "i STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
    EXPECT_TRUE(has(r, "(HIGHESTMODSEQ " + std::to_string(hms + 2) + " MESSAGES 3)")) << r;
    // Another session's change carries MODSEQ once CONDSTORE is on.
    auto t = f.make();
    say(t, "a LOGIN demo@example.test secret\r\nb SELECT INBOX\r\n");
    say(t, "c STORE 3 +FLAGS (\\Answered)\r\n");
    r = say(s, "j NOOP\r\n");
    EXPECT_TRUE(
        has(r, "* 3 FETCH (FLAGS (\\Answered \\Recent) MODSEQ (" + std::to_string(hms + 3) + "))"))
        << r;
}

// Issue 15 item 4: RFC 4731 3.2 / RFC 7162 3.1.5: with MIN alone or MAX alone the MODSEQ is
// that message's; otherwise the highest of all matches.
TEST(ImapSessionCondstore, EsearchMinOrMaxAloneCarriesThatMessagesModseq) {
    cs_fixture f;
    f.deliver("1700000000.M1P1Q1.host");
    f.deliver("1700000001.M1P1Q2.host");
    f.deliver("1700000002.M1P1Q3.host");
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT INBOX (CONDSTORE)\r\n");
    std::uint64_t hms = number_after(r, "[HIGHESTMODSEQ ");
    ASSERT_GT(hms, 0u) << r;
    // MODSEQs: message 1 hms+1, message 3 hms+2, message 2 hms+3 (as 6/8/7 in the issue).
    say(s, "c STORE 1 +FLAGS.SILENT (\\Seen)\r\nd STORE 3 +FLAGS.SILENT (\\Seen)\r\n"
           "e STORE 2 +FLAGS.SILENT (\\Seen)\r\n");
    r = say(s, "f FETCH 1:3 (MODSEQ)\r\n");
    ASSERT_TRUE(has(r, "* 2 FETCH (MODSEQ (" + std::to_string(hms + 3) + "))")) << r;
    auto ms = [&](std::uint64_t d) { return " MODSEQ " + std::to_string(hms + d) + "\r\n"; };
    const std::string key = " 1:3 MODSEQ \"/flags/\\\\seen\" all 1\r\n";
    r = say(s, "g SEARCH RETURN (MIN)" + key);
    EXPECT_TRUE(has(r, "* ESEARCH (TAG \"g\") MIN 1" + ms(1))) << r;
    r = say(s, "h SEARCH RETURN (MAX)" + key);
    EXPECT_TRUE(has(r, "* ESEARCH (TAG \"h\") MAX 3" + ms(2))) << r;
    r = say(s, "i SEARCH RETURN (MIN MAX)" + key);
    EXPECT_TRUE(has(r, "* ESEARCH (TAG \"i\") MIN 1 MAX 3" + ms(3))) << r;
    r = say(s, "j UID SEARCH RETURN (MAX COUNT)" + key);
    EXPECT_TRUE(has(r, "* ESEARCH (TAG \"j\") UID MAX 3 COUNT 3" + ms(3))) << r;
}

TEST(ImapSessionCondstore, QresyncSelectAndVanished) {
    cs_fixture f;
    for (int i = 0; i < 5; ++i) f.deliver("170000000" + std::to_string(i) + ".M1P1Q1.host");
    std::uint64_t hms, uidvalidity;
    {
        auto s = f.make();
        say(s, "a LOGIN demo@example.test secret\r\n");
        auto r = say(s, "b SELECT INBOX\r\n");
        EXPECT_TRUE(has(r, "[HIGHESTMODSEQ ")) << "always sent: " << r;
        hms = number_after(r, "[HIGHESTMODSEQ ");
        uidvalidity = number_after(r, "[UIDVALIDITY ");
        say(s, "c STORE 2 +FLAGS (\\Deleted)\r\nd STORE 4 +FLAGS (\\Seen)\r\ne EXPUNGE\r\n");
        say(s, "f LOGOUT\r\n");
    }
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto qr = "(QRESYNC (" + std::to_string(uidvalidity) + " " + std::to_string(hms) + "))";
    auto r = say(s, "b SELECT INBOX " + qr + "\r\n");
    EXPECT_TRUE(has(r, "b BAD")) << "QRESYNC needs ENABLE first: " << r;
    r = say(s, "c ENABLE QRESYNC\r\n");
    EXPECT_TRUE(has(r, "* ENABLED QRESYNC")) << r;
    r = say(s, "d SELECT INBOX " + qr + "\r\n");
    EXPECT_TRUE(has(r, "* VANISHED (EARLIER) 2\r\n")) << r;
    EXPECT_TRUE(has(r, "FETCH (UID 4 FLAGS (\\Seen")) << r;
    EXPECT_FALSE(has(r, "FETCH (UID 1 ")) << r;
    EXPECT_TRUE(has(r, "d OK [READ-WRITE]")) << r;
    // known-uids limit what is reported.
    r = say(s, "e SELECT INBOX (QRESYNC (" + std::to_string(uidvalidity) + " " +
                   std::to_string(hms) + " 3:5))\r\n");
    EXPECT_TRUE(has(r, "* OK [CLOSED]")) << r;
    EXPECT_FALSE(has(r, "VANISHED")) << r;
    EXPECT_TRUE(has(r, "FETCH (UID 4 ")) << r;
    // A stale UIDVALIDITY gets only the plain SELECT answer.
    r = say(s, "f SELECT INBOX (QRESYNC (1 " + std::to_string(hms) + "))\r\n");
    EXPECT_FALSE(has(r, "VANISHED")) << r;
    EXPECT_FALSE(has(r, " FETCH ")) << r;
    // UID FETCH ... (CHANGEDSINCE n VANISHED) and VANISHED replacing EXPUNGE.
    r = say(s, "g UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + std::to_string(hms) + " VANISHED)\r\n");
    EXPECT_TRUE(has(r, "* VANISHED (EARLIER) 2\r\n")) << r;
    r = say(s, "h STORE 1 +FLAGS.SILENT (\\Deleted)\r\ni EXPUNGE\r\n");
    EXPECT_TRUE(has(r, "* VANISHED 1\r\n")) << r;
    EXPECT_FALSE(has(r, "EXPUNGE\r\n")) << r;
}

} // namespace
} // namespace splitmail::home::imap
