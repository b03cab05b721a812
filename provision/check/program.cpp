// Helper programs; see program.hpp.
#include "check/program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace splitmail::provision::check {

program_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
    program_result r;
    if (argv.empty()) return r;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        r.output = "pipe failed";
        return r;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int err = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        r.not_found = err == ENOENT;
        r.output = std::string(argv[0]) + ": " + std::strerror(err);
        return r;
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue; // timeout is handled at the top
        const ssize_t got = read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (r.output.size() < 65536) r.output.append(buf, static_cast<std::size_t>(got));
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    // posix_spawnp reports a missing program either as an error above or, with some libcs,
    // as exit status 127 from the child.
    if (r.exit_code == 127 && r.output.empty()) r.not_found = true;
    return r;
}

} // namespace splitmail::provision::check
