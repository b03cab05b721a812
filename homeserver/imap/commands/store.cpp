// STORE and UID STORE (RFC 3501 6.4.6): FLAGS, +FLAGS, -FLAGS, each with .SILENT.
#include "imap/session.hpp"

namespace splitmail::home::imap {

void session::cmd_store(const command& c, std::string& out) {
    bool uid = c.name == "UID STORE";
    if (c.args.size() != 3 || !c.args[0].is_atom() || !c.args[1].is_atom()) {
        out += bad(c, "Expected a sequence set, an item and flags");
        return;
    }
    if (sel_->readonly) {
        out += no(c, "[READ-ONLY] Mailbox is read-only");
        return;
    }
    auto set = parse_sequence_set(c.args[0].text);
    if (!set) {
        out += bad(c, set.error());
        return;
    }
    std::string item = upper(c.args[1].text);
    bool silent = item.ends_with(".SILENT");
    if (silent) item.resize(item.size() - 7);
    int mode; // 0 replace, 1 add, 2 remove
    if (item == "FLAGS") mode = 0;
    else if (item == "+FLAGS") mode = 1;
    else if (item == "-FLAGS") mode = 2;
    else {
        out += bad(c, "Unknown STORE item");
        return;
    }
    std::uint8_t flags = 0;
    std::vector<const value*> list;
    if (c.args[2].is_list())
        for (auto& f : c.args[2].items) list.push_back(&f);
    else list.push_back(&c.args[2]);
    for (auto* f : list) {
        if (!f->is_atom()) {
            out += bad(c, "Flags must be atoms");
            return;
        }
        if (iequals(f->text, "\\Recent")) {
            out += bad(c, "\\Recent cannot be stored");
            return;
        }
        flags |= flag_from_name(f->text); // keywords are not kept in this version
    }
    for (auto i : resolve_set(*set, uid)) {
        auto& s = *sel_;
        const auto* m = s.f->find(s.uids[i]);
        if (!m) continue;
        std::uint8_t nf = mode == 0 ? flags
                          : mode == 1 ? static_cast<std::uint8_t>(m->flags | flags)
                                      : static_cast<std::uint8_t>(m->flags & ~flags);
        if (auto ec = s.f->set_flags(m->uid, nf)) {
            out += no(c, "[SERVERBUG] " + ec.message());
            return;
        }
        s.flags[i] = nf;
        if (!silent) {
            out += "* " + std::to_string(i + 1) + " FETCH (";
            if (uid) out += "UID " + std::to_string(m->uid) + " ";
            out += "FLAGS " + flags_text(nf, s.recent.count(m->uid) > 0) + ")\r\n";
        }
    }
    out += ok(c, c.name + " completed");
}

} // namespace splitmail::home::imap
