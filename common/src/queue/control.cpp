// Pid file and flush signal: see control.hpp.
#include "splitmail/queue/control.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/file.h>
#include <string>
#include <unistd.h>

namespace splitmail::queue {

namespace fs = std::filesystem;

fs::path pid_file(const fs::path& spool_root) { return spool_root / "relay.pid"; }

std::error_code write_pid_file(const fs::path& spool_root) {
    const fs::path final_path = pid_file(spool_root);
    const fs::path tmp = spool_root / ("relay.pid." + std::to_string(::getpid()) + ".tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return {errno, std::generic_category()};
    const std::string text = std::to_string(::getpid()) + "\n";
    int err = 0;
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        err = errno ? errno : EIO;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), final_path.c_str()) != 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        return {err, std::generic_category()};
    }
    return {};
}

spool_lock& spool_lock::operator=(spool_lock&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

spool_lock::~spool_lock() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {
pid_t read_pid(const fs::path& p, int& err);
}

std::expected<spool_lock, std::string> lock_spool(const fs::path& spool_root) {
    const fs::path lf = spool_root / "relay.lock";
    // Read-only: flock(2) needs no write access, and a file held open for writing would make
    // the spool's file system busy for a read-only remount.
    int fd = ::open(lf.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(lf.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ::close(fd);
        if (e != EWOULDBLOCK)
            return std::unexpected(lf.string() + ": cannot lock: " + std::strerror(e));
        int err = 0;
        pid_t other = read_pid(pid_file(spool_root), err);
        return std::unexpected("spool " + spool_root.string() +
                               " is in use by another splitmail-relay" +
                               (other > 0 ? " (pid " + std::to_string(other) + ")" : "") +
                               "; one relay per spool: stop that one first, or give this one "
                               "its own spool.dir");
    }
    return spool_lock(fd);
}

namespace {

// The pid in the file, or 0 if missing (errno ENOENT) or unreadable/garbled.
pid_t read_pid(const fs::path& p, int& err) {
    std::ifstream in(p);
    if (!in) {
        err = errno ? errno : ENOENT;
        return 0;
    }
    long pid = 0;
    if (!(in >> pid) || pid <= 1) {
        err = EBADMSG;
        return 0;
    }
    err = 0;
    return static_cast<pid_t>(pid);
}

} // namespace

void remove_pid_file(const fs::path& spool_root) {
    int err = 0;
    if (read_pid(pid_file(spool_root), err) == ::getpid()) ::unlink(pid_file(spool_root).c_str());
}

namespace {

// Sends `sig` to the relay named by the pid file, after checking it is one; `done` is the
// success text ("flush requested: sent SIGUSR1").
flush_outcome signal_relay(const fs::path& spool_root, const std::string& expected_comm, int sig,
                           const char* sig_name, const std::string& done) {
    const fs::path pf = pid_file(spool_root);
    int err = 0;
    pid_t pid = read_pid(pf, err);
    if (pid == 0) {
        if (err == ENOENT)
            return {flush_result::no_pid_file, 0,
                    "no relay is running (no pid file " + pf.string() + ")"};
        return {flush_result::error, 0, pf.string() + ": " + std::strerror(err)};
    }
    if (::kill(pid, 0) != 0 && errno == ESRCH)
        return {flush_result::not_running, pid,
                "no relay is running (stale pid file " + pf.string() + ": no process " +
                    std::to_string(pid) + ")"};
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name != expected_comm)
        return {flush_result::not_a_relay, pid,
                "process " + std::to_string(pid) + " from " + pf.string() + " is '" + name +
                    "', not " + expected_comm + ": not signalled (stale pid file?)"};
    if (::kill(pid, sig) != 0)
        return {flush_result::error, pid,
                "kill(" + std::to_string(pid) + ", " + sig_name + "): " + std::strerror(errno)};
    return {flush_result::signalled, pid, done + " to splitmail-relay pid " + std::to_string(pid)};
}

} // namespace

flush_outcome signal_flush(const fs::path& spool_root, const std::string& expected_comm) {
    return signal_relay(spool_root, expected_comm, SIGUSR1, "SIGUSR1",
                        "flush requested: sent SIGUSR1");
}

flush_outcome signal_reload(const fs::path& spool_root, const std::string& expected_comm) {
    return signal_relay(spool_root, expected_comm, SIGHUP, "SIGHUP",
                        "reload requested: sent SIGHUP");
}

} // namespace splitmail::queue
