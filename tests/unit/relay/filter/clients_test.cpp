// The rspamd and clamd clients (relay/filter/clients.hpp) against scripted scanners on
// loopback: what goes on the wire (clamd's length-prefixed chunks of at most 64 KiB and its
// terminator; rspamd's request head and body), that the body is prefix + the spool file read
// through its descriptor, answers split across reads, and the failures: a scanner that never
// answers (cut off at the timeout), a refused connection, an HTTP error status.
#include "filter/clients.hpp"

#include <gtest/gtest.h>

#include "scripted_http.hpp"

#include <tuple>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace splitmail::relay::filter {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A spool-like file: written with write(2), read back by the client through its descriptor.
struct body_file {
    explicit body_file(const std::string& content) {
        f = std::tmpfile();
        EXPECT_NE(f, nullptr);
        EXPECT_EQ(::write(::fileno(f), content.data(), content.size()),
                  static_cast<ssize_t>(content.size()));
    }
    ~body_file() { std::fclose(f); }
    message_file file(std::uint64_t size) const { return {::fileno(f), size}; }
    std::FILE* f;
};

std::string big_body() {
    std::string b = "Subject: t\r\n\r\n";
    for (int i = 0; b.size() < 200 * 1024; ++i) b += "line " + std::to_string(i) + "\r\n";
    return b;
}

asio::awaitable<std::string> read_exactly(tcp::socket& s, std::size_t n) {
    std::string out(n, '\0');
    co_await asio::async_read(s, asio::buffer(out), asio::use_awaitable);
    co_return out;
}

asio::awaitable<void> pause(std::chrono::milliseconds ms) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(ms);
    co_await t.async_wait(asio::use_awaitable);
}

struct clamd_seen {
    std::string command;
    std::vector<std::size_t> chunks;
    std::string data;
    bool terminated = false;
};

asio::awaitable<void> fake_clamd(tcp::acceptor& acc, clamd_seen& seen, std::string reply) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    seen.command = co_await read_exactly(s, 10);
    for (;;) {
        auto len = co_await read_exactly(s, 4);
        std::size_t n = (static_cast<unsigned char>(len[0]) << 24) |
                        (static_cast<unsigned char>(len[1]) << 16) |
                        (static_cast<unsigned char>(len[2]) << 8) |
                        static_cast<unsigned char>(len[3]);
        if (n == 0) {
            seen.terminated = true;
            break;
        }
        seen.chunks.push_back(n);
        seen.data += co_await read_exactly(s, n);
    }
    co_await asio::async_write(s, asio::buffer(reply), asio::use_awaitable);
}

struct rspamd_seen {
    std::string head, body;
};

asio::awaitable<void> fake_rspamd(tcp::acceptor& acc, rspamd_seen& seen,
                                  std::vector<std::string> pieces) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    std::tie(seen.head, seen.body) = co_await test::read_http_request(s);
    for (const auto& p : pieces) {
        co_await asio::async_write(s, asio::buffer(p), asio::use_awaitable);
        co_await pause(std::chrono::milliseconds(20));
    }
}

// Accepts, reads everything, never answers.
asio::awaitable<void> silent_scanner(tcp::acceptor& acc) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    char tmp[65536];
    for (;;) {
        boost::system::error_code ec;
        co_await s.async_read_some(asio::buffer(tmp),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
}

scanner_settings settings_for(const tcp::acceptor& acc, int timeout_s = 5) {
    scanner_settings s;
    s.enabled = true;
    s.address = "127.0.0.1:" + std::to_string(acc.local_endpoint().port());
    s.timeout = std::chrono::seconds(timeout_s);
    s.max_size = 1 << 30;
    return s;
}

template <class T, class Server>
std::optional<T> run(asio::io_context& io, Server server,
                     std::function<asio::awaitable<T>()> client) {
    asio::co_spawn(io, std::move(server), [](std::exception_ptr) {});
    std::optional<T> out;
    asio::co_spawn(io, client(), [&](std::exception_ptr e, T v) {
        EXPECT_EQ(e, nullptr) << "the client must not throw";
        out = std::move(v);
        io.stop();
    });
    io.run_for(std::chrono::seconds(20));
    return out;
}

TEST(FilterClients, ClamdGetsPrefixThenFileInLengthPrefixedChunks) {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::string prefix = "Received: from x\r\n";
    const std::string content = big_body();
    body_file bf(content);
    clamd_seen seen;
    auto s = settings_for(acc);
    using result = std::expected<clamd_reply, std::string>;
    auto r = run<result>(io, fake_clamd(acc, seen, std::string("stream: Test.Sig FOUND\0", 23)),
                         [&]() { return clamd_scan(s, prefix, bf.file(content.size())); });
    ASSERT_TRUE(r);
    ASSERT_TRUE(*r) << r->error();
    EXPECT_EQ((*r)->status, clamd_reply::kind::found);
    EXPECT_EQ((*r)->detail, "Test.Sig");
    EXPECT_EQ(seen.command, std::string("zINSTREAM\0", 10));
    EXPECT_TRUE(seen.terminated);
    EXPECT_EQ(seen.data, prefix + content);
    ASSERT_EQ(seen.chunks.size(), 1u + (content.size() + 65535) / 65536);
    EXPECT_EQ(seen.chunks[0], prefix.size());
    for (auto n : seen.chunks) EXPECT_LE(n, 65536u);
}

TEST(FilterClients, RspamdRequestAndAnswerInPieces) {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::string prefix = "Received: from x\r\n";
    const std::string content = big_body();
    body_file bf(content);
    rspamd_seen seen;
    const std::string json = R"({"action":"add header","score":7.5,"required_score":15})";
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
    std::vector<std::string> pieces{answer.substr(0, 10), answer.substr(10, 30), answer.substr(40)};
    rspamd_request req;
    req.from = "a@sender.test";
    req.rcpts = {"demo@example.test"};
    req.ip = "192.0.2.1";
    req.queue_id = "Q1";
    auto s = settings_for(acc);
    using result = std::expected<rspamd_answer, std::string>;
    auto r = run<result>(io, fake_rspamd(acc, seen, pieces),
                         [&]() { return rspamd_check(s, req, prefix, bf.file(content.size())); });
    ASSERT_TRUE(r);
    ASSERT_TRUE(*r) << r->error();
    EXPECT_EQ((*r)->action, "add header");
    EXPECT_DOUBLE_EQ((*r)->score, 7.5);
    EXPECT_TRUE(seen.head.starts_with("POST /checkv2 HTTP/1.1\r\n")) << seen.head;
    EXPECT_NE(seen.head.find("Rcpt: <demo@example.test>\r\n"), std::string::npos);
    EXPECT_NE(seen.head.find("Queue-Id: Q1\r\n"), std::string::npos);
    EXPECT_EQ(seen.body, prefix + content);
}

TEST(FilterClients, OnlyTheOctetsWrittenAreSent) {
    // The sink's size, not the file's: a file longer than the message is not read past it.
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    body_file bf("0123456789");
    clamd_seen seen;
    auto s = settings_for(acc);
    using result = std::expected<clamd_reply, std::string>;
    auto r = run<result>(io, fake_clamd(acc, seen, std::string("stream: OK\0", 11)),
                         [&]() { return clamd_scan(s, "", bf.file(4)); });
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->status, clamd_reply::kind::clean);
    EXPECT_EQ(seen.data, "0123");
}

TEST(FilterClients, SilentScannerIsCutOffAtTheTimeout) {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    body_file bf("Subject: t\r\n\r\nx\r\n");
    auto s = settings_for(acc, 1);
    auto start = std::chrono::steady_clock::now();
    using result = std::expected<clamd_reply, std::string>;
    auto r = run<result>(io, silent_scanner(acc), [&]() { return clamd_scan(s, "", bf.file(17)); });
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(r);
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error(), "timeout");
    EXPECT_GE(took, std::chrono::milliseconds(900));
    EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(FilterClients, RefusedConnectionAndHttpErrorAreFailures) {
    asio::io_context io;
    scanner_settings s;
    {
        tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        s = settings_for(probe);
    } // closed: nothing listens on that port now
    body_file bf("x");
    const rspamd_request req; // outlives the coroutines, which hold a reference
    using result = std::expected<rspamd_answer, std::string>;
    std::optional<result> r;
    asio::co_spawn(io, rspamd_check(s, req, "", bf.file(1)), [&](std::exception_ptr e, result v) {
        EXPECT_EQ(e, nullptr);
        r = std::move(v);
    });
    io.run_for(std::chrono::seconds(10));
    ASSERT_TRUE(r);
    ASSERT_FALSE(*r);
    EXPECT_NE(r->error(), "timeout");

    asio::io_context io2;
    tcp::acceptor acc(io2, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    rspamd_seen seen;
    auto s2 = settings_for(acc);
    auto r2 = run<result>(
        io2, fake_rspamd(acc, seen, {"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}"}),
        [&]() { return rspamd_check(s2, req, "", bf.file(1)); });
    ASSERT_TRUE(r2);
    ASSERT_FALSE(*r2);
    EXPECT_EQ(r2->error(), "HTTP status 500");
}

} // namespace
} // namespace splitmail::relay::filter
