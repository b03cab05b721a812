// durable/file: replace_file is all-or-nothing, a failed fsync (file or directory) is an
// error that leaves the old content, read_file caps the size, rename_noreplace never replaces.
#include "splitmail/durable/file.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace splitmail::durable;

namespace {

std::size_t entries(const fs::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

std::atomic<int> dir_fsyncs{0}, file_fsyncs{0};
int count_hook(int, bool directory) {
    ++(directory ? dir_fsyncs : file_fsyncs);
    return 0;
}
int fail_dir_fsync(int, bool directory) { return directory ? EIO : 0; }
int fail_file_fsync(int, bool directory) { return directory ? 0 : ENOSPC; }

replace_options locked() {
    replace_options o;
    o.locked = true;
    return o;
}

} // namespace

TEST(durable_file, replace_creates_with_exact_mode_and_fsyncs_file_and_directory) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "state.json";
    const ::mode_t old_umask = ::umask(077);
    dir_fsyncs = file_fsyncs = 0;
    {
        test_hooks::scoped_fsync_hook h(count_hook);
        auto r = replace_file(p, {"hello ", "world"}, [] {
            replace_options o;
            o.mode = 0640;
            return o;
        }());
        ASSERT_TRUE(r) << r.error().text();
    }
    ::umask(old_umask);
    EXPECT_EQ(file_fsyncs.load(), 1);
    EXPECT_EQ(dir_fsyncs.load(), 1);
    auto c = read_file(p);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, "hello world");
    struct ::stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(entries(t.path()), 1u); // no temporary file left
}

TEST(durable_file, replace_overwrites_and_locked_mode_clears_a_stale_temp) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "users";
    ASSERT_TRUE(replace_file(p, "one"));
    ASSERT_TRUE(replace_file(fs::path(p.string() + ".tmp"), "stale from a crash"));
    ASSERT_TRUE(replace_file(p, "two", locked()));
    EXPECT_EQ(*read_file(p), "two");
    EXPECT_EQ(entries(t.path()), 1u);
}

TEST(durable_file, failed_directory_fsync_is_an_error) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "f";
    test_hooks::scoped_fsync_hook h(fail_dir_fsync);
    auto r = replace_file(p, "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::io_error);
    EXPECT_EQ(r.error().step, "cannot fsync directory");
    EXPECT_EQ(r.error().text(), p.parent_path().string() + ": cannot fsync directory: " +
                                    std::generic_category().message(EIO));
    EXPECT_NE(r.error().text().find(t.path().string()), std::string::npos);
    auto d = fsync_dir(t.path());
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, std::errc::io_error);
}

TEST(durable_file, failed_file_fsync_keeps_old_content_and_removes_temp) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "f";
    ASSERT_TRUE(replace_file(p, "old"));
    {
        test_hooks::scoped_fsync_hook h(fail_file_fsync);
        auto r = replace_file(p, "new");
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
        EXPECT_EQ(r.error().step, "cannot fsync");
    }
    EXPECT_EQ(*read_file(p), "old");
    EXPECT_EQ(entries(t.path()), 1u);
}

TEST(durable_file, replace_does_not_follow_a_planted_temp_symlink) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "f";
    const auto victim = t.path() / "victim";
    ASSERT_TRUE(replace_file(victim, "keep"));
    fs::create_symlink(victim, fs::path(p.string() + ".tmp"));
    // locked: the stale name is unlinked (not followed) before O_EXCL creation.
    ASSERT_TRUE(replace_file(p, "data", locked()));
    EXPECT_EQ(*read_file(victim), "keep");
    EXPECT_EQ(*read_file(p), "data");
}

TEST(durable_file, missing_directory_names_the_path) {
    splitmail::test::temp_dir t("durable-file-test");
    auto r = replace_file(t.path() / "no" / "f", "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
    EXPECT_NE(r.error().text().find("no/"), std::string::npos) << r.error().text();
}

TEST(durable_file, read_file_caps_size_with_clear_error) {
    splitmail::test::temp_dir t("durable-file-test");
    const auto p = t.path() / "big";
    ASSERT_TRUE(replace_file(p, std::string(100, 'a')));
    EXPECT_TRUE(read_file(p, {100}));
    auto r = read_file(p, {99});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::file_too_large);
    EXPECT_EQ(r.error().text(), p.string() + ": larger than the limit of 99 bytes");
}

TEST(durable_file, read_file_caps_files_without_a_size) {
    // /proc files report st_size 0: the cap must hold while reading.
    auto r = read_file("/proc/self/maps", {16});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::file_too_large);
}

TEST(durable_file, read_missing_file) {
    splitmail::test::temp_dir t("durable-file-test");
    auto r = read_file(t.path() / "none");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
    auto o = read_file_if_exists(t.path() / "none");
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->has_value());
    ASSERT_TRUE(replace_file(t.path() / "some", "x"));
    auto s = read_file_if_exists(t.path() / "some");
    ASSERT_TRUE(s && s->has_value());
    EXPECT_EQ(**s, "x");
}

TEST(durable_file, read_no_follow_refuses_symlink) {
    splitmail::test::temp_dir t("durable-file-test");
    ASSERT_TRUE(replace_file(t.path() / "target", "x"));
    fs::create_symlink(t.path() / "target", t.path() / "link");
    EXPECT_TRUE(read_file(t.path() / "link"));
    auto r = read_file(t.path() / "link", {1 << 20, true});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::too_many_symbolic_link_levels);
}

TEST(durable_file, rename_noreplace_never_replaces) {
    splitmail::test::temp_dir t("durable-file-test");
    ASSERT_TRUE(replace_file(t.path() / "a", "A"));
    ASSERT_TRUE(replace_file(t.path() / "b", "B"));
    auto r = rename_noreplace(t.path() / "a", t.path() / "b");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::file_exists);
    EXPECT_EQ(*read_file(t.path() / "b"), "B");
    ASSERT_TRUE(rename_noreplace(t.path() / "a", t.path() / "c"));
    EXPECT_EQ(*read_file(t.path() / "c"), "A");
    EXPECT_FALSE(fs::exists(t.path() / "a"));
}

TEST(durable_file, unique_fd_closes_and_moves) {
    splitmail::test::temp_dir t("durable-file-test");
    int raw = ::open(t.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(raw, 0);
    {
        unique_fd a(raw);
        unique_fd b(std::move(a));
        EXPECT_FALSE(a);
        EXPECT_EQ(b.get(), raw);
    }
    EXPECT_EQ(::fcntl(raw, F_GETFD), -1); // closed
    EXPECT_EQ(errno, EBADF);
    unique_fd c(::open(t.path().c_str(), O_RDONLY | O_DIRECTORY));
    EXPECT_FALSE(c.close());
    EXPECT_FALSE(c);
}
