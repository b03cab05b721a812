#pragma once
// One TCP connection for the protocol drivers (SMTP, LMTP, IMAP, clients and servers alike).
//
// Guarantees: every read, write and TLS handshake has a deadline; when it passes the operation
// fails with asio::error::timed_out. A plain connection can be upgraded to TLS once (STARTTLS)
// or start in TLS (implicit TLS, mutual-TLS tunnel mode). Errors are thrown as
// boost::system::system_error; read_some returns 0 at end of stream.
// A connection accepted by net::server is attached to its listener's admission: the driver
// reports progress (progressed: no longer evictable) and a login (authenticated: leaves the
// pre-authentication pool), and asks overloaded() to choose its short deadlines. Detached
// connections (outgoing ones, tests) treat these as no-ops and are never overloaded.
// Does not: frame lines or know any protocol (that is the codecs' job), retry, or log.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::net {

class admission;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

class connection {
public:
    explicit connection(tcp::socket s);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    asio::awaitable<std::size_t> read_some(std::span<char> buf, clock::duration timeout);
    asio::awaitable<void> write(std::string_view data, clock::duration timeout);
    asio::awaitable<void> start_tls_server(std::shared_ptr<asio::ssl::context> ctx,
                                           clock::duration timeout);
    asio::awaitable<void> start_tls_client(std::shared_ptr<asio::ssl::context> ctx,
                                           const std::string& sni, clock::duration timeout);

    bool is_tls() const { return tls_ != nullptr; }
    std::string tls_version() const;
    std::string tls_cipher() const;
    // Lower-case hex SHA-256 of the peer's DER certificate, "" when none was presented.
    std::string peer_cert_sha256() const;
    const tcp::endpoint& remote() const { return remote_; }
    const tcp::endpoint& local() const { return local_; }
    // The remote address as text without port ("192.0.2.1", "2001:db8::1").
    std::string remote_ip() const;
    void close() noexcept;
    // The real client named by a PROXY protocol header (proxy/reader.hpp): remote() and
    // remote_ip() report it from now on.
    void set_remote(const tcp::endpoint& real_client) { remote_ = real_client; }
    // Half-close: no more bytes will be sent (TCP FIN); reading goes on (plain TCP only).
    void shutdown_send() noexcept;
    // The socket itself, for full-duplex pass-through drivers (relay/imap_proxy) that read and
    // write at the same time with their own idle watchdog; the per-operation deadlines above
    // cancel every pending operation of the socket, which would cut the other direction.
    tcp::socket& socket() { return sock_; }
    // For pooled client connections between transactions: true when the peer sent something
    // or closed (EOF, reset) while we were not reading, checked without waiting. Such a
    // connection must not carry the next transaction: an idle peer only ever speaks to say
    // goodbye (a 421, a TLS close_notify, a FIN).
    bool peer_spoke_while_idle() const;
    asio::any_io_executor get_executor() { return sock_.get_executor(); }

    // When the connection was made (the start of every whole-connection deadline).
    clock::time_point accepted_at() const { return accepted_at_; }
    void attach(std::shared_ptr<admission> a, std::uint64_t slot);
    void progressed();
    void authenticated();
    bool overloaded() const;

private:
    tcp::socket sock_;
    std::shared_ptr<asio::ssl::context> ctx_; // keeps the context alive as long as tls_
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
    tcp::endpoint remote_;
    tcp::endpoint local_;
    clock::time_point accepted_at_ = clock::now();
    std::shared_ptr<admission> admission_;
    std::uint64_t slot_ = 0;
};

// A short, readable text for logs: system errors without Boost's source location.
std::string error_text(const std::exception& e);

// Parses "127.0.0.1:25", "[::1]:25", "host.example:25". Throws std::invalid_argument.
std::pair<std::string, std::uint16_t> split_host_port(std::string_view host_port);

// Connects (resolving names if needed) with a deadline over all attempts.
asio::awaitable<std::unique_ptr<connection>> connect(const std::string& host_port,
                                                     clock::duration timeout);

} // namespace splitmail::net
