// The queue manager's pure decisions; see decide.hpp.
#include "queue/decide.hpp"

#include <algorithm>

namespace splitmail::relay {

rcpt_outcome classify(int code) {
    if (code / 100 == 2) return rcpt_outcome::delivered;
    if (code / 100 == 5) return rcpt_outcome::failed;
    return rcpt_outcome::deferred;
}

rcpt_outcome apply_result(queue::recipient& r, const rcpt_result& res) {
    r.last_code = res.code;
    r.last_enhanced = res.enhanced;
    r.last_text = res.text;
    const auto o = classify(res.code);
    r.state = o == rcpt_outcome::delivered ? queue::rcpt_state::delivered
              : o == rcpt_outcome::failed  ? queue::rcpt_state::failed
                                           : queue::rcpt_state::deferred;
    return o;
}

rcpt_outcome apply_result(queue::envelope& env, std::size_t index, const rcpt_result& res,
                          attempt_record& record, std::string_view error_if_deferred) {
    auto& r = env.recipients.at(index);
    const auto o = apply_result(r, res);
    if (o == rcpt_outcome::failed) record.failed_now.push_back(r.address);
    if (o == rcpt_outcome::deferred && !error_if_deferred.empty())
        record.error = std::string(error_if_deferred);
    return o;
}

bool is_final(queue::rcpt_state s) {
    return s == queue::rcpt_state::delivered || s == queue::rcpt_state::failed;
}

bool is_open(const queue::recipient& r, queue::rcpt_route route) {
    return !is_final(r.state) && r.route == route;
}

bool has_open(const queue::envelope& env, queue::rcpt_route route) {
    return std::ranges::any_of(env.recipients,
                               [route](const auto& r) { return is_open(r, route); });
}

queue::rcpt_route other_route(queue::rcpt_route r) {
    return r == queue::rcpt_route::home ? queue::rcpt_route::remote : queue::rcpt_route::home;
}

queue::rcpt_route owner(const queue::envelope& env) {
    if (has_open(env, queue::rcpt_route::home)) return queue::rcpt_route::home;
    if (has_open(env, queue::rcpt_route::remote)) return queue::rcpt_route::remote;
    return queue::rcpt_route::home;
}

std::vector<std::string>
expire_open(queue::envelope& env, queue::rcpt_route route, sys_time now,
            std::chrono::seconds lifetime,
            const std::function<std::string(const queue::recipient&)>& why) {
    std::vector<std::string> out;
    if (!expired(env.arrival, now, lifetime)) return out;
    for (auto& r : env.recipients) {
        if (!is_open(r, route)) continue;
        std::string text = why(r); // before last_text is overwritten: it may quote it
        r.state = queue::rcpt_state::failed;
        r.last_code = 554;
        r.last_enhanced = "4.4.7";
        r.last_text = std::move(text);
        out.push_back(r.address);
    }
    return out;
}

bounce_plan plan_bounce(const queue::envelope& env, const queue_policy& p,
                        const attempt_record& at) {
    bounce_plan b;
    if (p.bounce_each_attempt) {
        b.send = !at.failed_now.empty();
        b.only = at.failed_now;
        return b;
    }
    // Once this route's part is final: one bounce for every failed recipient.
    if (has_open(env, p.route)) return b;
    b.send = std::ranges::any_of(
        env.recipients, [](const auto& r) { return r.state == queue::rcpt_state::failed; });
    return b;
}

decision decide(const queue::envelope& env, const queue_policy& p, const attempt_record& at,
                bool bounce_ok, sys_time now, std::mt19937_64& rng) {
    decision d;
    if (at.message_gone) {
        d.step = next_step::drop;
        return d;
    }
    // Never later than the lifetime's end: the expiry bounce should not wait for a backoff.
    const auto last = env.arrival + p.retry.lifetime + std::chrono::seconds(1);
    const bool open = has_open(env, p.route);
    if (!open) {
        if (!bounce_ok) {
            // Keep the message until its bounce is durably queued; try that again soon.
            d.step = next_step::reschedule;
            d.next_attempt = std::min<sys_time>(now + p.retry.initial, last);
            return d;
        }
        d.step = has_open(env, other_route(p.route)) ? next_step::hand_over : next_step::remove;
        return d;
    }
    d.step = next_step::reschedule;
    if (at.cut_short) {
        d.next_attempt = std::min<sys_time>(now, last);
        return d;
    }
    d.count_attempt = true;
    d.next_attempt = std::min<sys_time>(next_attempt(env.attempts + 1, now, p.retry, rng), last);
    if (delay_warning_due(env.arrival, now, env.delay_warned, p.retry))
        for (const auto& r : env.recipients)
            if (is_open(r, p.route)) d.delay_notice.push_back(r.address);
    return d;
}

} // namespace splitmail::relay
