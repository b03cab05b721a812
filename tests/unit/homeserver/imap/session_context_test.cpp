// IMAP session, search contexts (issue 15 item 13; RFC 5267 4, CONTEXT=SEARCH and
// CONTEXT=SORT): PARTIAL windows of SEARCH and SORT, RETURN (UPDATE) kept current through
// another session's flag changes, deliveries and expunges and this session's own STORE, in the
// order the RFC asks (REMOVEFROM before EXPUNGE, ADDTO after EXISTS), sequence numbers for a
// non-UID context, CANCELUPDATE, and NOUPDATE past the cap or for "$".
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

// Five messages of different sizes (uid = seq = n, size grows with n).
struct context_fixture : fixture {
    context_fixture() {
        for (int n = 1; n <= 5; ++n) deliver(name(n), body(n));
    }
    static std::string name(int n) {
        return "170000000" + std::to_string(n) + ".M1P1Q" + std::to_string(n) + ".host";
    }
    static std::string body(int n) {
        return "Subject: m" + std::to_string(n) + "\r\n\r\n" + std::string(100 * n, 'x') + "\r\n";
    }
};

TEST(ImapSessionContext, PartialWindows) {
    context_fixture f;
    auto s = f.selected();
    auto out = say(s, "a SEARCH RETURN (PARTIAL 2:3) ALL\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"a\") PARTIAL (2:3 2:3)\r\n")) << out;
    out = say(s, "b UID SEARCH RETURN (PARTIAL -1:-2 COUNT) ALL\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"b\") UID PARTIAL (-1:-2 4:5) COUNT 5\r\n")) << out;
    out = say(s, "c SEARCH RETURN (PARTIAL 9:20) ALL\r\n").output;
    EXPECT_TRUE(has(out, "PARTIAL (9:20 NIL)")) << out;
    out = say(s, "d SORT RETURN (PARTIAL 1:2) (REVERSE SIZE) UTF-8 ALL\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"d\") PARTIAL (1:2 5,4)\r\n")) << out;
    out = say(s, "e SEARCH RETURN (PARTIAL 0:2) ALL\r\n").output;
    EXPECT_TRUE(out.starts_with("e BAD")) << out;
    out = say(s, "f CAPABILITY\r\n").output;
    EXPECT_TRUE(has(out, " CONTEXT=SEARCH CONTEXT=SORT ")) << out;
}

TEST(ImapSessionContext, SearchUpdatesFollowOtherSessions) {
    context_fixture f;
    auto a = f.selected(), b = f.selected();
    auto out = say(a, "s1 UID SEARCH RETURN (UPDATE) UNSEEN\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s1\") UID ALL 1:5\r\ns1 OK")) << out;
    out = say(a, "n0 NOOP\r\n").output;
    EXPECT_FALSE(has(out, "ESEARCH")) << "nothing changed: " << out;

    say(b, "b1 STORE 2 +FLAGS.SILENT (\\Seen)\r\n");
    out = say(a, "n1 NOOP\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s1\") UID REMOVEFROM (0 2)\r\n")) << out;

    f.deliver("1700000009.M1P1Q9.host", context_fixture::body(9));
    out = say(a, "n2 NOOP\r\n").output;
    auto exists = out.find("* 6 EXISTS"), add = out.find("* ESEARCH (TAG \"s1\") UID ADDTO (0 6)");
    ASSERT_NE(exists, std::string::npos) << out;
    ASSERT_NE(add, std::string::npos) << out;
    EXPECT_LT(exists, add) << "ADDTO only for a message the client was told of";

    say(b, "b2 STORE 3 +FLAGS.SILENT (\\Deleted)\r\nb3 EXPUNGE\r\n");
    out = say(a, "n3 NOOP\r\n").output;
    auto rm = out.find("* ESEARCH (TAG \"s1\") UID REMOVEFROM (0 3)"), ex = out.find("* 3 EXPUNGE");
    ASSERT_NE(rm, std::string::npos) << out;
    ASSERT_NE(ex, std::string::npos) << out;
    EXPECT_LT(rm, ex) << "REMOVEFROM while its number still holds";

    // This session's own STORE is reported with its answer.
    out = say(a, "s2 UID STORE 4 +FLAGS (\\Seen)\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s1\") UID REMOVEFROM (0 4)\r\ns2 OK")) << out;
    out = say(a, "s3 UID STORE 2 -FLAGS (\\Seen)\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s1\") UID ADDTO (0 2)\r\n")) << out;

    out = say(a, "c1 CANCELUPDATE \"s1\"\r\n").output;
    EXPECT_TRUE(has(out, "c1 OK")) << out;
    say(b, "b4 STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    out = say(a, "n4 NOOP\r\n").output;
    EXPECT_FALSE(has(out, "ESEARCH")) << "cancelled: " << out;
}

TEST(ImapSessionContext, SortUpdatesCarryPositions) {
    context_fixture f;
    auto a = f.selected(), b = f.selected();
    auto out =
        say(a, "t UID SORT RETURN (UPDATE PARTIAL 1:2) (REVERSE SIZE) UTF-8 UNSEEN\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"t\") UID PARTIAL (1:2 5,4)\r\n")) << out;
    // Sorted 5 4 3 2 1; 4 leaves at position 2, a bigger new message joins at position 1.
    say(b, "b1 UID STORE 4 +FLAGS.SILENT (\\Seen)\r\n");
    f.deliver("1700000009.M1P1Q9.host", context_fixture::body(9));
    out = say(a, "n NOOP\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"t\") UID REMOVEFROM (2 4) ADDTO (1 6)\r\n")) << out;
    // Sorted 6 5 3 2 1: 3 and 2 leave together at position 3.
    say(b, "b2 UID STORE 2:3 +FLAGS.SILENT (\\Seen)\r\n");
    out = say(a, "n NOOP\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"t\") UID REMOVEFROM (3 3:2)\r\n") ||
                has(out, "* ESEARCH (TAG \"t\") UID REMOVEFROM (3 3,2)\r\n"))
        << out;
}

TEST(ImapSessionContext, SequenceNumberContext) {
    context_fixture f;
    auto a = f.selected(), b = f.selected();
    auto out = say(a, "s SEARCH RETURN (UPDATE COUNT) UNSEEN\r\n").output;
    EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s\") COUNT 5\r\n")) << out;
    say(b, "b1 STORE 2 +FLAGS.SILENT (\\Deleted)\r\nb2 EXPUNGE\r\n");
    say(b, "b3 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\n");
    out = say(a, "n NOOP\r\n").output;
    // Message 2 goes before its EXPUNGE (number 2); UID 5 is number 4 once 2 is gone.
    auto first = out.find("* ESEARCH (TAG \"s\") REMOVEFROM (0 2)\r\n");
    auto ex = out.find("* 2 EXPUNGE"),
         second = out.find("* ESEARCH (TAG \"s\") REMOVEFROM (0 4)\r\n");
    ASSERT_NE(first, std::string::npos) << out;
    ASSERT_NE(ex, std::string::npos) << out;
    ASSERT_NE(second, std::string::npos) << out;
    EXPECT_LT(first, ex);
    EXPECT_LT(ex, second);
}

TEST(ImapSessionContext, RefusedContextsSayNoupdate) {
    context_fixture f;
    auto a = f.selected();
    for (int i = 0; i < 4; ++i) {
        auto out = say(a, "k" + std::to_string(i) + " SEARCH RETURN (UPDATE) ALL\r\n").output;
        EXPECT_FALSE(has(out, "NOUPDATE")) << out;
    }
    auto out = say(a, "k9 SEARCH RETURN (UPDATE) ALL\r\n").output;
    EXPECT_TRUE(has(out, "* NO [NOUPDATE \"k9\"]")) << out;
    EXPECT_TRUE(has(out, "k9 OK")) << "the search itself is answered: " << out;
    say(a, "c CANCELUPDATE \"k0\" \"k1\"\r\n");
    out = say(a, "k8 SEARCH RETURN (SAVE) 1:2\r\nk7 SEARCH RETURN (UPDATE) $\r\n").output;
    EXPECT_TRUE(has(out, "* NO [NOUPDATE \"k7\"]")) << out;
    out = say(a, "k6 SEARCH RETURN (UPDATE) ALL\r\n").output;
    EXPECT_FALSE(has(out, "NOUPDATE")) << "room again after CANCELUPDATE: " << out;
    out = say(a, "x CANCELUPDATE\r\n").output;
    EXPECT_TRUE(out.starts_with("x BAD")) << out;
    // Contexts end with the selection.
    say(a, "u UNSELECT\r\nv SELECT INBOX\r\n");
    auto b = f.selected();
    say(b, "b STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    out = say(a, "n NOOP\r\n").output;
    EXPECT_FALSE(has(out, "ESEARCH")) << out;
}

} // namespace
} // namespace splitmail::home::imap
