// Maildir names, errno -> reply mapping, and real deliveries into temporary directories
// (including a full tmpfs and symlink traps).
#include "maildir/deliver.hpp"
#include "maildir/errors.hpp"
#include "maildir/name.hpp"
#include "users/executors.hpp"
#include "unit/fs_trace.hpp" // defines fsync/rename/renameat2/unlink for this test binary
#include "unit/private_tmpfs.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace splitmail::home::maildir;
namespace fs = std::filesystem;

TEST(MaildirName, MakeAndParse) {
    unique_name n{1700000000, 123456, 4242, 7, "home.example", 5120, ""};
    auto s = make_name(n);
    EXPECT_EQ(s, "1700000000.M123456P4242Q7.home.example,S=5120");
    auto p = parse_name(s);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, n);
    n.info = "2,S";
    auto s2 = make_name(n);
    EXPECT_EQ(s2, "1700000000.M123456P4242Q7.home.example,S=5120:2,S");
    EXPECT_EQ(parse_name(s2), n);
    n.size.reset();
    n.info.clear();
    EXPECT_EQ(make_name(n), "1700000000.M123456P4242Q7.home.example");
    EXPECT_EQ(parse_name(make_name(n)), n);
}

TEST(MaildirName, HostEscaping) {
    EXPECT_EQ(escape_host("a/b:c.d"), "a\\057b\\072c.d");
    unique_name n{1, 2, 3, 4, escape_host("x/y:z"), 9, ""};
    auto s = make_name(n);
    EXPECT_EQ(s.find('/'), std::string::npos);
    EXPECT_EQ(s.find(':'), std::string::npos);
    EXPECT_EQ(parse_name(s), n);
}

TEST(MaildirName, ParseRejects) {
    for (const char* bad : {"", "x.M1P2Q3.h", "1.M1P2.h", "1.M1P2Q3", "1.M1P2Q3.", "1.M1x2P2Q3.h",
                            "1.M1000000P2Q3.h", "1.M1M1P2Q3.h", "1.P2Q3.h", "1..h"}) {
        SCOPED_TRACE(bad);
        EXPECT_FALSE(parse_name(bad));
    }
}

TEST(MaildirName, SizeFromAnyName) {
    EXPECT_EQ(size_from_name("1.M2P3Q4.h,S=77"), 77u);
    EXPECT_EQ(size_from_name("1.M2P3Q4.h,S=77,W=80:2,RS"), 77u);
    EXPECT_EQ(size_from_name("1.M2P3Q4.h:2,S=9"), std::nullopt) << "flags are not fields";
    EXPECT_EQ(size_from_name("1.M2P3Q4.h,S=x"), std::nullopt);
}

TEST(MaildirErrors, ErrnoToReply) {
    struct row {
        int err;
        int code;
        const char* enhanced;
    };
    const row rows[] = {{ENOSPC, 452, "4.2.2"}, {EDQUOT, 452, "4.2.2"}, {EFBIG, 452, "4.3.4"},
                        {EIO, 451, "4.3.0"},    {EACCES, 451, "4.3.5"}, {ELOOP, 451, "4.3.5"},
                        {EROFS, 451, "4.3.5"},  {ENOMEM, 451, "4.3.0"}, {0x7fff, 451, "4.3.0"}};
    for (const auto& r : rows) {
        SCOPED_TRACE(r.err);
        auto rep = reply_for_errno(r.err);
        EXPECT_EQ(rep.code, r.code);
        EXPECT_EQ(rep.enhanced, r.enhanced);
        EXPECT_TRUE(rep.transient()) << "a file-system error must never bounce mail";
    }
}

TEST(MaildirTrace, Headers) {
    EXPECT_EQ(trace_headers("a@b.test", "u@d.test"),
              "Return-Path: <a@b.test>\r\nDelivered-To: u@d.test\r\n");
    EXPECT_EQ(trace_headers("", "u@d.test"), "Return-Path: <>\r\nDelivered-To: u@d.test\r\n");
}

TEST(MaildirPath, RefusesEscapes) {
    EXPECT_EQ(*maildir_path("/r", "a@d.test"), fs::path("/r/d.test/a"));
    EXPECT_FALSE(maildir_path("/r", "..@d.test"));
    EXPECT_FALSE(maildir_path("/r", "a@.."));
    EXPECT_FALSE(maildir_path("/r", "a/b@d.test"));
    EXPECT_FALSE(maildir_path("/r", "@d.test"));
    EXPECT_FALSE(maildir_path("/r", "nodomain"));
}

class MaildirDelivery : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("sm-maildir-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    void TearDown() override {
        ::umount2(root_.c_str(), MNT_DETACH); // only mounted by the tmpfs test
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    delivered deliver(deliverer& d, const std::string& user, std::string headers,
                      std::string body) {
        std::promise<delivered> p;
        d.deliver(user, std::move(headers), std::make_shared<const std::string>(std::move(body)),
                  [&p](delivered r) { p.set_value(r); });
        return p.get_future().get();
    }
    static std::size_t count(const fs::path& dir) {
        std::error_code ec;
        std::size_t n = 0;
        for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it)
            ++n;
        return n;
    }
    static std::string slurp(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }
    fs::path root_;
};

TEST_F(MaildirDelivery, CreatesMaildirAndDelivers) {
    splitmail::durable::committer c;
    deliverer d(root_, c, "home/host:1");
    std::string body = "Subject: hi\r\n\r\nline one\r\n.leading dot\r\n\xff\x00 binary\r\n";
    body.push_back('\0');
    auto r =
        deliver(d, "alice@example.test", trace_headers("s@x.test", "alice@example.test"), body);
    ASSERT_FALSE(r.ec) << r.ec.message();
    auto md = root_ / "example.test" / "alice";
    for (const char* sub : {"tmp", "new", "cur"}) {
        struct ::stat st {};
        ASSERT_EQ(::lstat((md / sub).c_str(), &st), 0) << sub;
        EXPECT_TRUE(S_ISDIR(st.st_mode));
        EXPECT_EQ(st.st_mode & 0777, 0700u) << sub;
    }
    EXPECT_EQ(r.file.parent_path(), md / "new");
    EXPECT_EQ(count(md / "new"), 1u);
    EXPECT_EQ(count(md / "tmp"), 0u);
    auto content = slurp(r.file);
    EXPECT_EQ(content, "Return-Path: <s@x.test>\r\nDelivered-To: alice@example.test\r\n" + body);
    auto name = parse_name(r.file.filename().string());
    ASSERT_TRUE(name) << r.file;
    EXPECT_EQ(name->size, content.size());
    EXPECT_EQ(name->pid, ::getpid());
    EXPECT_EQ(name->host, "home\\057host\\0721");
}

TEST_F(MaildirDelivery, ManyConcurrentDeliveriesAllUniqueAndDurable) {
    splitmail::durable::committer c;
    deliverer d(root_, c, "h");
    constexpr int n = 200;
    std::vector<std::promise<delivered>> ps(n);
    for (int i = 0; i < n; ++i)
        d.deliver(i % 2 ? "a@x.test" : "b@x.test", "H: " + std::to_string(i) + "\r\n",
                  std::make_shared<const std::string>("body\r\n"),
                  [&ps, i](delivered r) { ps[i].set_value(r); });
    for (auto& p : ps) EXPECT_FALSE(p.get_future().get().ec);
    EXPECT_EQ(count(root_ / "x.test" / "a" / "new") + count(root_ / "x.test" / "b" / "new"),
              std::size_t(n));
    EXPECT_LT(c.counters().dir_fsyncs, std::size_t(n)) << "directory fsyncs should be shared";
}

TEST_F(MaildirDelivery, SymlinkedMaildirIsRefused) {
    splitmail::durable::committer c;
    deliverer d(root_ / "mail", c, "h");
    fs::create_directories(root_ / "mail" / "x.test");
    fs::create_directories(root_ / "outside");
    fs::create_directory_symlink(root_ / "outside", root_ / "mail" / "x.test" / "evil");
    auto r = deliver(d, "evil@x.test", "", "body\r\n");
    // O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR (Linux) or ELOOP.
    auto refused = [](std::error_code ec) { return ec.value() == ENOTDIR || ec.value() == ELOOP; };
    EXPECT_TRUE(refused(r.ec)) << r.ec.message();
    EXPECT_EQ(count(root_ / "outside"), 0u);
    // A symlinked new/ inside a real Maildir is refused too.
    fs::create_directories(root_ / "mail" / "x.test" / "ok" / "tmp");
    fs::create_directories(root_ / "mail" / "x.test" / "ok" / "cur");
    fs::create_directory_symlink(root_ / "outside", root_ / "mail" / "x.test" / "ok" / "new");
    r = deliver(d, "ok@x.test", "", "body\r\n");
    EXPECT_TRUE(refused(r.ec)) << r.ec.message();
    EXPECT_EQ(count(root_ / "outside"), 0u);
    EXPECT_EQ(reply_for_error(r.ec).code, 451);
}

TEST_F(MaildirDelivery, FullDiskLeavesNothingAndSays452) {
    // In the process's private mount namespace: a killed test leaves no mount on the host.
    if (auto why = private_tmpfs::mount(root_, "size=256k,mode=0700"); !why.empty())
        GTEST_SKIP() << "SKIPPED LOUDLY: cannot mount a tmpfs (needs root/CAP_SYS_ADMIN): " << why;
    splitmail::durable::committer c;
    deliverer d(root_, c, "h");
    auto ok = deliver(d, "a@x.test", "", std::string(10'000, 'a'));
    ASSERT_FALSE(ok.ec) << ok.ec.message();
    auto r =
        deliver(d, "a@x.test", trace_headers("s@x.test", "a@x.test"), std::string(1'000'000, 'b'));
    ASSERT_TRUE(r.ec);
    EXPECT_EQ(r.ec.value(), ENOSPC);
    auto rep = reply_for_error(r.ec);
    EXPECT_EQ(rep.code, 452);
    EXPECT_EQ(rep.enhanced, "4.2.2");
    EXPECT_EQ(count(root_ / "x.test" / "a" / "new"), 1u) << "only the first message";
    EXPECT_EQ(count(root_ / "x.test" / "a" / "tmp"), 0u) << "temporary file removed";
    EXPECT_EQ(slurp(ok.file), std::string(10'000, 'a'));
}

// Traced with the fs_trace interposer: the message is renamed into new/, new/ is fsync'd, and
// only then does the caller hear "delivered" (the LMTP 250 is sent from that completion).
TEST_F(MaildirDelivery, RenameIntoNewThenFsyncNewThenDone) {
    splitmail::durable::committer c;
    deliverer d(root_, c, "h");
    ASSERT_TRUE(d.ensure_maildir("a@x.test"));
    const fs::path md = fs::canonical(root_ / "x.test" / "a");
    fs_trace::scope trace;
    std::promise<delivered> p;
    d.deliver("a@x.test", "", std::make_shared<const std::string>("body\r\n"), [&](delivered r) {
        trace.mark("done");
        p.set_value(r);
    });
    auto r = p.get_future().get();
    ASSERT_FALSE(r.ec) << r.ec.message();
    const auto ev = trace.events();
    const auto ren = fs_trace::find(ev, "rename", r.file.string());
    const auto sync =
        fs_trace::find(ev, "fsync_dir", (md / "new").string(), ren == SIZE_MAX ? 0 : ren + 1);
    const auto done = fs_trace::find(ev, "done", "");
    ASSERT_NE(ren, SIZE_MAX) << "no rename into new/\n" << fs_trace::dump(ev);
    ASSERT_NE(sync, SIZE_MAX) << "new/ not fsync'd after the rename\n" << fs_trace::dump(ev);
    ASSERT_NE(done, SIZE_MAX) << fs_trace::dump(ev);
    EXPECT_LT(sync, done) << "delivery reported before new/ was durable\n" << fs_trace::dump(ev);
    std::size_t file_syncs_before = 0;
    for (std::size_t i = 0; i < ren; ++i) file_syncs_before += ev[i].what == "fsync_file";
    EXPECT_GE(file_syncs_before, 1u) << "file not fsync'd before the rename\n"
                                     << fs_trace::dump(ev);
}

// EIO from the fsync of new/: the delivery fails with a 4xx reply (never 250) and leaves
// nothing in new/ or tmp/.
TEST_F(MaildirDelivery, NewDirFsyncErrorIsNoDelivery) {
    splitmail::durable::committer c;
    deliverer d(root_, c, "h");
    ASSERT_TRUE(d.ensure_maildir("a@x.test"));
    const fs::path md = fs::canonical(root_ / "x.test" / "a");
    fs_trace::scope trace;
    trace.fail_fsync_of_dir((md / "new").string(), EIO);
    auto r = deliver(d, "a@x.test", "", "body\r\n");
    EXPECT_EQ(r.ec, std::errc::io_error) << r.ec.message() << "\n"
                                         << fs_trace::dump(trace.events());
    const auto reply = reply_for_error(r.ec);
    EXPECT_NE(reply.code, 250);
    EXPECT_EQ(reply.code / 100, 4) << reply.code;
    EXPECT_EQ(count(md / "new"), 0u);
    EXPECT_EQ(count(md / "tmp"), 0u);
}

// A deliverer whose links run on per-user strands, a@x.test's Maildir made, and one staged
// message holding `text` (null when staging failed: the test checks).
struct shared_on_strands {
    splitmail::durable::committer c;
    splitmail::home::user_executors ux{2};
    deliverer d;
    fs::path md;
    std::shared_ptr<staged_message> msg;
    shared_on_strands(const fs::path& root, std::string_view text) : d(root, c, "h") {
        d.set_user_executors(&ux);
        EXPECT_TRUE(d.ensure_maildir("a@x.test"));
        md = fs::canonical(root / "x.test" / "a");
        auto m = d.stage();
        EXPECT_TRUE(m);
        if (m && !(*m)->append(text)) msg = *m;
    }
};

// Shared delivery with per-user strands (issue 12): the link runs on the user's strand, the
// fsync of new/ after it off the strand. While that fsync is held (a slow disk), other work of
// the same user - its IMAP commands - still runs; the delivery is reported only once new/ is
// durable. On the old code (fsync on the strand) the user's work waited for the disk.
TEST_F(MaildirDelivery, SharedDeliveryNewDirFsyncDoesNotHoldTheUsersStrand) {
    constexpr auto patience = std::chrono::seconds(30); // bounds a hang, never a timing claim
    shared_on_strands t(root_, "Subject: slow disk\r\n\r\nbody\r\n");
    ASSERT_TRUE(t.msg);
    auto& [c, ux, d, md, m] = t;
    fs_trace::scope trace;
    trace.hold_fsync_of_dir((md / "new").string());
    std::promise<std::vector<delivered>> done;
    d.deliver_shared(m, {"a@x.test"}, [&](std::vector<delivered> r) {
        trace.mark("done");
        done.set_value(std::move(r));
    });
    m.reset();
    ASSERT_TRUE(trace.wait_until_held(patience)) << "new/ was never fsync'd\n"
                                                 << fs_trace::dump(trace.events());
    std::promise<void> ran;
    ux.post("a@x.test", [&] { ran.set_value(); });
    auto f = done.get_future();
    const bool strand_free = ran.get_future().wait_for(patience) == std::future_status::ready;
    const bool early = f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    trace.release_held();
    EXPECT_TRUE(strand_free) << "the user's strand waited for the fsync of new/";
    EXPECT_FALSE(early) << "delivery reported before new/ was durable";
    ASSERT_EQ(f.wait_for(patience), std::future_status::ready);
    auto r = f.get();
    ASSERT_EQ(r.size(), 1u);
    ASSERT_FALSE(r[0].ec) << r[0].ec.message();
    EXPECT_EQ(slurp(r[0].file), "Subject: slow disk\r\n\r\nbody\r\n");
    const auto ev = trace.events();
    const auto sync = fs_trace::find(ev, "fsync_dir", (md / "new").string());
    EXPECT_LT(sync, fs_trace::find(ev, "done", "")) << fs_trace::dump(ev);
    ux.join();
}

// The same path with EIO from that fsync: no 250, and the link is gone from new/ again.
TEST_F(MaildirDelivery, SharedDeliveryNewDirFsyncErrorLeavesNoLink) {
    shared_on_strands t(root_, "Subject: x\r\n\r\nbody\r\n");
    ASSERT_TRUE(t.msg);
    auto& [c, ux, d, md, m] = t;
    fs_trace::scope trace;
    trace.fail_fsync_of_dir((md / "new").string(), EIO);
    std::promise<std::vector<delivered>> done;
    d.deliver_shared(m, {"a@x.test"},
                     [&](std::vector<delivered> r) { done.set_value(std::move(r)); });
    m.reset();
    auto r = done.get_future().get();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].ec, std::errc::io_error) << r[0].ec.message();
    EXPECT_NE(reply_for_error(r[0].ec).code, 250);
    EXPECT_EQ(count(md / "new"), 0u);
    ux.join();
}
