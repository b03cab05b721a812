// relay/spf: the deadline of one SPF evaluation over libunbound (a real
// libunbound context forwarding to a slow DNS responder on loopback).
#include "spf/checker.hpp"

#include "unit/relay/slow_dns.hpp"

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
using splitmail::relay::test::slow_dns;

namespace {

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

TEST(relay_spf, evaluation_has_a_deadline) {
    slow_dns server(std::chrono::milliseconds(800));
    auto r = relay::dns::unbound_resolver::create({server.address(), 1});
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
        io,
        [&]() -> boost::asio::awaitable<void> { bad = co_await c.check("nope", "a@x.test", "h"); },
        rethrow);
    io.run();
    EXPECT_EQ(bad.code, spf::result::permerror);
    r->reset(); // joins the pool: the late answer of the first check is dropped harmlessly
}
