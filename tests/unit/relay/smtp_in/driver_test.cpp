// The inbound SMTP driver (smtp_in/driver.cpp) over a scripted in-memory stream, with a real
// spool in a temp dir and a real io_context: a failure is injected at every step of a
// dialogue (each read as a hang-up and as a reset, each write, the TLS handshake, and each
// write, rename/link and fsync of the spool's commit), one failure per run, for every step
// until a run completes without one. After every run:
//   - the session ended (the io_context is run with a deadline);
//   - every message the client saw a 250 for is in the spool: envelope in incoming/ with the
//     sender and recipient it was sent with, message file byte-identical to what was sent;
//   - nothing else is visible: every file in msg/ and incoming/ belongs to a message the driver
//     answered 250 (that answer may itself have failed to reach the client: the duplicate risk
//     of RFC 5321 6.1, never a loss), each such message has both files, tmp/ is empty;
//   - the driver owes no reply (smtp_context::replies_owed is back to 0).
#include "smtp_in/driver.hpp"

#include "recipients/directory.hpp"
#include "unit/relay/smtp_in/scripted_stream.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"
#include "splitmail/queue/spool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace splitmail;
namespace fs = std::filesystem;
using test::scripted_stream;

// One message of a script: the envelope and the message as it must land in msg/<id>.
struct sent_message {
    std::string sender, recipient;
    std::string content; // unstuffed, as stored
};

const sent_message first{"alice@sender.example", "demo@example.test",
                         "Subject: one\r\nFrom: alice@sender.example\r\n\r\nline 1\r\n"
                         ".a line that was dot-stuffed\r\nline 3\r\n"};
const sent_message second{"bob@sender.example", "sales@example.test",
                          "Subject: two\r\n\r\nsecond body\r\n"};

// A dialogue with STARTTLS and two messages, the first one's DATA in three chunks (so the
// client can hang up at each chunk boundary), commands pipelined as a real client would.
std::vector<std::string> tls_script() {
    return {"EHLO client.example\r\n",
            "STARTTLS\r\n",
            "EHLO client.example\r\n",
            "MAIL FROM:<alice@sender.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n",
            "Subject: one\r\nFrom: alice@sender.example\r\n\r\n",
            "line 1\r\n..a line that was dot-stuffed\r\n",
            "line 3\r\n.\r\n",
            "MAIL FROM:<bob@sender.example>\r\nRCPT TO:<sales@example.test>\r\nDATA\r\n",
            "Subject: two\r\n\r\nsecond body\r\n.\r\n",
            "QUIT\r\n"};
}

// The same two messages without TLS, one byte per read.
std::vector<std::string> byte_script() {
    std::string all;
    for (const auto& c : tls_script())
        if (c != "STARTTLS\r\n" && c.rfind("EHLO", 0) != 0) all += c;
    all = "HELO client.example\r\n" + all;
    std::vector<std::string> out;
    for (char c : all) out.emplace_back(1, c);
    return out;
}

// Queue ids of the "250 ... queued as ID" replies in `text`.
std::vector<std::string> queued_ids(const std::string& text) {
    std::vector<std::string> ids;
    std::istringstream in(text);
    std::string line;
    const std::string mark = "250 2.0.0 Ok: queued as ";
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind(mark, 0) == 0) ids.push_back(line.substr(mark.size()));
    }
    return ids;
}

std::set<std::string> names_in(const fs::path& dir, std::string_view strip_suffix = "") {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (!strip_suffix.empty() && n.ends_with(strip_suffix))
            n.resize(n.size() - strip_suffix.size());
        out.insert(n);
    }
    return out;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Failing the n-th spool step of one kind (durable/file.hpp test hooks; they are plain
// function pointers called on committer threads, hence the atomics).
enum class spool_step { write, rename, fsync };
std::atomic<int> g_calls{0};
std::atomic<int> g_fail_at{-1};
std::atomic<int> g_errno{EIO};
std::atomic<bool> g_fired{false};
std::atomic<spool_step> g_kind{spool_step::write};

int count_and_maybe_fail() {
    int n = g_calls.fetch_add(1);
    if (n != g_fail_at.load()) return 0;
    g_fired = true;
    return g_errno.load();
}
int fsync_hook(int, bool) { return g_kind == spool_step::fsync ? count_and_maybe_fail() : 0; }
int step_hook(durable::test_hooks::step s) {
    if (s == durable::test_hooks::step::write && g_kind == spool_step::write)
        return count_and_maybe_fail();
    if (s == durable::test_hooks::step::rename && g_kind == spool_step::rename)
        return count_and_maybe_fail();
    return 0;
}

// A spool, a recipient list (demo@ and sales@example.test) and a relay context, shared by
// every run of a test; each run starts from an empty spool.
class DriverFailure : public ::testing::Test {
protected:
    void SetUp() override {
        // Hundreds of sessions: only their errors are worth reading.
        saved_level_ = log::min_level();
        log::set_min_level(log::level::error);
        // tmpfs when there is one: the runs fsync a lot and the test is about what the code
        // does with fsync's result (the hooks), not about the disk.
        fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
        root_ = base / ("drivertest-" + std::to_string(::getpid()) + "-" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
        auto sp = queue::spool::open(root_ / "spool", committer_);
        ASSERT_TRUE(sp) << sp.error().message();
        spool_.emplace(std::move(*sp));

        s_.hostname = "relay.example.test";
        s_.domains = {"example.test"};
        s_.max_message_size = 1 << 20;
        directory_.emplace(s_.domains, root_ / "recipients.json");
        auto snap =
            relay::parse_xdirectory({"version 1", "domain example.test", "rcpt demo@example.test",
                                     "rcpt sales@example.test", "end"});
        ASSERT_TRUE(snap) << snap.error();
        ASSERT_TRUE(directory_->update(*snap));

        tls_ = std::make_shared<net::asio::ssl::context>(net::asio::ssl::context::tls_server);
        ctx_.s = &s_;
        ctx_.spool = &*spool_;
        ctx_.directory = &*directory_;
        ctx_.tls = &tls_;
        ctx_.on_queued = [this](queue::envelope e) { queued_.insert(e.id); };
        ctx_.replies_owed = &owed_;
    }
    void TearDown() override {
        fs::remove_all(root_);
        log::set_min_level(saved_level_);
    }

    struct outcome {
        bool ended = false;
        bool threw = false;
    };

    // Runs one session over `st` with a deadline; the session must end by itself.
    outcome run(scripted_stream& st) {
        queued_.clear();
        outcome o;
        net::asio::io_context io;
        net::asio::co_spawn(io, relay::serve_smtp(st, ctx_), [&o](std::exception_ptr e) {
            o.ended = true;
            o.threw = e != nullptr;
        });
        io.run_for(std::chrono::seconds(20));
        return o;
    }

    // The invariants of the file comment, then an empty spool for the next run.
    void check_and_clear(const scripted_stream& st, const outcome& o,
                         const std::vector<sent_message>& msgs, const std::string& what) {
        SCOPED_TRACE(what);
        ASSERT_TRUE(o.ended) << "the session did not end (hang)";
        EXPECT_EQ(owed_, 0u) << "a DATA reply is still counted as owed";
        const fs::path root = spool_->root();
        auto acked = queued_ids(st.written);
        auto decided_list = queued_ids(st.attempted);
        std::set<std::string> decided(decided_list.begin(), decided_list.end());
        auto in_msg = names_in(root / "msg");
        auto in_incoming = names_in(root / "incoming", ".json");
        for (const char* d : {"tmp", "deferred", "hold", "corrupt"})
            EXPECT_TRUE(names_in(root / d).empty()) << d << "/ is not empty";
        // Acknowledged -> durable, complete, byte-identical.
        for (const auto& id : acked) {
            EXPECT_TRUE(in_msg.count(id)) << "acknowledged " << id << " has no message file";
            auto env = spool_->load(id);
            ASSERT_TRUE(env) << "acknowledged " << id << " has no envelope";
            std::string content = slurp(spool_->message_path(id));
            const sent_message* match = nullptr;
            for (const auto& m : msgs)
                if (m.content == content) match = &m;
            ASSERT_NE(match, nullptr)
                << "message file of " << id << " is not a message sent: " << content;
            EXPECT_EQ(env->sender, match->sender);
            ASSERT_EQ(env->recipients.size(), 1u);
            EXPECT_EQ(env->recipients[0].address, match->recipient);
            struct ::stat sb {};
            ASSERT_EQ(::stat(spool_->message_path(id).c_str(), &sb), 0);
            EXPECT_EQ(sb.st_mode & 0777, 0700u) << "queued message not marked complete";
        }
        // Visible -> answered 250 by the driver, and complete (both files).
        for (const auto& id : in_msg) {
            EXPECT_TRUE(decided.count(id)) << "msg/" << id << " was never answered 250";
            EXPECT_TRUE(in_incoming.count(id)) << "msg/" << id << " without an envelope";
        }
        for (const auto& id : in_incoming) {
            EXPECT_TRUE(decided.count(id)) << "incoming/" << id << " was never answered 250";
            EXPECT_TRUE(in_msg.count(id)) << "incoming/" << id << " without its message";
        }
        EXPECT_EQ(queued_, decided) << "runner told about other messages than were answered";
        for (const char* d : {"msg", "incoming"})
            for (const auto& e : fs::directory_iterator(root / d)) fs::remove(e.path());
    }

    durable::committer committer_{durable::options{2, 1, 1}};
    std::optional<queue::spool> spool_;
    relay::settings s_;
    std::optional<relay::recipient_directory> directory_;
    net::tls_context tls_;
    relay::smtp_context ctx_;
    std::set<std::string> queued_;
    std::size_t owed_ = 0;
    fs::path root_;
    log::level saved_level_ = log::level::info;
};

std::string op_name(scripted_stream::op o) {
    switch (o) {
    case scripted_stream::op::read: return "read";
    case scripted_stream::op::write: return "write";
    case scripted_stream::op::tls: return "tls";
    }
    return "?";
}

// Every stream operation of `script` fails in turn (reads both as a hang-up and as a reset).
// Returns the number of runs with an injected failure.
std::size_t fail_every_stream_step(const std::function<void(scripted_stream&)>& run_and_check,
                                   const std::vector<std::string>& script,
                                   std::vector<scripted_stream::op>& clean_ops) {
    std::size_t runs = 0;
    for (std::size_t k = 0;; ++k) {
        if (k > 10000) {
            ADD_FAILURE() << "the dialogue never completes";
            break;
        }
        bool any_failed = false;
        using rf = scripted_stream::read_failure;
        for (auto mode : {rf::eof, rf::reset}) {
            scripted_stream st(script);
            st.fail_at = k;
            st.on_read = mode;
            run_and_check(st);
            if (st.failed) {
                ++runs;
                any_failed = true;
            } else {
                clean_ops = st.ops;
            }
            // Only reads have two ways to fail.
            if (!st.failed || st.ops.at(k) != scripted_stream::op::read) break;
        }
        if (!any_failed) break;
    }
    return runs;
}

TEST_F(DriverFailure, CleanDialogueQueuesBoth) {
    scripted_stream st(tls_script());
    auto o = run(st);
    EXPECT_FALSE(o.threw);
    EXPECT_EQ(queued_ids(st.written).size(), 2u) << st.written;
    EXPECT_NE(st.written.find("221 "), std::string::npos) << st.written;
    EXPECT_TRUE(st.is_tls());
    // The server's side of the script: the code of each reply (last line of multi-line ones).
    std::vector<int> codes;
    std::istringstream in(st.written);
    for (std::string line; std::getline(in, line);)
        if (line.size() > 3 && line[3] == ' ') codes.push_back(std::stoi(line.substr(0, 3)));
    EXPECT_EQ(codes,
              (std::vector<int>{220, 250, 220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221}))
        << st.written;
    check_and_clear(st, o, {first, second}, "clean");
}

TEST_F(DriverFailure, EveryStreamStepWithTls) {
    std::vector<scripted_stream::op> clean;
    auto runs = fail_every_stream_step(
        [this](scripted_stream& st) {
            auto o = run(st);
            std::string what =
                "fail_at=" + std::to_string(st.fail_at) +
                (st.on_read == scripted_stream::read_failure::eof ? " (eof)" : " (reset)");
            if (st.failed) what += " " + op_name(st.ops.at(st.fail_at));
            check_and_clear(st, o, {first, second}, what);
            // A run the failure did not reach completes the dialogue.
            if (!st.failed) {
                EXPECT_EQ(queued_ids(st.written).size(), 2u) << st.written;
            }
        },
        tls_script(), clean);
    // 10 reads (+1 for the end of stream), a write per reply group, the handshake.
    std::size_t reads = 0, writes = 0, tls = 0;
    for (auto o : clean)
        (o == scripted_stream::op::read ? reads : o == scripted_stream::op::write ? writes : tls)++;
    EXPECT_EQ(tls, 1u);
    EXPECT_GE(reads, tls_script().size());
    EXPECT_GE(writes, 8u);
    EXPECT_EQ(runs, clean.size() + reads); // every op once, reads twice
}

TEST_F(DriverFailure, ClientDropsAtEveryByte) {
    std::vector<scripted_stream::op> clean;
    auto runs = fail_every_stream_step(
        [this](scripted_stream& st) {
            auto o = run(st);
            check_and_clear(st, o, {first, second}, "fail_at=" + std::to_string(st.fail_at));
            if (!st.failed) {
                EXPECT_EQ(queued_ids(st.written).size(), 2u) << st.written;
            }
        },
        byte_script(), clean);
    EXPECT_GE(runs, 2 * byte_script().size());
}

// Each write, rename/link and fsync of the spool fails in turn (EIO, and ENOSPC for writes).
void fail_every_spool_step(spool_step kind, int err,
                           const std::function<void(scripted_stream&, const std::string&)>& check,
                           int& steps) {
    g_kind = kind;
    g_errno = err;
    durable::test_hooks::scoped_fsync_hook fh(fsync_hook);
    durable::test_hooks::scoped_step_hook sh(step_hook);
    for (int n = 0;; ++n) {
        if (n > 1000) {
            ADD_FAILURE() << "the spool steps never end";
            break;
        }
        g_calls = 0;
        g_fired = false;
        g_fail_at = n;
        scripted_stream st(tls_script());
        check(st, "spool step " + std::to_string(n) + " fails with " + std::strerror(err));
        if (!g_fired) {
            steps = n;
            break;
        }
        // The failed message got a temporary error, the other one went through.
        auto acked = queued_ids(st.written);
        EXPECT_EQ(acked.size(), 1u) << st.written;
        const char* expect = err == ENOSPC ? "452 4.3.1 " : "451 4.3.0 ";
        EXPECT_NE(st.written.find(expect), std::string::npos) << st.written;
    }
    g_fail_at = -1;
}

class DriverSpoolFailure : public DriverFailure {
protected:
    std::function<void(scripted_stream&, const std::string&)> checker() {
        return [this](scripted_stream& st, const std::string& what) {
            auto o = run(st);
            EXPECT_FALSE(o.threw) << what;
            check_and_clear(st, o, {first, second}, what);
        };
    }
};

TEST_F(DriverSpoolFailure, EveryWrite) {
    int steps = 0;
    fail_every_spool_step(spool_step::write, EIO, checker(), steps);
    // Per message: header and body chunks into the temp file, the envelope.
    EXPECT_GE(steps, 2 * 3);
    fail_every_spool_step(spool_step::write, ENOSPC, checker(), steps);
}

TEST_F(DriverSpoolFailure, EveryRenameAndLink) {
    int steps = 0;
    fail_every_spool_step(spool_step::rename, EIO, checker(), steps);
    EXPECT_EQ(steps, 2 * 2); // per message: link of msg/<id>, rename of the envelope
}

TEST_F(DriverSpoolFailure, EveryFsync) {
    int steps = 0;
    fail_every_spool_step(spool_step::fsync, EIO, checker(), steps);
    // Per message: message file, msg/, envelope file, incoming/.
    EXPECT_EQ(steps, 2 * 4);
}

// A client that goes silent at any point of the first message (before and inside DATA) is cut
// off at its deadline with 421 4.4.2, and its unfinished message leaves nothing behind.
TEST_F(DriverFailure, SilentClientIsCutOffAtItsDeadline) {
    s_.helo_timeout = std::chrono::seconds(1);
    s_.idle_timeout = std::chrono::seconds(1); // the DATA and command deadlines
    auto script = tls_script();
    scripted_stream clean(script);
    run(clean);
    check_and_clear(clean, {true, false}, {first, second}, "clean");
    std::vector<std::size_t> reads; // op index of each read of the clean dialogue
    for (std::size_t i = 0; i < clean.ops.size(); ++i)
        if (clean.ops[i] == scripted_stream::op::read) reads.push_back(i);
    ASSERT_GE(reads.size(), 7u);
    // Silent before EHLO (helo deadline), before MAIL (idle), before and inside DATA (DATA
    // deadline): reads 0, 3, 4, 5, 6 are EHLO, MAIL/RCPT/DATA and the three DATA chunks.
    for (std::size_t r : {0u, 3u, 4u, 5u, 6u}) {
        const std::size_t stall = reads[r];
        scripted_stream st(script);
        st.stall_from = stall;
        auto start = net::clock::now();
        auto o = run(st);
        auto took = net::clock::now() - start;
        check_and_clear(st, o, {first, second}, "silent from op " + std::to_string(stall));
        EXPECT_LT(took, std::chrono::seconds(5));
        EXPECT_TRUE(queued_ids(st.written).empty()) << st.written;
        EXPECT_NE(st.written.find("421 4.4.2 "), std::string::npos) << st.written;
    }
}

} // namespace
