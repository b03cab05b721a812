// Outbound SMTP client; see client.hpp.
#include "smtp_out/client.hpp"

#include "splitmail/smtp/dot_stuff.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace splitmail::relay {

namespace asio = net::asio;

peer_caps parse_ehlo(const smtp::reply& ehlo) {
    peer_caps c;
    c.esmtp = true;
    // RFC 5321 4.1.1.1: the first line is the server's name; each later line is one
    // ehlo-keyword followed by its parameters, separated by spaces.
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        std::string_view line = ehlo.lines[i];
        auto sp = line.find(' ');
        std::string word(line.substr(0, sp));
        std::string_view args = sp == std::string_view::npos ? "" : line.substr(sp + 1);
        std::ranges::transform(word, word.begin(), [](unsigned char ch) {
            return static_cast<char>(std::toupper(ch));
        });
        if (word == "PIPELINING")
            c.pipelining = true;
        else if (word == "STARTTLS")
            c.starttls = true;
        else if (word == "8BITMIME")
            c.eight_bit_mime = true;
        else if (word == "SMTPUTF8")
            c.smtputf8 = true;
        else if (word == "DSN")
            c.dsn = true;
        else if (word == "ENHANCEDSTATUSCODES")
            c.enhanced_codes = true;
        else if (word == "SIZE") {
            // RFC 1870 4: "SIZE" [SP number]; 0 or no number means no fixed limit.
            c.size = true;
            while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
            std::uint64_t n = 0;
            auto end = args.data() + args.size();
            auto [p, ec] = std::from_chars(args.data(), end, n);
            c.max_size = (ec == std::errc() && (p == end || *p == ' ')) ? n : 0;
        }
    }
    return c;
}

smtp_client::smtp_client(std::unique_ptr<net::connection> c, const smtp_client_options& opt)
    : conn_(std::move(c)), opt_(opt) {}

asio::awaitable<smtp::reply> smtp_client::read_reply(net::clock::duration timeout) {
    std::array<char, 8192> buf;
    for (;;) {
        auto r = parser_.next();
        if (r.st == smtp::reply_parser::status::reply) co_return std::move(r.value);
        if (r.st == smtp::reply_parser::status::error)
            throw smtp_failure("reply", std::nullopt, "malformed reply: " + r.error);
        auto n = co_await conn_->read_some(buf, timeout);
        if (n == 0) throw smtp_failure("reply", std::nullopt, "connection closed by the peer");
        parser_.feed(std::string_view(buf.data(), n));
    }
}

asio::awaitable<smtp::reply> smtp_client::command(std::string_view line,
                                                  net::clock::duration timeout) {
    std::string out(line);
    out += "\r\n";
    co_await conn_->write(out, opt_.timeouts.command);
    co_return co_await read_reply(timeout);
}

asio::awaitable<void> smtp_client::hello() {
    std::string ehlo = "EHLO " + opt_.helo_name;
    auto r = co_await command(ehlo, opt_.timeouts.command);
    if (r.code == 250) {
        caps_ = parse_ehlo(r);
        co_return;
    }
    if (r.code / 100 == 5 && r.code != 554) {
        // RFC 5321 3.2: a server that does not know EHLO; fall back to HELO.
        std::string helo = "HELO " + opt_.helo_name;
        auto h = co_await command(helo, opt_.timeouts.command);
        if (h.code != 250) throw smtp_failure("HELO", h, "HELO refused: " + h.format());
        caps_ = peer_caps{};
        co_return;
    }
    throw smtp_failure("EHLO", r, "EHLO refused: " + r.format());
}

asio::awaitable<std::unique_ptr<smtp_client>>
smtp_client::open(std::unique_ptr<net::connection> conn, const smtp_client_options& opt) {
    std::unique_ptr<smtp_client> c(new smtp_client(std::move(conn), opt));
    c->greeting_ = co_await c->read_reply(opt.timeouts.greeting);
    if (c->greeting_.code != 220)
        // RFC 5321 3.1: a 554 (or 4xx) greeting: this host will not take mail now.
        throw smtp_failure("greeting", c->greeting_, "greeting: " + c->greeting_.format());
    co_await c->hello();
    if (c->caps_.starttls && opt.tls) {
        auto r = co_await c->command("STARTTLS", opt.timeouts.command);
        if (r.code == 220) {
            // RFC 3207 4.2 / CVE-2011-0411 (client side): nothing read before the handshake
            // may be taken as a reply after it.
            c->parser_ = smtp::reply_parser();
            try {
                co_await c->conn_->start_tls_client(opt.tls, opt.sni, opt.timeouts.tls);
            } catch (const std::exception& e) {
                smtp_failure f("STARTTLS", std::nullopt,
                               std::string("TLS handshake failed: ") + net::error_text(e));
                f.tls_failed = true;
                throw f;
            }
            co_await c->hello();
        } else if (r.code == 421) {
            throw smtp_failure("STARTTLS", r, "STARTTLS: " + r.format());
        }
        // Any other refusal: opportunistic TLS goes on in plaintext (RFC 3207 4.1 leaves the
        // decision to the client; DANE/MTA-STS policies will make it mandatory per domain).
    }
    co_return c;
}

std::string smtp_client::mail_line(const outbound_transaction& t) const {
    std::string s = "MAIL FROM:<" + t.sender + ">";
    if (caps_.size) s += " SIZE=" + std::to_string(t.message->size());
    // RFC 6152 3: BODY=8BITMIME only to a server that offers it. A peer without 8BITMIME
    // gets the 8-bit body as it is (what Postfix does; conversion to 7 bit is not done).
    if (t.body == queue::body_type::eight_bit_mime && caps_.eight_bit_mime) s += " BODY=8BITMIME";
    if (t.smtputf8 && caps_.smtputf8) s += " SMTPUTF8";
    if (caps_.dsn) {
        // RFC 3461 4.3, 4.4: pass RET and ENVID on to a DSN-capable relay.
        if (t.ret == queue::ret_type::full) s += " RET=FULL";
        if (t.ret == queue::ret_type::hdrs) s += " RET=HDRS";
        if (!t.envid.empty()) s += " ENVID=" + t.envid;
    }
    return s;
}

std::string smtp_client::rcpt_line(const outbound_rcpt& r) const {
    std::string s = "RCPT TO:<" + r.address + ">";
    if (caps_.dsn) {
        if (r.notify.given) s += " NOTIFY=" + queue::to_string(r.notify);
        if (!r.orcpt.empty()) s += " ORCPT=" + r.orcpt;
    }
    return s;
}

asio::awaitable<std::vector<smtp::reply>> smtp_client::send(const outbound_transaction& t) {
    const auto& to = opt_.timeouts;
    const std::size_t n = t.recipients.size();
    std::vector<smtp::reply> result(n);
    std::vector<bool> accepted(n, false);
    std::size_t n_accepted = 0;
    smtp::reply mail, data;
    if (caps_.pipelining) {
        // RFC 2920 3.1: MAIL, RCPT... and DATA may go together; DATA is the last in the group.
        std::string group = mail_line(t) + "\r\n";
        for (const auto& r : t.recipients) group += rcpt_line(r) + "\r\n";
        group += "DATA\r\n";
        co_await conn_->write(group, to.command);
        mail = co_await read_reply(to.command);
        for (std::size_t i = 0; i < n; ++i) {
            auto r = co_await read_reply(to.command);
            if (!mail.positive())
                result[i] = mail;
            else if (r.code / 100 == 2)
                accepted[i] = true, ++n_accepted;
            else
                result[i] = std::move(r);
        }
        data = co_await read_reply(to.data_init);
    } else {
        const std::string mail_cmd = mail_line(t);
        mail = co_await command(mail_cmd, to.command);
        if (!mail.positive()) {
            for (auto& r : result) r = mail;
            co_return result;
        }
        for (std::size_t i = 0; i < n; ++i) {
            const std::string rcpt_cmd = rcpt_line(t.recipients[i]);
            auto r = co_await command(rcpt_cmd, to.command);
            if (r.code / 100 == 2)
                accepted[i] = true, ++n_accepted;
            else
                result[i] = std::move(r);
        }
        if (n_accepted == 0) co_return result;
        data = co_await command("DATA", to.data_init);
    }
    if (data.code != 354) {
        for (std::size_t i = 0; i < n; ++i)
            if (accepted[i]) result[i] = data;
        co_return result;
    }
    if (n_accepted == 0) {
        // RFC 2920 3.1: a server that accepts DATA after refusing every recipient gets an
        // empty message terminator; its answer changes nothing.
        co_await conn_->write(".\r\n", to.data_block);
        co_await read_reply(to.data_end);
        co_return result;
    }
    // RFC 5321 4.5.3.2.5: each data block gets its own timeout (a piece is at most
    // message_stream::chunk_size plus its stuffing).
    for (;;) {
        auto piece = co_await t.message->next();
        if (piece.empty()) break;
        co_await conn_->write(piece, to.data_block);
    }
    auto final_reply = co_await read_reply(to.data_end);
    for (std::size_t i = 0; i < n; ++i)
        if (accepted[i]) result[i] = final_reply;
    co_return result;
}

asio::awaitable<bool> smtp_client::reset() {
    try {
        auto r = co_await command("RSET", opt_.timeouts.command);
        co_return r.code == 250;
    } catch (const std::exception&) {
        co_return false;
    }
}

asio::awaitable<void> smtp_client::quit() {
    try {
        co_await command("QUIT", std::chrono::seconds(10));
    } catch (const std::exception&) {
        // Results are known; a lost QUIT changes nothing.
    }
    conn_->close();
}

} // namespace splitmail::relay
