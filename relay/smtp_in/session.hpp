#pragma once
// The relay's inbound SMTP session (port 25, MX reception) as a pure state machine.
//
// Input: bytes from the client (feed), and events from the driver (greet, tls_started,
// delivery_result, timeout). Output: a list of actions the driver performs in order:
//   send     write reply.format() to the client;
//   start_tls  do the TLS handshake now, then call tls_started() (the session has already
//            discarded every byte received after STARTTLS: CVE-2011-0411);
//   deliver  make the message durable (spool), then call delivery_result() with the reply for
//            DATA (250 only when fsync'd; 452 4.3.1 on a full disk). `msg` carries the envelope
//            and the header block; the message itself went to the message_sink while DATA was
//            read (see below). The session answers nothing else
//            meanwhile; pipelined input (up to 64 KiB) stays buffered until then, so the driver
//            may keep reading or pause reading while a delivery is outstanding;
//   close    close the connection (after writing the sends before it).
// Guarantees: no open relay (recipients are only accepted when the injected checker says
// local_ok; '%', '!' and quoted '@' in local parts never route; source routes are dropped),
// no smuggling (DATA ends only at CRLF.CRLF; bare CR/LF refuse the message), every limit has
// its reply code. Does not do: I/O, TLS, spooling, DNS, checking credentials (the driver does).
//
// Submission (RFC 6409, RFC 8314; cfg.submission): AUTH PLAIN (RFC 4616) and LOGIN are offered
// only after TLS (before it every command but EHLO/HELO/STARTTLS/RSET/NOOP/QUIT gets 530 5.7.0);
// MAIL needs a successful AUTH (530 5.7.0 Authentication required); the reverse-path must be one
// of the addresses the credential check returned (553 5.7.1); an authenticated client may send
// to any domain (route home for ours, remote otherwise). The decoded credential goes to the
// driver in an `authenticate` action (the session waits in wait_auth) and comes back as
// auth_result(); the session never keeps the password after handing it out.
// At end of DATA an authenticated message's From: and Sender: must name only the user's
// addresses, and From: must appear at most once (submission/author.hpp; else 550 5.7.1, nothing
// is spooled). A message without From: is accepted and the driver adds one from the (already
// checked) envelope sender: RFC 6409 8 lets an MSA make a submission compliant, and RFC 5322
// 3.6 requires From:. Mail from relay.trusted_networks without AUTH is not checked.
//
// DATA streams (issue 12 item 1): the session never holds the message. After 354 it calls
// sink.begin(); the unstuffed octets go out in order, the header block (up to and including the
// empty line that ends it, or the whole message if it has none) once through sink.header(), then
// the body in chunks through sink.body(). Only the header block is kept, capped at
// max_header_size. At end of data the session either emits `deliver` (the sink's content is the
// message) or calls sink.abort() and refuses it: bare CR/LF (550 5.5.2), over max_message_size
// (552 5.3.4, the rest is discarded, never sent to the sink), header block over max_header_size
// (552 5.3.4 naming the limit), From:/Sender: check failed (550 5.7.1). A transaction that ends
// mid-DATA (timeout, shutdown, close) also gets abort(). Nothing is given to the sink after the
// first error of a message. The split into header/body never depends on how the client's bytes
// were chunked (fed byte by byte included).
//
// Abuse limits (issue 11 items 7, 8; Postfix smtpd_junk_command_limit, smtpd_soft/hard_error_
// limit): commands that make no progress (NOOP, RSET, VRFY, HELP, EXPN, a repeated HELO/EHLO)
// are counted until a message is accepted; past max_junk_commands: 421 4.7.0 and close.
// Refused RCPTs (unknown user, relay denied) are counted per session: after
// rcpt_errors_before_delay each further refusal is preceded by a `delay` action, and at
// max_rcpt_errors the refusal is followed by 421 4.7.0 and close. The injected
// rcpt_error_tracker counts refusals per client network across sessions; while it says the
// network is over its limit, RCPT gets 421 4.7.0 and close. Trusted-network clients are exempt.
//
// Greylisting and rate limits (issue 18): the injected transaction_policy is asked at MAIL
// (after every other check) and for each recipient the checker accepted; its refusal (451
// 4.7.1) answers that command only. Trusted-network clients are not asked.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recipients/directory.hpp" // rcpt_verdict
#include "submission/auth_outcome.hpp"
#include "splitmail/sasl/plain.hpp"
#include "splitmail/address/address.hpp"
#include "splitmail/queue/envelope.hpp"
#include "splitmail/smtp/base64.hpp"
#include "splitmail/smtp/command.hpp"
#include "splitmail/smtp/data_reader.hpp"
#include "splitmail/smtp/line_framer.hpp"
#include "splitmail/smtp/reply.hpp"

namespace splitmail::relay {

// Decides whether a recipient is ours. {local, ""} for "<Postmaster>" (RFC 5321 4.1.1.3).
class recipient_checker {
public:
    virtual ~recipient_checker() = default;
    virtual rcpt_verdict check_recipient(const address::mailbox& rcpt) = 0;
};

// Refused recipients of the client's network across connections (smtp_in/network_counter.hpp).
class rcpt_error_tracker {
public:
    virtual ~rcpt_error_tracker() = default;
    virtual bool over_limit() = 0; // too many refusals lately: refuse this client's RCPTs
    virtual void refused() = 0;    // one more refused RCPT
};

// Greylisting and rate limits (issue 18; filter/greylist.hpp, filter/rate_limit.hpp), asked at
// MAIL and for each recipient the checker accepted, never for relay.trusted_networks clients.
// A refusal is a temporary reply (451 4.7.1) to that one command: the session goes on, other
// recipients can still be accepted. nullopt accepts (and counts) the command.
class transaction_policy {
public:
    virtual ~transaction_policy() = default;
    // user: the authenticated user ("" on port 25); sender: the reverse-path ("" for <>).
    virtual std::optional<smtp::reply> mail(std::string_view user, std::string_view sender) = 0;
    virtual std::optional<smtp::reply> rcpt(std::string_view user, std::string_view sender,
                                            std::string_view recipient) = 0;
};

// Where the message of a DATA goes while it is read (the driver's spool file). Calls for one
// message: begin, [header, body*], then either a `deliver` action or abort.
class message_sink {
public:
    virtual ~message_sink() = default;
    virtual void begin() = 0;                        // DATA answered 354
    virtual void header(std::string_view block) = 0; // the complete header block, once
    virtual void body(std::string_view chunk) = 0;   // the next body octets (any size)
    virtual void abort() = 0;                        // the message is refused or abandoned
};

// A sink that keeps the message in memory and checks the call order (begin, header once,
// body*, then deliver or abort): for tests and fuzz targets, never for the relay itself.
class memory_sink final : public message_sink {
public:
    void begin() override;
    void header(std::string_view block) override;
    void body(std::string_view chunk) override;
    void abort() override;
    void delivered() { open = false; } // the driver took the message (a `deliver` action)
    std::string message;               // header + body of the current (or last delivered) message
    std::string header_block;          // as given to header()
    std::size_t body_calls = 0;
    std::size_t aborts = 0;
    bool open = false;            // begin() seen, no abort() since
    bool contract_broken = false; // a call out of order (header twice, body before header...)
private:
    bool header_seen_ = false;
};

struct session_config {
    std::string hostname;                       // our name in the banner, EHLO and Received
    std::uint64_t max_message_size = 25u << 20; // octets of message body (SIZE, DATA)
    std::uint64_t max_header_size = 1u << 20;   // header block octets kept in memory (DATA)
    std::size_t max_recipients = 100;           // RFC 5321 4.5.3.1.8: at least 100
    std::size_t max_bad_commands = 10;          // then 421 4.7.0 and close
    std::size_t max_line = smtp::line_framer::default_max_line; // RFC 5321 4.5.3.1.4
    bool tls_available = false; // a certificate is configured: offer STARTTLS
    bool require_tls = false;   // port 25 is opportunistic (RFC 3207 4)
    // Postfix 3.9 smtpd_forbid_unauth_pipelining: input after EHLO/HELO/DATA/AUTH sent before
    // our reply is a protocol violation (RFC 2920 3.1) -> 554 5.5.0 and close.
    bool forbid_improper_pipelining = true;
    // Refuse local parts containing '%', '!' or '@' even if the checker would accept them (a
    // catch-all), so "user%foreign@ours" can never be mistaken for a routing request.
    bool refuse_routing_local_parts = true;
    std::function<std::chrono::system_clock::time_point()> clock; // default: system_clock
    // The client is in relay.trusted_networks (the home tunnel peer): recipients outside our
    // domains are accepted without AUTH and queued with route=remote (outbound delivery).
    bool relay_allowed = false;
    // Submission port (587 STARTTLS / 465 implicit TLS): AUTH offered after TLS and required
    // before MAIL. Set require_tls with it.
    bool submission = false;
    // Received: of submitted mail names the client's IP and rDNS only when set (issue 3: do
    // not leak a private or home address).
    bool submission_show_client = false;
    // Received: of submitted mail names the authenticated user (Postfix
    // smtpd_sasl_authenticated_header): abuse reports can then name the account.
    bool submission_show_user = true;
    // Issue 11 item 7: commands that make no progress, per message accepted.
    std::size_t max_junk_commands = 100;
    // Issue 11 item 8: recipient harvesting (see the header comment).
    std::size_t rcpt_errors_before_delay = 5;
    std::chrono::milliseconds rcpt_error_delay{2000};
    std::size_t max_rcpt_errors = 20;
    rcpt_error_tracker* network = nullptr; // null: no per-network counting
    transaction_policy* policy = nullptr;  // null: no greylisting, no rate limits
};

struct peer_info {
    std::string ip;   // "192.0.2.1" or "2001:db8::1"
    std::string host; // verified reverse DNS name, "" if none
};

struct tls_info {
    std::string version; // "TLSv1.3"
    std::string cipher;  // "TLS_AES_256_GCM_SHA384"
};

// A message the session accepted up to end-of-data; the driver spools it.
struct delivery {
    // sender, recipients (address, NOTIFY, ORCPT "type;xtext"), RET, ENVID, BODY, SMTPUTF8,
    // client_ip, client_helo, arrival are set; id, size and queue are the driver's to fill.
    queue::envelope envelope;
    std::string header;     // the header block as given to message_sink::header()
    std::uint64_t size = 0; // octets given to the sink (header + body)
    std::optional<tls_info> tls;
    std::string protocol; // RFC 3848 / RFC 6531 3.7.3: SMTP, ESMTP, ESMTPS, UTF8SMTPS...
    std::string client_host;
    std::string hostname;         // ours
    std::uint64_t long_lines = 0; // lines over 998 octets (accepted, worth a log field)
    std::string auth_user;        // authenticated submission user, "" otherwise
    bool outgoing = false;        // smtp_session::outgoing() when DATA ended
    bool hide_client = false;     // Received: leaves out the client's IP and host name
    bool show_auth_user = false;  // Received: names auth_user
    bool add_from = false;        // no From: field: the driver adds one (envelope sender)

    // The trace header (RFC 5321 4.4) to store as a prefix before the message, folded, ending
    // in CRLF; `queue_id` goes in the id clause ("" leaves it out).
    std::string received_header(std::string_view queue_id) const;
};

struct action {
    enum class kind { send, start_tls, deliver, close, authenticate, delay };
    kind type = kind::send;
    smtp::reply reply;                  // kind::send
    std::optional<delivery> msg;        // kind::deliver
    std::string user;                   // kind::authenticate: check, then call auth_result()
    sasl::secret password;              // wiped when the action goes
    std::string mechanism;              // kind::authenticate: "PLAIN" / "LOGIN" (for logs)
    std::chrono::milliseconds delay{0}; // kind::delay: wait this long before the next action
};

enum class state {
    init,          // greeted, waiting for HELO/EHLO
    ready,         // HELO/EHLO done, no transaction
    mail,          // MAIL accepted, no recipient accepted yet
    rcpt,          // at least one recipient accepted
    data,          // reading the message after 354
    wait_delivery, // message handed to the driver, waiting for delivery_result()
    wait_tls,      // STARTTLS answered, waiting for tls_started()
    auth_line,     // AUTH in progress, waiting for the client's next base64 line (334 sent)
    wait_auth,     // credential handed to the driver, waiting for auth_result()
    closed,
};

class smtp_session {
public:
    // `sink` receives the message of every DATA; it must outlive the session.
    smtp_session(session_config cfg, recipient_checker& checker, peer_info peer,
                 message_sink& sink);

    std::vector<action> greet(); // 220 banner
    // Implicit TLS (RFC 8314 3.3): the handshake happened before greet(); STARTTLS is not
    // offered and TLS-only commands are allowed.
    void tls_on_connect(tls_info info) { tls_ = std::move(info); }
    std::vector<action> feed(std::string_view bytes);   // client bytes
    std::vector<action> tls_started(tls_info info);     // after start_tls succeeded
    std::vector<action> delivery_result(smtp::reply r); // the reply to DATA
    std::vector<action> auth_result(auth_outcome r);    // after an authenticate action
    std::vector<action> timeout();                      // idle: 421 4.4.2 + close
    std::vector<action> shutdown();                     // server stopping: 421 4.3.2 + close

    state current() const { return state_; }
    bool tls_active() const { return tls_.has_value(); }
    const std::string& auth_user() const { return auth_user_; }
    // Outgoing mail: from an authenticated user or from relay.trusted_networks (the home
    // tunnel). It may be signed (DKIM) and is not judged as inbound mail (SPF).
    bool outgoing() const { return !auth_user_.empty() || cfg_.relay_allowed; }
    std::size_t bad_commands() const { return bad_commands_; }
    std::size_t rcpt_errors() const { return rcpt_errors_; }
    std::size_t junk_commands() const { return junk_commands_; }

private:
    void run(std::vector<action>& out);
    // DATA octets to the reader and the sink; true when the end-of-data line was seen (what
    // follows it went to the framer).
    bool data_input(std::string_view bytes, std::vector<action>& out);
    void on_line(const smtp::line_framer::result& line, std::vector<action>& out);
    void on_data_done(std::vector<action>& out);
    void data_octets(std::string_view unstuffed); // to the header block or the sink
    void abort_data();                            // the message will not be delivered
    void send(std::vector<action>& out, smtp::reply r);
    void bad(std::vector<action>& out, smtp::reply r); // error reply counted against the limit
    void close(std::vector<action>& out);
    void reset_transaction();
    void refuse_rcpt(std::vector<action>& out, smtp::reply r);
    // The transaction policy's word on one accepted recipient (nullopt: accept it).
    std::optional<smtp::reply> policy_rcpt(const smtp::rcpt_to& rt);
    bool junk(std::vector<action>& out); // counts one; true when the session was closed

    void cmd_helo(const smtp::command& c, bool extended, std::vector<action>& out);
    void cmd_mail(const smtp::command& c, std::vector<action>& out);
    void cmd_rcpt(const smtp::command& c, std::vector<action>& out);
    void cmd_data(const smtp::command& c, std::vector<action>& out);
    void cmd_starttls(const smtp::command& c, std::vector<action>& out);
    void cmd_auth(const smtp::command& c, std::vector<action>& out);
    void auth_response(std::string_view line, std::vector<action>& out);

    session_config cfg_;
    recipient_checker& checker_;
    peer_info peer_;
    state state_ = state::init;
    smtp::line_framer framer_;
    smtp::data_reader reader_;
    message_sink& sink_;
    std::string scratch_;      // unstuffed octets of one feed, on their way to the sink
    std::string header_;       // the header block so far (at most max_header_size)
    bool header_done_ = false; // header_ is complete; the rest is body
    bool header_too_big_ = false;
    bool sink_open_ = false; // begin() called, neither deliver nor abort yet
    std::uint64_t size_ = 0; // octets given to the sink for this message
    std::string helo_;
    bool esmtp_ = false;
    std::optional<tls_info> tls_;
    std::optional<smtp::mail_from> mail_;
    std::vector<smtp::rcpt_to> rcpts_;
    std::vector<queue::rcpt_route> routes_; // parallel to rcpts_
    std::size_t bad_commands_ = 0;
    std::size_t junk_commands_ = 0; // since the last accepted message
    std::size_t rcpt_errors_ = 0;   // whole session (RSET does not forgive)
    std::string auth_mech_;         // during AUTH: "PLAIN" or "LOGIN"
    std::string auth_login_user_;   // LOGIN: user name received, waiting for password
    std::string auth_user_;         // after a successful AUTH
    std::vector<std::string> auth_addresses_;
};

// Base64 lives in the shared codec (splitmail/smtp/base64.hpp).
using smtp::decode_base64;
using smtp::encode_base64;

} // namespace splitmail::relay
