// relay/spf: TXT rdata, and the deadline of one SPF evaluation over libunbound (a real
// libunbound context forwarding to a slow DNS responder on loopback).
#include "spf/checker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace splitmail;
using namespace splitmail::relay;

namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

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

// co_spawn completion: an exception in the coroutine fails the test loudly.
void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

spf::evaluation run_check(spf_checker& c, std::string sender) {
    boost::asio::io_context io;
    spf::evaluation out;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            out = co_await c.check("192.0.2.1", sender, "client.example.test");
        },
        rethrow);
    io.run();
    return out;
}

} // namespace

TEST(relay_spf, txt_rdata_joins_character_strings) {
    EXPECT_EQ(parse_txt_rdata(bytes("\x06v=spf1\x05 -all")).value_or("?"), "v=spf1 -all");
    EXPECT_EQ(parse_txt_rdata(bytes("")).value_or("?"), "");
    EXPECT_EQ(parse_txt_rdata(bytes(std::string("\x00", 1))).value_or("?"), "");
    EXPECT_FALSE(parse_txt_rdata(bytes("\x07short")));
}

TEST(relay_spf, evaluation_has_a_deadline) {
    slow_dns server(std::chrono::milliseconds(800));
    auto r = dns::unbound_resolver::create({server.address(), 1});
    ASSERT_TRUE(r) << r.error();
    {
        spf_checker quick(**r, std::chrono::milliseconds(200), "mx.example.test");
        auto t0 = std::chrono::steady_clock::now();
        auto ev = run_check(quick, "a@slow.example.test");
        auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_EQ(ev.code, spf::result::temperror) << ev.problem;
        EXPECT_NE(ev.problem.find("timed out"), std::string::npos) << ev.problem;
        EXPECT_LT(took, std::chrono::milliseconds(700));
        EXPECT_EQ(ev.domain, "slow.example.test");
    }
    {
        // The same server, time enough: its NXDOMAIN gives none (RFC 7208 4.3).
        spf_checker patient(**r, std::chrono::milliseconds(10000), "mx.example.test");
        auto ev = run_check(patient, "a@slow2.example.test");
        EXPECT_EQ(ev.code, spf::result::none) << ev.problem;
        EXPECT_GE(server.queries.load(), 2);
    }
    // A client address that is not one: permerror, no DNS.
    spf_checker c(**r, std::chrono::milliseconds(200), "mx.example.test");
    boost::asio::io_context io;
    spf::evaluation bad;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { bad = co_await c.check("nope", "a@x.test", "h"); },
        rethrow);
    io.run();
    EXPECT_EQ(bad.code, spf::result::permerror);
    r->reset(); // joins the pool: the late answer of the first check is dropped harmlessly
}
