// IMAP session core: reading commands, the command table, untagged updates; see session.hpp.
// The commands themselves are in commands/*.cpp.
#include "imap/session.hpp"
#include "imap/search_return.hpp"

#include <utility>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace splitmail::home::imap {
namespace {
constexpr unsigned S_NA = 1u << 0, S_AU = 1u << 1, S_SE = 1u << 2;
constexpr unsigned S_ANY = S_NA | S_AU | S_SE, S_AUTH = S_AU | S_SE;
constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

unsigned bit(session::state s) { return 1u << static_cast<unsigned>(s); }
} // namespace

const std::vector<session::command_spec>& session::table() {
    static const std::vector<command_spec> t = {
        {"CAPABILITY", &session::cmd_capability, S_ANY, true},
        {"NOOP", &session::cmd_noop, S_ANY, true},
        {"LOGOUT", &session::cmd_logout, S_ANY, true},
        {"STARTTLS", &session::cmd_starttls, S_NA, true},
        {"LOGIN", &session::cmd_login, S_NA, true},
        {"AUTHENTICATE", &session::cmd_authenticate, S_NA, true},
        {"ID", &session::cmd_id, S_ANY, true},
        {"ENABLE", &session::cmd_enable, S_AUTH, true},
        {"NAMESPACE", &session::cmd_namespace, S_AUTH, true},
        {"SELECT", &session::cmd_select, S_AUTH, true},
        {"EXAMINE", &session::cmd_select, S_AUTH, true},
        {"CREATE", &session::cmd_create, S_AUTH, true},
        {"DELETE", &session::cmd_delete, S_AUTH, true},
        {"RENAME", &session::cmd_rename, S_AUTH, true},
        {"SUBSCRIBE", &session::cmd_subscribe, S_AUTH, true},
        {"UNSUBSCRIBE", &session::cmd_subscribe, S_AUTH, true},
        {"LIST", &session::cmd_list, S_AUTH, true},
        {"LSUB", &session::cmd_list, S_AUTH, true},
        {"STATUS", &session::cmd_status, S_AUTH, true},
        {"APPEND", &session::cmd_append, S_AUTH, true},
        {"IDLE", &session::cmd_idle, S_AUTH, true},
        {"CHECK", &session::cmd_noop, S_SE, true},
        {"CLOSE", &session::cmd_close, S_SE, true},
        {"UNSELECT", &session::cmd_close, S_SE, true},
        {"EXPUNGE", &session::cmd_expunge, S_SE, true},
        {"UID EXPUNGE", &session::cmd_expunge, S_SE, true},
        {"FETCH", &session::cmd_fetch, S_SE, false},
        {"UID FETCH", &session::cmd_fetch, S_SE, true},
        {"STORE", &session::cmd_store, S_SE, false},
        {"UID STORE", &session::cmd_store, S_SE, true},
        {"SEARCH", &session::cmd_search, S_SE, false},
        {"UID SEARCH", &session::cmd_search, S_SE, true},
        {"SORT", &session::cmd_sort, S_SE, false},
        {"UID SORT", &session::cmd_sort, S_SE, true},
        {"THREAD", &session::cmd_thread, S_SE, false},
        {"UID THREAD", &session::cmd_thread, S_SE, true},
        {"CANCELUPDATE", &session::cmd_cancelupdate, S_SE, true},
        {"COPY", &session::cmd_copy, S_SE, true},
        {"UID COPY", &session::cmd_copy, S_SE, true},
        {"MOVE", &session::cmd_copy, S_SE, true},
        {"UID MOVE", &session::cmd_copy, S_SE, true},
    };
    return t;
}

session::session(session_config cfg, session_hooks hooks)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)), reader_(cfg_.limits) {}

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

std::string session::ok(const command& c, std::string_view t) {
    return c.tag + " OK " + std::string(t) + "\r\n";
}
std::string session::no(const command& c, std::string_view t) {
    return c.tag + " NO " + std::string(t) + "\r\n";
}
std::string session::bad(const command& c, std::string_view t) {
    return c.tag + " BAD " + std::string(t) + "\r\n";
}

void session::tls_started() {
    cfg_.tls_active = true;
    reader_.discard_buffered();
}

step session::advance() {
    step st;
    st.output = std::move(deferred_out_);
    deferred_out_.clear();
    if (fetch_job_) continue_fetch(st.output, true); // the rest of a long FETCH comes first
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
                if (sel_) sync_view(true, st.output);
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
    if (rev2_) {
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
    (this->*(it->fn))(run, body);
    // Untagged updates go just before the tagged completion, which is the last line; a FETCH
    // still running (fetch_job_) has none yet and gets them with its end (continue_fetch).
    if (sel_ && state_ == state::selected && !idling_ && sasl_tag_.empty() && !fetch_job_) {
        std::string updates;
        sync_view(it->expunge_ok, updates);
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

bool session::mailbox_names_from_utf8(command& c) {
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

bool session::mailbox_names_valid(const command& c) {
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

std::string session::mailbox_name_out(const std::string& stored) const {
    if (!rev2_) return stored;
    auto u = mutf7_to_utf8(stored);
    return u ? *u : stored; // a name not valid as modified UTF-7 is shown as it is on disk
}

void session::announce_flags(std::string& out) {
    if (!sel_) return;
    auto& s = *sel_;
    std::string now = s.f->flag_list(false);
    if (now == s.announced_flags) return;
    out += "* FLAGS " + now + "\r\n";
    if (!s.readonly)
        out += "* OK [PERMANENTFLAGS " + s.f->flag_list(true) + "] Flags permitted\r\n";
    s.announced_flags = std::move(now);
}

void session::sync_view(bool allow_expunge, std::string& out) {
    if (!sel_) return;
    auto& s = *sel_;
    s.f->sync();
    // Before any FETCH below (another session's STORE or APPEND may have added a keyword).
    announce_flags(out);
    if (!s.readonly) {
        for (auto uid : s.f->move_new_to_cur()) s.recent.insert(uid);
        // APPEND/COPY/MOVE arrivals (in cur/ already): the first IMAP4rev1 session to see them
        // claims their \Recent (RFC 3501 2.3.2); an IMAP4rev2 session leaves it for others.
        if (!rev2_)
            for (auto uid : s.f->claim_recent()) s.recent.insert(uid);
    }
    const auto& msgs = s.f->messages();
    if (allow_expunge && s.f->expunge_count() != s.synced_expunges) {
        // RFC 5267 4.3: a search context drops them while their numbers still hold.
        if (!s.contexts.empty()) contexts_before_expunge(out);
        std::vector<std::uint32_t> gone;
        uid_list kept;
        for (std::size_t i = 0; i < s.uids.size(); ++i) {
            std::uint32_t uid = s.uids[i];
            if (!s.f->find(uid)) {
                gone.push_back(uid);
                s.recent.erase(uid);
                // RFC 3501 7.4.1: each EXPUNGE renumbers the messages after it, so the number
                // sent is the position among the messages still reported.
                if (!qresync_) out += "* " + std::to_string(kept.size() + 1) + " EXPUNGE\r\n";
                continue;
            }
            kept.push_back(uid);
        }
        s.uids = std::move(kept);
        // RFC 7162 3.2.10: with QRESYNC enabled, VANISHED replaces EXPUNGE.
        if (qresync_ && !gone.empty()) out += "* VANISHED " + compact_uid_set(gone) + "\r\n";
        s.synced_expunges = s.f->expunge_count();
    }
    if (s.f->highest_modseq() != s.synced_modseq) {
        // Changed since the last sync: MODSEQ above synced_modseq (a folder whose HIGHESTMODSEQ
        // went down was rebuilt: every message is reported), unless already sent as it is now.
        bool rebuilt = s.f->highest_modseq() < s.synced_modseq;
        std::sort(s.reported.begin(), s.reported.end());
        for (std::size_t i = 0; i < s.uids.size(); ++i) {
            const auto* m = s.f->find(s.uids[i]);
            if (!m || (!rebuilt && m->modseq <= s.synced_modseq)) continue;
            if (std::binary_search(s.reported.begin(), s.reported.end(),
                                   std::pair<std::uint32_t, std::uint64_t>(m->uid, m->modseq)))
                continue;
            out += "* " + std::to_string(i + 1) + " FETCH (";
            if (qresync_) out += "UID " + std::to_string(m->uid) + " "; // RFC 7162 3.2.10
            out += "FLAGS " + s.f->flags_text(*m, s.recent.count(m->uid) > 0);
            if (condstore_) out += " MODSEQ (" + std::to_string(m->modseq) + ")";
            out += ")\r\n";
        }
    }
    std::vector<std::pair<std::uint32_t, std::uint64_t>>().swap(s.reported);
    std::uint32_t last = s.uids.empty() ? 0 : s.uids.back();
    bool grew = false;
    auto first_new =
        std::upper_bound(msgs.begin(), msgs.end(), last,
                         [](std::uint32_t u, const message_entry& m) { return u < m.uid; });
    for (auto it = first_new; it != msgs.end(); ++it) {
        s.uids.push_back(it->uid);
        if (s.readonly && (it->in_new || s.f->recent_unclaimed(it->uid))) s.recent.insert(it->uid);
        grew = true;
    }
    if (rev2_) s.recent.clear(); // RFC 9051 (appendix E): no \Recent, no RECENT response
    if (grew) {
        out += "* " + std::to_string(s.uids.size()) + " EXISTS\r\n";
        if (!rev2_) out += "* " + std::to_string(s.recent.size()) + " RECENT\r\n";
    }
    s.synced_modseq = s.f->highest_modseq();
    // After EXISTS: an ADDTO never names a message the client has not been told of.
    if (!s.contexts.empty()) contexts_after_sync(out);
}

std::vector<std::size_t> session::resolve_set(const sequence_set& set, bool uid) const {
    std::vector<std::size_t> out;
    if (!sel_) return out;
    const auto& u = sel_->uids;
    if (set.saved) {
        for (std::size_t i = 0; i < u.size(); ++i)
            if (std::binary_search(last_search_.begin(), last_search_.end(), u[i]))
                out.push_back(i);
        return out;
    }
    if (u.empty()) return out;
    if (uid) {
        std::uint32_t largest = u.back();
        for (std::size_t i = 0; i < u.size(); ++i)
            if (set.contains(u[i], largest)) out.push_back(i);
    } else {
        auto n = static_cast<std::uint32_t>(u.size());
        for (std::uint32_t i = 1; i <= n; ++i)
            if (set.contains(i, n)) out.push_back(i - 1);
    }
    return out;
}

std::string session::compact_uid_set(std::vector<std::uint32_t> uids) const {
    // RFC 4315 3: uid-set in the order of the source messages; ranges only for runs that
    // ascend in both lists, which holds because we copy in UID order.
    return ordered_set(uids);
}

std::string session::vanished_set(const std::vector<folder::uid_range>& gone,
                                  const sequence_set* within, std::uint32_t largest) {
    std::vector<folder::uid_range> keep;
    if (!within) {
        keep = gone;
    } else {
        // The set's ranges with `*` resolved (RFC 3501 9: "4:2" is "2:4"), sorted and merged,
        // then intersected with `gone` in one walk over both.
        std::vector<folder::uid_range> want;
        want.reserve(within->ranges.size());
        for (const auto& r : within->ranges) {
            std::uint32_t a = r.lo == 0 ? largest : r.lo, b = r.hi == 0 ? largest : r.hi;
            if (a > b) std::swap(a, b);
            want.push_back({a, b});
        }
        std::sort(want.begin(), want.end(), [](auto& x, auto& y) { return x.lo < y.lo; });
        std::vector<folder::uid_range> merged;
        for (auto r : want) {
            if (!merged.empty() && r.lo <= merged.back().hi + std::uint64_t{1})
                merged.back().hi = std::max(merged.back().hi, r.hi);
            else
                merged.push_back(r);
        }
        std::size_t i = 0, j = 0;
        while (i < gone.size() && j < merged.size()) {
            std::uint32_t lo = std::max(gone[i].lo, merged[j].lo);
            std::uint32_t hi = std::min(gone[i].hi, merged[j].hi);
            if (lo <= hi) keep.push_back({lo, hi});
            if (gone[i].hi < merged[j].hi)
                ++i;
            else
                ++j;
        }
    }
    std::string out;
    for (auto r : keep) {
        if (!out.empty()) out += ',';
        out += std::to_string(r.lo);
        if (r.hi > r.lo) out += ":" + std::to_string(r.hi);
    }
    return out;
}

std::string session::format_date(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::optional<std::int64_t> session::parse_date(std::string_view s) {
    // RFC 3501 9 date-text: 1*2DIGIT "-" date-month "-" 4DIGIT
    int d = 0, y = 0;
    char mon[4] = {};
    std::string str(s);
    if (std::sscanf(str.c_str(), "%2d-%3c-%4d", &d, mon, &y) != 3) return std::nullopt;
    int m = -1;
    for (int i = 0; i < 12; ++i)
        if (iequals(mon, months[i])) m = i;
    if (m < 0 || d < 1 || d > 31 || y < 1900) return std::nullopt;
    std::tm tm{};
    tm.tm_mday = d;
    tm.tm_mon = m;
    tm.tm_year = y - 1900;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> session::parse_date_time(std::string_view s) {
    // RFC 3501 9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may start with a space)
    std::string str(s);
    while (!str.empty() && str[0] == ' ') str.erase(0, 1);
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, zone = 0;
    char mon[4] = {}, sign = '+';
    if (std::sscanf(str.c_str(), "%2d-%3c-%4d %2d:%2d:%2d %c%4d", &d, mon, &y, &hh, &mm, &ss, &sign,
                    &zone) != 8)
        return std::nullopt;
    auto day = parse_date(std::to_string(d) + "-" + std::string(mon, 3) + "-" + std::to_string(y));
    if (!day || hh > 23 || mm > 59 || ss > 60 || (sign != '+' && sign != '-')) return std::nullopt;
    std::int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;
    return *day + hh * 3600 + mm * 60 + ss - (sign == '+' ? off : -off);
}

std::optional<fs::path> session::selected_dir() const {
    if (!sel_) return std::nullopt;
    return sel_->f->dir();
}

std::string session::idle_poll() {
    std::string out;
    if (idling_ && sel_) sync_view(true, out);
    return out;
}

} // namespace splitmail::home::imap
