#pragma once
// A slow DNS responder on loopback for tests of deadlines over a real libunbound context
// (relay/spf checker, relay/sender_auth lookups).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace splitmail::relay::test {

// Answers every UDP query with NXDOMAIN after `delay` (one thread, loopback only).
class slow_dns {
public:
    explicit slow_dns(std::chrono::milliseconds delay) : delay_(delay) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        timeval tv{0, 100000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        thread_ = std::thread([this] { serve(); });
    }
    ~slow_dns() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::atomic<int> queries{0};

private:
    void serve() {
        while (!stop_) {
            std::uint8_t buf[1500];
            sockaddr_in from{};
            socklen_t len = sizeof from;
            auto n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 12) continue;
            ++queries;
            std::this_thread::sleep_for(delay_);
            // Header + the question only (RFC 1035 4.1): QR, RA, RCODE 3, no other sections.
            std::size_t end = 12;
            while (end < static_cast<std::size_t>(n) && buf[end] != 0) end += buf[end] + 1;
            end += 5;
            if (end > static_cast<std::size_t>(n)) continue;
            buf[2] = static_cast<std::uint8_t>(0x80 | (buf[2] & 0x01));
            buf[3] = 0x83;
            for (int i = 6; i < 12; ++i) buf[i] = 0;
            ::sendto(fd_, buf, end, 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    }
    std::chrono::milliseconds delay_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace splitmail::relay::test
