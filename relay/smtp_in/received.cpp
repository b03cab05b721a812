// The trace header a message gets at the relay (RFC 5321 4.4) and the in-memory message sink
// for tests; see session.hpp (delivery::received_header, memory_sink).
#include "smtp_in/session.hpp"
#include "splitmail/smtp/date.hpp"

namespace splitmail::relay {
namespace {

// Client-supplied text placed in a header: keep what a domain / literal needs, nothing that
// could end a clause (";"), open a comment or fold a line.
std::string header_safe(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 255)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        out += ok ? c : '_';
    }
    return out.empty() ? "unknown" : out;
}

// The authenticated user inside a comment: printable ASCII without what would end the comment
// or quote (RFC 5322 3.2.2 ctext).
std::string comment_safe(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 255))
        out += (c > ' ' && c < 127 && c != '(' && c != ')' && c != '\\') ? c : '_';
    return out;
}

} // namespace

std::string delivery::received_header(std::string_view queue_id) const {
    // RFC 5321 4.4: "Received:" FWS "from" ... "by" ... "with" protocol "id" ... "for" ...;
    // the TLS comment follows Postfix's layout so existing tools recognise it.
    std::string ip = envelope.client_ip.find(':') != std::string::npos
                         ? "IPv6:" + envelope.client_ip
                         : envelope.client_ip;
    std::string h;
    // Issue 11: name the authenticated user as Postfix's smtpd_sasl_authenticated_header does,
    // so an abuse report identifies the account (submission.received_auth_user).
    const std::string who = show_auth_user && !auth_user.empty()
                                ? "(Authenticated sender: " + comment_safe(auth_user) + ")"
                                : std::string("(authenticated sender)");
    if (hide_client)
        // Issue 3: a submission's trace names neither the client's address nor its HELO
        // (often a private name or address); RFC 5321 4.4 makes the from clause optional.
        h = "Received: " + who + "\r\n";
    else {
        h = "Received: from " + header_safe(envelope.client_helo) + " (" +
            (client_host.empty() ? std::string("unknown") : header_safe(client_host)) + " [" +
            header_safe(ip) + "])\r\n";
        if (show_auth_user && !auth_user.empty()) h += "\t" + who + "\r\n";
    }
    if (tls)
        h += "\t(using " + header_safe(tls->version) + " with cipher " + header_safe(tls->cipher) +
             ")\r\n";
    h += "\tby " + hostname + " (splitmail) with " + protocol;
    if (!queue_id.empty()) h += " id " + std::string(queue_id);
    // RFC 5321 4.4: "for" only with a single recipient, so one copy never lists the others.
    if (envelope.recipients.size() == 1) h += "\r\n\tfor <" + envelope.recipients[0].address + ">";
    h += "; " + smtp::rfc5322_date(envelope.arrival) + "\r\n";
    return h;
}

void memory_sink::begin() {
    if (open) contract_broken = true; // the previous message was neither delivered nor aborted
    open = true;
    header_seen_ = false;
    message.clear();
    header_block.clear();
    body_calls = 0;
}

void memory_sink::header(std::string_view block) {
    if (!open || header_seen_) contract_broken = true;
    header_seen_ = true;
    header_block = block;
    message += block;
}

void memory_sink::body(std::string_view chunk) {
    if (!open || !header_seen_) contract_broken = true;
    ++body_calls;
    message += chunk;
}

void memory_sink::abort() {
    if (!open) contract_broken = true;
    open = false;
    ++aborts;
    message.clear();
}

} // namespace splitmail::relay
