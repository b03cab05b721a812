// The relay's queue manager; see manager.hpp.
#include "queue/manager.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/net/spawn.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>

namespace splitmail::relay {

namespace asio = boost::asio;
using sys_clock = std::chrono::system_clock;

queue_manager::queue_manager(asio::io_context& io, queue::spool& spool, notice_settings notices)
    : io_(io), spool_(spool), notices_(std::move(notices)), rng_(std::random_device{}()) {}

queue_manager::~queue_manager() = default;

void queue_manager::set_transport(queue::rcpt_route route, transport* t, queue_policy policy) {
    policy.route = route;
    slot(route) = {t, std::move(policy)};
}

std::size_t queue_manager::queued(queue::rcpt_route route) const {
    return static_cast<std::size_t>(
        std::ranges::count_if(q_, [route](const auto& kv) { return kv.second.route == route; }));
}

void queue_manager::start(std::vector<queue::envelope> recovered) {
    started_ = true;
    for (auto& s : slots_)
        if (s.t) s.t->start();
    const std::size_t n = recovered.size();
    for (auto& e : recovered) enter(std::move(e));
    if (n > 0) log::info("queue", "", "resuming queued messages", {{"count", n}});
    // Ticker: starts attempts whose time has come (1 s granularity).
    net::spawn(io_, "queue timer", [this]() -> asio::awaitable<void> {
        asio::steady_timer t(io_);
        while (!stopped_) {
            t.expires_after(std::chrono::seconds(1));
            boost::system::error_code ec;
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            promote_due();
        }
    });
}

void queue_manager::add(queue::envelope env) {
    if (q_.contains(env.id)) return;
    env.next_attempt = std::min(env.next_attempt, sys_clock::now()); // fresh: due at once
    enter(std::move(env));
}

void queue_manager::enter(queue::envelope env) {
    auto id = env.id;
    const auto route = owner(env);
    const auto when = env.next_attempt;
    auto [it, fresh] = q_.try_emplace(id);
    if (!fresh) return;
    it->second.env = std::move(env);
    it->second.route = route;
    if (when <= sys_clock::now())
        due(id);
    else
        waiting_.emplace(when, id);
}

void queue_manager::flush(queue::rcpt_route route) {
    std::vector<std::string> due;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        auto q = q_.find(it->second);
        if (q == q_.end() || q->second.route == route) {
            if (q != q_.end()) due.push_back(it->second);
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = held_.begin(); it != held_.end();) {
        auto q = q_.find(*it);
        if (q == q_.end() || q->second.route == route) {
            if (q != q_.end()) due.push_back(*it);
            it = held_.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& id : due) this->due(id);
    flush_busy(route);
}

void queue_manager::flush_busy(std::optional<queue::rcpt_route> route) {
    for (auto& [id, en] : q_)
        if (en.busy && (!route || en.route == *route)) en.flushed = true;
}

void queue_manager::flush_all() {
    auto w = std::move(waiting_);
    waiting_.clear();
    for (auto& [when, id] : w) due(id);
    auto h = std::move(held_);
    held_.clear();
    for (const auto& id : h) due(id);
    flush_busy(std::nullopt);
}

void queue_manager::stop() {
    stopped_ = true;
    for (auto& s : slots_)
        if (s.t) s.t->stop();
}

void queue_manager::promote_due() {
    const auto now = sys_clock::now();
    while (!stopped_ && !waiting_.empty() && waiting_.begin()->first <= now) {
        auto id = waiting_.begin()->second;
        waiting_.erase(waiting_.begin());
        due(id);
    }
}

void queue_manager::due(const std::string& id) {
    auto it = q_.find(id);
    if (it == q_.end() || it->second.busy) return; // in flight: its end reschedules it
    auto& sl = slot(it->second.route);
    if (sl.t && !sl.t->accepting()) {
        // Held until the transport flushes its route (home answers again); the lifetime is
        // checked then, so a bounce to a local sender is not lost while home is away.
        held_.insert(id);
        return;
    }
    begin(id);
}

void queue_manager::begin(const std::string& id) {
    auto it = q_.find(id);
    if (stopped_ || !started_ || it == q_.end() || it->second.busy) return;
    auto& en = it->second;
    auto& sl = slot(en.route);
    if (!sl.t) {
        if (!en.parked)
            log::warn("queue", id,
                      en.route == queue::rcpt_route::remote
                          ? "recipients outside our domains kept in the queue: "
                            "outbound delivery is disabled (see the error at start-up)"
                          : "kept in the queue: home delivery is disabled");
        en.parked = true;
        return;
    }
    attempt_record pre;
    // RFC 5321 4.5.4.1: give up after the lifetime; RFC 3463 4.4.7 delivery time expired.
    transport* t = sl.t;
    pre.failed_now =
        expire_open(en.env, en.route, sys_clock::now(), sl.policy.retry.lifetime,
                    [t, &en](const queue::recipient& r) { return t->expiry_text(en.env, r); });
    if (!pre.failed_now.empty())
        log::warn(t->component(), id, "message expired; returning it to the sender",
                  {{"from", en.env.sender}, {"last_error", en.env.last_error}});
    en.busy = true;
    if (!has_open(en.env, en.route)) {
        // Nothing to send (all final): settle bounces and the spool.
        spawn_finish(id, std::move(pre));
        return;
    }
    t->attempt(en.env, [this, id, pre = std::move(pre)](attempt_record at) mutable {
        at.failed_now.insert(at.failed_now.begin(), pre.failed_now.begin(), pre.failed_now.end());
        spawn_finish(id, std::move(at));
    });
}

void queue_manager::spawn_finish(std::string id, attempt_record at) {
    ++finishing_;
    // A captureless coroutine: its parameters live in its frame. If finish() throws, the
    // program stops (net::spawn), so the count needs no unwinding.
    net::spawn(io_, "queue attempt end",
               [](queue_manager* self, std::string id, attempt_record at) -> asio::awaitable<void> {
                   co_await self->finish(std::move(id), std::move(at));
                   --self->finishing_;
               }(this, std::move(id), std::move(at)));
}

std::size_t queue_manager::in_flight() const {
    std::size_t n = finishing_;
    for (const auto& s : slots_)
        if (s.t) n += s.t->active();
    return n;
}

asio::awaitable<void> queue_manager::finish(std::string id, attempt_record at) {
    auto it = q_.find(id);
    if (it == q_.end()) co_return;
    auto& en = it->second;
    auto& env = en.env;
    const auto& policy = slot(en.route).policy;
    if (at.message_gone) {
        // Deleted by `splitmail queue delete` (ENOENT) or unreadable: stop owning it.
        log::warn("queue", id, "message file unavailable; dropped from the schedule");
        q_.erase(it);
        co_return;
    }
    if (!en.unbounced.empty()) {
        at.failed_now.insert(at.failed_now.begin(), en.unbounced.begin(), en.unbounced.end());
        en.unbounced.clear();
    }
    const auto now = sys_clock::now();
    const auto retry_until = env.arrival + policy.retry.lifetime;
    bool bounce_ok = true;
    if (auto plan = plan_bounce(env, policy, at); plan.send) {
        auto r = co_await queue_notice(spool_, readers_, notices_, env, dsn_kind::failure,
                                       plan.only, now, retry_until);
        bounce_ok = r.ok;
        if (!r.ok && policy.bounce_each_attempt) en.unbounced = plan.only;
        if (r.notice) add(std::move(*r.notice));
    }
    auto d = decide(env, policy, at, bounce_ok, now, rng_);
    switch (d.step) {
    case next_step::drop: q_.erase(id); co_return;
    case next_step::remove: {
        auto ec = co_await net::await_callback(
            [this, &env](std::function<void(std::error_code)> cb) { spool_.remove(env, cb); });
        if (ec)
            log::error("queue", id, "cannot remove delivered message", {{"error", ec.message()}});
        else
            log::info("queue", id, "removed: every recipient is final");
        q_.erase(id);
        co_return;
    }
    case next_step::hand_over:
    case next_step::reschedule: break;
    }
    if (d.count_attempt) {
        ++env.attempts;
        if (!at.error.empty()) env.last_error = at.error;
    }
    if (!d.delay_notice.empty()) {
        auto r = co_await queue_notice(spool_, readers_, notices_, env, dsn_kind::delay,
                                       d.delay_notice, now, retry_until);
        if (r.ok) env.delay_warned = true;
        if (r.notice) add(std::move(*r.notice));
    }
    if (d.step == next_step::reschedule) env.next_attempt = d.next_attempt;
    // Record the attempt before anything else happens to the message: a crash must neither
    // repeat a final recipient nor forget why the others wait.
    auto ec = co_await net::await_callback(
        [this, &env](std::function<void(std::error_code)> cb) { spool_.update(env, cb); });
    if (ec == std::errc::no_such_file_or_directory) {
        log::info("queue", id, "message was deleted from the queue meanwhile");
        q_.erase(id);
        co_return;
    }
    if (ec) log::error("queue", id, "cannot update envelope", {{"error", ec.message()}});
    en.busy = false;
    if (d.step == next_step::hand_over) {
        // This route's part is done: the other route owns the envelope from now on.
        en.route = other_route(en.route);
        due(id);
        co_return;
    }
    if (stopped_) co_return;
    if (std::exchange(en.flushed, false)) {
        due(id); // flushed while this attempt ran: try again now, not at next_attempt
        co_return;
    }
    waiting_.emplace(env.next_attempt, id);
}

} // namespace splitmail::relay
