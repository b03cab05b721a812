// "Home drops mid-DATA" (issue 12, driver tests): the relay's LMTP client (lmtp_out/client.hpp)
// against a scripted home on loopback that hangs up after k octets of DATA, for every k, and
// after giving only the first of two per-recipient replies. The client must never report a
// recipient as delivered (250) unless home said so after receiving the whole message: every
// drop makes deliver() throw, which the caller treats as "nothing acknowledged, try again"
// (the message stays queued). Only a home that received the terminator and answered both
// recipients yields two 250s, and then home holds the message byte for byte.
#include "lmtp_out/client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <limits>
#include <string>

namespace {

using namespace splitmail;
namespace asio = net::asio;
using tcp = asio::ip::tcp;

const std::string message = "Subject: t\r\n\r\nfirst line\r\n.starts with a dot\r\nlast\r\n";

struct home_script {
    std::size_t drop_after = std::numeric_limits<std::size_t>::max(); // DATA octets read
    int replies = 2;           // per-recipient replies after the terminator, then hang up
    std::string data_received; // DATA octets home read before it hung up (or all of them)
    bool saw_terminator = false;
};

// Reads more into `buf` until it holds `until`; false at end of stream.
asio::awaitable<bool> read_until(tcp::socket& s, std::string& buf, std::string_view until) {
    char tmp[4096];
    while (buf.find(until) == std::string::npos) {
        boost::system::error_code ec;
        auto n = co_await s.async_read_some(asio::buffer(tmp),
                                            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        buf.append(tmp, n);
    }
    co_return true;
}

asio::awaitable<void> say(tcp::socket& s, std::string_view text) {
    co_await asio::async_write(s, asio::buffer(text), asio::use_awaitable);
}

asio::awaitable<void> run_home(tcp::acceptor& acc, home_script& h) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    co_await say(s, "220 home.test LMTP\r\n");
    std::string in;
    if (!co_await read_until(s, in, "\r\n")) co_return;
    in.clear();
    co_await say(s, "250-home.test\r\n250 PIPELINING\r\n");
    if (!co_await read_until(s, in, "DATA\r\n")) co_return;
    in.erase(0, in.find("DATA\r\n") + 6);
    co_await say(s, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    // DATA: octet by octet as far as the script says, then hang up (or answer).
    char c;
    for (;;) {
        if (in.find("\r\n.\r\n") != std::string::npos) {
            h.saw_terminator = true;
            break;
        }
        if (in.size() >= h.drop_after) break;
        boost::system::error_code ec;
        co_await s.async_read_some(asio::buffer(&c, 1),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        in += c;
    }
    h.data_received = in;
    if (!h.saw_terminator) co_return; // the socket closes here, mid-DATA
    for (int i = 0; i < h.replies; ++i) co_await say(s, "250 2.0.0 delivered\r\n");
    // Then home goes away (after both replies: the client's next read is not ours to judge).
}

struct client_result {
    bool done = false;
    bool threw = false;
    std::vector<smtp::reply> replies;
};

client_result deliver_once(home_script& h) {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    relay::lmtp_options opt;
    opt.address = "127.0.0.1:" + std::to_string(acc.local_endpoint().port());
    opt.lhlo_name = "relay.test";
    opt.timeout = std::chrono::seconds(5);
    opt.connect_timeout = std::chrono::seconds(5);
    bool home_done = false;
    asio::co_spawn(io, run_home(acc, h), [&](std::exception_ptr) { home_done = true; });
    client_result r;
    relay::message_stream body(message);
    relay::lmtp_transaction t;
    t.sender = "alice@sender.example";
    t.recipients = {"demo@home.test", "sales@home.test"};
    t.message = &body;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::vector<smtp::reply>> {
            auto c = co_await relay::lmtp_client::open(opt);
            co_return co_await c->deliver(t);
        },
        [&](std::exception_ptr e, std::vector<smtp::reply> v) {
            r.done = true;
            r.threw = e != nullptr;
            r.replies = std::move(v);
        });
    io.run_for(std::chrono::seconds(15));
    EXPECT_TRUE(home_done) << "scripted home did not finish";
    return r;
}

TEST(LmtpHomeDrop, CleanDeliveryIsByteIdentical) {
    home_script h;
    auto r = deliver_once(h);
    ASSERT_TRUE(r.done);
    ASSERT_FALSE(r.threw);
    ASSERT_EQ(r.replies.size(), 2u);
    for (const auto& rep : r.replies) EXPECT_EQ(rep.code, 250);
    EXPECT_EQ(h.data_received,
              "Subject: t\r\n\r\nfirst line\r\n..starts with a dot\r\nlast\r\n.\r\n");
}

TEST(LmtpHomeDrop, DropAtEveryDataOctetAcknowledgesNothing) {
    home_script full;
    ASSERT_FALSE(deliver_once(full).threw);
    const std::size_t total = full.data_received.size();
    ASSERT_GT(total, message.size());
    for (std::size_t k = 0; k < total; ++k) {
        SCOPED_TRACE("home hangs up after " + std::to_string(k) + " DATA octets");
        home_script h;
        h.drop_after = k;
        auto r = deliver_once(h);
        ASSERT_TRUE(r.done) << "the client hung";
        EXPECT_FALSE(h.saw_terminator);
        EXPECT_TRUE(r.threw) << "deliver() returned although home hung up mid-DATA";
        for (const auto& rep : r.replies) EXPECT_NE(rep.code / 100, 2);
    }
}

TEST(LmtpHomeDrop, DropAfterFirstRecipientReplyAcknowledgesNothing) {
    // RFC 2033 4.2: one reply per recipient after the terminator. Home answers the first and
    // hangs up: the transaction is incomplete, so the client reports nothing as delivered
    // (the retry may duplicate the first recipient's copy: at-least-once, never a loss).
    home_script h;
    h.replies = 1;
    auto r = deliver_once(h);
    ASSERT_TRUE(r.done);
    EXPECT_TRUE(h.saw_terminator);
    EXPECT_TRUE(r.threw);
}

} // namespace
