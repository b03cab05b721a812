// A scanner connection with one deadline; see scanner_socket.hpp.
#include "filter/scanner_socket.hpp"

#include "splitmail/net/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <unistd.h>
#include <vector>

namespace splitmail::relay::filter {

namespace asio = boost::asio;
using generic = asio::generic::stream_protocol;

struct scanner_socket::state {
    explicit state(asio::any_io_executor ex) : sock(ex), timer(ex) {}
    generic::socket sock;
    asio::steady_timer timer;
    bool expired = false;
};

namespace {

// The endpoints to try for `address`: one unix socket, or what the TCP name resolves to.
asio::awaitable<std::vector<generic::endpoint>> endpoints_of(const std::string& address) {
    std::vector<generic::endpoint> eps;
    if (address.starts_with('/')) {
        asio::local::stream_protocol::endpoint ep(address);
        eps.emplace_back(ep.data(), ep.size(), 0);
        co_return eps;
    }
    auto [host, port] = net::split_host_port(address);
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    // Named, not a temporary inside the co_await expression (g++ 12, see net/bridge.hpp).
    const std::string service = std::to_string(port);
    auto results = co_await resolver.async_resolve(
        host, service, asio::ip::tcp::resolver::numeric_service, asio::use_awaitable);
    for (const auto& r : results) {
        auto ep = r.endpoint();
        eps.emplace_back(ep.data(), ep.size(), IPPROTO_TCP);
    }
    co_return eps;
}

} // namespace

asio::awaitable<std::unique_ptr<scanner_socket>>
scanner_socket::connect(const std::string& address, std::chrono::steady_clock::duration timeout) {
    auto ex = co_await asio::this_coro::executor;
    auto st = std::make_shared<state>(ex);
    st->timer.expires_after(timeout);
    // The watchdog: closing the socket ends whatever operation is pending on it.
    st->timer.async_wait([st](boost::system::error_code ec) {
        if (ec) return;
        st->expired = true;
        boost::system::error_code ignored;
        st->sock.close(ignored);
    });
    std::unique_ptr<scanner_socket> s(new scanner_socket(st));
    auto eps = co_await endpoints_of(address);
    boost::system::error_code last = asio::error::host_not_found;
    for (const auto& ep : eps) {
        if (st->expired) break;
        boost::system::error_code ec;
        if (st->sock.is_open()) st->sock.close(ec);
        st->sock.open(ep.protocol(), ec);
        if (ec) {
            last = ec;
            continue;
        }
        std::tie(ec) = co_await st->sock.async_connect(ep, asio::as_tuple(asio::use_awaitable));
        if (!ec) co_return s;
        last = ec;
    }
    s->rethrow_if_expired();
    throw boost::system::system_error(last, "connect " + address);
}

scanner_socket::~scanner_socket() {
    s_->timer.cancel();
    boost::system::error_code ignored;
    s_->sock.close(ignored);
}

void scanner_socket::rethrow_if_expired() const {
    if (s_->expired) throw boost::system::system_error(asio::error::timed_out);
}

asio::awaitable<void> scanner_socket::write(std::string_view data) {
    auto [ec, n] = co_await asio::async_write(s_->sock, asio::buffer(data.data(), data.size()),
                                              asio::as_tuple(asio::use_awaitable));
    rethrow_if_expired();
    if (ec) throw boost::system::system_error(ec, "write");
}

asio::awaitable<std::size_t> scanner_socket::read_some(std::span<char> buf) {
    auto [ec, n] = co_await s_->sock.async_read_some(asio::buffer(buf.data(), buf.size()),
                                                     asio::as_tuple(asio::use_awaitable));
    rethrow_if_expired();
    if (ec == asio::error::eof) co_return 0;
    if (ec) throw boost::system::system_error(ec, "read");
    co_return n;
}

asio::awaitable<void>
scanner_socket::write_file(message_file file,
                           const std::function<std::string(std::size_t)>& frame) {
    std::vector<char> buf(64 * 1024);
    std::uint64_t off = 0;
    while (off < file.size) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), file.size - off));
        // The file was written moments ago: a page-cache read, not a disk wait.
        ssize_t n = ::pread(file.fd, buf.data(), want, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw boost::system::system_error(errno, boost::system::system_category(), "pread");
        if (n == 0)
            throw boost::system::system_error(EIO, boost::system::system_category(),
                                              "spool file shorter than written");
        auto chunk_size = static_cast<std::size_t>(n);
        std::string head = frame(chunk_size);
        if (!head.empty()) co_await write(head);
        co_await write(std::string_view(buf.data(), chunk_size));
        off += chunk_size;
    }
}

} // namespace splitmail::relay::filter
