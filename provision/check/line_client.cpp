// Blocking line client; see line_client.hpp.
#include "check/line_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace splitmail::provision::check {

line_client::~line_client() {
    if (fd_ >= 0) ::close(fd_);
}

std::string line_client::open(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return "not ip:port";
    std::string host = host_port.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = 0;
    try {
        port = std::stoi(host_port.substr(colon + 1));
    } catch (...) {
        return "not ip:port";
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(),
                         &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        return "not an IP address";
    }
    fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::strerror(errno);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) return "";
    if (errno != EINPROGRESS) return std::strerror(errno);
    pollfd p{fd_, POLLOUT, 0};
    const int n = ::poll(&p, 1, static_cast<int>(limit_.count()));
    if (n == 0) return "no answer within " + std::to_string(limit_.count()) + " ms";
    if (n < 0) return std::strerror(errno);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    return soerr ? std::strerror(soerr) : "";
}

bool line_client::send(const std::string& line) {
    std::size_t done = 0;
    while (done < line.size()) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(limit_.count())) <= 0) return false;
        const ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<std::string> line_client::reply() {
    std::string all;
    while (true) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            all += (all.empty() ? "" : " / ") + line;
            if (line.size() < 4 || line[3] != '-') return all;
            continue;
        }
        if (buf_.size() > 8192) return all; // not a reply we understand; enough to show
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(limit_.count())) <= 0) return std::nullopt;
        char b[1024];
        const ssize_t n = ::recv(fd_, b, sizeof b, 0);
        if (n <= 0) return std::nullopt;
        buf_.append(b, static_cast<std::size_t>(n));
    }
}

} // namespace splitmail::provision::check
