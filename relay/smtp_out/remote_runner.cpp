// Outbound queue: spool -> MX over SMTP; see remote_runner.hpp.
#include "smtp_out/remote_runner.hpp"
#include "splitmail/address/address.hpp"

#include "queue/schedule.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"
#include "splitmail/queue/id.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace splitmail::relay {

namespace asio = boost::asio;
using sys_clock = std::chrono::system_clock;

namespace {
// "5 days", "4 hours", "90 minutes", "6 seconds": the largest unit that divides exactly.
std::string human_duration(std::chrono::seconds d) {
    auto n = d.count();
    auto unit = [](long long v, const char* name) {
        return std::to_string(v) + " " + name + (v == 1 ? "" : "s");
    };
    if (n > 0 && n % 86400 == 0) return unit(n / 86400, "day");
    if (n > 0 && n % 3600 == 0) return unit(n / 3600, "hour");
    if (n > 0 && n % 60 == 0) return unit(n / 60, "minute");
    return unit(n, "second");
}
bool is_final(queue::rcpt_state s) {
    return s == queue::rcpt_state::delivered || s == queue::rcpt_state::failed;
}
bool open_remote(const queue::recipient& r) {
    return !is_final(r.state) && r.route == queue::rcpt_route::remote;
}
std::string domain_of(const std::string& address) {
    auto at = address.rfind('@');
    return at == std::string::npos ? std::string() : address::lower_ascii(address.substr(at + 1));
}
std::string with_port(const std::string& ip, std::uint16_t port) {
    return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}
// RFC 3463: a reply without an enhanced code gets the generic one of its class.
std::string enhanced_or_default(const smtp::reply& r) {
    if (!r.enhanced.empty()) return r.enhanced;
    return std::to_string(r.code / 100) + ".0.0";
}
} // namespace

remote_runner::remote_runner(asio::io_context& io, const settings& s, queue::spool& spool,
                             asio::thread_pool& readers, std::unique_ptr<dns::resolver> resolver,
                             net::tls_context client_tls, submit_fn submit)
    : io_(io), s_(s), spool_(spool), readers_(readers), resolver_(std::move(resolver)), tls_(std::move(client_tls)),
      submit_(std::move(submit)), rng_(std::random_device{}()) {}

remote_runner::~remote_runner() = default;

void remote_runner::start() {
    // Ticker: starts attempts whose time has come (1 s granularity).
    net::spawn(
        io_, "outbound timer",
        [this]() -> asio::awaitable<void> {
            asio::steady_timer t(io_);
            while (!stopped_) {
                t.expires_after(std::chrono::seconds(1));
                boost::system::error_code ec;
                co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                auto now = sys_clock::now();
                while (!stopped_ && !waiting_.empty() && waiting_.begin()->first <= now) {
                    auto id = waiting_.begin()->second;
                    waiting_.erase(waiting_.begin());
                    start_attempt(id);
                }
            }
        });
}

void remote_runner::add(queue::envelope env) {
    auto id = env.id;
    auto when = env.next_attempt;
    if (envs_.contains(id)) return;
    envs_.emplace(id, std::move(env));
    if (when > sys_clock::now()) waiting_.emplace(when, id);
    else start_attempt(id);
}

void remote_runner::flush_all() {
    auto w = std::move(waiting_);
    waiting_.clear();
    for (auto& [when, id] : w) start_attempt(id);
}

void remote_runner::stop() { stopped_ = true; }

void remote_runner::start_attempt(const std::string& id) {
    if (stopped_ || attempts_.contains(id)) return; // already in flight
    auto it = envs_.find(id);
    if (it == envs_.end()) return;
    auto& env = it->second;
    auto& at = attempts_[id];
    const auto now = sys_clock::now();

    if (expired(env.arrival, now, s_.outbound_lifetime)) {
        // RFC 5321 4.5.4.1: give up after the lifetime; RFC 3463 4.4.7 delivery time expired.
        for (auto& r : env.recipients) {
            if (!open_remote(r)) continue;
            std::string why = "message expired after " + human_duration(s_.outbound_lifetime) +
                              (r.last_text.empty() ? std::string() : "; last error: " + r.last_text);
            r.state = queue::rcpt_state::failed;
            r.last_code = 554;
            r.last_enhanced = "4.4.7";
            r.last_text = std::move(why);
            at.failed_now.push_back(r.address);
        }
        log::warn("smtp", id, "message expired; returning it to the sender",
                  {{"from", env.sender}, {"last_error", env.last_error}});
    }

    std::map<std::string, job> by_domain;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        if (!open_remote(env.recipients[i])) continue;
        auto dom = domain_of(env.recipients[i].address);
        auto& j = by_domain[dom];
        j.id = id;
        j.domain = dom;
        j.rcpts.push_back(i);
    }
    if (by_domain.empty()) {
        // Nothing to send (all final): settle bounces and the spool.
        if (auto u = unbounced_.find(id); u != unbounced_.end()) {
            at.failed_now.insert(at.failed_now.end(), u->second.begin(), u->second.end());
            unbounced_.erase(u);
        }
        net::spawn(io_, "outbound attempt", finish_attempt(id));
        return;
    }
    at.jobs = by_domain.size();
    for (auto& [dom, j] : by_domain) dests_[dom].pending.push_back(std::move(j));
    pump();
}

void remote_runner::pump() {
    for (auto& [dom, d] : dests_) {
        while (!stopped_ && !d.pending.empty() && d.active < d.pending.size() &&
               d.active < s_.outbound_connections_per_domain &&
               connections_ < s_.outbound_max_connections) {
            ++d.active;
            ++connections_;
            net::spawn(io_, "outbound worker for " + dom, domain_worker(dom));
        }
    }
}

asio::awaitable<void> remote_runner::domain_worker(std::string domain) {
    std::unique_ptr<smtp_client> client;
    std::string peer;
    for (;;) {
        auto& d = dests_[domain];
        if (d.pending.empty() || stopped_) break;
        job j = std::move(d.pending.front());
        d.pending.pop_front();
        if (envs_.contains(j.id)) {
            try {
                co_await run_job(j, client, peer);
            } catch (const std::exception& e) {
                // Not expected (run_job maps errors to results); keep the queue going.
                log::error("smtp", j.id, "delivery attempt failed", {{"error", e.what()}});
                set_all(j, 451, "4.3.0", std::string("local error: ") + e.what());
                client.reset();
            }
        }
        job_done(j.id);
    }
    if (client) co_await client->quit();
    auto& d = dests_[domain];
    --d.active;
    --connections_;
    if (d.active == 0 && d.pending.empty()) dests_.erase(domain);
    pump();
}

void remote_runner::set_result(const job& j, std::size_t k, const smtp::reply& rep,
                               const std::string& peer) {
    auto& env = envs_.at(j.id);
    auto& at = attempts_[j.id];
    auto& r = env.recipients[j.rcpts[k]];
    r.last_code = rep.code;
    r.last_enhanced = enhanced_or_default(rep);
    r.last_text = peer + " said: " + rep.text();
    if (rep.code / 100 == 2) {
        r.state = queue::rcpt_state::delivered;
        log::info("smtp", j.id, "delivered",
                  {{"to", r.address}, {"relay", peer}, {"reply", std::to_string(rep.code) + " " + rep.text()}});
    } else if (rep.code / 100 == 5) {
        r.state = queue::rcpt_state::failed;
        at.failed_now.push_back(r.address);
        log::warn("smtp", j.id, "bounced",
                  {{"to", r.address}, {"relay", peer}, {"reply", std::to_string(rep.code) + " " + rep.text()}});
    } else {
        r.state = queue::rcpt_state::deferred;
        at.error = r.address + ": " + r.last_text;
        log::info("smtp", j.id, "deferred",
                  {{"to", r.address}, {"relay", peer}, {"reply", std::to_string(rep.code) + " " + rep.text()}});
    }
}

void remote_runner::set_all(const job& j, int code, std::string_view enhanced,
                            const std::string& text) {
    smtp::reply rep = smtp::make_reply(code, enhanced, text);
    auto& env = envs_.at(j.id);
    auto& at = attempts_[j.id];
    for (std::size_t k = 0; k < j.rcpts.size(); ++k) {
        auto& r = env.recipients[j.rcpts[k]];
        r.last_code = code;
        r.last_enhanced = std::string(enhanced);
        r.last_text = text;
        if (code / 100 == 5) {
            r.state = queue::rcpt_state::failed;
            at.failed_now.push_back(r.address);
        } else {
            r.state = queue::rcpt_state::deferred;
        }
    }
    if (code / 100 == 4) at.error = j.domain + ": " + text;
    log::info("smtp", j.id, code / 100 == 5 ? "bounced" : "deferred",
              {{"domain", j.domain}, {"recipients", j.rcpts.size()},
               {"reply", std::to_string(code) + " " + std::string(enhanced) + " " + text}});
}

asio::awaitable<std::unique_ptr<smtp_client>>
remote_runner::connect(const std::string& domain, const dns::mx_answer& mx, std::string& peer,
                       std::string& error) {
    smtp_client_options opt;
    opt.helo_name = s_.hostname;
    opt.tls = s_.outbound_starttls ? tls_ : nullptr;
    opt.timeouts = timeouts_;
    // RFC 5321 5.1: MX hosts in preference order, each of their addresses, until one answers.
    for (const auto& host : mx.hosts) {
        for (const auto& ip : host.addresses) {
            const std::string addr = with_port(ip, s_.outbound_smtp_port);
            const std::string who = host.name + "[" + ip + "]";
            opt.sni = host.name;
            for (bool with_tls : {true, false}) {
                if (!with_tls && !opt.tls) break;
                auto o = opt;
                if (!with_tls) o.tls = nullptr;
                std::unique_ptr<smtp_client> c;
                bool retry_plain = false;
                try {
                    auto conn = co_await net::connect(addr, timeouts_.connect);
                    c = co_await smtp_client::open(std::move(conn), o);
                } catch (const smtp_failure& f) {
                    error = who + ": " + f.what();
                    retry_plain = f.tls_failed;
                    log::info("smtp", "", "MX host failed; trying the next",
                              {{"domain", domain}, {"host", who}, {"error", f.what()}});
                } catch (const std::exception& e) {
                    error = "connect to " + who + ": " + net::error_text(e);
                    log::info("smtp", "", "MX host unreachable; trying the next",
                              {{"domain", domain}, {"host", who}, {"error", net::error_text(e)}});
                }
                if (c) {
                    peer = who;
                    log::info("smtp", "", "connected",
                              {{"domain", domain}, {"host", who},
                               {"tls", c->is_tls() ? c->tls_version() : std::string("no")}});
                    co_return c;
                }
                if (!retry_plain) break;
            }
        }
    }
    co_return nullptr;
}

asio::awaitable<void> remote_runner::run_job(const job& j, std::unique_ptr<smtp_client>& client,
                                             std::string& peer) {
    auto msg = spool_.open_message(j.id);
    if (!msg) {
        attempts_[j.id].message_gone = true;
        co_return;
    }
    if (client && !co_await client->reset()) {
        co_await client->quit();
        client.reset();
    }
    if (!client) {
        auto mx = co_await resolver_->resolve_mx(j.domain);
        if (!envs_.contains(j.id)) co_return;
        switch (mx.status) {
        case dns::mx_status::null_mx:
            // RFC 7505 4.1: 556 5.1.10 without trying to connect.
            set_all(j, 556, "5.1.10", "Recipient address has null MX: " + mx.error);
            co_return;
        case dns::mx_status::no_domain:
            set_all(j, 550, "5.1.2", "Host or domain name not found: " + mx.error);
            co_return;
        case dns::mx_status::no_address:
            set_all(j, 550, "5.4.4", "Unable to route: " + mx.error);
            co_return;
        case dns::mx_status::temp_error:
            set_all(j, 451, "4.4.3", "Directory server failure: " + mx.error);
            co_return;
        case dns::mx_status::ok: break;
        }
        std::string error;
        client = co_await connect(j.domain, mx, peer, error);
        if (!envs_.contains(j.id)) co_return;
        if (!client) {
            // RFC 3463 4.4.1: no answer from host (all MX hosts tried).
            set_all(j, 451, "4.4.1", "No MX host of " + j.domain + " accepted a connection: " + error);
            co_return;
        }
    }
    auto& env = envs_.at(j.id);
    if (env.smtputf8 && !client->caps().smtputf8) {
        // RFC 6531 3.4: an SMTPUTF8 message must not be sent to a server without SMTPUTF8;
        // we do not downgrade, so the sender learns why.
        set_all(j, 550, "5.6.7",
                peer + " does not support SMTPUTF8, required by this message's addresses");
        co_return;
    }
    if (client->caps().max_size > 0 && msg->size() > client->caps().max_size) {
        set_all(j, 552, "5.3.4",
                "message of " + std::to_string(msg->size()) + " bytes exceeds the limit of " +
                    peer + " (SIZE " + std::to_string(client->caps().max_size) + ")");
        co_return;
    }
    outbound_transaction t;
    t.sender = env.sender;
    t.body = env.body;
    t.smtputf8 = env.smtputf8;
    t.ret = env.ret;
    t.envid = env.envid;
    message_stream body(std::move(*msg), readers_);
    t.message = &body;
    for (auto i : j.rcpts) {
        const auto& r = env.recipients[i];
        t.recipients.push_back({r.address, r.orcpt, r.notify});
    }
    std::vector<smtp::reply> replies;
    std::string failure;
    try {
        replies = co_await client->send(t);
    } catch (const std::exception& e) {
        failure = net::error_text(e);
    }
    if (!envs_.contains(j.id)) co_return;
    if (!failure.empty()) {
        client.reset();
        // RFC 3463 4.4.2: bad connection. Nothing acknowledged: all of them retry.
        set_all(j, 451, "4.4.2", "lost connection with " + peer + ": " + failure);
        co_return;
    }
    for (std::size_t k = 0; k < j.rcpts.size(); ++k) set_result(j, k, replies[k], peer);
}

void remote_runner::job_done(const std::string& id) {
    auto it = attempts_.find(id);
    if (it == attempts_.end()) return;
    if (it->second.jobs > 0 && --it->second.jobs > 0) return;
    net::spawn(io_, "outbound attempt", finish_attempt(id));
}

asio::awaitable<void> remote_runner::finish_attempt(std::string id) {
    auto ait = attempts_.find(id);
    auto eit = envs_.find(id);
    if (ait == attempts_.end() || eit == envs_.end()) {
        if (ait != attempts_.end()) attempts_.erase(ait);
        co_return;
    }
    attempt at = std::move(ait->second);
    queue::envelope& env = eit->second;
    if (at.message_gone) {
        log::warn("queue", id, "message file unavailable; dropped from the outbound schedule");
        attempts_.erase(id);
        envs_.erase(id);
        co_return;
    }
    const auto now = sys_clock::now();
    bool bounced = true;
    if (!at.failed_now.empty()) {
        bounced = co_await send_notice(env, dsn_kind::failure, at.failed_now);
        if (!bounced) unbounced_[id] = at.failed_now;
    }
    bool open = std::ranges::any_of(env.recipients, open_remote);
    if (!open && bounced) {
        auto ec = co_await net::await_callback(
            [this, &env](std::function<void(std::error_code)> cb) { spool_.remove(env, cb); });
        if (ec) log::error("queue", id, "cannot remove delivered message", {{"error", ec.message()}});
        else log::info("queue", id, "removed: every recipient is final");
        attempts_.erase(id);
        envs_.erase(id);
        co_return;
    }
    retry_policy policy{s_.outbound_retry_initial, s_.outbound_retry_max, s_.outbound_lifetime,
                        0.2, s_.outbound_delay_warning};
    if (open) {
        ++env.attempts;
        if (!at.error.empty()) env.last_error = at.error;
        if (delay_warning_due(env.arrival, now, env.delay_warned, policy)) {
            std::vector<std::string> late;
            for (const auto& r : env.recipients)
                if (open_remote(r)) late.push_back(r.address);
            if (co_await send_notice(env, dsn_kind::delay, late)) env.delay_warned = true;
        }
    }
    env.next_attempt = open ? next_attempt(env.attempts, now, policy, rng_)
                            : now + s_.outbound_retry_initial; // only the bounce is owed
    // Never later than the lifetime's end: the expiry bounce should not wait for a backoff.
    env.next_attempt = std::min(env.next_attempt, env.arrival + s_.outbound_lifetime +
                                                      std::chrono::seconds(1));
    auto ec = co_await net::await_callback(
        [this, &env](std::function<void(std::error_code)> cb) { spool_.update(env, cb); });
    attempts_.erase(id);
    if (ec == std::errc::no_such_file_or_directory) {
        log::info("queue", id, "message was deleted from the queue meanwhile");
        envs_.erase(id);
        co_return;
    }
    if (ec) log::error("queue", id, "cannot update envelope", {{"error", ec.message()}});
    if (stopped_) co_return;
    waiting_.emplace(env.next_attempt, id);
}

asio::awaitable<bool> remote_runner::send_notice(queue::envelope& env, dsn_kind kind,
                                                 std::vector<std::string> only) {
    auto msg = spool_.read_message(env.id);
    dsn_options opt;
    opt.reporting_mta = s_.hostname;
    opt.now = sys_clock::now();
    opt.will_retry_until = env.arrival + s_.outbound_lifetime;
    opt.only = std::move(only);
    auto dsn = make_dsn(env, msg ? std::string_view(*msg) : std::string_view(), kind, opt);
    if (!dsn) {
        // Null sender (RFC 5321 4.5.5: never bounce a bounce) or NOTIFY without this kind.
        log::info("queue", env.id, "no notice sent",
                  {{"from", env.sender}, {"kind", kind == dsn_kind::failure ? "failure" : "delay"}});
        co_return true;
    }
    auto notice = make_notice_envelope(*dsn, queue::make_id(), opt.now);
    for (auto& r : notice.recipients) {
        auto dom = domain_of(r.address);
        r.route = std::ranges::find(s_.domains, dom) != s_.domains.end() ? queue::rcpt_route::home
                                                                          : queue::rcpt_route::remote;
    }
    auto ec = co_await net::await_callback(
        [this, &notice, &dsn](std::function<void(std::error_code)> cb) {
            spool_.enqueue(notice, "", dsn->data, cb);
        });
    if (ec) {
        log::error("queue", env.id, "cannot queue the notice; keeping the message",
                   {{"error", ec.message()}});
        co_return false;
    }
    log::info("queue", env.id, kind == dsn_kind::failure ? "bounce queued" : "delay notice queued",
              {{"notice", notice.id}, {"to", dsn->recipient}});
    submit_(std::move(notice));
    co_return true;
}

} // namespace splitmail::relay
