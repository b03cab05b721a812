// Micro benchmark of durable-commit strategies for the relay's spool (not a test).
//
// One "message commit" is what the spool does before it may answer 250: a message file (5 KB)
// and then an envelope file (600 B), each written to tmp/, fsync'd, renamed into its directory
// (msg/, incoming/), with the directory fsync'd before the next step. `sessions` clients each
// commit one message at a time (closed loop, like concurrent SMTP sessions waiting for 250).
//
//   serial      one thread, no sharing: the disk's floor
//   parallel    one thread per session, each doing the serial steps (no dir-fsync sharing)
//   srange      parallel, but sync_file_range(WRITE) right after write, then fdatasync
//   syncfs      sessions write+rename without fsync; one syncfs(2) at a time covers them all
//   inplace[:T[:K]]    the same, the message file written in place (file::in_place)
//   committer[:T[:K]]  splitmail::durable::committer: T threads for file fsyncs, at most K
//               directory fsyncs in flight per directory, renames meanwhile share the next one
//
// Usage: fsync_bench [DIR] [MESSAGES] [SESSIONS] [STRATEGY...]
#include "splitmail/durable/committer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

const std::string message(5 * 1024, 'm');
const std::string envelope(600, 'e');

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

enum class sync_mode { fsync, srange, none };

void write_file(const fs::path& tmp, const std::string& data, sync_mode mode) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("open");
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) die("write");
    if (mode == sync_mode::fsync && ::fsync(fd) != 0) die("fsync");
    if (mode == sync_mode::srange) {
        if (::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0) die("sync_file_range");
        if (::fdatasync(fd) != 0) die("fdatasync");
    }
    ::close(fd);
}

void sync_dir(const fs::path& d) {
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || ::fsync(fd) != 0) die("fsync dir");
    ::close(fd);
}

void one_message(const fs::path& root, const std::string& id, sync_mode mode) {
    write_file(root / "tmp" / id, message, mode);
    if (::rename((root / "tmp" / id).c_str(), (root / "msg" / id).c_str()) != 0) die("rename");
    sync_dir(root / "msg");
    write_file(root / "tmp" / (id + ".json"), envelope, mode);
    if (::rename((root / "tmp" / (id + ".json")).c_str(),
                 (root / "incoming" / (id + ".json")).c_str()))
        die("rename");
    sync_dir(root / "incoming");
}

// syncfs group: sessions register their renames, one syncfs at a time covers all earlier ones.
struct syncfs_group {
    std::mutex m;
    std::condition_variable cv;
    std::uint64_t requested = 0, done = 0;
    bool running = false;
    int fd;
    explicit syncfs_group(const fs::path& root)
        : fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY)) {}
    void wait_durable() {
        std::unique_lock lk(m);
        std::uint64_t my = ++requested;
        for (;;) {
            if (done >= my) return;
            if (!running) {
                running = true;
                std::uint64_t covers = requested;
                lk.unlock();
                if (::syncfs(fd) != 0) die("syncfs");
                lk.lock();
                running = false;
                done = covers;
                cv.notify_all();
            } else {
                cv.wait(lk);
            }
        }
    }
};

double run(const std::string& strategy, const fs::path& root, int messages, int sessions,
           std::string& extra) {
    fs::remove_all(root);
    for (auto d : {"tmp", "msg", "incoming"}) fs::create_directories(root / d);
    sync_dir(root);
    std::atomic<int> next{0};
    auto t0 = clk::now();
    if (strategy == "serial") {
        for (int i = 0; i < messages; ++i)
            one_message(root, "m" + std::to_string(i), sync_mode::fsync);
    } else if (strategy == "parallel" || strategy == "srange") {
        auto mode = strategy == "parallel" ? sync_mode::fsync : sync_mode::srange;
        std::vector<std::thread> ts;
        for (int s = 0; s < sessions; ++s)
            ts.emplace_back([&] {
                for (int i; (i = next++) < messages;)
                    one_message(root, "m" + std::to_string(i), mode);
            });
        for (auto& t : ts) t.join();
    } else if (strategy == "syncfs") {
        syncfs_group g(root);
        std::vector<std::thread> ts;
        for (int s = 0; s < sessions; ++s)
            ts.emplace_back([&] {
                for (int i; (i = next++) < messages;) {
                    std::string id = "m" + std::to_string(i);
                    write_file(root / "tmp" / id, message, sync_mode::none);
                    ::rename((root / "tmp" / id).c_str(), (root / "msg" / id).c_str());
                    g.wait_durable(); // message durable before the envelope appears
                    write_file(root / "tmp" / (id + ".json"), envelope, sync_mode::none);
                    ::rename((root / "tmp" / (id + ".json")).c_str(),
                             (root / "incoming" / (id + ".json")).c_str());
                    g.wait_durable();
                }
            });
        for (auto& t : ts) t.join();
    } else if (strategy.rfind("committer", 0) == 0 || strategy.rfind("inplace", 0) == 0) {
        // committer[:THREADS[:DIR_FSYNCS_IN_FLIGHT]], inplace[:...] (message file in place)
        const bool in_place = strategy[0] == 'i';
        const std::size_t name_len = in_place ? 7 : 9;
        splitmail::durable::options o;
        if (strategy.size() > name_len + 1) {
            std::string rest = strategy.substr(name_len + 1);
            o.threads = std::stoul(rest);
            if (auto colon = rest.find(':'); colon != std::string::npos)
                o.dir_fsyncs_in_flight = std::stoul(rest.substr(colon + 1));
        }
        splitmail::durable::committer c(o);
        std::vector<std::thread> ts;
        for (int s = 0; s < sessions; ++s)
            ts.emplace_back([&] {
                for (int i; (i = next++) < messages;) {
                    std::string id = "m" + std::to_string(i);
                    splitmail::durable::request r;
                    r.tmp_dir = root / "tmp";
                    r.files.push_back({root / "msg" / id, {message}, false, in_place});
                    r.files.push_back(
                        {root / "incoming" / (id + ".json"), {envelope}, false, false});
                    if (auto ec = c.commit(std::move(r))) {
                        std::fprintf(stderr, "commit: %s\n", ec.message().c_str());
                        std::exit(1);
                    }
                }
            });
        for (auto& t : ts) t.join();
        auto st = c.counters();
        extra = "file_fsyncs=" + std::to_string(st.file_fsyncs) +
                " dir_fsyncs=" + std::to_string(st.dir_fsyncs);
    } else {
        std::fprintf(stderr, "unknown strategy %s\n", strategy.c_str());
        std::exit(2);
    }
    double secs = std::chrono::duration<double>(clk::now() - t0).count();
    fs::remove_all(root);
    return messages / secs;
}

} // namespace

int main(int argc, char** argv) {
    fs::path dir = argc > 1 ? argv[1] : "/work/fsync-bench.tmp";
    int messages = argc > 2 ? std::atoi(argv[2]) : 2000;
    int sessions = argc > 3 ? std::atoi(argv[3]) : 20;
    std::vector<std::string> strategies;
    for (int i = 4; i < argc; ++i) strategies.push_back(argv[i]);
    if (strategies.empty())
        strategies = {"serial",       "parallel",   "srange",         "syncfs",
                      "committer:16", "inplace:16", "committer:16:2", "inplace:16:2",
                      "committer:32", "inplace:32"};
    std::printf("dir=%s messages=%d sessions=%d (one message = 5 KB file + 600 B envelope, "
                "ordered, 2 file fsyncs + 2 dir fsyncs when unshared)\n",
                dir.c_str(), messages, sessions);
    for (const auto& s : strategies) {
        std::string extra;
        // serial is slow and does not depend on sessions: a quarter of the messages is enough.
        int n = s == "serial" ? std::max(200, messages / 4) : messages;
        double rate = run(s, dir / "spool", n, sessions, extra);
        std::printf("%-14s %8.0f msg/s  %s\n", s.c_str(), rate, extra.c_str());
        std::fflush(stdout);
    }
    fs::remove_all(dir);
    return 0;
}
