#pragma once
// An in-memory smtp_stream for driver tests (the idea of Boost.Beast's test::stream with its
// fail_count): the client's bytes are a script of chunks, one chunk (or the part that fits the
// driver's buffer) per read_some; what the driver writes is recorded. Every operation (read,
// write, TLS handshake) is numbered from 0; the operation numbered `fail_at` fails:
//   read  -> end of stream (the client hangs up) or a connection reset, as `read_failure` says;
//   write -> broken pipe (nothing of that write reaches the client);
//   TLS   -> a handshake error.
// After the script is exhausted reads return end of stream (the client closed). Operations
// complete through a post, so other work on the io_context (spool completions) interleaves
// as it would with a socket. Nothing waits, except a read at or after `stall_from` (a client
// gone silent): it waits out its deadline and fails with timed_out, as net::connection does.
#include "smtp_in/stream.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace splitmail::test {

class scripted_stream final : public relay::smtp_stream {
public:
    enum class op { read, write, tls };
    enum class read_failure { eof, reset };

    explicit scripted_stream(std::vector<std::string> script) : script_(std::move(script)) {}

    std::size_t fail_at = std::numeric_limits<std::size_t>::max();
    read_failure on_read = read_failure::eof;
    std::size_t stall_from = std::numeric_limits<std::size_t>::max();

    std::vector<op> ops;   // every operation attempted, in order
    bool failed = false;   // the failure was injected
    std::string written;   // what the client received
    std::string attempted; // every write the driver made, the failed one included
    bool saw_progress = false, saw_auth = false;

    net::asio::awaitable<std::size_t> read_some(std::span<char> buf,
                                                net::clock::duration timeout) override {
        co_await yield();
        if (ops.size() >= stall_from) {
            ops.push_back(op::read);
            net::asio::steady_timer t(co_await net::asio::this_coro::executor, timeout);
            co_await t.async_wait(net::asio::use_awaitable);
            throw boost::system::system_error(net::asio::error::timed_out);
        }
        if (inject(op::read)) {
            if (on_read == read_failure::eof) co_return 0;
            throw boost::system::system_error(net::asio::error::connection_reset);
        }
        if (next_ == script_.size()) co_return 0;
        const std::string& chunk = script_[next_];
        std::size_t n = std::min(buf.size(), chunk.size() - offset_);
        std::memcpy(buf.data(), chunk.data() + offset_, n);
        offset_ += n;
        if (offset_ == chunk.size()) {
            ++next_;
            offset_ = 0;
        }
        co_return n;
    }

    net::asio::awaitable<void> write(std::string_view data, net::clock::duration) override {
        co_await yield();
        attempted += data;
        if (inject(op::write)) throw boost::system::system_error(net::asio::error::broken_pipe);
        written += data;
    }

    net::asio::awaitable<void> start_tls_server(std::shared_ptr<net::asio::ssl::context>,
                                                net::clock::duration) override {
        co_await yield();
        if (inject(op::tls))
            throw boost::system::system_error(net::asio::ssl::error::stream_truncated);
        tls_ = true;
    }

    bool is_tls() const override { return tls_; }
    std::string tls_version() const override { return tls_ ? "TLSv1.3" : ""; }
    std::string tls_cipher() const override { return tls_ ? "TLS_AES_128_GCM_SHA256" : ""; }
    std::string remote_ip() const override { return "192.0.2.7"; }
    net::clock::time_point accepted_at() const override { return accepted_at_; }
    void progressed() override { saw_progress = true; }
    void authenticated() override { saw_auth = true; }
    bool overloaded() const override { return false; }

private:
    static net::asio::awaitable<void> yield() {
        co_await net::asio::post(co_await net::asio::this_coro::executor, net::asio::use_awaitable);
    }
    bool inject(op o) {
        ops.push_back(o);
        if (ops.size() - 1 != fail_at) return false;
        failed = true;
        return true;
    }

    std::vector<std::string> script_;
    std::size_t next_ = 0, offset_ = 0;
    bool tls_ = false;
    net::clock::time_point accepted_at_ = net::clock::now();
};

} // namespace splitmail::test
