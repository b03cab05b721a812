// DKIM canonicalization; see canon.hpp.
#include "dkim/canon.hpp"

namespace splitmail::relay::dkim {

namespace {
bool is_wsp(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
} // namespace

std::string relaxed_header(std::string_view field) {
    std::string out;
    out.reserve(field.size() + 2);
    const auto colon = field.find(':');
    const std::string_view name = field.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : field.substr(colon + 1);

    // RFC 6376 3.4.2: lower-case the name; delete WSP before the colon. CR/LF cannot be part of
    // a well-formed name; dropping them keeps the "one CRLF, at the end" guarantee.
    for (char c : name)
        if (c != '\r' && c != '\n') out.push_back(lower(c));
    while (!out.empty() && is_wsp(out.back())) out.pop_back();
    out.push_back(':');

    // RFC 6376 3.4.2: unfold (CRLF removed, the WSP that follows stays), reduce WSP runs to one
    // SP, delete WSP at the end of the value and right after the colon.
    bool wsp = false;
    bool started = false;
    for (char c : value) {
        if (c == '\r' || c == '\n') continue;
        if (is_wsp(c)) {
            wsp = true;
            continue;
        }
        if (wsp && started) out.push_back(' ');
        wsp = false;
        started = true;
        out.push_back(c);
    }
    out += "\r\n";
    return out;
}

namespace {
std::string whole_body(std::string_view body, canon mode) {
    std::string out;
    out.reserve(body.size() + 2);
    body_canonicalizer c(mode);
    auto sink = [&](std::string_view s) { out.append(s); };
    c.update(body, sink);
    c.finish(sink);
    return out;
}
} // namespace

std::string relaxed_body(std::string_view body) { return whole_body(body, canon::relaxed); }
std::string simple_body(std::string_view body) { return whole_body(body, canon::simple); }

void body_canonicalizer::end_line() {
    // RFC 6376 3.4.4 a: WSP at the end of a line is dropped.
    pending_wsp_ = false;
    if (line_has_content_) {
        out_ += "\r\n";
        emitted_ += 2;
    } else {
        // RFC 6376 3.4.4 b: empty lines at the end of the body are ignored. Whether these are
        // at the end is known only when content (or the end) comes: hold them as a count.
        ++held_crlf_;
    }
    line_has_content_ = false;
}

void body_canonicalizer::content(char c) {
    if (held_crlf_ != 0) {
        for (std::uint64_t i = 0; i < held_crlf_; ++i) out_ += "\r\n";
        emitted_ += 2 * held_crlf_;
        held_crlf_ = 0;
    }
    if (pending_wsp_) {
        // RFC 6376 3.4.4 a: a WSP run within a line (leading ones too) becomes one SP.
        out_.push_back(' ');
        ++emitted_;
    }
    pending_wsp_ = false;
    line_has_content_ = true;
    out_.push_back(c);
    ++emitted_;
}

void body_canonicalizer::feed(std::string_view chunk) {
    for (char c : chunk) {
        if (pending_cr_) {
            pending_cr_ = false;
            end_line(); // CRLF, or a bare CR taken as a line end
            if (c == '\n') continue;
        }
        if (c == '\r') {
            pending_cr_ = true;
        } else if (c == '\n') {
            end_line(); // bare LF
        } else if (is_wsp(c) && relaxed_) {
            pending_wsp_ = true;
        } else {
            content(c);
        }
    }
}

void body_canonicalizer::end() {
    if (pending_cr_) {
        pending_cr_ = false;
        end_line();
    }
    // RFC 6376 3.4.4: a non-empty body whose last line lacks CRLF gets one. A line holding only
    // WSP is empty after canonicalization, so it adds nothing.
    if (line_has_content_) end_line();
    held_crlf_ = 0;
    pending_wsp_ = false;
    if (!relaxed_ && emitted_ == 0) {
        // RFC 6376 3.4.3: an empty body (or one of empty lines only) is a single CRLF.
        out_ += "\r\n";
        emitted_ = 2;
    }
}

} // namespace splitmail::relay::dkim
