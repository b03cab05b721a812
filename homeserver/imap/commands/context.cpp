// Search contexts (RFC 5267 4, CONTEXT=SEARCH and CONTEXT=SORT): a SEARCH or SORT with RETURN
// (UPDATE) keeps its result, and whenever the view changes (another session's delivery, flag
// change or expunge, or this session's own STORE) the session re-runs it and reports the
// difference as an untagged ESEARCH with REMOVEFROM and ADDTO (search_return.hpp says how
// positions are counted). CANCELUPDATE ends a context; so does leaving the mailbox.
// Costs: a context is re-run only when the folder changed since it was last computed, at most
// `max_contexts` per session, each holding one UID per match (4 bytes).
#include "imap/search_return.hpp"
#include "imap/commands/handler.hpp"

#include <algorithm>

namespace splitmail::home::imap {
namespace {

constexpr std::size_t max_contexts = 4;

bool uses_saved_result(const std::vector<value>& args) {
    for (const auto& a : args) {
        if (a.is_atom() && a.text == "$") return true;
        if (a.is_list() && uses_saved_result(a.items)) return true;
    }
    return false;
}

} // namespace

std::uint32_t handler_context::sequence_of(std::uint32_t uid) const {
    if (!sel_) return 0;
    const auto& u = sel_->uids;
    std::size_t lo = 0, hi = u.size();
    while (lo < hi) {
        std::size_t mid = lo + (hi - lo) / 2;
        if (u[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < u.size() && u[lo] == uid ? static_cast<std::uint32_t>(lo + 1) : 0;
}

void handler_context::keep_context(const command& c, bool sorted, std::size_t keys,
                                   std::size_t criteria, std::vector<std::uint32_t> result,
                                   std::string& out) {
    auto& s = *sel_;
    std::erase_if(s.contexts, [&](const auto& x) { return x.tag == c.tag; }); // a reused tag
    // RFC 5267 4.2: a server that cannot keep a context says so with NOUPDATE. "$" would mean
    // another result each time SAVE replaces it: not kept.
    const char* why = s.contexts.size() >= max_contexts ? "Too many search contexts"
                      : uses_saved_result(c.args)       ? "A search using $ is not kept"
                                                        : nullptr;
    if (why) {
        out += "* NO [NOUPDATE " + quoted_or_literal(c.tag) + "] " + why + "\r\n";
        return;
    }
    selected_box::search_context x;
    x.tag = c.tag;
    x.uid = c.name.starts_with("UID ");
    x.sorted = sorted;
    x.args = c.args;
    x.keys = keys;
    x.criteria = criteria;
    x.result = std::move(result);
    x.modseq = s.f->highest_modseq();
    x.expunges = s.f->expunge_count();
    x.size = s.uids.size();
    s.contexts.push_back(std::move(x));
}

namespace {

std::string update_line(const handler_context& self, const selected_box::search_context& c,
                        const context_change& ch) {
    auto number = [&](std::uint32_t uid) { return c.uid ? uid : self.sequence_of(uid); };
    std::string line = "* ESEARCH (TAG " + quoted_or_literal(c.tag) + ")";
    if (c.uid) line += " UID";
    return line + update_data(ch, c.sorted, number) + "\r\n";
}

} // namespace

void handler_context::contexts_before_expunge(std::string& out) {
    auto& s = *sel_;
    for (auto& c : s.contexts) {
        std::vector<std::uint32_t> kept;
        kept.reserve(c.result.size());
        for (auto u : c.result)
            if (s.f->find(u)) kept.push_back(u);
        if (kept.size() == c.result.size()) continue;
        out += update_line(*this, c, diff_results(c.result, kept));
        c.result = std::move(kept);
    }
}

void handler_context::contexts_after_sync(std::string& out) {
    auto& s = *sel_;
    for (auto it = s.contexts.begin(); it != s.contexts.end();) {
        auto& c = *it;
        if (c.modseq == s.f->highest_modseq() && c.expunges == s.f->expunge_count() &&
            c.size == s.uids.size()) {
            ++it;
            continue;
        }
        std::string ignored; // untagged responses of the first run went out with it
        auto found = run_search(c.args, c.keys, ignored);
        if (!found) { // cannot happen for keys that ran once; never report a wrong result
            out += "* NO [NOUPDATE " + quoted_or_literal(c.tag) + "] Search context ended\r\n";
            it = s.contexts.erase(it);
            continue;
        }
        auto now = c.sorted ? sorted_uids(c.args[c.criteria], *found) : std::move(found->uids);
        auto ch = diff_results(c.result, now);
        if (!ch.empty()) out += update_line(*this, c, ch);
        c.result = std::move(now);
        c.modseq = s.f->highest_modseq();
        c.expunges = s.f->expunge_count();
        c.size = s.uids.size();
        ++it;
    }
}

void commands::cancelupdate(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    // RFC 5267 4.3: CANCELUPDATE tag-string *(SP tag-string).
    if (c.args.empty() ||
        std::any_of(c.args.begin(), c.args.end(), [](const value& v) { return v.is_list(); })) {
        out += bad(c, "CANCELUPDATE needs the tags of search contexts");
        return;
    }
    for (const auto& a : c.args)
        std::erase_if(ctx.selected()->contexts, [&](const auto& x) { return x.tag == a.text; });
    out += ok(c, "CANCELUPDATE completed");
}

} // namespace splitmail::home::imap
