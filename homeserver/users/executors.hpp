#pragma once
// Per-user execution (issue 12 item 4): one strand per user over a small thread pool. The
// mailbox work of a user (its IMAP sessions' commands, the Maildir links of LMTP deliveries to
// it) runs on that user's strand, so at most one pool thread works for a user at a time. One
// user's heavy command (a 25 MB FETCH, a cold SELECT of 100,000 messages, an fsync the disk
// holds up) occupies one thread and delays only that user's own later work; other users' work
// runs on the other threads, and the io thread (sockets, TLS, the user database, the login
// brake, the credential cache) never waits for a disk. Dovecot gets the same from a process
// per user.
//
// Heavy users yield the CPU. A piece of work that used at least `heavy_cpu` of CPU time (a
// SELECT that reads a 100,000-name directory, a SORT of a big folder, ...) marks its user
// heavy for `heavy_for`; while a user is heavy, its strand runs on a second set of threads
// `background_nice` (10) nice levels below the daemon's. However many users are heavy (say
// several running a SEARCH of the text of a huge folder at once), they occupy only the
// background threads: the normal ones stay free for everybody else. When the cores are busy,
// the others' short commands and deliveries also take the CPU first. A heavy user's work
// still runs whenever a core is free, so on an idle machine it is as fast as before.
// bench/imap (7) did not show a difference with one heavy user or five (2026-12-07: B..K
// wait for other things there; see its README): this guards the case it does not run. The
// threads' priority is set once when they start: an unprivileged process could lower a
// thread's nice value but not raise it back, so no thread changes its priority per piece.
//
// Guarantees: work posted for the same user name runs one piece at a time, in the order it
// was posted (a user moves between the two sets of threads only when nothing of it is queued
// or running); work for different users runs concurrently up to the number of threads. A
// strand exists only while work is queued or running for its user (memory follows the active
// users, not the user database; the heavy marks are dropped when they expire). run_as()
// resumes the awaiting coroutine on its own executor and passes an exception thrown by the
// work on to it.
// Does not: bound a user's queue (each caller awaits its work before posting more: one piece
// per IMAP connection and per LMTP delivery in flight, both bounded by connection limits);
// keep going when every thread is stuck in the kernel for as many different users (a dead
// disk stalls everyone, as it would any server); count time a piece waits for the disk as
// heavy (CPU time only); decide what is safe to run there (callers keep shared state - user
// database, brake, caches - on the io thread).
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace splitmail::home {

class user_executors {
public:
    struct options {
        std::size_t threads = 4;  // each set: normal and background
        int background_nice = 10; // the heavy users' threads: this many nice levels lower
        std::chrono::nanoseconds heavy_cpu = std::chrono::milliseconds(25);
        std::chrono::nanoseconds heavy_for = std::chrono::seconds(10);
    };
    explicit user_executors(std::size_t threads);
    explicit user_executors(const options& opt);
    ~user_executors(); // join()
    user_executors(const user_executors&) = delete;
    user_executors& operator=(const user_executors&) = delete;

    // Runs fn() on the strand of `user`.
    template <class F>
    void post(const std::string& user, F fn) {
        auto s = acquire(user);
        boost::asio::post(s, [this, user, fn = std::move(fn)]() mutable {
            struct done_guard {
                user_executors* self;
                const std::string& user;
                std::chrono::nanoseconds started = thread_cpu();
                ~done_guard() { self->release(user, thread_cpu() - started); }
            } guard{this, user};
            fn();
        });
    }

    // Runs fn() on a pool thread, ordered with nothing: work of a user that must not hold up
    // the user's strand (the fsync that makes a delivered link durable).
    template <class F>
    void post_unordered(F fn) {
        boost::asio::post(pool_, std::move(fn));
    }

    // Waits until every piece of work posted so far has run (stopping: call it after the io
    // loop ended and before anything the work uses goes away).
    void join() {
        // The background threads first: their work may still post to the normal pool (the
        // fsync after a delivery's link), never the other way round.
        background_.join();
        pool_.join();
    }

    // Users with work queued or running (tests).
    std::size_t active_users();
    // Whether work posted for `user` now would run on the background threads (tests, logs).
    bool heavy(const std::string& user);

    // CPU time the calling thread has used.
    static std::chrono::nanoseconds thread_cpu();

private:
    using strand_type = boost::asio::strand<boost::asio::thread_pool::executor_type>;
    struct entry {
        strand_type strand;
        std::size_t pending = 0;
    };
    strand_type acquire(const std::string& user);
    void release(const std::string& user, std::chrono::nanoseconds cpu);
    bool heavy_locked(const std::string& user, std::chrono::steady_clock::time_point now);

    options opt_;
    // Declared first: the strands below are destroyed before them.
    boost::asio::thread_pool pool_;
    boost::asio::thread_pool background_;
    std::mutex mu_;
    std::unordered_map<std::string, entry> strands_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> heavy_until_;
};

// Runs fn() on the strand of `user` and resumes the calling coroutine on its own executor
// with fn's result (or its exception).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_as(user_executors& ux, std::string user,
                                                        F fn) {
    namespace asio = boost::asio;
    using result_type = std::invoke_result_t<F&>;
    auto ex = co_await asio::this_coro::executor;
    std::optional<result_type> result;
    std::exception_ptr failure;
    // A named initiation capturing references (g++ 12 mishandles temporaries with non-trivial
    // members in a co_await expression, see lmtp/driver.hpp); this frame stays suspended
    // until the completion, which the pool thread posts after writing result/failure.
    auto initiation = [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        ux.post(user, [h, &fn, &result, &failure, ex]() {
            try {
                result.emplace(fn());
            } catch (...) {
                failure = std::current_exception();
            }
            asio::post(ex, [h]() mutable { std::move (*h)(); });
        });
    };
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(initiation,
                                                                         asio::use_awaitable);
    if (failure) std::rethrow_exception(failure);
    co_return std::move(*result);
}

} // namespace splitmail::home
