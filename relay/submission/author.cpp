// From:/Sender: parsing and the authenticated user's right to them; see author.hpp.
#include "submission/author.hpp"
#include "splitmail/address/address.hpp"

#include "dkim/message.hpp"
#include "splitmail/text/encoded_words.hpp"

#include <algorithm>
#include <cstddef>

namespace splitmail::relay {
namespace {

// A From:/Sender: value longer than this is refused before any parsing: RFC 5322 2.1.1 lines
// are at most 998 octets, and no real author list needs 16 folded lines of them.
constexpr std::size_t max_field_value = 16 * 1024;

enum class tk { atom, quoted, literal, dot, lt, gt, comma, colon, semi, at };

struct token {
    tk type;
    std::string text; // atom text, unquoted quoted-string content, "[literal]"
};

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits an address-list value into tokens; comments go to `comments` (RFC 5322 3.2.2 CFWS,
// nested, with quoted-pairs). Folding (CRLF WSP, RFC 5322 2.2.3) is whitespace here.
std::optional<std::vector<token>> tokenize(std::string_view v, std::vector<std::string>& comments) {
    std::vector<token> out;
    std::size_t i = 0;
    const std::size_t n = v.size();
    while (i < n) {
        const char c = v[i];
        if (is_fws(c)) {
            ++i;
            continue;
        }
        if (c == '(') {
            std::size_t depth = 1;
            std::string text;
            ++i;
            while (i < n && depth > 0) {
                const char ch = v[i];
                if (ch == '\\' && i + 1 < n) {
                    text += v[i + 1];
                    i += 2;
                    continue;
                }
                if (ch == '(') ++depth;
                if (ch == ')') --depth;
                if (depth > 0) text += (ch == '\r' || ch == '\n') ? ' ' : ch;
                ++i;
            }
            if (depth > 0) return std::nullopt;
            comments.push_back(std::move(text));
            continue;
        }
        if (c == '"' || c == '[') {
            const char close = c == '"' ? '"' : ']';
            std::string text = c == '[' ? "[" : "";
            bool closed = false;
            ++i;
            while (i < n) {
                const char ch = v[i];
                if (ch == '\\' && i + 1 < n) { // quoted-pair (RFC 5322 3.2.1)
                    text += v[i + 1];
                    i += 2;
                    continue;
                }
                ++i;
                if (ch == close) {
                    closed = true;
                    break;
                }
                if (ch == '\r' || ch == '\n') continue; // a fold inside: unfold
                text += ch;
            }
            if (!closed) return std::nullopt;
            if (c == '[') text += "]";
            out.push_back({c == '"' ? tk::quoted : tk::literal, std::move(text)});
            continue;
        }
        tk special;
        bool is_special = true;
        switch (c) {
        case '.': special = tk::dot; break;
        case '<': special = tk::lt; break;
        case '>': special = tk::gt; break;
        case ',': special = tk::comma; break;
        case ':': special = tk::colon; break;
        case ';': special = tk::semi; break;
        case '@': special = tk::at; break;
        default:
            is_special = false;
            special = tk::atom;
            break;
        }
        if (is_special) {
            out.push_back({special, std::string(1, c)});
            ++i;
            continue;
        }
        if (!address::is_atext(static_cast<unsigned char>(c)))
            return std::nullopt; // ']', '\\', CTL
        std::size_t j = i;
        while (j < n && address::is_atext(static_cast<unsigned char>(v[j]))) ++j;
        out.push_back({tk::atom, std::string(v.substr(i, j - i))});
        i = j;
    }
    return out;
}

// RFC 5322 3.4 address-list (with the obs- forms of 4.4) over the tokens.
class list_parser {
public:
    list_parser(const std::vector<token>& t, address_list& out) : t_(t), out_(out) {}

    bool list() {
        while (p_ < t_.size()) {
            if (at(tk::comma)) { // obs-addr-list: empty elements
                ++p_;
                continue;
            }
            if (!address(true)) return false;
            if (p_ < t_.size() && !at(tk::comma)) return false;
        }
        return true;
    }

private:
    bool at(tk k) const { return p_ < t_.size() && t_[p_].type == k; }
    bool word() const { return at(tk::atom) || at(tk::quoted); }

    // obs-domain / dot-atom / domain-literal (RFC 5322 3.4.1, 4.4).
    std::optional<std::string> domain() {
        if (at(tk::literal)) return t_[p_++].text;
        if (!at(tk::atom)) return std::nullopt;
        std::string d = t_[p_++].text;
        while (at(tk::dot)) {
            ++p_;
            if (!at(tk::atom)) return std::nullopt;
            d += "." + t_[p_++].text;
        }
        return d;
    }

    // local-part "@" domain; local-part is dot-atom, quoted-string or obs-local-part
    // (word *("." word)). Stored unquoted and lower-cased, as MAIL FROM is compared.
    std::optional<std::string> addr_spec() {
        if (!word()) return std::nullopt;
        std::string local = t_[p_++].text;
        while (at(tk::dot)) {
            ++p_;
            if (!word()) return std::nullopt;
            local += "." + t_[p_++].text;
        }
        if (!at(tk::at)) return std::nullopt;
        ++p_;
        auto d = domain();
        if (!d || local.empty()) return std::nullopt;
        return address::lower_ascii(local + "@" + *d);
    }

    // After "<": [obs-route] addr-spec ">" (RFC 5322 4.4 obs-angle-addr: the route is
    // obs-domain-list ":", ignored as RFC 5321 C says of source routes).
    bool angle() {
        if (at(tk::at) || at(tk::comma)) {
            while (at(tk::comma)) ++p_;
            if (!at(tk::at)) return false;
            while (true) {
                if (at(tk::at)) {
                    ++p_;
                    if (!domain()) return false;
                } else if (at(tk::comma)) {
                    ++p_;
                } else {
                    break;
                }
            }
            if (!at(tk::colon)) return false;
            ++p_;
        }
        auto a = addr_spec();
        if (!a || !at(tk::gt)) return false;
        ++p_;
        out_.addresses.push_back(std::move(*a));
        return true;
    }

    // mailbox / group. The phrase (display name; obs-phrase allows ".") is kept as text for
    // the display-name check; dots join without spaces so an encoded-word split by "." is
    // whole again.
    bool address(bool allow_group) {
        const std::size_t start = p_;
        std::string phrase;
        while (word() || (at(tk::dot) && p_ > start)) {
            const bool dot = at(tk::dot);
            if (!dot && !phrase.empty() && t_[p_ - 1].type != tk::dot) phrase += ' ';
            phrase += t_[p_].text;
            ++p_;
        }
        if (at(tk::lt)) {
            if (!phrase.empty()) out_.texts.push_back(std::move(phrase));
            ++p_;
            return angle();
        }
        if (at(tk::colon) && p_ > start) {
            // RFC 5322 3.4 group: display-name ":" [group-list] ";". From: is a mailbox-list
            // (3.6.2), but readers show groups anyway, so their members are checked too.
            if (!allow_group) return false;
            out_.texts.push_back(std::move(phrase));
            ++p_;
            while (!at(tk::semi)) {
                if (p_ >= t_.size()) return false;
                if (at(tk::comma)) {
                    ++p_;
                    continue;
                }
                if (!address(false)) return false;
                if (!at(tk::comma) && !at(tk::semi)) return false;
            }
            ++p_;
            return true;
        }
        p_ = start; // a bare addr-spec
        auto a = addr_spec();
        if (!a) return false;
        out_.addresses.push_back(std::move(*a));
        return true;
    }

    const std::vector<token>& t_;
    address_list& out_;
    std::size_t p_ = 0;
};

bool is_address_char(unsigned char c) {
    if (c <= ' ' || c == 127) return false;
    switch (c) {
    case '<':
    case '>':
    case '(':
    case ')':
    case '[':
    case ']':
    case ',':
    case ';':
    case ':':
    case '"':
    case '@':
    case '\\': return false;
    default: return true;
    }
}

// Printable ASCII, bounded: client text placed in our reply.
std::string reply_safe(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) out += (c > ' ' && c < 127) ? c : '?';
    if (s.size() > 200) out += "...";
    return out;
}

} // namespace

std::optional<address_list> parse_address_list(std::string_view value) {
    address_list out;
    auto tokens = tokenize(value, out.texts);
    if (!tokens) return std::nullopt;
    list_parser p(*tokens, out);
    if (!p.list()) return std::nullopt;
    return out;
}

std::string decode_encoded_words(std::string_view text) {
    // An unknown charset still yields its octets: a reader might be shown them.
    return text::encoded_words::decode(text, text::encoded_words::unknown_charset::octets);
}

std::vector<std::string> addresses_in_text(std::string_view raw) {
    // Look-alike commercial ats a reader may take for '@': U+FF20, U+FE6B (UTF-8).
    std::string s;
    s.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        auto rest = raw.substr(i, 3);
        if (rest == "\xEF\xBC\xA0" || rest == "\xEF\xB9\xAB") {
            s += '@';
            i += 2;
            continue;
        }
        s += raw[i];
    }
    std::vector<std::string> out;
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '@') continue;
        std::size_t l = i;
        while (l > 0 && blank(s[l - 1])) --l;
        const std::size_t local_end = l;
        while (l > 0 && is_address_char(static_cast<unsigned char>(s[l - 1]))) --l;
        std::size_t r = i + 1;
        while (r < s.size() && blank(s[r])) ++r;
        const std::size_t dom_start = r;
        while (r < s.size() && is_address_char(static_cast<unsigned char>(s[r]))) ++r;
        std::string_view local(s.data() + l, local_end - l);
        std::string_view dom(s.data() + dom_start, r - dom_start);
        while (!dom.empty() && dom.back() == '.') dom.remove_suffix(1);
        // A domain needs a dot between two labels to look like an address to a reader.
        auto dot = dom.find('.');
        if (local.empty() || dot == std::string_view::npos || dot == 0) continue;
        out.push_back(address::lower_ascii(std::string(local) + "@" + std::string(dom)));
    }
    return out;
}

author_verdict check_authors(std::string_view message, std::span<const std::string> allowed,
                             std::string_view user) {
    author_verdict v;
    auto refuse = [&](std::string text) {
        v.st = author_verdict::status::refused;
        v.text = std::move(text);
        return v;
    };
    auto mine = [&](const std::string& a) {
        return std::find(allowed.begin(), allowed.end(), a) != allowed.end();
    };
    const auto view = dkim::split_message(message);
    std::vector<std::pair<std::string_view, std::string_view>> fields; // name, value
    std::size_t froms = 0, senders = 0;
    for (const auto& f : dkim::parse_header(view.header)) {
        const bool from = dkim::iequals(f.name, "From");
        const bool sender = dkim::iequals(f.name, "Sender");
        if (!from && !sender) continue;
        froms += from;
        senders += sender;
        fields.emplace_back(from ? "From" : "Sender", f.raw.substr(f.raw.find(':') + 1));
    }
    // RFC 5322 3.6: From: exactly once, Sender: at most once. Two From: fields are how a
    // second author hides from one reader or verifier and shows to another.
    if (froms > 1) return refuse("Error: more than one From: field (RFC 5322 3.6)");
    if (senders > 1) return refuse("Error: more than one Sender: field (RFC 5322 3.6)");
    const std::string who = " by user " + reply_safe(user);
    for (const auto& [name, value] : fields) {
        const std::string n(name);
        if (value.size() > max_field_value) return refuse("Error: " + n + ": field too long");
        auto list = parse_address_list(value);
        if (!list)
            return refuse("Error: cannot parse the " + n +
                          ": field (RFC 5322 3.4); refusing to "
                          "send without knowing its author");
        if (list->addresses.empty()) return refuse("Error: " + n + ": field names no address");
        for (const auto& a : list->addresses)
            if (!mine(a))
                return refuse("Error: " + n + ": address " + reply_safe(a) + " not owned" + who);
        for (const auto& text : list->texts) {
            for (const auto& src : {text, decode_encoded_words(text)}) {
                for (const auto& a : addresses_in_text(src))
                    if (!mine(a))
                        return refuse("Error: " + n + ": display name or comment shows address " +
                                      reply_safe(a) + ", not owned" + who);
            }
        }
    }
    // RFC 5322 3.6.2: From: is required; the caller decides what a missing one means.
    if (froms == 0) v.st = author_verdict::status::missing_from;
    return v;
}

} // namespace splitmail::relay
