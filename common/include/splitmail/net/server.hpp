#pragma once
// Accept loops for the listeners of one program.
//
// Guarantees: one coroutine per connection; an exception thrown by a handler ends that
// connection (and is logged), never the process. Admission (net::admission: total cap, per
// address, per /24 or /64 network, the pool of not-yet-authenticated connections, fair-share
// eviction of idle ones) is decided before the handler runs. A refused connection gets
// `refuse` (to say 421 / BYE) and is closed; with no refuser it is closed without a byte,
// which is what implicit-TLS listeners need (RFC 8314 3.3: nothing in plaintext there, and a
// TLS handshake per refused client is work an overloaded server should not do). Refusals and
// evictions are logged at warn with client and reason for fail2ban, rate-limited (refusal_log)
// so a flood does not flood the log. Several servers may share one admission (one set of
// counts for, e.g., the IMAP STARTTLS and implicit-TLS ports). Handlers reach the admission
// through net::connection (progressed, authenticated, overloaded). stop() stops accepting and
// closes every tracked connection; stop_accepting() only closes the listeners (for a graceful
// drain before stop()).
// Does not: speak any protocol or apply TLS (handlers do, via net::connection).
#include "splitmail/net/admission.hpp"
#include "splitmail/net/connection.hpp"

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace splitmail::net {

// max_connections, max_per_ip, max_per_network, max_unauthenticated (see admission.hpp).
using limits = admission_limits;

// Rate limit of the "connection refused" lines: per 10-second window the first refusal of
// each client is logged, for at most 20 clients; the others are counted, and the count is
// reported with the next line that is logged. Memory is bounded by the 20 clients.
class refusal_log {
public:
    static constexpr auto window = std::chrono::seconds(10);
    static constexpr std::size_t clients_per_window = 20;
    struct decision {
        bool log = false;
        std::size_t suppressed = 0; // refusals not logged before this one (report them now)
    };
    decision note(std::string_view ip, clock::time_point now);

private:
    clock::time_point window_start_{};
    std::set<std::string, std::less<>> seen_;
    std::size_t suppressed_ = 0;
};

class server {
public:
    using handler = std::function<asio::awaitable<void>(connection&)>;
    using refuser = std::function<asio::awaitable<void>(connection&, std::string_view why)>;
    using trust = std::function<bool(std::string_view ip)>;

    server(asio::io_context& io, std::string name, limits l, handler handle, refuser refuse);
    server(asio::io_context& io, std::string name, std::shared_ptr<admission> shared,
           handler handle, refuser refuse);
    ~server();
    // Clients for which `t` is true are admitted as trusted: outside the pool, not subject to
    // the per-address and per-network caps (relay.trusted_networks).
    void set_trusted(trust t) { trusted_ = std::move(t); }
    // PROXY protocol v2 (proxy/v2.hpp) on this server's listeners: clients for which `from`
    // is true must start with a header, read before admission so that limits and handlers see
    // the real client; on a `dedicated` server everyone else is closed at once. A missing or
    // invalid header closes the connection (logged at warn, rate-limited like refusals).
    void set_proxy(trust from, bool dedicated, clock::duration header_timeout) {
        proxy_from_ = std::move(from);
        proxy_dedicated_ = dedicated;
        proxy_timeout_ = header_timeout;
    }
    // Binds and starts accepting on "ip:port"; throws std::runtime_error naming the address
    // and the reason (address in use, permission denied ...).
    void listen(const std::string& host_port);
    void stop();
    void stop_accepting();
    std::size_t active() const { return live_.size(); }
    const admission& admitted() const { return *admission_; }
    // Ports actually bound (useful with port 0 in tests).
    std::vector<tcp::endpoint> bound() const;

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acc);
    asio::awaitable<void> run_one(tcp::socket s);
    void log_refusal(const std::string& ip, std::string_view what, std::string_view reason);

    asio::io_context& io_;
    std::string name_;
    std::shared_ptr<admission> admission_;
    handler handle_;
    refuser refuse_;
    trust trusted_;
    refusal_log refusals_;
    trust proxy_from_;
    bool proxy_dedicated_ = false;
    clock::duration proxy_timeout_{};
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::set<connection*> live_;
    bool stopped_ = false;
};

} // namespace splitmail::net
