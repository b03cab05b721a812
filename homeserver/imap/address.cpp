// RFC 5322 address-list parsing for ENVELOPE and SEARCH; see address.hpp.
#include "imap/address.hpp"

namespace splitmail::home::imap::address {
namespace {

struct token {
    enum class type { atom, quoted, literal, comment, special };
    type t = type::atom;
    std::string text; // unquoted / unescaped content; the character itself for a special
    bool space_before = false;
};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
// RFC 5322 3.2.3 specials that structure an address list ('(' '"' '[' start tokens of
// their own; ')' ']' '\' stray outside them are taken as atom text).
bool is_special(char c) {
    return c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',' || c == '.';
}

// One pass over the value; every loop advances `i`.
std::vector<token> tokenize(std::string_view s) {
    std::vector<token> out;
    bool space = false;
    std::size_t i = 0;
    // Reads a delimited run ("..." or [...]) with backslash escapes from s[i] (the opener);
    // an unterminated one runs to the end.
    auto delimited = [&](char close, bool keep_brackets) {
        std::string t;
        if (keep_brackets) t.push_back(s[i]);
        ++i;
        while (i < s.size() && s[i] != close) {
            if (s[i] == '\\' && i + 1 < s.size()) ++i;
            t.push_back(s[i++]);
        }
        if (i < s.size()) ++i;
        if (keep_brackets) t.push_back(close);
        return t;
    };
    while (i < s.size()) {
        char c = s[i];
        if (is_ws(c)) {
            space = true;
            ++i;
            continue;
        }
        token tk;
        tk.space_before = space;
        space = false;
        if (c == '(') {
            // RFC 5322 3.2.2: comments nest; quoted-pairs escape.
            int depth = 0;
            do {
                char d = s[i];
                if (d == '\\' && i + 1 < s.size()) {
                    tk.text.push_back(s[i + 1]);
                    i += 2;
                    continue;
                }
                if (d == '(' && depth++ == 0) {
                    ++i;
                    continue;
                }
                if (d == ')' && --depth == 0) {
                    ++i;
                    break;
                }
                tk.text.push_back(d);
                ++i;
            } while (i < s.size() && depth > 0);
            tk.t = token::type::comment;
            space = true; // a comment separates like white space (CFWS)
        } else if (c == '"') {
            tk.t = token::type::quoted;
            tk.text = delimited('"', false);
        } else if (c == '[') {
            tk.t = token::type::literal;
            tk.text = delimited(']', true);
        } else if (is_special(c)) {
            tk.t = token::type::special;
            tk.text.assign(1, c);
            ++i;
        } else {
            while (i < s.size() && !is_ws(s[i]) && !is_special(s[i]) && s[i] != '(' &&
                   s[i] != '"' && s[i] != '[')
                tk.text.push_back(s[i++]);
        }
        out.push_back(std::move(tk));
    }
    return out;
}

bool is(const token& t, char c) {
    return t.t == token::type::special && t.text.size() == 1 && t.text[0] == c;
}

std::string trim(std::string s) {
    std::size_t b = 0, e = s.size();
    while (b < e && is_ws(s[b])) ++b;
    while (e > b && is_ws(s[e - 1])) --e;
    return s.substr(b, e - b);
}

// A display or group name: words joined with one space where the header had CFWS.
std::string phrase(const std::vector<token>& t, std::size_t b, std::size_t e) {
    std::string out;
    for (std::size_t i = b; i < e; ++i) {
        if (t[i].t == token::type::comment) continue;
        if (!out.empty() && t[i].space_before) out.push_back(' ');
        out += t[i].text;
    }
    return out;
}

// An addr-spec from tokens [b, e): local part and domain without CFWS (RFC 5322 3.4.1);
// the last '@' separates them.
void addr_spec(const std::vector<token>& t, std::size_t b, std::size_t e, entry& a) {
    std::size_t at = e;
    for (std::size_t i = b; i < e; ++i)
        if (is(t[i], '@')) at = i;
    for (std::size_t i = b; i < e; ++i) {
        if (t[i].t == token::type::comment || i == at) continue;
        (i < at ? a.mailbox : a.host) += t[i].text;
    }
}

} // namespace

std::vector<entry> parse_list(std::string_view value) {
    auto t = tokenize(value);
    std::vector<entry> out;
    bool in_group = false;
    std::size_t i = 0;
    while (i < t.size()) {
        // One item: tokens up to ':' (group), '<' (angle-addr), ',' or ';' (its end).
        std::size_t j = i;
        while (j < t.size() && !is(t[j], ':') && !is(t[j], '<') && !is(t[j], ',') && !is(t[j], ';'))
            ++j;
        if (j < t.size() && is(t[j], ':')) {
            if (!in_group) { // RFC 5322 3.4: group = display-name ":" [group-list] ";"
                entry g;
                g.k = entry::kind::group_start;
                g.name = trim(phrase(t, i, j));
                out.push_back(std::move(g));
                in_group = true;
            } // groups do not nest: a second ':' is dropped
            i = j + 1;
            continue;
        }
        entry a;
        bool have = false;
        if (j < t.size() && is(t[j], '<')) {
            a.name = trim(phrase(t, i, j));
            std::size_t k = j + 1, close = k;
            while (close < t.size() && !is(t[close], '>')) ++close;
            // obs-route (RFC 5322 4.4): "@a,@b:" before the addr-spec; kept as the adl.
            std::size_t first = k;
            while (first < close && t[first].t == token::type::comment) ++first;
            if (first < close && is(t[first], '@')) {
                std::size_t colon = first;
                while (colon < close && !is(t[colon], ':')) ++colon;
                if (colon < close) {
                    for (std::size_t r = first; r < colon; ++r)
                        if (t[r].t != token::type::comment) a.route += t[r].text;
                    k = colon + 1;
                }
            }
            addr_spec(t, k, close, a);
            have = true;
            // Anything after '>' up to the item's end is dropped (CFWS or junk).
            j = close;
            while (j < t.size() && !is(t[j], ',') && !is(t[j], ';')) ++j;
        } else {
            bool any = false;
            for (std::size_t k = i; k < j; ++k)
                if (t[k].t != token::type::comment) any = true;
            if (any) {
                addr_spec(t, i, j, a);
                // The personal name of "user@host (Real Name)": its last non-empty comment.
                for (std::size_t k = i; k < j; ++k)
                    if (t[k].t == token::type::comment && !trim(t[k].text).empty())
                        a.name = trim(t[k].text);
                have = true;
            }
        }
        if (have) out.push_back(std::move(a));
        if (j < t.size() && is(t[j], ';') && in_group) {
            entry end;
            end.k = entry::kind::group_end;
            out.push_back(std::move(end));
            in_group = false;
        }
        i = j + 1;
    }
    if (in_group) { // a group missing its ';' still ends
        entry end;
        end.k = entry::kind::group_end;
        out.push_back(std::move(end));
    }
    return out;
}

std::string search_text(const std::vector<entry>& list) {
    std::string out;
    for (const auto& a : list) {
        if (a.k == entry::kind::group_end) continue;
        if (!out.empty()) out += ", ";
        if (a.k == entry::kind::group_start) {
            out += a.name + ":";
            continue;
        }
        std::string addr = a.host.empty() ? a.mailbox : a.mailbox + "@" + a.host;
        out += a.name.empty() ? addr : a.name + " <" + addr + ">";
    }
    return out;
}

} // namespace splitmail::home::imap::address
