#pragma once
// Bridges callback-style completions (the durable committer, the spool) into Asio coroutines.
//
// await_callback(start) calls start(cb) and suspends the coroutine until cb(error_code) is
// called, from any thread; the coroutine resumes on its own executor. cb must be called exactly
// once. Does not: cancel the underlying operation.
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <memory>
#include <system_error>

namespace splitmail::net {

template <class Start>
boost::asio::awaitable<std::error_code> await_callback(Start start) {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    // The initiation is a named local that captures by reference (this frame stays suspended
    // until the completion): g++ 12 mishandles temporaries with non-trivial members inside a
    // co_await expression (double free).
    auto initiation = [&start, &ex](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto exec = ex;
        start(std::function<void(std::error_code)>([h, exec](std::error_code ec) {
            asio::post(exec, [h, ec]() mutable { std::move (*h)(ec); });
        }));
    };
    auto ec = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::error_code)>(
        initiation, asio::use_awaitable);
    co_return ec;
}

} // namespace splitmail::net
