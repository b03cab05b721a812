// Sender authentication of inbound mail; see inbound.hpp.
#include "sender_auth/inbound.hpp"

#include "spf/checker.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <ctime>
#include <functional>
#include <memory>
#include <mutex>

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
    filtered_.clear();
    filtered_.shrink_to_fit();
    removed_fields_ = removed_octets_ = 0;
}

std::vector<method_result> describe(const std::optional<inbound_spf>& spf,
                                    const queue::envelope& env,
                                    const dkim::message_verifier* dkim) {
    std::vector<method_result> out;
    if (spf) {
        method_result m{"spf", std::string(spf::to_string(spf->ev.code)), {}, {}};
        m.reason = spf->ev.problem.empty()
                        ? (spf->ev.mechanism.empty() ? "" : "matched " + spf->ev.mechanism)
                        : spf->ev.problem;
        // RFC 8601 2.7.2: the identity checked; smtp.helo for the null sender.
        if (spf->helo_identity) m.properties.emplace_back("smtp.helo", env.client_helo);
        else m.properties.emplace_back("smtp.mailfrom", env.sender);
        out.push_back(std::move(m));
    }
    if (!dkim) return out;
    if (dkim->results().empty()) out.push_back({"dkim", "none", "no signature", {}});
    for (const auto& r : dkim->results()) {
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
    return out;
}

asio::awaitable<void> fetch_keys(dns::unbound_resolver& resolver,
                                 std::chrono::milliseconds timeout, dkim::message_verifier& v) {
    const auto queries = v.key_queries();
    if (queries.empty()) co_return;
    // Shared with the pool jobs and the timer; whichever completes the set first resumes us.
    struct state {
        std::mutex m;
        std::vector<std::optional<dkim::key_answer>> answers;
        std::size_t left = 0;
        bool done = false;
        std::function<void(std::error_code)> cb;
    };
    auto st = std::make_shared<state>();
    st->answers.resize(queries.size());
    st->left = queries.size();
    auto complete = [st] {
        std::function<void(std::error_code)> cb;
        {
            std::lock_guard lock(st->m);
            if (st->done) return;
            st->done = true;
            cb = std::move(st->cb);
        }
        cb({});
    };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(deadline);
    auto start = [&](std::function<void(std::error_code)> cb) {
        st->cb = std::move(cb);
        for (std::size_t k = 0; k < queries.size(); ++k) {
            // The job owns copies of what it reads: it may outlive this frame.
            asio::post(resolver.pool(), [st, complete, &resolver, deadline, k,
                                         name = queries[k].name] {
                dkim::key_answer a;
                if (std::chrono::steady_clock::now() < deadline) {
                    constexpr int t_txt = 16;
                    auto raw = resolver.query_raw(name, t_txt);
                    using rs = dns::unbound_resolver::raw_answer::status;
                    a.st = raw.st == rs::ok         ? dkim::key_answer::status::ok
                           : raw.st == rs::nxdomain ? dkim::key_answer::status::nxdomain
                                                    : dkim::key_answer::status::temp_error;
                    for (const auto& d : raw.data)
                        if (auto txt = parse_txt_rdata(d)) a.txt.push_back(std::move(*txt));
                    if (a.st == dkim::key_answer::status::ok && a.txt.empty())
                        a.st = dkim::key_answer::status::no_data;
                }
                bool last = false;
                {
                    std::lock_guard lock(st->m);
                    st->answers[k] = std::move(a);
                    last = --st->left == 0;
                }
                if (last) complete();
            });
        }
        timer.async_wait([complete](std::error_code ec) {
            if (!ec) complete(); // the deadline: take what has arrived
        });
    };
    co_await net::await_callback(start);
    timer.cancel();
    std::vector<std::optional<dkim::key_answer>> answers;
    {
        std::lock_guard lock(st->m);
        answers = st->answers;
    }
    for (std::size_t k = 0; k < queries.size(); ++k)
        if (answers[k]) v.key(queries[k].index, *answers[k]);
    v.give_up("key lookup timed out");
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

asio::awaitable<std::string> inbound_auth_fields(spf_checker* spf, const config* cfg,
                                                 message_tap* tap, delivery& d,
                                                 std::string log_id) {
    auto spf_result = co_await inbound_spf_check(spf, d, log_id);
    std::string spf_field = spf_result ? spf_result->field : std::string();
    if (!cfg || !tap || d.outgoing) co_return spf_field;
    if (tap->removed_fields() != 0) {
        log::warn("auth", log_id, "removed Authentication-Results claiming our authserv-id",
                  {{"fields", std::to_string(tap->removed_fields())},
                   {"client", d.envelope.client_ip}});
        d.size -= tap->removed_octets();
    }
    dkim::message_verifier* v = tap->verifier();
    if (v) {
        v->finish_body();
        if (cfg->resolver)
            co_await fetch_keys(*cfg->resolver, cfg->dkim_timeout, *v);
        v->give_up("no resolver");
        log_dkim(*v, log_id);
    }
    if (!cfg->add_results) co_return spf_field;
    const auto methods = describe(spf_result, d.envelope, v);
    co_return authentication_results(cfg->authserv_id, methods) + spf_field;
}

} // namespace splitmail::relay::sender_auth
