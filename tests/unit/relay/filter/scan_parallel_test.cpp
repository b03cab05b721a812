// scan_message() asks clamd and rspamd at the same time (issue 18, filter/scan.hpp): two
// scripted scanners on loopback that each answer only once the other one has the whole
// message. Scanned one after the other, the first would wait for the second until its timeout
// and the message would go out "unchecked"; scanned together, both verdicts are in the
// headers. No timing is measured: the proof is that both answered at all.
#include "filter/scan.hpp"
#include "scripted_http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <unistd.h>

using namespace splitmail;
using namespace splitmail::relay;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct rendezvous {
    int arrived = 0; // scanners that have read a whole request
    // Waits (bounded) until both scanners have their request.
    asio::awaitable<void> both() {
        asio::steady_timer t(co_await asio::this_coro::executor);
        for (int i = 0; i < 300 && arrived < 2; ++i) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    }
};

asio::awaitable<void> scripted_rspamd(tcp::acceptor& acc, rendezvous& r) {
    const std::string json = R"({"action":"no action","score":1,"required_score":15})";
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
    auto s = co_await acc.async_accept(asio::use_awaitable);
    co_await test::read_http_request(s);
    ++r.arrived;
    co_await r.both();
    co_await asio::async_write(s, asio::buffer(answer), asio::use_awaitable);
}

// clamd's zINSTREAM: the command, then chunks of <4-octet big-endian length><data>, a zero
// length ends the stream.
asio::awaitable<void> scripted_clamd(tcp::acceptor& acc, rendezvous& r) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    std::string cmd(10, '\0');
    co_await asio::async_read(s, asio::buffer(cmd), asio::use_awaitable);
    EXPECT_EQ(cmd, std::string("zINSTREAM\0", 10));
    for (;;) {
        unsigned char l[4];
        co_await asio::async_read(s, asio::buffer(l), asio::use_awaitable);
        const std::size_t len =
            (std::size_t{l[0]} << 24) | (std::size_t{l[1]} << 16) | (std::size_t{l[2]} << 8) | l[3];
        if (len == 0) break;
        std::string chunk(len, '\0');
        co_await asio::async_read(s, asio::buffer(chunk), asio::use_awaitable);
    }
    ++r.arrived;
    co_await r.both();
    co_await asio::async_write(s, asio::buffer(std::string("stream: OK\0", 11)),
                               asio::use_awaitable);
}

} // namespace

TEST(ScanParallel, ClamdAndRspamdAreAskedAtTheSameTime) {
    asio::io_context io;
    tcp::acceptor rspamd_acc{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    tcp::acceptor clamd_acc{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    rendezvous r;
    asio::co_spawn(io, scripted_rspamd(rspamd_acc, r), [](std::exception_ptr) {});
    asio::co_spawn(io, scripted_clamd(clamd_acc, r), [](std::exception_ptr) {});

    settings s;
    s.rspamd.enabled = true;
    s.rspamd.address = "127.0.0.1:" + std::to_string(rspamd_acc.local_endpoint().port());
    s.rspamd.timeout = 2s;
    s.rspamd.max_size = 1 << 20;
    s.clamav.enabled = true;
    s.clamav.address = "127.0.0.1:" + std::to_string(clamd_acc.local_endpoint().port());
    s.clamav.timeout = 2s;
    s.clamav.max_size = 1 << 20;
    delivery d;
    d.envelope.sender = "someone@sender.example";
    d.envelope.client_ip = "192.0.2.44";
    queue::recipient q;
    q.address = "demo@example.test";
    d.envelope.recipients.push_back(q);

    const std::string body = "Subject: t\r\n\r\nhello\r\n";
    std::FILE* f = std::tmpfile();
    ASSERT_EQ(::write(::fileno(f), body.data(), body.size()), static_cast<ssize_t>(body.size()));
    const std::string prefix = "Received: x\r\n", queue_id = "Q1", log_id = "TEST";
    std::optional<scan_outcome> out;
    asio::co_spawn(io,
                   scan_message(s, d, prefix, filter::message_file{::fileno(f), body.size()},
                                queue_id, log_id, nullptr),
                   [&](std::exception_ptr e, scan_outcome o) {
                       EXPECT_EQ(e, nullptr);
                       out = std::move(o);
                   });
    while (!out && io.run_one_for(10s) > 0) {}
    std::fclose(f);
    ASSERT_TRUE(out);
    EXPECT_FALSE(out->refusal);
    EXPECT_EQ(r.arrived, 2);
    EXPECT_NE(out->headers.find("X-Spam-Status: No, score=1.00"), std::string::npos)
        << out->headers;
    EXPECT_NE(out->headers.find("X-Virus-Status: Clean"), std::string::npos) << out->headers;
}
