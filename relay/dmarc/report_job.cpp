// The DMARC aggregate report job; see report_job.hpp.
#include "dmarc/report_job.hpp"

#include "dmarc/external.hpp"
#include "dmarc/report.hpp"
#include "sender_auth/inbound.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"
#include "splitmail/queue/id.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ctime>

namespace splitmail::relay::dmarc {

namespace asio = boost::asio;

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Runs fn() on `pool` and resumes the coroutine on its own executor afterwards.
template <class Fn>
asio::awaitable<void> off_thread(asio::thread_pool& pool, Fn fn) {
    co_await net::await_callback([&](std::function<void(std::error_code)> cb) {
        asio::post(pool, [&fn, cb = std::move(cb)] {
            fn();
            cb({});
        });
    });
}

// One message to queue: the signed text and where it goes.
struct outgoing_report {
    std::string to;
    std::string prefix; // DKIM-Signature fields
    std::string message;
};

} // namespace

report_job::report_job(asio::io_context& io, job_config cfg)
    : io_(io), cfg_(std::move(cfg)), timer_(io) {}

report_job::~report_job() { worker_.join(); }

void report_job::start() {
    net::spawn(io_, "dmarc report job", [this]() { return loop(); });
}

void report_job::stop() {
    stopped_ = true;
    timer_.cancel();
}

asio::awaitable<void> report_job::loop() {
    while (!stopped_) {
        co_await send_due();
        if (stopped_) break;
        // The next period to become due: the one that holds now - send_delay.
        const auto now = unix_now();
        const auto next = period_of(now - cfg_.send_delay.count(), cfg_.interval);
        const auto wait = std::max<std::int64_t>(1, next.end + cfg_.send_delay.count() - now);
        timer_.expires_after(std::chrono::seconds(wait));
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> report_job::send_due() {
    const auto now = unix_now();
    std::vector<stored_period> due;
    co_await off_thread(worker_, [&] {
        for (auto& sp : list_periods(cfg_.dir))
            if (!sp.sent && sp.p.end + cfg_.send_delay.count() <= now) due.push_back(sp);
        prune(cfg_.dir, now - cfg_.keep.count());
    });
    for (const auto& sp : due) {
        if (stopped_) co_return;
        co_await send_period(sp);
    }
}

asio::awaitable<void> report_job::send_period(const stored_period& sp) {
    const std::string pid = std::to_string(sp.p.begin);
    std::vector<report> reports;
    std::string read_error;
    std::size_t bad = 0, records = 0;
    std::error_code marked;
    co_await off_thread(worker_, [&] {
        auto r = read_period(sp.log);
        if (!r) {
            read_error = r.error();
            return;
        }
        bad = r->bad_lines;
        records = r->records.size();
        report_meta meta{cfg_.org_name, cfg_.from, cfg_.receiver, sp.p.begin, sp.p.end - 1};
        reports = build_reports(r->records, meta);
        // At most once (report_job.hpp): durable before anything is queued.
        marked = mark_sent(cfg_.dir, sp.p);
    });
    if (!read_error.empty()) {
        log::error("dmarc", "", "cannot read report records", {{"error", read_error}});
        co_return;
    }
    if (marked) {
        log::error("dmarc", "", "cannot mark the period sent; not sending it now",
                   {{"period", pid}, {"error", marked.message()}});
        co_return;
    }
    if (bad != 0)
        log::warn("dmarc", "", "unreadable report records skipped",
                  {{"period", pid}, {"lines", bad}});
    log::info("dmarc", "", "building aggregate reports",
              {{"period", pid}, {"records", records}, {"domains", reports.size()}});
    for (const auto& rep : reports) {
        // RFC 7489 7.1: destinations outside the policy domain's Organizational Domain must
        // publish <policy-domain>._report._dmarc.<destination> first.
        std::vector<report_uri> allowed;
        for (const auto& uri : rep.rua) {
            const auto dest = address_domain(uri.address);
            if (dest.empty()) continue;
            if (!is_external(rep.policy_domain, dest, *cfg_.psl)) {
                allowed.push_back(uri);
                continue;
            }
            if (!cfg_.resolver) {
                log::warn("dmarc", "", "external report address not verified (no resolver)",
                          {{"domain", rep.policy_domain}, {"rua", uri.address}});
                continue;
            }
            const auto name = verification_name(rep.policy_domain, dest);
            // A named vector: g++ 12 cannot keep an initializer list alive across co_await.
            std::vector<std::string> names{name};
            auto answers = co_await sender_auth::lookup_txt(
                *cfg_.resolver, std::chrono::seconds(20), std::move(names));
            lookup l;
            if (!answers.empty() && answers[0]) {
                using st = dkim::key_answer::status;
                l.st = answers[0]->st == st::ok           ? lookup::status::found
                       : answers[0]->st == st::temp_error ? lookup::status::temp_error
                                                          : lookup::status::none;
                l.txt = answers[0]->txt;
            } else {
                l.st = lookup::status::temp_error;
            }
            if (authorises(l)) {
                allowed.push_back(uri);
            } else {
                log::info("dmarc", "", "external report address did not authorise reports",
                          {{"domain", rep.policy_domain}, {"rua", uri.address}, {"record", name}});
            }
        }
        if (allowed.empty()) continue;
        // Compress, wrap and sign off the io thread.
        std::vector<outgoing_report> out;
        std::string problem;
        const auto now = unix_now();
        const auto keys = cfg_.keys ? *cfg_.keys : nullptr; // a reload swaps the pointer
        co_await off_thread(worker_, [&] {
            auto gz = gzip(rep.xml);
            if (!gz) {
                problem = gz.error();
                return;
            }
            const auto from_domain = address_domain(cfg_.from);
            const dkim::signer* signer = keys ? keys->for_domain(from_domain) : nullptr;
            for (const auto& uri : allowed) {
                report_mail m;
                m.from = cfg_.from;
                m.to = uri.address;
                m.receiver = cfg_.receiver;
                m.message_id = queue::make_id() + ".dmarc@" + cfg_.receiver;
                m.date = now;
                m.filename =
                    report_filename(cfg_.receiver, rep.policy_domain, sp.p.begin, sp.p.end - 1);
                m.gz = *gz;
                outgoing_report o{uri.address, "", report_message(rep, m)};
                // RFC 7489 6.2 "!size": the limit is on what we send.
                if (uri.max_size != 0 && o.message.size() > uri.max_size) {
                    log::info("dmarc", "",
                              "report larger than the address's size limit: not "
                              "sent",
                              {{"domain", rep.policy_domain},
                               {"rua", uri.address},
                               {"size", o.message.size()},
                               {"limit", uri.max_size}});
                    continue;
                }
                if (signer) {
                    auto sig = signer->sign(o.message, now);
                    if (sig)
                        o.prefix = std::move(*sig);
                    else
                        log::warn("dmarc", "", "cannot sign the report", {{"error", sig.error()}});
                }
                out.push_back(std::move(o));
            }
            if (!signer)
                log::warn("dmarc", "",
                          "reports go out unsigned: no DKIM keys for the From: "
                          "domain",
                          {{"from", cfg_.from}});
        });
        if (!problem.empty()) {
            log::error("dmarc", "", "cannot compress the report", {{"error", problem}});
            continue;
        }
        for (auto& o : out) {
            queue::envelope env;
            env.id = queue::make_id();
            env.sender = cfg_.from;
            queue::recipient r;
            r.address = o.to;
            const auto dest = address_domain(o.to);
            r.route = cfg_.is_ours && cfg_.is_ours(dest) ? queue::rcpt_route::home
                                                         : queue::rcpt_route::remote;
            env.recipients.push_back(std::move(r));
            env.body = queue::body_type::seven_bit;
            env.arrival = std::chrono::system_clock::now();
            env.next_attempt = env.arrival;
            env.client_ip = "127.0.0.1";
            env.client_helo = cfg_.receiver;
            env.size = o.prefix.size() + o.message.size();
            auto ec = co_await net::await_callback([&](std::function<void(std::error_code)> cb) {
                cfg_.spool->enqueue(env, std::move(o.prefix), std::move(o.message), cb);
            });
            if (ec) {
                log::error("dmarc", env.id, "cannot queue the report",
                           {{"domain", rep.policy_domain}, {"error", ec.message()}});
                continue;
            }
            log::info("dmarc", env.id, "aggregate report queued",
                      {{"domain", rep.policy_domain},
                       {"to", o.to},
                       {"period", pid},
                       {"messages", rep.messages}});
            if (cfg_.add) cfg_.add(env);
        }
    }
}

} // namespace splitmail::relay::dmarc
