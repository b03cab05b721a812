// SORT and UID SORT (RFC 5256 3) with the DISPLAYFROM/DISPLAYTO criteria (RFC 5957,
// SORT=DISPLAY) and ESORT (RFC 5267 3: SORT RETURN (MIN MAX COUNT ALL SAVE) answered with one
// ESEARCH response, MIN and MAX being the first and the last message in the sorted order).
// Search keys and their caps are SEARCH's (run_search, search.cpp).
// Costs: the sort values come from the folder's header_cache (each header read once per
// process, then shared by all sessions); sorting is O(n log n) comparisons of cached values,
// with at most `max_sort_criteria` keys per comparison.
#include "imap/header_cache.hpp"
#include "imap/session.hpp"

#include <algorithm>

namespace splitmail::home::imap {
namespace {

// Eight criteria exist; REVERSE doubles them. More is a client bug or an attack on the
// comparison cost, answered BAD.
constexpr std::size_t max_sort_criteria = 16;

enum class criterion { arrival, cc, date, from, size, subject, to, display_from, display_to };

struct sort_key {
    criterion c;
    bool reverse = false;
};

std::expected<std::vector<sort_key>, std::string> parse_criteria(const value& list) {
    if (!list.is_list() || list.items.empty())
        return std::unexpected("Expected a list of sort criteria");
    if (list.items.size() > max_sort_criteria)
        return std::unexpected("Too many sort criteria (limit " +
                               std::to_string(max_sort_criteria) + ")");
    static const std::pair<std::string_view, criterion> names[] = {
        {"ARRIVAL", criterion::arrival}, {"CC", criterion::cc},       {"DATE", criterion::date},
        {"FROM", criterion::from},       {"SIZE", criterion::size},   {"SUBJECT", criterion::subject},
        {"TO", criterion::to},           {"DISPLAYFROM", criterion::display_from},
        {"DISPLAYTO", criterion::display_to}};
    std::vector<sort_key> out;
    bool reverse = false;
    for (const auto& it : list.items) {
        if (!it.is_atom()) return std::unexpected("Sort criteria are atoms");
        std::string u = upper(it.text);
        if (u == "REVERSE") {
            if (reverse) return std::unexpected("REVERSE twice");
            reverse = true;
            continue;
        }
        auto n = std::find_if(std::begin(names), std::end(names),
                              [&](const auto& p) { return p.first == u; });
        if (n == std::end(names)) return std::unexpected("Unknown sort criterion " + u);
        out.push_back({n->second, reverse});
        reverse = false;
    }
    if (reverse || out.empty()) return std::unexpected("REVERSE must precede a sort criterion");
    return out;
}

} // namespace

void session::cmd_sort(const command& c, std::string& out) {
    bool uid = c.name == "UID SORT";
    std::size_t a = 0;
    // RFC 5267 3: SORT RETURN (options) (criteria) charset keys.
    bool esort = false, r_min = false, r_max = false, r_count = false, r_all = false,
         r_save = false;
    if (!c.args.empty() && c.args[0].is_atom() && iequals(c.args[0].text, "RETURN")) {
        if (c.args.size() < 2 || !c.args[1].is_list()) {
            out += bad(c, "RETURN needs a list of options");
            return;
        }
        esort = true;
        for (const auto& o : c.args[1].items) {
            std::string u = o.is_atom() ? upper(o.text) : std::string();
            if (u == "MIN") r_min = true;
            else if (u == "MAX") r_max = true;
            else if (u == "COUNT") r_count = true;
            else if (u == "ALL") r_all = true;
            else if (u == "SAVE") r_save = true;
            else {
                out += bad(c, "Unknown RETURN option " + (u.empty() ? std::string("(list)") : u));
                return;
            }
        }
        if (!r_min && !r_max && !r_count && !r_all && !r_save) r_all = true; // RFC 4731 3.1
        a = 2;
    }
    if (c.args.size() < a + 3) {
        out += bad(c, "Expected sort criteria, a charset and search keys");
        return;
    }
    auto crit = parse_criteria(c.args[a]);
    if (!crit) {
        out += bad(c, crit.error());
        return;
    }
    // RFC 5256 3: the charset is required; US-ASCII and UTF-8 as for SEARCH.
    if (!c.args[a + 1].is_astring() || (!iequals(c.args[a + 1].text, "UTF-8") &&
                                        !iequals(c.args[a + 1].text, "US-ASCII"))) {
        out += no(c, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
        return;
    }
    auto found = run_search(c.args, a + 2, out);
    if (!found) {
        out += bad(c, found.error());
        return;
    }
    auto& s = *sel_;
    auto& cache = s.f->headers();
    // Per match: its position in the view, the message, and its cached values (pointers into
    // the cache stay valid: no insertion happens once this loop is done).
    struct row {
        std::uint32_t seq, uid;
        const message_entry* m;
        const sort_fields* f;
    };
    std::vector<row> rows;
    rows.reserve(found->uids.size());
    bool needs_headers = std::any_of(crit->begin(), crit->end(), [](const sort_key& k) {
        return k.c != criterion::arrival && k.c != criterion::size;
    });
    for (std::size_t i = 0; i < found->uids.size(); ++i) {
        const auto* m = s.f->find(found->uids[i]);
        if (!m) continue;
        rows.push_back({found->seqs[i], m->uid, m, nullptr});
    }
    if (needs_headers)
        for (auto& r : rows) r.f = &cache.get(*s.f, *r.m);
    if (needs_headers) cache.persist(*s.f);
    // RFC 5256 2.2: the sent date, or INTERNALDATE when the message has no usable Date:.
    auto sent = [&](const row& r) {
        return r.f->sent != sort_fields::no_date ? r.f->sent : s.f->internal_date(*r.m);
    };
    auto cmp = [&](const row& x, const row& y) {
        for (const auto& k : *crit) {
            int d = 0;
            auto three = [](auto p, auto q) { return p < q ? -1 : q < p ? 1 : 0; };
            switch (k.c) {
            case criterion::arrival:
                d = three(s.f->internal_date(*x.m), s.f->internal_date(*y.m));
                break;
            case criterion::date: d = three(sent(x), sent(y)); break;
            case criterion::size: d = three(x.m->size, y.m->size); break;
            case criterion::subject: d = x.f->subject.compare(y.f->subject); break;
            case criterion::from: d = x.f->from.compare(y.f->from); break;
            case criterion::to: d = x.f->to.compare(y.f->to); break;
            case criterion::cc: d = x.f->cc.compare(y.f->cc); break;
            case criterion::display_from: d = x.f->display_from.compare(y.f->display_from); break;
            case criterion::display_to: d = x.f->display_to.compare(y.f->display_to); break;
            }
            if (d != 0) return k.reverse ? d > 0 : d < 0;
        }
        // RFC 5256 3: equal under every criterion: mailbox order (REVERSE does not apply).
        return x.seq < y.seq;
    };
    std::sort(rows.begin(), rows.end(), cmp);
    std::vector<std::uint32_t> order;
    order.reserve(rows.size());
    for (const auto& r : rows) order.push_back(uid ? r.uid : r.seq);
    if (!esort) {
        std::string line = "* SORT";
        for (auto x : order) line += " " + std::to_string(x);
        if (found->with_modseq && !order.empty())
            line += " (MODSEQ " + std::to_string(found->top_modseq) + ")"; // RFC 7162 3.1.5
        out += line + "\r\n" + ok(c, c.name + " completed");
        return;
    }
    if (r_save) { // RFC 5182 2.1 (a set: sorted by UID)
        last_search_.clear();
        if (!r_min && !r_max) {
            last_search_ = found->uids;
        } else if (!rows.empty()) {
            if (r_min) last_search_.push_back(rows.front().uid);
            if (r_max) last_search_.push_back(rows.back().uid);
            std::sort(last_search_.begin(), last_search_.end());
            last_search_.erase(std::unique(last_search_.begin(), last_search_.end()),
                               last_search_.end());
        }
    }
    if (r_min || r_max || r_count || r_all) {
        std::string line = "* ESEARCH (TAG " + quoted_or_literal(c.tag) + ")";
        if (uid) line += " UID";
        if (r_min && !order.empty()) line += " MIN " + std::to_string(order.front());
        if (r_max && !order.empty()) line += " MAX " + std::to_string(order.back());
        // In the sorted order; only ascending runs of consecutive numbers become ranges.
        if (r_all && !order.empty()) line += " ALL " + compact_uid_set(order);
        if (r_count) line += " COUNT " + std::to_string(order.size());
        if (found->with_modseq && !order.empty()) {
            // RFC 4731 3.2 / RFC 7162 3.1.5 (as SEARCH, issue 15 item 4): MIN alone or MAX
            // alone carries that message's MODSEQ, otherwise the highest of all matches.
            std::uint64_t ms = found->top_modseq;
            bool only_min = r_min && !r_max && !r_all && !r_count;
            bool only_max = r_max && !r_min && !r_all && !r_count;
            if (only_min || only_max) ms = (only_min ? rows.front() : rows.back()).m->modseq;
            line += " MODSEQ " + std::to_string(ms);
        }
        out += line + "\r\n";
    }
    out += ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
