#pragma once
// What the inbound SMTP driver (smtp_in/driver.hpp) needs from its connection, as an interface,
// so that the driver runs unchanged over a real socket (connection_stream, used by the
// listeners) and over a scripted in-memory stream in the tests (tests/unit/relay/smtp_in:
// every read, write and TLS handshake can be made to fail, one step at a time).
//
// The contract is net::connection's (net/connection.hpp): every operation has a deadline and
// fails with asio::error::timed_out when it passes; errors are thrown as
// boost::system::system_error; read_some returns 0 at end of stream; start_tls_server upgrades
// the stream once. progressed/authenticated/overloaded talk to the listener's admission.
// Cost: one virtual call per operation (a read is up to 16 KiB); connection_stream forwards
// the awaitable of net::connection without a coroutine frame of its own.
// Does not: frame lines, buffer, or know SMTP.
#include "splitmail/net/connection.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::relay {

class smtp_stream {
public:
    virtual ~smtp_stream() = default;

    virtual net::asio::awaitable<std::size_t> read_some(std::span<char> buf,
                                                        net::clock::duration timeout) = 0;
    // `data` must stay valid until the returned awaitable completes.
    virtual net::asio::awaitable<void> write(std::string_view data,
                                             net::clock::duration timeout) = 0;
    virtual net::asio::awaitable<void>
    start_tls_server(std::shared_ptr<net::asio::ssl::context> ctx,
                     net::clock::duration timeout) = 0;

    virtual bool is_tls() const = 0;
    virtual std::string tls_version() const = 0;
    virtual std::string tls_cipher() const = 0;
    virtual std::string remote_ip() const = 0;
    virtual net::clock::time_point accepted_at() const = 0;
    virtual void progressed() = 0;
    virtual void authenticated() = 0;
    virtual bool overloaded() const = 0;
};

// The production stream: a net::connection accepted by a listener.
class connection_stream final : public smtp_stream {
public:
    explicit connection_stream(net::connection& c) : c_(c) {}

    net::asio::awaitable<std::size_t> read_some(std::span<char> buf,
                                                net::clock::duration timeout) override {
        return c_.read_some(buf, timeout);
    }
    net::asio::awaitable<void> write(std::string_view data, net::clock::duration timeout) override {
        return c_.write(data, timeout);
    }
    net::asio::awaitable<void> start_tls_server(std::shared_ptr<net::asio::ssl::context> ctx,
                                                net::clock::duration timeout) override {
        return c_.start_tls_server(std::move(ctx), timeout);
    }

    bool is_tls() const override { return c_.is_tls(); }
    std::string tls_version() const override { return c_.tls_version(); }
    std::string tls_cipher() const override { return c_.tls_cipher(); }
    std::string remote_ip() const override { return c_.remote_ip(); }
    net::clock::time_point accepted_at() const override { return c_.accepted_at(); }
    void progressed() override { c_.progressed(); }
    void authenticated() override { c_.authenticated(); }
    bool overloaded() const override { return c_.overloaded(); }

private:
    net::connection& c_;
};

} // namespace splitmail::relay
