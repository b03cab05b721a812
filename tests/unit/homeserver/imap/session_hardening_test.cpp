// IMAP session, issue 11 hardening: LIST pattern caps and costly patterns, mailbox names that
// are not canonical modified UTF-7 (RFC 3501 5.1.3) on every command taking one, NUL octets
// never sent in a plain literal (RFC 3501 9: CHAR8 excludes NUL).
#include "session_fixture.hpp"

#include <chrono>
#include <cstdlib>
#include <random>

namespace splitmail::home::imap {
namespace {
using namespace testing;
using namespace std::string_literals;

session logged_in(fixture& f, bool rev2 = false) {
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    if (rev2) say(s, "e ENABLE IMAP4rev2\r\n");
    return s;
}

double cpu_bound() { return std::getenv("ASAN_OPTIONS") ? 1.5 : 0.5; }

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

TEST(ImapSessionHardening, CostlyListPatternsAnswerAtOnce) {
    fixture f;
    auto s = logged_in(f);
    // Names the patterns almost match: long runs of the literal before the missing "zzz".
    for (int i = 0; i < 20; ++i)
        say(s, "c CREATE " + repeat("a", 100) + "." + repeat("b", 50) + std::to_string(i) + "\r\n");
    const std::string patterns[] = {
        repeat("*%", 32) + "zzz", // issue 11: minutes with the recursive matcher (40 pairs)
        repeat("*", 48) + "zzz",  // issue 11: 10.7 s
        repeat("%", 64) + "zzz",
        repeat("a*", 32) + "zzz",
    };
    for (const auto& p : patterns) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = say(s, "l LIST \"\" \"" + p + "\"\r\n");
        auto r2 = say(s, "m LSUB \"\" \"" + p + "\"\r\n");
        auto r3 = say(s, "n LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"" + p + "\" \"" + p +
                             "\") RETURN (CHILDREN STATUS (MESSAGES))\r\n");
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(r.output, "l OK LIST completed\r\n") << p;
        EXPECT_EQ(r2.output, "m OK LSUB completed\r\n") << p;
        EXPECT_EQ(r3.output, "n OK LIST completed\r\n") << p;
        EXPECT_LT(secs, cpu_bound()) << p;
    }
}

TEST(ImapSessionHardening, ListPatternCapsGiveTaggedBad) {
    fixture f;
    auto s = logged_in(f);
    auto r = say(s, "l LIST \"\" \"" + repeat("*%", 40) + "zzz\"\r\n");
    EXPECT_TRUE(r.output.starts_with("l BAD Too many wildcards in mailbox pattern (limit 64)"))
        << r.output;
    r = say(s, "l2 LIST \"" + repeat("a", 1000) + "\" \"" + repeat("b", 25) + "\"\r\n");
    EXPECT_TRUE(r.output.starts_with("l2 BAD Mailbox pattern too long (limit 1024 octets)"))
        << "reference and pattern count together: " << r.output;
    r = say(s, "l3 LSUB \"\" \"" + repeat("%", 65) + "\"\r\n");
    EXPECT_TRUE(r.output.starts_with("l3 BAD Too many wildcards")) << r.output;
    std::string many = "(";
    for (int i = 0; i < 33; ++i) many += (i ? " " : "") + std::string("p") + std::to_string(i);
    r = say(s, "l4 LIST \"\" " + many + ")\r\n");
    EXPECT_TRUE(r.output.starts_with("l4 BAD Too many mailbox patterns (limit 32)")) << r.output;
    // At the caps: accepted.
    r = say(s, "l5 LIST \"\" \"" + repeat("*", 64) + "\"\r\n");
    EXPECT_TRUE(has(r.output, "l5 OK LIST completed")) << r.output;
    EXPECT_TRUE(has(r.output, "\" INBOX\r\n")) << r.output;
}

TEST(ImapSessionHardening, StatusItemCap) {
    fixture f;
    auto s = logged_in(f);
    auto r = say(s, "a STATUS INBOX (" + repeat("UNSEEN ", 32) + "MESSAGES)\r\n");
    EXPECT_TRUE(r.output.starts_with("a BAD Too many STATUS items (limit 32)")) << r.output;
    r = say(s, "b LIST \"\" INBOX RETURN (STATUS (" + repeat("SIZE ", 33) + "))\r\n");
    EXPECT_TRUE(r.output.starts_with("b BAD Too many STATUS items (limit 32)")) << r.output;
    r = say(s, "c STATUS INBOX (" + repeat("UNSEEN ", 31) + "MESSAGES)\r\n");
    EXPECT_TRUE(has(r.output, "c OK")) << r.output;
}

TEST(ImapSessionHardening, InvalidModifiedUtf7NamesAreRefused) {
    fixture f;
    auto s = logged_in(f);
    const char* bad[] = {"&AAA-", "&Jjo-bad&",  "&",     "&ZeVnLIqe",
                         "&AGE-", "&Jjo-&Jjo-", "&2D0-", "&JjoA-"};
    for (const char* b : bad) {
        std::string q = std::string("\"") + b + "\"";
        auto r = say(s, "c CREATE " + q + "\r\n");
        EXPECT_TRUE(has(r.output, "c NO [CANNOT] Mailbox name is not valid modified UTF-7"))
            << b << ": " << r.output;
        for (const std::string& cmd :
             {"SELECT " + q, "EXAMINE " + q, "STATUS " + q + " (MESSAGES)", "SUBSCRIBE " + q,
              "RENAME Sent " + q, "APPEND " + q + " {1+}\r\nx"}) {
            r = say(s, "d " + cmd + "\r\n");
            EXPECT_TRUE(has(r.output, "d NO [CANNOT]")) << cmd << ": " << r.output;
        }
    }
    // Nothing was created on disk, not even through a path that skips the session check.
    for (const auto& e : fs::directory_iterator(f.root / "demo"))
        EXPECT_EQ(e.path().filename().string().find('&'), std::string::npos) << e.path();
    mailbox_store st(f.root / "demo", "host");
    EXPECT_EQ(st.create("&AAA-"), std::errc::invalid_argument);
    EXPECT_EQ(st.rename("Sent", "&"), std::errc::invalid_argument);
    // Valid forms still work: "&-" is "&", and encoded non-ASCII.
    auto r = say(s, "e CREATE \"Tom &- Jerry\"\r\nf CREATE Entw&APw-rfe\r\n");
    EXPECT_TRUE(has(r.output, "e OK")) << r.output;
    EXPECT_TRUE(has(r.output, "f OK")) << r.output;
    s = f.selected();
    r = say(s, "g COPY 1:* \"&AAA-\"\r\nh MOVE 1:* &\r\ni UID COPY 1:* Entw&APw-rfe\r\n");
    EXPECT_TRUE(has(r.output, "g NO [CANNOT]")) << r.output;
    EXPECT_TRUE(has(r.output, "h NO [CANNOT]")) << r.output;
    EXPECT_FALSE(has(r.output, "i NO [CANNOT]")) << r.output;
}

TEST(ImapSessionHardening, Rev2Utf8NamesStillWork) {
    fixture f;
    auto s = logged_in(f, true);
    // "Entwürfe" in UTF-8, and a UTF-8 name holding "&" (stored as "&-").
    auto r = say(s, "c CREATE \"Entw\xC3\xBCrfe\"\r\nd CREATE \"A&B\"\r\n");
    EXPECT_TRUE(has(r.output, "c OK")) << r.output;
    EXPECT_TRUE(has(r.output, "d OK")) << r.output;
    r = say(s, "l LIST \"\" *\r\n");
    EXPECT_TRUE(has(r.output, "Entw\xC3\xBCrfe\r\n")) << r.output; // a literal: 8-bit
    EXPECT_TRUE(has(r.output, "A&B")) << r.output;
    r = say(s, "e SELECT \"Entw\xC3\xBCrfe\"\r\n");
    EXPECT_TRUE(has(r.output, "e OK")) << r.output;
    EXPECT_TRUE(fs::exists(f.root / "demo" / ".Entw&APw-rfe"));
    EXPECT_TRUE(fs::exists(f.root / "demo" / ".A&-B"));
}

TEST(ImapSessionHardening, LegacyInvalidNameOnDiskCanBeDeleted) {
    fixture f;
    for (auto sub : {"cur", "new", "tmp"}) fs::create_directories(f.root / "demo" / ".&AGE-" / sub);
    auto s = logged_in(f);
    auto r = say(s, "l LIST \"\" *\r\n");
    EXPECT_TRUE(has(r.output, "&AGE-")) << r.output;
    r = say(s, "d DELETE &AGE-\r\n");
    EXPECT_TRUE(has(r.output, "d OK")) << r.output;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(ImapSessionHardening, SearchSubstringIsLinear) {
    fixture f;
    std::string big = "Subject: big\r\n\r\n";
    for (int i = 0; i < 1000; ++i) big += std::string(990, 'a') + "\r\n";
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(big.size()), big);
    auto s = f.selected();
    std::string needle = std::string(980, 'a') + "b"; // naive search: ~10^9 comparisons
    auto t0 = std::chrono::steady_clock::now();
    auto r = say(s, "s SEARCH TEXT {981+}\r\n" + needle + "\r\nt SEARCH BODY {981+}\r\n" + needle +
                        "\r\n");
    EXPECT_LT(seconds_since(t0), cpu_bound());
    EXPECT_TRUE(has(r.output, "* SEARCH\r\ns OK")) << r.output;
    EXPECT_TRUE(has(r.output, "* SEARCH\r\nt OK")) << r.output;
    r = say(s, "u SEARCH TEXT {981+}\r\n" + std::string(981, 'A') + "\r\n");
    EXPECT_TRUE(has(r.output, "* SEARCH 1\r\nu OK")) << "case-insensitive: " << r.output;
}

TEST(ImapSessionHardening, SearchSubstringAgreesWithNaiveSearch) {
    fixture f;
    std::mt19937 rng(5);
    std::vector<std::string> bodies;
    for (int i = 0; i < 40; ++i) {
        std::string b;
        for (unsigned k = 0, n = 5 + rng() % 30; k < n; ++k) b += "abAB"[rng() % 4];
        bodies.push_back(b);
        std::string m = "Subject: m\r\n\r\n" + b + "\r\n";
        f.deliver(
            "17000000" + std::to_string(10 + i) + ".M1P1Q1.host,S=" + std::to_string(m.size()), m);
    }
    auto s = f.selected();
    auto lower = [](std::string x) {
        for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return x;
    };
    for (int iter = 0; iter < 200; ++iter) {
        std::string n;
        for (unsigned k = 0, len = 1 + rng() % 7; k < len; ++k) n += "aAbB"[rng() % 4];
        auto r = say(s, "s UID SEARCH BODY " + n + "\r\n");
        // Expected: UIDs (1..40 in delivery-name order) of bodies holding n, ignoring case.
        std::vector<std::string> names;
        for (int i = 0; i < 40; ++i) names.push_back("17000000" + std::to_string(10 + i));
        std::string want = "* SEARCH";
        for (int i = 0; i < 40; ++i)
            if (lower(bodies[i]).find(lower(n)) != std::string::npos)
                want += " " + std::to_string(i + 1);
        EXPECT_TRUE(has(r.output, want + "\r\n")) << n << ": " << r.output;
    }
}

TEST(ImapSessionHardening, SearchKeyCaps) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=20", "Subject: x\r\n\r\nbody\r\n");
    auto s = f.selected();
    std::string k16, k17;
    for (int i = 0; i < 16; ++i) k16 += " OR TEXT a" + std::to_string(i);
    auto r = say(s, "a SEARCH" + k16 + " ALL" + repeat(" ALL", 16) + "\r\n");
    EXPECT_TRUE(has(r.output, "a OK")) << "16 substring keys are allowed: " << r.output;
    r = say(s, "b SEARCH" + k16 + " BODY x ALL\r\n");
    EXPECT_TRUE(r.output.starts_with("b BAD Too many substring search keys (limit 16)"))
        << r.output;
    r = say(s, "c SEARCH" + repeat(" NOT SEEN", 128) + " ALL\r\n");
    EXPECT_TRUE(r.output.starts_with("c BAD Too many search keys (limit 256)")) << r.output;
    r = say(s, "d SEARCH" + repeat(" (SEEN UNSEEN)", 86) + "\r\n");
    EXPECT_TRUE(r.output.starts_with("d BAD Too many search keys")) << "groups count: " << r.output;
}

// The merged, binary-searched form of a many-range set (codec_test times it) gives the same
// messages to FETCH, SEARCH and STORE.
TEST(ImapSessionHardening, ManyRangeSequenceSetsResolveCorrectly) {
    fixture f;
    for (int i = 0; i < 300; ++i) {
        std::string m = "Subject: " + std::to_string(i) + "\r\n\r\nx\r\n";
        f.deliver(
            "1700000" + std::to_string(100 + i) + ".M1P1Q1.host,S=" + std::to_string(m.size()), m);
    }
    auto s = f.selected();
    std::string odd;
    for (int i = 1; i < 20000; i += 2) odd += (odd.empty() ? "" : ",") + std::to_string(i);
    auto r = say(s, "a UID FETCH " + odd + " (UID)\r\nb UID SEARCH UID " + odd +
                        "\r\nc UID STORE " + odd + " +FLAGS (\\Seen)\r\nd SEARCH SEEN\r\n");
    EXPECT_TRUE(has(r.output, "* 299 FETCH (UID 299)\r\n")) << r.output.substr(0, 300);
    EXPECT_FALSE(has(r.output, "FETCH (UID 300)"));
    std::string odd_seq = "* SEARCH";
    for (int i = 1; i < 300; i += 2) odd_seq += " " + std::to_string(i);
    EXPECT_TRUE(has(r.output, odd_seq + "\r\nb OK")) << "UID SEARCH UID";
    EXPECT_TRUE(has(r.output, odd_seq + "\r\nd OK")) << "STORE hit the odd messages only";
    EXPECT_TRUE(has(r.output, "a OK")) << r.output.substr(r.output.size() - 200);
    EXPECT_TRUE(has(r.output, "b OK")) << r.output.substr(r.output.size() - 200);
    EXPECT_TRUE(has(r.output, "c OK")) << r.output.substr(r.output.size() - 200);
}

TEST(ImapSessionHardening, FetchItemAndHeaderFieldCaps) {
    fixture f;
    std::string m = "Subject: s\r\nX-b_c: 1\r\nfrom: f@example.test\r\nX-Zed: z\r\n\r\nbody\r\n";
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "a FETCH 1 (" + repeat("UID ", 64) + "FLAGS)\r\n");
    EXPECT_TRUE(r.output.starts_with("a BAD Too many fetch items (limit 64)")) << r.output;
    std::string fields;
    for (int i = 0; i < 257; ++i) fields += " X-F" + std::to_string(i);
    r = say(s, "b FETCH 1 (BODY.PEEK[HEADER.FIELDS (" + fields.substr(1) + ")])\r\n");
    EXPECT_TRUE(r.output.starts_with("b BAD Too many header fields (limit 256)")) << r.output;
    // Fields in any order and case, with '_' (sorts between upper and lower case letters).
    r = say(s, "c FETCH 1 (BODY.PEEK[HEADER.FIELDS (x-zed FROM x-B_C Nope)])\r\n");
    EXPECT_TRUE(has(r.output, "X-b_c: 1\r\nfrom: f@example.test\r\nX-Zed: z\r\n\r\n")) << r.output;
    r = say(s, "d FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (x-zed FROM x-B_C)])\r\n");
    EXPECT_TRUE(has(r.output, "{14}\r\nSubject: s\r\n\r\n")) << r.output;
}

// A message stored with a NUL octet in a binary part (LMTP/SMTP DATA or APPEND literal8).
const std::string nul_msg = "Subject: nul\r\nMIME-Version: 1.0\r\n"
                            "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                            "--b\r\nContent-Type: application/octet-stream\r\n"
                            "Content-Transfer-Encoding: binary\r\n\r\nab\0cd\r\n"
                            "--b--\r\n"s;

// Every plain literal in `out`: false when one holds NUL.
bool literals_free_of_nul(const std::string& out) {
    for (std::size_t i = 0; (i = out.find('{', i)) != std::string::npos; ++i) {
        if (i > 0 && out[i - 1] == '~') continue; // literal8 may hold NUL (RFC 3516 4.3)
        auto close = out.find("}\r\n", i);
        if (close == std::string::npos) break;
        std::size_t n = std::stoul(out.substr(i + 1, close - i - 1));
        if (out.substr(close + 3, n).find('\0') != std::string::npos) return false;
    }
    return true;
}

TEST(ImapSessionHardening, NulNeverSentInPlainLiteral) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(nul_msg.size()), nul_msg);
    auto s = f.selected();
    // The same message once more through APPEND literal8 (RFC 3516 4.4).
    auto r = say(s, "a APPEND INBOX ~{" + std::to_string(nul_msg.size()) + "+}\r\n" + nul_msg +
                        "\r\nn NOOP\r\n");
    ASSERT_TRUE(has(r.output, "a OK")) << r.output;
    std::string shown = nul_msg;
    shown[shown.find('\0')] = '\x80';
    std::string body = shown.substr(shown.find("\r\n\r\n") + 4);
    for (const char* set : {"1", "2"}) {
        std::string q = std::string("f FETCH ") + set + " (";
        r = say(s, q + "RFC822.SIZE BODY.PEEK[])\r\n");
        EXPECT_TRUE(literals_free_of_nul(r.output)) << r.output;
        // RFC822.SIZE is the stored size, and BODY[] has that many octets (0x80 for NUL).
        EXPECT_TRUE(has(r.output, "RFC822.SIZE " + std::to_string(nul_msg.size()) + " BODY[] {" +
                                      std::to_string(nul_msg.size()) + "}\r\n" + shown + ")"))
            << r.output;
        r = say(s, q + "BODY.PEEK[TEXT])\r\n");
        EXPECT_TRUE(has(r.output, "BODY[TEXT] {" + std::to_string(body.size()) + "}\r\n" + body))
            << r.output;
        // The binary part itself goes base64-encoded (issue 15 item 1: "ab\0cd").
        r = say(s, q + "BODY.PEEK[1])\r\n");
        EXPECT_TRUE(has(r.output, "BODY[1] {8}\r\nYWIAY2Q=)")) << r.output;
        r = say(s, q + "BODY.PEEK[1]<1.3> BODY.PEEK[]<0.10000>)\r\n");
        EXPECT_TRUE(has(r.output, "BODY[1]<1> {3}\r\nWIA")) << r.output;
        EXPECT_TRUE(has(r.output, "BODY[]<0> {" + std::to_string(nul_msg.size()) + "}"))
            << r.output;
        EXPECT_TRUE(literals_free_of_nul(r.output)) << r.output;
        r = say(s, q + "RFC822 RFC822.TEXT)\r\n");
        EXPECT_TRUE(literals_free_of_nul(r.output)) << r.output;
        EXPECT_TRUE(has(r.output, "RFC822 {" + std::to_string(nul_msg.size()) + "}\r\n" + shown))
            << r.output;
        // BINARY still gives the original octets, as literal8.
        r = say(s, q + "BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
        EXPECT_TRUE(has(r.output, "BINARY[1] ~{5}\r\nab\0cd BINARY.SIZE[1] 5"s)) << r.output;
    }
}

TEST(ImapSessionHardening, NulInHeaderNeverInEnvelopeLiteral) {
    fixture f;
    std::string m = "Subject: a\0b\xC3\xA9\r\nFrom: x@example.test\r\n\r\nbody\r\n"s;
    f.deliver("1700000000.M1P1Q1.host,S=" + std::to_string(m.size()), m);
    auto s = f.selected();
    auto r = say(s, "f FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    EXPECT_TRUE(literals_free_of_nul(r.output)) << r.output;
    EXPECT_EQ(r.output.find('\0'), std::string::npos) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
