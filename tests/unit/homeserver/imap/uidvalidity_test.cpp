// The per-user UIDVALIDITY counter (imap/uidvalidity.hpp; issue 15 item 10, RFC 3501
// 2.3.1.1): strictly increasing within one second, durable before use, Dovecot's counter
// respected, garbage ignored, a failed write is an error and not a value.
#include "imap/uidvalidity.hpp"

#include "splitmail/durable/file.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

struct tmp_root {
    std::filesystem::path root;
    tmp_root() {
        char tmpl[] = "/tmp/imap-uidvalidity-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~tmp_root() { std::filesystem::remove_all(root); }
    std::string read(const char* name) const {
        std::ifstream in(root / name);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    void write(const char* name, const std::string& text) const {
        std::ofstream(root / name, std::ios::binary) << text;
    }
};

TEST(ImapUidvalidity, ParsesOnlyCounters) {
    EXPECT_EQ(parse_uidvalidity_counter("1700000000\n"), 1700000000u);
    EXPECT_EQ(parse_uidvalidity_counter("4294967295"), 4294967295u);
    for (std::string_view bad : {"", "\n", "0\n", "4294967296\n", "-1\n", "12 \n", "0x10\n",
                                 "1\n\n", "99999999999\n", "1a\n"})
        EXPECT_EQ(parse_uidvalidity_counter(bad), std::nullopt) << bad;
    EXPECT_EQ(parse_dovecot_uidvalidity("6570a1c0\n"), 0x6570a1c0u);
    EXPECT_EQ(parse_dovecot_uidvalidity("ffffffff"), 0xffffffffu);
    for (std::string_view bad : {"", "00000000\n", "1ffffffff\n", "xyz\n", "6570a1c0\n\n"})
        EXPECT_EQ(parse_dovecot_uidvalidity(bad), std::nullopt) << bad;
}

TEST(ImapUidvalidity, StrictlyIncreasingWithinOneSecondAndDurable) {
    tmp_root t;
    const std::time_t now = 1'800'000'000;
    auto a = next_uidvalidity(t.root, now);
    auto b = next_uidvalidity(t.root, now);
    auto c = next_uidvalidity(t.root, now - 100); // the clock went back
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(*a, now);
    EXPECT_EQ(*b, now + 1);
    EXPECT_EQ(*c, now + 2);
    EXPECT_EQ(t.read("splitmail-uidvalidity"), std::to_string(now + 2) + "\n");
    auto d = next_uidvalidity(t.root, now + 50); // the clock is ahead again
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, now + 50);
}

TEST(ImapUidvalidity, AboveDovecotsCounterAndGarbageIgnored) {
    tmp_root t;
    t.write("dovecot-uidvalidity", "7b000000\n"); // Dovecot gave out 0x7b000000 last
    auto a = next_uidvalidity(t.root, 1'800'000'000);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, 0x7b000001u);
    t.write("splitmail-uidvalidity", "not a number\n");
    auto b = next_uidvalidity(t.root, 1'800'000'000);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, 0x7b000001u) << "garbage counter ignored, Dovecot's still applies";
    t.write("splitmail-uidvalidity", "4294967295\n");
    auto c = next_uidvalidity(t.root, 1'800'000'000);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), std::errc::value_too_large);
}

TEST(ImapUidvalidity, FailedWriteGivesNoValue) {
    tmp_root t;
    ASSERT_TRUE(next_uidvalidity(t.root, 1'800'000'000));
    {
        durable::test_hooks::scoped_fsync_hook fail([](int, bool) { return EIO; });
        auto v = next_uidvalidity(t.root, 1'800'000'000);
        ASSERT_FALSE(v);
        EXPECT_EQ(v.error(), std::errc::io_error);
    }
    auto v = next_uidvalidity(t.root, 1'800'000'000);
    ASSERT_TRUE(v);
    EXPECT_GT(*v, 1'800'000'000u) << "never the value handed out before the failure";
}

} // namespace
} // namespace splitmail::home::imap
