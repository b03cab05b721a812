// DKIM tag-lists; see dkim/tag_list.hpp.
#include "splitmail/dkim/tag_list.hpp"

#include <utility>

namespace splitmail::dkim {

namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Offsets of `s` within `text` with FWS trimmed on both sides.
std::pair<std::size_t, std::size_t> trim(std::string_view text, std::size_t b, std::size_t e) {
    while (b < e && is_fws(text[b])) ++b;
    while (e > b && is_fws(text[e - 1])) --e;
    return {b, e};
}

// RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC.
bool valid_tag_name(std::string_view n) {
    if (n.empty() || !is_alpha(n[0])) return false;
    for (char c : n)
        if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
    return true;
}

// RFC 6376 3.2: VALCHAR = %x21-3A / %x3C-7E, with FWS between runs.
bool valid_tag_value(std::string_view v) {
    for (char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (!is_fws(c) && (u < 0x21 || u > 0x7e || c == ';')) return false;
    }
    return true;
}

const tag* find(const std::vector<tag>& tags, std::string_view name) {
    for (const auto& t : tags)
        if (t.name == name) return &t;
    return nullptr;
}

} // namespace

std::expected<std::vector<tag>, std::string> parse_tags(std::string_view text) {
    std::vector<tag> tags;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto semi = text.find(';', start);
        const std::size_t end = semi == std::string_view::npos ? text.size() : semi;
        const auto [b, e] = trim(text, start, end);
        if (b == e) {
            // RFC 6376 3.2: only the last tag-spec may be followed by a ';' (nothing after it).
            if (semi != std::string_view::npos) return std::unexpected("empty tag-spec");
            break;
        }
        const auto eq = text.find('=', b);
        if (eq == std::string_view::npos || eq >= e) return std::unexpected("tag without '='");
        const auto [nb, ne] = trim(text, b, eq);
        const auto [vb, ve] = trim(text, eq + 1, e);
        tag t{text.substr(nb, ne - nb), text.substr(vb, ve - vb), eq + 1, end};
        if (!valid_tag_name(t.name))
            return std::unexpected("bad tag name \"" + std::string(t.name.substr(0, 32)) + "\"");
        if (!valid_tag_value(t.value))
            return std::unexpected("bad character in the value of " + std::string(t.name));
        if (find(tags, t.name)) return std::unexpected("duplicate tag " + std::string(t.name));
        if (tags.size() == max_tags) return std::unexpected("too many tags");
        tags.push_back(t);
        if (semi == std::string_view::npos) break;
        start = semi + 1;
    }
    return tags;
}

} // namespace splitmail::dkim
