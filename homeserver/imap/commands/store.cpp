// STORE and UID STORE (RFC 3501 6.4.6): FLAGS, +FLAGS, -FLAGS, each with .SILENT; system flags
// and keywords (created on first use, store.hpp, and announced with FLAGS/PERMANENTFLAGS before
// the first FETCH that carries them); the UNCHANGEDSINCE modifier with
// [MODIFIED ...] (RFC 7162 3.1.3) and MODSEQ in the FETCH responses once CONDSTORE is on.
#include "imap/commands/handler.hpp"

#include <charconv>

namespace splitmail::home::imap {

void commands::store(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    auto& s = *ctx.selected(); // the selected state only (command table)
    bool uid = c.name == "UID STORE";
    // STORE set [(UNCHANGEDSINCE n)] item flags
    std::size_t a = 1;
    std::optional<std::uint64_t> unchanged_since;
    if (c.args.size() == 4 && c.args[1].is_list()) {
        const auto& mods = c.args[1].items;
        if (mods.size() != 2 || !iequals(mods[0].text, "UNCHANGEDSINCE")) {
            out += bad(c, "Unknown STORE modifier");
            return;
        }
        std::uint64_t v = 0;
        const std::string& t = mods[1].text;
        auto r = std::from_chars(t.data(), t.data() + t.size(), v);
        if (r.ec != std::errc() || r.ptr != t.data() + t.size()) {
            out += bad(c, "UNCHANGEDSINCE needs a mod-sequence");
            return;
        }
        unchanged_since = v;
        a = 2;
    }
    if (c.args.size() != a + 2 || !c.args[0].is_atom() || !c.args[a].is_atom()) {
        out += bad(c, "Expected a sequence set, an item and flags");
        return;
    }
    if (s.readonly) {
        out += no(c, "[READ-ONLY] Mailbox is read-only");
        return;
    }
    auto set = parse_sequence_set(c.args[0].text);
    if (!set) {
        out += bad(c, set.error());
        return;
    }
    if (!uid && !set->saved)
        for (const auto& r : set->ranges)
            if (r.lo > s.uids.size() || r.hi > s.uids.size() || s.uids.empty()) {
                out += bad(c, "Invalid message sequence number"); // RFC 3501 9 seq-number
                return;
            }
    std::string item = upper(c.args[a].text);
    bool silent = item.ends_with(".SILENT");
    if (silent) item.resize(item.size() - 7);
    int mode; // 0 replace, 1 add, 2 remove
    if (item == "FLAGS")
        mode = 0;
    else if (item == "+FLAGS")
        mode = 1;
    else if (item == "-FLAGS")
        mode = 2;
    else {
        out += bad(c, "Unknown STORE item");
        return;
    }
    if (unchanged_since) ctx.condstore_used(out);
    std::uint8_t flags = 0;
    std::uint32_t keywords = 0;
    std::vector<const value*> list;
    if (c.args[a + 1].is_list())
        for (auto& f : c.args[a + 1].items) list.push_back(&f);
    else
        list.push_back(&c.args[a + 1]);
    for (auto* f : list) {
        if (!f->is_atom()) {
            out += bad(c, "Flags must be atoms");
            return;
        }
        if (iequals(f->text, "\\Recent")) {
            out += bad(c, "\\Recent cannot be stored");
            return;
        }
        if (!f->text.empty() && f->text[0] == '\\') {
            auto bit = flag_from_name(f->text);
            if (!bit) {
                out += bad(c, "Unknown system flag " + f->text);
                return;
            }
            flags |= bit;
            continue;
        }
        if (mode == 2) { // removing a keyword the folder never had changes nothing
            if (auto k = s.f->keyword_index(f->text)) keywords |= 1u << *k;
            continue;
        }
        auto k = s.f->intern_keyword(f->text);
        if (!k) {
            if (k.error() == std::errc::invalid_argument)
                out += bad(c, "Invalid keyword " + f->text);
            else if (k.error() == std::errc::no_space_on_device)
                out += no(c, "[LIMIT] This mailbox already has 26 keywords");
            else
                out += no(c, "[SERVERBUG] " + k.error().message());
            return;
        }
        keywords |= 1u << *k;
    }
    // A keyword new to the folder: FLAGS and PERMANENTFLAGS before the FETCH that carries
    // it (RFC 3501 7.2.6; issue 15 item 11).
    ctx.announce_flags(out);
    std::vector<std::uint32_t> modified; // UIDs or sequence numbers (RFC 7162 3.1.3)
    for (auto i : ctx.resolve_set(*set, uid)) {
        const auto* m = s.f->find(s.uids[i]);
        if (!m) continue;
        if (unchanged_since && m->modseq > *unchanged_since) {
            modified.push_back(uid ? m->uid : static_cast<std::uint32_t>(i + 1));
            continue;
        }
        std::uint8_t nf = mode == 0   ? flags
                          : mode == 1 ? static_cast<std::uint8_t>(m->flags | flags)
                                      : static_cast<std::uint8_t>(m->flags & ~flags);
        std::uint32_t nk = mode == 0   ? keywords
                           : mode == 1 ? (m->keywords | keywords)
                                       : (m->keywords & ~keywords);
        std::uint64_t before = m->modseq;
        if (auto ec = s.f->set_flags(m->uid, nf, nk)) {
            out += no(c, "[SERVERBUG] " + ec.message());
            return;
        }
        m = s.f->find(s.uids[i]);
        s.note_reported(m->uid, m->modseq);
        bool changed = m->modseq != before;
        // RFC 7162 3.1.3: with CONDSTORE on, even .SILENT reports the new MODSEQ of changed
        // messages (the client needs it for its next UNCHANGEDSINCE).
        if (silent && !(ctx.condstore() && changed)) continue;
        out += "* " + std::to_string(i + 1) + " FETCH (";
        if (uid) out += "UID " + std::to_string(m->uid) + " ";
        if (!silent) out += "FLAGS " + s.f->flags_text(*m, s.recent.count(m->uid) > 0);
        if (ctx.condstore())
            out += std::string(silent ? "" : " ") + "MODSEQ (" + std::to_string(m->modseq) + ")";
        out += ")\r\n";
    }
    // No fsync before the reply (as Dovecot's mail_fsync = optimized): a crash may lose this
    // flag change, never a message; the index then follows the files (store.hpp, durability).
    if (!modified.empty())
        out += ok(c, "[MODIFIED " + compact_uid_set(modified) + "] Conditional STORE failed");
    else
        out += ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
