// APPEND (RFC 3501 6.3.11, APPENDUID RFC 4315, MULTIAPPEND RFC 3502), CLOSE/UNSELECT (6.4.2,
// RFC 3691), EXPUNGE/UID EXPUNGE (6.4.3, RFC 4315 2.1), COPY/MOVE and their UID forms (6.4.7,
// RFC 6851, COPYUID RFC 4315), IDLE (RFC 2177).
#include "imap/session.hpp"

namespace splitmail::home::imap {

void commands::append(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    // APPEND mailbox 1*([flag-list] [date-time] literal): MULTIAPPEND (RFC 3502 6) allows
    // several messages; they are added all or none (RFC 3502 3).
    struct one_message {
        std::uint8_t flags = 0;
        std::vector<std::string> keywords;
        std::optional<std::int64_t> date;
        const std::string* content = nullptr;
    };
    if (c.args.size() < 2 || !c.args[0].is_astring() || c.args.back().k != value::kind::string) {
        out += bad(c, "Expected APPEND mailbox [flags] [date] literal ...");
        return;
    }
    std::vector<one_message> msgs;
    one_message cur;
    bool have_flags = false, have_date = false;
    for (std::size_t i = 1; i < c.args.size(); ++i) {
        const auto& a = c.args[i];
        if (a.is_list()) {
            if (have_flags || have_date) {
                out += bad(c, "Expected [flags] [date] literal");
                return;
            }
            have_flags = true;
            for (const auto& f : a.items) {
                if (!f.is_atom()) {
                    out += bad(c, "Flags must be atoms");
                    return;
                }
                if (!f.text.empty() && f.text[0] == '\\')
                    cur.flags |= flag_from_name(f.text);
                else if (valid_keyword(f.text))
                    cur.keywords.push_back(f.text);
                else {
                    out += bad(c, "Invalid keyword " + f.text);
                    return;
                }
            }
        } else if (a.k == value::kind::string) {
            // The message is a literal (RFC 3501 9 append); a quoted string followed by
            // another string is the date-time. A quoted last argument is still taken as the
            // message, as before MULTIAPPEND.
            bool is_date = !a.literal && !have_date && i + 1 < c.args.size() &&
                           c.args[i + 1].k == value::kind::string;
            if (is_date) {
                cur.date = parse_date_time(a.text);
                if (!cur.date) {
                    out += bad(c, "Invalid date-time");
                    return;
                }
                have_date = true;
                continue;
            }
            if (!a.literal && (!msgs.empty() || i + 1 < c.args.size())) {
                out += bad(c, "Each message of a MULTIAPPEND must be a literal");
                return;
            }
            cur.content = &a.text;
            msgs.push_back(std::move(cur));
            cur = one_message{};
            have_flags = have_date = false;
        } else {
            out += bad(c, "Unexpected APPEND argument");
            return;
        }
    }
    if (!ctx.store().exists(c.args[0].text)) {
        out += no(c, "[TRYCREATE] No such mailbox");
        return;
    }
    auto f = ctx.store().open(c.args[0].text);
    if (!f) {
        out += no(c, "[TRYCREATE] No such mailbox");
        return;
    }
    // Everything that can be refused is checked before the first message is written.
    std::vector<std::uint32_t> kws;
    for (const auto& m : msgs) {
        std::uint32_t kw = 0;
        for (const auto& k : m.keywords) {
            auto i = (*f)->intern_keyword(k);
            if (!i) {
                out += no(c, i.error() == std::errc::no_space_on_device
                                 ? "[LIMIT] The mailbox already has 26 keywords"
                                 : "[SERVERBUG] " + i.error().message());
                return;
            }
            kw |= 1u << *i;
        }
        kws.push_back(kw);
    }
    std::vector<std::uint32_t> uids;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        auto uid = (*f)->add(*msgs[i].content, msgs[i].flags, msgs[i].date, kws[i]);
        if (!uid) {
            // RFC 3502 3: a failure leaves none of the messages in the mailbox.
            for (auto u : uids) (*f)->expunge(u);
            if (!uids.empty()) (*f)->flush();
            out += no(c, "[SERVERBUG] Could not store message " + std::to_string(i + 1) + ": " +
                             uid.error().message());
            return;
        }
        uids.push_back(*uid);
    }
    // RFC 4315 3: APPENDUID with a uid-set for MULTIAPPEND.
    out += ok(c, "[APPENDUID " + std::to_string((*f)->uidvalidity()) + " " + compact_uid_set(uids) +
                     "] APPEND completed");
}

void commands::close(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    auto& view = *ctx.selected(); // the selected state only (command table)
    if (c.name == "CLOSE" && !view.readonly) {
        // RFC 3501 6.4.2: remove \Deleted messages silently.
        for (std::size_t i = 0; i < view.uids.size(); ++i) {
            const auto* m = view.f->find(view.uids[i]);
            if (m && (m->flags & flag_deleted)) view.f->expunge(m->uid);
        }
        // Not fsync'd, as EXPUNGE (store.hpp, durability).
    }
    ctx.close_view(); // the session leaves the selected state (handler.hpp)
    out += ok(c, c.name + " completed");
}

void commands::expunge(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    auto& view = *ctx.selected(); // the selected state only (command table)
    if (view.readonly) {
        out += no(c, "[READ-ONLY] Mailbox is read-only");
        return;
    }
    std::optional<sequence_set> only;
    if (c.name == "UID EXPUNGE") {
        if (c.args.size() != 1 || !c.args[0].is_atom()) {
            out += bad(c, "Expected a UID set");
            return;
        }
        auto s = parse_sequence_set(c.args[0].text);
        if (!s) {
            out += bad(c, s.error());
            return;
        }
        only = *s;
    }
    view.f->sync();
    std::vector<std::size_t> idx;
    if (only)
        idx = ctx.resolve_set(*only, true);
    else
        for (std::size_t i = 0; i < view.uids.size(); ++i) idx.push_back(i);
    for (auto i : idx) {
        const auto* m = view.f->find(view.uids[i]);
        if (m && (m->flags & flag_deleted)) {
            if (auto ec = view.f->expunge(m->uid)) {
                out += no(c, "[SERVERBUG] " + ec.message());
                return;
            }
        }
    }
    out += ok(c, c.name + " completed"); // the EXPUNGE responses come from sync_view
}

void commands::copy(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    auto& view = *ctx.selected(); // the selected state only (command table)
    bool uid = c.name.starts_with("UID ");
    bool move = c.name.ends_with("MOVE");
    if (c.args.size() != 2 || !c.args[0].is_atom() || !c.args[1].is_astring()) {
        out += bad(c, "Expected a sequence set and a mailbox");
        return;
    }
    auto set = parse_sequence_set(c.args[0].text);
    if (!set) {
        out += bad(c, set.error());
        return;
    }
    if (!uid && !set->saved)
        for (const auto& r : set->ranges)
            if (r.lo > view.uids.size() || r.hi > view.uids.size() || view.uids.empty()) {
                out += bad(c, "Invalid message sequence number"); // RFC 3501 9 seq-number
                return;
            }
    if (move && view.readonly) {
        out += no(c, "[READ-ONLY] Mailbox is read-only");
        return;
    }
    if (!ctx.store().exists(c.args[1].text)) {
        out += no(c, "[TRYCREATE] No such mailbox");
        return;
    }
    auto target = ctx.store().open(c.args[1].text);
    if (!target) {
        out += no(c, "[TRYCREATE] No such mailbox");
        return;
    }
    std::vector<std::uint32_t> src, dst;
    for (auto i : ctx.resolve_set(*set, uid)) {
        std::uint32_t u = view.uids[i];
        if (!view.f->find(u)) continue;
        auto r = (*target)->copy_from(*view.f, u);
        if (!r) {
            out += no(c, "[SERVERBUG] Copy failed: " + r.error().message());
            return;
        }
        src.push_back(u);
        dst.push_back(*r);
    }
    // Issue 18: into the junk folder is a "this is spam", out of it (not into Trash) a "this is
    // not spam" from the user, for rspamd to learn from the copies' files.
    if (ctx.learns() && !ctx.junk_folder.empty() && !dst.empty()) {
        const std::string& to = c.args[1].text;
        const bool into = to == ctx.junk_folder && view.name != ctx.junk_folder;
        const bool out_of = view.name == ctx.junk_folder && to != ctx.junk_folder && to != "Trash";
        if (into || out_of) {
            std::vector<fs::path> files;
            for (auto u : dst)
                if (const auto* m = (*target)->find(u)) files.push_back((*target)->path_of(*m));
            ctx.learn(into, std::move(files));
        }
    }
    std::string code;
    if (!src.empty())
        code = "[COPYUID " + std::to_string((*target)->uidvalidity()) + " " + compact_uid_set(src) +
               " " + compact_uid_set(dst) + "] ";
    if (move) {
        // RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGE responses.
        if (!code.empty()) out += "* OK " + code + "Moved\r\n";
        for (auto u : src) view.f->expunge(u);
        out += ok(c, c.name + " completed");
    } else {
        out += ok(c, code + c.name + " completed");
    }
}

void session::cmd_idle(const command& c, std::string& out) {
    if (!c.args.empty()) {
        out += bad(c, "IDLE takes no arguments");
        return;
    }
    if (sel_) context(out).sync_view(true, out);
    out += "+ idling\r\n";
    idling_ = true;
    idle_tag_ = c.tag;
    reader_.set_line_mode(true);
}

} // namespace splitmail::home::imap
