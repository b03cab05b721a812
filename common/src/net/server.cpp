// Accept loops with connection limits; see server.hpp.
#include "splitmail/net/server.hpp"
#include "splitmail/net/spawn.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/proxy/reader.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace splitmail::net {

refusal_log::decision refusal_log::note(std::string_view ip, clock::time_point now) {
    decision d;
    if (now - window_start_ >= window) {
        window_start_ = now;
        seen_.clear();
    }
    if (seen_.size() < clients_per_window && !seen_.contains(ip)) {
        seen_.emplace(ip);
        d.log = true;
        d.suppressed = suppressed_;
        suppressed_ = 0;
    } else {
        ++suppressed_;
    }
    return d;
}

server::server(asio::io_context& io, std::string name, limits l, handler handle, refuser refuse)
    : server(io, std::move(name), std::make_shared<admission>(l), std::move(handle),
             std::move(refuse)) {}

server::server(asio::io_context& io, std::string name, std::shared_ptr<admission> shared,
               handler handle, refuser refuse)
    : io_(io), name_(std::move(name)), admission_(std::move(shared)), handle_(std::move(handle)),
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
    if (ec == boost::system::errc::address_not_available)
        // EADDRNOTAVAIL: no interface has this address. For the tunnel address (LMTP on home,
        // the relay's side) that means the WireGuard interface is not up (issue 16 bug 9).
        throw std::runtime_error(name_ + ": cannot listen on " + host_port + ": " + ec.message() +
                                 ": " + hp.first +
                                 " is not an address of this machine; if it is the WireGuard "
                                 "tunnel's, the tunnel interface is not up (systemctl start "
                                 "wg-quick@wg-smhome on home, wg-quick@wg-smrelay on the "
                                 "relay; `ip addr` lists the addresses), else fix the listen "
                                 "setting");
    if (ec)
        throw std::runtime_error(name_ + ": cannot listen on " + host_port + ": " + ec.message());
    auto& ref = *acc;
    acceptors_.push_back(std::move(acc));
    log::info(name_, "", "listening", {{"address", host_port}});
    spawn(io_, name_ + " accept loop", accept_loop(ref));
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
        // run_one() catches what a session throws and logs it.
        spawn(io_, name_ + " connection", run_one(std::move(s)));
    }
}

void server::log_refusal(const std::string& ip, std::string_view what, std::string_view reason) {
    auto d = refusals_.note(ip, clock::now());
    if (!d.log) return;
    if (d.suppressed > 0)
        log::warn(name_, "", "connection refusals not logged (rate limit)",
                  {{"count", d.suppressed}});
    log::warn(name_, "", what, {{"client", ip}, {"reason", reason}});
}

asio::awaitable<void> server::run_one(tcp::socket s) {
    connection conn(std::move(s));
    std::string ip = conn.remote_ip();
    live_.insert(&conn);
    if (proxy_from_ || proxy_dedicated_) {
        // Before admission: the header names the client that limits and handlers must see.
        auto e = proxy::source_policy(proxy_dedicated_, proxy_from_ && proxy_from_(ip));
        std::string error;
        if (e == proxy::expectation::refuse) {
            error = "not a trusted PROXY protocol source (imap.proxy_from)";
        } else if (e == proxy::expectation::header) {
            try {
                auto h = co_await proxy::read_and_apply(conn, proxy_timeout_);
                if (!h.ok)
                    error = "PROXY header refused: " + h.error;
                else if (h.value.cmd == proxy::command::proxy)
                    log::debug(name_, "", "PROXY header",
                               {{"client", conn.remote_ip()}, {"via", ip}});
            } catch (const std::exception& ex) { // never the process (see run_one's contract)
                error = "PROXY header refused: " + error_text(ex);
            }
        }
        if (!error.empty()) {
            log_refusal(ip, "connection refused", error);
            conn.close();
            live_.erase(&conn);
            co_return;
        }
        ip = conn.remote_ip();
    }
    const bool trusted = trusted_ && trusted_(ip);
    // Eviction closes the socket; the handler then fails its pending read and ends as usual.
    auto v = admission_->admit(ip, trusted, [&conn] { conn.close(); });
    if (!v.evicted_ip.empty())
        log_refusal(v.evicted_ip, "idle connection closed to make room", "too many connections");
    if (v.slot) conn.attach(admission_, v.slot);
    try {
        if (!v.slot) {
            log_refusal(ip, "connection refused", v.reason);
            if (refuse_) co_await refuse_(conn, v.reason);
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
    if (v.slot) admission_->release(v.slot);
}

} // namespace splitmail::net
