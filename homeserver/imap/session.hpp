#pragma once
// The IMAP server session (RFC 3501, with IDLE 2177, UIDPLUS 4315, MOVE 6851, UNSELECT 3691,
// NAMESPACE 2342, ID 2971, ENABLE 5161, LITERAL+ 7888, SASL-IR 4959, SPECIAL-USE 6154,
// CHILDREN 3348) as a state machine: client bytes in, response bytes and driver actions out.
// Mailbox work is done synchronously through mailbox_store (store.hpp); authentication through
// an injected hook. No sockets, no clock, no sleeping, no threads: the caller decides where a
// call runs (splitmail-home: on the logged-in user's strand, driver.hpp), one call at a time: the driver does TLS, the delay after a
// failed login, timeouts, and wakes the session when the selected folder changes.
//
// Guarantees:
// - States not authenticated / authenticated / selected / logout (RFC 3501 3); each command
//   runs only in the states that allow it (BAD otherwise).
// - Before TLS, LOGIN and AUTHENTICATE are refused and LOGINDISABLED is advertised, unless
//   `plaintext_auth` (trusted network) is set (RFC 3501 6.2.3, RFC 9051 11.1).
// - After STARTTLS nothing buffered before the handshake is executed (RFC 3501 6.2.1).
// - Changes by other sessions (new mail, expunges, flags) are reported as untagged EXISTS,
//   RECENT, EXPUNGE and FETCH FLAGS; EXPUNGE is never sent while FETCH, STORE or SEARCH run
//   (RFC 3501 7.4.1), only on NOOP, CHECK, IDLE, EXPUNGE, MOVE and other commands.
// - Keywords (per folder, store.hpp), CONDSTORE and QRESYNC (RFC 7162) once enabled.
// - A mailbox-name argument that is not canonical modified UTF-7 (RFC 3501 5.1.3) ends the
//   command NO [CANNOT] before it runs (DELETE, UNSUBSCRIBE, RENAME's old name excepted).
// - No stored NUL octet is sent outside a literal8 (codec.hpp plain_literal).
// Also (command files): ESEARCH, LIST-EXTENDED, IMAP4rev2, BINARY (RFC 3516), MULTIAPPEND
// (RFC 3502), SORT with SORT=DISPLAY and ESORT (RFC 5256, 5957, 5267), THREAD=ORDEREDSUBJECT
// and THREAD=REFERENCES (RFC 5256).
#include "imap/codec.hpp"
#include "imap/store.hpp"
#include "splitmail/users/credential.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace splitmail::home::imap {

struct session_config {
    std::string hostname = "localhost";
    bool tls_active = false; // implicit TLS, or after STARTTLS
    bool starttls_offered = false;
    bool plaintext_auth = false; // LOGIN/AUTHENTICATE allowed without TLS (trusted peer)
    std::size_t max_auth_failures = 5;
    // LOGIN/AUTHENTICATE credentials go out in step.auth for the driver to check (off the io
    // thread) instead of through hooks.authenticate; auth_result() gives the answer.
    bool defer_auth = false;
    codec_limits limits;
    // Where this session's folders are shared with the process's other sessions (the
    // service owns it); null: folder_registry::standalone() (tests).
    folder_registry* folders = nullptr;
    // A step's output stops growing past this (the last message of a FETCH is finished
    // first); the rest follows in further steps, so a FETCH 1:* BODY[] of a whole folder is
    // never built in memory at once.
    std::size_t output_chunk = 256 * 1024;
    // The folder where junk is delivered (home.toml maildir.junk_folder): COPY/MOVE into it
    // and out of it (not into Trash) are reported to hooks.learn. Empty: nothing is reported.
    std::string junk_folder = "Junk";
};

struct session_hooks {
    // Checks a user name and password; returns the canonical user address on success.
    std::function<std::optional<std::string>(std::string_view user, std::string_view password)>
        authenticate;
    // The Maildir root of an authenticated user.
    std::function<fs::path(const std::string& user)> maildir_of;
    // Takes one of the user's connection slots after a successful login; false when the user
    // already has imap.max_connections_per_user sessions (the login is refused with [LIMIT]).
    // The listener gives the slot back when the connection ends.
    std::function<bool(const std::string& user)> claim_user;
    // Mail the user moved or copied into the junk folder (spam = true) or out of it into a
    // folder other than Trash (spam = false): the copies' files, for rspamd to learn
    // (learn/rspamd_learn.hpp). Must not block. Null: no learning.
    std::function<void(bool spam, const std::string& user, std::vector<fs::path> files)> learn;
};

// A credential for the driver to verify off the io thread (password wiped on destruction).
using auth_request = users::credential;

struct step {
    std::optional<auth_request> auth; // verify, then auth_result(); output is written first
    std::string output;
    bool close = false;     // write output, then close
    bool start_tls = false; // write output, TLS handshake, then tls_started()
    bool delay = false;     // a login failed: wait before writing output
    // The output is one chunk of a longer answer (a FETCH of many or large messages, a burst
    // of pipelined commands): write it and call advance() again before reading. What one step
    // holds is bounded by session_config::output_chunk plus one message (issue 12).
    bool more = false;
};

// The UIDs of the selected view by sequence number - 1 (RFC 3501 2.3.1.2), increasing. Kept as
// runs of consecutive UIDs (8 bytes per run: a mailbox without gaps costs nothing per message),
// or as a plain array once that is smaller (many gaps). Memory per connection, issue #6.
class uid_list {
public:
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::uint32_t operator[](std::size_t i) const {
        if (flat_mode_) return flat_[i];
        auto it = std::upper_bound(runs_.begin(), runs_.end(), i,
                                   [](std::size_t k, const run& r) { return k < r.index; });
        --it;
        return it->uid + static_cast<std::uint32_t>(i - it->index);
    }
    std::uint32_t back() const { return (*this)[size_ - 1]; }
    // `uid` must be above back().
    void push_back(std::uint32_t uid) {
        if (flat_mode_) {
            flat_.push_back(uid);
        } else if (size_ > 0 && uid == back() + 1) {
            // extends the last run
        } else {
            runs_.push_back(run{static_cast<std::uint32_t>(size_), uid});
            if (runs_.size() > 16 && runs_.size() * 2 > size_ + 1) {
                flat_.reserve(size_ + 1);
                for (std::size_t i = 0; i < size_; ++i) flat_.push_back((*this)[i]);
                flat_.push_back(uid);
                std::vector<run>().swap(runs_);
                flat_mode_ = true;
            }
        }
        ++size_;
    }

private:
    struct run {
        std::uint32_t index; // sequence number - 1 of its first UID
        std::uint32_t uid;
    };
    std::vector<run> runs_;
    std::vector<std::uint32_t> flat_;
    bool flat_mode_ = false;
    std::size_t size_ = 0;
};

class session {
public:
    session(session_config cfg, session_hooks hooks);

    std::string greeting() const;
    void feed(std::string_view bytes) { reader_.feed(bytes); }
    // Runs buffered commands until more input is needed or the driver must act.
    step advance();
    void tls_started();
    // The outcome of step.auth: the canonical user address, or nullopt for a failed login.
    void auth_result(const std::optional<std::string>& user);

    // IDLE (RFC 2177): while idling() the driver waits for input or a change in
    // selected_dir()/new, /cur and then calls idle_poll() for untagged updates to send.
    bool idling() const { return idling_; }
    std::string idle_poll();
    std::optional<fs::path> selected_dir() const;
    const std::string& user() const { return user_; }
    // Drops the selected folder and the mailbox store (the end of the connection), so the
    // caller chooses the thread where a folder's last reference goes (it may fsync).
    void release_mailboxes() {
        sel_.reset();
        store_.reset();
    }

    enum class state { not_authenticated, authenticated, selected, logout };
    state current_state() const { return state_; }

    // ---- used by the command files (commands/*.cpp)
    struct selected_box {
        std::string name;
        bool readonly = false;
        std::shared_ptr<folder> f;
        uid_list uids;                   // sequence number - 1 -> UID
        std::uint64_t synced_modseq = 0; // folder HIGHESTMODSEQ at the last sync_view
        // Flags this session sent (FETCH, STORE) of messages changed since the last sync_view,
        // as (UID, MODSEQ): sync_view reports every other change (MODSEQ above synced_modseq).
        // Nothing per message is kept between syncs (memory per connection, issue #6).
        std::vector<std::pair<std::uint32_t, std::uint64_t>> reported;
        void note_reported(std::uint32_t uid, std::uint64_t modseq) {
            if (modseq > synced_modseq) reported.emplace_back(uid, modseq);
        }
        std::size_t synced_expunges = 0; // folder expunge_count() when last reported
        std::set<std::uint32_t> recent;  // \Recent for this session
        // The FLAGS list (folder::flag_list(false)) this session last sent: a keyword new to
        // the folder is announced before the first FETCH that carries it (announce_flags).
        std::string announced_flags;
        // SEARCH/SORT RETURN (UPDATE) results kept up to date (RFC 5267 4.2,
        // commands/context.cpp); they end with the selection.
        struct search_context {
            std::string tag;
            bool uid = false, sorted = false;
            std::vector<value> args;           // the command's arguments, re-run on changes
            std::size_t keys = 0;              // where the search keys start in args
            std::size_t criteria = 0;          // SORT: the index of the sort criteria list
            std::vector<std::uint32_t> result; // UIDs in context order
            std::uint64_t modseq = 0;          // folder state when the result was computed
            std::size_t expunges = 0, size = 0;
        };
        std::vector<search_context> contexts;
    };

private:
    using handler = void (session::*)(const command&, std::string& out);
    struct command_spec {
        std::string_view name;
        handler fn;
        unsigned states; // bit per state
        bool expunge_ok; // untagged EXPUNGE may be sent when it ends (RFC 3501 7.4.1)
    };
    static const std::vector<command_spec>& table();

    void dispatch(const command& c, std::string& out);
    void finish_auth_line(std::string_view line, std::string& out);
    std::string capability() const;
    bool auth_allowed() const { return cfg_.tls_active || cfg_.plaintext_auth; }
    void login_ok(const std::string& tag, const std::string& user, std::string& out);
    void login_failed(const std::string& tag, std::string& out);

public:
    // Helpers shared by the command files.
    // The messages of the selected view matching the search keys args[start..] (search.cpp,
    // shared by SEARCH and SORT); unexpected: the text of the BAD reply.
    struct search_hits {
        std::vector<std::uint32_t> uids, seqs; // ascending, same order
        std::uint64_t top_modseq = 0;          // highest MODSEQ of a match
        bool with_modseq = false;              // a MODSEQ key was used (RFC 7162 3.1.5)
    };
    std::expected<search_hits, std::string> run_search(const std::vector<value>& args,
                                                       std::size_t start, std::string& out);
    // SORT's order of `found` as UIDs (commands/sort.cpp); `criteria` was checked before.
    std::vector<std::uint32_t> sorted_uids(const value& criteria, const search_hits& found);
    // Search contexts (RFC 5267 4, commands/context.cpp). keep_context: RETURN (UPDATE) of a
    // command whose result is `result` (UIDs in its order); refused with NOUPDATE past the
    // per-session cap. The other two report changes: the entries of messages about to be
    // reported as expunged (before the EXPUNGE responses, while their numbers still hold), then
    // everything else once the view is in sync.
    void keep_context(const command& c, bool sorted, std::size_t keys, std::size_t criteria,
                      std::vector<std::uint32_t> result, std::string& out);
    void contexts_before_expunge(std::string& out);
    void contexts_after_sync(std::string& out);
    std::uint32_t sequence_of(std::uint32_t uid) const; // 0: not in the view
    void sync_view(bool allow_expunge, std::string& out);
    // RFC 3501 7.2.6 / 7.1: when the folder's keywords changed since this session last sent
    // FLAGS (a STORE or APPEND here or in another session made a new one), an untagged
    // "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" (read-write only) go out now, before
    // any FETCH that carries the new keyword: clients keep a flag cache from FLAGS.
    void announce_flags(std::string& out);
    // IMAP4rev2 (RFC 9051 5.1): mailbox-name arguments from UTF-8 to modified UTF-7 (false:
    // not valid UTF-8), and a stored name as this client must see it.
    bool mailbox_names_from_utf8(command& c);
    // RFC 3501 5.1.3: false when a mailbox-name argument (in its modified UTF-7 form) is not
    // canonical modified UTF-7 (mutf7_valid); the command then ends NO [CANNOT].
    static bool mailbox_names_valid(const command& c);
    std::string mailbox_name_out(const std::string& stored) const;
    std::vector<std::size_t> resolve_set(const sequence_set& set, bool uid) const; // indexes
    std::string compact_uid_set(std::vector<std::uint32_t> uids) const;
    // VANISHED (EARLIER) uid-set (RFC 7162 3.2.5.1/3.2.6): `gone` (folder::expunged_since)
    // within `within` (nullptr: all), `*` meaning `largest`; "" when empty. Linear in the
    // ranges of both, never in the UIDs they span.
    static std::string vanished_set(const std::vector<folder::uid_range>& gone,
                                    const sequence_set* within, std::uint32_t largest);
    static std::string format_date(std::int64_t t);
    static std::optional<std::int64_t> parse_date_time(std::string_view s); // APPEND
    static std::optional<std::int64_t> parse_date(std::string_view s);      // SEARCH
    static std::string ok(const command& c, std::string_view text);
    static std::string no(const command& c, std::string_view text);
    static std::string bad(const command& c, std::string_view text);

    // Command handlers (commands/*.cpp).
    void cmd_capability(const command&, std::string&);
    void cmd_noop(const command&, std::string&);
    void cmd_logout(const command&, std::string&);
    void cmd_starttls(const command&, std::string&);
    void cmd_login(const command&, std::string&);
    void cmd_authenticate(const command&, std::string&);
    void cmd_id(const command&, std::string&);
    void cmd_enable(const command&, std::string&);
    void cmd_namespace(const command&, std::string&);
    void cmd_select(const command&, std::string&);
    void cmd_create(const command&, std::string&);
    void cmd_delete(const command&, std::string&);
    void cmd_rename(const command&, std::string&);
    void cmd_subscribe(const command&, std::string&);
    void cmd_list(const command&, std::string&);
    void cmd_status(const command&, std::string&);
    void cmd_append(const command&, std::string&);
    void cmd_close(const command&, std::string&);
    void cmd_expunge(const command&, std::string&);
    void cmd_fetch(const command&, std::string&);
    // A FETCH answered over several steps (commands/fetch.cpp): what is left of it.
    struct fetch_job;
    std::shared_ptr<fetch_job> fetch_job_;
    void continue_fetch(std::string& out, bool resumed);
    void cmd_store(const command&, std::string&);
    void cmd_search(const command&, std::string&);
    void cmd_sort(const command&, std::string&);         // SORT, UID SORT (commands/sort.cpp)
    void cmd_thread(const command&, std::string&);       // THREAD, UID THREAD (commands/thread.cpp)
    void cmd_cancelupdate(const command&, std::string&); // RFC 5267 4.3 (commands/context.cpp)
    void cmd_copy(const command&, std::string&);
    void cmd_idle(const command&, std::string&);
    // CONDSTORE/QRESYNC (RFC 7162, commands/condstore.cpp): ENABLE of "CONDSTORE"/"QRESYNC"
    // (true if `ext` is one of them and was not on yet), and the first CONDSTORE-enabling
    // command (3.1).
    bool enable_store_extension(std::string_view ext);
    void condstore_used(std::string& out);

    session_config cfg_;
    session_hooks hooks_;
    command_reader reader_;
    state state_ = state::not_authenticated;
    std::string user_;
    std::unique_ptr<mailbox_store> store_;
    std::optional<selected_box> sel_;
    std::vector<std::uint32_t> last_search_; // UIDs, for "$" (RFC 5182)
    std::size_t auth_failures_ = 0;
    bool pending_tls_ = false, pending_delay_ = false, pending_close_ = false;
    // defer_auth: the credential handed out next, and what auth_result() needs to answer.
    void begin_deferred_auth(std::string tag, std::string authz, std::string authc,
                             std::string password);
    std::optional<auth_request> pending_auth_;
    bool authenticating_ = false;
    std::string auth_tag_, auth_authz_, auth_authc_;
    std::string deferred_out_; // the login reply, written by the next advance()
    std::string sasl_tag_;     // AUTHENTICATE waiting for the client's response line
    bool idling_ = false;
    std::string idle_tag_;
    bool rev2_ = false;      // ENABLE IMAP4rev2 (RFC 9051): no \Recent, ESEARCH for SEARCH
    bool condstore_ = false; // RFC 7162 3.1: MODSEQ in untagged FETCH from now on
    bool qresync_ = false;   // RFC 7162 3.2.10: VANISHED instead of EXPUNGE
};

} // namespace splitmail::home::imap
