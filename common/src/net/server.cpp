// Accept loops with connection limits; see server.hpp.
#include "splitmail/net/server.hpp"

#include "splitmail/log/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace splitmail::net {

server::server(asio::io_context& io, std::string name, limits l, handler handle, refuser refuse)
    : io_(io), name_(std::move(name)), limits_(l), handle_(std::move(handle)),
      refuse_(std::move(refuse)) {}

server::~server() { stop(); }

void server::listen(const std::string& host_port) {
    std::pair<std::string, std::uint16_t> hp;
    try {
        hp = split_host_port(host_port);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(name_ + ": listen address " + e.what());
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(hp.first, ec);
    if (ec)
        throw std::runtime_error(name_ + ": listen address \"" + host_port +
                                 "\": not an IP address (listeners take numeric addresses)");
    tcp::endpoint ep(addr, hp.second);
    auto acc = std::make_unique<tcp::acceptor>(io_);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error(name_ + ": cannot listen on " + host_port + ": " + ec.message());
    auto& ref = *acc;
    acceptors_.push_back(std::move(acc));
    log::info(name_, "", "listening", {{"address", host_port}});
    asio::co_spawn(io_, accept_loop(ref), asio::detached);
}

std::vector<tcp::endpoint> server::bound() const {
    std::vector<tcp::endpoint> out;
    for (const auto& a : acceptors_) {
        boost::system::error_code ec;
        auto ep = a->local_endpoint(ec);
        if (!ec) out.push_back(ep);
    }
    return out;
}

void server::stop_accepting() {
    stopped_ = true;
    for (auto& a : acceptors_) {
        boost::system::error_code ec;
        a->close(ec);
    }
}

void server::stop() {
    stop_accepting();
    for (auto* c : live_) c->close();
}

asio::awaitable<void> server::accept_loop(tcp::acceptor& acc) {
    while (!stopped_) {
        boost::system::error_code ec;
        tcp::socket s = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (stopped_ || ec == asio::error::operation_aborted) co_return;
            // EMFILE and friends: log, pause briefly, keep serving (never exit the loop).
            log::warn(name_, "", "accept failed", {{"error", ec.message()}});
            asio::steady_timer t(io_, std::chrono::milliseconds(100));
            co_await t.async_wait(asio::use_awaitable);
            continue;
        }
        asio::co_spawn(io_, run_one(std::move(s)), asio::detached);
    }
}

asio::awaitable<void> server::run_one(tcp::socket s) {
    connection conn(std::move(s));
    std::string ip = conn.remote_ip();
    live_.insert(&conn);
    auto& count = per_ip_[ip];
    ++count;
    std::string why;
    if (live_.size() > limits_.max_connections) why = "too many connections";
    else if (count > limits_.max_per_ip) why = "too many connections from your address";
    try {
        if (!why.empty()) {
            log::warn(name_, "", "connection refused", {{"client", ip}, {"reason", why}});
            if (refuse_) co_await refuse_(conn, why);
        } else {
            co_await handle_(conn);
        }
    } catch (const boost::system::system_error& e) {
        // Peers that vanish or time out are ordinary; the session has logged what matters.
        log::debug(name_, "", "connection ended", {{"client", ip}, {"error", error_text(e)}});
    } catch (const std::exception& e) {
        log::error(name_, "", "connection ended by an internal error",
                   {{"client", ip}, {"error", error_text(e)}});
    }
    conn.close();
    live_.erase(&conn);
    if (--per_ip_[ip] == 0) per_ip_.erase(ip);
}

} // namespace splitmail::net
