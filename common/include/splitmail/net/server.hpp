#pragma once
// Accept loops for the listeners of one program.
//
// Guarantees: one coroutine per connection; an exception thrown by a handler ends that
// connection (and is logged), never the process. The total and per-IP connection limits are
// enforced before the handler runs: over a limit, `refuse` is called instead (to say 421) and
// the connection is closed. stop() stops accepting and closes every tracked connection;
// stop_accepting() only closes the listeners (for a graceful drain before stop()).
// Does not: speak any protocol or apply TLS (handlers do, via net::connection).
#include "splitmail/net/connection.hpp"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace splitmail::net {

struct limits {
    std::size_t max_connections = 500;
    std::size_t max_per_ip = 20;
};

class server {
public:
    using handler = std::function<asio::awaitable<void>(connection&)>;
    using refuser = std::function<asio::awaitable<void>(connection&, std::string_view why)>;

    server(asio::io_context& io, std::string name, limits l, handler handle, refuser refuse);
    ~server();
    // Binds and starts accepting on "ip:port"; throws std::runtime_error naming the address
    // and the reason (address in use, permission denied ...).
    void listen(const std::string& host_port);
    void stop();
    void stop_accepting();
    std::size_t active() const { return live_.size(); }
    // Ports actually bound (useful with port 0 in tests).
    std::vector<tcp::endpoint> bound() const;

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acc);
    asio::awaitable<void> run_one(tcp::socket s);

    asio::io_context& io_;
    std::string name_;
    limits limits_;
    handler handle_;
    refuser refuse_;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::map<std::string, std::size_t> per_ip_;
    std::set<connection*> live_;
    bool stopped_ = false;
};

} // namespace splitmail::net
