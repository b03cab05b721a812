#pragma once
// Password hashes checked in worker processes, the way Dovecot's auth process keeps them out
// of its imap processes (issue 12, isolation). An argon2id check maps 64 MiB, touches every
// page of it and unmaps it again; in splitmail-home's own address space that held the process's
// memory map lock and made other users' commands wait on page faults and TLB shootdowns for
// milliseconds at a time (a probe thread allocating 200 KB per "command" next to a thread
// checking argon2id hashes: worst case 12.5 ms in the same process, 0.7 ms with the hashing in
// another process). In a worker the memory traffic is the worker's alone.
//
// A worker is `splitmail-home --hash-worker` (this program again, started with posix_spawn, so
// nothing of the daemon's state is inherited), at nice +10, talking over a socketpair on its
// stdin/stdout: request "u32 length of the password, u32 length of the hash, password, hash",
// answer one octet, the users::verify_result. It exits at the end of its input (the daemon
// closed the socket or died).
//
// Guarantees: verify() gives the same answer as users::verify_password in this process; one
// worker serves one check at a time, and there are as many workers as callers may run at
// once (the password-hash pool's threads), so a caller never waits for another's check; a
// worker that fails (exit, crash, no answer within answer_timeout) is killed, reaped and
// replaced by a fresh one that gets the same check; only if that one fails too is the check
// made in this process (logged: logins keep working); password octets are overwritten after
// use on both sides.
// Does not: limit how often it is called (the login brake does), or run on the io thread
// (verify blocks: the pool threads call it).
#include "splitmail/users/password.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace splitmail::home {

// The worker: answers requests read from `in` on `out` until `in` ends; the exit status.
int hash_worker_main(int in, int out);
inline constexpr const char* hash_worker_flag = "--hash-worker";

class hash_workers {
public:
    static constexpr std::size_t max_field = 64 * 1024; // a password or hash longer is refused
    static constexpr std::chrono::seconds answer_timeout{30};

    // `n` workers running `exe --hash-worker` at `nice`; started on first use.
    hash_workers(std::size_t n, std::filesystem::path exe, int nice);
    ~hash_workers(); // closes the sockets and reaps the workers
    hash_workers(const hash_workers&) = delete;
    hash_workers& operator=(const hash_workers&) = delete;

    users::verify_result verify(std::string_view password, std::string_view hash);

    // Workers running now, their process ids (tests).
    std::vector<pid_t> pids();

private:
    struct worker {
        std::atomic<pid_t> pid{-1}; // read by pids() while a check runs
        int fd = -1;
        bool busy = false; // under mu_
    };
    bool start(worker& w);
    void stop(worker& w);
    std::optional<users::verify_result> ask(worker& w, std::string_view password,
                                            std::string_view hash);

    std::filesystem::path exe_;
    int nice_;
    std::mutex mu_;
    std::condition_variable free_;
    std::vector<worker> workers_;
};

} // namespace splitmail::home
