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
// The commands (commands/*.cpp) see the session only through a handler_context
// (commands/handler.hpp); the few that drive the state machine are members (below).
// Also (command files): ESEARCH, LIST-EXTENDED, IMAP4rev2, BINARY (RFC 3516), MULTIAPPEND
// (RFC 3502), SORT with SORT=DISPLAY and ESORT (RFC 5256, 5957, 5267), THREAD=ORDEREDSUBJECT
// and THREAD=REFERENCES (RFC 5256).
#include "imap/codec.hpp"
#include "imap/commands/handler.hpp"
#include "imap/store.hpp"
#include "splitmail/users/credential.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
    learn_hook learn; // (bool spam, const std::string& user, std::vector<fs::path> files)
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

private:
    // Command handlers that stay members: they drive the session's state machine (state_,
    // the reader, TLS, authentication) or open the selection, and would need all of it
    // handed to them. CAPABILITY (its text depends on state and TLS), LOGOUT, STARTTLS,
    // LOGIN, AUTHENTICATE (pending TLS/auth/delay, the SASL line), ENABLE (turns extensions on,
    // and IMAP4rev2 changes how dispatch reads mailbox names), SELECT/EXAMINE (opens the view
    // and enters the selected state) and IDLE (puts the reader into line mode). Every other
    // command is a free function over a handler_context (commands/handler.hpp).
    using member_handler = void (session::*)(const command&, std::string& out);
    using free_handler = void (*)(handler_context&, const command&);
    struct command_spec {
        std::string_view name;
        member_handler member; // one of member and fn is set
        free_handler fn;
        unsigned states; // bit per state
        bool expunge_ok; // untagged EXPUNGE may be sent when it ends (RFC 3501 7.4.1)
    };
    static const std::vector<command_spec>& table();

    // What the free handlers may touch of this session, writing to `out`.
    handler_context context(std::string& out);
    void dispatch(const command& c, std::string& out);
    void finish_auth_line(std::string_view line, std::string& out);
    std::string capability() const;
    bool auth_allowed() const { return cfg_.tls_active || cfg_.plaintext_auth; }
    void login_ok(const std::string& tag, const std::string& user, std::string& out);
    void login_failed(const std::string& tag, std::string& out);

    void cmd_capability(const command&, std::string&);
    void cmd_logout(const command&, std::string&);
    void cmd_starttls(const command&, std::string&);
    void cmd_login(const command&, std::string&);
    void cmd_authenticate(const command&, std::string&);
    void cmd_enable(const command&, std::string&);
    void cmd_select(const command&, std::string&); // SELECT, EXAMINE (commands/select.cpp)
    void cmd_idle(const command&, std::string&);   // commands/messages.cpp

    session_config cfg_;
    session_hooks hooks_;
    command_reader reader_;
    state state_ = state::not_authenticated;
    std::string user_;
    std::unique_ptr<mailbox_store> store_;
    std::optional<selected_box> sel_;
    std::vector<std::uint32_t> last_search_; // UIDs, for "$" (RFC 5182)
    std::shared_ptr<fetch_job> fetch_job_;   // a FETCH answered over several steps
    enabled_extensions ext_;
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
};

} // namespace splitmail::home::imap
