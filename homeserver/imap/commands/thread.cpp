// THREAD and UID THREAD (RFC 5256 4): ORDEREDSUBJECT and REFERENCES, over the messages that
// match the search keys (run_search, search.cpp). Message-ID, References, base subject and
// sent date come from the folder's header_cache (each header read once per process).
//
// Costs (every user-controlled loop linear or capped): a message contributes at most
// header_cache::max_references references; linking refuses a link whose loop check would
// climb more than `max_ancestor_walk` levels (such a message starts a thread of its own
// there), and each container is linked at most once by References plus once as a message,
// so the checks cost at most (containers + messages) x max_ancestor_walk steps. Pruning,
// sorting and printing use explicit stacks (a deep thread cannot exhaust the call stack).
#include "imap/header_cache.hpp"
#include "imap/commands/handler.hpp"

#include <algorithm>
#include <unordered_map>

namespace splitmail::home::imap {
namespace {

constexpr std::size_t max_ancestor_walk = 1024;

struct container {
    int msg = -1; // index into the rows, -1: dummy (referenced, not in the set)
    int parent = -1;
    std::size_t pos = 0; // index in the parent's kids (kept by link/unlink: O(1) unlink)
    std::vector<int> kids;
    std::int64_t date = 0; // sort date (a dummy: its first child's, after sorting)
    std::uint32_t seq = 0; // tie-break: mailbox order
};

struct forest {
    std::vector<container> c;

    int add() {
        c.emplace_back();
        return static_cast<int>(c.size()) - 1;
    }
    // O(1): the last sibling takes x's place (sibling order is set by sort_by_date later), so
    // a parent with 100,000 guessed children cannot make unlinking them quadratic.
    void unlink(int x) {
        int p = c[x].parent;
        if (p < 0) return;
        auto& k = c[p].kids;
        int last = k.back();
        k[c[x].pos] = last;
        c[last].pos = c[x].pos;
        k.pop_back();
        c[x].parent = -1;
    }
    void link(int parent, int child) {
        c[child].parent = parent;
        c[child].pos = c[parent].kids.size();
        c[parent].kids.push_back(child);
    }
    // Would `child` under `parent` make a loop (child is parent or one of its ancestors)?
    // Beyond the walk cap the answer is "yes": the link is not made.
    bool loops(int parent, int child) const {
        std::size_t steps = 0;
        for (int x = parent; x >= 0; x = c[x].parent) {
            if (x == child || ++steps > max_ancestor_walk) return true;
        }
        return false;
    }
    // Nodes below `roots` children before parents (post-order), without recursion.
    std::vector<int> post_order(const std::vector<int>& roots) const {
        std::vector<int> out, st(roots.begin(), roots.end());
        std::vector<int> pre;
        while (!st.empty()) {
            int x = st.back();
            st.pop_back();
            pre.push_back(x);
            for (int k : c[x].kids) st.push_back(k);
        }
        out.assign(pre.rbegin(), pre.rend());
        return out;
    }
    // Sorts every sibling list (and `roots`) by date, then mailbox order; a dummy takes the
    // date of its first child (RFC 5256 REFERENCES step 6).
    void sort_by_date(std::vector<int>& roots) {
        auto before = [&](int a, int b) {
            if (c[a].date != c[b].date) return c[a].date < c[b].date;
            return c[a].seq < c[b].seq;
        };
        for (int x : post_order(roots)) {
            auto& k = c[x].kids;
            std::sort(k.begin(), k.end(), before);
            if (c[x].msg < 0 && !k.empty()) {
                c[x].date = c[k.front()].date;
                c[x].seq = c[k.front()].seq;
            }
        }
        std::sort(roots.begin(), roots.end(), before);
    }
    // RFC 5256 4 thread-list syntax: a single child continues the list ("(1 2 3)"), two or
    // more are nested lists ("(1 (2)(3 4))"); a dummy prints no number.
    void print(const std::vector<int>& roots, const std::vector<std::uint32_t>& numbers,
               std::string& out) const {
        auto chain = [&](int n) -> const std::vector<int>* {
            bool printed = false;
            while (true) {
                if (c[n].msg >= 0) {
                    if (printed) out += ' ';
                    out += std::to_string(numbers[static_cast<std::size_t>(c[n].msg)]);
                    printed = true;
                }
                const auto& k = c[n].kids;
                if (k.size() == 1) {
                    n = k.front();
                    continue;
                }
                if (k.empty()) return nullptr;
                if (printed) out += ' ';
                return &k;
            }
        };
        struct frame {
            const std::vector<int>* kids;
            std::size_t i;
        };
        std::vector<frame> st;
        for (int r : roots) {
            out += '(';
            st.push_back({chain(r), 0});
            while (!st.empty()) {
                auto& f = st.back();
                if (!f.kids || f.i == f.kids->size()) {
                    out += ')';
                    st.pop_back();
                    continue;
                }
                int child = (*f.kids)[f.i++];
                out += '(';
                auto* k = chain(child);
                st.push_back({k, 0});
            }
        }
    }
};

} // namespace

void commands::thread(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    bool uid = c.name == "UID THREAD";
    if (c.args.size() < 3 || !c.args[0].is_atom()) {
        out += bad(c, "Expected an algorithm, a charset and search keys");
        return;
    }
    std::string algo = upper(c.args[0].text);
    if (algo != "ORDEREDSUBJECT" && algo != "REFERENCES") {
        out += bad(c, "Unknown threading algorithm " + algo);
        return;
    }
    if (!c.args[1].is_astring() ||
        (!iequals(c.args[1].text, "UTF-8") && !iequals(c.args[1].text, "US-ASCII"))) {
        out += no(c, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
        return;
    }
    auto found = ctx.run_search(c.args, 2, out);
    if (!found) {
        out += bad(c, found.error());
        return;
    }
    auto& s = *ctx.selected();
    auto& cache = s.f->headers();
    struct row {
        std::uint32_t seq;
        const sort_fields* f;
        std::int64_t date;
    };
    std::vector<row> rows;
    std::vector<std::uint32_t> numbers;
    for (std::size_t i = 0; i < found->uids.size(); ++i) {
        const auto* m = s.f->find(found->uids[i]);
        if (!m) continue;
        const auto& f = cache.get(*s.f, *m);
        // RFC 5256 2.2: sent date, else INTERNALDATE.
        std::int64_t d = f.sent != sort_fields::no_date ? f.sent : s.f->internal_date(*m);
        rows.push_back({found->seqs[i], &f, d});
        numbers.push_back(uid ? m->uid : found->seqs[i]);
    }
    cache.persist(*s.f);
    forest t;
    t.c.reserve(rows.size() * 2);
    std::vector<int> roots;
    if (algo == "ORDEREDSUBJECT") {
        // RFC 5256 4: sort by base subject, then sent date; each run of one subject is a
        // thread whose first message is the parent of all the others.
        std::vector<int> order(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) order[i] = static_cast<int>(i);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            const auto &x = rows[static_cast<std::size_t>(a)],
                       &y = rows[static_cast<std::size_t>(b)];
            if (int d = x.f->subject.compare(y.f->subject)) return d < 0;
            if (x.date != y.date) return x.date < y.date;
            return x.seq < y.seq;
        });
        for (std::size_t i = 0; i < order.size(); ++i) {
            const auto& r = rows[static_cast<std::size_t>(order[i])];
            int n = t.add();
            t.c[n].msg = order[i];
            t.c[n].date = r.date;
            t.c[n].seq = r.seq;
            if (i > 0 && r.f->subject == rows[static_cast<std::size_t>(order[i - 1])].f->subject)
                t.link(roots.back(), n);
            else
                roots.push_back(n);
        }
        // Threads by the sent date of their first message (children already in date order).
        std::stable_sort(roots.begin(), roots.end(), [&](int a, int b) {
            if (t.c[a].date != t.c[b].date) return t.c[a].date < t.c[b].date;
            return t.c[a].seq < t.c[b].seq;
        });
    } else {
        // RFC 5256 4 REFERENCES (after JWZ). Step 1: containers by Message-ID.
        // Keys point into the header cache's entries, which outlive this command (rows does).
        std::unordered_map<std::string_view, int> ids;
        ids.reserve(rows.size() * 2);
        auto by_id = [&](std::string_view id) {
            auto [it, fresh] = ids.try_emplace(id, -1);
            if (fresh) it->second = t.add();
            return it->second;
        };
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& f = *rows[i].f;
            int me;
            auto it = f.message_id.empty() ? ids.end() : ids.find(f.message_id);
            if (f.message_id.empty() || (it != ids.end() && t.c[it->second].msg >= 0)) {
                me = t.add(); // no Message-ID, or a duplicate: a message of its own (1A)
            } else {
                me = by_id(f.message_id);
            }
            t.c[me].msg = static_cast<int>(i);
            t.c[me].date = rows[i].date;
            t.c[me].seq = rows[i].seq;
            // 1B: link the references in order, where nothing is linked yet.
            int prev = -1;
            for (const auto& ref : f.references) {
                int cur = by_id(ref);
                if (prev >= 0 && cur != prev && t.c[cur].parent < 0 && !t.loops(prev, cur))
                    t.link(prev, cur);
                prev = cur;
            }
            // 1C: the last reference is this message's parent (replacing a guessed one).
            t.unlink(me);
            if (prev >= 0 && prev != me && !t.loops(prev, me)) t.link(prev, me);
        }
        // Step 2: the root set.
        std::vector<int> root_set;
        for (std::size_t x = 0; x < t.c.size(); ++x)
            if (t.c[x].parent < 0) root_set.push_back(static_cast<int>(x));
        // Step 4: prune dummies, children first: an empty dummy goes; a dummy with children
        // gives them to its parent, but at the root only when it has exactly one.
        for (int x : t.post_order(root_set)) {
            std::vector<int> kids;
            for (int k : t.c[x].kids) {
                if (t.c[k].msg < 0) {
                    for (int g : t.c[k].kids) {
                        t.c[g].parent = x;
                        kids.push_back(g);
                    }
                    t.c[k].kids.clear();
                    t.c[k].parent = -1;
                } else {
                    kids.push_back(k);
                }
            }
            t.c[x].kids = std::move(kids);
        }
        for (int r : root_set) {
            auto& k = t.c[r].kids;
            if (t.c[r].msg >= 0)
                roots.push_back(r);
            else if (k.size() == 1) {
                t.c[k.front()].parent = -1;
                roots.push_back(k.front());
            } else if (k.size() > 1) {
                roots.push_back(r);
            }
        }
        // Step 5: roots with the same base subject are gathered.
        auto subject_of = [&](int x) -> const sort_fields* {
            if (t.c[x].msg < 0) x = t.c[x].kids.front(); // a dummy has at least two
            return rows[static_cast<std::size_t>(t.c[x].msg)].f;
        };
        std::unordered_map<std::string_view, int> table;
        table.reserve(roots.size());
        for (int r : roots) {
            const auto* f = subject_of(r);
            if (f->subject.empty()) continue;
            auto [it, fresh] = table.try_emplace(f->subject, r);
            if (fresh) continue;
            int old = it->second;
            bool old_dummy = t.c[old].msg < 0, dummy = t.c[r].msg < 0;
            bool old_reply = !old_dummy && subject_of(old)->subject_reply;
            if ((dummy && !old_dummy) || (!dummy && old_reply && !f->subject_reply)) it->second = r;
        }
        std::vector<int> merged;
        for (int r : roots) {
            if (t.c[r].parent >= 0) continue; // merged into another root already
            const auto* f = subject_of(r);
            auto it = f->subject.empty() ? table.end() : table.find(f->subject);
            if (it == table.end() || it->second == r) {
                merged.push_back(r);
                continue;
            }
            int keep = it->second;
            bool keep_dummy = t.c[keep].msg < 0, dummy = t.c[r].msg < 0;
            if (keep_dummy && dummy) {
                for (int k : t.c[r].kids) t.link(keep, k);
                t.c[r].kids.clear();
            } else if (keep_dummy) {
                t.link(keep, r);
            } else if (dummy) { // cannot happen after the table pass (a dummy wins), kept safe
                t.link(r, keep);
                it->second = r;
                merged.push_back(r);
            } else if (f->subject_reply && !subject_of(keep)->subject_reply) {
                t.link(keep, r);
            } else {
                // A new dummy holds both; it takes `keep`'s place among the roots.
                int d = t.add();
                t.link(d, keep);
                t.link(d, r);
                it->second = d;
                merged.push_back(d);
            }
        }
        // Roots that became children above leave the root set.
        std::erase_if(merged, [&](int x) { return t.c[x].parent >= 0; });
        roots = std::move(merged);
        // Step 6: siblings by sent date.
        t.sort_by_date(roots);
    }
    std::string line = "* THREAD";
    if (!roots.empty()) line += ' ';
    t.print(roots, numbers, line);
    out += line + "\r\n" + ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
