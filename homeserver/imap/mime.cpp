// MIME part tree, BODYSTRUCTURE and ENVELOPE; see mime.hpp.
#include "imap/mime.hpp"

#include "imap/address.hpp"
#include "imap/codec.hpp"
#include "splitmail/smtp/base64.hpp"

#include <algorithm>
#include <cstdint>

namespace splitmail::home::imap::mime {
namespace {

// End of the header block: offset of the body. Handles CRLF and bare LF.
std::size_t header_end(std::string_view m, std::size_t from) {
    if (m.substr(from, 2) == "\r\n") return from + 2;
    if (m.substr(from, 1) == "\n") return from + 1;
    std::size_t p = from;
    while (true) {
        auto lf = m.find('\n', p);
        if (lf == std::string_view::npos) return m.size();
        std::size_t next = lf + 1;
        if (m.substr(next, 2) == "\r\n") return next + 2;
        if (m.substr(next, 1) == "\n") return next + 1;
        if (next >= m.size()) return m.size();
        p = next;
    }
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return std::string(s);
}

// Strips RFC 5322 comments "( ... )" outside quoted strings.
std::string strip_comments(std::string_view s) {
    std::string out;
    int depth = 0;
    bool q = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (q) {
            out.push_back(c);
            if (c == '\\' && i + 1 < s.size())
                out.push_back(s[++i]);
            else if (c == '"')
                q = false;
            continue;
        }
        if (depth > 0) {
            if (c == '\\')
                ++i;
            else if (c == '(')
                ++depth;
            else if (c == ')')
                --depth;
            continue;
        }
        if (c == '(')
            ++depth;
        else {
            if (c == '"') q = true;
            out.push_back(c);
        }
    }
    return out;
}

std::string unquote(std::string_view s) {
    std::string t = trim(s);
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') {
        std::string out;
        for (std::size_t i = 1; i + 1 < t.size(); ++i) {
            if (t[i] == '\\' && i + 2 < t.size()) ++i;
            out.push_back(t[i]);
        }
        return out;
    }
    return t;
}

// Splits on `sep` outside quotes, comments and angle brackets.
std::vector<std::string> split_top(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    bool q = false;
    int angle = 0, paren = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (q) {
            cur.push_back(c);
            if (c == '\\' && i + 1 < s.size())
                cur.push_back(s[++i]);
            else if (c == '"')
                q = false;
            continue;
        }
        if (c == '"')
            q = true;
        else if (c == '<')
            ++angle;
        else if (c == '>' && angle > 0)
            --angle;
        else if (c == '(')
            ++paren;
        else if (c == ')' && paren > 0)
            --paren;
        else if (c == sep && angle == 0 && paren == 0) {
            out.push_back(cur);
            cur.clear();
            continue;
        }
        cur.push_back(c);
    }
    out.push_back(cur);
    return out;
}

// "type/subtype; a=b; c="d"" -> value and parameters (names upper-cased).
void parse_params(std::string_view v, std::string& main,
                  std::vector<std::pair<std::string, std::string>>& params) {
    auto items = split_top(strip_comments(v), ';');
    main = trim(items[0]);
    for (std::size_t i = 1; i < items.size(); ++i) {
        auto eq = items[i].find('=');
        if (eq == std::string::npos) continue;
        std::string name = upper(trim(std::string_view(items[i]).substr(0, eq)));
        if (name.empty()) continue;
        params.emplace_back(name, unquote(std::string_view(items[i]).substr(eq + 1)));
    }
}

std::size_t count_lines(std::string_view s) {
    std::size_t n = static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
    if (!s.empty() && s.back() != '\n') ++n;
    return n;
}

void parse_part(std::string_view m, part& p, std::size_t depth, bool digest_child);

void parse_headers_into(std::string_view m, part& p, bool digest_child) {
    std::string_view h = m.substr(p.begin, p.body_begin - p.begin);
    if (auto ct = field(h, "Content-Type")) {
        std::string main;
        parse_params(*ct, main, p.params);
        auto slash = main.find('/');
        if (slash != std::string::npos && slash > 0 && slash + 1 < main.size()) {
            p.type = upper(trim(main.substr(0, slash)));
            p.subtype = upper(trim(main.substr(slash + 1)));
        } else {
            p.params.clear(); // unusable: RFC 2045 5.2 default
        }
    } else if (digest_child) {
        p.type = "MESSAGE";
        p.subtype = "RFC822";
    }
    if (p.type == "TEXT" && std::none_of(p.params.begin(), p.params.end(),
                                         [](auto& kv) { return kv.first == "CHARSET"; }))
        p.params.emplace_back("CHARSET", "us-ascii");
    if (auto v = field(h, "Content-Transfer-Encoding")) {
        auto e = upper(trim(strip_comments(*v)));
        if (!e.empty()) p.encoding = e;
    }
    if (auto v = field(h, "Content-ID")) p.id = trim(*v);
    if (auto v = field(h, "Content-Description")) p.description = trim(*v);
    if (auto v = field(h, "Content-MD5")) p.md5 = trim(*v);
    if (auto v = field(h, "Content-Language")) p.language = trim(strip_comments(*v));
    if (auto v = field(h, "Content-Location")) p.location = trim(*v);
    if (auto v = field(h, "Content-Disposition")) {
        std::string main;
        parse_params(*v, main, p.disposition_params);
        p.disposition = upper(main);
    }
}

void parse_part(std::string_view m, part& p, std::size_t depth, bool digest_child) {
    p.body_begin = std::min(header_end(m.substr(0, p.end), p.begin), p.end);
    parse_headers_into(m, p, digest_child);
    if (depth >= max_depth) return;
    if (p.multipart()) {
        std::string boundary;
        for (auto& [k, v] : p.params)
            if (k == "BOUNDARY") boundary = v;
        if (boundary.empty() || boundary.size() > 200) return;
        std::string delim = "--" + boundary;
        // RFC 2046 5.1.1: delimiters are lines starting with "--boundary".
        std::vector<std::pair<std::size_t, std::size_t>> marks; // line start, line end (after LF)
        bool closed = false;
        std::size_t pos = p.body_begin;
        while (pos < p.end) {
            auto lf = m.find('\n', pos);
            std::size_t line_end = (lf == std::string_view::npos || lf >= p.end) ? p.end : lf + 1;
            std::string_view line = m.substr(pos, line_end - pos);
            if (line.substr(0, delim.size()) == delim) {
                std::string_view after = line.substr(delim.size());
                if (after.substr(0, 2) == "--") {
                    marks.emplace_back(pos, line_end);
                    closed = true;
                    break;
                }
                std::string t = trim(after);
                if (t.empty()) marks.emplace_back(pos, line_end);
            }
            pos = line_end;
        }
        (void)closed;
        for (std::size_t i = 0; i + 1 <= marks.size(); ++i) {
            std::size_t b = marks[i].second;
            std::size_t e = i + 1 < marks.size() ? marks[i + 1].first : p.end;
            if (i + 1 == marks.size()) {
                // after the close delimiter nothing; after an open one, a part to the end
                std::string_view line = m.substr(marks[i].first, marks[i].second - marks[i].first);
                if (line.substr(delim.size(), 2) == "--") break;
            }
            // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
            if (i + 1 < marks.size()) {
                if (e > b && m[e - 1] == '\n') --e;
                if (e > b && m[e - 1] == '\r') --e;
            }
            part c;
            c.begin = b;
            c.end = std::max(b, e);
            parse_part(m, c, depth + 1, p.subtype == "DIGEST");
            p.children.push_back(std::move(c));
            if (p.children.size() > 1000) break;
        }
        if (p.children.empty()) {
            // No usable part: treat as an opaque leaf of its declared type.
            return;
        }
    } else if (p.rfc822()) {
        part c;
        c.begin = p.body_begin;
        c.end = p.end;
        parse_part(m, c, depth + 1, false);
        p.children.push_back(std::move(c));
    }
}

std::string params_list(const std::vector<std::pair<std::string, std::string>>& ps) {
    if (ps.empty()) return "NIL";
    std::string out = "(";
    for (std::size_t i = 0; i < ps.size(); ++i) {
        if (i) out += ' ';
        out += quoted_or_literal(ps[i].first) + " " + quoted_or_literal(ps[i].second);
    }
    return out + ")";
}

std::string nstr(const std::string& s) { return s.empty() ? "NIL" : quoted_or_literal(s); }

std::string extension(const part& p) {
    std::string out;
    if (p.disposition.empty())
        out += " NIL";
    else
        out +=
            " (" + quoted_or_literal(p.disposition) + " " + params_list(p.disposition_params) + ")";
    out += " " + nstr(p.language);
    out += " " + nstr(p.location);
    return out;
}

// One address list of ENVELOPE (RFC 3501 7.4.2): ((name adl mailbox host) ...) or NIL. A
// group is (NIL NIL "name" NIL), its members, then (NIL NIL NIL NIL); a mailbox's host is
// never NIL (that would mark a group), "" when the address has none.
std::string address_list(const std::optional<std::string>& v) {
    if (!v) return "NIL";
    std::string out;
    for (const auto& a : address::parse_list(*v)) {
        using k = address::entry::kind;
        if (a.k == k::group_start)
            out += "(NIL NIL " + quoted_or_literal(a.name) + " NIL)";
        else if (a.k == k::group_end)
            out += "(NIL NIL NIL NIL)";
        else
            out += "(" + nstr(a.name) + " " + nstr(a.route) + " " + quoted_or_literal(a.mailbox) +
                   " " + quoted_or_literal(a.host) + ")";
    }
    return out.empty() ? "NIL" : "(" + out + ")";
}

} // namespace

part parse(std::string_view msg) {
    part root;
    root.begin = 0;
    root.end = msg.size();
    parse_part(msg, root, 0, false);
    return root;
}

std::string_view header_of(std::string_view msg, const part& p) {
    return msg.substr(p.begin, p.body_begin - p.begin);
}
std::string_view body_of(std::string_view msg, const part& p) {
    return msg.substr(p.body_begin, p.end - p.body_begin);
}

namespace {
// The unfolded value of the next field `name` at or after `pos` (a line start); `pos` moves
// past it. nullopt when there is none.
std::optional<std::string> next_field(std::string_view header, std::string_view name,
                                      std::size_t& pos) {
    while (pos < header.size()) {
        auto lf = header.find('\n', pos);
        std::size_t e = lf == std::string_view::npos ? header.size() : lf + 1;
        std::string_view line = header.substr(pos, e - pos);
        pos = e;
        auto colon = line.find(':');
        if (colon != std::string_view::npos && line[0] != ' ' && line[0] != '\t') {
            std::string_view n = line.substr(0, colon);
            while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
            if (iequals(n, name)) {
                std::string v(line.substr(colon + 1));
                while (pos < header.size() && (header[pos] == ' ' || header[pos] == '\t')) {
                    auto lf2 = header.find('\n', pos);
                    std::size_t e2 = lf2 == std::string_view::npos ? header.size() : lf2 + 1;
                    v += header.substr(pos, e2 - pos);
                    pos = e2;
                }
                std::string out; // unfold: drop CR LF (RFC 5322 2.2.3)
                for (char c : v)
                    if (c != '\r' && c != '\n') out.push_back(c);
                return trim(out);
            }
        }
    }
    return std::nullopt;
}
} // namespace

std::optional<std::string> field(std::string_view header, std::string_view name) {
    std::size_t pos = 0;
    return next_field(header, name, pos);
}

std::vector<std::string> fields(std::string_view header, std::string_view name) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (auto v = next_field(header, name, pos)) out.push_back(std::move(*v));
    return out;
}

namespace {
bool iless(std::string_view a, std::string_view b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto l = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
        return l(x) < l(y);
    });
}
} // namespace

std::string select_fields(std::string_view header, const std::vector<std::string>& names,
                          bool negate) {
    // Names sorted case-insensitively (FETCH sorts them once per command) are binary-searched:
    // O(header lines x log names), not lines x names, for a long list against a long header.
    auto by_name = [](const std::string& a, const std::string& b) { return iless(a, b); };
    bool sorted = std::is_sorted(names.begin(), names.end(), by_name);
    auto is_named = [&](std::string_view n) {
        if (!sorted)
            return std::any_of(names.begin(), names.end(),
                               [&](const std::string& x) { return iequals(x, n); });
        auto it =
            std::lower_bound(names.begin(), names.end(), n,
                             [](const std::string& a, std::string_view b) { return iless(a, b); });
        return it != names.end() && iequals(*it, n);
    };
    std::string out;
    std::size_t pos = 0;
    bool keep = false;
    while (pos < header.size()) {
        auto lf = header.find('\n', pos);
        std::size_t e = lf == std::string_view::npos ? header.size() : lf + 1;
        std::string_view line = header.substr(pos, e - pos);
        pos = e;
        if (line == "\r\n" || line == "\n") break;
        if (line[0] != ' ' && line[0] != '\t') {
            auto colon = line.find(':');
            std::string_view n = colon == std::string_view::npos ? line : line.substr(0, colon);
            while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
            bool named = is_named(n);
            keep = colon != std::string_view::npos && (named != negate);
        }
        if (keep) out += line;
    }
    out += "\r\n";
    return out;
}

std::string body_structure(std::string_view msg, const part& p, bool ext) {
    if (p.multipart() && !p.children.empty()) {
        std::string out = "(";
        for (const auto& c : p.children) out += body_structure(msg, c, ext);
        out += " " + quoted_or_literal(p.subtype);
        if (ext) out += " " + params_list(p.params) + extension(p);
        return out + ")";
    }
    std::size_t size = p.end - p.body_begin;
    std::string_view encoding = p.encoding;
    std::size_t lines = 0;
    if (auto b64 = reencoded_body(msg, p)) {
        // What BODY[part] sends for a part holding NUL (reencoded_body; issue 15 item 1).
        encoding = "BASE64";
        size = b64->size();
        if (p.type == "TEXT") lines = count_lines(*b64);
    } else if (p.type == "TEXT") {
        lines = count_lines(body_of(msg, p));
    }
    std::string out = "(" + quoted_or_literal(p.type) + " " + quoted_or_literal(p.subtype) + " " +
                      params_list(p.params) + " " + nstr(p.id) + " " + nstr(p.description) + " " +
                      quoted_or_literal(encoding) + " " + std::to_string(size);
    if (p.type == "TEXT") out += " " + std::to_string(lines);
    if (p.rfc822() && !p.children.empty()) {
        const part& inner = p.children[0];
        out += " " + envelope(header_of(msg, inner)) + " " + body_structure(msg, inner, ext) + " " +
               std::to_string(count_lines(body_of(msg, p)));
    }
    if (ext) out += " " + nstr(p.md5) + extension(p);
    return out + ")";
}

std::string envelope(std::string_view h) {
    auto f = [&](std::string_view n) { return field(h, n); };
    auto ns = [](const std::optional<std::string>& v) {
        return v ? quoted_or_literal(*v) : std::string("NIL");
    };
    auto from = f("From");
    auto sender = f("Sender");
    auto reply_to = f("Reply-To");
    // RFC 3501 7.4.2: sender and reply-to default to from.
    if (!sender || sender->empty()) sender = from;
    if (!reply_to || reply_to->empty()) reply_to = from;
    return "(" + ns(f("Date")) + " " + ns(f("Subject")) + " " + address_list(from) + " " +
           address_list(sender) + " " + address_list(reply_to) + " " + address_list(f("To")) + " " +
           address_list(f("Cc")) + " " + address_list(f("Bcc")) + " " + ns(f("In-Reply-To")) + " " +
           ns(f("Message-ID")) + ")";
}

const part* find_part(const part& root, const std::vector<unsigned>& path) {
    // RFC 3501 6.4.5: the parts of a message are the parts of its body: the children of a
    // multipart body, or the body itself as part 1. A message/rfc822 part's sub-parts are
    // those of the message it encapsulates. So for a top-level message/rfc822, part 1 is the
    // whole encapsulated message and 1.1 its body (not: 1 already the inner body).
    const part* p = &root;
    bool message = true; // p's header is a message header: number its body's parts
    auto step_into_message = [&](const part* m, unsigned n) -> const part* {
        if (m->multipart() && !m->children.empty())
            return n <= m->children.size() ? &m->children[n - 1] : nullptr;
        return n == 1 ? m : nullptr; // a non-multipart body is the message's only part
    };
    for (unsigned n : path) {
        if (n == 0) return nullptr;
        if (message) {
            p = step_into_message(p, n);
            message = false;
        } else if (p->rfc822() && !p->children.empty()) {
            p = step_into_message(&p->children[0], n);
        } else if (p->multipart() && !p->children.empty()) {
            if (n > p->children.size()) return nullptr;
            p = &p->children[n - 1];
        } else if (n != 1) {
            return nullptr; // a leaf's only sub-part is itself (tolerated, as before)
        }
        if (!p) return nullptr;
    }
    return p;
}

namespace {

int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10; // lower case: RFC 2045 6.7 robustness
    return -1;
}

} // namespace

std::string decode_base64(std::string_view in) { return smtp::decode_base64_lax(in); }

std::string decode_quoted_printable(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    std::size_t pos = 0;
    while (pos < in.size()) {
        auto lf = in.find('\n', pos);
        bool has_end = lf != std::string_view::npos;
        std::size_t e = has_end ? lf : in.size();
        std::string_view line = in.substr(pos, e - pos);
        pos = has_end ? lf + 1 : in.size();
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        // RFC 2045 6.7 rule 3: trailing blanks were possibly added in transport; drop them.
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        bool soft = !line.empty() && line.back() == '=';
        if (soft) line.remove_suffix(1); // rule 5: soft line break
        for (std::size_t i = 0; i < line.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(line[i]);
            if (c == '=' && i + 2 < line.size()) {
                int hi = hex_value(static_cast<unsigned char>(line[i + 1]));
                int lo = hex_value(static_cast<unsigned char>(line[i + 2]));
                if (hi >= 0 && lo >= 0) {
                    out.push_back(static_cast<char>(hi * 16 + lo));
                    i += 2;
                    continue;
                }
            }
            out.push_back(static_cast<char>(c)); // note 2: a bad "=" is kept as it is
        }
        if (has_end && !soft) out += "\r\n";
    }
    return out;
}

std::optional<std::string> decoded_body(std::string_view msg, const part& p) {
    std::string_view body = body_of(msg, p);
    std::string out;
    const std::string& e = p.encoding;
    if (e == "BASE64")
        out = decode_base64(body);
    else if (e == "QUOTED-PRINTABLE")
        out = decode_quoted_printable(body);
    else if (e == "7BIT" || e == "8BIT" || e == "BINARY")
        out.assign(body);
    else
        return std::nullopt; // RFC 3516 4.3: the caller says NO [UNKNOWN-CTE]
    // RFC 3516 4.2: BINARY returns the decoded octets exactly, also for TEXT/* (a base64
    // attachment with bare LF or CR must download byte for byte as it was sent).
    return out;
}

std::optional<std::string> reencoded_body(std::string_view msg, const part& p) {
    if ((p.multipart() && !p.children.empty()) || (p.rfc822() && !p.children.empty()))
        return std::nullopt; // not a leaf: its parts are addressed one by one
    const std::string& e = p.encoding;
    if (e != "7BIT" && e != "8BIT" && e != "BINARY") return std::nullopt;
    std::string_view body = body_of(msg, p);
    if (body.find('\0') == std::string_view::npos) return std::nullopt;
    // RFC 2045 6.8: encoded lines of at most 76 characters (57 octets each).
    constexpr std::size_t octets_per_line = 57;
    std::string out;
    out.reserve((body.size() + 2) / 3 * 4 + body.size() / octets_per_line * 2 + 2);
    for (std::size_t at = 0; at < body.size(); at += octets_per_line) {
        if (at > 0) out += "\r\n";
        out += smtp::encode_base64(body.substr(at, octets_per_line));
    }
    return out;
}

} // namespace splitmail::home::imap::mime
