// The queue manager's SMTP transport to remote MX hosts; see remote_transport.hpp.
#include "smtp_out/remote_transport.hpp"
#include "splitmail/address/address.hpp"

#include "delivery/message_stream.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"

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

remote_transport::remote_transport(asio::io_context& io, const settings& s, queue::spool& spool,
                                   asio::thread_pool& readers,
                                   std::unique_ptr<dns::resolver> resolver,
                                   net::tls_context client_tls)
    : io_(io), s_(s), spool_(spool), readers_(readers), resolver_(std::move(resolver)),
      tls_(std::move(client_tls)) {}

remote_transport::~remote_transport() = default;

void remote_transport::stop() {
    stopped_ = true;
    std::vector<std::string> unsent;
    for (auto& [dom, d] : dests_) {
        for (const auto& j : d.pending) {
            unsent.push_back(j.id);
            if (auto a = attempts_.find(j.id); a != attempts_.end())
                a->second.record.cut_short = true;
        }
        d.pending.clear();
    }
    for (const auto& id : unsent) job_done(id);
}

std::string remote_transport::expiry_text(const queue::envelope&, const queue::recipient& r) const {
    return "message expired after " + human_duration(s_.outbound_lifetime) +
           (r.last_text.empty() ? std::string() : "; last error: " + r.last_text);
}

void remote_transport::attempt(queue::envelope& env, done_fn done) {
    const std::string id = env.id;
    auto& at = attempts_[id];
    at.env = &env;
    at.done = std::move(done);
    std::map<std::string, job> by_domain;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        if (!is_open(env.recipients[i], queue::rcpt_route::remote)) continue;
        auto dom = domain_of(env.recipients[i].address);
        auto& j = by_domain[dom];
        j.id = id;
        j.domain = dom;
        j.rcpts.push_back(i);
    }
    if (by_domain.empty() || stopped_) {
        // Nothing to send (the manager does not ask for that) or stopping: report at once.
        at.record.cut_short = stopped_;
        auto a = std::move(at);
        attempts_.erase(id);
        a.done(std::move(a.record));
        return;
    }
    at.jobs = by_domain.size();
    for (auto& [dom, j] : by_domain) dests_[dom].pending.push_back(std::move(j));
    pump();
}

void remote_transport::pump() {
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

asio::awaitable<void> remote_transport::domain_worker(std::string domain) {
    std::unique_ptr<smtp_client> client;
    std::string peer;
    for (;;) {
        auto& d = dests_[domain];
        if (d.pending.empty() || stopped_) break;
        job j = std::move(d.pending.front());
        d.pending.pop_front();
        if (attempts_.contains(j.id)) {
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

void remote_transport::set_result(const job& j, std::size_t k, const smtp::reply& rep,
                                  const std::string& peer) {
    auto& at = attempts_.at(j.id);
    auto& env = *at.env;
    const auto& r = env.recipients[j.rcpts[k]];
    const std::string text = peer + " said: " + rep.text();
    auto o = apply_result(env, j.rcpts[k], {rep.code, enhanced_or_default(rep), text}, at.record,
                          r.address + ": " + text);
    if (o == rcpt_outcome::delivered) {
        log::info("smtp", j.id, "delivered",
                  {{"to", r.address},
                   {"relay", peer},
                   {"reply", std::to_string(rep.code) + " " + rep.text()}});
    } else if (o == rcpt_outcome::failed) {
        log::warn("smtp", j.id, "bounced",
                  {{"to", r.address},
                   {"relay", peer},
                   {"reply", std::to_string(rep.code) + " " + rep.text()}});
    } else {
        log::info("smtp", j.id, "deferred",
                  {{"to", r.address},
                   {"relay", peer},
                   {"reply", std::to_string(rep.code) + " " + rep.text()}});
    }
}

void remote_transport::set_all(const job& j, int code, std::string_view enhanced,
                               const std::string& text) {
    auto& at = attempts_.at(j.id);
    for (auto i : j.rcpts) apply_result(*at.env, i, {code, std::string(enhanced), text}, at.record);
    if (code / 100 == 4) at.record.error = j.domain + ": " + text;
    log::info("smtp", j.id, code / 100 == 5 ? "bounced" : "deferred",
              {{"domain", j.domain},
               {"recipients", j.rcpts.size()},
               {"reply", std::to_string(code) + " " + std::string(enhanced) + " " + text}});
}

asio::awaitable<std::unique_ptr<smtp_client>> remote_transport::connect(const std::string& domain,
                                                                        const dns::mx_answer& mx,
                                                                        std::string& peer,
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
                              {{"domain", domain},
                               {"host", who},
                               {"tls", c->is_tls() ? c->tls_version() : std::string("no")}});
                    co_return c;
                }
                if (!retry_plain) break;
            }
        }
    }
    co_return nullptr;
}

asio::awaitable<void> remote_transport::run_job(const job& j, std::unique_ptr<smtp_client>& client,
                                                std::string& peer) {
    auto msg = spool_.open_message(j.id);
    if (!msg) {
        attempts_.at(j.id).record.message_gone = true;
        co_return;
    }
    if (client && !co_await client->reset()) {
        co_await client->quit();
        client.reset();
    }
    if (!client) {
        auto mx = co_await resolver_->resolve_mx(j.domain);
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
        if (!client) {
            // RFC 3463 4.4.1: no answer from host (all MX hosts tried).
            set_all(j, 451, "4.4.1",
                    "No MX host of " + j.domain + " accepted a connection: " + error);
            co_return;
        }
    }
    // The manager keeps the envelope until the attempt is reported (transport.hpp).
    auto& env = *attempts_.at(j.id).env;
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
    sending_.add(body);
    try {
        replies = co_await client->send(t);
    } catch (const std::exception& e) {
        failure = net::error_text(e);
    }
    sending_.remove(body);
    if (!failure.empty()) {
        client.reset();
        // RFC 3463 4.4.2: bad connection. Nothing acknowledged: all of them retry.
        set_all(j, 451, "4.4.2", "lost connection with " + peer + ": " + failure);
        co_return;
    }
    for (std::size_t k = 0; k < j.rcpts.size(); ++k) set_result(j, k, replies[k], peer);
}

void remote_transport::job_done(const std::string& id) {
    auto it = attempts_.find(id);
    if (it == attempts_.end()) return;
    if (it->second.jobs > 0 && --it->second.jobs > 0) return;
    auto at = std::move(it->second);
    attempts_.erase(it);
    at.done(std::move(at.record));
}

} // namespace splitmail::relay
