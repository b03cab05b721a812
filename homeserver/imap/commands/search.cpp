// SEARCH and UID SEARCH (RFC 3501 6.4.4): flags, NEW/OLD/RECENT, header and text keys,
// internal-date and sent-date keys, sizes, UID, sequence sets, NOT, OR, parenthesised groups.
// CHARSET US-ASCII and UTF-8 (substring match, case-insensitive: ASCII, and Latin, Greek and
// Cyrillic letters for a UTF-8 needle). Header keys decode RFC 2047 words (encoded_words.hpp). FROM/TO/CC/BCC also
// match the addresses without comments (address.hpp): "u (c)@ (c) h" is found as "u@h".
// ESEARCH (RFC 4731): "SEARCH RETURN (MIN MAX COUNT ALL SAVE)" answers with one ESEARCH
// response; after ENABLE IMAP4rev2 every SEARCH does (RFC 9051 6.4.4, default RETURN (ALL)).
// SEARCHRES (RFC 5182): only RETURN (SAVE) replaces the "$" result; with MIN and/or MAX it
// saves just those messages (RFC 5182 2.1). CONTEXT=SEARCH (RFC 5267 4): RETURN (PARTIAL lo:hi)
// answers a window of the result, RETURN (UPDATE) keeps it current (commands/context.cpp).
// Costs (issue 11): substring keys are found by Knuth-Morris-Pratt (linear in message and
// needle), keys per command are capped (BAD names the limit), key names are numbers before
// the per-message loop, and sequence sets are binary-searched (codec.hpp).
#include "imap/address.hpp"
#include "imap/encoded_words.hpp"
#include "imap/mime.hpp"
#include "imap/search_return.hpp"
#include "imap/commands/handler.hpp"

#include <algorithm>
#include <charconv>

namespace splitmail::home::imap {
namespace {

// Caps on one SEARCH (issue 11): every key is evaluated per message, and a substring key
// reads the message, so the keys of one command are counted. Nesting is capped at 32 levels.
constexpr std::size_t max_search_keys = 256;          // every key, NOT/OR/groups included
constexpr std::size_t max_search_substring_keys = 16; // FROM ... HEADER, BODY, TEXT

// Lower-cases the letters of UTF-8 text that have a one-to-one lower case of the same
// encoded length: ASCII, Latin-1 (U+00C0..U+00DE), Latin Extended-A pairs, Greek and Cyrillic
// capitals (RFC 9051 6.4.4: case-insensitive; "MÜLLER" finds "Müller"). Other octets, and
// invalid UTF-8, are kept as they are, so the length never changes.
std::string fold_utf8(std::string_view in) {
    std::string out(in);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto c = static_cast<unsigned char>(out[i]);
        if (c >= 'A' && c <= 'Z') {
            out[i] = static_cast<char>(c + 32);
            continue;
        }
        if ((c & 0xE0) != 0xC0 || i + 1 >= out.size()) continue;
        auto c2 = static_cast<unsigned char>(out[i + 1]);
        if ((c2 & 0xC0) != 0x80) continue;
        unsigned cp = ((c & 0x1Fu) << 6) | (c2 & 0x3Fu), lo = cp;
        if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
            lo = cp + 0x20;
        else if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
            lo = cp | 1u;
        else if (cp >= 0x139 && cp <= 0x148 && (cp & 1u))
            lo = cp + 1;
        else if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
            lo = cp + 0x20;
        else if (cp >= 0x410 && cp <= 0x42F)
            lo = cp + 0x20;
        else if (cp >= 0x400 && cp <= 0x40F)
            lo = cp + 0x50;
        if (lo != cp && lo <= 0x7FF) {
            out[i] = static_cast<char>(0xC0 | (lo >> 6));
            out[i + 1] = static_cast<char>(0x80 | (lo & 0x3F));
        }
        ++i;
    }
    return out;
}

// A substring needle with its Knuth-Morris-Pratt failure table, case-insensitive (RFC 3501
// 6.4.4: substring match; RFC 9051 6.4.4 / 7.1: case-insensitive; fold_utf8 when the needle
// has non-ASCII letters, ASCII folding otherwise). Finding it costs O(len(hay) + len(needle))
// whatever both hold; the naive search was O(hay x needle), which a 64 KiB needle of "a"s
// against a large message of "a"s turns into minutes.
class needle {
public:
    needle() = default;
    explicit needle(std::string_view n) : n_(fold_utf8(n)) {
        unicode_ = std::any_of(n_.begin(), n_.end(), [](char c) { return c & 0x80; });
        fail_.assign(n_.size() + 1, 0);
        for (std::size_t i = 1, k = 0; i < n_.size(); ++i) {
            while (k > 0 && n_[i] != n_[k]) k = fail_[k];
            if (n_[i] == n_[k]) ++k;
            fail_[i + 1] = k;
        }
    }
    bool in(std::string_view hay) const {
        if (n_.empty()) return true;
        if (unicode_) {
            std::string folded = fold_utf8(hay);
            return scan(folded);
        }
        return scan(hay);
    }

private:
    bool scan(std::string_view hay) const {
        std::size_t k = 0;
        for (char h : hay) {
            char c = fold(h);
            while (k > 0 && c != n_[k]) k = fail_[k];
            if (c == n_[k] && ++k == n_.size()) return true;
        }
        return false;
    }
    static char fold(char x) { return (x >= 'A' && x <= 'Z') ? static_cast<char>(x + 32) : x; }
    std::string n_;
    bool unicode_ = false;
    std::vector<std::size_t> fail_; // fail_[i]: longest proper border of n_[0, i)
};

// The keys evaluated without reading the message, as numbers: a SEARCH runs its key tree once
// per message, and comparing key names there cost more than the work itself.
enum key_op : unsigned char {
    op_other, // the keys that read the message (compared by name; capped, see above)
    op_and,
    op_set,
    op_uid,
    op_not,
    op_or,
    op_all,
    op_answered,
    op_deleted,
    op_flagged,
    op_seen,
    op_draft,
    op_unanswered,
    op_undeleted,
    op_unflagged,
    op_unseen,
    op_undraft,
    op_recent,
    op_old,
    op_new,
    op_keyword,
    op_unkeyword,
    op_modseq,
    op_larger,
    op_smaller,
    op_before,
    op_on,
    op_since,
};

key_op op_code(std::string_view name) {
    static const char* names[] = {
        "AND",     "SET",     "UID",     "NOT",    "OR",         "ALL",       "ANSWERED",
        "DELETED", "FLAGGED", "SEEN",    "DRAFT",  "UNANSWERED", "UNDELETED", "UNFLAGGED",
        "UNSEEN",  "UNDRAFT", "RECENT",  "OLD",    "NEW",        "KEYWORD",   "UNKEYWORD",
        "MODSEQ",  "LARGER",  "SMALLER", "BEFORE", "ON",         "SINCE"};
    // Same order as key_op (after op_other).
    for (std::size_t i = 0; i < std::size(names); ++i)
        if (name == names[i]) return static_cast<key_op>(i + 1);
    return op_other;
}

struct key {
    key() = default;
    explicit key(std::string name) : op(std::move(name)) {}
    std::string op;        // upper-case key name, "AND", "SET", "UIDSET"
    std::string arg, arg2; // strings
    std::int64_t num = 0;
    sequence_set set;
    std::vector<key> kids;
    needle find;            // substring keys: arg (arg2 for HEADER)
    key_op code = op_other; // set by number_keys() once parsed
};

void number_keys(key& k) {
    k.code = op_code(k.op);
    for (auto& c : k.kids) number_keys(c);
}

class parser {
public:
    parser(const std::vector<value>& v, std::size_t start) : v_(v), p_(start) {}
    bool done() const { return p_ >= v_.size(); }

    std::expected<key, std::string> one(int depth = 0) {
        if (depth > 32) return std::unexpected("search keys nested too deeply");
        if (done()) return std::unexpected("missing search key");
        if (++count_->keys > max_search_keys)
            return std::unexpected("Too many search keys (limit " +
                                   std::to_string(max_search_keys) + ")");
        const value& x = v_[p_++];
        if (x.is_list()) {
            key k{"AND"};
            parser sub(x.items, 0, count_);
            while (!sub.done()) {
                auto c = sub.one(depth + 1);
                if (!c) return c;
                k.kids.push_back(std::move(*c));
            }
            if (k.kids.empty()) return std::unexpected("empty search group");
            return k;
        }
        std::string u = upper(x.text);
        if (x.is_atom() && !u.empty() &&
            (u[0] == '$' || u[0] == '*' || (u[0] >= '0' && u[0] <= '9'))) {
            auto s = parse_sequence_set(x.text);
            if (!s) return std::unexpected(s.error());
            key k{"SET"};
            k.set = *s;
            return k;
        }
        key k{u};
        static const char* no_arg[] = {"ALL",       "ANSWERED",  "DELETED", "FLAGGED", "SEEN",
                                       "DRAFT",     "RECENT",    "NEW",     "OLD",     "UNANSWERED",
                                       "UNDELETED", "UNFLAGGED", "UNSEEN",  "UNDRAFT"};
        for (auto n : no_arg)
            if (u == n) return k;
        static const char* str_arg[] = {"FROM", "TO",   "CC",      "BCC",      "SUBJECT",
                                        "BODY", "TEXT", "KEYWORD", "UNKEYWORD"};
        for (auto n : str_arg)
            if (u == n) {
                if (done() || v_[p_].is_list()) return std::unexpected(u + " needs a string");
                k.arg = v_[p_++].text;
                if (u != "KEYWORD" && u != "UNKEYWORD") {
                    if (auto e = substring_key()) return std::unexpected(*e);
                    k.find = needle(k.arg);
                }
                return k;
            }
        if (u == "HEADER") {
            if (p_ + 1 >= v_.size() + 0 || v_[p_].is_list() || v_[p_ + 1].is_list())
                return std::unexpected("HEADER needs a field name and a string");
            k.arg = v_[p_++].text;
            k.arg2 = v_[p_++].text;
            if (auto e = substring_key()) return std::unexpected(*e);
            k.find = needle(k.arg2);
            return k;
        }
        if (u == "BEFORE" || u == "ON" || u == "SINCE" || u == "SENTBEFORE" || u == "SENTON" ||
            u == "SENTSINCE") {
            if (done()) return std::unexpected(u + " needs a date");
            auto d = parse_date(v_[p_++].text);
            if (!d) return std::unexpected("invalid date");
            k.num = *d;
            return k;
        }
        if (u == "MODSEQ") {
            // RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer; the
            // entry (per-flag MODSEQ) is accepted and ignored: ours is per message.
            if (p_ + 2 < v_.size() + 0 && v_[p_].k == value::kind::string) p_ += 2;
            if (done()) return std::unexpected("MODSEQ needs a mod-sequence");
            const std::string& t = v_[p_++].text;
            std::uint64_t n = 0;
            auto r = std::from_chars(t.data(), t.data() + t.size(), n);
            if (r.ec != std::errc() || r.ptr != t.data() + t.size())
                return std::unexpected("invalid mod-sequence");
            k.num = static_cast<std::int64_t>(n);
            return k;
        }
        if (u == "LARGER" || u == "SMALLER") {
            if (done()) return std::unexpected(u + " needs a number");
            const std::string& t = v_[p_++].text;
            std::uint64_t n = 0;
            auto r = std::from_chars(t.data(), t.data() + t.size(), n);
            if (r.ec != std::errc() || r.ptr != t.data() + t.size())
                return std::unexpected("invalid number");
            k.num = static_cast<std::int64_t>(n);
            return k;
        }
        if (u == "UID") {
            if (done()) return std::unexpected("UID needs a set");
            auto s = parse_sequence_set(v_[p_++].text);
            if (!s) return std::unexpected(s.error());
            k.set = *s;
            return k;
        }
        if (u == "NOT") {
            auto c = one(depth + 1);
            if (!c) return c;
            k.kids.push_back(std::move(*c));
            return k;
        }
        if (u == "OR") {
            auto a = one(depth + 1);
            if (!a) return a;
            auto b = one(depth + 1);
            if (!b) return b;
            k.kids.push_back(std::move(*a));
            k.kids.push_back(std::move(*b));
            return k;
        }
        return std::unexpected("unknown search key " + u);
    }

    struct counts {
        std::size_t keys = 0, substring = 0;
    };

private:
    std::optional<std::string> substring_key() {
        if (++count_->substring > max_search_substring_keys)
            return "Too many substring search keys (limit " +
                   std::to_string(max_search_substring_keys) + ")";
        return std::nullopt;
    }
    const std::vector<value>& v_;
    std::size_t p_;
    counts own_;
    counts* count_ = &own_; // shared by the parsers of nested groups
public:
    parser(const std::vector<value>& v, std::size_t start, counts* c)
        : v_(v), p_(start), count_(c) {}
};

std::int64_t day_of(std::int64_t t) { return t - ((t % 86400) + 86400) % 86400; }

} // namespace

std::expected<search_hits, std::string>
handler_context::run_search(const std::vector<value>& args, std::size_t start, std::string& out) {
    parser p(args, start);
    key root{"AND"};
    while (!p.done()) {
        auto k = p.one();
        if (!k) return std::unexpected(k.error());
        root.kids.push_back(std::move(*k));
    }
    if (root.kids.empty()) return std::unexpected(std::string("Missing search keys"));
    number_keys(root);
    auto& s = *sel_;
    auto n = static_cast<std::uint32_t>(s.uids.size());
    std::uint32_t largest_uid = s.uids.empty() ? 0 : s.uids.back();
    search_hits found;
    auto& hits_uid = found.uids;
    auto& hits_seq = found.seqs;
    // RFC 7162 3.1.5: with a MODSEQ key the answer carries the highest MODSEQ of the matches.
    std::function<bool(const key&)> uses_modseq = [&](const key& k) {
        return k.op == "MODSEQ" || std::any_of(k.kids.begin(), k.kids.end(), uses_modseq);
    };
    bool with_modseq = found.with_modseq = uses_modseq(root);
    if (with_modseq) condstore_used(out);
    std::uint64_t& top_modseq = found.top_modseq;
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto* m = s.f->find(s.uids[i]);
        if (!m) continue;
        std::string content;
        bool loaded = false;
        mime::part tree;
        auto load = [&]() {
            if (loaded) return;
            loaded = true;
            if (auto r = s.f->read(m->uid)) content = std::move(*r);
            tree = mime::parse(content);
        };
        bool recent = s.recent.count(m->uid) > 0;
        std::function<bool(const key&)> eval = [&](const key& k) -> bool {
            const std::string& o = k.op;
            switch (k.code) {
            case op_and:
                for (auto& x : k.kids)
                    if (!eval(x)) return false;
                return true;
            case op_set: {
                if (k.set.saved) return std::binary_search(saved.begin(), saved.end(), m->uid);
                return k.set.contains(i + 1, n);
            }
            case op_uid: {
                if (k.set.saved) return std::binary_search(saved.begin(), saved.end(), m->uid);
                return k.set.contains(m->uid, largest_uid);
            }
            case op_not: return !eval(k.kids[0]);
            case op_or: return eval(k.kids[0]) || eval(k.kids[1]);
            case op_all: return true;
            case op_answered: return m->flags & flag_answered;
            case op_deleted: return m->flags & flag_deleted;
            case op_flagged: return m->flags & flag_flagged;
            case op_seen: return m->flags & flag_seen;
            case op_draft: return m->flags & flag_draft;
            case op_unanswered: return !(m->flags & flag_answered);
            case op_undeleted: return !(m->flags & flag_deleted);
            case op_unflagged: return !(m->flags & flag_flagged);
            case op_unseen: return !(m->flags & flag_seen);
            case op_undraft: return !(m->flags & flag_draft);
            case op_recent: return recent;
            case op_old: return !recent;
            case op_new: return recent && !(m->flags & flag_seen);
            case op_keyword: return s.f->has_keyword(*m, k.arg);
            case op_unkeyword: return !s.f->has_keyword(*m, k.arg);
            case op_modseq: return m->modseq >= static_cast<std::uint64_t>(k.num);
            case op_larger: return m->size > static_cast<std::uint64_t>(k.num);
            case op_smaller: return m->size < static_cast<std::uint64_t>(k.num);
            case op_before: return day_of(s.f->internal_date(*m)) < k.num;
            case op_on: return day_of(s.f->internal_date(*m)) == k.num;
            case op_since: return day_of(s.f->internal_date(*m)) >= k.num;
            case op_other: break;
            }
            load();
            auto header = mime::header_of(content, tree);
            // Header keys compare the field with RFC 2047 encoded words decoded (RFC 3501
            // 6.4.4 / RFC 9051 6.4.4: a search for "Müller" finds "=?utf-8?q?M=C3=BCller?=").
            if (o == "SUBJECT") {
                auto v = mime::field(header, "Subject");
                return v && k.find.in(encoded_words::decode(*v));
            }
            if (o == "FROM" || o == "TO" || o == "CC" || o == "BCC") {
                // RFC 5322 3.2.2: CFWS is not part of an address, so "user (c)@ (c) host" is
                // found as "user@host": the field as written, or its addresses without CFWS.
                auto v = mime::field(header, o);
                return v && (k.find.in(encoded_words::decode(*v)) ||
                             k.find.in(encoded_words::decode(
                                 address::search_text(address::parse_list(*v)))));
            }
            if (o == "HEADER") {
                // RFC 3501 6.4.4: any field of that name (X-Extra may occur several times);
                // an empty string matches every message that has the field.
                for (const auto& v : mime::fields(header, k.arg))
                    if (k.find.in(encoded_words::decode(v))) return true;
                return false;
            }
            if (o == "BODY") return k.find.in(mime::body_of(content, tree));
            if (o == "TEXT") return k.find.in(content);
            if (o == "SENTBEFORE" || o == "SENTON" || o == "SENTSINCE") {
                // Date header "[Day, ]DD Mon YYYY ..." (RFC 5322 3.3): compare the day.
                auto v = mime::field(header, "Date");
                if (!v) return false;
                std::string d = *v;
                auto comma = d.find(',');
                if (comma != std::string::npos) d = d.substr(comma + 1);
                int dd = 0, yy = 0;
                char mon[4] = {};
                if (std::sscanf(d.c_str(), " %d %3s %d", &dd, mon, &yy) != 3) return false;
                auto day = parse_date(std::to_string(dd) + "-" + mon + "-" + std::to_string(yy));
                if (!day) return false;
                if (o == "SENTBEFORE") return *day < k.num;
                if (o == "SENTON") return *day == k.num;
                return *day >= k.num;
            }
            return false;
        };
        if (eval(root)) {
            top_modseq = std::max(top_modseq, m->modseq);
            hits_uid.push_back(m->uid);
            hits_seq.push_back(i + 1);
        }
    }
    return found;
}

void commands::search(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    bool uid = c.name == "UID SEARCH";
    std::size_t start = 0;
    // RFC 4731 3.1 / RFC 4466 2.6: search-return-opts come first.
    bool extended = ctx.rev2();
    return_options ro;
    if (auto rc = return_clause(c.args)) { // RETURN () means RETURN (ALL)
        if (!*rc) {
            out += bad(c, rc->error());
            return;
        }
        ro = **rc;
        extended = true;
        start = 2;
    } else if (extended) {
        ro.all = true;
    }
    if (c.args.size() > start && c.args[start].is_atom() &&
        iequals(c.args[start].text, "CHARSET")) {
        if (c.args.size() < start + 2) {
            out += bad(c, "CHARSET needs a name");
            return;
        }
        if (!iequals(c.args[start + 1].text, "UTF-8") &&
            !iequals(c.args[start + 1].text, "US-ASCII")) {
            out += no(c, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
            return;
        }
        start += 2;
    }
    auto found = ctx.run_search(c.args, start, out);
    if (!found) {
        out += bad(c, found.error());
        return;
    }
    auto& s = *ctx.selected();
    const auto& hits_uid = found->uids;
    const auto& hits_seq = found->seqs;
    const bool with_modseq = found->with_modseq;
    const std::uint64_t top_modseq = found->top_modseq;
    if (!extended) {
        std::string line = "* SEARCH";
        for (auto x : uid ? hits_uid : hits_seq) line += " " + std::to_string(x);
        if (with_modseq && !hits_uid.empty())
            line += " (MODSEQ " + std::to_string(top_modseq) + ")";
        out += line + "\r\n" + ok(c, c.name + " completed");
        return;
    }
    const auto& hits = uid ? hits_uid : hits_seq; // both ascend: messages are in UID order
    if (ro.save) {
        // RFC 5182 2.1: with MIN/MAX only those are saved; otherwise every match.
        ctx.saved.clear();
        if (!ro.min && !ro.max)
            ctx.saved = hits_uid;
        else if (!hits_uid.empty()) {
            if (ro.min) ctx.saved.push_back(hits_uid.front());
            if (ro.max && (!ro.min || hits_uid.size() > 1)) ctx.saved.push_back(hits_uid.back());
        }
        std::sort(ctx.saved.begin(), ctx.saved.end());
    }
    // RFC 5182 2.1: SAVE alone returns no ESEARCH response.
    if (ro.any_data()) {
        std::string line = "* ESEARCH (TAG " + quoted_or_literal(c.tag) + ")";
        if (uid) line += " UID";
        // RFC 4731 3.1: MIN, MAX and ALL are omitted when nothing matched; COUNT is not.
        if (ro.min && !hits.empty()) line += " MIN " + std::to_string(hits.front());
        if (ro.max && !hits.empty()) line += " MAX " + std::to_string(hits.back());
        if (ro.all && !hits.empty()) line += " ALL " + compact_uid_set(hits);
        if (ro.partial) line += partial_data(*ro.partial, hits); // RFC 5267 4.4, RFC 9394
        if (ro.count) line += " COUNT " + std::to_string(hits.size());
        if (with_modseq && !hits.empty()) {
            // RFC 4731 3.2 / RFC 7162 3.1.5: with MIN alone or MAX alone, MODSEQ is that
            // message's mod-sequence; otherwise the highest of all matches.
            std::uint64_t ms = top_modseq;
            bool only_min = ro.min && !ro.max && !ro.all && !ro.count && !ro.partial;
            bool only_max = ro.max && !ro.min && !ro.all && !ro.count && !ro.partial;
            if (only_min || only_max)
                if (const auto* m = s.f->find(only_min ? hits_uid.front() : hits_uid.back()))
                    ms = m->modseq;
            line += " MODSEQ " + std::to_string(ms);
        }
        out += line + "\r\n";
    }
    // RFC 5267 4.2: keep the result and report its changes; `start` is where the keys begin.
    if (ro.update) ctx.keep_context(c, false, start, 0, hits_uid, out);
    out += ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
