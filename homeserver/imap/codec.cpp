// IMAP command reader and tokenizer; see codec.hpp.
#include "imap/codec.hpp"
#include "splitmail/text/utf8.hpp"
#include "splitmail/address/address.hpp"

#include <algorithm>
#include <charconv>

namespace splitmail::home::imap {
namespace {

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// RFC 3501 9: ATOM-CHAR is any CHAR except atom-specials "(" ")" "{" SP CTL list-wildcards
// quoted-specials resp-specials. We accept '%', '*', ']' and '\\' inside atoms because they
// appear in LIST patterns, sequence sets and flags; the grammar of each command decides.
bool atom_stop(unsigned char c) {
    return c == '(' || c == ')' || c == ' ' || c == '"' || is_ctl(c) || c == '{';
}

// The first token (tag) of a line, for error responses.
std::string tag_of(std::string_view line) {
    auto sp = line.find(' ');
    std::string_view t = line.substr(0, sp);
    if (t.empty() || t.size() > 64) return "*";
    for (unsigned char c : t)
        if (atom_stop(c) || c == '+' || c == '*' || c == '%' || c == '\\' || c > 0x7e) return "*";
    return std::string(t);
}

// "{123}" / "{123+}" at the end of a line: the literal length, or -1.
struct literal_marker {
    bool found = false;
    bool sync = true;
    bool bad = false;
    std::uint64_t n = 0;
};
literal_marker marker_at_end(std::string_view line) {
    literal_marker m;
    if (line.empty() || line.back() != '}') return m;
    auto open = line.rfind('{');
    if (open == std::string_view::npos) return m;
    std::string_view inner = line.substr(open + 1, line.size() - open - 2);
    if (!inner.empty() && (inner.back() == '+' || inner.back() == '-')) {
        m.sync = false;
        inner.remove_suffix(1);
    }
    if (inner.empty() || inner.size() > 19 ||
        !std::all_of(inner.begin(), inner.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return m;
    m.found = true;
    auto r = std::from_chars(inner.data(), inner.data() + inner.size(), m.n);
    if (r.ec != std::errc()) m.bad = true;
    return m;
}

bool command_is_append(std::string_view first_line) {
    auto sp = first_line.find(' ');
    if (sp == std::string_view::npos) return false;
    auto rest = first_line.substr(sp + 1);
    auto name = rest.substr(0, rest.find(' '));
    return iequals(name, "APPEND");
}

class tokenizer {
public:
    tokenizer(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}

    bool at_end() const { return p_ >= s_.size(); }
    char peek() const { return s_[p_]; }

    std::expected<std::string, std::string> atom_word() {
        std::size_t b = p_;
        while (p_ < s_.size() && !atom_stop(static_cast<unsigned char>(s_[p_]))) ++p_;
        if (p_ == b) return std::unexpected("expected an atom");
        return std::string(s_.substr(b, p_ - b));
    }
    bool space() {
        if (p_ < s_.size() && s_[p_] == ' ') {
            ++p_;
            return true;
        }
        return false;
    }

    std::expected<std::vector<value>, std::string> values(std::size_t depth, bool in_list) {
        std::vector<value> out;
        bool first = true;
        while (true) {
            if (at_end()) {
                if (in_list) return std::unexpected("missing ')'");
                return out;
            }
            if (in_list && peek() == ')') {
                ++p_;
                return out;
            }
            if (!first) {
                if (!space()) return std::unexpected("expected a space between arguments");
                if (in_list && !at_end() && peek() == ')') {
                    ++p_;
                    return out; // tolerate "(a )"
                }
            }
            first = false;
            auto v = one(depth);
            if (!v) return std::unexpected(v.error());
            out.push_back(std::move(*v));
        }
    }

private:
    std::expected<value, std::string> one(std::size_t depth) {
        if (at_end()) return std::unexpected("missing argument");
        char c = peek();
        value v;
        if (c == '(') {
            if (depth + 1 > max_depth_) return std::unexpected("lists nested too deeply");
            ++p_;
            auto items = values(depth + 1, true);
            if (!items) return std::unexpected(items.error());
            v.k = value::kind::list;
            v.items = std::move(*items);
            return v;
        }
        if (c == '"') return quoted();
        if (c == '{') return literal();
        // RFC 9051 4.3 / RFC 3516: literal8 "~{n}" (APPEND of a message that may hold NULs).
        if (c == '~' && p_ + 1 < s_.size() && s_[p_ + 1] == '{') {
            ++p_;
            return literal();
        }
        if (c == ')') return std::unexpected("unexpected ')'");
        // Atom, possibly with "[...]" (section spec, may contain spaces and lists) and
        // "<...>" (partial) parts: BODY.PEEK[HEADER.FIELDS (From To)]<0.100>. A "[" opens a
        // section only after a FETCH attribute that takes one (RFC 3501 9 "section", RFC 3516
        // "section-binary"); elsewhere it is an ATOM-CHAR (RFC 3501 9: atom-specials exclude
        // only "]"), so "SELECT a[b" names the mailbox "a[b".
        std::size_t b = p_;
        auto takes_section = [&] {
            std::string_view head = s_.substr(b, p_ - b);
            for (std::string_view a : {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"})
                if (head.size() == a.size() &&
                    std::equal(head.begin(), head.end(), a.begin(), [](char x, char y) {
                        return std::toupper(static_cast<unsigned char>(x)) == y;
                    }))
                    return true;
            return false;
        };
        while (p_ < s_.size()) {
            unsigned char ch = static_cast<unsigned char>(s_[p_]);
            if (ch == '[' && takes_section()) {
                int d = 0;
                while (p_ < s_.size()) {
                    char x = s_[p_];
                    if (x == '\r' || x == '\n') return std::unexpected("unterminated '['");
                    if (x == '[') ++d;
                    if (x == ']' && --d == 0) break;
                    ++p_;
                }
                if (p_ >= s_.size()) return std::unexpected("unterminated '['");
                ++p_;
                continue;
            }
            if (atom_stop(ch)) break;
            ++p_;
        }
        if (p_ == b) return std::unexpected("unexpected character");
        v.text = std::string(s_.substr(b, p_ - b));
        return v;
    }

    std::expected<value, std::string> quoted() {
        ++p_;
        value v;
        v.k = value::kind::string;
        while (true) {
            if (at_end()) return std::unexpected("unterminated quoted string");
            char c = s_[p_++];
            if (c == '"') return v;
            if (c == '\r' || c == '\n' || c == '\0')
                return std::unexpected("CR, LF or NUL in a quoted string");
            if (c == '\\') {
                if (at_end()) return std::unexpected("unterminated quoted string");
                char e = s_[p_++];
                if (e != '\\' && e != '"') return std::unexpected("bad escape in quoted string");
                c = e;
            }
            v.text.push_back(c);
        }
    }

    std::expected<value, std::string> literal() {
        auto close = s_.find('}', p_);
        if (close == std::string_view::npos) return std::unexpected("bad literal");
        std::string_view inner = s_.substr(p_ + 1, close - p_ - 1);
        if (!inner.empty() && (inner.back() == '+' || inner.back() == '-')) inner.remove_suffix(1);
        std::uint64_t n = 0;
        auto r = std::from_chars(inner.data(), inner.data() + inner.size(), n);
        if (inner.empty() || r.ec != std::errc() || r.ptr != inner.data() + inner.size())
            return std::unexpected("bad literal length");
        p_ = close + 1;
        if (s_.substr(p_, 2) != "\r\n") return std::unexpected("literal must end its line");
        p_ += 2;
        if (s_.size() - p_ < n) return std::unexpected("literal shorter than announced");
        value v;
        v.k = value::kind::string;
        v.literal = true;
        v.text = std::string(s_.substr(p_, n));
        p_ += n;
        return v;
    }

    std::string_view s_;
    std::size_t max_depth_;
    std::size_t p_ = 0;
};

} // namespace

bool value::is_nil() const { return k == kind::atom && iequals(text, "NIL"); }

std::string upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return r;
}

bool iequals(std::string_view a, std::string_view b) { return address::iequals_ascii(a, b); }

std::expected<std::vector<value>, std::string> parse_arguments(std::string_view raw,
                                                               std::size_t max_depth) {
    tokenizer t(raw, max_depth);
    return t.values(0, false);
}

std::expected<command, parse_error> parse_command(std::string_view raw, std::size_t max_depth) {
    command c;
    std::string tag = tag_of(raw.substr(0, raw.find_first_of("\r\n")));
    if (tag == "*") return std::unexpected(parse_error{"*", "Missing or invalid tag"});
    c.tag = tag;
    std::string_view rest = raw.substr(tag.size());
    if (rest.empty() || rest[0] != ' ') return std::unexpected(parse_error{tag, "Missing command"});
    rest.remove_prefix(1);
    std::size_t e = 0;
    while (e < rest.size() && rest[e] != ' ') ++e;
    std::string name = upper(rest.substr(0, e));
    if (name.empty()) return std::unexpected(parse_error{tag, "Missing command"});
    for (char ch : name)
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return std::unexpected(parse_error{tag, "Invalid command name"});
    rest.remove_prefix(e);
    if (name == "UID") {
        if (rest.empty() || rest[0] != ' ')
            return std::unexpected(parse_error{tag, "UID needs a command"});
        rest.remove_prefix(1);
        std::size_t f = 0;
        while (f < rest.size() && rest[f] != ' ') ++f;
        name += " " + upper(rest.substr(0, f));
        rest.remove_prefix(f);
    }
    c.name = std::move(name);
    if (!rest.empty()) {
        if (rest[0] != ' ') return std::unexpected(parse_error{tag, "Expected a space"});
        rest.remove_prefix(1);
        auto args = parse_arguments(rest, max_depth);
        if (!args) return std::unexpected(parse_error{tag, args.error()});
        c.args = std::move(*args);
    }
    return c;
}

void command_reader::compact() {
    if (pos_ > 65536 && pos_ * 2 > in_.size()) {
        in_.erase(0, pos_);
        pos_ = 0;
    }
}

void command_reader::release_memory() {
    // Kept below this capacity: a buffer the size of an ordinary command is worth reusing.
    constexpr std::size_t keep = 2048;
    if (pos_ > 0) {
        in_.erase(0, pos_);
        pos_ = 0;
    }
    if (in_.capacity() > keep && in_.size() <= keep) in_.shrink_to_fit();
    if (cmd_.capacity() > keep && cmd_.size() <= keep) cmd_.shrink_to_fit();
    if (done_.capacity() > keep)
        std::string().swap(done_);
    else
        done_.clear();
}

void command_reader::discard_buffered() {
    in_.clear();
    pos_ = 0;
    cmd_.clear();
    in_literal_ = false;
    skipping_ = false;
    literals_ = 0;
}

command_reader::event_kind command_reader::next() {
    fatal_ = false;
    while (true) {
        if (in_literal_) {
            std::uint64_t avail = in_.size() - pos_;
            std::uint64_t take = std::min(avail, literal_left_);
            cmd_.append(in_, pos_, take);
            pos_ += take;
            literal_left_ -= take;
            compact();
            if (literal_left_ > 0) return event_kind::need_more;
            in_literal_ = false;
            continue; // the rest of the command line follows the literal
        }
        auto r = take_line();
        if (r == event_kind::need_more) return r;
        if (r == event_kind::continuation && !(in_literal_ && sync_)) continue;
        return r;
    }
}

// Takes one line from the input. Returns need_more, complete, error, or continuation
// (in_literal_ set; "continuation" with in_literal_ and a sync literal means tell the client).
command_reader::event_kind command_reader::take_line() {
    auto lf = in_.find('\n', pos_);
    if (lf == std::string::npos) {
        std::size_t pending = in_.size() - pos_;
        if (!skipping_ && pending > lim_.max_line) {
            // RFC 7162 / RFC 9051 7.1: too long a line is BAD; skip to its end.
            std::string first = cmd_.empty() ? in_.substr(pos_, 80) : cmd_.substr(0, 80);
            err_ = tag_of(first) + " BAD [TOOBIG] Command line too long";
            skipping_ = true;
            in_.clear();
            pos_ = 0;
            cmd_.clear();
            literals_ = 0;
            return event_kind::error;
        }
        if (skipping_) {
            in_.clear();
            pos_ = 0;
        }
        return event_kind::need_more;
    }
    std::size_t end = lf;
    if (end > pos_ && in_[end - 1] == '\r') --end;
    std::string_view line(in_.data() + pos_, end - pos_);
    pos_ = lf + 1;
    if (skipping_) {
        skipping_ = false;
        compact();
        sync_ = false;
        return event_kind::continuation; // not a literal: next() goes on reading
    }
    if (line.size() > lim_.max_line) {
        std::string first = cmd_.empty() ? std::string(line.substr(0, 80)) : cmd_.substr(0, 80);
        err_ = tag_of(first) + " BAD [TOOBIG] Command line too long";
        cmd_.clear();
        literals_ = 0;
        compact();
        return event_kind::error;
    }
    if (line_mode_) {
        done_.assign(line);
        compact();
        return event_kind::complete;
    }
    auto m = marker_at_end(line);
    if (cmd_.empty())
        literal_cap_ = command_is_append(line) ? lim_.max_append_literal : lim_.max_literal;
    if (m.found) {
        std::string first = cmd_.empty() ? std::string(line.substr(0, 80)) : cmd_.substr(0, 80);
        if (m.bad || m.n > literal_cap_ || ++literals_ > lim_.max_literals) {
            cmd_.clear();
            literals_ = 0;
            compact();
            if (m.sync) {
                // RFC 7888 4 / RFC 9051 7.1: the client waits for "+", so it sends nothing.
                err_ = tag_of(first) + " NO [TOOBIG] Literal too large";
                return event_kind::error;
            }
            err_ = tag_of(first) + " BAD [TOOBIG] Literal too large";
            fatal_ = true;
            return event_kind::error;
        }
        // The cap is a budget for the whole command: the literals of one command (e.g. the
        // messages of a MULTIAPPEND, RFC 3502) together stay within it, so a command never
        // holds more than one APPENDLIMIT in memory however many literals it carries.
        literal_cap_ -= m.n;
        cmd_.append(line);
        cmd_.append("\r\n");
        compact();
        in_literal_ = true;
        literal_left_ = m.n;
        sync_ = m.sync; // next() tells the client only for synchronizing literals
        return event_kind::continuation;
    }
    cmd_.append(line);
    done_ = std::move(cmd_);
    cmd_.clear();
    literals_ = 0;
    compact();
    return event_kind::complete;
}

bool sequence_set::contains(std::uint32_t n, std::uint32_t largest) const {
    auto bounds = [&](const seq_range& r) {
        std::uint32_t a = r.lo == 0 ? largest : r.lo;
        std::uint32_t b = r.hi == 0 ? largest : r.hi;
        if (a > b) std::swap(a, b); // RFC 3501 9: "4:2" is "2:4"
        return seq_range{a, b};
    };
    if (ranges.size() <= 8) {
        for (const auto& r : ranges) {
            auto [a, b] = bounds(r);
            if (n >= a && n <= b) return true;
        }
        return false;
    }
    if (norm_count_ != ranges.size() || norm_largest_ != largest || norm_.empty()) {
        std::vector<seq_range> v;
        v.reserve(ranges.size());
        for (const auto& r : ranges) v.push_back(bounds(r));
        std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.lo < y.lo; });
        norm_.clear();
        for (const auto& r : v) {
            if (!norm_.empty() && r.lo <= norm_.back().hi)
                norm_.back().hi = std::max(norm_.back().hi, r.hi);
            else
                norm_.push_back(r);
        }
        norm_largest_ = largest;
        norm_count_ = ranges.size();
    }
    // The last merged range starting at or before n.
    auto it = std::upper_bound(norm_.begin(), norm_.end(), n,
                               [](std::uint32_t k, const seq_range& r) { return k < r.lo; });
    return it != norm_.begin() && n <= std::prev(it)->hi;
}

std::expected<sequence_set, std::string> parse_sequence_set(std::string_view s) {
    sequence_set out;
    if (s == "$") {
        out.saved = true;
        return out;
    }
    auto number = [](std::string_view t) -> std::expected<std::uint32_t, std::string> {
        if (t == "*") return 0u;
        std::uint32_t n = 0;
        auto r = std::from_chars(t.data(), t.data() + t.size(), n);
        if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size() || n == 0 ||
            t[0] == '0')
            return std::unexpected("invalid sequence set");
        return n;
    };
    if (s.empty()) return std::unexpected("empty sequence set");
    std::size_t b = 0;
    while (b <= s.size()) {
        auto e = s.find(',', b);
        if (e == std::string_view::npos) e = s.size();
        std::string_view part = s.substr(b, e - b);
        auto colon = part.find(':');
        seq_range r;
        if (colon == std::string_view::npos) {
            auto n = number(part);
            if (!n) return std::unexpected(n.error());
            r.lo = r.hi = *n;
        } else {
            auto a = number(part.substr(0, colon));
            auto z = number(part.substr(colon + 1));
            if (!a || !z) return std::unexpected("invalid sequence set");
            r.lo = *a;
            r.hi = *z;
        }
        out.ranges.push_back(r);
        if (out.ranges.size() > 100000) return std::unexpected("sequence set too long");
        b = e + 1;
    }
    return out;
}

namespace {
constexpr std::string_view mutf7_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

} // namespace

std::optional<std::string> mutf7_to_utf8(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c > 0x7e) return std::nullopt;
        if (c != '&') {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        auto end = s.find('-', i + 1);
        if (end == std::string_view::npos) return std::nullopt;
        if (end == i + 1) { // "&-" is "&"
            out.push_back('&');
            i = end + 1;
            continue;
        }
        // RFC 3501 5.1.3: modified BASE64 of UTF-16BE, ',' for '/', no '=' padding.
        std::uint32_t bits = 0;
        int nbits = 0;
        char16_t high = 0;
        for (std::size_t k = i + 1; k < end; ++k) {
            auto v = mutf7_alphabet.find(s[k]);
            if (v == std::string_view::npos) return std::nullopt;
            bits = (bits << 6) | static_cast<std::uint32_t>(v);
            nbits += 6;
            if (nbits < 16) continue;
            nbits -= 16;
            auto unit = static_cast<char16_t>((bits >> nbits) & 0xFFFF);
            bits &= (1u << nbits) - 1;
            if (high) {
                if (unit < 0xDC00 || unit > 0xDFFF) return std::nullopt;
                text::put_utf8(out, 0x10000 + ((char32_t(high) - 0xD800) << 10) + (unit - 0xDC00));
                high = 0;
            } else if (unit >= 0xD800 && unit <= 0xDBFF) {
                high = unit;
            } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                return std::nullopt;
            } else {
                // Printable ASCII must not be encoded (RFC 3501 5.1.3); control characters
                // (U+0000 from "&AAA-" included) are no part of a mailbox name (RFC 3501
                // 5.1 and 9: CHAR excludes NUL, mailbox names are printable).
                if (unit < 0xA0) return std::nullopt;
                text::put_utf8(out, unit);
            }
        }
        if (high || nbits >= 6 || bits != 0) return std::nullopt; // leftover or padding bits
        i = end + 1;
    }
    return out;
}

bool mutf7_valid(std::string_view s) {
    // RFC 3501 5.1.3: a name has one modified UTF-7 spelling; decode and encode again and
    // compare (as Dovecot's imap_utf7_is_valid does), which refuses what the decoder lets
    // through: "&Jjo-&Jjo-" (two runs where one is due) and any other non-canonical form.
    auto u = mutf7_to_utf8(s);
    if (!u) return false;
    auto again = utf8_to_mutf7(*u);
    return again && *again == s;
}

std::optional<std::string> utf8_to_mutf7(std::string_view s) {
    std::string out;
    std::u16string run; // characters waiting to be encoded
    auto flush = [&] {
        if (run.empty()) return;
        out.push_back('&');
        std::uint32_t bits = 0;
        int nbits = 0;
        for (char16_t u : run) {
            bits = (bits << 16) | u;
            nbits += 16;
            while (nbits >= 6) {
                nbits -= 6;
                out.push_back(mutf7_alphabet[(bits >> nbits) & 0x3F]);
            }
            bits &= (1u << nbits) - 1;
        }
        if (nbits > 0) out.push_back(mutf7_alphabet[(bits << (6 - nbits)) & 0x3F]);
        out.push_back('-');
        run.clear();
    };
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        char32_t cp = 0;
        std::size_t len = 0;
        if (c < 0x80)
            cp = c, len = 1;
        else if ((c & 0xE0) == 0xC0)
            cp = c & 0x1F, len = 2;
        else if ((c & 0xF0) == 0xE0)
            cp = c & 0x0F, len = 3;
        else if ((c & 0xF8) == 0xF0)
            cp = c & 0x07, len = 4;
        else
            return std::nullopt;
        if (i + len > s.size()) return std::nullopt;
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return std::nullopt;
            cp = (cp << 6) | (cc & 0x3F);
        }
        static constexpr char32_t min_of_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_of_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return std::nullopt;
        i += len;
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xA0)) return std::nullopt;
        if (cp < 0x7f) {
            flush();
            if (cp == '&')
                out += "&-";
            else
                out.push_back(static_cast<char>(cp));
            continue;
        }
        if (cp >= 0x10000) {
            run.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
            run.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
        } else {
            run.push_back(static_cast<char16_t>(cp));
        }
    }
    flush();
    return out;
}

std::string plain_literal(std::string_view s) {
    std::string out;
    append_plain_literal(out, s);
    return out;
}

void append_plain_literal(std::string& out, std::string_view s) {
    out += '{';
    out += std::to_string(s.size());
    out += "}\r\n";
    std::size_t head = out.size();
    out.append(s);
    // RFC 3501 9 / RFC 9051 9: a literal is CHAR8 (%x01-ff), never NUL. A NUL octet in stored
    // data (a message with Content-Transfer-Encoding: binary, an APPEND literal8) becomes 0x80,
    // as Dovecot does: one octet for one, so RFC822.SIZE, BODY[...] sizes and <origin.length>
    // of partial fetches (RFC 3501 6.4.5) count the same octets the client receives. The
    // original octets are for BINARY[...], sent as literal8 (RFC 3516 4.3).
    std::replace(out.begin() + static_cast<std::ptrdiff_t>(head), out.end(), '\0', '\x80');
}

std::string quoted_or_literal(std::string_view s) {
    bool safe = s.size() < 1024;
    for (unsigned char c : s)
        if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) safe = false;
    if (!safe) return plain_literal(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string astring(std::string_view s) {
    bool atom = !s.empty() && !iequals(s, "NIL");
    for (unsigned char c : s)
        if (atom_stop(c) || c == '%' || c == '*' || c == '\\' || c == ']' || c >= 0x80)
            atom = false;
    return atom ? std::string(s) : quoted_or_literal(s);
}

std::string nstring(const std::string* s) { return s ? quoted_or_literal(*s) : "NIL"; }

} // namespace splitmail::home::imap
