#pragma once
// The relay's verdict on an inbound message reaches home inside the message: the relay puts its
// own header fields above its own Received: field (relay/smtp_in/driver.cpp spool_it: the
// scanners' fields, Authentication-Results, Received-SPF, then Received:). Nobody can place a
// field above those (the relay prepends them to whatever it was sent), so home trusts exactly
// the fields before the first Received: and nothing below it: an "X-Spam: Yes" written by the
// sender sits under the relay's Received: and is ignored.
//
// relay_marks reads a message as it streams (any chunking, linear, at most `max_scan` bytes
// looked at and one line buffered) and says whether the relay marked it as junk:
// - "X-Spam: Yes"  (spam_field): rspamd's `add header` / `rewrite subject` action;
// - Authentication-Results with "dmarc=fail" and "policy.dmarc=quarantine": the From: domain
//   asks for quarantine (or for reject, which relay.toml turned into quarantine).
// Does not: decide anything about mail without those fields, or read beyond the first
// Received:, the end of the header or `max_scan` bytes (then it decides on what it saw).
#include <cstddef>
#include <string>
#include <string_view>

namespace splitmail::smtp {

// The relay writes "X-Spam: Yes" (relay/filter/verdict.cpp) and home reads it (this class).
inline constexpr std::string_view spam_field = "X-Spam";

class relay_marks {
public:
    static constexpr std::size_t max_scan = 64 * 1024;

    // The next bytes of the message (unstuffed content as received, CRLF or LF line ends).
    void feed(std::string_view chunk);
    // True once nothing more can change the answer.
    bool decided() const { return done_; }
    // Whether the relay marked the message as junk, and why ("spam", "dmarc quarantine");
    // meaningful once the whole message (or enough of it: decided()) was fed.
    bool junk() const { return !reason_.empty(); }
    const std::string& reason() const { return reason_; }

private:
    void line(std::string_view l);
    void field(std::string_view f);

    std::string partial_; // an unfinished line (never more than max_scan bytes)
    std::string field_;   // the field being read, unfolded
    std::size_t seen_ = 0;
    bool done_ = false;
    std::string reason_;
};

} // namespace splitmail::smtp
