// Per-user strands (issue 12 item 4): one user's work in order and one at a time, other users'
// work not held up by it, and run_as() resuming on the caller's executor. No timing: a blocked
// piece of work waits on a future the test fulfils; "not held up" means the other user's work
// completes while the first is still blocked.
#include "maildir/deliver.hpp"
#include "users/executors.hpp"

#include "splitmail/durable/committer.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <cerrno>
#include <future>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace splitmail::home;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {
// Long enough never to matter when things work; only bounds a hang when they do not.
constexpr auto patience = std::chrono::seconds(30);
} // namespace

TEST(UserExecutors, OneUsersWorkRunsInOrderOneAtATime) {
    user_executors ux(4);
    std::atomic<int> running{0}, overlaps{0};
    std::vector<int> order;
    std::promise<void> all;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i)
        ux.post("a@x.test", [&, i] {
            if (running.fetch_add(1) != 0) ++overlaps;
            order.push_back(i); // unsynchronised on purpose: the strand must serialise it
            running.fetch_sub(1);
            if (i == n - 1) all.set_value();
        });
    ASSERT_EQ(all.get_future().wait_for(patience), std::future_status::ready);
    ux.join();
    EXPECT_EQ(overlaps.load(), 0);
    ASSERT_EQ(order.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(order[i], i);
    EXPECT_EQ(ux.active_users(), 0u) << "no strand kept once a user's work is done";
}

TEST(UserExecutors, ABlockedUserDoesNotHoldUpOthers) {
    user_executors ux(2);
    std::promise<void> release_a, b_done, a_started;
    auto release = release_a.get_future().share();
    ux.post("a@x.test", [&] {
        a_started.set_value();
        release.wait(); // A's "fsync" that does not return
    });
    ASSERT_EQ(a_started.get_future().wait_for(patience), std::future_status::ready);
    // More of A's work queues behind it; B's goes past.
    std::atomic<bool> a_second{false};
    ux.post("a@x.test", [&] { a_second = true; });
    ux.post("b@x.test", [&] { b_done.set_value(); });
    EXPECT_EQ(b_done.get_future().wait_for(patience), std::future_status::ready)
        << "B's work waited for A's";
    EXPECT_FALSE(a_second.load()) << "A's later work ran before A's blocked work finished";
    release_a.set_value();
    ux.join();
    EXPECT_TRUE(a_second.load());
}

TEST(UserExecutors, RunAsResumesOnTheCallersExecutorWithResultOrException) {
    user_executors ux(2);
    asio::io_context io;
    std::thread::id io_thread, work_thread, resumed_thread;
    int result = 0;
    bool caught = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            io_thread = std::this_thread::get_id();
            result = co_await run_as(ux, "a@x.test", [&] {
                work_thread = std::this_thread::get_id();
                return 42;
            });
            resumed_thread = std::this_thread::get_id();
            try {
                co_await run_as(ux, "a@x.test", []() -> int { throw std::runtime_error("disk"); });
            } catch (const std::runtime_error&) {
                caught = true;
            }
        },
        asio::detached);
    io.run();
    EXPECT_EQ(result, 42);
    EXPECT_NE(work_thread, io_thread) << "the work ran on the io thread";
    EXPECT_EQ(resumed_thread, io_thread) << "the coroutine did not come back to its executor";
    EXPECT_TRUE(caught);
}

// Heavy users yield the CPU: a piece that used heavy_cpu of CPU time moves its user's later
// work onto the background threads (nice 10) until the mark expires; other users stay at nice
// 0, and a user's work stays in order across the move. CPU time, not wall time: no timing.
namespace {
void burn_cpu(std::chrono::nanoseconds how_much) {
    auto start = user_executors::thread_cpu();
    volatile unsigned sink = 0;
    while (user_executors::thread_cpu() - start < how_much)
        for (int i = 0; i < 10000; ++i) sink = sink + static_cast<unsigned>(i);
}

int nice_of_this_thread() {
    errno = 0;
    return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
}

// The test may itself run niced (`nice ctest`): the background threads are 10 levels lower.
const int base_nice = nice_of_this_thread();
const int background = std::min(19, base_nice + 10);

// The strand is released just after a piece returns: wait for that (no join(): the pool
// would not run anything posted after it).
void wait_idle(user_executors& ux) {
    for (auto w = std::chrono::milliseconds(0); ux.active_users() != 0 && w < patience;
         w += std::chrono::milliseconds(1))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(ux.active_users(), 0u);
}

template <class T>
T wait_get(std::future<T> f) {
    EXPECT_EQ(f.wait_for(patience), std::future_status::ready);
    return f.get();
}
} // namespace

TEST(UserExecutors, AHeavyUsersLaterWorkRunsOnTheBackgroundThreads) {
    if (background == base_nice) GTEST_SKIP() << "the test runs at nice 19 already";
    user_executors ux({.threads = 2,
                       .background_nice = 10,
                       .heavy_cpu = std::chrono::milliseconds(20),
                       .heavy_for = std::chrono::minutes(10)});
    std::promise<int> first_a, light_b;
    ux.post("a@x.test", [&] { first_a.set_value(nice_of_this_thread()); });
    EXPECT_EQ(wait_get(first_a.get_future()), base_nice) << "a user starts on the normal threads";
    EXPECT_FALSE(ux.heavy("a@x.test"));

    std::promise<void> burnt;
    ux.post("a@x.test", [&] {
        burn_cpu(std::chrono::milliseconds(30));
        burnt.set_value();
    });
    wait_get(burnt.get_future());
    wait_idle(ux); // the mark is made when the piece has returned
    EXPECT_TRUE(ux.heavy("a@x.test")) << "30 ms of CPU did not mark the user heavy";
    EXPECT_FALSE(ux.heavy("b@x.test"));

    std::promise<int> later_a;
    ux.post("a@x.test", [&] { later_a.set_value(nice_of_this_thread()); });
    ux.post("b@x.test", [&] { light_b.set_value(nice_of_this_thread()); });
    EXPECT_EQ(wait_get(later_a.get_future()), background) << "the heavy user's next work";
    EXPECT_EQ(wait_get(light_b.get_future()), base_nice) << "another user's work";
    // A short piece does not clear the mark (it lasts heavy_for after the last heavy piece).
    ux.join();
    EXPECT_TRUE(ux.heavy("a@x.test"));
}

TEST(UserExecutors, TheHeavyMarkExpires) {
    if (background == base_nice) GTEST_SKIP() << "the test runs at nice 19 already";
    user_executors ux({.threads = 1,
                       .background_nice = 10,
                       .heavy_cpu = std::chrono::milliseconds(10),
                       .heavy_for = std::chrono::milliseconds(200)});
    std::promise<void> burnt;
    ux.post("a@x.test", [&] {
        burn_cpu(std::chrono::milliseconds(15));
        burnt.set_value();
    });
    wait_get(burnt.get_future());
    wait_idle(ux);
    EXPECT_TRUE(ux.heavy("a@x.test"));
    for (auto w = std::chrono::milliseconds(0); ux.heavy("a@x.test") && w < patience;
         w += std::chrono::milliseconds(10))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(ux.heavy("a@x.test")) << "the mark outlived heavy_for";
    std::promise<int> again;
    ux.post("a@x.test", [&] { again.set_value(nice_of_this_thread()); });
    EXPECT_EQ(wait_get(again.get_future()), base_nice) << "back on the normal threads";
}

TEST(UserExecutors, AUserTurningHeavyKeepsItsWorkInOrder) {
    if (background == base_nice) GTEST_SKIP() << "the test runs at nice 19 already";
    user_executors ux({.threads = 2,
                       .background_nice = 10,
                       .heavy_cpu = std::chrono::milliseconds(10),
                       .heavy_for = std::chrono::minutes(10)});
    std::atomic<int> running{0}, overlaps{0};
    std::vector<int> order;
    std::vector<int> nices;
    constexpr int n = 300, batch = 100;
    // Three batches, each posted at once: the first piece of each is heavy. Within a batch
    // the user turns heavy while the rest is queued: it stays on its strand (same threads) to
    // the end of the batch; the next batch, posted when nothing is queued, starts on the
    // background threads.
    for (int first = 0; first < n; first += batch) {
        std::promise<void> all, posted;
        auto all_posted = posted.get_future().share();
        for (int i = first; i < first + batch; ++i)
            ux.post("a@x.test", [&, i, first, all_posted] {
                if (running.fetch_add(1) != 0) ++overlaps;
                if (i == first) { // the batch is queued before this piece marks the user
                    all_posted.wait();
                    burn_cpu(std::chrono::milliseconds(12));
                }
                order.push_back(i); // unsynchronised on purpose: the strand must serialise it
                nices.push_back(nice_of_this_thread());
                running.fetch_sub(1);
                if (i == first + batch - 1) all.set_value();
            });
        posted.set_value();
        wait_get(all.get_future());
        wait_idle(ux);
    }
    EXPECT_EQ(overlaps.load(), 0);
    ASSERT_EQ(order.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(order[i], i);
    EXPECT_EQ(nices.front(), base_nice);
    for (int i = 0; i < batch; ++i)
        EXPECT_EQ(nices[i], base_nice) << "piece " << i << " changed threads while queued";
    for (int i = batch; i < n; ++i)
        EXPECT_EQ(nices[i], background) << "piece " << i << " of a heavy user";
    std::promise<int> after;
    ux.post("a@x.test", [&] { after.set_value(nice_of_this_thread()); });
    EXPECT_EQ(wait_get(after.get_future()), background);
}

// However many users are heavy, they occupy only the background threads: with every one of
// those blocked by heavy users' work, a light user's work still runs at once (on the old
// single pool, two users' long commands on two threads held everybody else's).
TEST(UserExecutors, HeavyUsersCannotTakeTheNormalThreads) {
    user_executors ux({.threads = 2,
                       .background_nice = 10,
                       .heavy_cpu = std::chrono::milliseconds(10),
                       .heavy_for = std::chrono::minutes(10)});
    const std::vector<std::string> heavy_users{"h1@x.test", "h2@x.test", "h3@x.test"};
    for (const auto& h : heavy_users) {
        std::promise<void> burnt;
        ux.post(h, [&] {
            burn_cpu(std::chrono::milliseconds(12));
            burnt.set_value();
        });
        wait_get(burnt.get_future());
    }
    wait_idle(ux);
    for (const auto& h : heavy_users) ASSERT_TRUE(ux.heavy(h)) << h;
    std::promise<void> release_all;
    auto release = release_all.get_future().share();
    std::atomic<int> heavy_running{0};
    for (const auto& h : heavy_users)
        ux.post(h, [&] {
            ++heavy_running;
            release.wait(); // a long SELECT of a huge folder
        });
    // Both background threads are taken (the third heavy user waits for one of them).
    for (auto w = std::chrono::milliseconds(0); heavy_running.load() < 2 && w < patience;
         w += std::chrono::milliseconds(1))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(heavy_running.load(), 2);
    std::promise<void> b1, b2;
    ux.post("b@x.test", [&] { b1.set_value(); });
    ux.post("c@x.test", [&] { b2.set_value(); });
    EXPECT_EQ(b1.get_future().wait_for(patience), std::future_status::ready)
        << "a light user waited for heavy users' work";
    EXPECT_EQ(b2.get_future().wait_for(patience), std::future_status::ready);
    EXPECT_EQ(heavy_running.load(), 2) << "a third heavy user got a thread of its own";
    release_all.set_value();
    ux.join();
    EXPECT_EQ(heavy_running.load(), 3);
}

// LMTP: the link into a user's new/ runs on that user's strand. With one deliverer worker, a
// delivery to A whose link hangs would hold every later delivery on the old path; on the
// strands the delivery to B completes while A's is still hanging.
namespace {
std::atomic<bool> hold_a{false};
std::atomic<bool> a_in_link{false};
std::string a_dir;

int holding_link(int olddirfd, const char* oldname, int newdirfd, const char* newname) {
    char link[64], path[4096] = {};
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", newdirfd);
    auto n = ::readlink(link, path, sizeof path - 1);
    if (n > 0 && std::string(path, static_cast<std::size_t>(n)).starts_with(a_dir)) {
        a_in_link = true;
        while (hold_a) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return ::linkat(olddirfd, oldname, newdirfd, newname, 0);
}
} // namespace

TEST(UserExecutors, DeliveryToOneUserDoesNotWaitForAnothersStuckMailbox) {
    auto root = fs::temp_directory_path() / ("sm-userexec-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
    {
        splitmail::durable::committer committer;
        user_executors ux(2);
        maildir::deliverer d(root, committer, "h", 1); // one worker: the old path would queue
        d.set_user_executors(&ux);
        d.set_link_function(holding_link);
        a_dir = (root / "x.test" / "a").string();
        hold_a = true;
        struct unhold { // a failed ASSERT must not leave the deliverer's join hanging
            ~unhold() { hold_a = false; }
        } unhold_on_exit;
        auto stage = [&](const std::string& text) {
            auto m = d.stage();
            EXPECT_TRUE(m);
            EXPECT_FALSE((*m)->append(text));
            return *m;
        };
        std::promise<std::vector<maildir::delivered>> to_a, to_b;
        d.deliver_shared(stage("Subject: a\r\n\r\nfor a\r\n"), {"a@x.test"},
                         [&](std::vector<maildir::delivered> r) { to_a.set_value(std::move(r)); });
        auto fa = to_a.get_future();
        // A's delivery must be hanging in its link before B's is handed over: otherwise B may
        // simply finish first on a busy machine and the test proves nothing (or fails).
        for (auto waited = std::chrono::milliseconds(0); !a_in_link.load() && waited < patience;
             waited += std::chrono::milliseconds(5))
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ASSERT_TRUE(a_in_link.load()) << "A's delivery never reached its link";
        d.deliver_shared(stage("Subject: b\r\n\r\nfor b\r\n"), {"b@x.test"},
                         [&](std::vector<maildir::delivered> r) { to_b.set_value(std::move(r)); });
        auto fb = to_b.get_future();
        ASSERT_EQ(fb.wait_for(patience), std::future_status::ready)
            << "the delivery to B waited for A's stuck mailbox";
        auto rb = fb.get();
        ASSERT_EQ(rb.size(), 1u);
        EXPECT_FALSE(rb[0].ec);
        EXPECT_TRUE(fs::exists(rb[0].file));
        EXPECT_NE(fa.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
            << "A's delivery finished although its link was held";
        hold_a = false;
        ASSERT_EQ(fa.wait_for(patience), std::future_status::ready);
        auto ra = fa.get();
        ASSERT_EQ(ra.size(), 1u);
        EXPECT_FALSE(ra[0].ec);
        ux.join();
    }
    fs::remove_all(root);
}
