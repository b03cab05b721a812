#pragma once
// Talking to a running relay through its spool: the pid file and the flush signal.
//
// The relay writes <spool>/relay.pid at start-up and removes it on a clean exit.
// `splitmail queue flush` reads it and sends SIGUSR1, on which the relay retries every deferred
// message now. Before signalling, the pid is checked to be alive and to be a splitmail-relay
// (/proc/PID/comm), so a stale pid file never makes us signal an unrelated process.
//
// One relay per spool: lock_spool() takes an exclusive lock (flock on <spool>/relay.lock) that
// the relay holds for its lifetime, before it recovers the spool or writes the pid file. A
// second relay started on the same spool stops there, with the running one's pid in the error,
// instead of moving the running relay's in-flight files aside or deleting its pid file.
//
// Does not: wait for the flush to finish; lock out the CLI (queue list/delete work while the
// relay runs).
#include <expected>
#include <filesystem>
#include <string>
#include <system_error>
#include <sys/types.h>

namespace splitmail::queue {

std::filesystem::path pid_file(const std::filesystem::path& spool_root); // <root>/relay.pid

// Writes the calling process's pid (write temp + rename, so readers never see half a number).
std::error_code write_pid_file(const std::filesystem::path& spool_root);
// Removes the pid file if it names the calling process.
void remove_pid_file(const std::filesystem::path& spool_root);

// Held for the relay's lifetime; the lock goes with the process (also on kill -9).
class spool_lock {
public:
    spool_lock() = default;
    explicit spool_lock(int fd) : fd_(fd) {}
    spool_lock(spool_lock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    spool_lock& operator=(spool_lock&& o) noexcept;
    spool_lock(const spool_lock&) = delete;
    spool_lock& operator=(const spool_lock&) = delete;
    ~spool_lock();

private:
    int fd_ = -1;
};

// Error text when another process holds the lock ("... is in use by splitmail-relay pid N")
// or the lock file cannot be opened.
std::expected<spool_lock, std::string> lock_spool(const std::filesystem::path& spool_root);

enum class flush_result {
    signalled,   // SIGUSR1 sent to a running splitmail-relay
    no_pid_file, // no relay has written a pid file: not running
    not_running, // pid file is stale: no such process
    not_a_relay, // the pid belongs to another program (stale file, reused pid): not signalled
    error        // unreadable pid file or kill() failed; see detail
};

struct flush_outcome {
    flush_result result;
    pid_t pid = 0;
    std::string detail; // human-readable, for the CLI
};

// `expected_comm` is the process name to accept ("splitmail-relay"; tests pass their own).
flush_outcome signal_flush(const std::filesystem::path& spool_root,
                           const std::string& expected_comm = "splitmail-relay");
// The same checks, then SIGHUP: the relay reloads its TLS certificate and DKIM keys
// (`splitmail cert` after a renewal). The outcome kinds are those of signal_flush.
flush_outcome signal_reload(const std::filesystem::path& spool_root,
                            const std::string& expected_comm = "splitmail-relay");

} // namespace splitmail::queue
