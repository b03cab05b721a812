// IMAP pass-through driver; see pass_through.hpp.
#include "imap_proxy/pass_through.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/proxy/v2.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdio>

namespace splitmail::relay {
namespace {

namespace asio = net::asio;
using net::clock;

struct splice {
    clock::time_point last_activity = clock::now();
    std::uint64_t up = 0;   // client -> home
    std::uint64_t down = 0; // home -> client
    std::string ended;      // first reason a direction ended abnormally, "" = clean
    net::connection* client = nullptr;
    bool progressed = false;
};

// Copies `from` to `to` until `from` ends. Never throws: an error closes both sockets so that
// the other direction ends too (the && below then completes).
asio::awaitable<void> pump(net::tcp::socket& from, net::tcp::socket& to, std::uint64_t& count,
                           splice& st, const char* side) {
    std::array<char, pass_through_buffer_size> buf; // the fixed per-direction buffer
    for (;;) {
        boost::system::error_code ec;
        std::size_t n = co_await from.async_read_some(
            asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::eof) {
            // Half-close: pass the FIN on; the other direction keeps going.
            boost::system::error_code ignored;
            to.shutdown(net::tcp::socket::shutdown_send, ignored);
            co_return;
        }
        if (!ec) {
            st.last_activity = clock::now();
            co_await asio::async_write(to, asio::buffer(buf.data(), n),
                                       asio::redirect_error(asio::use_awaitable, ec));
        }
        if (ec) {
            if (st.ended.empty())
                st.ended = ec == asio::error::operation_aborted
                               ? std::string("closed")
                               : std::string(side) + ": " + ec.message();
            boost::system::error_code ignored;
            from.close(ignored);
            to.close(ignored);
            co_return;
        }
        st.last_activity = clock::now();
        count += n;
        // Bytes went both ways: a live session, not an idle slot to evict (net/admission.hpp).
        if (!st.progressed && st.up > 0 && st.down > 0) {
            st.progressed = true;
            st.client->progressed();
        }
    }
}

// Returns once nothing has moved for `idle` (the || below then cancels both directions).
asio::awaitable<void> watchdog(const splice& st, clock::duration idle) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (;;) {
        t.expires_at(st.last_activity + idle);
        co_await t.async_wait(asio::use_awaitable);
        if (clock::now() - st.last_activity >= idle) co_return;
    }
}

} // namespace

asio::awaitable<void> serve_pass_through(net::connection& client, pass_through_options& o) {
    using namespace asio::experimental::awaitable_operators;
    char idbuf[32];
    std::snprintf(idbuf, sizeof idbuf, "P%llX",
                  static_cast<unsigned long long>(o.next_id.fetch_add(1)));
    const std::string id = idbuf;
    const std::string client_ip = client.remote_ip();
    const auto started = clock::now();

    auto src = proxy::make_endpoint(client_ip, client.remote().port());
    auto dst = proxy::make_endpoint(client.local().address().to_string(), client.local().port());
    if (!src || !dst) { // cannot happen for a TCP peer; never forward without a header
        log::error("imap-proxy", id, "no address for the PROXY header", {{"client", client_ip}});
        co_return;
    }
    std::unique_ptr<net::connection> home;
    try {
        home = co_await net::connect(o.home, o.connect_timeout);
        co_await home->write(proxy::encode(*src, *dst), o.header_timeout);
    } catch (const std::exception& e) {
        log::warn("imap-proxy", id, "home unreachable; client closed",
                  {{"client", client_ip}, {"home", o.home}, {"error", net::error_text(e)}});
        co_return;
    }

    splice st;
    st.client = &client;
    auto& cs = client.socket();
    auto& hs = home->socket();
    // Named locals: g++ 12 mishandles temporaries inside a co_await expression.
    auto up = pump(cs, hs, st.up, st, "client");
    auto down = pump(hs, cs, st.down, st, "home");
    auto both = std::move(up) && std::move(down);
    auto dog = watchdog(st, o.idle_timeout);
    auto first = co_await (std::move(both) || std::move(dog));
    std::string why = first.index() == 1 ? "idle timeout" : st.ended.empty() ? "closed" : st.ended;
    home->close();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    log::info("imap-proxy", id, "connection",
              {{"client", client_ip},
               {"home", o.home},
               {"bytes_in", st.up},
               {"bytes_out", st.down},
               {"duration_ms", static_cast<std::uint64_t>(ms.count())},
               {"end", why}});
}

} // namespace splitmail::relay
