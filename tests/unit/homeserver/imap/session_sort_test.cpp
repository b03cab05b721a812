// IMAP session, SORT family (issue 15 item 13): SORT and UID SORT by every RFC 5256 criterion
// and RFC 5957 DISPLAYFROM, REVERSE, ties in mailbox order, search keys after the charset,
// ESORT (RFC 5267) with MIN/MAX in the sorted order, errors, and the folder's header cache
// (a header is read once, then shared by every session).
#include "imap/header_cache.hpp"
#include "session_fixture.hpp"

#include <algorithm>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>

namespace splitmail::home::imap {
namespace {
using namespace testing;

struct sort_fixture : fixture {
    sort_fixture() {
        // seq: Date, Subject, From, To, Cc, body, INTERNALDATE (file mtime)
        add("1", "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nSubject: Re: apple\r\n"
                 "From: Aaron Zed <zed@x.test>\r\nTo: b@x.test\r\nCc: Carl <c@x.test>\r\n",
            "one\r\n", "2024-05-01");
        add("2", "Date: 1 Jan 2023 09:00:00 -0500\r\nSubject: [list] Banana\r\n"
                 "From: alice@x.test\r\nTo: Zoe <a@y.test>\r\n",
            "two two two\r\n", "2024-04-01");
        add("3", "Subject: =?utf-8?q?cherry?=\r\nFrom: Bob <bob@x.test>\r\n",
            std::string(300, 'x') + "\r\n", "2020-01-01");
        add("4", "Date: Tue, 3 Jan 2023 08:00:00 GMT\r\nSubject: Fwd: apple (fwd)\r\n"
                 "From: carol@x.test\r\nCc: a@x.test\r\n",
            std::string(900, 'y') + "\r\n", "2024-06-01");
        add("5", "Date: 2 Jan 2023 10:00:00 +0000\r\nSubject: apple\r\n", "5\r\n", "2024-04-01");
    }
    void add(const std::string& n, const std::string& header, const std::string& body,
             const std::string& day) {
        std::string name = "170000000" + n + ".M1P1Q" + n + ".host";
        deliver(name, header + "\r\n" + body);
        std::tm tm{};
        ::strptime(day.c_str(), "%Y-%m-%d", &tm);
        struct timespec ts[2] = {{::timegm(&tm), 0}, {::timegm(&tm), 0}};
        ::utimensat(AT_FDCWD, (root / "demo" / "new" / name).c_str(), ts, 0);
    }
};

std::string sort_line(session& s, const std::string& cmd) {
    auto out = say(s, "x " + cmd + "\r\n").output;
    auto p = out.find("* SORT");
    if (p == std::string::npos) return out;
    return out.substr(p, out.find("\r\n", p) - p);
}

TEST(ImapSessionSort, EveryCriterionReverseAndTies) {
    sort_fixture f;
    auto s = f.selected();
    EXPECT_EQ(sort_line(s, "SORT (SUBJECT) UTF-8 ALL"), "* SORT 1 4 5 2 3")
        << "base subjects APPLE x3 (ties in mailbox order), BANANA, CHERRY";
    EXPECT_EQ(sort_line(s, "SORT (REVERSE SUBJECT) UTF-8 ALL"), "* SORT 3 2 1 4 5")
        << "REVERSE does not reverse the tie order";
    EXPECT_EQ(sort_line(s, "SORT (DATE) UTF-8 ALL"), "* SORT 3 2 1 5 4")
        << "no Date: INTERNALDATE (2020); -0500 is 14:00 UTC";
    EXPECT_EQ(sort_line(s, "SORT (ARRIVAL) US-ASCII ALL"), "* SORT 3 2 5 1 4");
    EXPECT_EQ(sort_line(s, "SORT (FROM) UTF-8 ALL"), "* SORT 5 2 3 4 1") << "addr-mailbox";
    EXPECT_EQ(sort_line(s, "SORT (DISPLAYFROM) UTF-8 ALL"), "* SORT 5 1 2 3 4")
        << "display name, else the address (RFC 5957)";
    EXPECT_EQ(sort_line(s, "SORT (TO) UTF-8 ALL"), "* SORT 3 4 5 2 1");
    EXPECT_EQ(sort_line(s, "SORT (DISPLAYTO) UTF-8 ALL"), "* SORT 3 4 5 1 2");
    EXPECT_EQ(sort_line(s, "SORT (CC) UTF-8 ALL"), "* SORT 2 3 5 4 1");
    EXPECT_EQ(sort_line(s, "SORT (SIZE) UTF-8 ALL"), "* SORT 5 2 1 3 4")
        << "RFC822.SIZE: message 1 has the longest header of the three small ones";
    EXPECT_EQ(sort_line(s, "SORT (SUBJECT REVERSE DATE) UTF-8 ALL"), "* SORT 4 1 5 2 3");
    EXPECT_EQ(sort_line(s, "SORT (SUBJECT) UTF-8 NOT 1"), "* SORT 4 5 2 3");
    EXPECT_EQ(sort_line(s, "SORT (SUBJECT) UTF-8 FROM bob"), "* SORT 3");
    EXPECT_EQ(sort_line(s, "SORT (SUBJECT) UTF-8 FROM nobody"), "* SORT");
    say(s, "e EXPUNGE\r\n"); // nothing deleted: UIDs equal sequence numbers
    EXPECT_EQ(sort_line(s, "UID SORT (SUBJECT) UTF-8 2:5"), "* SORT 4 5 2 3");
}

TEST(ImapSessionSort, EsortAndErrors) {
    sort_fixture f;
    auto s = f.selected();
    auto out = say(s, "e SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL\r\n").output;
    EXPECT_EQ(out, "* ESEARCH (TAG \"e\") MIN 1 MAX 3 ALL 1,4:5,2:3 COUNT 5\r\n"
                   "e OK SORT completed\r\n");
    out = say(s, "f UID SORT RETURN (COUNT) (DATE) US-ASCII ALL\r\n").output;
    EXPECT_EQ(out, "* ESEARCH (TAG \"f\") UID COUNT 5\r\nf OK UID SORT completed\r\n");
    out = say(s, "g SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL\r\n").output;
    EXPECT_EQ(out, "* ESEARCH (TAG \"g\") ALL 4,1:2,5,3\r\ng OK SORT completed\r\n")
        << "RETURN () is ALL; 2 and 5 arrived together: mailbox order";
    out = say(s, "h SORT RETURN (MIN) (SUBJECT) UTF-8 FROM nobody\r\n").output;
    EXPECT_EQ(out, "* ESEARCH (TAG \"h\")\r\nh OK SORT completed\r\n");
    out = say(s, "i SORT RETURN (SAVE) (SIZE) UTF-8 1:2\r\nj SEARCH $\r\n").output;
    EXPECT_TRUE(has(out, "* SEARCH 1 2\r\nj OK")) << out;
    for (const char* bad : {"SORT (BOGUS) UTF-8 ALL", "SORT (REVERSE) UTF-8 ALL",
                            "SORT SUBJECT UTF-8 ALL", "SORT (SUBJECT) UTF-8",
                            "SORT (REVERSE REVERSE DATE) UTF-8 ALL",
                            "SORT RETURN (PARTIAL 1:5) (DATE) UTF-8 ALL",
                            "SORT (SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT "
                            "SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT SUBJECT "
                            "SUBJECT) UTF-8 ALL"}) {
        out = say(s, std::string("k ") + bad + "\r\n").output;
        EXPECT_TRUE(out.starts_with("k BAD")) << bad << ": " << out;
    }
    out = say(s, "l SORT (SUBJECT) KOI8-R ALL\r\n").output;
    EXPECT_TRUE(out.starts_with("l NO [BADCHARSET")) << out;
    auto n = f.make();
    say(n, "a LOGIN demo@example.test secret\r\n");
    out = say(n, "m SORT (SUBJECT) UTF-8 ALL\r\n").output;
    EXPECT_TRUE(out.starts_with("m BAD")) << "needs a selected mailbox: " << out;
}

// Issue 15 item 13 (cost): each header is read once per process; a second SORT, in any
// session and by any criterion, reads no file.
TEST(ImapSessionSort, HeadersReadOnceAndShared) {
    sort_fixture f;
    auto s = f.selected();
    mailbox_store st(f.root / "demo", "host");
    auto box = st.open("INBOX");
    ASSERT_TRUE(box);
    auto& cache = (*box)->headers();
    EXPECT_EQ(sort_line(s, "SORT (ARRIVAL) UTF-8 ALL"), "* SORT 3 2 5 1 4");
    EXPECT_EQ(cache.reads(), 0u) << "ARRIVAL needs no header";
    sort_line(s, "SORT (SUBJECT) UTF-8 ALL");
    EXPECT_EQ(cache.reads(), 5u);
    auto t = f.selected();
    EXPECT_EQ(sort_line(t, "SORT (DATE) UTF-8 ALL"), "* SORT 3 2 1 5 4");
    sort_line(s, "SORT (REVERSE FROM) UTF-8 ALL");
    EXPECT_EQ(cache.reads(), 5u) << "served from the cache";
    f.deliver("1700000009.M1P1Q9.host", "Subject: aardvark\r\n\r\nx\r\n");
    say(t, "n NOOP\r\n");
    EXPECT_EQ(sort_line(t, "SORT (SUBJECT) UTF-8 ALL"), "* SORT 6 1 4 5 2 3");
    EXPECT_EQ(cache.reads(), 6u) << "only the new message is read";
}

TEST(ImapSessionSort, Capabilities) {
    fixture f;
    auto s = f.make();
    auto out = say(s, "c CAPABILITY\r\n").output;
    EXPECT_TRUE(has(out, " SORT SORT=DISPLAY ESORT ")) << out;
}

} // namespace
} // namespace splitmail::home::imap
