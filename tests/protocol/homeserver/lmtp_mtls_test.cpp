// LMTP over mutual TLS: only the pinned client certificate gets an LMTP greeting.
// Certificates are made at test time with the openssl command line tool.
#include "lmtp/listener.hpp"

#include "splitmail/net/server.hpp"
#include "splitmail/net/tls.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace splitmail;

namespace {

class LmtpMtls : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sm-mtls-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        for (const char* n : {"server", "good", "bad"}) {
            auto cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                       "-days 2 -subj /CN=" +
                       std::string(n) + " -keyout " + (dir_ / (std::string(n) + ".key")).string() +
                       " -out " + (dir_ / (std::string(n) + ".pem")).string() + " 2>/dev/null";
            ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        }
        auto tls = net::make_server_tls(dir_ / "server.pem", dir_ / "server.key", true);
        ASSERT_TRUE(tls) << tls.error();
        driver_.opt.hostname = "home.test";
        lctx_.driver = &driver_;
        lctx_.tls = *tls;
        lctx_.client_pin = net::sha256_hex_of_cert_file(dir_ / "good.pem");
        ASSERT_EQ(lctx_.client_pin.size(), 64u);
        server_ = std::make_unique<net::server>(
            io_, "lmtp", net::limits{},
            [this](net::connection& c) { return home::lmtp::serve_lmtp(c, lctx_); },
            [](net::connection&, std::string_view) -> asio::awaitable<void> { co_return; });
        server_->listen("127.0.0.1:0");
        port_ = server_->bound().at(0).port();
        thread_ = std::thread([this] { io_.run(); });
    }
    void TearDown() override {
        asio::post(io_, [this] {
            server_->stop();
            io_.stop();
        });
        thread_.join();
        fs::remove_all(dir_);
    }
    // Returns the first line the server sends, or "" if it closes first / the handshake fails.
    std::string greeting_with(const char* name) {
        asio::io_context cio;
        asio::ssl::context ctx(asio::ssl::context::tls_client);
        if (name) {
            ctx.use_certificate_chain_file((dir_ / (std::string(name) + ".pem")).string());
            ctx.use_private_key_file((dir_ / (std::string(name) + ".key")).string(),
                                     asio::ssl::context::pem);
        }
        asio::ssl::stream<asio::ip::tcp::socket> s(cio, ctx);
        s.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
        boost::system::error_code ec;
        s.handshake(asio::ssl::stream_base::client, ec);
        if (ec) return "";
        std::string data;
        asio::read_until(s, asio::dynamic_buffer(data), "\r\n", ec);
        if (ec) return "";
        return data.substr(0, data.find("\r\n"));
    }

    fs::path dir_;
    asio::io_context io_{1};
    home::lmtp::driver_context driver_;
    home::lmtp::listener_context lctx_;
    std::unique_ptr<net::server> server_;
    unsigned short port_ = 0;
    std::thread thread_;
};

} // namespace

TEST_F(LmtpMtls, PinnedClientCertificateOnly) {
    EXPECT_EQ(greeting_with("good"), "220 home.test LMTP splitmail ready");
    EXPECT_EQ(greeting_with("bad"), "") << "another certificate must not get a greeting";
    EXPECT_EQ(greeting_with(nullptr), "") << "no certificate must not get a greeting";
}
