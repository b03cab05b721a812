// CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB, STATUS (SELECT/EXAMINE: select.cpp)
// (RFC 3501 6.3, RFC 6154 SPECIAL-USE attributes, RFC 3348 CHILDREN).
// LIST-EXTENDED (RFC 5258): selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE
// (RFC 6154 5.1), return options CHILDREN, SUBSCRIBED, SPECIAL-USE, several patterns;
// subscriptions outlive their mailboxes (RFC 3501 6.3.6: LSUB \Noselect, LIST \NonExistent);
// LIST-STATUS (RFC 5819): RETURN (STATUS (...)) adds a STATUS response after each selectable
// mailbox. STATUS items MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN, SIZE (RFC 8438),
// DELETED (RFC 9051 6.3.11), APPENDLIMIT (RFC 7889 3).
// Costs (issue 11): patterns are matched by list_pattern (linear, list_match.hpp) after the
// caps (pattern octets, wildcards, patterns per LIST, STATUS items) are checked: BAD names the
// limit. Lookups per name use hash sets and sorted runs, not a scan of every name.
#include "imap/list_match.hpp"
#include "imap/commands/handler.hpp"

#include <algorithm>
#include <unordered_set>

namespace splitmail::home::imap {
namespace {

std::string why(const std::error_code& ec) {
    if (ec == std::errc::file_exists) return "[ALREADYEXISTS] Mailbox already exists";
    if (ec == std::errc::no_such_file_or_directory) return "[NONEXISTENT] No such mailbox";
    if (ec == std::errc::invalid_argument) return "[CANNOT] Invalid mailbox name";
    if (ec == std::errc::directory_not_empty) return "[INUSE] Mailbox has children";
    if (ec == std::errc::permission_denied || ec == std::errc::operation_not_supported)
        return "[CANNOT] Not allowed for INBOX";
    return "[SERVERBUG] " + ec.message();
}

// STATUS items in one command (issue 11): UNSEEN, DELETED and SIZE each walk every message,
// so a list repeating them thousands of times would multiply that walk. RFC 3501 6.3.10 and
// RFC 9051 define fewer than 10 items; repeats within the cap are answered as asked.
constexpr std::size_t max_status_items = 32;

// The "(MESSAGES 3 UNSEEN 1)" part of a STATUS response, or the item that is unknown.
std::expected<std::string, std::string> status_items(const folder& f, const value& list, bool rev2,
                                                     std::uint64_t append_limit) {
    const auto& msgs = f.messages();
    std::string items;
    for (const auto& it : list.items) {
        std::string n = it.is_atom() ? upper(it.text) : std::string("(list)");
        std::uint64_t v = 0;
        if (n == "MESSAGES")
            v = msgs.size();
        else if (n == "RECENT" && !rev2)
            v = f.count_in_new(); // RFC 9051: no RECENT
        else if (n == "UIDNEXT")
            v = f.uidnext();
        else if (n == "UIDVALIDITY")
            v = f.uidvalidity();
        else if (n == "HIGHESTMODSEQ")
            v = f.highest_modseq(); // RFC 7162 3.1.10
        else if (n == "UNSEEN" || n == "DELETED") {
            std::uint8_t bit = n == "UNSEEN" ? flag_seen : flag_deleted;
            bool want = n == "DELETED";
            v = static_cast<std::uint64_t>(std::count_if(
                msgs.begin(), msgs.end(), [&](auto& m) { return ((m.flags & bit) != 0) == want; }));
        } else if (n == "SIZE")
            for (auto& m : msgs) v += m.size;
        else if (n == "APPENDLIMIT")
            v = append_limit;
        else
            return std::unexpected(n);
        items += (items.empty() ? "" : " ") + n + " " + std::to_string(v);
    }
    return "(" + items + ")";
}

struct list_request {
    bool extended = false, lsub = false;
    bool sel_subscribed = false, sel_remote = false, sel_recursive = false, sel_special = false;
    bool ret_children = false, ret_subscribed = false, ret_special = false;
    const value* ret_status = nullptr; // RETURN (STATUS (...))
    std::string ref;
    std::vector<std::string> patterns;
};

// RFC 5258 3: "LIST [(selection-options)] reference (patterns) [RETURN (return-options)]".
std::expected<list_request, std::string> parse_list(const command& c) {
    list_request r;
    r.lsub = c.name == "LSUB";
    std::size_t i = 0;
    const auto& a = c.args;
    if (!r.lsub && !a.empty() && a[0].is_list()) {
        r.extended = true;
        for (const auto& o : a[0].items) {
            std::string u = o.is_atom() ? upper(o.text) : "";
            if (u == "SUBSCRIBED")
                r.sel_subscribed = true;
            else if (u == "REMOTE")
                r.sel_remote = true; // no remote mailboxes here
            else if (u == "RECURSIVEMATCH")
                r.sel_recursive = true;
            else if (u == "SPECIAL-USE")
                r.sel_special = true;
            else
                return std::unexpected("Unknown LIST selection option " + o.text);
        }
        // RFC 5258 3.1: RECURSIVEMATCH alone (or with only REMOTE) is an error.
        if (r.sel_recursive && !r.sel_subscribed && !r.sel_special)
            return std::unexpected("RECURSIVEMATCH needs another selection option");
        ++i;
    }
    if (a.size() < i + 2 || !a[i].is_astring())
        return std::unexpected("Expected a reference and a mailbox pattern");
    r.ref = a[i].text;
    if (a[i + 1].is_list() && !r.lsub) {
        r.extended = true;
        for (const auto& p : a[i + 1].items) {
            if (!p.is_astring()) return std::unexpected("Patterns must be strings");
            r.patterns.push_back(p.text);
        }
        if (r.patterns.empty()) return std::unexpected("Empty pattern list");
        if (r.patterns.size() > max_list_patterns)
            return std::unexpected("Too many mailbox patterns (limit " +
                                   std::to_string(max_list_patterns) + ")");
    } else if (a[i + 1].is_astring()) {
        r.patterns.push_back(a[i + 1].text);
    } else {
        return std::unexpected("Expected a mailbox pattern");
    }
    i += 2;
    if (i == a.size()) return r;
    if (r.lsub || a.size() != i + 2 || !a[i].is_atom() || !iequals(a[i].text, "RETURN") ||
        !a[i + 1].is_list())
        return std::unexpected("Expected RETURN (options) after the pattern");
    r.extended = true;
    const auto& opts = a[i + 1].items;
    for (std::size_t k = 0; k < opts.size(); ++k) {
        std::string u = opts[k].is_atom() ? upper(opts[k].text) : "";
        if (u == "CHILDREN")
            r.ret_children = true;
        else if (u == "SUBSCRIBED")
            r.ret_subscribed = true;
        else if (u == "SPECIAL-USE")
            r.ret_special = true;
        else if (u == "STATUS" && k + 1 < opts.size() && opts[k + 1].is_list()) {
            r.ret_status = &opts[++k]; // RFC 5819 2
        } else
            return std::unexpected("Unknown LIST return option " + opts[k].text);
    }
    return r;
}

} // namespace

void commands::create(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    if (auto ec = ctx.store().create(c.args[0].text))
        out += no(c, why(ec));
    else
        out += ok(c, "CREATE completed");
}

void commands::remove(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    if (ctx.selected() && iequals(ctx.selected()->name, c.args[0].text)) {
        out += no(c, "[INUSE] Mailbox is selected");
        return;
    }
    if (auto ec = ctx.store().remove(c.args[0].text))
        out += no(c, why(ec));
    else
        out += ok(c, "DELETE completed");
}

void commands::rename(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring()) {
        out += bad(c, "Expected two mailbox names");
        return;
    }
    if (ctx.selected() && ctx.selected()->name == c.args[0].text) {
        out += no(c, "[INUSE] Mailbox is selected");
        return;
    }
    if (auto ec = ctx.store().rename(c.args[0].text, c.args[1].text))
        out += no(c, why(ec));
    else
        out += ok(c, "RENAME completed");
}

void commands::subscribe(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    std::string name = mailbox_store::is_inbox(c.args[0].text) ? "INBOX" : c.args[0].text;
    bool on = c.name == "SUBSCRIBE";
    if (on && !ctx.store().exists(name)) {
        out += no(c, "[NONEXISTENT] No such mailbox");
        return;
    }
    if (auto ec = ctx.store().subscribe(name, on))
        out += no(c, why(ec));
    else
        out += ok(c, c.name + " completed");
}

void commands::list(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    auto req = parse_list(c);
    if (!req) {
        out += bad(c, req.error());
        return;
    }
    const auto& r = *req;
    if (!r.extended && r.patterns[0].empty()) { // RFC 3501 6.3.8: the hierarchy delimiter
        if (!r.lsub) out += "* LIST (\\Noselect) \".\" \"\"\r\n";
        out += ok(c, c.name + " completed");
        return;
    }
    // Issue 11: every pattern is checked against the caps before any work, and matched by
    // list_pattern (linear in pattern x name, list_match.hpp), so one LIST cannot hold the
    // thread the other sessions and LMTP share.
    for (const auto& p : r.patterns)
        if (auto why = list_pattern_problem(r.ref + p)) {
            out += bad(c, *why);
            return;
        }
    std::vector<list_pattern> compiled, compiled_inbox; // INBOX: case-insensitive (RFC 3501 5.1)
    std::vector<bool> has_star;
    for (const auto& p : r.patterns) {
        std::string full = r.ref + p;
        compiled.emplace_back(full);
        compiled_inbox.emplace_back(upper(full));
        has_star.push_back(full.find('*') != std::string::npos);
    }
    auto all = ctx.store().list();
    auto subs = ctx.store().subscriptions();
    // Hash sets: the lookups below run per name (and per level of each name), so a user with
    // many mailboxes must not make LIST quadratic.
    std::unordered_set<std::string> all_set(all.begin(), all.end());
    std::unordered_set<std::string> sub_set(subs.begin(), subs.end());
    auto is_sub = [&](const std::string& n) { return sub_set.count(n) > 0; };
    auto exists = [&](const std::string& n) { return all_set.count(n) > 0; };
    // Candidates: existing mailboxes, subscribed names (RFC 3501 6.3.6: a subscription
    // outlives its mailbox), and the parents of both, which a pattern without '*' may match
    // as a level of hierarchy (RFC 3501 6.3.8: \Noselect; RFC 5258 3: \NonExistent).
    std::vector<std::string> names = all;
    for (const auto& n : subs)
        if (!exists(n)) names.push_back(n);
    std::unordered_set<std::string> name_set(names.begin(), names.end());
    bool only_subscribed = r.lsub || r.sel_subscribed;
    // Levels of hierarchy: for LIST the parents that do not exist (of existing mailboxes, and
    // with SUBSCRIBED of subscribed names too: RECURSIVEMATCH reports such a parent, RFC 5258
    // 5 example 5). For LSUB every parent of a subscribed name that is not subscribed itself,
    // existing or not: LSUB "" a.% with only a.b.c subscribed returns a.b \Noselect (RFC 3501
    // 6.3.9).
    std::vector<std::string> placeholders;
    std::unordered_set<std::string> placeholder_set;
    for (const auto& n : r.lsub ? subs : only_subscribed ? names : all)
        for (auto dot = n.find('.'); dot != std::string::npos; dot = n.find('.', dot + 1)) {
            std::string parent = n.substr(0, dot);
            bool level = r.lsub ? !is_sub(parent) : !name_set.count(parent);
            if (level && placeholder_set.insert(parent).second && !name_set.count(parent))
                placeholders.push_back(parent);
        }
    auto is_placeholder = [&](const std::string& n) { return placeholder_set.count(n) > 0; };
    names.insert(names.end(), placeholders.begin(), placeholders.end());
    std::sort(names.begin(), names.end(), [](const std::string& x, const std::string& y) {
        if (mailbox_store::is_inbox(x) != mailbox_store::is_inbox(y))
            return mailbox_store::is_inbox(x);
        return x < y;
    });
    // Each name is matched once against every pattern (linear matcher): by any pattern, and
    // by one without '*' (a level of hierarchy is listed only for those, RFC 3501 6.3.8).
    std::vector<char> match_any(names.size()), match_level(names.size());
    for (std::size_t i = 0; i < names.size(); ++i)
        for (std::size_t k = 0; k < compiled.size(); ++k) {
            const auto& n = names[i];
            if (!(mailbox_store::is_inbox(n) ? compiled_inbox[k].matches("INBOX")
                                             : compiled[k].matches(n)))
                continue;
            match_any[i] = 1;
            if (!has_star[k]) match_level[i] = 1;
        }
    if (r.ret_status && r.ret_status->items.size() > max_status_items) {
        out += bad(c, "Too many STATUS items (limit " + std::to_string(max_status_items) + ")");
        return;
    }
    if (r.ret_status) // RFC 5819 2: a bad item makes the whole command BAD, before any output
        for (const auto& it : r.ret_status->items) {
            std::string u = it.is_atom() ? upper(it.text) : "(list)";
            static const char* known[] = {"MESSAGES",    "RECENT",      "UIDNEXT",
                                          "UIDVALIDITY", "UNSEEN",      "DELETED",
                                          "SIZE",        "APPENDLIMIT", "HIGHESTMODSEQ"};
            if (std::none_of(std::begin(known), std::end(known), [&](auto k) { return u == k; })) {
                out += bad(c, "Unknown STATUS item " + u);
                return;
            }
        }
    // RFC 6154 5.1: special-use attributes when asked for; plain LIST shows them too (MAY).
    bool want_special = !r.extended || r.ret_special || r.sel_special;
    bool want_subscribed_attr = r.ret_subscribed || r.sel_subscribed;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto& n = names[i];
        if (!match_any[i]) continue;
        bool real_box = exists(n), subscribed = is_sub(n), level = is_placeholder(n);
        auto su = mailbox_store::special_use(n);
        bool selected = true; // this name itself satisfies the selection options
        if (r.lsub)
            selected = subscribed || level;
        else if (only_subscribed && !subscribed)
            selected = false;
        if (r.sel_special && (su.empty() || !real_box)) selected = false;
        if (!only_subscribed && !real_box && !level) selected = false; // gone
        // A level of hierarchy is listed for patterns without '*' only ('*' lists what lies
        // below it anyway).
        if (selected && level && !subscribed && !match_level[i]) selected = false;
        std::string childinfo;
        if (!selected) {
            // RFC 5258 3.5 / RFC 6154 5.1: RECURSIVEMATCH also lists a parent with descendants
            // that satisfy the selection options, marked with CHILDINFO, when such a
            // descendant is not listed itself (it does not match a pattern): "*test" lists
            // a.test with subscribed a.test.test, not a.test again with CHILDINFO.
            if (!r.sel_recursive) continue;
            // Descendants of n are one run of the sorted names (INBOX sorts first, but a child
            // "INBOX.x" is in the sorted rest): no scan of every name per name.
            std::string prefix = n + ".";
            auto from = std::lower_bound(names.begin() + 1, names.end(), prefix);
            bool any = false;
            for (auto o = from; o != names.end() && o->starts_with(prefix) && !any; ++o)
                any = o->size() > prefix.size() && !match_any[o - names.begin()] &&
                      (!only_subscribed || is_sub(*o)) &&
                      (!r.sel_special || (!mailbox_store::special_use(*o).empty() && exists(*o)));
            if (!any) continue;
            childinfo = " (\"CHILDINFO\" (";
            if (only_subscribed) childinfo += "\"SUBSCRIBED\"";
            if (r.sel_special)
                childinfo += only_subscribed ? " \"SPECIAL-USE\"" : "\"SPECIAL-USE\"";
            childinfo += "))";
        }
        std::vector<std::string> attrs;
        bool kids = mailbox_store::has_children(all, n);
        if (r.lsub && (!real_box || !subscribed)) {
            // A subscription whose mailbox is gone, or (RFC 3501 6.3.9) a level above one.
            attrs.push_back("\\Noselect");
        } else if (!real_box) {
            // RFC 5258 3.4: \NonExistent implies \Noselect; IMAP4rev1 clients know \Noselect.
            attrs.push_back(!r.extended && !ctx.rev2() ? "\\Noselect" : "\\NonExistent");
        }
        if (!r.lsub) attrs.push_back(kids ? "\\HasChildren" : "\\HasNoChildren");
        if (want_subscribed_attr && subscribed) attrs.push_back("\\Subscribed");
        if (want_special && !su.empty() && real_box) attrs.push_back(su);
        std::string at;
        for (auto& x : attrs) at += (at.empty() ? "" : " ") + x;
        std::string shown = mailbox_store::is_inbox(n) ? "INBOX" : ctx.mailbox_name_out(n);
        out += "* " + std::string(r.lsub ? "LSUB" : "LIST") + " (" + at + ") \".\" " +
               astring(shown) + childinfo + "\r\n";
        if (r.ret_status && real_box && selected) {
            auto f = ctx.store().open(n);
            if (!f) continue; // RFC 5819 2: no STATUS for a mailbox that cannot be opened
            auto st = status_items(**f, *r.ret_status, ctx.rev2(), ctx.limits.max_append_literal);
            if (st) out += "* STATUS " + astring(shown) + " " + *st + "\r\n";
        }
    }
    out += ok(c, c.name + " completed");
}

void commands::status(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_list()) {
        out += bad(c, "Expected a mailbox name and a list of items");
        return;
    }
    if (c.args[1].items.size() > max_status_items) {
        out += bad(c, "Too many STATUS items (limit " + std::to_string(max_status_items) + ")");
        return;
    }
    auto f = ctx.store().open(c.args[0].text);
    if (!f) {
        out += no(c, why(f.error()));
        return;
    }
    auto st = status_items(**f, c.args[1], ctx.rev2(), ctx.limits.max_append_literal);
    if (!st) {
        out += bad(c, "Unknown STATUS item " + st.error());
        return;
    }
    std::string name =
        mailbox_store::is_inbox(c.args[0].text) ? "INBOX" : ctx.mailbox_name_out(c.args[0].text);
    out += "* STATUS " + astring(name) + " " + *st + "\r\n" + ok(c, "STATUS completed");
}

} // namespace splitmail::home::imap
