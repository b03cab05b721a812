#pragma once
// The LMTP server session (RFC 2033) as a pure state machine: bytes in, replies and delivery
// jobs out. No sockets, no files, no clock.
//
// Guarantees:
// - LHLO is the greeting command; HELO and EHLO get 500 (RFC 2033 4.1: "A LMTP server MUST
//   NOT return a Positive Completion reply code to these commands").
// - Unknown recipients are refused at RCPT (the injected resolver decides: 550 5.1.1, 451 4.3.0
//   when the lookup cannot be done now); DATA without an accepted recipient gets 503
//   (RFC 2033 4.2).
// - After the final "." exactly one reply per accepted recipient, in RCPT order (RFC 2033
//   4.2). The session hands out a delivery_job and produces those replies only from
//   delivered(), i.e. after the caller made each delivery durable; input is not processed
//   meanwhile (commands pipelined after the data wait, RFC 2920 allows that).
// - DATA is read by the shared smuggling-safe data_reader: a bare LF or bare CR anywhere
//   refuses the message (550 5.5.2 for every recipient) and one DATA never becomes two
//   messages; over the size limit 552 5.3.4 for every recipient.
// - The message streams out as step.body chunks (see step); the session never holds more than
//   the input it was fed, so memory does not grow with the message size.
// - Correct for any split of the input, byte by byte included; PIPELINING (RFC 2920): replies
//   are batched until the input runs dry.
// - Command lines over 1000 octets: 500 5.5.2 (RFC 5321 4.5.3.1.4). Too many errors: 421.
// - XAUTH <base64(user NUL password)> (private, relay -> home): the decoded credential goes to
//   hooks.authenticate and is never kept or echoed; malformed base64 or a missing NUL -> 501.
//   XAUTH is not a LHLO keyword the relay must see: it asks only over the tunnel.
//   An optional "CLIENT=<ip>" after the base64 names the submission client (auth_client());
//   anything else there -> 501.
// - XSECRET <secret> (private, contracts.md): with session_options::relay_secret set, MAIL,
//   RCPT, DATA, XAUTH and XDIRECTORY get 530 5.7.0 until XSECRET gave the secret (compared in
//   constant time); a wrong one gets 535 5.7.8 and the connection is closed.
//   With session_options::defer_auth the check is handed to the driver instead (step.auth;
//   the password hash is verified off the io thread) and input waits until authenticated().
// Does not: resolve addresses, write Maildirs, time out, or do TLS (the driver does).
#include "splitmail/smtp/command.hpp"
#include "splitmail/smtp/data_reader.hpp"
#include "splitmail/smtp/line_framer.hpp"
#include "splitmail/smtp/reply.hpp"
#include "splitmail/users/credential.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::home::lmtp {

struct session_options {
    std::string hostname = "localhost";
    std::uint64_t max_message_size = 64ull << 20; // SIZE (RFC 1870)
    std::size_t max_recipients = 1000;
    std::size_t max_errors = 20;
    bool defer_auth = false;  // XAUTH through step.auth + authenticated(), not hooks.authenticate
    std::string relay_secret; // lmtp.relay_secret; empty: XSECRET not required
};

// A credential for the driver to verify off the io thread (password wiped on destruction).
using auth_request = users::credential;

// What the resolver says about one RCPT.
struct rcpt_verdict {
    smtp::reply refusal;            // code 0: accepted
    std::vector<std::string> users; // final mailboxes when accepted (at least one)
};

struct session_hooks {
    std::function<rcpt_verdict(const smtp::rcpt_to&)> resolve;
    // XDIRECTORY reply lines (users::xdirectory_lines); empty -> 454 4.3.0.
    std::function<std::vector<std::string>()> directory;
    // XAUTH (contracts.md, issue 3): checks a submission credential for the relay. Returns the
    // whole reply: 235 2.7.0 with the addresses the user may send as, one per line after the
    // first ("235-2.7.0 ok", "235-2.7.0 user@d", "235 2.7.0 alias@d"), 535 5.7.8 on a bad
    // credential, 454 4.7.0 when it cannot be checked now. Unset -> 502.
    std::function<smtp::reply(std::string_view user, std::string_view password)> authenticate;
};

struct accepted_rcpt {
    std::string address;            // forward-path as given, canonical (local part lower-cased)
    std::vector<std::string> users; // where it goes
};

// The envelope of one transaction. The message itself is not here: it leaves the session as
// step.body chunks (bounded memory: a 25 MB message is never held whole).
struct delivery_job {
    std::string sender; // reverse-path (wire form), "" for <>
    std::vector<accepted_rcpt> rcpts;
};

class session {
public:
    session(session_options opt, session_hooks hooks);

    std::string greeting() const; // "220 host LMTP ready\r\n"

    void feed(std::string_view bytes);

    // One step, in the order the caller handles its fields. A message is streamed:
    // `begin` (DATA accepted: create the message file for this envelope), then `body` chunks
    // in later steps (append them: unstuffed content, CRLF as received, at most one read's
    // worth each), then either `job` (complete: deliver, call delivered()) or `discard` (the
    // message was refused, its replies are in `output`: drop the file). A step carrying
    // `begin` ends there; one carrying `job` or `discard` ends the message.
    struct step {
        std::string output;                // write this first
        std::optional<delivery_job> begin; // a message starts: open its file
        std::string body;                  // then append this to the open message file
        bool discard = false;              // then drop the message file
        std::optional<delivery_job> job;   // then deliver and call delivered()
        std::optional<auth_request> auth;  // then check it and call authenticated()
        bool close = false;                // then close the connection
    };
    // Processes buffered input as far as it can: until more input is needed, a delivery job is
    // ready, or the session ends.
    step advance();
    // The results of the last job: one reply per job.rcpts entry, in the same order.
    void delivered(const std::vector<smtp::reply>& per_rcpt);
    // The reply to the XAUTH handed out in step.auth (235 / 535 / 454).
    void authenticated(const smtp::reply& r);

    // The CLIENT= address of the last XAUTH ("" when the relay did not send one).
    const std::string& auth_client() const { return auth_client_; }
    bool relay_authenticated() const { return secret_ok_; }

    bool awaiting_delivery() const { return state_ == state::delivering; }
    bool closed() const { return state_ == state::closed; }

private:
    enum class state { start, ready, mail, data, delivering, authenticating, closed };
    void handle_line(const std::string& line, std::string& out);
    void do_mail(std::string_view args, std::string& out);
    void do_rcpt(std::string_view args, std::string& out);
    void do_data(std::string_view args, std::string& out);
    void do_xauth(std::string_view args, std::string& out);
    void do_xsecret(std::string_view args, std::string& out);
    std::optional<delivery_job> finish_data(std::string& out);
    delivery_job envelope() const;
    void error(std::string& out, const smtp::reply& r);
    void reset_transaction();

    session_options opt_;
    session_hooks hooks_;
    state state_ = state::start;
    smtp::line_framer framer_;
    smtp::data_reader reader_;
    std::string body_;
    std::optional<smtp::mail_from> mail_;
    std::vector<accepted_rcpt> rcpts_;
    std::size_t rcpt_commands_ = 0;
    std::size_t errors_ = 0;
    std::size_t expected_replies_ = 0; // replies owed for the job being delivered
    std::string pending_; // replies produced by delivered(), sent with the next advance()
    std::optional<auth_request> auth_; // XAUTH waiting to be handed out (defer_auth)
    std::string auth_client_;
    bool secret_ok_ = false;
};

} // namespace splitmail::home::lmtp
