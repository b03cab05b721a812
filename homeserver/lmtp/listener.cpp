// TLS + pin check, then the LMTP driver; see listener.hpp.
#include "lmtp/listener.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/users/password.hpp"

#include <cstdio>

namespace splitmail::home::lmtp {

net::asio::awaitable<void> serve_lmtp(net::connection& c, listener_context& ctx) {
    char idbuf[32];
    std::snprintf(idbuf, sizeof idbuf, "L%llX",
                  static_cast<unsigned long long>(ctx.next_id.fetch_add(1)));
    std::string id = idbuf;
    log::info("lmtp", id, "connect", {{"client", c.remote_ip()}});
    if (ctx.tls) {
        co_await c.start_tls_server(ctx.tls, std::chrono::seconds(30));
        auto pin = c.peer_cert_sha256();
        if (ctx.client_pin.empty() || !users::constant_time_equal(pin, ctx.client_pin)) {
            log::warn("lmtp", id, "client certificate is not the pinned one; closing",
                      {{"client", c.remote_ip()}, {"sha256", pin}});
            co_return;
        }
    }
    co_await run_session(c, *ctx.driver, id, c.remote_ip());
    log::info("lmtp", id, "disconnect");
}

} // namespace splitmail::home::lmtp
