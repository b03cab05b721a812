// The spool on a real file system: enqueue/update/move/remove, recovery of crafted broken
// spools, the CLI's delete, disk full, and the flush signal.
#include "splitmail/queue/control.hpp"
#include "splitmail/queue/id.hpp"
#include "splitmail/queue/spool.hpp"
#include "unit/private_tmpfs.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace splitmail;
using namespace splitmail::queue;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "spool-test-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() { // never throws: an early ASSERT may leave a mount point (std::terminate)
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::size_t count(const fs::path& dir) {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

void make_old(const fs::path& p) {
    fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(1));
}

envelope new_envelope(std::string sender = "alice@example.org") {
    envelope e;
    e.id = make_id();
    e.sender = std::move(sender);
    e.recipients.emplace_back();
    e.recipients.back().address = "demo@example.test";
    e.arrival = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
    return e;
}

std::error_code enqueue_sync(spool& s, envelope e, std::string prefix, std::string body) {
    std::promise<std::error_code> p;
    s.enqueue(std::move(e), std::move(prefix), std::move(body),
              [&p](std::error_code ec) { p.set_value(ec); });
    return p.get_future().get();
}

struct spool_test : ::testing::Test {
    temp_dir t;
    durable::committer c;
    spool s = *spool::open(t.path / "spool", c);
};

} // namespace

TEST_F(spool_test, open_creates_the_layout_private) {
    for (auto d : {"tmp", "msg", "incoming", "deferred", "hold", "corrupt", "deleted"}) {
        EXPECT_TRUE(fs::is_directory(t.path / "spool" / d)) << d;
        EXPECT_EQ(fs::status(t.path / "spool" / d).permissions() & fs::perms::all,
                  fs::perms::owner_all)
            << d;
    }
    EXPECT_FALSE(spool::open(t.path / "absent", c, false));
}

TEST_F(spool_test, enqueue_writes_message_then_envelope) {
    auto e = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, e, "Received: from x\r\n", "Subject: hi\r\n\r\nbody\r\n"));
    EXPECT_EQ(slurp(s.message_path(e.id)), "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n");
    auto back = s.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->size, slurp(s.message_path(e.id)).size()); // set by enqueue
    EXPECT_EQ(back->size, 39u);
    EXPECT_EQ(back->queue, queue_name::incoming);
    EXPECT_EQ(back->sender, "alice@example.org");
    EXPECT_EQ(*s.read_message(e.id), slurp(s.message_path(e.id)));
    EXPECT_EQ(count(t.path / "spool" / "tmp"), 0u);
}

// Issue 18: a header block edited after the file was written (rspamd's rewrite subject) goes
// in the prefix; the envelope's file_skip hides the original at the start of the file from
// every reader, and survives the envelope's round trip through JSON.
TEST_F(spool_test, enqueue_file_with_a_skipped_header_block) {
    auto e = new_envelope();
    const std::string original = "Subject: hi\r\n\r\n";
    auto f = s.create_message();
    ASSERT_TRUE(f);
    ASSERT_FALSE(f->write(original + "body\r\n"));
    e.file_skip = original.size();
    const std::string prefix = "Received: from x\r\nSubject: [SPAM] hi\r\n\r\n";
    std::promise<std::error_code> p;
    s.enqueue_file(e, prefix, std::move(*f), [&p](std::error_code ec) { p.set_value(ec); });
    ASSERT_FALSE(p.get_future().get());
    const std::string want = prefix + "body\r\n";
    auto back = s.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->file_skip, original.size());
    EXPECT_EQ(back->size, want.size());
    EXPECT_EQ(*s.read_message(e.id), want);
    auto m = s.open_message(e.id);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->file_offset, original.size());
    EXPECT_EQ(m->size(), want.size());
    // The file itself is what arrived.
    EXPECT_EQ(slurp(s.message_path(e.id)), original + "body\r\n");
    // An envelope without the field reads as 0 (older spools); a skip past the file is capped.
    auto json = to_json(*back);
    EXPECT_NE(json.find("\"file_skip\""), std::string::npos);
    back->file_skip = 0;
    EXPECT_EQ(to_json(*back).find("file_skip"), std::string::npos);
}

TEST_F(spool_test, enqueue_rejects_an_invalid_id_without_writing) {
    auto e = new_envelope();
    e.id = "../escape";
    EXPECT_EQ(enqueue_sync(s, e, "", "x"), std::errc::invalid_argument);
    EXPECT_EQ(count(t.path / "spool" / "msg"), 0u);
}

TEST_F(spool_test, update_move_remove_lifecycle) {
    auto e = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, e, "", "m\r\n"));
    e = *s.load(e.id);
    e.attempts = 1;
    e.recipients[0].state = rcpt_state::deferred;
    e.recipients[0].last_code = 451;
    ASSERT_FALSE(s.move(e.id, queue_name::incoming, queue_name::deferred));
    e.queue = queue_name::deferred;
    ASSERT_FALSE(s.update_sync(e));
    EXPECT_FALSE(fs::exists(s.envelope_path(e.id, queue_name::incoming)));
    auto back = s.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->queue, queue_name::deferred);
    EXPECT_EQ(back->attempts, 1);
    EXPECT_EQ(back->recipients[0].last_code, 451);
    // Moving an envelope that is no longer there fails.
    EXPECT_EQ(s.move(e.id, queue_name::incoming, queue_name::deferred),
              std::errc::no_such_file_or_directory);

    ASSERT_FALSE(s.remove_sync(e));
    EXPECT_FALSE(fs::exists(s.envelope_path(e.id, queue_name::deferred)));
    EXPECT_FALSE(fs::exists(s.message_path(e.id)));
    EXPECT_EQ(s.load(e.id).error(), std::errc::no_such_file_or_directory);
}

TEST_F(spool_test, update_does_not_resurrect_a_deleted_envelope) {
    auto e = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, e, "", "m\r\n"));
    auto where = s.remove_to_deleted(e.id);
    ASSERT_TRUE(where);
    EXPECT_EQ(*where, queue_name::incoming);
    EXPECT_TRUE(fs::exists(t.path / "spool" / "deleted" / (e.id + ".json")));
    EXPECT_TRUE(fs::exists(t.path / "spool" / "deleted" / e.id));
    EXPECT_FALSE(fs::exists(s.message_path(e.id)));
    e.attempts = 5;
    EXPECT_EQ(s.update_sync(e), std::errc::no_such_file_or_directory);
    EXPECT_FALSE(fs::exists(s.envelope_path(e.id, queue_name::incoming)));
    EXPECT_EQ(s.remove_to_deleted(e.id).error(), std::errc::no_such_file_or_directory);
}

TEST_F(spool_test, list_is_sorted_and_reports_broken_envelopes) {
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        auto e = new_envelope();
        ids.push_back(e.id);
        ASSERT_FALSE(enqueue_sync(s, e, "", "m\r\n"));
    }
    ASSERT_FALSE(s.move(ids[2], queue_name::incoming, queue_name::deferred));
    put(t.path / "spool" / "deferred" / (make_id() + ".json"), "{broken");
    auto l = s.list();
    ASSERT_EQ(l.envelopes.size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(l.envelopes[i].id, ids[i]);
    EXPECT_EQ(l.envelopes[2].queue, queue_name::deferred);
    ASSERT_EQ(l.errors.size(), 1u);
    EXPECT_NE(l.errors[0].find("not valid JSON"), std::string::npos) << l.errors[0];
}

TEST_F(spool_test, recover_on_a_crafted_broken_spool) {
    const fs::path root = t.path / "spool";
    // Two good messages, one in each queue.
    auto good1 = new_envelope(), good2 = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, good1, "", "one\r\n"));
    ASSERT_FALSE(enqueue_sync(s, good2, "", "two\r\n"));
    ASSERT_FALSE(s.move(good2.id, queue_name::incoming, queue_name::deferred));
    // Stale temporary files of an unfinished commit.
    put(root / "tmp" / "x.123.4.tmp", "half");
    put(root / "tmp" / "y.123.5.tmp", "half");
    // Old orphan message that was queued (mode 0700) but lost its envelope (by hand), and a
    // young one (in flight).
    const std::string orphan_old = make_id(), orphan_young = make_id();
    put(root / "msg" / orphan_old, "orphan");
    fs::permissions(root / "msg" / orphan_old, fs::perms::owner_all);
    make_old(root / "msg" / orphan_old);
    put(root / "msg" / orphan_young, "young");
    // Unparsable envelope with its message.
    const std::string garbled = make_id();
    put(root / "msg" / garbled, "garbled's message");
    put(root / "incoming" / (garbled + ".json"), "{\"id\": 42");
    // Envelope whose message is missing.
    auto lonely = new_envelope();
    lonely.queue = queue_name::incoming;
    put(root / "incoming" / (lonely.id + ".json"), to_json(lonely));
    // Envelope whose id does not match its name.
    const std::string misnamed = make_id();
    put(root / "msg" / misnamed, "m");
    put(root / "incoming" / (misnamed + ".json"), to_json(new_envelope()));
    // Duplicate of good2 in incoming (the deferred one wins).
    put(root / "incoming" / (good2.id + ".json"), to_json(good2));
    // A file that is not an envelope at all.
    put(root / "hold" / "notes.txt", "hello");

    auto rep = s.recover();
    ASSERT_TRUE(rep) << rep.error().message();
    for (const auto& p : rep->problems) std::printf("  recover: %s\n", p.c_str());

    EXPECT_EQ(rep->tmp_removed, 2u);
    EXPECT_EQ(count(root / "tmp"), 0u);
    ASSERT_EQ(rep->envelopes.size(), 2u);
    EXPECT_EQ(rep->envelopes[0].id, good1.id);
    EXPECT_EQ(rep->envelopes[0].queue, queue_name::incoming);
    EXPECT_EQ(rep->envelopes[1].id, good2.id);
    EXPECT_EQ(rep->envelopes[1].queue, queue_name::deferred);

    const fs::path corrupt = root / "corrupt";
    EXPECT_EQ(slurp(corrupt / orphan_old), "orphan");
    EXPECT_TRUE(fs::exists(root / "msg" / orphan_young)) << "young orphan must be left alone";
    EXPECT_EQ(slurp(corrupt / garbled), "garbled's message");
    EXPECT_TRUE(fs::exists(corrupt / (garbled + ".json")));
    EXPECT_TRUE(fs::exists(corrupt / (lonely.id + ".json")));
    EXPECT_TRUE(fs::exists(corrupt / (misnamed + ".json")));
    EXPECT_TRUE(fs::exists(corrupt / misnamed));
    EXPECT_TRUE(fs::exists(corrupt / (good2.id + ".json")));
    EXPECT_TRUE(fs::exists(corrupt / "notes.txt"));
    EXPECT_TRUE(fs::exists(root / "msg" / good2.id)) << "the kept duplicate keeps its message";
    EXPECT_EQ(rep->moved_to_corrupt.size(), 8u);
    EXPECT_EQ(rep->problems.size(), rep->moved_to_corrupt.size());
    // Nothing was deleted: every message byte is somewhere.
    EXPECT_EQ(count(root / "msg") + count(corrupt), 3u + 8u);

    // A second recovery finds a clean spool and the same envelopes.
    auto again = s.recover();
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->moved_to_corrupt.empty());
    EXPECT_EQ(again->envelopes.size(), 2u);
}

// Issue 11 item 10: routine crash leftovers are removed (or follow a deleted envelope); only
// what cannot be accounted for goes to corrupt/.
TEST_F(spool_test, recover_removes_leftovers_that_are_not_owed) {
    const fs::path root = t.path / "spool";
    // The modes the spool itself gives: queued after enqueue.
    auto queued = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, queued, "", "queued\r\n"));
    EXPECT_EQ(fs::status(s.message_path(queued.id)).permissions() & fs::perms::all,
              fs::perms::owner_all)
        << "a message whose envelope is durable is marked queued (0700)";

    // 1. A commit cut short before its envelope: written 0600, never acknowledged.
    const std::string unfinished = make_id();
    put(root / "msg" / unfinished, "half a messa");
    fs::permissions(root / "msg" / unfinished, fs::perms::owner_read | fs::perms::owner_write);
    // 2. A removal cut short between the two unlinks: remove() marked it 0500 first. Made
    //    here by a real enqueue, the mark remove() sets, and the envelope unlink.
    auto delivered = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, delivered, "", "delivered\r\n"));
    fs::permissions(s.message_path(delivered.id), fs::perms::owner_read | fs::perms::owner_exec);
    fs::remove(s.envelope_path(delivered.id, queue_name::incoming));
    // 3. `splitmail queue delete` cut short: envelope in deleted/, message still in msg/.
    auto deleted = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, deleted, "", "deleted\r\n"));
    fs::rename(s.envelope_path(deleted.id, queue_name::incoming),
               root / "deleted" / (deleted.id + ".json"));
    // 4. A queued message whose envelope vanished for no reason we know: kept, in corrupt/.
    auto lost = new_envelope();
    ASSERT_FALSE(enqueue_sync(s, lost, "", "lost\r\n"));
    fs::remove(s.envelope_path(lost.id, queue_name::incoming));
    for (const auto& id : {unfinished, delivered.id, deleted.id, lost.id})
        make_old(root / "msg" / id);

    auto rep = s.recover();
    ASSERT_TRUE(rep) << rep.error().message();
    for (const auto& p : rep->leftovers) std::printf("  leftover: %s\n", p.c_str());
    ASSERT_EQ(rep->envelopes.size(), 1u);
    EXPECT_EQ(rep->envelopes[0].id, queued.id);
    EXPECT_EQ(rep->leftovers.size(), 3u);
    EXPECT_FALSE(fs::exists(root / "msg" / unfinished));
    EXPECT_FALSE(fs::exists(root / "msg" / delivered.id));
    EXPECT_EQ(slurp(root / "deleted" / deleted.id), "deleted\r\n");
    EXPECT_FALSE(fs::exists(root / "msg" / deleted.id));
    ASSERT_EQ(rep->moved_to_corrupt.size(), 1u);
    EXPECT_EQ(rep->moved_to_corrupt[0], "msg/" + lost.id);
    EXPECT_EQ(slurp(root / "corrupt" / lost.id), "lost\r\n");
    EXPECT_EQ(slurp(s.message_path(queued.id)), "queued\r\n");
    EXPECT_EQ(count(root / "msg"), 1u);
}

TEST_F(spool_test, recover_never_overwrites_in_corrupt) {
    const fs::path root = t.path / "spool";
    const std::string id = make_id();
    put(root / "corrupt" / id, "earlier");
    put(root / "msg" / id, "later");
    fs::permissions(root / "msg" / id, fs::perms::owner_all); // queued, envelope lost
    make_old(root / "msg" / id);
    ASSERT_TRUE(s.recover());
    EXPECT_EQ(slurp(root / "corrupt" / id), "earlier");
    EXPECT_EQ(slurp(root / "corrupt" / (id + ".1")), "later");
}

TEST(spool_disk_full, enospc_reaches_the_caller_and_nothing_is_queued) {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: needs root to mount a small tmpfs";
    temp_dir t;
    const fs::path mnt = t.path / "small";
    fs::create_directories(mnt);
    // In the process's private mount namespace: a killed test leaves no mount on the host.
    if (auto why = private_tmpfs::mount(mnt, "size=128k"); !why.empty())
        GTEST_SKIP() << "SKIPPED LOUDLY: " << why;
    struct unmount_at_exit {
        fs::path mnt;
        ~unmount_at_exit() { private_tmpfs::unmount(mnt); }
    } unmount{mnt};
    {
        durable::committer c;
        auto s = spool::open(mnt / "spool", c);
        ASSERT_TRUE(s);
        auto small = new_envelope();
        ASSERT_FALSE(enqueue_sync(*s, small, "", "fits\r\n"));
        auto big = new_envelope();
        auto ec = enqueue_sync(*s, big, "Received: x\r\n", std::string(512 * 1024, 'b'));
        EXPECT_EQ(ec, std::errc::no_space_on_device) << ec.message();
        EXPECT_TRUE(is_disk_full(ec));
        EXPECT_FALSE(is_disk_full(std::make_error_code(std::errc::io_error)));
        EXPECT_TRUE(is_disk_full({EDQUOT, std::generic_category()}));
        EXPECT_FALSE(fs::exists(s->message_path(big.id)));
        EXPECT_FALSE(fs::exists(s->envelope_path(big.id, queue_name::incoming)));
        EXPECT_EQ(count(mnt / "spool" / "tmp"), 0u);
        EXPECT_TRUE(s->load(small.id)) << "what was acknowledged before is intact";
    }
}

namespace {
std::atomic<int> usr1_count{0};
void on_usr1(int) { ++usr1_count; }
} // namespace

TEST(queue_control, flush_signals_only_a_live_relay) {
    temp_dir t;
    EXPECT_EQ(signal_flush(t.path).result, flush_result::no_pid_file);

    // Stale pid file: a child that has exited and been reaped.
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    put(pid_file(t.path), std::to_string(child) + "\n");
    auto stale = signal_flush(t.path);
    EXPECT_EQ(stale.result, flush_result::not_running) << stale.detail;

    // Our own pid: not a splitmail-relay, so never signalled.
    ASSERT_FALSE(write_pid_file(t.path));
    EXPECT_EQ(slurp(pid_file(t.path)), std::to_string(::getpid()) + "\n");
    auto old = std::signal(SIGUSR1, on_usr1);
    auto other = signal_flush(t.path);
    EXPECT_EQ(other.result, flush_result::not_a_relay) << other.detail;
    EXPECT_EQ(usr1_count, 0);

    // Accepting our own process name: SIGUSR1 arrives.
    std::string comm = slurp("/proc/self/comm");
    comm.erase(comm.find_last_not_of('\n') + 1);
    auto ok = signal_flush(t.path, comm);
    EXPECT_EQ(ok.result, flush_result::signalled) << ok.detail;
    for (int i = 0; i < 100 && usr1_count == 0; ++i) ::usleep(1000);
    EXPECT_EQ(usr1_count, 1);
    std::signal(SIGUSR1, old);

    remove_pid_file(t.path);
    EXPECT_FALSE(fs::exists(pid_file(t.path)));
    put(pid_file(t.path), "garbage");
    EXPECT_EQ(signal_flush(t.path).result, flush_result::error);
}
