// net::connection: deadlines on every operation, optional TLS; see connection.hpp.
#include "splitmail/net/connection.hpp"
#include "splitmail/net/admission.hpp"
#include "splitmail/net/tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>

#include <stdexcept>

namespace splitmail::net {
namespace {

// Arms a timer that cancels the socket's pending operations when the deadline passes. The
// shared flag outlives the coroutine frame because the timer's handler may run after it.
class deadline {
public:
    deadline(tcp::socket& sock, clock::duration timeout)
        : timer_(std::make_shared<asio::steady_timer>(sock.get_executor())),
          state_(std::make_shared<state>()) {
        timer_->expires_after(timeout);
        // The handler may run after this object is gone (a timer that expired just as the
        // operation finished): it only touches the socket while `done` is still false.
        timer_->async_wait([st = state_, &sock, t = timer_](boost::system::error_code ec) {
            if (!ec && !st->done) {
                st->fired = true;
                boost::system::error_code ignored;
                sock.cancel(ignored);
            }
        });
    }
    ~deadline() {
        state_->done = true;
        timer_->cancel();
    }
    // Re-throws an operation error as timed_out when our timer caused it.
    [[noreturn]] void rethrow(const boost::system::system_error& e) const {
        if (state_->fired) throw boost::system::system_error(asio::error::timed_out);
        throw e;
    }

private:
    struct state {
        bool fired = false;
        bool done = false;
    };
    std::shared_ptr<asio::steady_timer> timer_;
    std::shared_ptr<state> state_;
};

} // namespace

connection::connection(tcp::socket s) : sock_(std::move(s)) {
    boost::system::error_code ec;
    remote_ = sock_.remote_endpoint(ec);
    local_ = sock_.local_endpoint(ec);
    sock_.set_option(tcp::no_delay(true), ec);
}

connection::~connection() { close(); }

asio::awaitable<std::size_t> connection::read_some(std::span<char> buf, clock::duration timeout) {
    deadline d(sock_, timeout);
    boost::system::error_code ec;
    std::size_t n = 0;
    auto b = asio::buffer(buf.data(), buf.size());
    try {
        if (tls_)
            n = co_await tls_->async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
        else
            n = co_await sock_.async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
    } catch (const boost::system::system_error& e) {
        d.rethrow(e);
    }
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return 0;
    if (ec) d.rethrow(boost::system::system_error(ec));
    co_return n;
}

asio::awaitable<void> connection::write(std::string_view data, clock::duration timeout) {
    deadline d(sock_, timeout);
    try {
        if (tls_)
            co_await asio::async_write(*tls_, asio::buffer(data.data(), data.size()),
                                       asio::use_awaitable);
        else
            co_await asio::async_write(sock_, asio::buffer(data.data(), data.size()),
                                       asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
        d.rethrow(e);
    }
}

asio::awaitable<void> connection::start_tls_server(std::shared_ptr<asio::ssl::context> ctx,
                                                   clock::duration timeout) {
    if (tls_) throw std::logic_error("TLS already active");
    ctx_ = std::move(ctx);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock_, *ctx_);
    deadline d(sock_, timeout);
    try {
        co_await tls_->async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
        d.rethrow(e);
    }
}

asio::awaitable<void> connection::start_tls_client(std::shared_ptr<asio::ssl::context> ctx,
                                                   const std::string& sni,
                                                   clock::duration timeout) {
    if (tls_) throw std::logic_error("TLS already active");
    ctx_ = std::move(ctx);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock_, *ctx_);
    if (!sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
    deadline d(sock_, timeout);
    try {
        co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
        d.rethrow(e);
    }
}

std::string connection::tls_version() const {
    return tls_ ? SSL_get_version(tls_->native_handle()) : "";
}

std::string connection::tls_cipher() const {
    if (!tls_) return "";
    const char* c = SSL_get_cipher_name(tls_->native_handle());
    return c ? c : "";
}

std::string connection::peer_cert_sha256() const {
    if (!tls_) return "";
    X509* cert = SSL_get1_peer_certificate(tls_->native_handle());
    if (!cert) return "";
    auto out = cert_sha256_hex(cert);
    X509_free(cert);
    return out;
}

void connection::attach(std::shared_ptr<admission> a, std::uint64_t slot) {
    admission_ = std::move(a);
    slot_ = slot;
}

void connection::progressed() {
    if (admission_) admission_->progressed(slot_);
}

void connection::authenticated() {
    if (admission_) admission_->authenticated(slot_);
}

bool connection::overloaded() const { return admission_ && admission_->overloaded(); }

std::string connection::remote_ip() const {
    auto a = remote_.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
    return a.to_string();
}

void connection::close() noexcept {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
}

void connection::shutdown_send() noexcept {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
}

bool connection::peer_spoke_while_idle() const {
    if (!sock_.is_open()) return true;
    if (tls_ && SSL_pending(tls_->native_handle()) > 0) return true;
    pollfd p{};
    p.fd = const_cast<tcp::socket&>(sock_).native_handle();
    p.events = POLLIN | POLLRDHUP;
    int n = ::poll(&p, 1, 0);
    if (n < 0) return true;
    return n > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

std::string error_text(const std::exception& e) {
    if (auto* se = dynamic_cast<const boost::system::system_error*>(&e))
        return se->code().message();
    return e.what();
}

std::pair<std::string, std::uint16_t> split_host_port(std::string_view hp) {
    std::string host;
    std::string_view port;
    if (!hp.empty() && hp.front() == '[') {
        auto close = hp.find(']');
        if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
            throw std::invalid_argument("\"" + std::string(hp) + "\": expected [IPv6]:port");
        host = std::string(hp.substr(1, close - 1));
        port = hp.substr(close + 2);
    } else {
        auto colon = hp.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            throw std::invalid_argument("\"" + std::string(hp) + "\": expected host:port");
        host = std::string(hp.substr(0, colon));
        port = hp.substr(colon + 1);
    }
    unsigned long p = 0;
    try {
        std::size_t used = 0;
        p = std::stoul(std::string(port), &used);
        if (used != port.size()) throw std::invalid_argument("");
    } catch (...) {
        throw std::invalid_argument("\"" + std::string(hp) + "\": port is not a number");
    }
    if (p > 65535) throw std::invalid_argument("\"" + std::string(hp) + "\": port out of range");
    return {host, static_cast<std::uint16_t>(p)};
}

asio::awaitable<std::unique_ptr<connection>> connect(const std::string& host_port,
                                                     clock::duration timeout) {
    auto [host, port] = split_host_port(host_port);
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto results = co_await resolver.async_resolve(host, std::to_string(port), asio::use_awaitable);
    tcp::socket sock(ex);
    deadline d(sock, timeout);
    try {
        co_await asio::async_connect(sock, results, asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
        d.rethrow(e);
    }
    co_return std::make_unique<connection>(std::move(sock));
}

} // namespace splitmail::net
