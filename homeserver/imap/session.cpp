// IMAP session core: reading commands, the command table, where untagged updates go; see
// session.hpp. The commands are in commands/*.cpp, the view they share in commands/handler.cpp.
#include "imap/session.hpp"

#include <utility>

#include <algorithm>

namespace splitmail::home::imap {
namespace {
constexpr unsigned S_NA = 1u << 0, S_AU = 1u << 1, S_SE = 1u << 2;
constexpr unsigned S_ANY = S_NA | S_AU | S_SE, S_AUTH = S_AU | S_SE;

unsigned bit(session::state s) { return 1u << static_cast<unsigned>(s); }

// IMAP4rev2 (RFC 9051 5.1): mailbox-name arguments from UTF-8 to modified UTF-7 (false: not
// valid UTF-8).
bool mailbox_names_from_utf8(command& c) {
    auto conv = [](value& v) {
        if (v.is_list()) return true;
        auto m = utf8_to_mutf7(v.text);
        if (!m) return false;
        v.text = std::move(*m);
        return true;
    };
    auto& a = c.args;
    const std::string& n = c.name;
    if (n == "SELECT" || n == "EXAMINE" || n == "CREATE" || n == "DELETE" || n == "SUBSCRIBE" ||
        n == "UNSUBSCRIBE" || n == "STATUS" || n == "APPEND")
        return a.empty() || conv(a[0]);
    if (n == "RENAME") return std::all_of(a.begin(), a.end(), conv);
    if (n == "COPY" || n == "MOVE" || n == "UID COPY" || n == "UID MOVE")
        return a.size() < 2 || conv(a[1]);
    if (n == "LIST" || n == "LSUB") {
        // [selection options] reference pattern-or-patterns [RETURN (...)]
        std::size_t i = (!a.empty() && a[0].is_list()) ? 1 : 0;
        for (std::size_t k = i; k < a.size() && k < i + 2; ++k) {
            if (a[k].is_list()) {
                for (auto& p : a[k].items)
                    if (!conv(p)) return false;
            } else if (!conv(a[k])) {
                return false;
            }
        }
    }
    return true;
}

// RFC 3501 5.1.3: false when a mailbox-name argument (in its modified UTF-7 form) is not
// canonical modified UTF-7 (mutf7_valid); the command then ends NO [CANNOT].
bool mailbox_names_valid(const command& c) {
    // RFC 3501 5.1.3: a mailbox name is canonical modified UTF-7. Not checked: DELETE,
    // UNSUBSCRIBE and the old name of RENAME, so a name left on disk or in the subscriptions
    // file by other software can still be removed or renamed; LIST patterns (a wildcard may
    // stand inside a "&...-" run).
    auto ok_name = [](const value& v) { return v.is_list() || mutf7_valid(v.text); };
    const auto& a = c.args;
    const std::string& n = c.name;
    if (n == "SELECT" || n == "EXAMINE" || n == "CREATE" || n == "SUBSCRIBE" || n == "STATUS" ||
        n == "APPEND")
        return a.empty() || ok_name(a[0]);
    if (n == "RENAME") return a.size() < 2 || ok_name(a[1]);
    if (n == "COPY" || n == "MOVE" || n == "UID COPY" || n == "UID MOVE")
        return a.size() < 2 || ok_name(a[1]);
    return true;
}
} // namespace

const std::vector<session::command_spec>& session::table() {
    // Handlers that stay members are named by member pointer, the others are free functions
    // over a handler_context (commands/handler.hpp).
    static const std::vector<command_spec> t = {
        {"CAPABILITY", &session::cmd_capability, nullptr, S_ANY, true},
        {"NOOP", nullptr, &commands::noop, S_ANY, true},
        {"LOGOUT", &session::cmd_logout, nullptr, S_ANY, true},
        {"STARTTLS", &session::cmd_starttls, nullptr, S_NA, true},
        {"LOGIN", &session::cmd_login, nullptr, S_NA, true},
        {"AUTHENTICATE", &session::cmd_authenticate, nullptr, S_NA, true},
        {"ID", nullptr, &commands::id, S_ANY, true},
        {"ENABLE", &session::cmd_enable, nullptr, S_AUTH, true},
        {"NAMESPACE", nullptr, &commands::namespaces, S_AUTH, true},
        {"SELECT", &session::cmd_select, nullptr, S_AUTH, true},
        {"EXAMINE", &session::cmd_select, nullptr, S_AUTH, true},
        {"CREATE", nullptr, &commands::create, S_AUTH, true},
        {"DELETE", nullptr, &commands::remove, S_AUTH, true},
        {"RENAME", nullptr, &commands::rename, S_AUTH, true},
        {"SUBSCRIBE", nullptr, &commands::subscribe, S_AUTH, true},
        {"UNSUBSCRIBE", nullptr, &commands::subscribe, S_AUTH, true},
        {"LIST", nullptr, &commands::list, S_AUTH, true},
        {"LSUB", nullptr, &commands::list, S_AUTH, true},
        {"STATUS", nullptr, &commands::status, S_AUTH, true},
        {"APPEND", nullptr, &commands::append, S_AUTH, true},
        {"IDLE", &session::cmd_idle, nullptr, S_AUTH, true},
        {"CHECK", nullptr, &commands::noop, S_SE, true},
        {"CLOSE", nullptr, &commands::close, S_SE, true},
        {"UNSELECT", nullptr, &commands::close, S_SE, true},
        {"EXPUNGE", nullptr, &commands::expunge, S_SE, true},
        {"UID EXPUNGE", nullptr, &commands::expunge, S_SE, true},
        {"FETCH", nullptr, &commands::fetch, S_SE, false},
        {"UID FETCH", nullptr, &commands::fetch, S_SE, true},
        {"STORE", nullptr, &commands::store, S_SE, false},
        {"UID STORE", nullptr, &commands::store, S_SE, true},
        {"SEARCH", nullptr, &commands::search, S_SE, false},
        {"UID SEARCH", nullptr, &commands::search, S_SE, true},
        {"SORT", nullptr, &commands::sort, S_SE, false},
        {"UID SORT", nullptr, &commands::sort, S_SE, true},
        {"THREAD", nullptr, &commands::thread, S_SE, false},
        {"UID THREAD", nullptr, &commands::thread, S_SE, true},
        {"CANCELUPDATE", nullptr, &commands::cancelupdate, S_SE, true},
        {"COPY", nullptr, &commands::copy, S_SE, true},
        {"UID COPY", nullptr, &commands::copy, S_SE, true},
        {"MOVE", nullptr, &commands::copy, S_SE, true},
        {"UID MOVE", nullptr, &commands::copy, S_SE, true},
    };
    return t;
}

session::session(session_config cfg, session_hooks hooks)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)), reader_(cfg_.limits) {}

handler_context session::context(std::string& out) {
    return handler_context(out, sel_, store_.get(), ext_, last_search_, fetch_job_, cfg_.limits,
                           cfg_.output_chunk, cfg_.junk_folder, user_, hooks_.learn);
}

std::string session::capability() const {
    // RFC 7888: LITERAL+ (any size) implies LITERAL-, which IMAP4rev2 clients look for.
    std::string c = "IMAP4rev1 IMAP4rev2 LITERAL+ LITERAL- SASL-IR ID ENABLE IDLE NAMESPACE "
                    "UNSELECT UIDPLUS MOVE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES "
                    "STATUS=SIZE BINARY MULTIAPPEND SORT SORT=DISPLAY ESORT "
                    "CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES "
                    "CHILDREN SPECIAL-USE CONDSTORE QRESYNC APPENDLIMIT=" +
                    std::to_string(cfg_.limits.max_append_literal);
    if (state_ == state::not_authenticated) {
        if (cfg_.starttls_offered && !cfg_.tls_active) c += " STARTTLS";
        if (auth_allowed())
            c += " AUTH=PLAIN";
        else
            c += " LOGINDISABLED";
    }
    return c;
}

std::string session::greeting() const {
    return "* OK [CAPABILITY " + capability() + "] " + cfg_.hostname + " IMAP ready\r\n";
}

void session::tls_started() {
    cfg_.tls_active = true;
    reader_.discard_buffered();
}

step session::advance() {
    step st;
    st.output = std::move(deferred_out_);
    deferred_out_.clear();
    if (fetch_job_) { // the rest of a long FETCH comes first
        auto ctx = context(st.output);
        commands::continue_fetch(ctx, true);
    }
    // Commands run until more input is needed, the driver must act, or one chunk of output
    // is ready (pipelined commands wait in the reader's buffer meanwhile).
    while (!fetch_job_ && st.output.size() < cfg_.output_chunk && !pending_tls_ &&
           !pending_delay_ && !pending_close_ && !authenticating_) {
        auto ev = reader_.next();
        if (ev == command_reader::event_kind::need_more) {
            reader_.release_memory(); // nothing runs until more input: keep little (issue #6)
            break;
        }
        if (ev == command_reader::event_kind::continuation) {
            st.output += "+ Ready for literal data\r\n";
            continue;
        }
        if (ev == command_reader::event_kind::error) {
            st.output += reader_.error_response() + "\r\n";
            if (reader_.fatal()) {
                st.output += "* BYE Input error\r\n";
                pending_close_ = true;
            }
            continue;
        }
        const std::string& text = reader_.text();
        if (!sasl_tag_.empty()) {
            finish_auth_line(text, st.output);
            continue;
        }
        if (idling_) {
            // RFC 2177 3: the only thing a client may send while idling is "DONE".
            reader_.set_line_mode(false);
            idling_ = false;
            if (iequals(text, "DONE")) {
                if (sel_) context(st.output).sync_view(true, st.output);
                st.output += idle_tag_ + " OK IDLE terminated\r\n";
            } else {
                st.output += idle_tag_ + " BAD Expected DONE\r\n";
            }
            continue;
        }
        auto c = parse_command(text, cfg_.limits.max_depth);
        if (!c) {
            st.output += c.error().tag + " BAD " + c.error().text + "\r\n";
            continue;
        }
        dispatch(*c, st.output);
    }
    if (pending_tls_) {
        st.start_tls = true;
        pending_tls_ = false;
    }
    if (pending_delay_) {
        st.delay = true;
        pending_delay_ = false;
    }
    if (pending_close_) st.close = true;
    if (pending_auth_) st.auth = std::exchange(pending_auth_, std::nullopt);
    st.more = !st.close && !st.start_tls && !st.auth &&
              (fetch_job_ != nullptr || st.output.size() >= cfg_.output_chunk);
    return st;
}

void session::dispatch(const command& c, std::string& out) {
    const auto& t = table();
    auto it = std::find_if(t.begin(), t.end(), [&](auto& s) { return s.name == c.name; });
    if (it == t.end()) {
        out += bad(c, "Unknown command");
        return;
    }
    if (!(it->states & bit(state_))) {
        out += bad(c, state_ == state::not_authenticated ? "Log in first"
                      : state_ == state::authenticated   ? "No mailbox selected"
                                                         : "Not allowed now");
        return;
    }
    std::string body;
    std::optional<command> conv;
    if (ext_.rev2) {
        // RFC 9051 5.1: IMAP4rev2 mailbox names are UTF-8; on disk (and for IMAP4rev1
        // clients) they are modified UTF-7, so the command files only ever see that form.
        conv = c;
        if (!mailbox_names_from_utf8(*conv)) {
            out += bad(c, "Mailbox name is not valid UTF-8");
            return;
        }
    }
    const command& run = conv ? *conv : c;
    if (!mailbox_names_valid(run)) {
        out += no(c, "[CANNOT] Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)");
        return;
    }
    if (it->member) {
        (this->*(it->member))(run, body);
    } else {
        auto ctx = context(body);
        it->fn(ctx, run);
        // A handler cannot change the state machine; one that closed the view (CLOSE,
        // UNSELECT) leaves the selected state.
        if (state_ == state::selected && !sel_) state_ = state::authenticated;
    }
    // Untagged updates go just before the tagged completion, which is the last line; a FETCH
    // still running (fetch_job_) has none yet and gets them with its end (continue_fetch).
    if (sel_ && state_ == state::selected && !idling_ && sasl_tag_.empty() && !fetch_job_) {
        std::string updates;
        context(updates).sync_view(it->expunge_ok, updates);
        auto pos = body.rfind("\r\n" + c.tag + " ");
        if (pos != std::string::npos)
            pos += 2;
        else if (body.starts_with(c.tag + " "))
            pos = 0;
        else
            pos = body.size();
        body.insert(pos, updates);
    }
    out += body;
}

std::optional<fs::path> session::selected_dir() const {
    if (!sel_) return std::nullopt;
    return sel_->f->dir();
}

std::string session::idle_poll() {
    std::string out;
    if (idling_ && sel_) context(out).sync_view(true, out);
    return out;
}

} // namespace splitmail::home::imap
