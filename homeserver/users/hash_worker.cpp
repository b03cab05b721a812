// Password-hash worker processes; see hash_worker.hpp.
#include "users/hash_worker.hpp"

#include "splitmail/log/log.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace splitmail::home {
namespace {

// Exactly n octets, or false (end of input, an error, or no progress within `timeout_ms`;
// -1: no limit).
bool read_exact(int fd, void* buf, std::size_t n, int timeout_ms = -1) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        if (timeout_ms >= 0) {
            pollfd q{fd, POLLIN, 0};
            int r = ::poll(&q, 1, timeout_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
        }
        ssize_t k = ::read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

bool write_exact(int fd, const void* buf, std::size_t n) {
    const auto* p = static_cast<const char*>(buf);
    while (n > 0) {
        // send: no SIGPIPE when the peer is gone; write for a pipe or a terminal (tests).
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == ENOTSOCK) k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

void wipe(std::string& s) {
    // volatile stores: not optimised away before the memory is reused.
    volatile char* p = s.data();
    for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
}

} // namespace

int hash_worker_main(int in, int out) {
    // Started as /proc/self/exe, so ps/top would call it "exe": name it after what it is.
    ::prctl(PR_SET_NAME, "splitmail-hash", 0, 0, 0);
    std::signal(SIGPIPE, SIG_IGN);
    std::string password, hash;
    password.reserve(1024);
    for (;;) {
        std::uint32_t len[2];
        if (!read_exact(in, len, sizeof len)) return 0; // the daemon closed: done
        if (len[0] > hash_workers::max_field || len[1] > hash_workers::max_field) return 1;
        wipe(password);
        password.resize(len[0]);
        hash.resize(len[1]);
        if (!read_exact(in, password.data(), len[0]) || !read_exact(in, hash.data(), len[1]))
            return 1;
        const auto r = users::verify_password(password, hash);
        wipe(password);
        const auto answer = static_cast<unsigned char>(r);
        if (!write_exact(out, &answer, 1)) return 1;
    }
}

hash_workers::hash_workers(std::size_t n, std::filesystem::path exe, int nice)
    : exe_(std::move(exe)), nice_(nice), workers_(std::max<std::size_t>(n, 1)) {}

hash_workers::~hash_workers() {
    for (auto& w : workers_) stop(w);
}

bool hash_workers::start(worker& w) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    // The worker's stdin and stdout are its end of the socket; nothing else of the daemon's
    // (listening sockets, client connections, Maildir files) is passed on.
    ::posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    ::posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    ::posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::string path = exe_.string();
    std::string flag = hash_worker_flag;
    // argv[0] is what `ps` shows: the daemon's name, not /proc/self/exe.
    std::string name = "splitmail-home";
    char* argv[] = {name.data(), flag.data(), nullptr};
    pid_t pid = -1;
    // The daemon's environment (no secrets in it; sanitizer options reach the worker too).
    int e = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, environ);
    ::posix_spawn_file_actions_destroy(&fa);
    ::close(sv[1]);
    if (e != 0) {
        ::close(sv[0]);
        log::error("home", "", "cannot start a password-hash worker",
                   {{"program", path}, {"error", std::strerror(e)}});
        return false;
    }
    // Hashing takes the CPU that is left (bench/imap (7)): other users' commands first.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), nice_);
    w.pid = pid;
    w.fd = sv[0];
    return true;
}

void hash_workers::stop(worker& w) {
    if (w.fd >= 0) ::close(w.fd);
    if (const pid_t pid = w.pid; pid > 0) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    }
    w.fd = -1;
    w.pid = -1;
}

std::optional<users::verify_result> hash_workers::ask(worker& w, std::string_view password,
                                                      std::string_view hash) {
    if (w.fd < 0 && !start(w)) return std::nullopt;
    std::string req;
    req.reserve(8 + password.size() + hash.size());
    const std::uint32_t len[2] = {static_cast<std::uint32_t>(password.size()),
                                  static_cast<std::uint32_t>(hash.size())};
    req.append(reinterpret_cast<const char*>(len), sizeof len);
    req.append(password);
    req.append(hash);
    bool sent = write_exact(w.fd, req.data(), req.size());
    wipe(req);
    unsigned char answer = 0xff;
    const int timeout_ms = static_cast<int>(std::chrono::milliseconds(answer_timeout).count());
    if (!sent || !read_exact(w.fd, &answer, 1, timeout_ms) ||
        answer > static_cast<unsigned char>(users::verify_result::malformed))
        return std::nullopt;
    return static_cast<users::verify_result>(answer);
}

users::verify_result hash_workers::verify(std::string_view password, std::string_view hash) {
    if (password.size() > max_field || hash.size() > max_field)
        return users::verify_password(password, hash); // never in practice: logins cap both
    worker* w = nullptr;
    {
        std::unique_lock lock(mu_);
        free_.wait(lock, [&] {
            return std::any_of(workers_.begin(), workers_.end(), [](auto& x) { return !x.busy; });
        });
        w = &*std::find_if(workers_.begin(), workers_.end(), [](auto& x) { return !x.busy; });
        w->busy = true;
    }
    // A worker that died since its last check (killed, crashed) fails at once: one more try
    // with a fresh one before the check is made here.
    auto r = ask(*w, password, hash);
    if (!r) {
        stop(*w);
        r = ask(*w, password, hash);
        if (!r) stop(*w);
    }
    {
        std::lock_guard lock(mu_);
        w->busy = false;
    }
    free_.notify_one();
    if (r) return *r;
    log::error("home", "", "password-hash worker failed; the hash is checked in the daemon",
               {{"program", exe_.string()}});
    return users::verify_password(password, hash);
}

std::vector<pid_t> hash_workers::pids() {
    std::lock_guard lock(mu_);
    std::vector<pid_t> out;
    for (const auto& w : workers_)
        if (w.pid > 0) out.push_back(w.pid);
    return out;
}

} // namespace splitmail::home
