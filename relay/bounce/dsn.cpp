// RFC 3464 delivery status notifications: see dsn.hpp.
#include "bounce/dsn.hpp"
#include "splitmail/smtp/date.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace splitmail::relay {

namespace {

constexpr const char* crlf = "\r\n";

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Text that goes into a header field or a DSN field: one line, no control characters.
std::string one_line(std::string_view s) {
    std::string out;
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    return out;
}

// The header block of a message: everything up to (not including) the first empty line.
std::string_view header_block(std::string_view msg) {
    if (msg.starts_with("\r\n")) return {};
    auto end = msg.find("\r\n\r\n");
    if (end == std::string_view::npos) return msg;
    return msg.substr(0, end + 2);
}

std::string ensure_crlf_end(std::string_view s) {
    std::string out(s);
    if (!out.empty() && !out.ends_with("\r\n")) out += crlf;
    return out;
}

// RFC 3464 2.3.1 / RFC 6533 3: "rfc822; addr", or "utf-8; addr" for UTF-8 addresses.
std::string typed_address(std::string_view addr) {
    return std::string(is_ascii(addr) ? "rfc822; " : "utf-8; ") + one_line(addr);
}

// ORCPT "rfc822;a+2Bb@x" -> "rfc822; a+b@x" (xtext decoded, RFC 3461 4.2).
std::string original_recipient(std::string_view orcpt) {
    auto semi = orcpt.find(';');
    if (semi == std::string_view::npos) return one_line(xtext_decode(orcpt));
    return one_line(orcpt.substr(0, semi)) + "; " + one_line(xtext_decode(orcpt.substr(semi + 1)));
}

std::string status_of(const queue::recipient& r, dsn_kind kind) {
    if (!r.last_enhanced.empty()) {
        // RFC 3464 2.3.4: the class must match the action (failed: 5, delayed: 4).
        char cls = kind == dsn_kind::failure ? '5' : '4';
        if (r.last_enhanced[0] == cls) return r.last_enhanced;
        return std::string(1, cls) + r.last_enhanced.substr(1);
    }
    return kind == dsn_kind::failure ? "5.0.0" : "4.0.0";
}

std::string reply_text(const queue::recipient& r) {
    std::string s;
    if (r.last_code != 0) s += std::to_string(r.last_code) + " ";
    if (!r.last_enhanced.empty()) s += r.last_enhanced + " ";
    s += one_line(r.last_text);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

} // namespace

std::string xtext_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1; // RFC 3461 4: upper-case hex only
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+' && i + 2 < s.size()) {
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

bool dsn_encloses_full(const queue::envelope& env, dsn_kind kind) {
    return kind == dsn_kind::failure && env.ret == queue::ret_type::full;
}

std::string_view dsn_header_block(std::string_view msg) { return header_block(msg); }

std::optional<dsn_frame> make_dsn_frame(const queue::envelope& env, dsn_kind kind,
                                        const dsn_options& opt, bool original_eight_bit,
                                        const std::function<bool(std::string_view)>& taken) {
    // RFC 5321 4.5.5: never send a notice about a message from the null reverse-path.
    if (env.sender.empty()) return std::nullopt;

    std::vector<const queue::recipient*> rcpts;
    for (const auto& r : env.recipients) {
        if (!opt.only.empty() &&
            std::find(opt.only.begin(), opt.only.end(), r.address) == opt.only.end())
            continue;
        const bool state_fits =
            kind == dsn_kind::failure
                ? r.state == queue::rcpt_state::failed
                : (r.state == queue::rcpt_state::pending || r.state == queue::rcpt_state::deferred);
        // RFC 3461 4.1: NOTIFY decides which notices the sender wants for this recipient.
        const bool wanted = kind == dsn_kind::failure ? queue::wants_failure_notice(r.notify)
                                                      : queue::wants_delay_notice(r.notify);
        if (state_fits && wanted) rcpts.push_back(&r);
    }
    if (rcpts.empty()) return std::nullopt;

    dsn_frame f;
    dsn_message& out = f.meta;
    out.recipient = env.sender;
    bool utf8 = !is_ascii(env.sender);
    for (const auto* r : rcpts) {
        out.reported.push_back(r->address);
        if (!is_ascii(r->address)) utf8 = true;
    }
    out.smtputf8 = utf8;

    const std::string host = one_line(opt.reporting_mta);
    const bool full = dsn_encloses_full(env, kind);

    // A boundary that cannot occur in the enclosed message (RFC 2046 5.1.1). The candidates
    // are capped (each may cost a pass over the original); the last one carries the time in
    // milliseconds, which a sender cannot have known when the message was written.
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.now.time_since_epoch()).count();
    std::string boundary = "=_splitmail_" + env.id;
    for (int n = 1; taken(boundary); ++n) {
        if (n == 16) {
            boundary = "=_splitmail_" + env.id + "_" + std::to_string(ms) + "_z";
            break;
        }
        boundary = "=_splitmail_" + env.id + "_" + std::to_string(n);
    }

    std::string d;
    auto line = [&d](std::string_view s) {
        d += s;
        d += crlf;
    };

    // Header of the notice.
    line("From: Mail Delivery System <MAILER-DAEMON@" + host + ">");
    line("To: <" + one_line(env.sender) + ">");
    line(kind == dsn_kind::failure ? "Subject: Undelivered Mail Returned to Sender"
                                   : "Subject: Delayed Mail (still being retried)");
    line("Date: " + smtp::rfc5322_date(opt.now));
    line("Message-ID: <" + env.id + "." + std::to_string(ms) + ".dsn@" + host + ">");
    line("Auto-Submitted: auto-replied"); // RFC 3834 5
    line("MIME-Version: 1.0");
    line("Content-Type: multipart/report; report-type=delivery-status;");
    line("\tboundary=\"" + boundary + "\"");
    line("");
    line("This is a MIME-encapsulated delivery status notification.");
    line("");

    // 1. Human-readable part.
    line("--" + boundary);
    line(std::string("Content-Type: text/plain; charset=") + (utf8 ? "utf-8" : "us-ascii"));
    line("Content-Description: Notification");
    line("");
    line("This is the mail system at host " + host + ".");
    line("");
    if (kind == dsn_kind::failure) {
        line("Your message could not be delivered to one or more recipients.");
        line(full ? "It is attached below." : "Its header is attached below.");
    } else {
        line("Your message has not yet been delivered to the recipients below.");
        line("The mail system will keep trying until " + smtp::rfc5322_date(opt.will_retry_until) +
             ".");
        line("You do not need to send it again.");
    }
    line("");
    for (const auto* r : rcpts) {
        const std::string why = reply_text(*r);
        line("<" + one_line(r->address) + ">" + (why.empty() ? "" : ": " + why));
    }
    line("");

    // 2. Machine-readable part (RFC 3464 2.1: per-message fields, then per-recipient blocks).
    line("--" + boundary);
    line(utf8 ? "Content-Type: message/global-delivery-status"
              : "Content-Type: message/delivery-status");
    line("Content-Description: Delivery report");
    line("");
    line("Reporting-MTA: dns; " + host);
    if (!env.envid.empty()) line("Original-Envelope-Id: " + one_line(xtext_decode(env.envid)));
    line("Arrival-Date: " + smtp::rfc5322_date(env.arrival));
    for (const auto* r : rcpts) {
        line("");
        line("Final-Recipient: " + typed_address(r->address));
        if (!r->orcpt.empty()) line("Original-Recipient: " + original_recipient(r->orcpt));
        line(kind == dsn_kind::failure ? "Action: failed" : "Action: delayed");
        line("Status: " + status_of(*r, kind));
        if (r->last_code != 0) line("Diagnostic-Code: smtp; " + reply_text(*r));
        if (env.attempts > 0) line("Last-Attempt-Date: " + smtp::rfc5322_date(opt.now));
        if (kind == dsn_kind::delay)
            line("Will-Retry-Until: " + smtp::rfc5322_date(opt.will_retry_until));
    }
    line("");

    // 3. The original message or its header (RFC 3462 / 6522 and RFC 3461 4.3).
    line("--" + boundary);
    if (full) {
        line(utf8 ? "Content-Type: message/global" : "Content-Type: message/rfc822");
        line("Content-Description: Undelivered Message");
    } else {
        line(utf8 ? "Content-Type: message/global-headers" : "Content-Type: text/rfc822-headers");
        line(kind == dsn_kind::failure ? "Content-Description: Undelivered Message Headers"
                                       : "Content-Description: Delayed Message Headers");
    }
    if (original_eight_bit) line("Content-Transfer-Encoding: 8bit");
    line("");
    f.head = std::move(d);
    f.tail = std::string(crlf) + "--" + boundary + "--" + crlf;
    out.eight_bit = original_eight_bit || !is_ascii(f.head) || !is_ascii(f.tail);
    return f;
}

std::optional<dsn_message> make_dsn(const queue::envelope& env, std::string_view message,
                                    dsn_kind kind, const dsn_options& opt) {
    const std::string_view original =
        dsn_encloses_full(env, kind) ? message : header_block(message);
    auto f = make_dsn_frame(env, kind, opt, !is_ascii(original), [original](std::string_view b) {
        return original.find(b) != std::string_view::npos;
    });
    if (!f) return std::nullopt;
    dsn_message out = std::move(f->meta);
    out.data = std::move(f->head);
    out.data += ensure_crlf_end(original);
    out.data += f->tail;
    return out;
}

queue::envelope make_notice_envelope(const dsn_message& dsn, std::string id, sys_time now) {
    queue::envelope e;
    e.id = std::move(id);
    e.sender = ""; // RFC 5321 4.5.5: null reverse-path
    queue::recipient r;
    r.address = dsn.recipient;
    r.notify.given = true; // NEVER (RFC 3461 6.2: no notices about notices)
    r.route = queue::rcpt_route::remote;
    e.recipients.push_back(std::move(r));
    e.body = dsn.eight_bit ? queue::body_type::eight_bit_mime : queue::body_type::seven_bit;
    e.smtputf8 = dsn.smtputf8;
    e.arrival = now;
    e.next_attempt = now;
    e.size = dsn.data.size(); // a streamed notice: the spool sets it from the file
    return e;
}

} // namespace splitmail::relay
