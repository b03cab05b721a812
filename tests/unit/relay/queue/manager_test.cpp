// The queue manager with scripted fake transports over a real spool in a temp dir: a message
// to a home and a remote recipient goes home first, is handed to remote, its remote failure
// bounces (the bounce routed home: the sender is ours) and the original leaves the spool;
// a transport that holds attempts back gets none until its route is flushed; a deferral is
// written to the envelope with the attempt counted.
#include "queue/manager.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/queue/id.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

namespace fs = std::filesystem;
using namespace splitmail;
using namespace splitmail::relay;
using queue::rcpt_route;

namespace {

class fake_transport final : public transport {
public:
    struct call {
        queue::envelope* env;
        done_fn done;
    };
    std::vector<call> calls;
    bool accept = true;

    void start() override {}
    void stop() override {}
    void attempt(queue::envelope& env, done_fn done) override {
        calls.push_back({&env, std::move(done)});
    }
    bool accepting() const override { return accept; }
    std::size_t active() const override { return calls.size(); }
    std::string expiry_text(const queue::envelope&, const queue::recipient&) const override {
        return "expired";
    }
    std::string_view component() const override { return "fake"; }

    // Answers the oldest attempt: `code` for every open recipient of `route`.
    void answer(rcpt_route route, int code, std::string enhanced, std::string text) {
        ASSERT_FALSE(calls.empty());
        auto c = std::move(calls.front());
        calls.erase(calls.begin());
        attempt_record rec;
        for (std::size_t i = 0; i < c.env->recipients.size(); ++i)
            if (is_open(c.env->recipients[i], route))
                apply_result(*c.env, i, {code, enhanced, text}, rec, code / 100 == 4 ? text : "");
        c.done(std::move(rec));
    }
};

struct fixture {
    fs::path dir;
    durable::committer committer;
    std::optional<queue::spool> spool;
    boost::asio::io_context io;
    fake_transport home, remote;
    std::optional<queue_manager> m;

    fixture() {
        std::string tmpl = (fs::temp_directory_path() / "manager-test-XXXXXX").string();
        dir = ::mkdtemp(tmpl.data());
        spool.emplace(*queue::spool::open(dir, committer));
        m.emplace(io, *spool, notice_settings{"relay.example.test", [](std::string_view d) {
                                                  return d == "example.test";
                                              }});
        queue_policy hp{.route = rcpt_route::home, .retry = {}, .bounce_each_attempt = false};
        hp.retry.delay_warning = std::chrono::seconds{0};
        queue_policy rp{.route = rcpt_route::remote, .retry = {}, .bounce_each_attempt = true};
        m->set_transport(rcpt_route::home, &home, hp);
        m->set_transport(rcpt_route::remote, &remote, rp);
    }
    ~fixture() {
        m->stop();
        io.run_for(std::chrono::milliseconds(1100)); // the ticker sees stopped_ and ends
        m.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }

    queue::envelope queue_message(std::vector<std::pair<std::string, rcpt_route>> rcpts) {
        queue::envelope e;
        e.id = queue::make_id();
        e.sender = "alice@example.test";
        for (auto& [a, r] : rcpts) {
            queue::recipient x;
            x.address = a;
            x.route = r;
            e.recipients.push_back(x);
        }
        e.arrival = std::chrono::system_clock::now();
        e.next_attempt = e.arrival;
        std::promise<std::error_code> p;
        spool->enqueue(e, "", "Subject: hi\r\n\r\nbody\r\n",
                       [&p](std::error_code ec) { p.set_value(ec); });
        EXPECT_FALSE(p.get_future().get());
        return e;
    }

    // Starts the manager and hands it a freshly queued message for `rcpts`.
    queue::envelope start_with(std::vector<std::pair<std::string, rcpt_route>> rcpts) {
        m->start({});
        auto e = queue_message(std::move(rcpts));
        m->add(e);
        return e;
    }

    // Runs the io loop until `pred` holds (the committer completes on its own threads).
    template <class Pred>
    bool settle(Pred pred) {
        for (int i = 0; i < 200 && !pred(); ++i) io.run_for(std::chrono::milliseconds(10));
        return pred();
    }
};

} // namespace

TEST(queue_manager, home_then_remote_then_bounce_then_removed) {
    fixture f;
    auto e = f.start_with(
        {{"demo@example.test", rcpt_route::home}, {"bob@far.example", rcpt_route::remote}});
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1; }));
    EXPECT_TRUE(f.remote.calls.empty()); // one route at a time
    f.home.answer(rcpt_route::home, 250, "2.0.0", "ok");
    ASSERT_TRUE(f.settle([&] { return f.remote.calls.size() == 1; }));
    // The handover was written: a crash now does not deliver home again.
    auto stored = f.spool->load(e.id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->recipients[0].state, queue::rcpt_state::delivered);

    f.remote.answer(rcpt_route::remote, 550, "5.1.1", "no such user");
    // The bounce goes home (the sender is ours), from <>, and the original is gone.
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1 && f.m->queued() == 1; }));
    EXPECT_EQ(f.home.calls[0].env->sender, "");
    EXPECT_EQ(f.home.calls[0].env->recipients[0].address, "alice@example.test");
    EXPECT_EQ(f.spool->load(e.id).error(), std::errc::no_such_file_or_directory);
    auto dsn = f.spool->read_message(f.home.calls[0].env->id);
    ASSERT_TRUE(dsn);
    EXPECT_NE(dsn->find("Final-Recipient: rfc822; bob@far.example"), std::string::npos);
    EXPECT_EQ(dsn->find("demo@example.test>"), std::string::npos); // delivered: not reported
}

TEST(queue_manager, deferral_is_counted_written_and_scheduled) {
    fixture f;
    auto e = f.start_with({{"demo@example.test", rcpt_route::home}});
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1; }));
    const auto before = std::chrono::system_clock::now();
    f.home.answer(rcpt_route::home, 451, "4.3.0", "home unreachable: refused");
    ASSERT_TRUE(f.settle([&] {
        auto s = f.spool->load(e.id);
        return s && s->attempts == 1;
    }));
    auto s = *f.spool->load(e.id);
    EXPECT_EQ(s.last_error, "home unreachable: refused");
    EXPECT_EQ(s.recipients[0].state, queue::rcpt_state::deferred);
    EXPECT_GE(s.next_attempt, before + std::chrono::seconds(47)); // 1m -20 %
    EXPECT_TRUE(f.home.calls.empty());
    // SIGUSR1: due at once (not in 47 s). The envelope file is written before the attempt's end
    // has run on the io thread, so this flush may come while the attempt is still ending (seen
    // under ASan on a loaded machine): the manager then retries when it has ended.
    f.m->flush_all();
    EXPECT_TRUE(f.settle([&] { return f.home.calls.size() == 1; }));
}

// A flush that arrives while an attempt is in flight is not lost: when the attempt ends
// deferred, the message is tried again at once instead of at its next retry time.
TEST(queue_manager, flush_during_an_attempt_retries_when_it_ends) {
    fixture f;
    auto e = f.start_with({{"demo@example.test", rcpt_route::home}});
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1; }));
    f.m->flush(rcpt_route::home); // the attempt is in flight (home has not answered)
    f.home.answer(rcpt_route::home, 451, "4.3.0", "home unreachable: refused");
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1; })) << "tried again at once";
    auto s = *f.spool->load(e.id);
    EXPECT_EQ(s.attempts, 1u);
    // A flush of the other route does not do that.
    f.m->flush(rcpt_route::remote);
    f.home.answer(rcpt_route::home, 451, "4.3.0", "home unreachable: refused");
    ASSERT_TRUE(f.settle([&] {
        auto s2 = f.spool->load(e.id);
        return s2 && s2->attempts == 2;
    }));
    f.io.run_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(f.home.calls.empty()) << "not flushed: waits for its retry time";
}

// A stopping relay waits for in_flight() to reach 0: an attempt under way when stop() comes
// still ends and is written (the delivered message leaves the spool), so a restart does not
// deliver it again.
TEST(queue_manager, stop_lets_an_attempt_in_flight_end) {
    fixture f;
    auto e = f.start_with({{"demo@example.test", rcpt_route::home}});
    ASSERT_TRUE(f.settle([&] { return f.home.calls.size() == 1; }));
    EXPECT_EQ(f.m->in_flight(), 1u);
    f.m->stop();
    f.home.answer(rcpt_route::home, 250, "2.0.0", "ok");
    EXPECT_EQ(f.m->in_flight(), 1u) << "the attempt's end is not written yet";
    ASSERT_TRUE(f.settle([&] { return f.m->in_flight() == 0; }));
    EXPECT_EQ(f.spool->load(e.id).error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(f.m->queued(), 0u);
}

TEST(queue_manager, held_back_until_the_route_is_flushed) {
    fixture f;
    f.home.accept = false; // home unreachable
    auto e = f.start_with({{"demo@example.test", rcpt_route::home}});
    f.io.run_for(std::chrono::milliseconds(1200));
    EXPECT_TRUE(f.home.calls.empty());
    f.m->flush(rcpt_route::remote); // another route's flush does not release it
    EXPECT_TRUE(f.home.calls.empty());
    f.home.accept = true;
    f.m->flush(rcpt_route::home);
    EXPECT_EQ(f.home.calls.size(), 1u);
}

TEST(queue_manager, message_deleted_meanwhile_is_dropped) {
    fixture f;
    auto e = f.start_with({{"bob@far.example", rcpt_route::remote}});
    ASSERT_TRUE(f.settle([&] { return f.remote.calls.size() == 1; }));
    ASSERT_TRUE(f.spool->remove_to_deleted(e.id));
    auto c = std::move(f.remote.calls.front());
    f.remote.calls.clear();
    attempt_record rec;
    rec.message_gone = true;
    c.done(rec);
    ASSERT_TRUE(f.settle([&] { return f.m->queued() == 0; }));
}
