// http-01 responder (see http01.hpp).
#include "splitmail/acme/http01.hpp"

#include "splitmail/acme/crypto.hpp"
#include "splitmail/durable/file.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace splitmail::acme {

namespace {

constexpr std::size_t max_head = 8192;
constexpr int read_timeout_ms = 5000;

} // namespace

result<> http01_webroot_solver::present(std::span<const challenge_task> tasks) {
    for (const auto& t : tasks) {
        if (t.type != "http-01")
            return fail(error_kind::solver,
                        "http-01 solver got a " + t.type + " task for " + t.domain);
        if (!valid_token(t.token)) // a file name: only base64url (RFC 8555 8.1)
            return fail(error_kind::protocol, "the CA sent an http-01 token that is not "
                                              "base64url for " +
                                                  t.domain);
        durable::replace_options opt;
        opt.mode = 0644;
        auto r = durable::replace_file(dir_ / t.token, t.key_authorization, opt);
        if (!r)
            return fail(error_kind::local, "http-01: cannot write the challenge file in " +
                                               dir_.string() + ": " + r.error().text() +
                                               " (the relay's http.challenge_dir)");
    }
    return {};
}

void http01_webroot_solver::cleanup(std::span<const challenge_task> tasks) {
    for (const auto& t : tasks) {
        if (!valid_token(t.token)) continue;
        std::error_code ec;
        std::filesystem::remove(dir_ / t.token, ec);
    }
}

http01_solver::http01_solver(int fd) : fd_(fd) {
    thread_ = std::thread([this] { run(); });
}

http01_solver::~http01_solver() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
}

result<std::unique_ptr<http01_solver>> http01_solver::listen(const std::string& address,
                                                             std::uint16_t port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        return fail(error_kind::local, "http-01: \"" + address + "\" is not an IP address");
    }
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(error_kind::local, std::string("http-01: socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
        int e = errno;
        ::close(fd);
        return fail(error_kind::local, "http-01: cannot listen on " + address + " port " +
                                           std::to_string(port) + ": " + std::strerror(e));
    }
    return std::unique_ptr<http01_solver>(new http01_solver(fd));
}

result<> http01_solver::present(std::span<const challenge_task> tasks) {
    std::lock_guard lock(mutex_);
    for (const auto& t : tasks) {
        if (t.type != "http-01" || !valid_token(t.token))
            return fail(error_kind::solver,
                        "http-01 solver got a " + t.type + " task for " + t.domain);
        tokens_[t.token] = t.key_authorization;
    }
    return {};
}

void http01_solver::cleanup(std::span<const challenge_task> tasks) {
    std::lock_guard lock(mutex_);
    for (const auto& t : tasks) tokens_.erase(t.token);
}

void http01_solver::run() {
    while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::string head;
        char buf[1024];
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(read_timeout_ms);
        while (head.size() < max_head && head.find("\r\n\r\n") == std::string::npos && !stop_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd q{c, POLLIN, 0};
            if (::poll(&q, 1, static_cast<int>(left.count())) <= 0) break;
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            head.append(buf, static_cast<std::size_t>(n));
        }
        std::string answer;
        {
            std::lock_guard lock(mutex_);
            answer = http01_answer(head, tokens_);
        }
        std::size_t off = 0;
        while (off < answer.size()) {
            ssize_t n = ::send(c, answer.data() + off, answer.size() - off, MSG_NOSIGNAL);
            if (n <= 0) break;
            off += static_cast<std::size_t>(n);
        }
        ++served_;
        ::close(c);
    }
}

} // namespace splitmail::acme
