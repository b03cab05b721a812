// The relay's queue wiring; see relay_queue.hpp.
#include "queue/relay_queue.hpp"

#include "splitmail/log/log.hpp"

namespace splitmail::relay {

relay_queue::relay_queue(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                         recipient_directory& dir, net::tls_context home_tls)
    : manager_(io, spool,
               notice_settings{s.hostname,
                               [&dir](std::string_view d) { return dir.is_relay_domain(d); }}),
      home_(io, s, spool, dir, std::move(home_tls), manager_) {
    queue_policy home{
        .route = queue::rcpt_route::home,
        .retry = {s.retry_initial, s.retry_max, s.message_lifetime, 0.2, std::chrono::seconds(0)},
        .bounce_each_attempt = false};
    manager_.set_transport(queue::rcpt_route::home, &home_, home);

    auto res = dns::unbound_resolver::create({s.outbound_resolver, 2});
    auto tls = net::make_client_tls("", "", false);
    if (!res || !tls) {
        log::error("smtp", "", "outbound delivery disabled: cannot set up DNS or TLS",
                   {{"error", !res ? res.error() : tls.error()}});
        return;
    }
    remote_ = std::make_unique<remote_transport>(io, s, spool, manager_.readers(), std::move(*res),
                                                 std::move(*tls));
    queue_policy remote{.route = queue::rcpt_route::remote,
                        .retry = {s.outbound_retry_initial, s.outbound_retry_max,
                                  s.outbound_lifetime, 0.2, s.outbound_delay_warning},
                        .bounce_each_attempt = true};
    manager_.set_transport(queue::rcpt_route::remote, remote_.get(), remote);
}

relay_queue::~relay_queue() = default;

} // namespace splitmail::relay
