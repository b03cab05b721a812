// SORT and UID SORT (RFC 5256 3) with the DISPLAYFROM/DISPLAYTO criteria (RFC 5957,
// SORT=DISPLAY), ESORT (RFC 5267 3: SORT RETURN (MIN MAX COUNT ALL SAVE) answered with one
// ESEARCH response, MIN and MAX being the first and the last message in the sorted order) and
// CONTEXT=SORT (RFC 5267 4: RETURN (PARTIAL lo:hi) for a window of the sorted result, RETURN
// (UPDATE) to keep it current: commands/context.cpp).
// Search keys and their caps are SEARCH's (run_search, search.cpp).
// Costs: the sort values come from the folder's header_cache (each header read once per
// process, then shared by all sessions); sorting is O(n log n) comparisons of cached values,
// with at most `max_sort_criteria` keys per comparison.
#include "imap/header_cache.hpp"
#include "imap/search_return.hpp"
#include "imap/commands/handler.hpp"

#include <algorithm>
#include <charconv>

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
        {"ARRIVAL", criterion::arrival},
        {"CC", criterion::cc},
        {"DATE", criterion::date},
        {"FROM", criterion::from},
        {"SIZE", criterion::size},
        {"SUBJECT", criterion::subject},
        {"TO", criterion::to},
        {"DISPLAYFROM", criterion::display_from},
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

std::vector<std::uint32_t> handler_context::sorted_uids(const value& criteria,
                                                        const search_hits& found) {
    auto crit = parse_criteria(criteria);
    if (!crit) return {};
    auto& s = *sel_;
    auto& cache = s.f->headers();
    // Per match: its position in the view, the message, its sent date when DATE is a
    // criterion, and its cached values when a criterion needs more of the header (pointers
    // into the cache stay valid: no insertion happens once this loop is done).
    struct row {
        std::uint32_t seq;
        const message_entry* m;
        const sort_fields* f;
        std::int64_t date;
    };
    std::vector<row> rows;
    rows.reserve(found.uids.size());
    auto uses = [&](auto pred) { return std::any_of(crit->begin(), crit->end(), pred); };
    bool needs_date = uses([](const sort_key& k) { return k.c == criterion::date; });
    bool needs_strings = uses([](const sort_key& k) {
        return k.c != criterion::arrival && k.c != criterion::size && k.c != criterion::date;
    });
    for (std::size_t i = 0; i < found.uids.size(); ++i) {
        const auto* m = s.f->find(found.uids[i]);
        if (!m) continue;
        rows.push_back({found.seqs[i], m, nullptr, 0});
    }
    // RFC 5256 2.2: the sent date, or INTERNALDATE when the message has no usable Date:.
    // DATE alone needs no string of the cache (after a restart only its date table is read).
    for (auto& r : rows) {
        std::int64_t sent = sort_fields::no_date;
        if (needs_strings) {
            r.f = &cache.get(*s.f, *r.m);
            sent = r.f->sent;
        } else if (needs_date) {
            sent = cache.sent(*s.f, *r.m);
        }
        if (needs_date) r.date = sent != sort_fields::no_date ? sent : s.f->internal_date(*r.m);
    }
    if (needs_strings || needs_date) cache.persist(*s.f);
    auto cmp = [&](const row& x, const row& y) {
        for (const auto& k : *crit) {
            int d = 0;
            auto three = [](auto p, auto q) { return p < q ? -1 : q < p ? 1 : 0; };
            switch (k.c) {
            case criterion::arrival:
                d = three(s.f->internal_date(*x.m), s.f->internal_date(*y.m));
                break;
            case criterion::date: d = three(x.date, y.date); break;
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
    for (const auto& r : rows) order.push_back(r.m->uid);
    return order;
}

void commands::sort(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    bool uid = c.name == "UID SORT";
    std::size_t a = 0;
    // RFC 5267 3: SORT RETURN (options) (criteria) charset keys.
    bool esort = false;
    return_options ro;
    if (auto rc = return_clause(c.args)) {
        if (!*rc) {
            out += bad(c, rc->error());
            return;
        }
        ro = **rc;
        esort = true;
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
    if (!c.args[a + 1].is_astring() ||
        (!iequals(c.args[a + 1].text, "UTF-8") && !iequals(c.args[a + 1].text, "US-ASCII"))) {
        out += no(c, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
        return;
    }
    auto found = ctx.run_search(c.args, a + 2, out);
    if (!found) {
        out += bad(c, found.error());
        return;
    }
    auto& s = *ctx.selected();
    auto uids = ctx.sorted_uids(c.args[a], *found);
    // What the client asked for: UIDs, or sequence numbers (found holds both, ascending).
    auto number = [&](std::uint32_t u) {
        if (uid) return u;
        auto p = std::lower_bound(found->uids.begin(), found->uids.end(), u);
        return found->seqs[static_cast<std::size_t>(p - found->uids.begin())];
    };
    std::vector<std::uint32_t> order;
    order.reserve(uids.size());
    for (auto u : uids) order.push_back(number(u));
    if (!esort) {
        std::string line = "* SORT";
        line.reserve(8 + 8 * order.size());
        for (auto x : order) {
            char num[12];
            auto end = std::to_chars(num, num + sizeof num, x).ptr;
            line += ' ';
            line.append(num, end);
        }
        if (found->with_modseq && !order.empty())
            line += " (MODSEQ " + std::to_string(found->top_modseq) + ")"; // RFC 7162 3.1.5
        out += line + "\r\n" + ok(c, c.name + " completed");
        return;
    }
    if (ro.save) { // RFC 5182 2.1 (a set: sorted by UID)
        ctx.saved.clear();
        if (!ro.min && !ro.max) {
            ctx.saved = found->uids;
        } else if (!uids.empty()) {
            if (ro.min) ctx.saved.push_back(uids.front());
            if (ro.max) ctx.saved.push_back(uids.back());
            std::sort(ctx.saved.begin(), ctx.saved.end());
            ctx.saved.erase(std::unique(ctx.saved.begin(), ctx.saved.end()), ctx.saved.end());
        }
    }
    if (ro.any_data()) {
        std::string line = "* ESEARCH (TAG " + quoted_or_literal(c.tag) + ")";
        if (uid) line += " UID";
        if (ro.min && !order.empty()) line += " MIN " + std::to_string(order.front());
        if (ro.max && !order.empty()) line += " MAX " + std::to_string(order.back());
        // In the sorted order; only ascending runs of consecutive numbers become ranges.
        if (ro.all && !order.empty()) line += " ALL " + ordered_set(order);
        if (ro.partial) line += partial_data(*ro.partial, order); // RFC 5267 4.4
        if (ro.count) line += " COUNT " + std::to_string(order.size());
        if (found->with_modseq && !order.empty()) {
            // RFC 4731 3.2 / RFC 7162 3.1.5 (as SEARCH, issue 15 item 4): MIN alone or MAX
            // alone carries that message's MODSEQ, otherwise the highest of all matches.
            std::uint64_t ms = found->top_modseq;
            bool only_min = ro.min && !ro.max && !ro.all && !ro.count && !ro.partial;
            bool only_max = ro.max && !ro.min && !ro.all && !ro.count && !ro.partial;
            if (only_min || only_max)
                if (const auto* m = s.f->find(only_min ? uids.front() : uids.back()))
                    ms = m->modseq;
            line += " MODSEQ " + std::to_string(ms);
        }
        out += line + "\r\n";
    }
    if (ro.update) ctx.keep_context(c, true, a + 2, a, std::move(uids), out); // RFC 5267 4.2
    out += ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
