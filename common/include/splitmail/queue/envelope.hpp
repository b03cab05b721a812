#pragma once
// The envelope of a queued message and its JSON form (incoming/<id>.json, deferred/<id>.json).
//
// The envelope is everything the relay knows about a message besides its bytes: the SMTP
// envelope with its DSN parameters (RFC 3461), per-recipient delivery state and the retry
// bookkeeping. It is small and rewritten (write-temp + rename) after every delivery attempt;
// the message file it points to never changes.
//
// Guarantees: to_json/from_json round-trip every field. from_json never throws and rejects
// anything that is not a well-formed envelope (wrong types, unknown enum values, bad id, no
// recipients) with a reason; unknown JSON members are ignored so newer relays can add fields.
//
// Does not: touch the disk (see spool.hpp), validate addresses (the SMTP layer did).
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::queue {

using time_point = std::chrono::system_clock::time_point;

enum class rcpt_state { pending, delivered, failed, deferred };
enum class rcpt_route { home, remote };
enum class ret_type { unspecified, hdrs, full };                              // RFC 3461 4.3 RET=
enum class body_type { unspecified, seven_bit, eight_bit_mime, binary_mime }; // RFC 6152, 3030
enum class queue_name { incoming, deferred, hold };

// RFC 3461 4.1 NOTIFY: "NEVER" or any of SUCCESS, FAILURE, DELAY.
struct dsn_notify {
    bool given = false; // NOTIFY= was present; given with all three false means NEVER
    bool success = false;
    bool failure = false;
    bool delay = false;
    bool operator==(const dsn_notify&) const = default;
};
// Parses the NOTIFY= value (case-insensitive); nullopt if malformed (NEVER combined with
// others, unknown words, empty items).
std::optional<dsn_notify> parse_notify(std::string_view value);
// "" if not given, "NEVER", or a list such as "SUCCESS,FAILURE,DELAY".
std::string to_string(const dsn_notify& n);
// RFC 3461 4.1: without NOTIFY the MTA acts as if FAILURE or FAILURE,DELAY was given; we
// send both kinds of notice.
inline bool wants_failure_notice(const dsn_notify& n) { return !n.given || n.failure; }
inline bool wants_delay_notice(const dsn_notify& n) { return !n.given || n.delay; }

struct recipient {
    std::string address; // forward-path without angle brackets
    std::string orcpt;   // RFC 3461 4.2 ORCPT value as received ("rfc822;a+40b"), "" if none
    dsn_notify notify;
    rcpt_state state = rcpt_state::pending;
    int last_code = 0;         // last SMTP/LMTP reply code, 0 if no attempt yet
    std::string last_enhanced; // "5.1.1"
    std::string last_text;     // reply text (without code), for logs and DSNs
    rcpt_route route = rcpt_route::home;
    bool operator==(const recipient&) const = default;
};

struct envelope {
    std::string id;
    std::string sender; // reverse-path without angle brackets; "" is the null sender <>
    std::vector<recipient> recipients;
    ret_type ret = ret_type::unspecified;
    std::string envid; // RFC 3461 4.4 ENVID as received (xtext), "" if none
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    time_point arrival{};
    int attempts = 0;
    time_point next_attempt{};
    std::string last_error;
    std::string client_ip;
    std::string client_helo;
    std::uint64_t size = 0; // bytes of the message (trace prefix + received bytes)
    bool delay_warned = false;
    // Header lines (Received:, DKIM-Signature:, ...) that go in front of the message file's
    // bytes when the file was streamed (spool::enqueue_file); "" when they are in the file
    // itself (spool::enqueue). spool::read_message() puts them together.
    std::string prefix;
    // Octets at the start of the message file that the prefix replaces (issue 18: the header
    // block edited for rspamd's `rewrite subject` / `milter.remove_headers` goes at the end of
    // the prefix, the file itself is never rewritten); 0 for every other message.
    std::uint64_t file_skip = 0;

    // Where the envelope file lives. Not stored in the JSON: the directory is the truth.
    queue_name queue = queue_name::incoming;

    bool operator==(const envelope&) const = default;
};

std::string to_json(const envelope& e);
std::expected<envelope, std::string> from_json(std::string_view text);

std::string_view to_string(rcpt_state s);
std::string_view to_string(rcpt_route r);
std::string_view to_string(queue_name q); // the directory name
std::optional<rcpt_state> parse_rcpt_state(std::string_view s);
std::optional<rcpt_route> parse_route(std::string_view s);
std::optional<queue_name> parse_queue_name(std::string_view s);

} // namespace splitmail::queue
