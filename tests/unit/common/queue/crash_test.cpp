// kill -9 during a burst of concurrent enqueues: every message whose completion reported
// success (the relay's "250") is found intact by recover(); nothing half-written is scheduled.
// (A process crash, not a power cut: the fsyncs are what a power cut needs, and the ordering
// they enforce is checked in committer_test.)
#include "splitmail/queue/id.hpp"
#include "splitmail/queue/spool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace splitmail;
using namespace splitmail::queue;

namespace {

std::string body_for(const std::string& id) {
    std::string b = "Subject: " + id + "\r\n\r\n";
    for (int i = 0; i < 60; ++i) b += "line " + std::to_string(i) + " of " + id + "\r\n";
    return b;
}

// Child: enqueue from 20 "sessions" until killed; write each acknowledged id to `fd`.
[[noreturn]] void producer(const fs::path& root, int fd) {
    durable::committer c;
    auto s = spool::open(root, c);
    if (!s) ::_exit(3);
    std::atomic<int> inflight{0};
    for (;;) {
        while (inflight.load() >= 20) std::this_thread::sleep_for(std::chrono::microseconds(100));
        envelope e;
        e.id = make_id();
        e.sender = "load@example.org";
        e.recipients.emplace_back();
        e.recipients.back().address = "demo@example.test";
        std::string id = e.id;
        ++inflight;
        s->enqueue(std::move(e), "Received: test\r\n", body_for(id),
                   [&inflight, fd, id](std::error_code ec) {
                       if (!ec) {
                           std::string line = id + "\n";
                           if (::write(fd, line.data(), line.size()) < 0) ::_exit(4);
                       }
                       --inflight;
                   });
    }
}

} // namespace

TEST(spool_crash, kill_9_loses_no_acknowledged_message) {
    std::string tmpl = (fs::temp_directory_path() / "spool-crash-XXXXXX").string();
    const fs::path dir = ::mkdtemp(tmpl.data());
    const fs::path root = dir / "spool";
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(p[0]);
        producer(root, p[1]);
    }
    ::close(p[1]);
    // Let it run until a few hundred messages were acknowledged, then kill it mid-flight.
    std::string acked_text;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::count(acked_text.begin(), acked_text.end(), '\n') < 300 &&
           std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n <= 0) break;
        acked_text.append(buf, static_cast<std::size_t>(n));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "producer exited by itself, status " << status;
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;)
        acked_text.append(buf, static_cast<std::size_t>(n));
    ::close(p[0]);

    std::set<std::string> acked;
    for (std::size_t pos = 0, nl; (nl = acked_text.find('\n', pos)) != std::string::npos;
         pos = nl + 1)
        acked.insert(acked_text.substr(pos, nl - pos));
    ASSERT_GE(acked.size(), 50u) << "too few messages before the kill to mean anything";

    durable::committer c;
    auto s = spool::open(root, c, false);
    ASSERT_TRUE(s);
    auto rep = s->recover(std::chrono::seconds{0}); // orphans of the killed commits go aside
    ASSERT_TRUE(rep) << rep.error().message();
    std::set<std::string> recovered;
    for (const auto& e : rep->envelopes) {
        recovered.insert(e.id);
        auto m = s->read_message(e.id);
        ASSERT_TRUE(m) << e.id;
        EXPECT_EQ(*m, "Received: test\r\n" + body_for(e.id)) << "scheduled message incomplete";
        EXPECT_EQ(e.size, m->size());
    }
    for (const auto& id : acked) EXPECT_TRUE(recovered.contains(id)) << "lost acknowledged " << id;
    // Only never-acknowledged commits can have been cut off: recovery proves it from the
    // message file's mode and removes them; nothing is left for the administrator.
    EXPECT_TRUE(rep->moved_to_corrupt.empty())
        << rep->moved_to_corrupt.size() << " routine leftovers moved to corrupt/, first "
        << rep->moved_to_corrupt.front();
    for (const auto& left : rep->leftovers) {
        std::string id = fs::path(left.substr(0, left.find(':'))).filename().string();
        EXPECT_FALSE(acked.contains(id)) << "acknowledged message removed: " << left;
    }
    EXPECT_EQ(std::distance(fs::directory_iterator(root / "tmp"), fs::directory_iterator{}), 0);
    std::printf(
        "  crash: %zu acknowledged, %zu recovered, %zu leftovers removed, %zu tmp removed\n",
        acked.size(), recovered.size(), rep->leftovers.size(), rep->tmp_removed);
    fs::remove_all(dir);
}
