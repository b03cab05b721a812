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
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::error_code)>(
        [ex, start = std::move(start)](auto handler) mutable {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            start(std::function<void(std::error_code)>([h, ex](std::error_code ec) {
                asio::post(ex, [h, ec]() mutable { std::move(*h)(ec); });
            }));
        },
        asio::use_awaitable);
}

} // namespace splitmail::net
