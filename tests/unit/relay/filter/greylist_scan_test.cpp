// rspamd's `greylist` action through the greylist store (issue 18, filter/scan.hpp): against a
// scripted rspamd on loopback that always says "greylist", the message is deferred until every
// recipient's triplet has waited the delay, then accepted with the score headers; without a
// store it stays a plain 451 however often the sender retries.
#include "filter/greylist.hpp"
#include "filter/scan.hpp"
#include "scripted_http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <thread>
#include <unistd.h>

using namespace splitmail;
using namespace splitmail::relay;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Answers every connection with action "greylist".
asio::awaitable<void> greylisting_rspamd(tcp::acceptor& acc) {
    const std::string json = R"({"action":"greylist","score":6,"required_score":15})";
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
    for (;;) {
        auto s = co_await acc.async_accept(asio::use_awaitable);
        co_await test::read_http_request(s);
        co_await asio::async_write(s, asio::buffer(answer), asio::use_awaitable);
    }
}

struct fixture {
    asio::io_context io;
    tcp::acceptor acc{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    settings s;
    delivery d;
    std::FILE* f = std::tmpfile();
    std::string body = "Subject: t\r\n\r\nhello\r\n";

    fixture() {
        s.rspamd.enabled = true;
        s.rspamd.address = "127.0.0.1:" + std::to_string(acc.local_endpoint().port());
        s.rspamd.timeout = 5s;
        s.rspamd.max_size = 1 << 20;
        d.envelope.sender = "someone@sender.example";
        d.envelope.client_ip = "192.0.2.44";
        for (auto r : {"demo@example.test", "other@example.test"}) {
            queue::recipient q;
            q.address = r;
            d.envelope.recipients.push_back(q);
        }
        EXPECT_EQ(::write(::fileno(f), body.data(), body.size()),
                  static_cast<ssize_t>(body.size()));
        asio::co_spawn(io, greylisting_rspamd(acc), [](std::exception_ptr) {});
    }
    ~fixture() { std::fclose(f); }

    // The coroutine runs after co_spawn returns: what it takes by reference must outlive it
    // (temporaries made for its arguments would not).
    const std::string prefix = "Received: x\r\n", queue_id = "Q1", log_id = "TEST";
    scan_outcome scan(filter::greylist* g) {
        std::optional<scan_outcome> out;
        asio::co_spawn(io,
                       scan_message(s, d, prefix, filter::message_file{::fileno(f), body.size()},
                                    queue_id, log_id, g),
                       [&](std::exception_ptr e, scan_outcome o) {
                           EXPECT_EQ(e, nullptr);
                           out = std::move(o);
                       });
        while (!out) io.run_one_for(5s);
        return out.value_or(scan_outcome{});
    }
};

} // namespace

TEST(GreylistScan, RspamdGreylistPassesAfterTheDelay) {
    fixture fx;
    filter::greylist_policy p;
    p.delay = 1s;
    filter::greylist g(p);
    auto a = fx.scan(&g);
    ASSERT_TRUE(a.refusal.has_value());
    EXPECT_EQ(a.refusal->format(), "451 4.7.1 Greylisted, try again later\r\n");
    EXPECT_EQ(g.size(), 2u); // one triplet per recipient
    a = fx.scan(&g);
    EXPECT_TRUE(a.refusal.has_value()) << "a retry before the delay is deferred again";
    std::this_thread::sleep_for(1100ms);
    a = fx.scan(&g);
    EXPECT_FALSE(a.refusal.has_value()) << "rspamd still says greylist, the store says passed";
    EXPECT_NE(a.headers.find("action=greylist"), std::string::npos) << a.headers;
    // A new recipient in the same message is a new triplet: the whole message waits again.
    queue::recipient q;
    q.address = "third@example.test";
    fx.d.envelope.recipients.push_back(q);
    EXPECT_TRUE(fx.scan(&g).refusal.has_value());
}

TEST(GreylistScan, WithoutAStoreRspamdGreylistIsAPlainTempfail) {
    fixture fx;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(fx.scan(nullptr).refusal.has_value());
}
