// CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB, STATUS (SELECT/EXAMINE: select.cpp)
// (RFC 3501 6.3, RFC 6154 SPECIAL-USE attributes, RFC 3348 CHILDREN).
#include "imap/session.hpp"

#include <algorithm>

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

} // namespace

void session::cmd_create(const command& c, std::string& out) {
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    if (auto ec = store_->create(c.args[0].text)) out += no(c, why(ec));
    else out += ok(c, "CREATE completed");
}

void session::cmd_delete(const command& c, std::string& out) {
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    if (sel_ && iequals(sel_->name, c.args[0].text)) {
        out += no(c, "[INUSE] Mailbox is selected");
        return;
    }
    if (auto ec = store_->remove(c.args[0].text)) out += no(c, why(ec));
    else out += ok(c, "DELETE completed");
}

void session::cmd_rename(const command& c, std::string& out) {
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring()) {
        out += bad(c, "Expected two mailbox names");
        return;
    }
    if (sel_ && sel_->name == c.args[0].text) {
        out += no(c, "[INUSE] Mailbox is selected");
        return;
    }
    if (auto ec = store_->rename(c.args[0].text, c.args[1].text)) out += no(c, why(ec));
    else out += ok(c, "RENAME completed");
}

void session::cmd_subscribe(const command& c, std::string& out) {
    if (c.args.size() != 1 || !c.args[0].is_astring()) {
        out += bad(c, "Expected a mailbox name");
        return;
    }
    std::string name = mailbox_store::is_inbox(c.args[0].text) ? "INBOX" : c.args[0].text;
    bool on = c.name == "SUBSCRIBE";
    if (on && !store_->exists(name)) {
        out += no(c, "[NONEXISTENT] No such mailbox");
        return;
    }
    if (auto ec = store_->subscribe(name, on)) out += no(c, why(ec));
    else out += ok(c, c.name + " completed");
}

void session::cmd_list(const command& c, std::string& out) {
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring()) {
        out += bad(c, "Expected a reference and a mailbox pattern");
        return;
    }
    bool lsub = c.name == "LSUB";
    const std::string& ref = c.args[0].text;
    const std::string& pat = c.args[1].text;
    if (pat.empty() && !lsub) { // RFC 3501 6.3.8: the hierarchy delimiter
        out += "* LIST (\\Noselect) \".\" \"\"\r\n" + ok(c, "LIST completed");
        return;
    }
    std::string full = ref + pat;
    auto all = store_->list();
    auto subs = store_->subscriptions();
    std::vector<std::string> names = lsub ? subs : all;
    for (const auto& n : names) {
        bool match = mailbox_store::is_inbox(n) ? list_match(upper(full), "INBOX")
                                                : list_match(full, n);
        if (!match) continue;
        std::vector<std::string> attrs;
        bool exists = std::find(all.begin(), all.end(), n) != all.end();
        if (!exists) attrs.push_back("\\NonExistent");
        else {
            bool kids = std::any_of(all.begin(), all.end(), [&](const std::string& o) {
                return o.size() > n.size() + 1 && o.starts_with(n + ".");
            });
            attrs.push_back(kids ? "\\HasChildren" : "\\HasNoChildren");
        }
        auto su = mailbox_store::special_use(n);
        if (!su.empty()) attrs.push_back(su);
        std::string a;
        for (auto& x : attrs) a += (a.empty() ? "" : " ") + x;
        out += "* " + c.name + " (" + a + ") \".\" " + astring(n) + "\r\n";
    }
    out += ok(c, c.name + " completed");
}

void session::cmd_status(const command& c, std::string& out) {
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_list()) {
        out += bad(c, "Expected a mailbox name and a list of items");
        return;
    }
    auto f = store_->open(c.args[0].text);
    if (!f) {
        out += no(c, why(f.error()));
        return;
    }
    const auto& msgs = (*f)->messages();
    std::string items;
    for (const auto& it : c.args[1].items) {
        std::string n = upper(it.text);
        std::uint64_t v = 0;
        if (n == "MESSAGES") v = msgs.size();
        else if (n == "RECENT") v = (*f)->count_in_new();
        else if (n == "UIDNEXT") v = (*f)->uidnext();
        else if (n == "UIDVALIDITY") v = (*f)->uidvalidity();
        else if (n == "HIGHESTMODSEQ") v = (*f)->highest_modseq(); // RFC 7162 3.1.10
        else if (n == "UNSEEN")
            v = static_cast<std::uint64_t>(std::count_if(
                msgs.begin(), msgs.end(), [](auto& m) { return !(m.flags & flag_seen); }));
        else if (n == "SIZE")
            for (auto& m : msgs) v += m.size;
        else {
            out += bad(c, "Unknown STATUS item " + n);
            return;
        }
        items += (items.empty() ? "" : " ") + n + " " + std::to_string(v);
    }
    std::string name = mailbox_store::is_inbox(c.args[0].text) ? "INBOX" : c.args[0].text;
    out += "* STATUS " + astring(name) + " (" + items + ")\r\n" + ok(c, "STATUS completed");
}

} // namespace splitmail::home::imap
