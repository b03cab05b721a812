// Mailbox parsing: see address.hpp for what is guaranteed.
#include "splitmail/address/address.hpp"

#include <arpa/inet.h>

#include <cstdint>

namespace splitmail::address {
namespace {

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 5321 4.1.2 qtextSMTP (+ UTF8-non-ascii, RFC 6531).
bool is_qtext(unsigned char c) {
    return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80;
}

bool fail(parse_info* info, const char* why) {
    if (info) info->error = why;
    return false;
}

bool valid_ipv4(std::string_view s) {
    // RFC 5321 4.1.3: IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT (0-255).
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        int value = 0;
        while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && i - start < 3) {
            value = value * 10 + (s[i] - '0');
            ++i;
        }
        if (i == start || value > 255) return false;
        ++parts;
        if (i == s.size()) break;
        if (s[i] != '.' || parts == 4) return false;
        ++i;
    }
    return parts == 4;
}

} // namespace

bool is_atext(unsigned char c) {
    if (is_alpha(c) || is_digit(c) || c >= 0x80) return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~': return true;
    default: return false;
    }
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower_ascii(c);
    return out;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    return true;
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return false;
            ++i;
            continue;
        }
        std::size_t n;
        std::uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else
            return false;
        if (i + n >= s.size()) return false; // truncated sequence
        for (std::size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool valid_domain(std::string_view d, bool* utf8) {
    // RFC 5321 4.1.2: Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str].
    // RFC 1035 2.3.4: labels <= 63 octets, names <= 255.
    if (d.empty() || d.size() > max_domain) return false;
    bool non_ascii = false;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i == d.size() || d[i] == '.') {
            std::size_t len = i - label_start;
            if (len == 0 || len > 63) return false;
            if (d[label_start] == '-' || d[i - 1] == '-') return false;
            label_start = i + 1;
            continue;
        }
        auto c = static_cast<unsigned char>(d[i]);
        if (c >= 0x80)
            non_ascii = true;
        else if (!is_alpha(c) && !is_digit(c) && c != '-')
            return false;
    }
    if (non_ascii && !valid_utf8(d)) return false;
    if (utf8) *utf8 = non_ascii;
    return true;
}

bool valid_address_literal(std::string_view lit) {
    if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') return false;
    std::string_view inner = lit.substr(1, lit.size() - 2);
    if (inner.size() > 5 && lower_ascii(inner.substr(0, 5)) == "ipv6:") {
        // RFC 5321 4.1.3 IPv6-address-literal; inet_pton implements RFC 4291 2.2 text forms.
        std::string text(inner.substr(5));
        // inet_pton stops at a NUL: check the alphabet first so nothing can hide behind one.
        if (text.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return false;
        unsigned char buf[16];
        return text.size() <= 45 && inet_pton(AF_INET6, text.c_str(), buf) == 1;
    }
    return valid_ipv4(inner);
}

bool local_part_needs_quoting(std::string_view local) {
    // Dot-string = Atom *("." Atom)
    if (local.empty() || local.front() == '.' || local.back() == '.') return true;
    for (std::size_t i = 0; i < local.size(); ++i) {
        auto c = static_cast<unsigned char>(local[i]);
        if (c == '.') {
            if (local[i - 1] == '.') return true;
        } else if (!is_atext(c)) {
            return true;
        }
    }
    return false;
}

std::string quote_local_part(std::string_view local) {
    if (!local_part_needs_quoting(local)) return std::string(local);
    std::string out = "\"";
    for (char c : local) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::string mailbox::canonical() const {
    if (domain.empty()) return lower_ascii(local);
    return lower_ascii(local) + "@" + domain;
}

std::string mailbox::to_string() const {
    if (domain.empty()) return quote_local_part(local);
    return quote_local_part(local) + "@" + domain;
}

bool is_routing_trap(const mailbox& m) {
    // RFC 5321 3.6.1 / Appendix C: '%'-hack, UUCP bang paths and quoted '@' must never route.
    return m.local.find_first_of("%!@") != std::string::npos;
}

std::optional<mailbox> parse_mailbox(std::string_view text, parse_info* info) {
    parse_info local_info;
    parse_info& pi = info ? *info : local_info;
    pi = parse_info{};
    mailbox m;
    std::size_t i = 0;
    if (text.empty()) return fail(&pi, "empty address"), std::nullopt;
    if (text[0] == '"') {
        // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP = "\" %d32-126
        pi.quoted = true;
        i = 1;
        bool closed = false;
        while (i < text.size()) {
            auto c = static_cast<unsigned char>(text[i]);
            if (c == '"') {
                closed = true;
                ++i;
                break;
            }
            if (c == '\\') {
                if (i + 1 >= text.size()) break;
                auto q = static_cast<unsigned char>(text[i + 1]);
                if (q < 32 || q > 126) return fail(&pi, "bad quoted-pair"), std::nullopt;
                m.local += static_cast<char>(q);
                i += 2;
                continue;
            }
            if (!is_qtext(c)) return fail(&pi, "bad character in quoted local part"), std::nullopt;
            m.local += static_cast<char>(c);
            ++i;
        }
        if (!closed) return fail(&pi, "unterminated quoted local part"), std::nullopt;
    } else {
        std::size_t start = 0;
        while (i < text.size() && text[i] != '@') {
            auto c = static_cast<unsigned char>(text[i]);
            if (c == '.') {
                if (i == start || text[i - 1] == '.')
                    return fail(&pi, "empty atom in local part"), std::nullopt;
            } else if (!is_atext(c)) {
                return fail(&pi, "bad character in local part"), std::nullopt;
            }
            ++i;
        }
        if (i == start) return fail(&pi, "empty local part"), std::nullopt;
        if (text[i - 1] == '.') return fail(&pi, "local part ends with '.'"), std::nullopt;
        m.local = std::string(text.substr(0, i));
    }
    if (m.local.size() > max_local_part) return fail(&pi, "local part too long"), std::nullopt;
    if (i >= text.size() || text[i] != '@') return fail(&pi, "missing '@'"), std::nullopt;
    ++i;
    std::string_view dom = text.substr(i);
    if (dom.empty()) return fail(&pi, "empty domain"), std::nullopt;
    if (dom.front() == '[') {
        if (!valid_address_literal(dom)) return fail(&pi, "bad address literal"), std::nullopt;
        pi.address_literal = true;
    } else {
        bool utf8_dom = false;
        if (!valid_domain(dom, &utf8_dom)) return fail(&pi, "bad domain"), std::nullopt;
        if (utf8_dom) pi.utf8 = true;
    }
    m.domain = lower_ascii(dom);
    if (!is_ascii(m.local)) {
        if (!valid_utf8(m.local)) return fail(&pi, "invalid UTF-8 in local part"), std::nullopt;
        pi.utf8 = true;
    }
    return m;
}

} // namespace splitmail::address
