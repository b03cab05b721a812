// SELECT and EXAMINE (RFC 3501 6.3.1, 6.3.2) with the CONDSTORE and QRESYNC select parameters
// (RFC 7162 3.1.8, 3.2.5): "SELECT name (CONDSTORE)" and
// "SELECT name (QRESYNC (uidvalidity modseq [known-uids [seq-match-data]]))".
// After ENABLE IMAP4rev2 the responses are those of RFC 9051 6.3.2: no RECENT, no UNSEEN code,
// and a LIST response with the mailbox name and its attributes.
#include "imap/session.hpp"

#include <algorithm>
#include <charconv>

namespace splitmail::home::imap {
namespace {

bool parse_u64(std::string_view s, std::uint64_t& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

struct qresync_params {
    std::uint64_t uidvalidity = 0, modseq = 0;
    std::optional<sequence_set> known;
};

} // namespace

void session::cmd_select(const command& c, std::string& out) {
    // RFC 7162 3.2.11: a QRESYNC client learns where the old mailbox's responses end.
    if (sel_) out += "* OK [CLOSED] Previous mailbox closed\r\n";
    sel_.reset();
    state_ = state::authenticated;
    if (c.args.empty() || c.args.size() > 2 || !c.args[0].is_astring() ||
        (c.args.size() == 2 && !c.args[1].is_list())) {
        out += bad(c, "Expected a mailbox name and optional (CONDSTORE) or (QRESYNC (...))");
        return;
    }
    bool want_condstore = false;
    std::optional<qresync_params> qr;
    if (c.args.size() == 2) {
        const auto& params = c.args[1].items;
        for (std::size_t i = 0; i < params.size(); ++i) {
            std::string p = upper(params[i].text);
            if (params[i].is_atom() && p == "CONDSTORE") {
                want_condstore = true;
            } else if (params[i].is_atom() && p == "QRESYNC") {
                // RFC 7162 3.2.5: BAD unless QRESYNC was enabled.
                if (!ext_.qresync) {
                    out += bad(c, "QRESYNC parameter without ENABLE QRESYNC");
                    return;
                }
                if (i + 1 >= params.size() || !params[i + 1].is_list()) {
                    out += bad(c, "QRESYNC needs (uidvalidity modseq [known-uids])");
                    return;
                }
                const auto& q = params[++i].items;
                qresync_params x;
                if (q.size() < 2 || q.size() > 4 || !parse_u64(q[0].text, x.uidvalidity) ||
                    !parse_u64(q[1].text, x.modseq) || x.uidvalidity == 0 || x.modseq == 0) {
                    out += bad(c, "QRESYNC needs (uidvalidity modseq [known-uids])");
                    return;
                }
                if (q.size() >= 3) {
                    if (!q[2].is_atom()) {
                        out += bad(c, "Invalid known-uids");
                        return;
                    }
                    auto k = parse_sequence_set(q[2].text);
                    if (!k || k->saved) {
                        out += bad(c, "Invalid known-uids");
                        return;
                    }
                    x.known = *k;
                }
                // q[3] (seq-match-data) only helps servers that forget expunges; we keep them.
                qr = x;
            } else {
                out += bad(c, "Unknown SELECT parameter " + p);
                return;
            }
        }
    }
    const std::string& name = c.args[0].text;
    auto f = store_->open(name);
    if (!f) {
        out += no(c, f.error() == std::errc::no_such_file_or_directory
                         ? "[NONEXISTENT] No such mailbox"
                     : f.error() == std::errc::invalid_argument ? "[CANNOT] Invalid mailbox name"
                     // RFC 5530 3: another splitmail-home holds the folder (store.hpp)
                     : f.error() == std::errc::device_or_resource_busy
                         ? "[INUSE] Mailbox in use by another server process"
                         : "[SERVERBUG] " + f.error().message());
        return;
    }
    if (want_condstore) ext_.condstore = true;
    selected_box b;
    b.name = mailbox_store::is_inbox(name) ? "INBOX" : name;
    b.readonly = c.name == "EXAMINE";
    b.f = *f;
    b.synced_expunges = b.f->expunge_count();
    sel_ = std::move(b);
    state_ = state::selected;
    std::string ignored;
    context(out).sync_view(true, ignored); // fills the view; counts are reported below
    auto& s = *sel_;
    std::size_t unseen = 0;
    for (std::size_t i = 0; i < s.uids.size(); ++i) {
        const auto* m = s.f->find(s.uids[i]);
        if (m && !(m->flags & flag_seen)) {
            unseen = i + 1;
            break;
        }
    }
    s.announced_flags = s.f->flag_list(false);
    out += "* FLAGS " + s.announced_flags + "\r\n";
    out += "* " + std::to_string(s.uids.size()) + " EXISTS\r\n";
    if (!ext_.rev2) out += "* " + std::to_string(s.recent.size()) + " RECENT\r\n"; // RFC 9051
    // RFC 9051 6.3.2 / appendix E: UNSEEN is an IMAP4rev1 response code only.
    if (unseen && !ext_.rev2)
        out += "* OK [UNSEEN " + std::to_string(unseen) + "] First unseen\r\n";
    out += "* OK [UIDVALIDITY " + std::to_string(s.f->uidvalidity()) + "] UIDs valid\r\n";
    out += "* OK [UIDNEXT " + std::to_string(s.f->uidnext()) + "] Predicted next UID\r\n";
    if (s.readonly)
        out += "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n";
    else
        out += "* OK [PERMANENTFLAGS " + s.f->flag_list(true) + "] Flags permitted\r\n";
    if (ext_.rev2) {
        // RFC 9051 6.3.2: REQUIRED "LIST" with the mailbox name; its attributes MUST be
        // accurate: children (RFC 3348, part of IMAP4rev2), \Subscribed, special use (RFC 6154).
        const std::string& stored = s.name; // "INBOX" in any spelling is "INBOX"
        auto subs = store_->subscriptions();
        std::string attrs = mailbox_store::has_children(store_->list(), stored) ? "\\HasChildren"
                                                                                : "\\HasNoChildren";
        if (std::find(subs.begin(), subs.end(), stored) != subs.end()) attrs += " \\Subscribed";
        auto su = mailbox_store::special_use(stored);
        if (!su.empty()) attrs += " " + su;
        std::string shown = stored == "INBOX" ? stored : context(out).mailbox_name_out(stored);
        out += "* LIST (" + attrs + ") \".\" " + astring(shown) + "\r\n";
    }
    // RFC 7162 3.1.2.1: every SELECT/EXAMINE of a server with persistent MODSEQs.
    out += "* OK [HIGHESTMODSEQ " + std::to_string(s.f->highest_modseq()) + "] Highest\r\n";
    if (qr && qr->uidvalidity == s.f->uidvalidity()) {
        // RFC 7162 3.2.5.1: expunges since the client's MODSEQ, then changed messages.
        std::uint32_t largest = s.uids.empty() ? 0 : s.uids.back();
        largest = std::max(largest, s.f->uidnext() - 1);
        auto vanished = vanished_set(s.f->expunged_since(qr->modseq),
                                     qr->known ? &*qr->known : nullptr, largest);
        if (!vanished.empty()) out += "* VANISHED (EARLIER) " + vanished + "\r\n";
        for (std::size_t i = 0; i < s.uids.size(); ++i) {
            const auto* m = s.f->find(s.uids[i]);
            if (!m || m->modseq <= qr->modseq) continue;
            if (qr->known && !qr->known->contains(m->uid, largest)) continue;
            out += "* " + std::to_string(i + 1) + " FETCH (UID " + std::to_string(m->uid) +
                   " FLAGS " + s.f->flags_text(*m, s.recent.count(m->uid) > 0) + " MODSEQ (" +
                   std::to_string(m->modseq) + "))\r\n";
        }
    }
    out += ok(c, s.readonly ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
}

} // namespace splitmail::home::imap
