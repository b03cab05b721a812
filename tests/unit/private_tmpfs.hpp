#pragma once
// Test-only: a small tmpfs for the disk-full (ENOSPC) unit tests, mounted in a mount namespace
// private to the test process.
//
// Why: a tmpfs mounted in the host's mount namespace outlives a test that is killed (a ctest
// timeout, SIGKILL): no destructor runs, the mount stays under /tmp for good. A mount made in a
// private namespace goes away with the namespace, which the kernel drops when its last task
// exits, however it exits.
//
// How: unshare(CLONE_NEWNS) once, then make every mount private (MS_REC|MS_PRIVATE on "/"), so
// the new mount does not propagate back into the host's namespace (systemd makes "/" shared).
// A mount namespace belongs to a thread: unshare() moves the calling thread, and threads it
// starts afterwards inherit it. So mount before starting the threads that write to the mount
// (a committer, a deliverer): construct them after this call, on the test's thread.
// Does not: work without CAP_SYS_ADMIN (the caller skips loudly with the returned reason).
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sched.h>
#include <string>

namespace private_tmpfs {

// "" once `where` has a tmpfs with `options` (e.g. "size=64k,mode=0700") in this thread's
// private mount namespace; else why not. Call unmount() when done (a destructor, so an early
// ASSERT unmounts too); a killed test needs no cleanup.
inline std::string mount(const std::filesystem::path& where, const char* options) {
    static std::string unshared = [] {
        if (::unshare(CLONE_NEWNS) != 0)
            return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
        if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return std::string("make / private: ") + std::strerror(errno);
        return std::string();
    }();
    if (!unshared.empty()) return unshared;
    if (::mount("tmpfs", where.c_str(), "tmpfs", 0, options) != 0)
        return std::string("mount tmpfs: ") + std::strerror(errno);
    return "";
}

inline void unmount(const std::filesystem::path& where) { ::umount2(where.c_str(), MNT_DETACH); }

} // namespace private_tmpfs
