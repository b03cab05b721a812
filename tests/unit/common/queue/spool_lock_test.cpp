// queue::lock_spool: one relay per spool (issue 16 bug 5).
#include "splitmail/queue/control.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
namespace q = splitmail::queue;

namespace {
fs::path fresh_dir() {
    std::string t = (fs::temp_directory_path() / "spoollockXXXXXX").string();
    EXPECT_NE(::mkdtemp(t.data()), nullptr);
    return t;
}
} // namespace

TEST(SpoolLock, SecondHolderIsRefusedWithTheFirstPid) {
    auto d = fresh_dir();
    auto first = q::lock_spool(d);
    ASSERT_TRUE(first.has_value()) << first.error();
    ASSERT_FALSE(q::write_pid_file(d));
    auto second = q::lock_spool(d);
    ASSERT_FALSE(second.has_value());
    EXPECT_NE(second.error().find("in use by another splitmail-relay"), std::string::npos)
        << second.error();
    EXPECT_NE(second.error().find("pid " + std::to_string(::getpid())), std::string::npos)
        << second.error();
    // The refused one did not touch the pid file.
    EXPECT_TRUE(fs::exists(q::pid_file(d)));
    fs::remove_all(d);
}

TEST(SpoolLock, ReleasedWithItsHolder) {
    auto d = fresh_dir();
    {
        auto first = q::lock_spool(d);
        ASSERT_TRUE(first.has_value()) << first.error();
    }
    auto again = q::lock_spool(d);
    EXPECT_TRUE(again.has_value());
    auto moved = std::move(*again);
    EXPECT_FALSE(q::lock_spool(d).has_value()); // the moved-to object still holds it
    fs::remove_all(d);
}

TEST(SpoolLock, MissingDirectoryIsAClearError) {
    auto r = q::lock_spool("/nonexistent/splitmail-spool");
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("/nonexistent/splitmail-spool/relay.lock"), std::string::npos);
}
