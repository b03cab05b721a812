// Sender authentication of inbound mail; see inbound.hpp.
#include "sender_auth/inbound.hpp"
#include "splitmail/address/address.hpp"

#include "dns/mx.hpp"
#include "spf/checker.hpp"

#include "splitmail/dns/rdata.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <random>

namespace splitmail::relay::sender_auth {

namespace asio = boost::asio;

void message_tap::begin(bool inbound) {
    reset();
    inbound_ = inbound && cfg_ != nullptr;
}

std::string_view message_tap::header(std::string_view block) {
    if (!inbound_) return block;
    if (cfg_->dkim) {
        dkim::verify_options opt;
        opt.max_signatures = cfg_->max_signatures;
        opt.now = static_cast<std::int64_t>(std::time(nullptr));
        // The signatures see the header as the sender wrote it, before any removal.
        verifier_.emplace(block, opt);
    }
    if (cfg_->psl) from_domains_ = dmarc::from_domains(block);
    auto r = remove_results_for(block, cfg_->authserv_id);
    if (!r) return block;
    removed_fields_ = r->fields;
    removed_octets_ = block.size() - r->block.size();
    filtered_ = std::move(r->block);
    return filtered_;
}

void message_tap::body(std::string_view chunk) {
    if (verifier_) verifier_->body(chunk);
}

void message_tap::reset() {
    inbound_ = false;
    verifier_.reset();
    from_domains_.clear();
    filtered_.clear();
    filtered_.shrink_to_fit();
    removed_fields_ = removed_octets_ = 0;
}

std::vector<method_result> describe(const std::optional<inbound_spf>& spf,
                                    const queue::envelope& env, const dkim::message_verifier* dkim,
                                    const std::optional<dmarc::outcome>& dm,
                                    const std::optional<iprev_outcome>& iprev) {
    std::vector<method_result> out;
    if (iprev) {
        // RFC 8601 3 / 2.7.3: iprev with the client address as policy.iprev.
        method_result m{"iprev", iprev->result, iprev->reason, {}};
        m.properties.emplace_back("policy.iprev", env.client_ip);
        out.push_back(std::move(m));
    }
    if (spf) {
        method_result m{"spf", std::string(spf::to_string(spf->ev.code)), {}, {}};
        m.reason = spf->ev.problem.empty()
                       ? (spf->ev.mechanism.empty() ? "" : "matched " + spf->ev.mechanism)
                       : spf->ev.problem;
        // RFC 8601 2.7.2: the identity checked; smtp.helo for the null sender.
        if (spf->helo_identity)
            m.properties.emplace_back("smtp.helo", env.client_helo);
        else
            m.properties.emplace_back("smtp.mailfrom", env.sender);
        out.push_back(std::move(m));
    }
    if (dkim && dkim->results().empty()) out.push_back({"dkim", "none", "no signature", {}});
    for (const auto& r : dkim ? dkim->results() : std::vector<dkim::signature_result>{}) {
        method_result m{"dkim", std::string(dkim::to_string(r.code)), r.reason, {}};
        // RFC 8601 2.7.1 header.d / header.i, RFC 6008 header.b, RFC 8616 header.a / header.s.
        if (!r.domain.empty()) {
            m.properties.emplace_back("header.d", r.domain);
            m.properties.emplace_back("header.s", r.selector);
            m.properties.emplace_back("header.a", r.algorithm);
            m.properties.emplace_back("header.b", r.b_prefix);
        }
        out.push_back(std::move(m));
    }
    if (dm) {
        // RFC 7489 11.2: dmarc with header.from; the policy applied as policy.dmarc.
        method_result m{"dmarc", std::string(dmarc::to_string(dm->code)), dm->reason, {}};
        if (!dm->from_domain.empty()) m.properties.emplace_back("header.from", dm->from_domain);
        if (dm->code == dmarc::result::fail)
            m.properties.emplace_back("policy.dmarc", std::string(dmarc::to_string(dm->applied)));
        out.push_back(std::move(m));
    }
    return out;
}

// Shared by the pool jobs, the deadline timer and the waiter. `cb` is taken out under the lock
// by whoever completes the wait (the last job or the timer), so it runs once.
struct dns_lookups::state {
    std::mutex m;
    std::vector<std::optional<dkim::key_answer>> answers;
    std::size_t left = 0;
    std::function<void(std::error_code)> cb;
    void resume() {
        std::function<void(std::error_code)> fn;
        {
            std::lock_guard lock(m);
            fn = std::move(cb);
            cb = nullptr;
        }
        if (fn) fn({});
    }
};

namespace {
dkim::key_answer query(dns::unbound_resolver& resolver, const dns_query& q) {
    constexpr int t_a = 1, t_ptr = 12, t_aaaa = 28;
    dkim::key_answer a;
    auto raw = resolver.query_raw(q.name, q.type);
    using rs = dns::unbound_resolver::raw_answer::status;
    a.st = raw.st == rs::ok         ? dkim::key_answer::status::ok
           : raw.st == rs::nxdomain ? dkim::key_answer::status::nxdomain
                                    : dkim::key_answer::status::temp_error;
    for (const auto& d : raw.data) {
        auto v = q.type == t_a      ? dns::parse_a_rdata(d)
                 : q.type == t_aaaa ? dns::parse_aaaa_rdata(d)
                 : q.type == t_ptr  ? dns::parse_wire_name(d)
                                    : splitmail::dns::txt_joined(d);
        if (v) a.txt.push_back(std::move(*v));
    }
    if (a.st == dkim::key_answer::status::ok && a.txt.empty())
        a.st = dkim::key_answer::status::no_data;
    return a;
}
} // namespace

dns_lookups::dns_lookups(dns::unbound_resolver& resolver,
                         std::chrono::steady_clock::time_point deadline,
                         const std::vector<dns_query>& queries)
    : st_(std::make_shared<state>()), deadline_(deadline) {
    st_->answers.resize(queries.size());
    st_->left = queries.size();
    for (std::size_t k = 0; k < queries.size(); ++k) {
        // The job owns copies of what it reads: it may outlive the waiter.
        asio::post(resolver.pool(), [st = st_, &resolver, deadline, k, q = queries[k]] {
            dkim::key_answer a; // temp_error unless asked in time
            if (std::chrono::steady_clock::now() < deadline) a = query(resolver, q);
            bool last = false;
            {
                std::lock_guard lock(st->m);
                st->answers[k] = std::move(a);
                last = --st->left == 0;
            }
            if (last) st->resume();
        });
    }
}

asio::awaitable<std::vector<std::optional<dkim::key_answer>>> dns_lookups::wait() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(deadline_);
    auto start = [&](std::function<void(std::error_code)> cb) {
        {
            std::lock_guard lock(st_->m);
            if (st_->left != 0) {
                st_->cb = std::move(cb);
                cb = nullptr;
            }
        }
        if (cb) return cb({}); // every answer is in already
        timer.async_wait([st = st_](std::error_code ec) {
            if (!ec) st->resume(); // the deadline: take what has arrived
        });
    };
    co_await net::await_callback(start);
    timer.cancel();
    std::lock_guard lock(st_->m);
    co_return st_->answers;
}

asio::awaitable<std::vector<std::optional<dkim::key_answer>>>
lookup_txt(dns::unbound_resolver& resolver, std::chrono::milliseconds timeout,
           std::vector<std::string> names) {
    std::vector<dns_query> queries;
    for (auto& n : names) queries.push_back({std::move(n), 16});
    dns_lookups l(resolver, std::chrono::steady_clock::now() + timeout, queries);
    co_return co_await l.wait();
}

std::vector<std::string> ptr_names(const std::optional<dkim::key_answer>& ptr) {
    std::vector<std::string> out;
    if (!ptr || ptr->st != dkim::key_answer::status::ok) return out;
    // RFC 8601 3: a bounded number of names is followed (like RFC 7208 5.5's 10).
    for (std::size_t i = 0; i < ptr->txt.size() && i < 10; ++i) out.push_back(ptr->txt[i]);
    return out;
}

iprev_outcome evaluate_iprev(std::string_view client_ip, const std::optional<dkim::key_answer>& ptr,
                             const std::vector<std::string>& names,
                             const std::vector<std::optional<dkim::key_answer>>& forward) {
    using st = dkim::key_answer::status;
    if (!ptr || ptr->st == st::temp_error) return {"temperror", "", "PTR lookup failed"};
    // RFC 8601 3: no PTR data is permerror.
    if (ptr->st != st::ok || names.empty()) return {"permerror", "", "no PTR record"};
    const auto ip = splitmail::spf::parse_ip(client_ip);
    bool temp = false;
    for (std::size_t i = 0; i < names.size() && i < forward.size(); ++i) {
        if (!forward[i] || forward[i]->st == st::temp_error) {
            temp = true;
            continue;
        }
        for (const auto& a : forward[i]->txt)
            if (ip && splitmail::spf::parse_ip(a) == ip) return {"pass", names[i], names[i]};
    }
    if (temp) return {"temperror", names[0], "forward lookup failed"};
    return {"fail", names[0], names[0] + " does not resolve to the client address"};
}

std::vector<std::string> dmarc_names(const std::vector<std::string>& from_domains,
                                     const dmarc::suffix_list& psl) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < from_domains.size() && i < 5; ++i) {
        out.push_back("_dmarc." + from_domains[i]);
        out.push_back("_dmarc." + psl.organizational_domain(from_domains[i]));
    }
    return out;
}

namespace {

void log_dkim(const dkim::message_verifier& v, const std::string& log_id) {
    for (const auto& r : v.results())
        log::info("dkim", log_id, "verified",
                  {{"result", std::string(dkim::to_string(r.code))},
                   {"domain", r.domain},
                   {"selector", r.selector},
                   {"algorithm", r.algorithm},
                   {"reason", r.reason}});
    if (v.skipped() != 0)
        log::warn("dkim", log_id, "signatures over dkim_verify.max_signatures not checked",
                  {{"skipped", std::to_string(v.skipped())}});
}

} // namespace

namespace {

dmarc::lookup to_dmarc_lookup(const std::optional<dkim::key_answer>& a) {
    using st = dkim::key_answer::status;
    if (!a || a->st == st::temp_error) return {dmarc::lookup::status::temp_error, {}};
    if (a->st != st::ok) return {dmarc::lookup::status::none, {}};
    return {dmarc::lookup::status::found, a->txt};
}

dmarc::outcome evaluate_dmarc(const std::vector<std::string>& from_domains,
                              const std::vector<std::optional<dkim::key_answer>>& answers,
                              const std::optional<inbound_spf>& spf,
                              const dkim::message_verifier* v, const dmarc::suffix_list& psl) {
    if (from_domains.empty()) {
        dmarc::outcome o;
        o.code = dmarc::result::permerror;
        o.reason = "no single From: field with an address"; // RFC 7489 6.6.1
        return o;
    }
    dmarc::authenticated auth;
    auth.spf_pass = spf && spf->ev.code == splitmail::spf::result::pass;
    if (spf) auth.spf_domain = spf->ev.domain;
    if (v)
        for (const auto& r : v->results())
            if (r.code == dkim::result::pass) auth.dkim_domains.push_back(r.domain);
    std::vector<dmarc::outcome> all;
    // Each roll is drawn once per message: pct= sampling (RFC 7489 6.6.4).
    thread_local std::minstd_rand rng{std::random_device{}()};
    const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
    for (std::size_t i = 0; i < from_domains.size() && 2 * i + 1 < answers.size(); ++i)
        all.push_back(dmarc::evaluate(from_domains[i], to_dmarc_lookup(answers[2 * i]),
                                      to_dmarc_lookup(answers[2 * i + 1]), auth, psl, roll));
    return dmarc::strictest(all);
}

} // namespace

dmarc::policy reported_disposition(const dmarc::outcome& dm, bool refused,
                                   config::reject_action on_reject) {
    if (refused) return dmarc::policy::reject;
    if (dm.code != dmarc::result::fail) return dmarc::policy::none;
    if (dm.applied != dmarc::policy::reject) return dm.applied;
    return on_reject == config::reject_action::quarantine ? dmarc::policy::quarantine
                                                          : dmarc::policy::none;
}

dmarc::observation observe(const dmarc::outcome& dm, dmarc::policy disposition,
                           const std::optional<inbound_spf>& spf, const queue::envelope& env,
                           const dkim::message_verifier* v, std::int64_t now) {
    dmarc::observation o;
    o.time = now;
    o.source_ip = env.client_ip;
    o.header_from = dm.from_domain;
    o.policy_domain = dm.policy_domain;
    // RFC 7489 Appendix C identifiers/envelope_from: the RFC5321.MailFrom domain; the HELO
    // name for the null sender (what SPF checked then, RFC 7208 2.4).
    const auto at = env.sender.rfind('@');
    o.envelope_from =
        address::lower_ascii(at == std::string::npos ? std::string_view(env.client_helo)
                                                     : std::string_view(env.sender).substr(at + 1));
    if (spf) {
        o.spf_domain = spf->ev.domain;
        o.spf_helo = spf->helo_identity;
        o.spf_result = std::string(splitmail::spf::to_string(spf->ev.code));
    } else {
        o.spf_domain = o.envelope_from;
        o.spf_helo = at == std::string::npos;
        o.spf_result = "none";
    }
    if (v)
        for (const auto& r : v->results()) {
            if (r.domain.empty() || o.dkim.size() >= dmarc::max_dkim) continue;
            o.dkim.push_back({r.domain, r.selector, std::string(dkim::to_string(r.code))});
        }
    o.dkim_aligned = dm.dkim_aligned;
    o.spf_aligned = dm.spf_aligned;
    o.disposition = disposition;
    // RFC 7489 Appendix C PolicyOverrideReason: our own setting (dmarc.on_reject) did not do
    // what the evaluation asked, or pct= sampling lowered the published policy.
    if (dm.code == dmarc::result::fail && disposition != dm.applied)
        o.reason = dmarc::override_reason::local_policy;
    else if (dm.code == dmarc::result::fail && dm.applied != dm.published)
        o.reason = dmarc::override_reason::sampled_out;
    if (dm.rec) {
        o.p = dm.rec->p;
        o.sp = dm.rec->sp;
        o.pct = dm.rec->pct;
        o.adkim_strict = dm.rec->adkim_strict;
        o.aspf_strict = dm.rec->aspf_strict;
        o.fo = dm.rec->fo;
        o.rua = dm.rec->rua;
    }
    return o;
}

asio::awaitable<checked> check_inbound(spf_checker* spf, const config* cfg, message_tap* tap,
                                       delivery& d, std::string log_id) {
    checked out;
    if (!cfg || !tap || d.outgoing) {
        auto spf_result = co_await inbound_spf_check(spf, d, log_id);
        if (spf_result) {
            out.prefix = std::move(spf_result->field);
            if (spf_result->ev.code == splitmail::spf::result::pass && !spf_result->helo_identity)
                out.verified.push_back(spf_result->ev.domain);
        }
        co_return out;
    }
    if (tap->removed_fields() != 0) {
        log::warn(
            "auth", log_id, "removed Authentication-Results claiming our authserv-id",
            {{"fields", std::to_string(tap->removed_fields())}, {"client", d.envelope.client_ip}});
        d.size -= tap->removed_octets();
    }
    dkim::message_verifier* v = tap->verifier();
    std::vector<std::string> names;
    std::vector<dkim::key_query> keys;
    if (v) {
        v->finish_body();
        keys = v->key_queries();
        for (const auto& q : keys) names.push_back(q.name);
    }
    const auto dmarc_at = names.size();
    if (cfg->psl)
        for (auto& n : dmarc_names(tap->from_domains(), *cfg->psl)) names.push_back(std::move(n));
    std::vector<dns_query> queries;
    for (auto& n : names) queries.push_back({std::move(n), 16});
    const auto client = splitmail::spf::parse_ip(d.envelope.client_ip);
    const bool iprev = cfg->iprev && client.has_value();
    if (iprev) queries.push_back({splitmail::spf::reverse_name(*client), 12}); // PTR, last
    // The DKIM/DMARC/PTR lookups run while SPF is evaluated (both on the resolver's pool).
    const auto deadline = std::chrono::steady_clock::now() + cfg->dkim_timeout;
    std::optional<dns_lookups> pending;
    if (cfg->resolver) pending.emplace(*cfg->resolver, deadline, queries);
    auto spf_result = co_await inbound_spf_check(spf, d, log_id);
    std::string spf_field = spf_result ? spf_result->field : std::string();
    std::vector<std::optional<dkim::key_answer>> answers(queries.size());
    if (pending) answers = co_await pending->wait();
    std::optional<iprev_outcome> ip_result;
    if (iprev) {
        const auto ptr = answers.back();
        answers.pop_back();
        const auto fnames = ptr_names(ptr);
        std::vector<dns_query> fq;
        for (const auto& n : fnames) fq.push_back({n, client->v6 ? 28 : 1});
        std::vector<std::optional<dkim::key_answer>> forward(fq.size());
        if (cfg->resolver && !fq.empty()) {
            dns_lookups second(*cfg->resolver, deadline, fq); // what is left of the deadline
            forward = co_await second.wait();
        }
        ip_result = evaluate_iprev(d.envelope.client_ip, ptr, fnames, forward);
        log::info("iprev", log_id, "checked",
                  {{"result", ip_result->result},
                   {"client", d.envelope.client_ip},
                   {"name", ip_result->name}});
    }
    if (v) {
        for (std::size_t k = 0; k < keys.size(); ++k)
            if (answers[k]) v->key(keys[k].index, *answers[k]);
        v->give_up(cfg->resolver ? "key lookup timed out" : "no resolver");
        log_dkim(*v, log_id);
    }
    std::optional<dmarc::outcome> dm;
    if (cfg->psl) {
        const std::vector<std::optional<dkim::key_answer>> dmarc_answers(
            answers.begin() + static_cast<std::ptrdiff_t>(dmarc_at), answers.end());
        dm = evaluate_dmarc(tap->from_domains(), dmarc_answers, spf_result, v, *cfg->psl);
        log::info("dmarc", log_id, "evaluated",
                  {{"result", std::string(dmarc::to_string(dm->code))},
                   {"from", dm->from_domain},
                   {"policy", std::string(dmarc::to_string(dm->applied))},
                   {"reason", dm->reason}});
        const bool refuse = dm->code == dmarc::result::fail &&
                            dm->applied == dmarc::policy::reject &&
                            cfg->on_reject == config::reject_action::reject;
        if (cfg->reports && dm->rec && splitmail::spf::parse_ip(d.envelope.client_ip)) {
            const auto disposition = reported_disposition(*dm, refuse, cfg->on_reject);
            cfg->reports->record(observe(*dm, disposition, spf_result, d.envelope, v,
                                         static_cast<std::int64_t>(std::time(nullptr))));
        }
        if (refuse) {
            // RFC 7489 10.3: 5.7.1, naming DMARC; the message is not spooled.
            out.refusal = smtp::make_reply(550, "5.7.1",
                                           "Message refused: DMARC policy of " + dm->from_domain +
                                               " (no aligned SPF or DKIM pass)");
            log::warn("dmarc", log_id, "refused: DMARC p=reject",
                      {{"from", dm->from_domain}, {"client", d.envelope.client_ip}});
            co_return out;
        }
        if (dm->code == dmarc::result::fail && dm->applied == dmarc::policy::reject &&
            cfg->on_reject == config::reject_action::quarantine)
            dm->applied = dmarc::policy::quarantine;
    }
    if (spf_result && spf_result->ev.code == splitmail::spf::result::pass &&
        !spf_result->helo_identity)
        out.verified.push_back(spf_result->ev.domain);
    if (v)
        for (const auto& r : v->results())
            if (r.code == dkim::result::pass && !r.domain.empty()) out.verified.push_back(r.domain);
    out.prefix = cfg->add_results
                     ? authentication_results(cfg->authserv_id,
                                              describe(spf_result, d.envelope, v, dm, ip_result)) +
                           spf_field
                     : spf_field;
    co_return out;
}

} // namespace splitmail::relay::sender_auth
