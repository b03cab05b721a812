// The queue manager's LMTP transport to home; see home_transport.hpp.
#include "delivery/home_transport.hpp"

#include "delivery/message_stream.hpp"
#include "lmtp_out/client.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace splitmail::relay {

namespace asio = boost::asio;

namespace {
lmtp_options make_options(const settings& s, const net::tls_context& tls) {
    lmtp_options o;
    o.address = s.home_lmtp;
    o.mtls = s.home_transport == "mtls";
    o.tls = tls;
    o.pin_sha256 = s.home_pin_sha256;
    o.lhlo_name = s.hostname;
    o.secret = s.home_lmtp_secret;
    o.timeout = std::chrono::seconds(120);
    return o;
}
} // namespace

home_transport::home_transport(asio::io_context& io, const settings& s, queue::spool& spool,
                               recipient_directory& dir, net::tls_context home_tls,
                               queue_manager& manager)
    : io_(io), s_(s), spool_(spool), dir_(dir), home_tls_(std::move(home_tls)), manager_(manager),
      wake_(io), refresh_timer_(io) {
    wake_.expires_at(asio::steady_timer::time_point::max());
}

void home_transport::start() {
    for (std::size_t i = 0; i < s_.home_connections; ++i)
        net::spawn(io_, "home delivery worker", worker());
    net::spawn(io_, "recipient list refresh", refresh_loop());
}

void home_transport::stop() {
    stopped_ = true;
    wake_.cancel();
    refresh_timer_.cancel();
}

void home_transport::attempt(queue::envelope& env, done_fn done) {
    ready_.push_back({&env, std::move(done)});
    wake_.cancel();
}

std::string home_transport::expiry_text(const queue::envelope& env, const queue::recipient&) const {
    return "message expired: home was unreachable for too long" +
           (env.last_error.empty() ? std::string() : " (" + env.last_error + ")");
}

asio::awaitable<void> home_transport::worker() {
    std::unique_ptr<lmtp_client> client;
    auto opts = make_options(s_, home_tls_);
    while (!stopped_) {
        if (ready_.empty() || home_down_) {
            boost::system::error_code ec;
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        pending p = std::move(ready_.front());
        ready_.pop_front();
        queue::envelope& env = *p.env;
        const std::string id = env.id;
        attempt_record rec;

        std::vector<std::size_t> idx;
        lmtp_transaction t;
        for (std::size_t i = 0; i < env.recipients.size(); ++i) {
            if (!is_open(env.recipients[i], queue::rcpt_route::home)) continue;
            idx.push_back(i);
            t.recipients.push_back(env.recipients[i].address);
        }
        auto msg = spool_.open_message(id);
        if (!msg) {
            log::debug("lmtp", id, "message file unavailable", {{"error", msg.error().message()}});
            rec.message_gone = true;
            p.done(std::move(rec));
            continue;
        }
        t.sender = env.sender;
        t.eight_bit = env.body == queue::body_type::eight_bit_mime;
        t.smtputf8 = env.smtputf8;
        message_stream body(std::move(*msg), manager_.readers());
        t.message = &body;

        std::vector<smtp::reply> replies;
        std::string failure;
        // A pooled connection home closed while idle (its LMTP idle timeout, a restart) is
        // replaced before use, so it never costs an attempt or a "home unreachable".
        if (client && !client->reusable()) {
            log::debug("lmtp", id, "pooled connection to home was closed while idle; reconnecting");
            client.reset();
        }
        sending_.add(body);
        try {
            if (!client) client = co_await lmtp_client::open(opts);
            replies = co_await client->deliver(t);
        } catch (const std::exception& e) {
            failure = net::error_text(e);
        }
        sending_.remove(body);
        if (!failure.empty()) {
            client.reset();
            if (!home_down_) {
                home_down_ = true;
                log::warn("lmtp", id, "home unreachable; keeping mail queued",
                          {{"home", s_.home_lmtp}, {"error", failure}});
                if (!probing_) net::spawn(io_, "home probe", probe_loop());
            }
            rec.error = "home unreachable: " + failure;
            p.done(std::move(rec));
            continue;
        }
        for (std::size_t k = 0; k < idx.size(); ++k) {
            const auto& rep = replies[k];
            const std::string text = rep.lines.empty() ? "" : rep.lines.front();
            auto o = apply_result(env, idx[k], {rep.code, rep.enhanced, text}, rec);
            const auto& r = env.recipients[idx[k]];
            if (o == rcpt_outcome::delivered)
                log::info("lmtp", id, "delivered",
                          {{"to", r.address}, {"from", env.sender}, {"reply", rep.code}});
            else if (o == rcpt_outcome::failed)
                log::warn("lmtp", id, "refused by home",
                          {{"to", r.address}, {"reply", std::to_string(rep.code) + " " + text}});
            else
                log::info("lmtp", id, "deferred by home",
                          {{"to", r.address}, {"reply", std::to_string(rep.code) + " " + text}});
        }
        p.done(std::move(rec));
    }
    if (client) co_await client->quit();
}

asio::awaitable<void> home_transport::probe_loop() {
    probing_ = true;
    auto opts = make_options(s_, home_tls_);
    auto delay = std::chrono::seconds(1);
    asio::steady_timer t(io_);
    while (home_down_ && !stopped_) {
        t.expires_after(delay);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        try {
            auto c = co_await lmtp_client::open(opts);
            co_await c->quit();
            home_down_ = false;
            log::info("lmtp", "", "home reachable again; retrying queued mail now",
                      {{"queued", manager_.queued(queue::rcpt_route::home)}});
            wake_.cancel();
            manager_.flush(queue::rcpt_route::home);
            refresh_timer_.cancel(); // refresh the recipient list at once
        } catch (const std::exception&) {
            delay = std::min(delay * 2, std::chrono::seconds(5));
        }
    }
    probing_ = false;
}

asio::awaitable<void> home_transport::refresh_loop() {
    auto opts = make_options(s_, home_tls_);
    bool last_ok = true;
    while (!stopped_) {
        try {
            auto c = co_await lmtp_client::open(opts);
            auto r = co_await c->command("XDIRECTORY");
            co_await c->quit();
            if (r.code != 250) throw std::runtime_error("home answered " + r.format());
            auto snap = parse_xdirectory(r.lines);
            if (!snap) throw std::runtime_error(snap.error());
            std::string version = snap->version;
            auto n = snap->recipients.size();
            bool changed = !dir_.snapshot() || dir_.snapshot()->version != version;
            if (auto u = dir_.update(std::move(*snap)); !u)
                log::error("rcpt", "", "cannot save recipient cache", {{"error", u.error()}});
            if (changed)
                log::info("rcpt", "", "recipient list updated from home",
                          {{"version", version}, {"recipients", n}});
            last_ok = true;
        } catch (const std::exception& e) {
            if (last_ok)
                log::warn(
                    "rcpt", "", "cannot refresh recipient list from home; using the cached copy",
                    {{"error", net::error_text(e)}, {"cached", dir_.snapshot() ? "yes" : "no"}});
            last_ok = false;
        }
        refresh_timer_.expires_after(last_ok ? s_.recipient_refresh
                                             : std::min<std::chrono::seconds>(
                                                   s_.recipient_refresh, std::chrono::seconds(5)));
        boost::system::error_code ec;
        co_await refresh_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace splitmail::relay
