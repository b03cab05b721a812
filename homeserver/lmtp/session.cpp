// LMTP session state machine; see session.hpp.
#include "lmtp/session.hpp"
#include "splitmail/sasl/plain.hpp"

#include <algorithm>
#include <utility>

#include "splitmail/smtp/base64.hpp"
#include "splitmail/users/password.hpp"

#include <cctype>

namespace splitmail::home::lmtp {

using smtp::make_reply;

namespace {

using smtp::decode_base64;

} // namespace

session::session(session_options opt, session_hooks hooks)
    : opt_(std::move(opt)), hooks_(std::move(hooks)), reader_(opt_.max_message_size) {}

std::string session::greeting() const {
    return make_reply(220, "", opt_.hostname + " LMTP splitmail ready").format();
}

void session::feed(std::string_view bytes) {
    if (state_ != state::closed) framer_.feed(bytes);
}

void session::reset_transaction() {
    mail_.reset();
    rcpts_.clear();
    rcpt_commands_ = 0;
    body_.clear();
    reader_.reset();
}

void session::error(std::string& out, const smtp::reply& r) {
    out += r.format();
    if (++errors_ >= opt_.max_errors) {
        out += make_reply(421, "4.7.0", opt_.hostname + " too many errors, closing").format();
        state_ = state::closed;
    }
}

session::step session::advance() {
    step s;
    s.output = std::move(pending_);
    pending_.clear();
    while (true) {
        if (state_ == state::closed) {
            s.close = true;
            return s;
        }
        if (state_ == state::delivering) return s;
        if (state_ == state::authenticating) {
            if (auth_) s.auth = std::exchange(auth_, std::nullopt);
            return s;
        }
        if (state_ == state::data) {
            if (framer_.buffered() == 0) return s;
            std::string chunk = framer_.take_buffered();
            auto r = reader_.feed(chunk, body_);
            // Hand the unstuffed bytes out now: the session holds at most one read's worth.
            s.body = std::move(body_);
            body_.clear();
            if (!r.done) return s;
            // What follows the terminator is the next command(s) (pipelining).
            framer_.feed(std::string_view(chunk).substr(r.consumed));
            if (auto job = finish_data(s.output))
                s.job = std::move(job);
            else
                s.discard = true;
            return s;
        }
        auto l = framer_.next();
        if (l.st == smtp::line_framer::status::need_more) return s;
        if (l.st == smtp::line_framer::status::too_long) {
            // RFC 5321 4.5.3.1.4: 1000 octets per command line.
            error(s.output, make_reply(500, "5.5.2", "Line too long"));
            continue;
        }
        handle_line(l.line, s.output);
        if (state_ == state::data) { // DATA accepted: the caller opens the message file
            s.begin = envelope();
            return s;
        }
    }
}

void session::handle_line(const std::string& line, std::string& out) {
    // A bare LF ending a command is tolerated (as the relay does); CR or NUL inside is not.
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string::npos) {
        error(out, make_reply(500, "5.5.2", "Invalid characters in command"));
        return;
    }
    auto cmd = smtp::parse_command(line);
    using smtp::verb;
    if (cmd.v == verb::unknown && cmd.name == "XSECRET") return do_xsecret(cmd.args, out);
    // contracts.md: with a pairing secret set, the relay proves itself (XSECRET) before any
    // command that reads the directory, checks a password or delivers. RFC 4954 6: 530 5.7.0.
    if (!opt_.relay_secret.empty() && !secret_ok_ &&
        (cmd.v == verb::mail || cmd.v == verb::rcpt || cmd.v == verb::data ||
         cmd.v == verb::xdirectory || (cmd.v == verb::unknown && cmd.name == "XAUTH")))
        return error(out, make_reply(530, "5.7.0", "Pairing secret required (XSECRET)"));
    switch (cmd.v) {
    case verb::lhlo: {
        if (cmd.args.empty()) {
            error(out, make_reply(501, "5.5.4", "LHLO needs your host name"));
            return;
        }
        reset_transaction(); // RFC 5321 4.1.4: EHLO (here LHLO) resets the transaction
        state_ = state::ready;
        out += make_reply(250, "",
                          std::vector<std::string>{opt_.hostname, "PIPELINING",
                                                   "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8",
                                                   "SIZE " + std::to_string(opt_.max_message_size),
                                                   "XDIRECTORY"})
                   .format();
        return;
    }
    case verb::helo:
    case verb::ehlo:
        // RFC 2033 4.1: HELO and EHLO are not LMTP; 500 is the recommended reply.
        error(out, make_reply(500, "5.5.1", "This is LMTP: say LHLO (RFC 2033)"));
        return;
    case verb::mail: do_mail(cmd.args, out); return;
    case verb::rcpt: do_rcpt(cmd.args, out); return;
    case verb::data: do_data(cmd.args, out); return;
    case verb::rset:
        reset_transaction();
        if (state_ == state::mail) state_ = state::ready;
        out += make_reply(250, "2.0.0", "Ok").format();
        return;
    case verb::noop: out += make_reply(250, "2.0.0", "Ok").format(); return;
    case verb::quit:
        out += make_reply(221, "2.0.0", opt_.hostname + " closing connection").format();
        state_ = state::closed;
        return;
    case verb::vrfy: out += make_reply(252, "2.5.0", "Send some mail and see").format(); return;
    case verb::help:
        out += make_reply(214, "2.0.0", "LMTP (RFC 2033): LHLO MAIL RCPT DATA RSET NOOP QUIT")
                   .format();
        return;
    case verb::xdirectory: {
        if (state_ == state::start) {
            error(out, make_reply(503, "5.5.1", "Say LHLO first"));
            return;
        }
        auto lines = hooks_.directory ? hooks_.directory() : std::vector<std::string>{};
        if (lines.empty()) {
            out += make_reply(454, "4.3.0", "Directory not available").format();
            return;
        }
        // contracts.md: plain lines, no enhanced status code, so the lines parse as data.
        out += make_reply(250, "", std::move(lines)).format();
        return;
    }
    case verb::unknown:
        if (cmd.name == "XAUTH") {
            do_xauth(cmd.args, out);
            return;
        }
        break;
    case verb::starttls:
    case verb::auth:
    case verb::bdat:
    case verb::expn: error(out, make_reply(502, "5.5.1", "Command not implemented")); return;
    }
    error(out, make_reply(500, "5.5.1", "Command not recognized"));
}

void session::do_xsecret(std::string_view args, std::string& out) {
    if (state_ == state::start) return error(out, make_reply(503, "5.5.1", "Say LHLO first"));
    if (opt_.relay_secret.empty()) { // nothing to prove: accepted, so a paired relay works
        secret_ok_ = true;
        out += make_reply(235, "2.7.0", "No pairing secret needed").format();
        return;
    }
    if (!users::constant_time_equal(args, opt_.relay_secret)) {
        // A wrong secret ends the connection: no guessing on one connection.
        out += make_reply(535, "5.7.8", "Pairing secret invalid").format();
        out += make_reply(421, "4.7.0", opt_.hostname + " closing connection").format();
        state_ = state::closed;
        return;
    }
    secret_ok_ = true;
    out += make_reply(235, "2.7.0", "Relay authenticated").format();
}

void session::do_xauth(std::string_view args, std::string& out) {
    if (state_ == state::start) return error(out, make_reply(503, "5.5.1", "Say LHLO first"));
    if (state_ != state::ready)
        return error(out, make_reply(503, "5.5.1", "XAUTH not allowed in a transaction"));
    if (!hooks_.authenticate && !opt_.defer_auth)
        return error(out, make_reply(502, "5.5.1", "Command not implemented"));
    // contracts.md: "XAUTH <base64> [CLIENT=<ip>]"; CLIENT is the submission client's address,
    // for the login brake (counted with IMAP failures of the same user and network).
    auth_client_.clear();
    if (auto sp = args.find(' '); sp != std::string_view::npos) {
        auto param = args.substr(sp + 1);
        args = args.substr(0, sp);
        while (!param.empty() && param.front() == ' ') param.remove_prefix(1);
        if (param.size() < 7 || param.size() > 7 + 64 ||
            !std::equal(
                param.begin(), param.begin() + 7, "CLIENT=",
                [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; }) ||
            param.substr(7).find_first_not_of("0123456789abcdefABCDEF.:") != std::string_view::npos)
            return error(out, make_reply(501, "5.5.4", "XAUTH parameter must be CLIENT=<ip>"));
        auth_client_ = std::string(param.substr(7));
    }
    // common/sasl: one decoder for every login path; the decoded buffer is wiped.
    auto cred = sasl::decode_user_password(args);
    if (!cred) return error(out, make_reply(501, "5.5.2", "XAUTH needs base64(user NUL password)"));
    if (opt_.defer_auth) {
        auth_.emplace(std::move(cred->authcid), std::string(cred->password.view()));
        state_ = state::authenticating;
        return;
    }
    auto r = hooks_.authenticate(cred->authcid, cred->password.view());
    out += r.format();
}

void session::do_mail(std::string_view args, std::string& out) {
    if (state_ == state::start) return error(out, make_reply(503, "5.5.1", "Say LHLO first"));
    if (state_ == state::mail) return error(out, make_reply(503, "5.5.1", "Nested MAIL command"));
    auto mf = smtp::parse_mail_from(args);
    if (!mf) return error(out, mf.error());
    if (mf->utf8_address && !mf->smtputf8)
        return error(out, make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
    if (mf->size && *mf->size > opt_.max_message_size) // RFC 1870 6.1
        return error(out, make_reply(552, "5.3.4", "Message size exceeds fixed limit"));
    reset_transaction();
    mail_ = std::move(mf.value());
    state_ = state::mail;
    out += make_reply(250, "2.1.0", "Ok").format();
}

void session::do_rcpt(std::string_view args, std::string& out) {
    if (state_ != state::mail) return error(out, make_reply(503, "5.5.1", "Need MAIL first"));
    auto rt = smtp::parse_rcpt_to(args);
    if (!rt) return error(out, rt.error());
    if (rt->utf8_address && !mail_->smtputf8)
        return error(out, make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
    if (rcpts_.size() >= opt_.max_recipients) // RFC 5321 4.5.3.1.10
        return error(out, make_reply(452, "4.5.3", "Too many recipients"));
    ++rcpt_commands_;
    rcpt_verdict v;
    if (hooks_.resolve)
        v = hooks_.resolve(rt.value());
    else
        v.refusal = make_reply(451, "4.3.0", "No user database");
    if (v.refusal.code != 0) {
        // Refused recipients are normal traffic, not protocol errors: not counted.
        out += v.refusal.format();
        return;
    }
    rcpts_.push_back(accepted_rcpt{rt->recipient.canonical(), std::move(v.users)});
    out += make_reply(250, "2.1.5", "Ok").format();
}

void session::do_data(std::string_view args, std::string& out) {
    if (!args.empty()) return error(out, make_reply(501, "5.5.4", "DATA takes no arguments"));
    if (state_ != state::mail) return error(out, make_reply(503, "5.5.1", "Need MAIL first"));
    // RFC 2033 4.2: no successful RCPT -> DATA fails with 503.
    if (rcpts_.empty()) return error(out, make_reply(503, "5.5.1", "No valid recipients"));
    body_.clear();
    reader_.reset();
    state_ = state::data;
    out += make_reply(354, "", "End data with <CR><LF>.<CR><LF>").format();
}

std::optional<delivery_job> session::finish_data(std::string& out) {
    auto err = reader_.err();
    if (err != smtp::data_reader::error::none) {
        smtp::reply r =
            err == smtp::data_reader::error::too_big
                ? make_reply(552, "5.3.4", "Message size exceeds fixed limit")
                // SMTP smuggling (CVE-2023-51764): refuse, never guess where the message ends.
                : make_reply(550, "5.5.2", "Bare CR or LF in message; use CRLF");
        // RFC 2033 4.2: one reply per accepted recipient, even for a refusal.
        for (std::size_t i = 0; i < rcpts_.size(); ++i) out += r.format();
        reset_transaction();
        state_ = state::ready;
        return std::nullopt;
    }
    delivery_job job = envelope();
    reset_transaction();
    state_ = state::delivering;
    expected_replies_ = job.rcpts.size();
    return job;
}

delivery_job session::envelope() const {
    delivery_job job;
    job.sender = mail_->null_sender ? "" : mail_->sender.to_string();
    job.rcpts = rcpts_;
    return job;
}

void session::authenticated(const smtp::reply& r) {
    if (state_ != state::authenticating) return;
    pending_ += r.format();
    state_ = state::ready;
}

void session::delivered(const std::vector<smtp::reply>& per_rcpt) {
    if (state_ != state::delivering) return;
    for (std::size_t i = 0; i < expected_replies_; ++i) {
        // A missing result would break RFC 2033 4.2's one-reply-per-recipient: say 451.
        if (i < per_rcpt.size())
            pending_ += per_rcpt[i].format();
        else
            pending_ += make_reply(451, "4.3.0", "Local error in delivery").format();
    }
    expected_replies_ = 0;
    state_ = state::ready;
}

} // namespace splitmail::home::lmtp
