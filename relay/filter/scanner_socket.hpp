#pragma once
// A stream connection to a local content scanner (rspamd, clamd): TCP "host:port" or a unix
// socket path ("/run/clamav/clamd.ctl"), with ONE deadline for the whole exchange (Boost 1.81
// has no cancel_after: a watchdog timer closes the socket when the deadline passes, and the
// pending operation then fails with asio::error::timed_out).
// Errors are thrown as boost::system::system_error. Also here: sending a message file (our
// prefix lines, then the spool file read with pread in 64 KiB chunks; never a whole copy).
// Does not: retry, or know any protocol.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::relay::filter {

// The spool file of the message being received: read with pread, never moved.
struct message_file {
    int fd = -1;            // -1: no file (the sink failed)
    std::uint64_t size = 0; // octets written to it
};

class scanner_socket {
public:
    // Connects to `address` with `timeout` covering everything done on the socket after.
    static boost::asio::awaitable<std::unique_ptr<scanner_socket>>
    connect(const std::string& address, std::chrono::steady_clock::duration timeout);
    ~scanner_socket();
    scanner_socket(const scanner_socket&) = delete;
    scanner_socket& operator=(const scanner_socket&) = delete;

    boost::asio::awaitable<void> write(std::string_view data);
    boost::asio::awaitable<std::size_t> read_some(std::span<char> buf); // 0 at end of stream
    // Sends `file` in chunks of at most 64 KiB; each chunk goes through `frame` first (clamd
    // prefixes each with its length; rspamd sends it as is).
    boost::asio::awaitable<void> write_file(message_file file,
                                            const std::function<std::string(std::size_t)>& frame);

    struct state; // socket + watchdog, shared with the timer's handler

private:
    explicit scanner_socket(std::shared_ptr<state> s) : s_(std::move(s)) {}
    void rethrow_if_expired() const;
    std::shared_ptr<state> s_;
};

} // namespace splitmail::relay::filter
