// Delivery runner: spool -> LMTP -> home; see runner.hpp.
#include "delivery/runner.hpp"

#include "lmtp_out/client.hpp"
#include "bounce/dsn.hpp"
#include "queue/schedule.hpp"
#include "smtp_out/remote_runner.hpp"

#include "splitmail/queue/id.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace splitmail::relay {

namespace asio = boost::asio;
using sys_clock = std::chrono::system_clock;

namespace {
bool is_final(queue::rcpt_state s) {
    return s == queue::rcpt_state::delivered || s == queue::rcpt_state::failed;
}

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

delivery_runner::delivery_runner(asio::io_context& io, const settings& s, queue::spool& spool,
                                 recipient_directory& dir, net::tls_context home_tls)
    : io_(io), s_(s), spool_(spool), dir_(dir), home_tls_(std::move(home_tls)), wake_(io),
      refresh_timer_(io), rng_(std::random_device{}()) {
    wake_.expires_at(asio::steady_timer::time_point::max());
    auto res = dns::unbound_resolver::create({s.outbound_resolver, 2});
    auto tls = net::make_client_tls("", "", false);
    if (!res || !tls) {
        log::error("smtp", "", "outbound delivery disabled: cannot set up DNS or TLS",
                   {{"error", !res ? res.error() : tls.error()}});
        return;
    }
    remote_ = std::make_unique<remote_runner>(io, s, spool, readers_, std::move(*res),
                                              std::move(*tls),
                                              [this](queue::envelope e) { add(std::move(e)); });
}

delivery_runner::~delivery_runner() = default;

std::size_t delivery_runner::queued() const {
    return envs_.size() + (remote_ ? remote_->queued() : 0);
}

bool delivery_runner::route_remote(queue::envelope& env) {
    bool open_home = false, open_remote = false;
    for (const auto& r : env.recipients) {
        if (is_final(r.state)) continue;
        (r.route == queue::rcpt_route::home ? open_home : open_remote) = true;
    }
    if (open_home || !open_remote) return false;
    if (!remote_) {
        log::warn("queue", env.id, "recipients outside our domains kept in the queue: outbound "
                                   "delivery is disabled (see the error at start-up)");
        return true;
    }
    remote_->add(std::move(env));
    return true;
}

void delivery_runner::start(std::vector<queue::envelope> recovered) {
    auto now = sys_clock::now();
    if (remote_) remote_->start();
    for (auto& e : recovered) {
        if (route_remote(e)) continue;
        auto id = e.id;
        auto when = e.next_attempt;
        envs_.emplace(id, std::move(e));
        if (when <= now) ready_.push_back(id);
        else waiting_.emplace(when, id);
    }
    if (!envs_.empty())
        log::info("queue", "", "resuming queued messages", {{"count", envs_.size()}});
    for (std::size_t i = 0; i < s_.home_connections; ++i)
        net::spawn(io_, "home delivery worker", worker(static_cast<int>(i)));
    net::spawn(io_, "recipient list refresh", refresh_loop());
    // Ticker: promotes deferred messages whose time has come (1 s granularity).
    net::spawn(
        io_, "home delivery timer",
        [this]() -> asio::awaitable<void> {
            asio::steady_timer t(io_);
            while (!stopped_) {
                t.expires_after(std::chrono::seconds(1));
                boost::system::error_code ec;
                co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                if (!home_down_) promote_due();
            }
        });
}

void delivery_runner::add(queue::envelope env) {
    if (route_remote(env)) return;
    auto id = env.id;
    envs_.emplace(id, std::move(env));
    ready_.push_back(id);
    wake();
}

void delivery_runner::flush_all() {
    for (auto& [when, id] : waiting_) ready_.push_back(id);
    waiting_.clear();
    wake();
    if (remote_) remote_->flush_all();
}

void delivery_runner::stop() {
    stopped_ = true;
    if (remote_) remote_->stop();
    wake_.cancel();
    refresh_timer_.cancel();
}

void delivery_runner::wake() { wake_.cancel(); }

void delivery_runner::promote_due() {
    auto now = sys_clock::now();
    bool any = false;
    while (!waiting_.empty() && waiting_.begin()->first <= now) {
        ready_.push_back(waiting_.begin()->second);
        waiting_.erase(waiting_.begin());
        any = true;
    }
    if (any) wake();
}

void delivery_runner::schedule(const std::string& id, sys_clock::time_point when) {
    waiting_.emplace(when, id);
}

asio::awaitable<void> delivery_runner::worker(int n) {
    std::unique_ptr<lmtp_client> client;
    auto opts = make_options(s_, home_tls_);
    const std::string no_error;
    while (!stopped_) {
        if (ready_.empty() || home_down_) {
            boost::system::error_code ec;
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        std::string id = ready_.front();
        ready_.pop_front();
        auto it = envs_.find(id);
        if (it == envs_.end()) continue;
        queue::envelope& env = it->second;

        // Lifetime over: every recipient still open fails (RFC 3463 4.4.7).
        if (sys_clock::now() - env.arrival > s_.message_lifetime) {
            for (auto& r : env.recipients) {
                if (is_final(r.state) || r.route != queue::rcpt_route::home) continue;
                r.state = queue::rcpt_state::failed;
                r.last_code = 554;
                r.last_enhanced = "4.4.7";
                r.last_text = "message expired: home was unreachable for too long" +
                              (env.last_error.empty() ? std::string() : " (" + env.last_error + ")");
            }
            const std::string why = "expired";
            co_await finish_attempt(env, false, why);
            continue;
        }

        std::vector<std::size_t> idx;
        lmtp_transaction t;
        for (std::size_t i = 0; i < env.recipients.size(); ++i) {
            const auto& r = env.recipients[i];
            if (is_final(r.state) || r.route != queue::rcpt_route::home) continue;
            idx.push_back(i);
            t.recipients.push_back(r.address);
        }
        if (idx.empty()) {
            co_await finish_attempt(env, false, no_error);
            continue;
        }
        auto msg = spool_.open_message(id);
        if (!msg) {
            // Deleted by `splitmail queue delete` (ENOENT) or unreadable: stop owning it.
            log::warn("queue", id, "message file unavailable; dropped from the schedule",
                      {{"error", msg.error().message()}});
            envs_.erase(it);
            continue;
        }
        t.sender = env.sender;
        t.eight_bit = env.body == queue::body_type::eight_bit_mime;
        t.smtputf8 = env.smtputf8;
        message_stream body(std::move(*msg), readers_);
        t.message = &body;

        std::vector<smtp::reply> replies;
        std::string failure;
        // A pooled connection home closed while idle (its LMTP idle timeout, a restart) is
        // replaced before use, so it never costs an attempt or a "home unreachable".
        if (client && !client->reusable()) {
            log::debug("lmtp", id, "pooled connection to home was closed while idle; reconnecting");
            client.reset();
        }
        try {
            if (!client) client = co_await lmtp_client::open(opts);
            replies = co_await client->deliver(t);
        } catch (const std::exception& e) {
            failure = net::error_text(e);
        }
        if (!failure.empty()) {
            client.reset();
            if (!home_down_) {
                home_down_ = true;
                log::warn("lmtp", id, "home unreachable; keeping mail queued",
                          {{"home", s_.home_lmtp}, {"error", failure}});
                if (!probing_) net::spawn(io_, "home probe", probe_loop());
            }
            const std::string why = "home unreachable: " + failure;
            co_await finish_attempt(env, true, why);
            continue;
        }
        for (std::size_t k = 0; k < idx.size(); ++k) {
            auto& r = env.recipients[idx[k]];
            const auto& rep = replies[k];
            r.last_code = rep.code;
            r.last_enhanced = rep.enhanced;
            r.last_text = rep.lines.empty() ? "" : rep.lines.front();
            if (rep.code / 100 == 2) {
                r.state = queue::rcpt_state::delivered;
                log::info("lmtp", id, "delivered",
                          {{"to", r.address}, {"from", env.sender}, {"reply", rep.code}});
            } else if (rep.code / 100 == 5) {
                r.state = queue::rcpt_state::failed;
                log::warn("lmtp", id, "refused by home",
                          {{"to", r.address}, {"reply", std::to_string(rep.code) + " " + r.last_text}});
            } else {
                r.state = queue::rcpt_state::deferred;
                log::info("lmtp", id, "deferred by home",
                          {{"to", r.address}, {"reply", std::to_string(rep.code) + " " + r.last_text}});
            }
        }
        co_await finish_attempt(env, false, no_error);
        (void)n;
    }
    if (client) co_await client->quit();
}

asio::awaitable<void> delivery_runner::finish_attempt(queue::envelope& env, bool connection_failed,
                                                      const std::string& error) {
    std::string id = env.id;
    bool all_final = true;
    for (const auto& r : env.recipients)
        if (!is_final(r.state) && r.route == queue::rcpt_route::home) all_final = false;
    bool has_remote = false;
    for (const auto& r : env.recipients)
        if (!is_final(r.state) && r.route == queue::rcpt_route::remote) has_remote = true;

    if (all_final && !has_remote) {
        if (!co_await send_bounces(env)) {
            // Keep the original until its bounce is safely queued; retry later.
            schedule(id, sys_clock::now() + s_.retry_initial);
            co_return;
        }
        auto ec = co_await net::await_callback(
            [this, &env](std::function<void(std::error_code)> cb) { spool_.remove(env, cb); });
        if (ec) log::error("queue", id, "cannot remove delivered message", {{"error", ec.message()}});
        else log::debug("queue", id, "removed");
        envs_.erase(id);
        co_return;
    }
    if (all_final && has_remote) {
        // The home part is done: record it (a crash must not deliver it twice), bounce its
        // failures, then the outbound queue owns the envelope.
        if (!co_await send_bounces(env)) {
            schedule(id, sys_clock::now() + s_.retry_initial);
            co_return;
        }
        auto ec = co_await net::await_callback(
            [this, &env](std::function<void(std::error_code)> cb) { spool_.update(env, cb); });
        if (ec == std::errc::no_such_file_or_directory) {
            envs_.erase(id);
            co_return;
        }
        if (ec) log::error("queue", id, "cannot update envelope", {{"error", ec.message()}});
        auto moved = std::move(env);
        envs_.erase(id);
        route_remote(moved);
        co_return;
    }
    ++env.attempts;
    if (!error.empty()) env.last_error = error;
    auto now = sys_clock::now();
    retry_policy policy{s_.retry_initial, s_.retry_max, s_.message_lifetime};
    env.next_attempt = next_attempt(env.attempts, now, policy, rng_);
    auto ec = co_await net::await_callback(
        [this, &env](std::function<void(std::error_code)> cb) { spool_.update(env, cb); });
    if (ec == std::errc::no_such_file_or_directory) {
        log::info("queue", id, "message was deleted from the queue meanwhile");
        envs_.erase(id);
        co_return;
    }
    if (ec) log::error("queue", id, "cannot update envelope", {{"error", ec.message()}});
    (void)connection_failed;
    schedule(id, env.next_attempt);
}

asio::awaitable<bool> delivery_runner::send_bounces(queue::envelope& env) {
    bool any_failed = false;
    for (const auto& r : env.recipients)
        if (r.state == queue::rcpt_state::failed) any_failed = true;
    if (!any_failed) co_return true;
    auto msg = spool_.read_message(env.id);
    dsn_options opt;
    opt.reporting_mta = s_.hostname;
    opt.now = sys_clock::now();
    auto dsn = make_dsn(env, msg ? std::string_view(*msg) : std::string_view(),
                        dsn_kind::failure, opt);
    if (!dsn) {
        // Null sender (RFC 5321 4.5.5: never bounce a bounce) or NOTIFY=NEVER.
        log::info("queue", env.id, "no bounce sent", {{"from", env.sender}});
        co_return true;
    }
    auto notice = make_notice_envelope(*dsn, queue::make_id(), opt.now);
    for (auto& r : notice.recipients) {
        auto at = r.address.rfind('@');
        r.route = at != std::string::npos && dir_.is_relay_domain(r.address.substr(at + 1))
                      ? queue::rcpt_route::home
                      : queue::rcpt_route::remote;
    }
    auto ec = co_await net::await_callback(
        [this, &notice, &dsn](std::function<void(std::error_code)> cb) {
            spool_.enqueue(notice, "", dsn->data, cb);
        });
    if (ec) {
        log::error("queue", env.id, "cannot queue the bounce; keeping the message",
                   {{"error", ec.message()}});
        co_return false;
    }
    log::info("queue", env.id, "bounce queued", {{"bounce", notice.id}, {"to", dsn->recipient}});
    add(std::move(notice));
    co_return true;
}

asio::awaitable<void> delivery_runner::probe_loop() {
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
                      {{"queued", envs_.size()}});
            flush_all();
            refresh_timer_.cancel(); // refresh the recipient list at once
        } catch (const std::exception&) {
            delay = std::min(delay * 2, std::chrono::seconds(5));
        }
    }
    probing_ = false;
}

asio::awaitable<void> delivery_runner::refresh_loop() {
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
                log::warn("rcpt", "", "cannot refresh recipient list from home; using the cached copy",
                          {{"error", net::error_text(e)}, {"cached", dir_.snapshot() ? "yes" : "no"}});
            last_ok = false;
        }
        refresh_timer_.expires_after(last_ok ? s_.recipient_refresh
                                             : std::min<std::chrono::seconds>(s_.recipient_refresh,
                                                                              std::chrono::seconds(5)));
        boost::system::error_code ec;
        co_await refresh_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace splitmail::relay
