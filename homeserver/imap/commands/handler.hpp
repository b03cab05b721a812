#pragma once
// What an IMAP command handler may touch (issue 13): the selected view, the user's mailboxes,
// the few settings commands need, the extensions the client enabled, the "$" saved result and
// the command's output. The handlers of commands/*.cpp are free functions over a
// handler_context, called through session.cpp's command table; the view helpers they share
// (sync_view, resolve_set, search contexts, ...) are members of the context.
//
// Guarantees:
// - A handler cannot reach the rest of the session: authentication state, pending TLS, the
//   command reader, IDLE and the state machine stay private to session (session.hpp). It can
//   read the enabled extensions; enabling one goes through a function (condstore_used).
// - A handler_context is a set of references into one session, made for one call
//   (session::context); it owns nothing and must not be kept.
// - A handler that closes the view (CLOSE, UNSELECT) leaves the selected state: the session
//   keeps "selected state" and "a view is selected" the same (session::dispatch).
// Does not: open a selection (SELECT/EXAMINE are session members), log in, or write anywhere
// but `out`.
#include "imap/codec.hpp"
#include "imap/store.hpp"

#include <algorithm>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace splitmail::home::imap {

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

// The selected mailbox as this session sees it.
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

// The extensions this client turned on: ENABLE (RFC 5161), SELECT (CONDSTORE), or the first
// CONDSTORE-enabling command (RFC 7162 3.1, handler_context::condstore_used).
struct enabled_extensions {
    bool rev2 = false;      // ENABLE IMAP4rev2 (RFC 9051): no \Recent, ESEARCH for SEARCH
    bool condstore = false; // RFC 7162 3.1: MODSEQ in untagged FETCH from now on
    bool qresync = false;   // RFC 7162 3.2.10: VANISHED instead of EXPUNGE
    // ENABLE of "CONDSTORE"/"QRESYNC" (commands/condstore.cpp): true if `ext` is one of them
    // and was not on yet.
    bool enable_store_extension(std::string_view ext);
};

// A FETCH answered over several steps (commands/fetch.cpp): what is left of it.
struct fetch_job;

// The messages of the selected view matching some search keys (handler_context::run_search).
struct search_hits {
    std::vector<std::uint32_t> uids, seqs; // ascending, same order
    std::uint64_t top_modseq = 0;          // highest MODSEQ of a match
    bool with_modseq = false;              // a MODSEQ key was used (RFC 7162 3.1.5)
};

// COPY/MOVE into or out of the junk folder (session_hooks::learn).
using learn_hook =
    std::function<void(bool spam, const std::string& user, std::vector<fs::path> files)>;

class handler_context {
public:
    handler_context(std::string& out, std::optional<selected_box>& sel, mailbox_store* store,
                    enabled_extensions& ext, std::vector<std::uint32_t>& saved,
                    std::shared_ptr<fetch_job>& pending_fetch, const codec_limits& limits,
                    std::size_t output_chunk, const std::string& junk_folder,
                    const std::string& user, const learn_hook& learn)
        : out(out), saved(saved), pending_fetch(pending_fetch), limits(limits),
          output_chunk(output_chunk), junk_folder(junk_folder), sel_(sel), store_(store), ext_(ext),
          user_(user), learn_(learn) {}

    // The command's responses go here (untagged first, the tagged completion last).
    std::string& out;
    // The selected view; null in the authenticated state. close_view() ends it (CLOSE,
    // UNSELECT): the session then leaves the selected state. Only SELECT/EXAMINE open one.
    selected_box* selected() { return sel_ ? &*sel_ : nullptr; }
    const selected_box* selected() const { return sel_ ? &*sel_ : nullptr; }
    void close_view() { sel_.reset(); }
    // The "$" saved search result (RFC 5182): UIDs, ascending.
    std::vector<std::uint32_t>& saved;
    // A FETCH not finished in this step (session::advance resumes it, continue_fetch).
    std::shared_ptr<fetch_job>& pending_fetch;
    // Settings (session_config).
    const codec_limits& limits;
    const std::size_t output_chunk; // a step's output stops growing past this
    const std::string& junk_folder; // COPY/MOVE into or out of it is reported to learn()
    // The logged-in user's mailboxes (only in the authenticated and selected states).
    mailbox_store& store() { return *store_; }

    bool rev2() const { return ext_.rev2; }
    bool condstore() const { return ext_.condstore; }
    bool qresync() const { return ext_.qresync; }
    // RFC 7162 3.1: a CONDSTORE-enabling command (commands/condstore.cpp).
    void condstore_used(std::string& out);

    // Whether copies' files are reported for learning, and the report (session_hooks::learn).
    bool learns() const { return static_cast<bool>(learn_); }
    void learn(bool spam, std::vector<fs::path> files) const {
        learn_(spam, user_, std::move(files));
    }

    // ---- the selected view (commands/handler.cpp unless said otherwise). These take the
    // string they write to: the session collects a command's untagged updates apart and puts
    // them before its tagged line (session::dispatch), and a context re-run writes nowhere.
    // Brings the view up to date with the folder and writes the untagged updates (EXISTS,
    // RECENT, FETCH FLAGS, and EXPUNGE/VANISHED only if `allow_expunge`, RFC 3501 7.4.1).
    void sync_view(bool allow_expunge, std::string& out);
    // RFC 3501 7.2.6 / 7.1: when the folder's keywords changed since this session last sent
    // FLAGS (a STORE or APPEND here or in another session made a new one), an untagged
    // "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" (read-write only) go out now, before
    // any FETCH that carries the new keyword: clients keep a flag cache from FLAGS.
    void announce_flags(std::string& out);
    std::vector<std::size_t> resolve_set(const sequence_set& set, bool uid) const; // indexes
    std::uint32_t sequence_of(std::uint32_t uid) const; // 0: not in the view (context.cpp)
    // IMAP4rev2 (RFC 9051 5.1): a stored mailbox name as this client must see it.
    std::string mailbox_name_out(const std::string& stored) const;
    // The messages of the selected view matching the search keys args[start..] (search.cpp,
    // shared by SEARCH, SORT and THREAD); unexpected: the text of the BAD reply.
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

private:
    std::optional<selected_box>& sel_;
    mailbox_store* store_;
    enabled_extensions& ext_;
    const std::string& user_;
    const learn_hook& learn_;
};

// ---- shared by the command files (commands/handler.cpp)
std::string ok(const command& c, std::string_view text);
std::string no(const command& c, std::string_view text);
std::string bad(const command& c, std::string_view text);
// RFC 4315 3: a uid-set in the order of `uids`.
std::string compact_uid_set(const std::vector<std::uint32_t>& uids);
// VANISHED (EARLIER) uid-set (RFC 7162 3.2.5.1/3.2.6): `gone` (folder::expunged_since)
// within `within` (nullptr: all), `*` meaning `largest`; "" when empty. Linear in the
// ranges of both, never in the UIDs they span.
std::string vanished_set(const std::vector<folder::uid_range>& gone, const sequence_set* within,
                         std::uint32_t largest);
std::string format_date(std::int64_t t);
std::optional<std::int64_t> parse_date_time(std::string_view s); // APPEND
std::optional<std::int64_t> parse_date(std::string_view s);      // SEARCH

// ---- the handlers (session.cpp's command table names the commands each one runs)
namespace commands {
void noop(handler_context&, const command&);       // NOOP, CHECK (auth.cpp)
void id(handler_context&, const command&);         // RFC 2971 (auth.cpp)
void namespaces(handler_context&, const command&); // RFC 2342 (auth.cpp)
// mailboxes.cpp
void create(handler_context&, const command&);
void remove(handler_context&, const command&); // DELETE
void rename(handler_context&, const command&);
void subscribe(handler_context&, const command&); // SUBSCRIBE, UNSUBSCRIBE
void list(handler_context&, const command&);      // LIST, LSUB
void status(handler_context&, const command&);
// messages.cpp
void append(handler_context&, const command&);
void close(handler_context&, const command&);   // CLOSE, UNSELECT
void expunge(handler_context&, const command&); // EXPUNGE, UID EXPUNGE
void copy(handler_context&, const command&);    // COPY, MOVE and their UID forms
// fetch.cpp: FETCH, UID FETCH; continue_fetch writes the rest of a FETCH begun in an earlier
// step (`resumed`) or in this one.
void fetch(handler_context&, const command&);
void continue_fetch(handler_context&, bool resumed);
void store(handler_context&, const command&);        // store.cpp
void search(handler_context&, const command&);       // search.cpp
void sort(handler_context&, const command&);         // SORT, UID SORT (sort.cpp)
void thread(handler_context&, const command&);       // THREAD, UID THREAD (thread.cpp)
void cancelupdate(handler_context&, const command&); // RFC 5267 4.3 (context.cpp)
} // namespace commands

} // namespace splitmail::home::imap
