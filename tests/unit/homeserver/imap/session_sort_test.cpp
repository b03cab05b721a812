// IMAP session, SORT family (issue 15 item 13): SORT and UID SORT by every RFC 5256 criterion
// and RFC 5957 DISPLAYFROM, REVERSE, ties in mailbox order, search keys after the charset,
// ESORT (RFC 5267) with MIN/MAX in the sorted order, errors, and the folder's header cache
// (a header is read once, then shared by every session); THREAD=ORDEREDSUBJECT and
// THREAD=REFERENCES (RFC 5256 4): references, In-Reply-To, dummies, subject gathering, loops,
// a chain deeper than the ancestor-walk cap.
#include "imap/header_cache.hpp"
#include "session_fixture.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>

namespace splitmail::home::imap {
namespace {
using namespace testing;

struct sort_fixture : fixture {
    sort_fixture() {
        // seq: Date, Subject, From, To, Cc, body, INTERNALDATE (file mtime)
        add("1",
            "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nSubject: Re: apple\r\n"
            "From: Aaron Zed <zed@x.test>\r\nTo: b@x.test\r\nCc: Carl <c@x.test>\r\n",
            "one\r\n", "2024-05-01");
        add("2",
            "Date: 1 Jan 2023 09:00:00 -0500\r\nSubject: [list] Banana\r\n"
            "From: alice@x.test\r\nTo: Zoe <a@y.test>\r\n",
            "two two two\r\n", "2024-04-01");
        add("3", "Subject: =?utf-8?q?cherry?=\r\nFrom: Bob <bob@x.test>\r\n",
            std::string(300, 'x') + "\r\n", "2020-01-01");
        add("4",
            "Date: Tue, 3 Jan 2023 08:00:00 GMT\r\nSubject: Fwd: apple (fwd)\r\n"
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
    // With a MODSEQ key: MIN alone / MAX alone carry that message's MODSEQ (RFC 4731 3.2):
    // 3 is changed before 1, so MAX (3, CHERRY) has a lower MODSEQ than the highest match.
    say(s, "s1 STORE 3 +FLAGS.SILENT (\\Flagged)\r\ns2 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
    auto fetched = say(s, "m FETCH 1,3 (MODSEQ)\r\n").output;
    auto modseq_of = [&](const std::string& seq) {
        std::string head = "* " + seq + " FETCH (MODSEQ (";
        auto p = fetched.find(head);
        if (p == std::string::npos) return std::string("?");
        p += head.size();
        return fetched.substr(p, fetched.find(')', p) - p);
    };
    ASSERT_NE(modseq_of("1"), modseq_of("3")) << fetched;
    out = say(s, "n1 SORT RETURN (MIN) (SUBJECT) UTF-8 FLAGGED MODSEQ 1\r\n").output;
    EXPECT_TRUE(has(out, " MIN 1 MODSEQ " + modseq_of("1") + "\r\n")) << out << fetched;
    out = say(s, "n2 SORT RETURN (MAX) (SUBJECT) UTF-8 FLAGGED MODSEQ 1\r\n").output;
    EXPECT_TRUE(has(out, " MAX 3 MODSEQ " + modseq_of("3") + "\r\n")) << out << fetched;
    out = say(s, "n3 SORT RETURN (MIN MAX) (SUBJECT) UTF-8 FLAGGED MODSEQ 1\r\n").output;
    EXPECT_TRUE(has(out, " MIN 1 MAX 3 MODSEQ " + modseq_of("1") + "\r\n")) << out << fetched;
    out = say(s, "i SORT RETURN (SAVE) (SIZE) UTF-8 1:2\r\nj SEARCH $\r\n").output;
    EXPECT_TRUE(has(out, "* SEARCH 1 2\r\nj OK")) << out;
    for (const char* bad :
         {"SORT (BOGUS) UTF-8 ALL", "SORT (REVERSE) UTF-8 ALL", "SORT SUBJECT UTF-8 ALL",
          "SORT (SUBJECT) UTF-8", "SORT (REVERSE REVERSE DATE) UTF-8 ALL",
          "SORT RETURN (PARTIAL 0:5) (DATE) UTF-8 ALL",
          "SORT RETURN (PARTIAL 1:5 ALL) (DATE) UTF-8 ALL",
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

struct thread_fixture : fixture {
    int n = 0;
    void msg(const std::string& header) {
        ++n;
        char date[64];
        std::snprintf(date, sizeof date, "Date: %d Jan 2023 10:00:00 +0000\r\n", n);
        deliver("17000" + std::to_string(10000 + n) + ".M1P1Q" + std::to_string(n) + ".host",
                date + header + "\r\nbody\r\n");
    }
};

std::string thread_line(session& s, const std::string& cmd) {
    auto out = say(s, "t " + cmd + "\r\n").output;
    auto p = out.find("* THREAD");
    if (p == std::string::npos) return out;
    return out.substr(p, out.find("\r\n", p) - p);
}

TEST(ImapSessionThread, ReferencesAndOrderedSubject) {
    thread_fixture f;
    f.msg("Message-ID: <1@x>\r\nSubject: A\r\n");
    f.msg("Message-ID: <2@x>\r\nReferences: <1@x>\r\nSubject: Re: A\r\n");
    f.msg("Message-ID: <3@x>\r\nReferences: <1@x>\r\n <2@x>\r\nSubject: Re: A\r\n");
    f.msg("Message-ID: <4@x>\r\nIn-Reply-To: <1@x> (from someone)\r\nSubject: Re: A\r\n");
    f.msg("Message-ID: <5@x>\r\nSubject: B\r\n");
    f.msg("Message-ID: <6@x>\r\nReferences: <missing@x>\r\nSubject: Re: C\r\n");
    f.msg("Message-ID: <7@x>\r\nReferences: <missing@x>\r\nSubject: Re: C\r\n");
    f.msg("Message-ID: <8@x>\r\nSubject: Re: B\r\n");
    f.msg("Subject: D\r\n");
    f.msg("Message-ID: <1@x>\r\nSubject: E\r\n"); // a duplicate Message-ID: its own thread
    auto s = f.selected();
    EXPECT_EQ(thread_line(s, "THREAD REFERENCES UTF-8 ALL"),
              "* THREAD (1 (2 3)(4))(5 8)((6)(7))(9)(10)")
        << "2 and 4 reply to 1, 3 to 2; 6 and 7 share a missing parent (a dummy); 8 joins 5 "
           "by subject";
    EXPECT_EQ(thread_line(s, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
              "* THREAD (1 (2)(3)(4))(5 8)(6 7)(9)(10)");
    EXPECT_EQ(thread_line(s, "UID THREAD REFERENCES US-ASCII NOT 4"),
              "* THREAD (1 2 3)(5 8)((6)(7))(9)(10)")
        << "only matching messages; a single child continues the list";
    EXPECT_EQ(thread_line(s, "THREAD REFERENCES UTF-8 SUBJECT nothing"), "* THREAD");
    auto out = say(s, "u THREAD BOGUS UTF-8 ALL\r\nv THREAD REFERENCES KOI8-R ALL\r\n"
                      "w THREAD REFERENCES UTF-8\r\n")
                   .output;
    EXPECT_TRUE(has(out, "u BAD")) << out;
    EXPECT_TRUE(has(out, "v NO [BADCHARSET")) << out;
    EXPECT_TRUE(has(out, "w BAD")) << out;
}

TEST(ImapSessionThread, LoopsAndDeepChainsEndEachMessageOnce) {
    thread_fixture f;
    f.msg("Message-ID: <a@l>\r\nReferences: <b@l>\r\nSubject: loop\r\n");
    f.msg("Message-ID: <b@l>\r\nReferences: <a@l>\r\nSubject: loop\r\n");
    f.msg("Message-ID: <c@l>\r\nReferences: <c@l>\r\nSubject: self\r\n");
    constexpr int chain = 3000; // deeper than the ancestor walk (1024)
    for (int i = 0; i < chain; ++i)
        f.msg("Message-ID: <d" + std::to_string(i) + "@l>\r\nReferences: <d" +
              std::to_string(i - 1) + "@l>\r\nSubject: Re: deep\r\n");
    auto s = f.selected();
    auto t0 = std::chrono::steady_clock::now();
    auto line = thread_line(s, "THREAD REFERENCES UTF-8 ALL");
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_TRUE(line.starts_with("* THREAD (")) << line.substr(0, 200);
    EXPECT_TRUE(line.starts_with("* THREAD (2 1)(3)")) << line.substr(0, 200);
    // Every message exactly once, parentheses balanced.
    std::vector<int> seen(chain + 4, 0);
    int depth = 0, number = 0;
    bool in_number = false;
    for (char c : line.substr(9)) {
        if (c >= '0' && c <= '9') {
            number = number * 10 + (c - '0');
            in_number = true;
            continue;
        }
        if (in_number) ++seen[static_cast<std::size_t>(number)];
        in_number = false;
        number = 0;
        if (c == '(') ++depth;
        if (c == ')') --depth;
        ASSERT_GE(depth, 0);
    }
    EXPECT_EQ(depth, 0);
    for (int i = 1; i <= chain + 3; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], 1) << i;
    EXPECT_LT(ms, 2000) << "THREAD of a " << chain << "-deep chain";
    auto os = thread_line(s, "THREAD ORDEREDSUBJECT UTF-8 ALL");
    EXPECT_TRUE(os.starts_with("* THREAD (1 2)(3)(4 (5)(6)")) << os.substr(0, 200);
}

// Hostile References: the first half of the messages make one parent guess the second half
// as its children, which then arrive and are unlinked from it (a linear search per unlink
// would be quadratic); the answer comes quickly and names every message once.
TEST(ImapSessionThread, ManyGuessedChildrenUnlinkCheaply) {
    thread_fixture f;
    constexpr int n = 4000;
    for (int i = 0; i < n; ++i) {
        std::string refs =
            i < n / 2 ? "References: <p@l> <f" + std::to_string(n - 1 - i) + "@l>\r\n" : "";
        f.msg("Message-ID: <f" + std::to_string(i) + "@l>\r\n" + refs + "Subject: s" +
              std::to_string(i) + "\r\n");
    }
    auto s = f.selected();
    auto t0 = std::chrono::steady_clock::now();
    auto line = thread_line(s, "THREAD REFERENCES UTF-8 ALL");
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_TRUE(line.starts_with("* THREAD (")) << line.substr(0, 200);
    std::size_t numbers = 0;
    bool in_number = false;
    for (char c : line.substr(9)) {
        bool digit = c >= '0' && c <= '9';
        if (digit && !in_number) ++numbers;
        in_number = digit;
    }
    EXPECT_EQ(numbers, static_cast<std::size_t>(n));
    EXPECT_LT(ms, 3000);
    EXPECT_EQ(thread_line(s, "THREAD ORDEREDSUBJECT UTF-8 1"), "* THREAD (1)");
}

TEST(ImapSessionSort, Capabilities) {
    fixture f;
    auto s = f.make();
    auto out = say(s, "c CAPABILITY\r\n").output;
    EXPECT_TRUE(has(out, " SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT "
                         "THREAD=ORDEREDSUBJECT THREAD=REFERENCES "))
        << out;
}

} // namespace
} // namespace splitmail::home::imap
