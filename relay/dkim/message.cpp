// Header section handling for DKIM; see message.hpp.
#include "dkim/message.hpp"
#include "splitmail/address/address.hpp"

#include "dkim/canon.hpp"

#include <array>
#include <unordered_map>

namespace splitmail::relay::dkim {

namespace {
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// Length of the line starting at `pos`, including its terminator (CRLF or bare LF); the rest
// of the text if it has no terminator.
std::size_t line_length(std::string_view s, std::size_t pos) {
    const auto lf = s.find('\n', pos);
    return lf == std::string_view::npos ? s.size() - pos : lf + 1 - pos;
}

bool is_empty_line(std::string_view line) { return line == "\r\n" || line == "\n"; }

constexpr std::array<std::string_view, 12> fixed_names = {
    "from",       "to",           "cc",           "subject",
    "date",       "message-id",   "reply-to",     "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding"};
} // namespace

bool iequals(std::string_view a, std::string_view b) { return address::iequals_ascii(a, b); }

std::optional<std::size_t> find_body_offset(std::string_view prefix) {
    std::size_t pos = 0;
    while (pos < prefix.size()) {
        const std::size_t len = line_length(prefix, pos);
        const std::string_view line = prefix.substr(pos, len);
        if (line.back() != '\n') return std::nullopt; // incomplete last line
        if (is_empty_line(line)) return pos + len;
        pos += len;
    }
    return std::nullopt;
}

message_view split_message(std::string_view message) {
    const auto body = find_body_offset(message);
    if (!body) return {message, {}};
    const std::size_t blank = *body >= 2 && message[*body - 2] == '\r' ? *body - 2 : *body - 1;
    return {message.substr(0, blank), message.substr(*body)};
}

std::vector<header_field> parse_header(std::string_view header_section) {
    std::vector<header_field> fields;
    std::size_t start = 0;
    std::size_t pos = 0;
    bool open = false;
    auto close = [&](std::size_t end) {
        if (!open) return;
        const std::string_view raw = header_section.substr(start, end - start);
        const std::size_t first_line = line_length(raw, 0);
        const auto colon = raw.substr(0, first_line).find(':');
        std::string_view name;
        if (colon != std::string_view::npos) {
            name = raw.substr(0, colon);
            while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
        }
        fields.push_back({name, raw});
        open = false;
    };
    while (pos < header_section.size()) {
        const std::size_t len = line_length(header_section, pos);
        // RFC 5322 2.2.3: a line starting with WSP continues the field above it.
        if (!(is_wsp(header_section[pos]) && open)) {
            close(pos);
            start = pos;
            open = true;
        }
        pos += len;
    }
    close(pos);
    return fields;
}

std::optional<std::vector<std::string>> headers_to_sign(std::span<const header_field> fields) {
    auto count = [&](std::string_view name) {
        std::size_t n = 0;
        for (const auto& f : fields) n += iequals(f.name, name) ? 1 : 0;
        return n;
    };
    std::vector<std::string> h;
    for (std::string_view name : fixed_names) {
        std::size_t n = count(name);
        if (name == "from") {
            if (n == 0) return std::nullopt;
            ++n; // RFC 6376 8.15: oversign From
        }
        for (std::size_t i = 0; i < n; ++i) h.emplace_back(name);
    }
    // List-Id, List-Unsubscribe, List-Unsubscribe-Post (RFC 8058), ...: each distinct name, in
    // the order first seen, once per instance.
    std::vector<std::string> seen;
    for (const auto& f : fields) {
        if (f.name.size() <= 5 || !iequals(f.name.substr(0, 5), "list-")) continue;
        std::string name;
        for (char c : f.name) name.push_back(address::lower_ascii(c));
        bool dup = false;
        for (const auto& s : seen) dup = dup || s == name;
        if (dup) continue;
        seen.push_back(name);
        for (std::size_t i = 0, n = count(name); i < n; ++i) h.push_back(name);
    }
    return h;
}

namespace {
std::string canonical_field(std::string_view raw, canon mode) {
    if (mode == canon::relaxed) return relaxed_header(raw);
    std::string out(raw); // RFC 6376 3.4.1: unchanged
    if (!out.ends_with("\r\n")) {
        if (out.ends_with('\n')) out.pop_back();
        out += "\r\n"; // a field always ends in one CRLF (the last one may lack its line end)
    }
    return out;
}
} // namespace

std::string header_hash_input(std::span<const header_field> fields, std::span<const std::string> h,
                              std::string_view signature_field, canon mode) {
    std::string out;
    // RFC 6376 5.4.2: repeated names take instances from the bottom of the header up. The
    // instances of each name are indexed once (top-down; the next one to use is the last), so
    // the work is linear in fields + h however a verified signature's h= repeats names.
    std::unordered_map<std::string, std::vector<std::size_t>> by_name;
    for (std::size_t i = 0; i < fields.size(); ++i)
        if (!fields[i].name.empty()) by_name[address::lower_ascii(fields[i].name)].push_back(i);
    for (const auto& name : h) {
        auto it = by_name.find(address::lower_ascii(name));
        if (it == by_name.end() || it->second.empty()) continue;
        out += canonical_field(fields[it->second.back()].raw, mode);
        it->second.pop_back();
    }
    // RFC 6376 3.7: the signature field itself, b= empty, without the trailing CRLF.
    std::string sig = canonical_field(signature_field, mode);
    sig.resize(sig.size() - 2);
    out += sig;
    return out;
}

} // namespace splitmail::relay::dkim
