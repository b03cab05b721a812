// Reads the relay's verdict from the fields above its Received:; see relay_marks.hpp.
#include "splitmail/smtp/relay_marks.hpp"

#include <algorithm>

namespace splitmail::smtp {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::ranges::equal(a, b, [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// "Name:" with optional white space before the colon (RFC 5322 4.5.3 obsolete syntax).
bool split_field(std::string_view f, std::string_view& name, std::string_view& value) {
    auto colon = f.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    name = trim(f.substr(0, colon));
    value = trim(f.substr(colon + 1));
    return !name.empty();
}

bool starts_received(std::string_view l) {
    std::string_view name, value;
    return split_field(l, name, value) && iequals(name, "Received");
}

} // namespace

void relay_marks::feed(std::string_view chunk) {
    while (!done_ && !chunk.empty()) {
        auto nl = chunk.find('\n');
        auto take = nl == std::string_view::npos ? chunk.size() : nl + 1;
        if (seen_ + take > max_scan) { // decide on what was seen (the field so far counts)
            done_ = true;
            field(field_);
            return;
        }
        seen_ += take;
        if (nl == std::string_view::npos) {
            partial_.append(chunk);
            return;
        }
        std::string_view l = chunk.substr(0, nl);
        chunk.remove_prefix(take);
        if (!partial_.empty()) {
            partial_.append(l);
            std::string whole = std::move(partial_);
            partial_.clear();
            line(whole);
        } else {
            line(l);
        }
    }
}

void relay_marks::line(std::string_view l) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) { // the end of the header
        field(field_);
        done_ = true;
        return;
    }
    if (l.front() == ' ' || l.front() == '\t') { // folded: part of the field being read
        field_ += ' ';
        field_.append(trim(l));
        return;
    }
    field(field_);
    field_.clear();
    if (starts_received(l)) { // the relay's own trace field: what follows is not the relay's
        done_ = true;
        return;
    }
    field_.assign(l);
}

void relay_marks::field(std::string_view f) {
    std::string_view name, value;
    if (f.empty() || !reason_.empty() || !split_field(f, name, value)) return;
    if (iequals(name, spam_field) && iequals(value, "yes")) {
        reason_ = "spam";
        return;
    }
    if (iequals(name, "Authentication-Results")) {
        std::string v(value);
        std::ranges::transform(v, v.begin(), lower);
        if (v.find("dmarc=fail") != std::string::npos &&
            v.find("policy.dmarc=quarantine") != std::string::npos)
            reason_ = "dmarc quarantine";
    }
}

} // namespace splitmail::smtp
