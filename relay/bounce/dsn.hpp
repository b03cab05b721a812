#pragma once
// Delivery status notifications (bounces and delay notices) for queued messages.
//
// Builds an RFC 3464 DSN: a multipart/report (RFC 6522) with report-type=delivery-status and
//   1. text/plain for people (what happened, per recipient),
//   2. message/delivery-status: Reporting-MTA dns; HOST, Original-Envelope-Id (if ENVID),
//      Arrival-Date, then per recipient Final-Recipient, Original-Recipient (if ORCPT),
//      Action failed|delayed, Status, Diagnostic-Code smtp; ..., Last-Attempt-Date,
//      Will-Retry-Until (delayed only),
//   3. the original: text/rfc822-headers (RET=HDRS, no RET, and every delay notice) or
//      message/rfc822 (RET=FULL on a failure notice), RFC 3461 4.3.
// Internationalised addresses (SMTPUTF8) switch to the RFC 6533 types
// (message/global-delivery-status, message/global-headers, message/global, "utf-8;" addresses).
//
// Rules that decide whether there is a notice at all:
//  - RFC 5321 4.5.5 / 6.1: a message with a null reverse-path never gets one (no bounce loops);
//  - RFC 3461 4.1: a recipient is reported only if its NOTIFY asks for this kind of notice
//    (FAILURE / DELAY; no NOTIFY counts as FAILURE,DELAY; NEVER never);
// make_dsn returns nullopt when no recipient qualifies. The notice itself is sent from the
// null reverse-path <> (RFC 5321 4.5.5) with From: MAILER-DAEMON@HOST and
// Auto-Submitted: auto-replied (RFC 3834).
//
// Does not: queue or send anything, or decide which recipients failed (the delivery runner
// sets recipient states; pass `only` to report just this attempt's failures).
#include "queue/schedule.hpp"

#include "splitmail/queue/envelope.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

enum class dsn_kind {
    failure, // Action: failed, for recipients in state failed
    delay    // Action: delayed, for recipients still pending or deferred
};

struct dsn_options {
    std::string reporting_mta;     // our host name (relay.hostname)
    sys_time now;                  // Date:, Last-Attempt-Date:
    sys_time will_retry_until{};   // delay notices: arrival + lifetime
    std::vector<std::string> only; // if not empty: report only these recipient addresses
};

struct dsn_message {
    std::string envelope_sender;       // always "" (null reverse-path)
    std::string recipient;             // the original message's sender
    std::string data;                  // the complete notice, CRLF line ends
    std::vector<std::string> reported; // recipient addresses covered by this notice
    bool eight_bit = false;            // contains 8-bit octets: send with BODY=8BITMIME
    bool smtputf8 = false;             // has UTF-8 addresses: needs SMTPUTF8
};

std::optional<dsn_message> make_dsn(const queue::envelope& env, std::string_view message,
                                    dsn_kind kind, const dsn_options& opt);

// The envelope to queue a notice with: sender <>, one remote recipient (the original sender),
// NOTIFY=NEVER so that a notice about the notice is never asked for (RFC 3461 6.2).
// The same notice split around the enclosed original, for writing it in pieces (the original
// streamed from the spool, relay/queue/notice.hpp): head + original + (CRLF if the original
// does not end with one) + tail is exactly make_dsn's data. `original_eight_bit`: the enclosed
// part has octets >= 0x80; taken(b): the string b occurs in the enclosed part (asked for a
// few boundary candidates, at most 16; then one carrying the time is used unchecked).
struct dsn_frame {
    dsn_message meta; // data stays empty
    std::string head;
    std::string tail;
};
std::optional<dsn_frame> make_dsn_frame(const queue::envelope& env, dsn_kind kind,
                                        const dsn_options& opt, bool original_eight_bit,
                                        const std::function<bool(std::string_view)>& taken);
// Whether the notice encloses the whole original (RET=FULL on a failure notice) rather than
// its header block.
bool dsn_encloses_full(const queue::envelope& env, dsn_kind kind);
// The header block of a message: up to and including the CRLF before the first empty line
// (the whole text when there is none).
std::string_view dsn_header_block(std::string_view msg);

queue::envelope make_notice_envelope(const dsn_message& dsn, std::string id, sys_time now);

// RFC 3461 4: decodes xtext ("a+2Bb" -> "a+b"); malformed escapes are kept as they are.
std::string xtext_decode(std::string_view s);

} // namespace splitmail::relay
