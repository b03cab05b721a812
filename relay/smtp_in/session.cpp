// Inbound SMTP session state machine: see session.hpp.
#include "smtp_in/session.hpp"
#include "submission/author.hpp"
#include "splitmail/smtp/date.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace splitmail::relay {
namespace {

constexpr std::size_t max_pending_input = 64 * 1024;

using smtp::make_reply;
using smtp::reply;
using smtp::verb;

// The command table (Postfix smtpd.c SMTPD_CMD style).
//   pre_tls: allowed before STARTTLS when TLS is required (RFC 3207 4);
//   sync:    the client must wait for our reply before sending more (RFC 2920 3.1: EHLO, DATA
//            end a pipeline group; HELO, AUTH and STARTTLS likewise, as in Postfix).
struct command_flags {
    verb v;
    bool pre_tls;
    bool sync;
};
constexpr std::array<command_flags, 17> command_table{{
    {verb::helo, true, true},
    {verb::ehlo, true, true},
    {verb::lhlo, true, false},
    {verb::mail, false, false},
    {verb::rcpt, false, false},
    {verb::data, false, true},
    {verb::bdat, false, false},
    {verb::rset, true, false},
    {verb::noop, true, false},
    {verb::quit, true, false},
    {verb::help, true, false},
    {verb::vrfy, false, false},
    {verb::expn, false, false},
    {verb::starttls, true, true},
    {verb::auth, false, true},
    {verb::xdirectory, false, false},
    {verb::unknown, true, false},
}};

const command_flags& flags_of(verb v) {
    for (const auto& f : command_table)
        if (f.v == v) return f;
    return command_table.back();
}

bool has_control(std::string_view s) {
    for (unsigned char c : s)
        if (c < 32 || c == 127) return true;
    return false;
}

queue::dsn_notify to_notify(unsigned n) {
    queue::dsn_notify out;
    if (n == 0) return out;
    out.given = true;
    out.success = (n & smtp::notify::success) != 0;
    out.failure = (n & smtp::notify::failure) != 0;
    out.delay = (n & smtp::notify::delay) != 0;
    return out;
}

} // namespace

smtp_session::smtp_session(session_config cfg, recipient_checker& checker, peer_info peer,
                           message_sink& sink)
    : cfg_(std::move(cfg)), checker_(checker), peer_(std::move(peer)), framer_(cfg_.max_line),
      reader_(cfg_.max_message_size), sink_(sink) {
    if (!cfg_.clock) cfg_.clock = [] { return std::chrono::system_clock::now(); };
}

void smtp_session::send(std::vector<action>& out, reply r) {
    action a;
    a.type = action::kind::send;
    a.reply = std::move(r);
    out.push_back(std::move(a));
}

void smtp_session::close(std::vector<action>& out) {
    action a;
    a.type = action::kind::close;
    out.push_back(std::move(a));
    state_ = state::closed;
    framer_.discard_buffered();
    abort_data(); // a close mid-DATA (timeout, shutdown) abandons the message
}

void smtp_session::bad(std::vector<action>& out, reply r) {
    send(out, std::move(r));
    if (++bad_commands_ >= cfg_.max_bad_commands) {
        send(out, make_reply(421, "4.7.0", cfg_.hostname + " Error: too many errors"));
        close(out);
    }
}

bool smtp_session::junk(std::vector<action>& out) {
    // Postfix smtpd_junk_command_limit: a client that only chats (NOOP/RSET/VRFY loops) holds a
    // connection slot forever without the error counter ever moving.
    if (++junk_commands_ <= cfg_.max_junk_commands || cfg_.relay_allowed) return false;
    send(out, make_reply(421, "4.7.0",
                         cfg_.hostname + " Error: too many commands without a "
                                         "message, closing connection"));
    close(out);
    return true;
}

void smtp_session::refuse_rcpt(std::vector<action>& out, reply r) {
    if (cfg_.relay_allowed) { // the home server: never slowed
        send(out, std::move(r));
        return;
    }
    ++rcpt_errors_;
    if (cfg_.network && auth_user_.empty()) cfg_.network->refused();
    if (rcpt_errors_ > cfg_.rcpt_errors_before_delay && cfg_.rcpt_error_delay.count() > 0) {
        // Postfix smtpd_soft_error_limit / smtpd_error_sleep_time: a harvester pays in time,
        // a sender with a typo or two never does.
        action a;
        a.type = action::kind::delay;
        a.delay = cfg_.rcpt_error_delay;
        out.push_back(std::move(a));
    }
    send(out, std::move(r));
    if (rcpt_errors_ >= cfg_.max_rcpt_errors) {
        // Postfix smtpd_hard_error_limit; RFC 5321 3.8: 421 and close.
        send(out, make_reply(421, "4.7.0",
                             cfg_.hostname + " Error: too many refused "
                                             "recipients, closing connection"));
        close(out);
    }
}

std::optional<reply> smtp_session::policy_rcpt(const smtp::rcpt_to& rt) {
    if (!cfg_.policy || cfg_.relay_allowed) return std::nullopt;
    const std::string sender = mail_->null_sender ? std::string() : mail_->sender.to_string();
    return cfg_.policy->rcpt(auth_user_, sender, rt.recipient.to_string());
}

void smtp_session::reset_transaction() {
    mail_.reset();
    rcpts_.clear();
    routes_.clear();
    abort_data();
    reader_ = smtp::data_reader(cfg_.max_message_size);
}

void smtp_session::abort_data() {
    if (sink_open_) sink_.abort();
    sink_open_ = false;
    std::string().swap(header_); // up to max_header_size: do not keep it between messages
    header_done_ = false;
    header_too_big_ = false;
    size_ = 0;
}

void smtp_session::data_octets(std::string_view s) {
    if (s.empty() || header_too_big_) return;
    if (header_done_) {
        size_ += s.size();
        sink_.body(s);
        return;
    }
    // Still in the header block: keep it (up to the cap) and look for the empty line that ends
    // it, from 3 octets before the new ones so a CRLF CRLF split across feeds is found; each
    // octet is scanned a bounded number of times however the input is chunked.
    const std::size_t from = header_.size() >= 3 ? header_.size() - 3 : 0;
    const std::size_t take =
        std::min<std::uint64_t>(s.size(), cfg_.max_header_size - header_.size());
    header_.append(s.substr(0, take));
    std::size_t end = std::string::npos;
    if (header_.starts_with("\r\n"))
        end = 2; // no header fields at all: the message starts with the empty line
    else if (auto p = header_.find("\r\n\r\n", from); p != std::string::npos)
        end = p + 4;
    if (end == std::string::npos) {
        if (take < s.size()) {
            // Over the cap without the end of the header block: refuse at end of data.
            header_too_big_ = true;
            std::string().swap(header_);
        }
        return;
    }
    header_done_ = true;
    const std::string_view block(header_.data(), end);
    size_ += block.size();
    sink_.header(block);
    const std::string_view tail = std::string_view(header_).substr(end);
    if (!tail.empty()) {
        size_ += tail.size();
        sink_.body(tail);
    }
    header_.resize(end);
    data_octets(s.substr(take));
}

std::vector<action> smtp_session::greet() {
    std::vector<action> out;
    // RFC 2034 3: no enhanced code in the greeting.
    send(out, make_reply(220, "", cfg_.hostname + " ESMTP"));
    return out;
}

std::vector<action> smtp_session::feed(std::string_view bytes) {
    std::vector<action> out;
    switch (state_) {
    case state::closed: return out;
    case state::wait_tls:
        // RFC 3207 4.2 / CVE-2011-0411: nothing sent before the handshake may count after it.
        return out;
    case state::wait_auth:
    case state::wait_delivery:
        // Answered after delivery_result(). A client must wait for the DATA reply (RFC 2920
        // 3.1), so a little pipelined input is all we keep; a flood is not buffered.
        if (framer_.buffered() + bytes.size() <= max_pending_input) framer_.feed(bytes);
        return out;
    default:
        // In DATA, octets go from the caller's buffer to the reader without a copy into the
        // framer: a streaming connection holds its read buffer and one unstuffed chunk, no more.
        if (state_ == state::data && framer_.buffered() == 0) {
            if (!data_input(bytes, out)) return out;
        } else {
            framer_.feed(bytes);
        }
        run(out);
        return out;
    }
}

bool smtp_session::data_input(std::string_view bytes, std::vector<action>& out) {
    scratch_.clear();
    scratch_.reserve(bytes.size()); // unstuffing only removes octets: one allocation at most
    auto r = reader_.feed(bytes, scratch_);
    data_octets(scratch_);
    if (scratch_.capacity() > max_pending_input)
        std::string().swap(scratch_);
    else
        scratch_.clear();
    if (!r.done) return false;
    framer_.feed(bytes.substr(r.consumed));
    on_data_done(out);
    return true;
}

std::vector<action> smtp_session::tls_started(tls_info info) {
    std::vector<action> out;
    if (state_ != state::wait_tls) return out;
    tls_ = std::move(info);
    // RFC 3207 4.2: discard all knowledge obtained from the client; it must EHLO again.
    auth_user_.clear();
    auth_addresses_.clear();
    helo_.clear();
    esmtp_ = false;
    reset_transaction();
    framer_.discard_buffered();
    state_ = state::init;
    return out;
}

std::vector<action> smtp_session::delivery_result(reply r) {
    std::vector<action> out;
    if (state_ != state::wait_delivery) return out;
    if (r.positive()) junk_commands_ = 0; // progress: a message was accepted
    send(out, std::move(r));
    reset_transaction();
    state_ = state::ready;
    run(out); // commands the client pipelined after end-of-data
    return out;
}

std::vector<action> smtp_session::auth_result(auth_outcome r) {
    std::vector<action> out;
    if (state_ != state::wait_auth) return out;
    state_ = state::ready;
    switch (r.st) {
    case auth_outcome::status::ok:
        auth_user_ = std::move(r.user);
        auth_addresses_ = std::move(r.addresses);
        send(out, make_reply(235, "2.7.0", "Authentication successful"));
        break;
    case auth_outcome::status::bad:
        // RFC 4954 6: 535 5.7.8 authentication credentials invalid.
        bad(out, make_reply(535, "5.7.8", "Error: authentication failed"));
        break;
    case auth_outcome::status::temporary:
        send(out, make_reply(454, "4.7.0", "Temporary authentication failure"));
        break;
    }
    if (state_ != state::closed) run(out);
    return out;
}

std::vector<action> smtp_session::timeout() {
    std::vector<action> out;
    if (state_ == state::closed) return out;
    send(out, make_reply(421, "4.4.2", cfg_.hostname + " Error: timeout exceeded"));
    close(out);
    return out;
}

std::vector<action> smtp_session::shutdown() {
    std::vector<action> out;
    if (state_ == state::closed) return out;
    send(out, make_reply(421, "4.3.2", cfg_.hostname + " Service shutting down"));
    close(out);
    return out;
}

void smtp_session::run(std::vector<action>& out) {
    while (true) {
        if (state_ == state::data) {
            if (framer_.buffered() == 0) return;
            std::string bytes = framer_.take_buffered();
            if (!data_input(bytes, out)) return;
            continue;
        }
        if (state_ != state::init && state_ != state::ready && state_ != state::mail &&
            state_ != state::rcpt && state_ != state::auth_line)
            return;
        auto line = framer_.next();
        if (line.st == smtp::line_framer::status::need_more) return;
        if (state_ == state::auth_line) {
            if (line.st == smtp::line_framer::status::too_long) {
                state_ = state::ready;
                bad(out, make_reply(500, "5.5.2", "Error: line too long"));
                continue;
            }
            auth_response(line.line, out);
            continue;
        }
        on_line(line, out);
    }
}

void smtp_session::on_line(const smtp::line_framer::result& line, std::vector<action>& out) {
    if (line.st == smtp::line_framer::status::too_long) {
        bad(out, make_reply(500, "5.5.2", "Error: line too long"));
        return;
    }
    // A bare LF ending a command is tolerated (Postfix does too); a CR or NUL inside is not.
    if (line.line.find_first_of(std::string_view("\r\0", 2)) != std::string::npos) {
        bad(out, make_reply(500, "5.5.2", "Error: invalid characters in command"));
        return;
    }
    auto cmd = smtp::parse_command(line.line);
    const auto& fl = flags_of(cmd.v);
    if (cfg_.require_tls && !tls_ && !fl.pre_tls) {
        bad(out, make_reply(530, "5.7.0", "Must issue a STARTTLS command first"));
        return;
    }
    if (fl.sync && cmd.v != verb::starttls && cfg_.forbid_improper_pipelining &&
        framer_.buffered() > 0) {
        // RFC 2920 3.1: the client had to wait for our reply. Bots that blast a whole session
        // are refused like Postfix's smtpd_forbid_unauth_pipelining does.
        send(out, make_reply(554, "5.5.0", "Error: SMTP protocol synchronization"));
        close(out);
        return;
    }
    switch (cmd.v) {
    case verb::helo: cmd_helo(cmd, false, out); break;
    case verb::ehlo: cmd_helo(cmd, true, out); break;
    case verb::mail: cmd_mail(cmd, out); break;
    case verb::rcpt: cmd_rcpt(cmd, out); break;
    case verb::data: cmd_data(cmd, out); break;
    case verb::starttls: cmd_starttls(cmd, out); break;
    case verb::rset:
        if (junk(out)) break;
        if (!cmd.args.empty()) {
            bad(out, make_reply(501, "5.5.4", "Syntax: RSET"));
            break;
        }
        reset_transaction();
        if (state_ != state::init) state_ = state::ready;
        send(out, make_reply(250, "2.0.0", "Ok"));
        break;
    case verb::noop:
        if (!junk(out)) send(out, make_reply(250, "2.0.0", "Ok"));
        break;
    case verb::quit:
        send(out, make_reply(221, "2.0.0", "Bye"));
        close(out);
        break;
    case verb::help:
        if (!junk(out)) send(out, make_reply(214, "2.0.0", "See RFC 5321"));
        break;
    // RFC 5321 3.5.3: 252 when we will not verify; we never disclose the user list.
    case verb::vrfy:
        if (!junk(out)) send(out, make_reply(252, "2.5.0", "Cannot VRFY user; try RCPT"));
        break;
    case verb::expn:
        if (!junk(out)) bad(out, make_reply(502, "5.5.1", "Error: EXPN not supported"));
        break;
    case verb::bdat:
        // CHUNKING is not advertised (RFC 3030); the chunk octets that follow will fail as
        // commands and run into the error limit.
        bad(out, make_reply(502, "5.5.1", "Error: BDAT not supported"));
        break;
    case verb::auth:
        if (cfg_.submission) {
            cmd_auth(cmd, out);
            break;
        }
        // Port 25 offers no AUTH (RFC 4954 4; submission is RFC 6409's job).
        bad(out, make_reply(503, "5.5.1", "Error: authentication not enabled"));
        break;
    case verb::lhlo:
    case verb::xdirectory:
    case verb::unknown: bad(out, make_reply(500, "5.5.2", "Error: command not recognized")); break;
    }
}

void smtp_session::cmd_helo(const smtp::command& c, bool extended, std::vector<action>& out) {
    if (c.args.empty() || c.args.size() > 255 || has_control(c.args)) {
        bad(out,
            make_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
        return;
    }
    // A second HELO/EHLO (not the one RFC 3207 4.2 asks for after TLS) makes no progress.
    if (!helo_.empty() && junk(out)) return;
    // RFC 5321 4.1.4: HELO/EHLO in a transaction resets it.
    reset_transaction();
    helo_ = c.args;
    esmtp_ = extended;
    state_ = state::ready;
    if (!extended) {
        send(out, make_reply(250, "", cfg_.hostname));
        return;
    }
    // RFC 2034 3: no enhanced codes on the EHLO reply.
    std::vector<std::string> lines = {cfg_.hostname, "PIPELINING",
                                      "SIZE " + std::to_string(cfg_.max_message_size)};
    if (cfg_.tls_available && !tls_) lines.push_back("STARTTLS");
    // RFC 4954 4 / RFC 8314: mechanisms that send the password in the clear only under TLS.
    if (cfg_.submission && tls_ && auth_user_.empty()) lines.push_back("AUTH PLAIN LOGIN");
    for (const char* ext : {"ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "DSN"})
        lines.push_back(ext);
    send(out, make_reply(250, "", std::move(lines)));
}

void smtp_session::cmd_mail(const smtp::command& c, std::vector<action>& out) {
    if (state_ == state::init) {
        bad(out, make_reply(503, "5.5.1", "Error: send HELO/EHLO first"));
        return;
    }
    if (state_ != state::ready) {
        bad(out, make_reply(503, "5.5.1", "Error: nested MAIL command"));
        return;
    }
    if (cfg_.submission && auth_user_.empty()) {
        // RFC 6409 4.3 / RFC 4954 6
        bad(out, make_reply(530, "5.7.0", "Authentication required"));
        return;
    }
    auto mf = smtp::parse_mail_from(c.args);
    if (!mf) {
        bad(out, mf.error());
        return;
    }
    if (!auth_user_.empty()) {
        // Issue 3: an authenticated user sends only as their own addresses and aliases.
        std::string from = mf->null_sender ? std::string() : mf->sender.canonical();
        for (auto& ch : from) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        bool mine = false;
        for (const auto& a : auth_addresses_) mine = mine || (!from.empty() && a == from);
        if (!mine) {
            send(out,
                 make_reply(553, "5.7.1", "Error: sender address not owned by user " + auth_user_));
            return;
        }
    }
    if (mf->body == smtp::body_type::binary_mime) {
        // RFC 3030 3: BINARYMIME needs BDAT, which we do not offer.
        send(out, make_reply(555, "5.5.4", "Error: BODY=BINARYMIME requires CHUNKING"));
        return;
    }
    if (mf->utf8_address && !mf->smtputf8) {
        // RFC 6531 3.5: non-ASCII addresses only in an SMTPUTF8 transaction.
        send(out, make_reply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8"));
        return;
    }
    if (mf->size && *mf->size > cfg_.max_message_size) {
        // RFC 1870 6.1
        send(out, make_reply(552, "5.3.4", "Error: message size exceeds fixed limit"));
        return;
    }
    if (cfg_.policy && !cfg_.relay_allowed) {
        // Issue 18: rate limits per client / per user (a temporary refusal).
        const std::string sender = mf->null_sender ? std::string() : mf->sender.to_string();
        if (auto r = cfg_.policy->mail(auth_user_, sender)) {
            send(out, std::move(*r));
            return;
        }
    }
    mail_ = std::move(mf.value());
    state_ = state::mail;
    send(out, make_reply(250, "2.1.0", "Ok"));
}

void smtp_session::cmd_rcpt(const smtp::command& c, std::vector<action>& out) {
    if (state_ != state::mail && state_ != state::rcpt) {
        bad(out, make_reply(503, "5.5.1", "Error: need MAIL command"));
        return;
    }
    if (!cfg_.relay_allowed && auth_user_.empty() && cfg_.network && cfg_.network->over_limit()) {
        // Issue 11 item 8: this client network has probed too many unknown recipients lately;
        // 421 is temporary, so a real sender sharing the network retries later.
        send(out, make_reply(421, "4.7.0",
                             cfg_.hostname + " Error: too many refused recipients "
                                             "from your network, try again later"));
        close(out);
        return;
    }
    auto rt = smtp::parse_rcpt_to(c.args);
    if (!rt) {
        bad(out, rt.error());
        return;
    }
    if (rt->utf8_address && !mail_->smtputf8) {
        send(out, make_reply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8"));
        return;
    }
    for (const auto& have : rcpts_) {
        if (have.recipient.canonical() == rt->recipient.canonical()) {
            send(out, make_reply(250, "2.1.5", "Ok")); // duplicate: one copy is enough
            return;
        }
    }
    if (rcpts_.size() >= cfg_.max_recipients) {
        // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client retries the rest later.
        send(out, make_reply(452, "4.5.3", "Error: too many recipients"));
        return;
    }
    if (cfg_.refuse_routing_local_parts && address::is_routing_trap(rt->recipient)) {
        // RFC 5321 3.6.1 / Appendix C: no %-hack, no bang paths, no quoted '@' routing.
        refuse_rcpt(out, make_reply(554, "5.7.1", "Relay access denied"));
        return;
    }
    switch (checker_.check_recipient(rt->recipient)) {
    case rcpt_verdict::local_ok:
        if (auto r = policy_rcpt(rt.value())) {
            send(out, std::move(*r)); // greylisted or over a rate limit: 451, not a refusal
            return;
        }
        rcpts_.push_back(std::move(rt.value()));
        routes_.push_back(queue::rcpt_route::home);
        state_ = state::rcpt;
        send(out, make_reply(250, "2.1.5", "Ok"));
        return;
    case rcpt_verdict::unknown:
        refuse_rcpt(out, make_reply(550, "5.1.1", "Error: user unknown"));
        return;
    case rcpt_verdict::not_local:
        if ((cfg_.relay_allowed || !auth_user_.empty()) && !rt->recipient.domain.empty()) {
            // Issue 3: mail from the home server (trusted network) to other domains goes
            // to the outbound queue without AUTH.
            if (auto r = policy_rcpt(rt.value())) {
                send(out, std::move(*r));
                return;
            }
            rcpts_.push_back(std::move(rt.value()));
            routes_.push_back(queue::rcpt_route::remote);
            state_ = state::rcpt;
            send(out, make_reply(250, "2.1.5", "Ok"));
            return;
        }
        refuse_rcpt(out, make_reply(554, "5.7.1", "Relay access denied"));
        return;
    case rcpt_verdict::tempfail:
        send(out, make_reply(451, "4.3.0", "Error: temporary recipient lookup failure"));
        return;
    }
}

void smtp_session::cmd_data(const smtp::command& c, std::vector<action>& out) {
    if (!c.args.empty()) {
        bad(out, make_reply(501, "5.5.4", "Syntax: DATA"));
        return;
    }
    if (state_ == state::mail) {
        // RFC 5321 3.3: all recipients were refused.
        send(out, make_reply(554, "5.5.1", "Error: no valid recipients"));
        return;
    }
    if (state_ != state::rcpt) {
        bad(out, make_reply(503, "5.5.1", "Error: need RCPT command"));
        return;
    }
    reader_ = smtp::data_reader(cfg_.max_message_size);
    abort_data(); // nothing is open here; resets the header state
    sink_.begin();
    sink_open_ = true;
    state_ = state::data;
    send(out, make_reply(354, "", "End data with <CR><LF>.<CR><LF>"));
}

void smtp_session::cmd_starttls(const smtp::command& c, std::vector<action>& out) {
    if (!c.args.empty()) {
        bad(out, make_reply(501, "5.5.4", "Syntax: STARTTLS"));
        return;
    }
    if (tls_) {
        bad(out, make_reply(554, "5.5.1", "Error: TLS already active"));
        return;
    }
    if (!cfg_.tls_available) {
        bad(out, make_reply(502, "5.5.1", "Error: command not implemented"));
        return;
    }
    if (state_ == state::init) {
        bad(out, make_reply(503, "5.5.1", "Error: send EHLO first"));
        return;
    }
    if (state_ != state::ready) {
        bad(out, make_reply(503, "5.5.1", "Error: MAIL transaction in progress"));
        return;
    }
    send(out, make_reply(220, "2.0.0", "Ready to start TLS"));
    // CVE-2011-0411: whatever the client pipelined after STARTTLS is plaintext injection.
    framer_.discard_buffered();
    state_ = state::wait_tls;
    action a;
    a.type = action::kind::start_tls;
    out.push_back(std::move(a));
}

void smtp_session::cmd_auth(const smtp::command& c, std::vector<action>& out) {
    // require_tls already answered 530 before TLS; this guards a submission config without it.
    if (!tls_) {
        bad(out, make_reply(538, "5.7.11",
                            "Encryption required for requested authentication "
                            "mechanism"));
        return;
    }
    if (state_ == state::init) {
        bad(out, make_reply(503, "5.5.1", "Error: send EHLO first"));
        return;
    }
    if (!auth_user_.empty()) {
        // RFC 4954 4: no AUTH after a successful one.
        bad(out, make_reply(503, "5.5.1", "Error: already authenticated"));
        return;
    }
    if (state_ != state::ready) {
        bad(out, make_reply(503, "5.5.1", "Error: MAIL transaction in progress"));
        return;
    }
    std::string_view args = c.args;
    auto sp = args.find(' ');
    std::string mech(args.substr(0, sp));
    for (auto& ch : mech) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::string_view initial =
        sp == std::string_view::npos ? std::string_view{} : args.substr(sp + 1);
    if (mech != "PLAIN" && mech != "LOGIN") {
        bad(out, make_reply(504, "5.5.4", "Error: unsupported authentication mechanism"));
        return;
    }
    auth_mech_ = mech;
    auth_login_user_.clear();
    if (initial.empty()) {
        state_ = state::auth_line;
        // RFC 4616 / RFC 4954 4: an empty challenge for PLAIN; LOGIN asks "Username:".
        send(out, make_reply(334, "", mech == "PLAIN" ? "" : "VXNlcm5hbWU6"));
        return;
    }
    state_ = state::auth_line;
    auth_response(initial, out);
}

void smtp_session::auth_response(std::string_view line, std::vector<action>& out) {
    if (line == "*") {
        // RFC 4954 4: the client cancelled.
        state_ = state::ready;
        auth_login_user_.clear();
        send(out, make_reply(501, "5.0.0", "Authentication cancelled"));
        return;
    }
    // common/sasl decodes (one decoder for every login path; decoded buffers are wiped).
    auto refuse = [&](sasl::error e) {
        state_ = state::ready;
        auth_login_user_.clear();
        if (e == sasl::error::bad_base64)
            bad(out, make_reply(501, "5.5.2", "Error: invalid base64 data"));
        else if (e == sasl::error::malformed && auth_mech_ == "PLAIN")
            bad(out, make_reply(501, "5.5.2", "Error: malformed PLAIN response"));
        else
            bad(out, make_reply(535, "5.7.8", "Error: authentication failed"));
    };
    std::string user;
    sasl::secret password;
    if (auth_mech_ == "LOGIN") {
        auto step = sasl::decode_login_step(line);
        if (!step) return refuse(step.error());
        if (auth_login_user_.empty()) {
            if (step->empty()) {
                state_ = state::ready;
                bad(out, make_reply(501, "5.5.2", "Error: empty user name"));
                return;
            }
            if (step->size() > sasl::max_user) return refuse(sasl::error::too_long);
            auth_login_user_ = step->str();
            state_ = state::auth_line;
            send(out, make_reply(334, "", "UGFzc3dvcmQ6"));
            return;
        }
        user = std::move(auth_login_user_);
        auth_login_user_.clear();
        // An empty password is never right (RFC 4616 requires one for PLAIN as well).
        if (step->empty()) return refuse(sasl::error::too_long); // 535 5.7.8
        password = std::move(*step);
    } else {
        // RFC 4616 2: [authzid] NUL authcid NUL passwd; acting as someone else is refused.
        auto c = sasl::decode_plain(line);
        if (!c) return refuse(c.error());
        if (!sasl::authzid_acceptable(c->authzid, c->authcid))
            return refuse(sasl::error::too_long); // 535 5.7.8, like a wrong password
        user = std::move(c->authcid);
        password = std::move(c->password);
    }
    state_ = state::wait_auth;
    action a;
    a.type = action::kind::authenticate;
    a.user = std::move(user);
    a.password = std::move(password);
    a.mechanism = auth_mech_;
    out.push_back(std::move(a));
}

void smtp_session::on_data_done(std::vector<action>& out) {
    auto err = reader_.err();
    if (err == smtp::data_reader::error::bare_lf || err == smtp::data_reader::error::bare_cr) {
        // RFC 5321 2.3.8 / CVE-2023-51764: only CRLF ends a line in SMTP; refuse the whole
        // message rather than guess where it ends.
        send(out, make_reply(550, "5.5.2", "Error: bare CR or LF in message; use CRLF"));
        reset_transaction();
        state_ = state::ready;
        return;
    }
    if (err == smtp::data_reader::error::too_big) {
        send(out, make_reply(552, "5.3.4", "Error: message size exceeds fixed limit"));
        reset_transaction();
        state_ = state::ready;
        return;
    }
    if (header_too_big_) {
        send(out, make_reply(552, "5.3.4",
                             "Error: message header block exceeds " +
                                 std::to_string(cfg_.max_header_size) + " octets"));
        reset_transaction();
        state_ = state::ready;
        return;
    }
    if (!header_done_) {
        // No empty line: the whole message is header (RFC 5322 3.5 makes the body optional).
        header_done_ = true;
        size_ += header_.size();
        sink_.header(header_);
    }
    bool add_from = false;
    if (!auth_user_.empty()) {
        // Issue 11 item 4: the header author is bound to the login as the envelope sender is
        // (RFC 6409 6.1 lets the MSA enforce its sender policy). Only the header block counts;
        // the check runs before anything is spooled or signed.
        auto v = check_authors(header_, auth_addresses_, auth_user_);
        if (v.st == author_verdict::status::refused) {
            send(out, make_reply(550, "5.7.1", v.text));
            reset_transaction();
            state_ = state::ready;
            return;
        }
        // No From: at all: RFC 5322 3.6 requires one and RFC 6409 8 lets the MSA complete a
        // submission, so the driver adds From: with the envelope sender, which cmd_mail
        // already proved is the user's (never the null sender).
        add_from = v.st == author_verdict::status::missing_from;
    }
    delivery d;
    d.add_from = add_from;
    auto& e = d.envelope;
    e.sender = mail_->null_sender ? std::string() : mail_->sender.to_string();
    for (std::size_t i = 0; i < rcpts_.size(); ++i) {
        const auto& r = rcpts_[i];
        queue::recipient qr;
        qr.address = r.recipient.to_string();
        qr.route = routes_[i];
        if (!r.orcpt_type.empty()) qr.orcpt = r.orcpt_type + ";" + r.orcpt;
        qr.notify = to_notify(r.notify);
        e.recipients.push_back(std::move(qr));
    }
    switch (mail_->ret) {
    case smtp::ret_type::unspecified: e.ret = queue::ret_type::unspecified; break;
    case smtp::ret_type::full: e.ret = queue::ret_type::full; break;
    case smtp::ret_type::hdrs: e.ret = queue::ret_type::hdrs; break;
    }
    switch (mail_->body) {
    case smtp::body_type::unspecified: e.body = queue::body_type::unspecified; break;
    case smtp::body_type::seven_bit: e.body = queue::body_type::seven_bit; break;
    case smtp::body_type::eight_bit_mime: e.body = queue::body_type::eight_bit_mime; break;
    case smtp::body_type::binary_mime: e.body = queue::body_type::binary_mime; break;
    }
    e.envid = mail_->envid;
    e.smtputf8 = mail_->smtputf8;
    e.client_ip = peer_.ip;
    e.client_helo = helo_;
    e.arrival = cfg_.clock();
    d.header = std::move(header_);
    d.size = size_;
    d.tls = tls_;
    // RFC 3848 protocol names; RFC 6531 3.7.3 UTF8 variants for SMTPUTF8 transactions.
    std::string proto = esmtp_ ? "ESMTP" : "SMTP";
    if (tls_) proto = "ESMTPS";
    if (mail_->smtputf8) proto = tls_ ? "UTF8SMTPS" : "UTF8SMTP";
    if (!auth_user_.empty()) proto += "A"; // RFC 3848 ESMTPSA, RFC 6531 UTF8SMTPSA
    d.protocol = proto;
    d.client_host = peer_.host;
    d.hostname = cfg_.hostname;
    d.long_lines = reader_.long_lines();
    d.auth_user = auth_user_;
    d.outgoing = outgoing();
    d.hide_client = cfg_.submission && !cfg_.submission_show_client;
    d.show_auth_user = cfg_.submission_show_user;
    sink_open_ = false; // the message is the driver's now: `deliver` finishes or drops it
    std::string().swap(header_);
    header_done_ = false;
    size_ = 0;
    state_ = state::wait_delivery;
    action a;
    a.type = action::kind::deliver;
    a.msg = std::move(d);
    out.push_back(std::move(a));
}

} // namespace splitmail::relay
