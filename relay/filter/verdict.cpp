// What the scanners' answers mean for one message; see verdict.hpp.
#include "filter/verdict.hpp"

#include "dkim/message.hpp"

#include "splitmail/smtp/relay_marks.hpp"

#include <algorithm>
#include <cstdio>

namespace splitmail::relay::filter {
namespace {

constexpr std::size_t max_value = 900; // stays under RFC 5322 2.1.1's 998 even unfolded
constexpr std::size_t header_symbols = 100;

// RFC 5322 3.6.8: field-name = 1*ftext (printable US-ASCII except ":").
bool valid_field_name(std::string_view n) {
    if (n.empty() || n.size() > 76) return false;
    return std::ranges::all_of(n, [](char c) { return c > ' ' && c < 127 && c != ':'; });
}

// One line of unstructured text: controls (line breaks included) become spaces, runs of
// white space one space; capped.
std::string flat_value(std::string_view v) {
    std::string out;
    bool space = false;
    for (char c : v) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ' ') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
        if (out.size() >= max_value) break;
    }
    return out;
}

// "Name: value\r\n" folded at spaces before column 78 (RFC 5322 2.2.3).
std::string field(std::string_view name, std::string_view value) {
    std::string out(name);
    out += ':';
    std::size_t col = out.size();
    std::size_t i = 0;
    while (i < value.size()) {
        auto sp = value.find(' ', i);
        auto word = value.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
        i = sp == std::string_view::npos ? value.size() : sp + 1;
        if (word.empty()) continue;
        if (col + 1 + word.size() > 78 && col > name.size() + 1) {
            out += "\r\n\t";
            col = 1;
        } else {
            out += ' ';
            ++col;
        }
        out += word;
        col += word.size();
    }
    return out + "\r\n";
}

std::string fixed2(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

// A symbol name as rspamd prints them: letters, digits, "_", "-", ".".
std::string symbol_name(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 64)) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        out += ok ? c : '_';
    }
    return out;
}

smtp::reply tempfail(std::string_view text) { return smtp::make_reply(451, "4.7.1", text); }

bool is_spam_action(std::string_view a) { return a == "add header" || a == "rewrite subject"; }

// Accepted after rspamd answered: the score headers and rspamd's own additions.
void score_headers(const rspamd_answer& a, verdict& v) {
    const bool spam = is_spam_action(a.action);
    // Home files the message into Junk on this field (splitmail/smtp/relay_marks.hpp).
    if (spam) v.headers += std::string(smtp::spam_field) + ": Yes\r\n";
    v.headers +=
        field("X-Spam-Status", std::string(spam ? "Yes" : "No") + ", score=" + fixed2(a.score) +
                                   " required=" + fixed2(a.required_score) +
                                   " action=" + symbol_name(a.action));
    v.headers += spamd_result_header(a, spam);
    for (const auto& h : a.add_headers) {
        if (!valid_field_name(h.name)) continue;
        v.headers += field(h.name, flat_value(h.value));
    }
    v.edits.remove = a.remove_headers;
    if (a.action == "rewrite subject" && !a.subject.empty()) v.edits.subject = a.subject;
}

} // namespace

std::string spamd_result_header(const rspamd_answer& a, bool spam) {
    auto symbols = a.symbols;
    std::ranges::sort(symbols, {}, &rspamd_symbol::name);
    std::string value = "default: " + std::string(spam ? "True" : "False") + " [" +
                        fixed2(a.score) + " / " + fixed2(a.required_score) + "]";
    std::size_t n = 0;
    for (const auto& s : symbols) {
        if (++n > header_symbols) break;
        value += "; " + symbol_name(s.name) + "(" + fixed2(s.score) + ")";
    }
    // One symbol per word: folding keeps each line short without splitting a symbol.
    return field("X-Spamd-Result", value);
}

std::string apply_header_edits(std::string_view block, const header_edits& e) {
    if (e.empty()) return std::string(block);
    const auto header = dkim::split_message(block).header;
    std::string out;
    out.reserve(block.size() + (e.subject ? e.subject->size() + 16 : 0));
    bool subject_done = false;
    auto removed = [&e](std::string_view name) {
        return std::ranges::any_of(e.remove,
                                   [name](const std::string& r) { return dkim::iequals(r, name); });
    };
    for (const auto& f : dkim::parse_header(header)) {
        if (e.subject && dkim::iequals(f.name, "Subject")) {
            if (!subject_done) out += field("Subject", flat_value(*e.subject));
            subject_done = true;
            continue;
        }
        if (!f.name.empty() && removed(f.name)) continue;
        out += f.raw;
    }
    if (e.subject && !subject_done) {
        // A last field without its line end (a message that is all header) gets one first.
        if (!out.empty() && out.back() != '\n') out += "\r\n";
        out += field("Subject", flat_value(*e.subject));
    }
    out += block.substr(header.size());
    return out;
}

verdict decide(const rspamd_result& rspamd, const clamd_result& clamd, const failure_policy& p) {
    verdict v;
    const bool clamd_found =
        clamd.status == scan_status::done && clamd.reply.status == clamd_reply::kind::found;
    // An ERROR reply (e.g. clamd's size limit) is a failure of the scan, not a verdict.
    const bool clamd_failed =
        clamd.status == scan_status::failed ||
        (clamd.status == scan_status::done && clamd.reply.status == clamd_reply::kind::error);
    const std::string_view action =
        rspamd.status == scan_status::done ? std::string_view(rspamd.answer.action) : "";
    // Permanent refusals first.
    if (clamd_found) {
        v.refusal = smtp::make_reply(554, "5.7.1",
                                     "virus " + clamd.reply.detail +
                                         " found, "
                                         "message refused");
        v.reason = "clamd: virus " + clamd.reply.detail;
        return v;
    }
    if (action == "reject") {
        v.refusal = smtp::make_reply(550, "5.7.1", "Message refused as spam");
        v.reason = "rspamd: reject, score " + fixed2(rspamd.answer.score);
        return v;
    }
    if (action == "soft reject") {
        v.refusal = tempfail("Message deferred, try again later");
        v.reason = "rspamd: soft reject";
        return v;
    }
    if (action == "greylist" && !p.greylist_passed) {
        v.refusal = tempfail("Greylisted, try again later");
        v.reason = "rspamd: greylist";
        return v;
    }
    if (clamd_failed && p.clamd_tempfail) {
        v.refusal = tempfail("Virus scanner unavailable, try again later");
        v.reason = "clamd failed (on_failure = tempfail)";
        return v;
    }
    if (rspamd.status == scan_status::failed && p.rspamd_tempfail) {
        v.refusal = tempfail("Spam scanner unavailable, try again later");
        v.reason = "rspamd failed (on_failure = tempfail)";
        return v;
    }
    // Accepted.
    if (rspamd.status == scan_status::done)
        score_headers(rspamd.answer, v);
    else if (rspamd.status == scan_status::skipped)
        v.headers += "X-Spam-Status: unchecked (too large)\r\n";
    else if (rspamd.status == scan_status::failed)
        v.headers += "X-Spam-Status: unchecked\r\n";
    if (clamd.status == scan_status::done && !clamd_failed)
        v.headers += "X-Virus-Status: Clean\r\n";
    else if (clamd.status == scan_status::skipped)
        v.headers += "X-Virus-Status: unchecked (too large)\r\n";
    else if (clamd_failed)
        v.headers += "X-Virus-Status: unchecked\r\n";
    return v;
}

} // namespace splitmail::relay::filter
