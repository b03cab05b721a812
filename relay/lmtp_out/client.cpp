// LMTP client to home; see client.hpp.
#include "lmtp_out/client.hpp"

#include "splitmail/smtp/dot_stuff.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace splitmail::relay {

namespace asio = net::asio;

lmtp_client::lmtp_client(std::unique_ptr<net::connection> c, net::clock::duration timeout)
    : conn_(std::move(c)), timeout_(timeout) {}

asio::awaitable<std::unique_ptr<lmtp_client>> lmtp_client::open(const lmtp_options& opt) {
    auto conn = co_await net::connect(opt.address, opt.connect_timeout);
    if (opt.mtls) {
        co_await conn->start_tls_client(opt.tls, "", opt.connect_timeout);
        auto got = conn->peer_cert_sha256();
        if (got != opt.pin_sha256)
            throw std::runtime_error("home's certificate " + (got.empty() ? "is missing" : got) +
                                     " does not match home.pin_sha256 " + opt.pin_sha256);
    }
    std::unique_ptr<lmtp_client> c(new lmtp_client(std::move(conn), opt.timeout));
    auto greeting = co_await c->read_reply();
    if (greeting.code != 220) throw std::runtime_error("home greeted with " + greeting.format());
    const std::string lhlo_line = "LHLO " + opt.lhlo_name + "\r\n";
    co_await c->conn_->write(lhlo_line, opt.timeout);
    auto lhlo = co_await c->read_reply();
    if (lhlo.code != 250) throw std::runtime_error("home refused LHLO: " + lhlo.format());
    for (std::size_t i = 1; i < lhlo.lines.size(); ++i) {
        auto word = lhlo.lines[i].substr(0, lhlo.lines[i].find(' '));
        std::ranges::transform(word, word.begin(),
                               [](unsigned char ch) { return std::toupper(ch); });
        c->extensions_.push_back(word);
    }
    if (!opt.secret.empty()) {
        co_await c->conn_->write("XSECRET " + opt.secret + "\r\n", opt.timeout);
        auto r = co_await c->read_reply();
        if (r.code != 235)
            throw std::runtime_error("home refused the pairing secret (home.lmtp_secret): " +
                                     std::to_string(r.code) + " " + r.text());
    }
    co_return c;
}

bool lmtp_client::has_extension(std::string_view keyword) const {
    return std::ranges::find(extensions_, keyword) != extensions_.end();
}

bool lmtp_client::reusable() const {
    return parser_.buffered() == 0 && !parser_.failed() && !conn_->peer_spoke_while_idle();
}

asio::awaitable<smtp::reply> lmtp_client::read_reply() {
    std::array<char, 16384> buf;
    for (;;) {
        auto r = parser_.next();
        if (r.st == smtp::reply_parser::status::reply) co_return std::move(r.value);
        if (r.st == smtp::reply_parser::status::error)
            throw std::runtime_error("malformed reply from home: " + r.error);
        auto n = co_await conn_->read_some(buf, timeout_);
        if (n == 0) throw std::runtime_error("home closed the connection");
        parser_.feed(std::string_view(buf.data(), n));
    }
}

asio::awaitable<smtp::reply> lmtp_client::command(std::string_view line) {
    std::string out(line);
    out += "\r\n";
    co_await conn_->write(out, timeout_);
    co_return co_await read_reply();
}

asio::awaitable<void> lmtp_client::quit() {
    try {
        co_await command("QUIT");
    } catch (const std::exception&) {
        // The transaction results are already known; a lost QUIT changes nothing.
    }
    conn_->close();
}

asio::awaitable<std::vector<smtp::reply>> lmtp_client::deliver(const lmtp_transaction& t) {
    // RFC 2920: MAIL, every RCPT and DATA go out in one write; the replies come in order.
    std::string head = "MAIL FROM:<" + t.sender + ">";
    if (t.eight_bit && has_extension("8BITMIME")) head += " BODY=8BITMIME";
    if (t.smtputf8 && has_extension("SMTPUTF8")) head += " SMTPUTF8";
    head += "\r\n";
    for (const auto& r : t.recipients) head += "RCPT TO:<" + r + ">\r\n";
    head += "DATA\r\n";
    co_await conn_->write(head, timeout_);

    std::vector<smtp::reply> result(t.recipients.size());
    auto mail = co_await read_reply();
    std::vector<bool> accepted(t.recipients.size(), false);
    std::size_t n_accepted = 0;
    for (std::size_t i = 0; i < t.recipients.size(); ++i) {
        auto r = co_await read_reply();
        if (mail.code / 100 != 2) {
            result[i] = mail; // a refused MAIL refuses every recipient with its reply
        } else if (r.code / 100 == 2) {
            accepted[i] = true;
            ++n_accepted;
        } else {
            result[i] = std::move(r);
        }
    }
    auto data = co_await read_reply();
    if (data.code != 354) {
        for (std::size_t i = 0; i < accepted.size(); ++i)
            if (accepted[i]) result[i] = data;
        if (mail.code / 100 == 2 && n_accepted > 0) co_await command("RSET");
        co_return result;
    }
    if (n_accepted == 0) {
        // RFC 2033 4.2: DATA must fail (503) when no recipient was accepted; a server that
        // says 354 anyway is out of step with us.
        throw std::runtime_error("home answered DATA with 354 although no recipient was accepted");
    }
    // The message in pieces (a read error throws before the terminator: home discards the
    // transaction when the connection drops).
    for (;;) {
        auto piece = co_await t.message->next();
        if (piece.empty()) break;
        co_await conn_->write(piece, timeout_);
    }
    for (std::size_t i = 0; i < accepted.size(); ++i)
        if (accepted[i]) result[i] = co_await read_reply();
    co_return result;
}

} // namespace splitmail::relay
