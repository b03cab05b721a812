// Queuing a DSN for a queued message; see notice.hpp.
#include "queue/notice.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/queue/id.hpp"

namespace splitmail::relay {

namespace asio = boost::asio;

asio::awaitable<notice_result>
queue_notice(queue::spool& spool, asio::thread_pool& readers, const notice_settings& ns,
             const queue::envelope& env, dsn_kind kind, std::vector<std::string> only,
             sys_time now, sys_time will_retry_until) {
    (void)readers;
    notice_result out;
    auto msg = spool.read_message(env.id);
    dsn_options opt;
    opt.reporting_mta = ns.reporting_mta;
    opt.now = now;
    opt.will_retry_until = will_retry_until;
    opt.only = std::move(only);
    auto dsn = make_dsn(env, msg ? std::string_view(*msg) : std::string_view(), kind, opt);
    if (!dsn) {
        // Null sender (RFC 5321 4.5.5: never bounce a bounce) or NOTIFY without this kind.
        log::info("queue", env.id, "no notice sent",
                  {{"from", env.sender}, {"kind", kind == dsn_kind::failure ? "failure" : "delay"}});
        out.ok = true;
        co_return out;
    }
    auto notice = make_notice_envelope(*dsn, queue::make_id(), now);
    for (auto& r : notice.recipients) {
        auto at = r.address.rfind('@');
        r.route = at != std::string::npos && ns.is_ours(r.address.substr(at + 1))
                      ? queue::rcpt_route::home
                      : queue::rcpt_route::remote;
    }
    auto ec = co_await net::await_callback(
        [&spool, &notice, &dsn](std::function<void(std::error_code)> cb) {
            spool.enqueue(notice, "", dsn->data, cb);
        });
    if (ec) {
        log::error("queue", env.id, "cannot queue the notice; keeping the message",
                   {{"error", ec.message()}});
        co_return out;
    }
    log::info("queue", env.id, kind == dsn_kind::failure ? "bounce queued" : "delay notice queued",
              {{"notice", notice.id}, {"to", dsn->recipient}});
    out.ok = true;
    out.notice = std::move(notice);
    co_return out;
}

} // namespace splitmail::relay
