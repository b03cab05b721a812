// The relay's recipient cache: verdicts, plus-addressing, catch-all, persistence, and the
// offline rule (no copy at all -> tempfail, never accept).
#include "recipients/directory.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace splitmail::relay;

namespace {
std::filesystem::path temp_dir() {
    auto d = std::filesystem::temp_directory_path() /
             ("dirtest-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

directory_snapshot sample() {
    auto s = parse_xdirectory({"version abc123", "delimiter +", "domain example.test",
                               "domain other.test", "catchall other.test", "rcpt Demo@Example.test",
                               "rcpt sales@example.test", "end"});
    EXPECT_TRUE(s) << s.error();
    return *s;
}
} // namespace

TEST(RecipientDirectory, NoCopyMeansTempfailNeverAccept) {
    recipient_directory d({"example.test"}, temp_dir() / "r.json");
    EXPECT_EQ(d.check("demo", "example.test"), rcpt_verdict::tempfail);
    EXPECT_EQ(d.check("demo", "foreign.test"), rcpt_verdict::not_local);
}

TEST(RecipientDirectory, Verdicts) {
    recipient_directory d({"example.test", "OTHER.test"}, temp_dir() / "r.json");
    ASSERT_TRUE(d.update(sample()));
    EXPECT_EQ(d.check("demo", "example.test"), rcpt_verdict::local_ok);
    EXPECT_EQ(d.check("DEMO", "EXAMPLE.TEST"), rcpt_verdict::local_ok);
    EXPECT_EQ(d.check("demo+lists", "example.test"), rcpt_verdict::local_ok);
    EXPECT_EQ(d.check("+demo", "example.test"), rcpt_verdict::unknown);
    EXPECT_EQ(d.check("nobody", "example.test"), rcpt_verdict::unknown);
    EXPECT_EQ(d.check("anyone", "other.test"), rcpt_verdict::local_ok); // catch-all
    EXPECT_EQ(d.check("demo", "foreign.test"), rcpt_verdict::not_local);
    // Classic relay tricks are just unknown local parts, never routing.
    EXPECT_EQ(d.check("demo%foreign.test", "example.test"), rcpt_verdict::unknown);
    EXPECT_EQ(d.check("foreign.test!demo", "example.test"), rcpt_verdict::unknown);
    EXPECT_EQ(d.check("demo@foreign.test", "example.test"), rcpt_verdict::unknown);
}

TEST(RecipientDirectory, SurvivesRestartThroughCacheFile) {
    auto dir = temp_dir();
    {
        recipient_directory d({"example.test"}, dir / "r.json");
        ASSERT_TRUE(d.update(sample()));
    }
    recipient_directory d2({"example.test"}, dir / "r.json");
    auto loaded = d2.load_cache();
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_TRUE(*loaded);
    EXPECT_EQ(d2.check("sales", "example.test"), rcpt_verdict::local_ok);
    EXPECT_EQ(d2.snapshot()->version, "abc123");
}

TEST(RecipientDirectory, CorruptCacheIsSetAsideNotTrusted) {
    auto dir = temp_dir();
    std::ofstream(dir / "r.json") << "{ not json";
    recipient_directory d({"example.test"}, dir / "r.json");
    auto loaded = d.load_cache();
    EXPECT_FALSE(loaded);
    EXPECT_TRUE(std::filesystem::exists(dir / "r.json.corrupt"));
    EXPECT_EQ(d.check("demo", "example.test"), rcpt_verdict::tempfail);
}

TEST(RecipientDirectory, ParseRejectsIncompleteReplies) {
    EXPECT_FALSE(parse_xdirectory({"version x", "rcpt a@b.test"}));        // no end
    EXPECT_FALSE(parse_xdirectory({"rcpt a@b.test", "end"}));              // no version
    EXPECT_FALSE(parse_xdirectory({"version x", "rcpt nodomain", "end"})); // bad address
    EXPECT_FALSE(parse_xdirectory({"version x", "end", "rcpt a@b.test"})); // after end
    EXPECT_TRUE(parse_xdirectory({"version x", "future-thing 1", "end"})); // forward compatible
    // Not UTF-8: recipients.json could not hold it (found by relay_directory_fuzz).
    EXPECT_FALSE(parse_xdirectory({"version x", "rcpt \xff@b.test", "end"}));
    EXPECT_TRUE(parse_xdirectory({"version x", "rcpt j\xc3\xbcrgen@b.test", "end"}));
}
