// IMAP session, mailbox family: CREATE/DELETE/RENAME/SUBSCRIBE, LIST and LSUB, LIST-EXTENDED
// (RFC 5258) with SPECIAL-USE (RFC 6154), LIST-STATUS (RFC 5819), STATUS, names that would
// leave the Maildir.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

session logged_in(fixture& f) {
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    return s;
}

TEST(ImapSessionMailboxes, ListShowsSpecialUseAndChildren) {
    fixture f;
    auto s = logged_in(f);
    auto r = say(s, "l LIST \"\" *\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n")) << r.output;
    EXPECT_TRUE(r.output.starts_with("* LIST (\\HasNoChildren) \".\" INBOX\r\n")) << r.output;
    r = say(s, "c CREATE Work.Projects\r\n");
    EXPECT_TRUE(has(r.output, "c OK")) << r.output;
    r = say(s, "l2 LIST \"\" %\r\n");
    // Work exists only as a level of hierarchy: RFC 3501 6.3.8 lists it as \Noselect.
    EXPECT_TRUE(has(r.output, "* LIST (\\Noselect \\HasChildren) \".\" Work\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "Work.Projects")) << "'%' stops at the delimiter";
    r = say(s, "l3 LIST \"\" *\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren) \".\" Work.Projects\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "\" Work\r\n")) << "'*' lists real mailboxes only: " << r.output;
    r = say(s, "l4 LIST \"\" \"\"\r\n");
    EXPECT_EQ(r.output, "* LIST (\\Noselect) \".\" \"\"\r\nl4 OK LIST completed\r\n");
}

// Issue 15 item 2: "[" is an ATOM-CHAR (RFC 3501 9), so these name the mailbox "a[b".
TEST(ImapSessionMailboxes, OpenBracketInAnAtomMailboxName) {
    for (bool bytewise : {false, true}) {
        fixture f;
        auto s = logged_in(f);
        auto talk = [&](const std::string& in) {
            return bytewise ? say_bytewise(s, in) : say(s, in).output;
        };
        auto out = talk("s SELECT a[b\r\n");
        EXPECT_TRUE(has(out, "s NO ")) << out;
        out = talk("c CREATE a[b\r\n");
        EXPECT_TRUE(has(out, "c OK")) << out;
        out = talk("l LIST \"\" a[b\r\n");
        EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren) \".\" a[b\r\n")) << out;
        EXPECT_TRUE(has(out, "l OK")) << out;
        out = talk("t SELECT a[b\r\n");
        EXPECT_TRUE(has(out, "t OK [READ-WRITE]")) << out;
    }
}

TEST(ImapSessionMailboxes, CreateRenameDeleteSubscribe) {
    fixture f;
    auto s = logged_in(f);
    auto r = say(s, "a CREATE Lists\r\nb CREATE Lists\r\n");
    EXPECT_TRUE(has(r.output, "a OK")) << r.output;
    EXPECT_TRUE(has(r.output, "b NO [ALREADYEXISTS]")) << r.output;
    r = say(s, "c SUBSCRIBE Lists\r\nd RENAME Lists Groups\r\n");
    EXPECT_TRUE(has(r.output, "d OK")) << r.output;
    r = say(s, "e LSUB \"\" G*\r\n");
    EXPECT_TRUE(has(r.output, "* LSUB () \".\" Groups\r\n"))
        << "subscription follows RENAME: " << r.output;
    r = say(s, "f DELETE Groups\r\ng DELETE INBOX\r\nh SUBSCRIBE Nope\r\n");
    EXPECT_TRUE(has(r.output, "f OK")) << r.output;
    EXPECT_TRUE(has(r.output, "g NO")) << r.output;
    EXPECT_TRUE(has(r.output, "h NO [NONEXISTENT]")) << r.output;
    for (const char* bad : {"../x", "a/b", ".hidden", "x..y", "tail."}) {
        r = say(s, std::string("i CREATE \"") + bad + "\"\r\n");
        if (std::string(bad) == "tail.") continue; // RFC 3501 6.3.3: trailing delimiter dropped
        EXPECT_TRUE(has(r.output, "i NO")) << bad << ": " << r.output;
    }
    r = say(s, "j SELECT ../x\r\n");
    EXPECT_TRUE(has(r.output, "j NO")) << r.output;
    EXPECT_FALSE(fs::exists(f.root / "x")) << "nothing created outside the Maildir";
}

std::uint64_t uidvalidity_in(const std::string& out) {
    auto p = out.find("[UIDVALIDITY ");
    return p == std::string::npos ? 0 : std::stoull(out.substr(p + 13));
}

// Issue 15 item 10: RFC 3501 2.3.1.1 / RFC 9051 2.3.1.1: a mailbox deleted and created again
// gets a strictly greater UIDVALIDITY, also within the same second (the old clock-based
// value repeated). Three rounds take milliseconds: at least two fall in one second. Also
// across a restart (a new session and store: the counter is on disk).
TEST(ImapSessionMailboxes, UidvalidityGrowsAfterDeleteAndCreate) {
    fixture f;
    std::uint64_t last = 0;
    for (int round = 0; round < 3; ++round) {
        auto s = logged_in(f);
        auto r = say(s, "c CREATE Again\r\ne EXAMINE Again\r\n");
        ASSERT_TRUE(has(r.output, "e OK")) << r.output;
        std::uint64_t v = uidvalidity_in(r.output);
        EXPECT_GT(v, last) << "round " << round << ": " << r.output;
        last = v;
        r = say(s, "s STATUS Again (UIDVALIDITY)\r\nu UNSELECT\r\nd DELETE Again\r\n");
        EXPECT_TRUE(has(r.output, "* STATUS Again (UIDVALIDITY " + std::to_string(v) + ")"))
            << r.output;
        EXPECT_TRUE(has(r.output, "d OK")) << r.output;
    }
    std::ifstream in(f.root / "demo" / "splitmail-uidvalidity");
    std::uint64_t stored = 0;
    in >> stored;
    EXPECT_GE(stored, last) << "the counter is on disk";
}

// Issue 15 item 9: subscriptions outlive their mailboxes (RFC 3501 6.3.6: the server MUST NOT
// unsubscribe a name because its mailbox is gone); LSUB with '%' lists the level above a
// subscription as \Noselect, also when that level exists but is not subscribed (RFC 3501
// 6.3.9); LIST (SUBSCRIBED RECURSIVEMATCH) lists a parent with CHILDINFO when a subscribed
// descendant is not listed itself (RFC 5258 3.5, 5 example 9).
TEST(ImapSessionMailboxes, SubscriptionsOutliveMailboxes) {
    for (bool bytewise : {false, true}) {
        fixture f;
        auto s = logged_in(f);
        auto talk = [&](const std::string& in) {
            return bytewise ? say_bytewise(s, in) : say(s, in).output;
        };
        talk("1 CREATE t.test\r\n2 CREATE t.test2\r\n3 CREATE t.test2.test\r\n"
             "4 CREATE t.test3.test3\r\n5 CREATE t.gone\r\n6 CREATE t.test8.test8\r\n"
             "7 CREATE t.test8.test9\r\n");
        auto out = talk("a SUBSCRIBE t.test\r\nb SUBSCRIBE t.test2.test\r\n"
                        "c SUBSCRIBE t.test3.test3\r\nd SUBSCRIBE t.gone\r\n"
                        "e SUBSCRIBE t.test8.test8\r\nf SUBSCRIBE t.test8.test9\r\n"
                        "g DELETE t.gone\r\n");
        ASSERT_TRUE(has(out, "g OK")) << out;
        out = talk("h LSUB \"\" t.*\r\n");
        EXPECT_TRUE(has(out, "* LSUB (\\Noselect) \".\" t.gone\r\n")) << out;
        out = talk("i LIST (SUBSCRIBED) \"\" t.*\r\n");
        EXPECT_TRUE(
            has(out, "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \".\" t.gone\r\n"))
            << out;
        EXPECT_FALSE(has(out, "\" t.test2\r\n")) << out;
        out = talk("j LIST \"\" t.*\r\n");
        EXPECT_FALSE(has(out, "t.gone")) << "plain LIST lists mailboxes: " << out;
        out = talk("k LSUB \"\" t.%\r\n");
        EXPECT_TRUE(has(out, "* LSUB () \".\" t.test\r\n")) << out;
        EXPECT_TRUE(has(out, "* LSUB (\\Noselect) \".\" t.test2\r\n")) << out;
        EXPECT_TRUE(has(out, "* LSUB (\\Noselect) \".\" t.test3\r\n")) << out;
        EXPECT_TRUE(has(out, "* LSUB (\\Noselect) \".\" t.gone\r\n")) << out;
        EXPECT_FALSE(has(out, "t.test2.test")) << out;
        out = talk("l LSUB \"\" *test\r\n");
        EXPECT_TRUE(has(out, "* LSUB () \".\" t.test\r\n")) << out;
        EXPECT_TRUE(has(out, "* LSUB () \".\" t.test2.test\r\n")) << out;
        EXPECT_FALSE(has(out, "\" t.test2\r\n")) << "'*' lists no levels: " << out;
        // RECURSIVEMATCH (the imaptest listext cases).
        out = talk("m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t.test2% RETURN (CHILDREN)\r\n");
        EXPECT_TRUE(has(out, "* LIST (\\HasChildren) \".\" t.test2 (\"CHILDINFO\" "
                             "(\"SUBSCRIBED\"))\r\n"))
            << out;
        EXPECT_FALSE(has(out, "t.test2.test")) << out;
        out = talk("n LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *test8\r\n");
        EXPECT_TRUE(has(out, "* LIST (\\NonExistent \\HasChildren) \".\" t.test8 (\"CHILDINFO\" "
                             "(\"SUBSCRIBED\"))\r\n"))
            << "t.test8.test9 is subscribed and not listed: " << out;
        EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Subscribed) \".\" t.test8.test8\r\n"))
            << out;
        out = talk("o LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *test3\r\n");
        EXPECT_FALSE(has(out, "\" t.test3 (")) << "its subscribed child is listed: " << out;
        EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Subscribed) \".\" t.test3.test3\r\n"))
            << out;
        out = talk("p LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (t.test2 t.test2.test)\r\n");
        EXPECT_FALSE(has(out, "CHILDINFO")) << out;
        EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Subscribed) \".\" t.test2.test\r\n"))
            << out;
        // Created again: the old subscription applies to it.
        out = talk("q CREATE t.gone\r\nr LIST (SUBSCRIBED) \"\" t.gone\r\n");
        EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Subscribed) \".\" t.gone\r\n")) << out;
        out = talk("s UNSUBSCRIBE t.gone\r\nt DELETE t.gone\r\nu LSUB \"\" t.gone\r\n");
        EXPECT_FALSE(has(out, "* LSUB")) << out;
    }
}

TEST(ImapSessionMailboxes, ListExtendedSelectionAndReturnOptions) {
    fixture f;
    auto s = logged_in(f);
    say(s, "a CREATE Lists.ietf\r\nb CREATE Lists.other\r\nc SUBSCRIBE Lists.ietf\r\n");
    // Subscribed to a mailbox that does not exist (deleted by another client, or a
    // subscriptions file from elsewhere): \NonExistent (RFC 5258 3.4).
    say(s, "g SUBSCRIBE INBOX\r\n");
    std::ofstream(f.root / "demo" / "subscriptions", std::ios::app) << "Gone\n";
    auto r = say(s, "h LIST (SUBSCRIBED) \"\" *\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" Lists.ietf\r\n"))
        << r.output;
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "Lists.other")) << r.output;
    r = say(s, "h2 LIST (SUBSCRIBED) \"\" Gone\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \".\" Gone\r\n"))
        << r.output;
    // RECURSIVEMATCH: a parent whose child is subscribed, with CHILDINFO (RFC 5258 3.5).
    r = say(s, "i LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\NonExistent \\HasChildren) \".\" Lists "
                              "(\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"))
        << r.output;
    r = say(s, "j LIST (RECURSIVEMATCH) \"\" %\r\n");
    EXPECT_TRUE(has(r.output, "j BAD")) << "RECURSIVEMATCH alone is an error: " << r.output;
    // Return options without selection options: every mailbox, with the asked-for data.
    r = say(s, "k LIST \"\" (INBOX Sent Lists.*) RETURN (SUBSCRIBED CHILDREN)\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX\r\n"));
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren \\Subscribed) \".\" Sent\r\n"))
        << "special-use folders are subscribed on first login: " << r.output;
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren) \".\" Lists.other\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "Trash")) << "only the given patterns: " << r.output;
    EXPECT_FALSE(has(r.output, "\\Sent")) << "no special-use unless asked for: " << r.output;
    // SPECIAL-USE selection option (RFC 6154 5.1).
    r = say(s, "l LIST (SPECIAL-USE) \"\" *\r\n");
    for (const char* b : {"Sent", "Drafts", "Trash", "Junk", "Archive"})
        EXPECT_TRUE(has(r.output, std::string("\" ") + b + "\r\n")) << b << ": " << r.output;
    EXPECT_FALSE(has(r.output, "INBOX")) << r.output;
    EXPECT_FALSE(has(r.output, "Lists")) << r.output;
    r = say(s, "m LIST (FOO) \"\" *\r\nn LIST \"\" * RETURN (BAR)\r\n");
    EXPECT_TRUE(has(r.output, "m BAD")) << r.output;
    EXPECT_TRUE(has(r.output, "n BAD")) << r.output;
}

TEST(ImapSessionMailboxes, ListStatusAndStatusItems) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    std::ofstream(f.root / "demo" / "cur" / "1700000001.M1P1Q2.host:2,ST", std::ios::binary)
        << msg1;
    auto s = logged_in(f);
    auto r =
        say(s, "a LIST \"\" (INBOX Drafts) RETURN (STATUS (MESSAGES UNSEEN DELETED SIZE))\r\n");
    auto size = std::to_string(2 * msg1.size());
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren) \".\" INBOX\r\n* STATUS INBOX (MESSAGES 2 "
                              "UNSEEN 1 DELETED 1 SIZE " +
                                  size + ")\r\n"))
        << r.output;
    EXPECT_TRUE(has(r.output, "* STATUS Drafts (MESSAGES 0 UNSEEN 0 DELETED 0 SIZE 0)\r\n"))
        << r.output;
    r = say(s, "b LIST \"\" * RETURN (STATUS (MESSAGES BOGUS))\r\n");
    EXPECT_EQ(r.output, "b BAD Unknown STATUS item BOGUS\r\n") << "BAD before any LIST line";
    r = say(s, "c STATUS INBOX (APPENDLIMIT UIDNEXT RECENT)\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS INBOX (APPENDLIMIT " +
                                  std::to_string(codec_limits{}.max_append_literal) +
                                  " UIDNEXT 3 RECENT 1)\r\n"))
        << r.output;
    r = say(s, "d STATUS INBOX (MESSAGES NOPE)\r\ne STATUS Nope (MESSAGES)\r\n");
    EXPECT_TRUE(has(r.output, "d BAD")) << r.output;
    EXPECT_TRUE(has(r.output, "e NO [NONEXISTENT]")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
