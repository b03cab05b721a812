// A deadline-bounded exchange with a scanner; see scanner_probe.hpp.
#include "check/scanner_probe.hpp"

#include "splitmail/net/connection.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

namespace splitmail::provision::check {
namespace {

using clock = std::chrono::steady_clock;

struct address_entry {
    sockaddr_storage ss{};
    socklen_t len = 0;
};

int left_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

std::string timeout_text(std::chrono::milliseconds limit) {
    return "no answer within " + (limit.count() % 1000 == 0
                                      ? std::to_string(limit.count() / 1000) + " s"
                                      : std::to_string(limit.count()) + " ms");
}

std::expected<std::vector<address_entry>, std::string>
resolve(const std::string& address, clock::time_point deadline, std::chrono::milliseconds limit) {
    std::vector<address_entry> out;
    if (address.starts_with('/')) {
        address_entry e;
        auto* un = reinterpret_cast<sockaddr_un*>(&e.ss);
        if (address.size() >= sizeof un->sun_path) return std::unexpected("socket path too long");
        un->sun_family = AF_UNIX;
        std::memcpy(un->sun_path, address.c_str(), address.size() + 1);
        e.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
        out.push_back(e);
        return out;
    }
    std::string host;
    std::uint16_t port = 0;
    try {
        std::tie(host, port) = net::split_host_port(address);
    } catch (const std::exception& e) {
        return std::unexpected(std::string("not host:port: ") + e.what());
    }
    auto add_literal = [&](const std::string& h) {
        address_entry e;
        if (inet_pton(AF_INET, h.c_str(), &reinterpret_cast<sockaddr_in*>(&e.ss)->sin_addr) == 1) {
            auto* s4 = reinterpret_cast<sockaddr_in*>(&e.ss);
            s4->sin_family = AF_INET;
            s4->sin_port = htons(port);
            e.len = sizeof(sockaddr_in);
        } else if (inet_pton(AF_INET6, h.c_str(),
                             &reinterpret_cast<sockaddr_in6*>(&e.ss)->sin6_addr) == 1) {
            auto* s6 = reinterpret_cast<sockaddr_in6*>(&e.ss);
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons(port);
            e.len = sizeof(sockaddr_in6);
        } else {
            return false;
        }
        out.push_back(e);
        return true;
    };
    if (add_literal(host)) return out;
    if (host == "localhost") {
        add_literal("127.0.0.1");
        add_literal("::1");
        return out;
    }
    // getaddrinfo has no deadline of its own: run it on a thread we may abandon.
    using result = std::vector<address_entry>;
    auto task = std::make_shared<std::packaged_task<result()>>([host, port] {
        result r;
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        addrinfo* res = nullptr;
        if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return r;
        for (auto* a = res; a; a = a->ai_next) {
            if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
            address_entry e;
            std::memcpy(&e.ss, a->ai_addr, a->ai_addrlen);
            e.len = a->ai_addrlen;
            r.push_back(e);
        }
        freeaddrinfo(res);
        return r;
    });
    auto fut = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    if (fut.wait_for(std::chrono::milliseconds(left_ms(deadline))) != std::future_status::ready)
        return std::unexpected("looking up " + host + ": " + timeout_text(limit));
    out = fut.get();
    if (out.empty()) return std::unexpected("cannot resolve " + host);
    return out;
}

class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// "" when connected before the deadline, else why not.
std::string connect_one(int fd, const address_entry& a, clock::time_point deadline,
                        std::chrono::milliseconds limit) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) == 0) return "";
    if (errno != EINPROGRESS && errno != EAGAIN) return std::strerror(errno);
    pollfd p{fd, POLLOUT, 0};
    int n;
    while ((n = ::poll(&p, 1, left_ms(deadline))) < 0 && errno == EINTR) {}
    if (n == 0) return timeout_text(limit);
    if (n < 0) return std::strerror(errno);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    return soerr ? std::strerror(soerr) : "";
}

} // namespace

std::expected<std::string, std::string>
scanner_exchange(const std::string& address, std::string_view request,
                 std::chrono::milliseconds limit, std::size_t max_answer,
                 const std::function<bool(std::string_view)>& complete) {
    const auto deadline = clock::now() + limit;
    auto addrs = resolve(address, deadline, limit);
    if (!addrs) return std::unexpected(addrs.error());
    std::string why = "no address";
    for (const auto& a : *addrs) {
        fd_guard fd(::socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) {
            why = std::strerror(errno);
            continue;
        }
        why = connect_one(fd.get(), a, deadline, limit);
        if (!why.empty()) {
            if (left_ms(deadline) == 0) break;
            continue;
        }
        std::size_t done = 0;
        while (done < request.size()) {
            pollfd p{fd.get(), POLLOUT, 0};
            const int n = ::poll(&p, 1, left_ms(deadline));
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) return std::unexpected(timeout_text(limit));
            if (n < 0) return std::unexpected(std::strerror(errno));
            const ssize_t w =
                ::send(fd.get(), request.data() + done, request.size() - done, MSG_NOSIGNAL);
            if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (w <= 0) return std::unexpected(std::string("sending: ") + std::strerror(errno));
            done += static_cast<std::size_t>(w);
        }
        std::string in;
        char buf[4096];
        while (!complete(in) && in.size() < max_answer) {
            pollfd p{fd.get(), POLLIN, 0};
            const int n = ::poll(&p, 1, left_ms(deadline));
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) return std::unexpected(timeout_text(limit));
            if (n < 0) return std::unexpected(std::strerror(errno));
            const ssize_t r =
                ::recv(fd.get(), buf, std::min(sizeof buf, max_answer - in.size()), 0);
            if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (r < 0) return std::unexpected(std::string("reading: ") + std::strerror(errno));
            if (r == 0) {
                if (in.empty()) return std::unexpected("connection closed without an answer");
                break;
            }
            in.append(buf, static_cast<std::size_t>(r));
        }
        return in;
    }
    return std::unexpected(why);
}

} // namespace splitmail::provision::check
