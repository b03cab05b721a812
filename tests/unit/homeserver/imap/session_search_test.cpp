// IMAP session, search family: SEARCH and UID SEARCH keys, ESEARCH (RFC 4731) result options,
// SEARCHRES (RFC 5182) "$", and ESEARCH as the SEARCH answer after ENABLE IMAP4rev2.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

// Five messages, UIDs 1..5; 2 and 4 are \Flagged, 5 has subject "other".
void five(fixture& f) {
    for (int i = 1; i <= 5; ++i) {
        std::string subject = i == 5 ? "other" : "hello";
        std::string m = "From: A <a@x.test>\r\nSubject: " + subject + "\r\n\r\nbody " +
                        std::to_string(i) + "\r\n";
        std::string name = "17000000" + std::to_string(10 + i) + ".M1P1Q" + std::to_string(i) +
                           ".host" + (i % 2 == 0 ? ":2,F" : "");
        f.deliver(name, m);
    }
}

TEST(ImapSessionSearch, KeysAndUidSearch) {
    fixture f;
    five(f);
    auto s = f.selected();
    auto r = say(s, "a SEARCH FLAGGED\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 2 4\r\na OK")) << r.output;
    r = say(s, "b SEARCH NOT SUBJECT hello\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 5\r\n")) << r.output;
    r = say(s, "c UID SEARCH OR FLAGGED UID 5\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 2 4 5\r\n")) << r.output;
    r = say(s, "d SEARCH CHARSET UTF-8 BODY \"body 3\"\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 3\r\n")) << r.output;
    r = say(s, "e SEARCH CHARSET KOI8-R ALL\r\nf SEARCH BOGUS\r\ng SEARCH (FLAGGED\r\n");
    EXPECT_TRUE(has(r.output, "e NO [BADCHARSET")) << r.output;
    EXPECT_TRUE(has(r.output, "f BAD")) << r.output;
    EXPECT_TRUE(has(r.output, "g BAD")) << r.output;
    r = say(s, "h SEARCH 2:4 UNFLAGGED\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 3\r\n")) << r.output;
}

TEST(ImapSessionSearch, EsearchReturnOptions) {
    fixture f;
    five(f);
    auto s = f.selected();
    auto r = say(s, "a SEARCH RETURN (MIN MAX COUNT) SUBJECT hello\r\n");
    EXPECT_EQ(r.output, "* ESEARCH (TAG \"a\") MIN 1 MAX 4 COUNT 4\r\na OK SEARCH completed\r\n");
    r = say(s, "b UID SEARCH RETURN () FLAGGED\r\n");
    EXPECT_TRUE(has(r.output, "* ESEARCH (TAG \"b\") UID ALL 2,4\r\n")) << r.output;
    r = say(s, "c SEARCH RETURN (ALL COUNT) 1:3\r\n");
    EXPECT_TRUE(has(r.output, "* ESEARCH (TAG \"c\") ALL 1:3 COUNT 3\r\n")) << r.output;
    r = say(s, "d SEARCH RETURN (MIN MAX ALL COUNT) DELETED\r\n");
    EXPECT_TRUE(has(r.output, "* ESEARCH (TAG \"d\") COUNT 0\r\n"))
        << "MIN/MAX/ALL left out when nothing matched: " << r.output;
    r = say(s, "e SEARCH RETURN (MIN BOGUS) ALL\r\nf SEARCH RETURN MIN ALL\r\n");
    EXPECT_TRUE(has(r.output, "e BAD")) << r.output;
    EXPECT_TRUE(has(r.output, "f BAD")) << r.output;
    r = say(s, "g SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT other\r\n");
    EXPECT_TRUE(has(r.output, "* ESEARCH (TAG \"g\") COUNT 1\r\n")) << r.output;
}

TEST(ImapSessionSearch, SaveResultUsedAsDollar) {
    fixture f;
    five(f);
    auto s = f.selected();
    auto r = say(s, "a SEARCH RETURN (SAVE) FLAGGED\r\n");
    EXPECT_EQ(r.output, "a OK SEARCH completed\r\n") << "SAVE alone: no ESEARCH (RFC 5182 2.1)";
    r = say(s, "b FETCH $ (UID)\r\n");
    EXPECT_TRUE(has(r.output, "* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\n")) << r.output;
    r = say(s, "c SEARCH SUBJECT other\r\nd UID SEARCH $\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 2 4\r\nd OK")) << "a plain SEARCH keeps $: " << r.output;
    r = say(s, "e SEARCH RETURN (SAVE MIN MAX COUNT) ALL\r\n");
    EXPECT_TRUE(has(r.output, "* ESEARCH (TAG \"e\") MIN 1 MAX 5 COUNT 5\r\n")) << r.output;
    r = say(s, "f UID SEARCH $\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 1 5\r\n"))
        << "with MIN/MAX only those are saved: " << r.output;
}

TEST(ImapSessionSearch, Rev2AnswersWithEsearch) {
    fixture f;
    five(f);
    auto s = f.selected(true);
    auto r = say(s, "a SEARCH FLAGGED\r\n");
    EXPECT_EQ(r.output, "* ESEARCH (TAG \"a\") ALL 2,4\r\na OK SEARCH completed\r\n");
    r = say(s, "b UID SEARCH DELETED\r\n");
    EXPECT_EQ(r.output, "* ESEARCH (TAG \"b\") UID\r\nb OK UID SEARCH completed\r\n");
}

// Issue 15 item 7 (RFC 5322 3.2.2): comments and white space inside an address are CFWS, not
// part of it: ENVELOPE and SEARCH FROM see user-from@domain.org.
TEST(ImapSessionSearch, CommentsInsideAddresses) {
    const std::string m = "From: <user-from (comment)@ (comment) domain.org>\r\n"
                          "To: Some One <one (x) @example.org>\r\nSubject: s\r\n\r\nbody\r\n";
    fixture f;
    f.deliver("1700000001.M1P1Q1.host", m);
    f.deliver("1700000002.M1P1Q2.host", msg1);
    auto s = f.selected();
    auto r = say(s, "a FETCH 1 (ENVELOPE)\r\n");
    EXPECT_EQ(r.output, "* 1 FETCH (ENVELOPE (NIL \"s\" ((NIL NIL \"user-from\" \"domain.org\")) "
                        "((NIL NIL \"user-from\" \"domain.org\")) "
                        "((NIL NIL \"user-from\" \"domain.org\")) "
                        "((\"Some One\" NIL \"one\" \"example.org\")) NIL NIL NIL NIL))\r\n"
                        "a OK FETCH completed\r\n");
    r = say(s, "b SEARCH FROM user-from@domain.org\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nb OK SEARCH completed\r\n");
    r = say(s, "c SEARCH TO \"Some One <one@example.org>\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nc OK SEARCH completed\r\n");
    r = say(s, "d SEARCH FROM comment\r\n"); // the field as written still matches
    EXPECT_EQ(r.output, "* SEARCH 1\r\nd OK SEARCH completed\r\n");
    r = say(s, "e SEARCH FROM a@x.test\r\n");
    EXPECT_EQ(r.output, "* SEARCH 2\r\ne OK SEARCH completed\r\n");
}

// Issue 15 item 8 (RFC 3501 6.4.4): SEARCH HEADER matches any field of that name.
TEST(ImapSessionSearch, HeaderMatchesAnyFieldOfThatName) {
    fixture f;
    f.deliver("1700000001.M1P1Q1.host",
              "X-Extra: first\r\nSubject: s\r\nX-EXTRA: another\r\n folded\r\n\r\nbody\r\n");
    f.deliver("1700000002.M1P1Q2.host", msg1);
    auto s = f.selected();
    auto r = say(s, "a SEARCH HEADER X-EXTRA \"another\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\na OK SEARCH completed\r\n");
    r = say(s, "b SEARCH HEADER x-extra \"another folded\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nb OK SEARCH completed\r\n");
    r = say(s, "c SEARCH HEADER X-Extra \"\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nc OK SEARCH completed\r\n");
    r = say(s, "d SEARCH HEADER X-Extra \"nowhere\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH\r\nd OK SEARCH completed\r\n");
}

// Issue 15 item 14 (RFC 2047, RFC 9051 6.4.4): SUBJECT/FROM/TO/CC/BCC/HEADER compare the
// decoded text, case-insensitively also beyond ASCII.
TEST(ImapSessionSearch, HeaderKeysDecodeEncodedWords) {
    fixture f;
    f.deliver("1700000001.M1P1Q1.host",
              "From: =?iso-8859-1?q?Hans_M=FCller?= <hm@x.test>\r\n"
              "Subject: =?utf-8?B?R3LDvMOfZQ==?= =?utf-8?q?_aus_K=C3=B6ln?=\r\n"
              "X-Note: =?UTF-8?Q?=C3=9Cbung?=\r\n\r\nbody\r\n");
    f.deliver("1700000002.M1P1Q2.host",
              "From: Plain <p@x.test>\r\nSubject: =?utf-8?\r\n\r\nbody\r\n");
    auto s = f.selected();
    auto r = say(s, "a UID SEARCH CHARSET UTF-8 OR HEADER SUBJECT {7+}\r\nMüller HEADER FROM "
                    "{7+}\r\nMüller\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\na OK UID SEARCH completed\r\n");
    r = say(s, "b SEARCH CHARSET UTF-8 FROM {7+}\r\nMÜLLER\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nb OK SEARCH completed\r\n");
    r = say(s, "c SEARCH CHARSET UTF-8 SUBJECT {17+}\r\nGRÜSSE AUS KÖLN\r\n");
    EXPECT_EQ(r.output, "* SEARCH\r\nc OK SEARCH completed\r\n")
        << "ß has no one-to-one upper case";
    r = say(s, "d SEARCH CHARSET UTF-8 SUBJECT {17+}\r\nGRÜßE AUS KÖLN\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nd OK SEARCH completed\r\n");
    r = say(s, "e SEARCH CHARSET UTF-8 HEADER X-Note {6+}\r\nübung\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\ne OK SEARCH completed\r\n");
    // mutt: a quoted string holding UTF-8, no CHARSET.
    r = say(s, "f UID SEARCH HEADER \"From\" \"Müller\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 1\r\nf OK UID SEARCH completed\r\n");
    // The raw encoded text is no longer what is compared; a malformed word stays as written.
    r = say(s, "g SEARCH SUBJECT \"=?utf-8?\"\r\n");
    EXPECT_EQ(r.output, "* SEARCH 2\r\ng OK SEARCH completed\r\n");
}

} // namespace
} // namespace splitmail::home::imap
