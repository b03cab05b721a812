// SELECT and EXAMINE (RFC 3501 6.3.1, 6.3.2).
#include "imap/session.hpp"

namespace splitmail::home::imap {

void session::cmd_select(const command& c, std::string& out) {
    sel_.reset();
    state_ = state::authenticated;
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    const std::string& name = c.args[0].text;
    auto f = store_->open(name);
    if (!f) {
        out += no(c, f.error() == std::errc::no_such_file_or_directory
                           ? "[NONEXISTENT] No such mailbox"
                           : f.error() == std::errc::invalid_argument
                               ? "[CANNOT] Invalid mailbox name"
                               : "[SERVERBUG] " + f.error().message());
        return;
    }
    selected_box b;
    b.name = mailbox_store::is_inbox(name) ? "INBOX" : name;
    b.readonly = c.name == "EXAMINE";
    b.f = *f;
    sel_ = std::move(b);
    state_ = state::selected;
    std::string ignored;
    sync_view(true, ignored); // fills the view; counts are reported below
    auto& s = *sel_;
    std::size_t unseen = 0;
    for (std::size_t i = 0; i < s.flags.size(); ++i)
        if (!(s.flags[i] & flag_seen)) {
            unseen = i + 1;
            break;
        }
    out += "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n";
    out += "* " + std::to_string(s.uids.size()) + " EXISTS\r\n";
    if (!rev2_) out += "* " + std::to_string(s.recent.size()) + " RECENT\r\n"; // RFC 9051
    if (unseen) out += "* OK [UNSEEN " + std::to_string(unseen) + "] First unseen\r\n";
    out += "* OK [UIDVALIDITY " + std::to_string(s.f->uidvalidity()) + "] UIDs valid\r\n";
    out += "* OK [UIDNEXT " + std::to_string(s.f->uidnext()) + "] Predicted next UID\r\n";
    if (s.readonly)
        out += "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n";
    else
        out += "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Limited\r\n";
    out += ok(c, s.readonly ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
}

} // namespace splitmail::home::imap
