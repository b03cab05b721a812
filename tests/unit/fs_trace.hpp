#pragma once
// Test-only interposer for fsync(2), rename(2), renameat2(2) and unlink(2): records the order of
// the calls that make a file durable, injects an errno into the fsync of one directory, or holds
// that fsync until the test releases it (a slow disk, without timing).
//
// Why an interposer: counting fsyncs from above (stats::dir_fsyncs) passes for a committer that
// never fsyncs a directory at all. With the calls recorded, a test checks the order the
// durability argument rests on: rename into dir -> fsync(dir) -> completion, and that a failed
// directory fsync turns into a failed completion (no 250).
//
// How: the definitions below live in the test executable, which the dynamic linker searches
// before libc, so the committer (linked statically into the test) calls them. Each forwards to
// the kernel with syscall(2), so behaviour is unchanged while nothing is traced or injected.
// Include this header from exactly ONE source file per test binary (it defines functions).
// Does not: trace fdatasync/syncfs, or calls made by other processes.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <vector>

namespace fs_trace {

struct event {
    std::string what; // "rename", "fsync_dir", "fsync_file", "unlink" or a test's own mark
    std::string path; // rename/unlink: the path named; fsync: the fd's path (/proc/self/fd)
};

struct state {
    std::mutex m;
    bool on = false;
    std::vector<event> events;
    std::string fail_dir; // fsync of this directory fails with fail_errno ("" = none)
    int fail_errno = 0;
    std::string hold_dir; // fsync of this directory waits until released ("" = none)
    std::condition_variable cv;
    bool held = false; // a thread is waiting in the held fsync
};

inline state& st() {
    static state s;
    return s;
}

inline void record(std::string what, std::string path) {
    auto& s = st();
    std::lock_guard lk(s.m);
    if (s.on) s.events.push_back({std::move(what), std::move(path)});
}

// Starts recording (clears earlier events); the scope stops it and any injected failure.
struct scope {
    scope() {
        std::lock_guard lk(st().m);
        st().on = true;
        st().events.clear();
        st().fail_dir.clear();
    }
    ~scope() {
        std::lock_guard lk(st().m);
        st().on = false;
        st().fail_dir.clear();
        st().hold_dir.clear(); // a failed ASSERT must not leave a thread stuck in fsync
        st().cv.notify_all();
    }
    // Every fsync of `dir` waits (before reaching the kernel) until release_held().
    void hold_fsync_of_dir(std::string dir) {
        std::lock_guard lk(st().m);
        st().hold_dir = std::move(dir);
    }
    // Waits up to `patience` for a thread to be held; true when one is.
    template <class Duration>
    bool wait_until_held(Duration patience) {
        std::unique_lock lk(st().m);
        return st().cv.wait_for(lk, patience, [] { return st().held; });
    }
    void release_held() {
        std::lock_guard lk(st().m);
        st().hold_dir.clear();
        st().cv.notify_all();
    }
    // Every fsync of `dir` (as the kernel names it: a canonical path) fails with `err`.
    void fail_fsync_of_dir(std::string dir, int err) {
        std::lock_guard lk(st().m);
        st().fail_dir = std::move(dir);
        st().fail_errno = err;
    }
    void mark(std::string what, std::string path = {}) { record(std::move(what), std::move(path)); }
    std::vector<event> events() const {
        std::lock_guard lk(st().m);
        return st().events;
    }
};

// Index of the first event (what, path) at or after `from`, or SIZE_MAX.
inline std::size_t find(const std::vector<event>& ev, const std::string& what,
                        const std::string& path, std::size_t from = 0) {
    for (std::size_t i = from; i < ev.size(); ++i)
        if (ev[i].what == what && ev[i].path == path) return i;
    return SIZE_MAX;
}

inline std::string dump(const std::vector<event>& ev) {
    std::string out;
    for (const auto& e : ev) out += "  " + e.what + " " + e.path + "\n";
    return out;
}

inline std::string fd_path(int fd) {
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char buf[PATH_MAX];
    ssize_t n = ::readlink(link, buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

} // namespace fs_trace

extern "C" int fsync(int fd) {
    struct ::stat sb {};
    const bool is_dir = ::fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (fs_trace::st().on) {
        std::string p = fs_trace::fd_path(fd);
        int inject = 0;
        {
            auto& s = fs_trace::st();
            std::unique_lock lk(s.m);
            if (is_dir && !s.fail_dir.empty() && p == s.fail_dir) inject = s.fail_errno;
            if (is_dir && !s.hold_dir.empty() && p == s.hold_dir) {
                s.held = true;
                s.cv.notify_all();
                s.cv.wait(lk, [&] { return s.hold_dir != p; });
                s.held = false;
            }
        }
        fs_trace::record(is_dir ? "fsync_dir" : "fsync_file", p);
        if (inject) {
            errno = inject;
            return -1;
        }
    }
    return static_cast<int>(::syscall(SYS_fsync, fd));
}

extern "C" int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                         unsigned int flags) {
    int rc =
        static_cast<int>(::syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags));
    if (rc == 0) fs_trace::record("rename", newpath);
    return rc;
}

extern "C" int rename(const char* oldpath, const char* newpath) {
    int rc = static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0));
    if (rc == 0) fs_trace::record("rename", newpath);
    return rc;
}

extern "C" int unlink(const char* path) {
    int rc = static_cast<int>(::syscall(SYS_unlinkat, AT_FDCWD, path, 0));
    if (rc == 0) fs_trace::record("unlink", path);
    return rc;
}
