// CONDSTORE and QRESYNC state of a session (RFC 7162 3.1, 3.2.3): ENABLE, and the first
// CONDSTORE-enabling command. The MODSEQ-aware parts of SELECT, FETCH, STORE, SEARCH and STATUS
// live in those commands' files.
#include "imap/commands/handler.hpp"

namespace splitmail::home::imap {

bool enabled_extensions::enable_store_extension(std::string_view ext) {
    // Returns whether this newly enabled something (the ENABLED response lists it).
    if (iequals(ext, "CONDSTORE")) {
        bool was = condstore;
        condstore = true;
        return !was;
    }
    if (iequals(ext, "QRESYNC")) { // RFC 7162 3.2.3: QRESYNC implies CONDSTORE
        bool was = qresync;
        condstore = qresync = true;
        return !was;
    }
    return false;
}

void handler_context::condstore_used(std::string& out) {
    if (ext_.condstore) return;
    ext_.condstore = true;
    // RFC 7162 3.1: the first CONDSTORE-enabling command with a mailbox selected reports
    // HIGHESTMODSEQ (SELECT (CONDSTORE) reports it anyway).
    if (sel_)
        out += "* OK [HIGHESTMODSEQ " + std::to_string(sel_->f->highest_modseq()) + "] Highest\r\n";
}

} // namespace splitmail::home::imap
