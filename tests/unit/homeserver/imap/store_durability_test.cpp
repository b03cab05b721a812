// What a folder fsyncs (issue 15: only what durability needs) and what a crash leaves: flag
// changes and expunges are written without fsync, APPEND is fsync'd (file, cur/, index) before
// its UID is returned; after a crash that lost unsynced records the index follows the files
// and MODSEQs handed out before the crash are never given out again.
#include "imap/store.hpp"

#include "splitmail/durable/file.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

struct tmp_maildir {
    fs::path root;
    tmp_maildir() {
        char tmpl[] = "/tmp/imap-durable-XXXXXX";
        root = ::mkdtemp(tmpl);
        for (auto d : {"cur", "new", "tmp"}) fs::create_directories(root / d);
        for (int i = 0; i < 5; ++i)
            std::ofstream(root / "cur" /
                              ("170000000" + std::to_string(i) + ".M1P1Q" + std::to_string(i) +
                               ".host,S=3:2,"),
                          std::ios::binary)
                << "x\r\n";
    }
    ~tmp_maildir() { fs::remove_all(root); }
};

std::atomic<int> file_fsyncs{0}, dir_fsyncs{0};
int count_fsync(int, bool directory) {
    ++(directory ? dir_fsyncs : file_fsyncs);
    return 0;
}
void reset_counts() { file_fsyncs = 0, dir_fsyncs = 0; }

// Until the directory mtimes are older than the store's trust margin (see store_test.cpp).
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(1200)); }

TEST(ImapStoreDurability, FlagChangesAndExpungesAreNotFsyncedAppendIs) {
    tmp_maildir m;
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    ASSERT_EQ(f.messages().size(), 5u);
    durable::test_hooks::scoped_fsync_hook hook(count_fsync);
    reset_counts();
    ASSERT_FALSE(f.set_flags(1, flag_seen));
    // The first record that is not fsync'd makes the marker durable first (file and folder).
    EXPECT_EQ(file_fsyncs, 1);
    EXPECT_EQ(dir_fsyncs, 1);
    EXPECT_TRUE(fs::exists(m.root / "splitmail-uidlist.unsynced"));
    reset_counts();
    ASSERT_FALSE(f.set_flags(2, flag_flagged));
    ASSERT_FALSE(f.set_flags(2, 0));
    ASSERT_FALSE(f.expunge(3));
    ASSERT_FALSE(f.sync());
    settle();
    ASSERT_FALSE(f.sync()); // the "D" record waits: the records before it are not on disk
    EXPECT_EQ(file_fsyncs, 0) << "STORE, EXPUNGE and the syncs after them fsync nothing";
    EXPECT_EQ(dir_fsyncs, 0);

    // APPEND: the message file, cur/, and the index record, all before the UID comes back.
    reset_counts();
    auto uid = f.add("Subject: x\r\n\r\nbody\r\n", 0, std::nullopt);
    ASSERT_TRUE(uid);
    EXPECT_EQ(file_fsyncs, 2) << "message file and index";
    EXPECT_EQ(dir_fsyncs, 1) << "cur/";
    reset_counts();
    settle();
    ASSERT_FALSE(f.sync()); // now the "D" record goes, without an fsync of its own
    EXPECT_EQ(file_fsyncs + dir_fsyncs, 0);
}

TEST(ImapStoreDurability, CleanCloseRemovesTheMarkerAndKeepsModseqs) {
    tmp_maildir m;
    std::uint64_t hms = 0;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        ASSERT_FALSE(f.set_flags(1, flag_seen));
        hms = f.highest_modseq();
        EXPECT_TRUE(fs::exists(m.root / "splitmail-uidlist.unsynced"));
    }
    EXPECT_FALSE(fs::exists(m.root / "splitmail-uidlist.unsynced")) << "closed cleanly";
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.highest_modseq(), hms) << "no skip after a clean close";
    EXPECT_EQ(g.find(1)->flags, flag_seen);
}

// A process that dies after flag changes whose records never reached the disk (simulated: the
// child exits without closing, and the index is cut back to what it held before the changes),
// while the renames of the files did: the next load follows the files, keeps every UID, and
// never hands out a MODSEQ the dead process may have shown a client.
TEST(ImapStoreDurability, CrashLosingFlagRecordsFollowsTheFilesAndSkipsModseqs) {
    tmp_maildir m;
    std::uint32_t uidvalidity = 0;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        uidvalidity = f.uidvalidity();
    }
    settle();
    const auto index = m.root / "splitmail-uidlist";
    const auto before = fs::file_size(index);
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipefd[0]);
        auto* f = new folder(m.root, "host"); // never destroyed: no clean close
        std::uint64_t seen = 0;
        if (f->sync() || f->set_flags(2, flag_flagged) || f->set_flags(4, flag_seen)) ::_exit(1);
        seen = f->highest_modseq();
        if (::write(pipefd[1], &seen, sizeof seen) != sizeof seen) ::_exit(2);
        ::_exit(0);
    }
    ::close(pipefd[1]);
    std::uint64_t shown = 0;
    ASSERT_EQ(::read(pipefd[0], &shown, sizeof shown), static_cast<ssize_t>(sizeof shown));
    ::close(pipefd[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ASSERT_TRUE(fs::exists(m.root / "splitmail-uidlist.unsynced"));
    ASSERT_GT(fs::file_size(index), before);
    fs::resize_file(index, before); // the records were lost, the renames were not

    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.uidvalidity(), uidvalidity);
    ASSERT_EQ(g.messages().size(), 5u);
    for (std::uint32_t uid = 1; uid <= 5; ++uid) ASSERT_NE(g.find(uid), nullptr) << uid;
    EXPECT_EQ(g.find(2)->flags, flag_flagged) << "the index follows the file names";
    EXPECT_EQ(g.find(4)->flags, flag_seen);
    EXPECT_GT(g.find(2)->modseq, shown);
    EXPECT_GT(g.highest_modseq(), shown) << "MODSEQs the dead process gave out are skipped";
    ASSERT_FALSE(g.set_flags(1, flag_answered));
    EXPECT_GT(g.find(1)->modseq, shown);
}

// The skip itself is on disk before anything uses it: a second crash right after the load
// (the marker still there) does not start again from the old HIGHESTMODSEQ.
TEST(ImapStoreDurability, SkipIsDurableBeforeUse) {
    tmp_maildir m;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
    }
    std::ofstream(m.root / "splitmail-uidlist.unsynced"); // as a crash leaves it
    std::uint64_t first = 0;
    pid_t pid = ::fork();
    if (pid == 0) {
        auto* f = new folder(m.root, "host"); // loads, skips, then "crashes"
        ::_exit(f->sync() ? 1 : 0);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    {
        folder g(m.root, "host");
        ASSERT_FALSE(g.sync());
        first = g.highest_modseq();
        EXPECT_GT(first, folder::max_unsynced * 2) << "skipped twice: once per unclean stop";
    }
}

} // namespace
} // namespace splitmail::home::imap
