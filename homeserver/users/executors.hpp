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
// Guarantees: work posted for the same user name runs one piece at a time, in the order it
// was posted; work for different users runs concurrently up to the number of threads. A
// strand exists only while work is queued or running for its user (memory follows the active
// users, not the user database). run_as() resumes the awaiting coroutine on its own executor
// and passes an exception thrown by the work on to it.
// Does not: bound a user's queue (each caller awaits its work before posting more: one piece
// per IMAP connection and per LMTP delivery in flight, both bounded by connection limits);
// keep going when every thread is stuck in the kernel for as many different users (a dead
// disk stalls everyone, as it would any server); decide what is safe to run there (callers
// keep shared state - user database, brake, caches - on the io thread).
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

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
    explicit user_executors(std::size_t threads);
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
                ~done_guard() { self->release(user); }
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
    void join() { pool_.join(); }

    // Users with work queued or running (tests).
    std::size_t active_users();

private:
    using strand_type = boost::asio::strand<boost::asio::thread_pool::executor_type>;
    struct entry {
        strand_type strand;
        std::size_t pending = 0;
    };
    strand_type acquire(const std::string& user);
    void release(const std::string& user);

    boost::asio::thread_pool pool_; // declared first: the strands below are destroyed before it
    std::mutex mu_;
    std::unordered_map<std::string, entry> strands_;
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
