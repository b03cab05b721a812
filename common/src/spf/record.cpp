#include "splitmail/spf/record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace splitmail::spf {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

// RFC 7208 12: toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" )
// alphanum ), i.e. letters, digits and inner hyphens, not all digits.
bool is_toplabel(std::string_view l) {
    if (l.empty() || !is_alnum(l.front()) || !is_alnum(l.back())) return false;
    bool alpha = false, hyphen = false;
    for (char c : l) {
        if (is_alpha(c))
            alpha = true;
        else if (c == '-')
            hyphen = true;
        else if (!is_digit(c))
            return false;
    }
    return alpha || hyphen;
}

// A CIDR length: "0" or a number without leading zero, at most `max`.
std::optional<unsigned> parse_cidr(std::string_view s, unsigned max) {
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
}

std::expected<macro_string, std::string> parse_domain_spec(std::string_view text) {
    if (text.empty()) return std::unexpected("empty domain-spec");
    auto m = parse_macro_string(text, macro_syntax::domain_spec);
    if (!m) return m;
    // domain-end = ( "." toplabel [ "." ] ) / macro-expand: the trailing literal decides.
    // "%%", "%_" and "%-" are macro-expands too (stored as literals): find whether the text
    // ends with one. The text parsed, so every '%' starts a well-formed escape or macro.
    bool ends_in_macro = false;
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] != '%') {
            ends_in_macro = false;
            ++i;
            continue;
        }
        ends_in_macro = true;
        i = text[i + 1] == '{' ? text.find('}', i) + 1 : i + 2;
    }
    if (ends_in_macro) return m;
    std::string_view tail = m->back().literal;
    if (tail.ends_with('.')) tail.remove_suffix(1);
    auto dot = tail.rfind('.');
    if (dot == std::string_view::npos) {
        // The whole literal is the last label: there must be a macro before it and a dot.
        return std::unexpected("domain-spec \"" + std::string(text) +
                               "\" does not end in a top-level label");
    }
    if (!is_toplabel(tail.substr(dot + 1)))
        return std::unexpected("domain-spec \"" + std::string(text) +
                               "\" does not end in a valid top-level label");
    return m;
}

std::expected<mechanism, std::string> parse_directive(std::string_view term) {
    mechanism mech;
    mech.text = std::string(term);
    auto fail = [&](std::string why) -> std::expected<mechanism, std::string> {
        return std::unexpected("term \"" + mech.text + "\": " + why);
    };
    if (!term.empty() && (term[0] == '+' || term[0] == '-' || term[0] == '~' || term[0] == '?')) {
        mech.q = static_cast<qualifier>(term[0]);
        term.remove_prefix(1);
    }
    std::size_t n = 0;
    while (n < term.size() && is_alnum(term[n])) ++n;
    std::string_view name = term.substr(0, n);
    std::string_view rest = term.substr(n);

    // Splits a trailing dual-cidr-length off `arg` (a, mx): [ "/" ip4 ] [ "//" ip6 ]. Only a
    // '/' followed by digits up to the end starts one: "a:foo/bar.example.com" is a domain
    // (macro-literal admits '/').
    auto all_digits = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
    };
    auto take_cidrs = [&](std::string_view& arg) -> bool {
        auto dd = arg.rfind("//");
        if (dd != std::string_view::npos && all_digits(arg.substr(dd + 2))) {
            auto v = parse_cidr(arg.substr(dd + 2), 128);
            if (!v) return false;
            mech.cidr6 = *v;
            arg = arg.substr(0, dd);
        }
        auto s = arg.rfind('/');
        if (s != std::string_view::npos && all_digits(arg.substr(s + 1))) {
            auto v = parse_cidr(arg.substr(s + 1), 32);
            if (!v) return false;
            mech.cidr4 = *v;
            arg = arg.substr(0, s);
        }
        return true;
    };

    if (iequals(name, "all")) {
        if (!rest.empty()) return fail("\"all\" takes no argument");
        mech.kind = mechanism_kind::all;
        return mech;
    }
    if (iequals(name, "include") || iequals(name, "exists")) {
        mech.kind = iequals(name, "include") ? mechanism_kind::include : mechanism_kind::exists;
        if (!rest.starts_with(':')) return fail("needs \":domain\"");
        auto d = parse_domain_spec(rest.substr(1));
        if (!d) return fail(d.error());
        mech.domain = std::move(*d);
        return mech;
    }
    if (iequals(name, "a") || iequals(name, "mx")) {
        mech.kind = iequals(name, "a") ? mechanism_kind::a : mechanism_kind::mx;
        if (!rest.empty() && rest[0] != ':' && rest[0] != '/') return fail("unknown mechanism");
        if (!take_cidrs(rest)) return fail("invalid CIDR length");
        if (rest.starts_with(':')) {
            auto d = parse_domain_spec(rest.substr(1));
            if (!d) return fail(d.error());
            mech.domain = std::move(*d);
        } else if (!rest.empty()) {
            return fail("invalid CIDR length");
        }
        return mech;
    }
    if (iequals(name, "ptr")) {
        mech.kind = mechanism_kind::ptr;
        if (rest.starts_with(':')) {
            auto d = parse_domain_spec(rest.substr(1));
            if (!d) return fail(d.error());
            mech.domain = std::move(*d);
        } else if (!rest.empty()) {
            return fail("unknown mechanism");
        }
        return mech;
    }
    if (iequals(name, "ip4") || iequals(name, "ip6")) {
        bool v6 = iequals(name, "ip6");
        mech.kind = v6 ? mechanism_kind::ip6 : mechanism_kind::ip4;
        if (!rest.starts_with(':')) return fail("needs \":address\"");
        rest.remove_prefix(1);
        auto s = rest.find('/');
        std::string addr(rest.substr(0, s));
        if (s != std::string_view::npos) {
            auto v = parse_cidr(rest.substr(s + 1), v6 ? 128 : 32);
            if (!v) return fail("invalid CIDR length");
            (v6 ? mech.cidr6 : mech.cidr4) = *v;
        }
        unsigned char buf[16]{};
        if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1)
            return fail("invalid " + std::string(v6 ? "IPv6" : "IPv4") + " address");
        mech.network.v6 = v6;
        std::memcpy(mech.network.octets.data(), buf, v6 ? 16 : 4);
        return mech;
    }
    return fail("unknown mechanism");
}

} // namespace

std::expected<macro_string, std::string> parse_macro_string(std::string_view text,
                                                            macro_syntax syntax) {
    macro_string out;
    auto add_literal = [&](std::string_view s) {
        if (out.empty() || out.back().is_macro) out.push_back(macro_token{});
        out.back().literal.append(s);
    };
    for (std::size_t i = 0; i < text.size();) {
        char c = text[i];
        if (static_cast<unsigned char>(c) >= 0x7f || static_cast<unsigned char>(c) < 0x20)
            return std::unexpected("non-ASCII or control character in \"" + std::string(text) +
                                   "\"");
        if (c == ' ' && syntax != macro_syntax::explain_string)
            return std::unexpected("space in \"" + std::string(text) + "\"");
        if (c != '%') {
            add_literal(text.substr(i, 1));
            ++i;
            continue;
        }
        if (i + 1 >= text.size())
            return std::unexpected("lone '%' at the end of \"" + std::string(text) + "\"");
        char n = text[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            add_literal(n == '%' ? "%" : n == '_' ? " " : "%20");
            i += 2;
            continue;
        }
        if (n != '{')
            return std::unexpected("'%' not followed by '{', '%', '_' or '-' in \"" +
                                   std::string(text) + "\"");
        auto close = text.find('}', i + 2);
        if (close == std::string_view::npos)
            return std::unexpected("unterminated macro in \"" + std::string(text) + "\"");
        std::string_view body = text.substr(i + 2, close - i - 2);
        auto bad = [&]() {
            return std::unexpected("invalid macro \"%{" + std::string(body) + "}\"");
        };
        if (body.empty()) return bad();
        macro_token t;
        t.is_macro = true;
        char letter = body[0];
        t.url_escape = letter >= 'A' && letter <= 'Z';
        t.letter = lower(letter);
        static constexpr std::string_view letters = "slodiphvcrt";
        if (!is_alpha(letter) || letters.find(t.letter) == std::string_view::npos) return bad();
        if ((t.letter == 'c' || t.letter == 'r' || t.letter == 't') &&
            syntax != macro_syntax::explain_string)
            return std::unexpected("macro %{" + std::string(1, letter) +
                                   "} is only allowed in explanations (RFC 7208 7.2)");
        std::size_t p = 1;
        if (p < body.size() && is_digit(body[p])) {
            unsigned v = 0;
            while (p < body.size() && is_digit(body[p])) {
                v = std::min(v * 10 + static_cast<unsigned>(body[p] - '0'), 1000u);
                ++p;
            }
            // RFC 7208 7.3: a number of parts of zero is a syntax error.
            if (v == 0) return bad();
            t.keep = v;
        }
        if (p < body.size() && lower(body[p]) == 'r') {
            t.reverse = true;
            ++p;
        }
        for (; p < body.size(); ++p) {
            static constexpr std::string_view delims = ".-+,/_=";
            if (delims.find(body[p]) == std::string_view::npos) return bad();
            t.delimiters.push_back(body[p]);
        }
        out.push_back(std::move(t));
        i = close + 1;
    }
    return out;
}

std::optional<ip_address> parse_ip(std::string_view text) {
    std::string s(text);
    ip_address ip;
    unsigned char buf[16]{};
    if (::inet_pton(AF_INET, s.c_str(), buf) == 1) {
        std::memcpy(ip.octets.data(), buf, 4);
        return ip;
    }
    if (::inet_pton(AF_INET6, s.c_str(), buf) != 1) return std::nullopt;
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(buf, mapped, 12) == 0) {
        std::memcpy(ip.octets.data(), buf + 12, 4);
        return ip;
    }
    ip.v6 = true;
    std::memcpy(ip.octets.data(), buf, 16);
    return ip;
}

bool same_prefix(const ip_address& a, const ip_address& b, unsigned bits) {
    if (a.v6 != b.v6) return false;
    bits = std::min(bits, a.v6 ? 128u : 32u);
    for (unsigned i = 0; bits > 0; ++i) {
        unsigned take = std::min(bits, 8u);
        auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
        if ((a.octets[i] & mask) != (b.octets[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

bool is_spf_record(std::string_view txt) {
    return txt.size() >= 6 && iequals(txt.substr(0, 6), "v=spf1") &&
           (txt.size() == 6 || txt[6] == ' ');
}

std::expected<record, std::string> parse_record(std::string_view text) {
    if (!is_spf_record(text)) return std::unexpected("not an SPF record (no \"v=spf1\")");
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x80)
            return std::unexpected("non-ASCII character in the record (RFC 7208 3.1)");
    record rec;
    std::string_view rest = text.substr(6);
    while (!rest.empty()) {
        // RFC 7208 12: terms = *( 1*SP ( directive / modifier ) ), record ends with *SP.
        std::size_t sp = 0;
        while (sp < rest.size() && rest[sp] == ' ') ++sp;
        rest.remove_prefix(sp);
        if (rest.empty()) break;
        auto end = rest.find(' ');
        std::string_view term = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

        // modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        std::size_t n = 0;
        if (!term.empty() && is_alpha(term[0])) {
            n = 1;
            while (n < term.size() &&
                   (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.'))
                ++n;
        }
        if (n > 0 && n < term.size() && term[n] == '=') {
            std::string_view name = term.substr(0, n);
            std::string_view value = term.substr(n + 1);
            auto why = [&](const std::string& e) {
                return std::unexpected("modifier \"" + std::string(term) + "\": " + e);
            };
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                auto& slot = iequals(name, "redirect") ? rec.redirect : rec.exp;
                if (slot) return why("given twice (RFC 7208 6)");
                auto d = parse_domain_spec(value);
                if (!d) return why(d.error());
                slot = std::move(*d);
            } else {
                // RFC 7208 6: unknown modifiers are ignored, but must be well-formed.
                auto m = parse_macro_string(value, macro_syntax::explain_string);
                if (!m) return why(m.error());
                if (value.find(' ') != std::string_view::npos) return why("space in value");
            }
            continue;
        }
        auto mech = parse_directive(term);
        if (!mech) return std::unexpected(mech.error());
        rec.mechanisms.push_back(std::move(*mech));
    }
    return rec;
}

} // namespace splitmail::spf
