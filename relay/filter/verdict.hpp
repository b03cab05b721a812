#pragma once
// What the scanners' answers mean for one message (issue 18): the reply to DATA when it is
// refused, else the header lines to put in front of it. One pure function, so every mapping
// is a table-driven unit test.
//
// Mapping (the message is refused before the 250, never accepted and then bounced):
//   clamd FOUND                       -> 554 5.7.1 virus <name>
//   rspamd "reject"                   -> 550 5.7.1 (inbound and submission alike)
//   rspamd "soft reject"              -> 451 4.7.1
//   rspamd "greylist"                 -> 451 4.7.1, unless greylist_passed (the greylist store
//                                        says every recipient's triplet waited long enough:
//                                        filter/scan.hpp), then accepted like "no action"
//   rspamd "add header"               -> accepted, X-Spam: Yes
//   rspamd "rewrite subject"          -> accepted, X-Spam: Yes, and the Subject rspamd gives
//                                        (its `subject`) in `edits`
//   rspamd "no action" (or unknown)   -> accepted
//   a scanner that failed (unreachable, timeout, bad answer, clamd ERROR) -> 451 4.7.1 when
//   its on_failure is "tempfail", else accepted with X-Spam-Status / X-Virus-Status
//   "unchecked"; a message over the scanner's max_size is accepted "unchecked" (a tempfail
//   would make it undeliverable for ever).
// A permanent refusal wins over a temporary one. Accepted, scanned messages get
// X-Spam-Status and X-Spamd-Result (score, required score, symbols) plus rspamd's
// milter.add_headers; milter.remove_headers goes into `edits` (every field of those names in
// the sender's header block). The edits are applied by apply_header_edits() to the header
// block as received; the lines in `headers` are ours and never edited.
// Does not: log, or do I/O.
#include "filter/clamd_protocol.hpp"
#include "filter/rspamd_protocol.hpp"

#include "splitmail/smtp/reply.hpp"

#include <optional>
#include <string>
#include <vector>

namespace splitmail::relay::filter {

enum class scan_status {
    off,     // scanner not enabled
    done,    // answered
    skipped, // message over the scanner's max_size
    failed,  // unreachable, timeout, unusable answer
};

struct rspamd_result {
    scan_status status = scan_status::off;
    std::string problem; // failed / skipped: why (log only)
    rspamd_answer answer;
};

struct clamd_result {
    scan_status status = scan_status::off;
    std::string problem;
    clamd_reply reply; // done: clean, found or error
};

struct failure_policy {
    bool rspamd_tempfail = false;
    bool clamd_tempfail = false;
    bool greylist_passed = false; // rspamd's greylist action is answered by the greylist store
};

// Changes rspamd asked for in the sender's header block.
struct header_edits {
    std::vector<std::string> remove;    // field names: every field of each name goes
    std::optional<std::string> subject; // the new Subject value (replaces the field, or added)
    bool empty() const { return remove.empty() && !subject; }
};

struct verdict {
    std::optional<smtp::reply> refusal; // set: the reply to DATA, nothing is queued
    std::string reason;                 // for the log: what decided
    std::string headers;                // accepted: lines (CRLF) to put in front
    header_edits edits;                 // accepted: changes to the sender's header block
};

verdict decide(const rspamd_result& rspamd, const clamd_result& clamd, const failure_policy& p);

// The header block (fields, then the empty line that ends it when there is one) with `e`
// applied: fields named in e.remove dropped (names compared ASCII case-insensitively), the
// first Subject: replaced by e.subject (a later Subject: dropped; added at the end of the
// fields when there was none). The new Subject is one line of text (controls become spaces,
// capped) folded under 78 columns. Everything else is kept octet for octet, line ends included.
std::string apply_header_edits(std::string_view block, const header_edits& e);

// "X-Spamd-Result: default: False [1.20 / 15.00];\r\n\tSYM(0.50);..." folded, CRLF-ended.
std::string spamd_result_header(const rspamd_answer& a, bool spam);

} // namespace splitmail::relay::filter
