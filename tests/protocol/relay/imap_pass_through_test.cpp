// The relay's IMAP pass-through (relay/imap_proxy) and home's PROXY-expecting listener
// (net::server::set_proxy + proxy/reader) over real loopback TCP: the real client address
// arrives at home, bytes pass unchanged both ways, half-close, idle timeout, unreachable
// home, and home's refusals (untrusted source with a forged header, trusted source without).
#include "imap_proxy/pass_through.hpp"

#include "splitmail/net/server.hpp"
#include "splitmail/proxy/v2.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace asio = boost::asio;
using namespace splitmail;

namespace {

class PassThrough : public ::testing::Test {
protected:
    void SetUp() override {
        // "Home": says which client it sees, echoes until the client's FIN, then says bye.
        home_ = std::make_unique<net::server>(
            io_, "imaps-proxy", net::limits{},
            [](net::connection& c) -> asio::awaitable<void> {
                co_await c.write("client=" + c.remote_ip() + "\n", std::chrono::seconds(5));
                char buf[4096];
                for (;;) {
                    auto n = co_await c.read_some(buf, std::chrono::seconds(5));
                    if (n == 0) break;
                    co_await c.write(std::string_view(buf, n), std::chrono::seconds(5));
                }
                co_await c.write("bye\n", std::chrono::seconds(5));
            },
            nullptr);
        home_->set_proxy([](std::string_view ip) { return ip == "127.0.0.1"; }, true,
                         std::chrono::seconds(2));
        home_->listen("127.0.0.1:0");
        home_port_ = home_->bound().at(0).port();
        opts_.home = "127.0.0.1:" + std::to_string(home_port_);
        opts_.idle_timeout = std::chrono::seconds(30);
        relay_ = std::make_unique<net::server>(
            io_, "imap-proxy", net::limits{},
            [this](net::connection& c) { return relay::serve_pass_through(c, opts_); }, nullptr);
        relay_->listen("127.0.0.1:0");
        relay_port_ = relay_->bound().at(0).port();
        thread_ = std::thread([this] { io_.run(); });
    }
    void TearDown() override {
        asio::post(io_, [this] {
            relay_->stop();
            home_->stop();
            io_.stop();
        });
        thread_.join();
    }

    // A blocking client from `source` (127.0.0.2 differs from the relay's 127.0.0.1).
    asio::ip::tcp::socket dial(std::uint16_t port, const char* source = "127.0.0.2") {
        asio::ip::tcp::socket s(cio_);
        s.open(asio::ip::tcp::v4());
        s.bind({asio::ip::make_address(source), 0});
        s.connect({asio::ip::make_address("127.0.0.1"), port});
        return s;
    }
    static std::string read_all(asio::ip::tcp::socket& s) {
        std::string out;
        boost::system::error_code ec;
        asio::read(s, asio::dynamic_buffer(out), ec);
        return out;
    }

    asio::io_context io_{1};
    asio::io_context cio_;
    relay::pass_through_options opts_;
    std::unique_ptr<net::server> home_, relay_;
    std::uint16_t home_port_ = 0, relay_port_ = 0;
    std::thread thread_;
};

} // namespace

TEST_F(PassThrough, HomeSeesTheRealClientAndBytesPassBothWaysAfterHalfClose) {
    auto s = dial(relay_port_);
    // More than the fixed buffers, so the copy loops turn many times.
    std::string big(200 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    std::string got;
    std::thread reader([&] { got = read_all(s); });
    asio::write(s, asio::buffer(big));
    s.shutdown(asio::ip::tcp::socket::shutdown_send); // half-close: home still answers
    reader.join();
    const std::string head = "client=127.0.0.2\n";
    EXPECT_EQ(got.substr(0, head.size()), head); // home sees the real client
    EXPECT_EQ(got.size(), head.size() + big.size() + 4);
    EXPECT_TRUE(got == head + big + "bye\n") << "the bytes differ (not shown: 200 KiB)";
}

TEST_F(PassThrough, IdleConnectionIsClosed) {
    opts_.idle_timeout = std::chrono::seconds(1);
    auto start = std::chrono::steady_clock::now();
    auto s = dial(relay_port_);
    EXPECT_EQ(read_all(s), "client=127.0.0.2\n"); // then nothing moves: closed
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, std::chrono::milliseconds(900));
    EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(PassThrough, UnreachableHomeClosesTheClient) {
    // A port nobody listens on: the connect fails at once, the client is closed.
    asio::ip::tcp::acceptor a(cio_, {asio::ip::make_address("127.0.0.1"), 0});
    opts_.home = "127.0.0.1:" + std::to_string(a.local_endpoint().port());
    a.close();
    auto s = dial(relay_port_);
    EXPECT_EQ(read_all(s), "");
}

TEST_F(PassThrough, HomeRefusesAForgedHeaderFromAnUntrustedSource) {
    auto s = dial(home_port_, "127.0.0.3");
    auto forged = proxy::encode(*proxy::make_endpoint("192.0.2.1", 1234),
                                *proxy::make_endpoint("127.0.0.1", home_port_));
    asio::write(s, asio::buffer(forged + "hello"));
    EXPECT_EQ(read_all(s), "") << "an untrusted source must not get a session";
}

TEST_F(PassThrough, HomeClosesATrustedSourceWithoutAHeader) {
    auto s = dial(home_port_, "127.0.0.1");
    asio::write(s, asio::buffer(std::string("a001 CAPABILITY\r\n")));
    EXPECT_EQ(read_all(s), "");
}

TEST_F(PassThrough, HomeAcceptsAHeaderFromTheTrustedSource) {
    auto s = dial(home_port_, "127.0.0.1");
    auto h = proxy::encode(*proxy::make_endpoint("2001:db8::5", 4321),
                           *proxy::make_endpoint("127.0.0.1", home_port_));
    asio::write(s, asio::buffer(h + "ping"));
    s.shutdown(asio::ip::tcp::socket::shutdown_send);
    EXPECT_EQ(read_all(s), "client=2001:db8::5\npingbye\n");
}
