#pragma once
// IMAP mailboxes over Maildir++ (cr.yp.to/proto/maildir.html; Courier/Dovecot Maildir++):
// INBOX is the user's Maildir root, other mailboxes are ".Name" directories below it, the
// hierarchy delimiter is ".". Each folder keeps a persistent index `splitmail-uidlist` with
// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and, per message, UID, MODSEQ, size, INTERNALDATE and the
// current file name, so UIDs are stable (RFC 3501 2.3.1.1) and CONDSTORE/QRESYNC (RFC 7162)
// state survives restarts.
//
// Index format: a binary snapshot followed by a text log (folder_index.cpp has the exact layout).
//   "splitmail-uidlist 3\n", then a fixed header (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, the
//   highest pruned expunge MODSEQ, the new/ and cur/ mtimes the snapshot is exact for, counts),
//   one fixed 40-byte record per message (UID, MODSEQ, size, INTERNALDATE or "unknown",
//   new/cur, flags, keywords, name offset and length), 16 bytes per remembered expunge, and
//   all file names in one blob ("name\n" each, in record order). Little-endian.
// After the snapshot, changes are appended as text lines, one record per line:
//   "A <uid> <modseq> <size> <date|-> <n|c> <file>"  message added or changed (last one wins)
//   "X <uid> <modseq>"                              message expunged (kept for VANISHED)
//   "D <new-mtime-ns> <cur-mtime-ns>"               new/ and cur/ as of the records above
// The file is rewritten (temp, fsync, rename) when the log has grown past twice the live
// records, and once after loading an older format. Loading maps the snapshot (mmap) and fills
// the message table from it; the names stay in the mapping (no string per message). A
// snapshot that fails its checks (sizes, name characters and layout, UIDs) is not used: the
// folder then starts as if it had no index. Older indexes are read and converted, keeping UIDVALIDITY, UIDs and MODSEQs: the V2 text index
// ("splitmail-uidlist 2 V.. N.. M.." header followed by the lines above), the V1 index
// ("V1 <uidvalidity> <uidnext>" and "<uid> <base>" lines) and Dovecot's `dovecot-uidlist` (v3)
// when there is no index of ours.
//
// Guarantees:
// - Mailbox names never leave the Maildir: no '/', '\\', control characters, empty
//   components ("..", leading/trailing '.'), and every folder directory starts with '.', so it
//   cannot collide with cur/ new/ tmp/ or files of the root.
// - UIDs are assigned in ascending order as files appear and never reused within a
//   UIDVALIDITY; index entries naming a UID above 2^31-1 are not used (UIDNEXT cannot
//   wrap). MODSEQs only grow (every add, flag change and expunge takes the next one).
// - A folder without a usable index (new, re-created after DELETE, index lost) takes its
//   UIDVALIDITY from the user's counter (uidvalidity.hpp): greater than any value given out
//   before for that user, also within the same second; the folder is not served when the
//   counter cannot be written (sync() returns the error).
// - Flags live in the ":2," info of the file name: D F R S T for system flags, a..z for
//   keywords numbered by the folder's `dovecot-keywords` file (Dovecot's format, "<n> <name>"
//   lines, at most 26 keywords per folder); other info letters are kept as found.
// - Durability (docs/architecture.md, "IMAP: what a crash can lose"): a message's file is
//   fsync'd, renamed into cur/ and cur/ fsync'd, and its record is in the index (fsync'd),
//   before its UID is returned (APPEND, COPY); a UID a read of new/ assigned is fsync'd
//   before any session reports it. Flag changes and expunges (STORE, EXPUNGE, CLOSE, and what
//   a read finds another writer did) are renamed/unlinked and logged at once but not fsync'd
//   before the reply (Dovecot's mail_fsync = optimized does the same): a crash may lose the
//   last of them - a flag change comes back as it was, an expunged message may come back
//   (under its UID, or a new one when only its record reached the disk) - never a delivered
//   or appended message. The next load then reads new/ and cur/ (a "D" record is written only
//   when every record before it is on disk) and the index follows the files. MODSEQs given
//   out in lost records are never reused: before the first unsynced record the marker
//   `splitmail-uidlist.unsynced` is made durable; a load that finds it (no clean close since)
//   raises HIGHESTMODSEQ by max_unsynced + 1 (the most records ever left unsynced) and
//   rewrites the index before serving. A clean close fsyncs and removes the marker.
//   A torn last log line (crash) is ignored on load; the snapshot is only ever replaced whole.
// - No per-message stat on open: when new/ and cur/ have the mtimes recorded in the last
//   "D" record (and those mtimes were older than the scan that recorded them, so a change in
//   the same clock tick cannot hide), the index is used as is; otherwise new/ and cur/ are
//   read (readdir only). New files are not stat'ed either when their name carries the size
//   (",S=<n>", Maildir++): INTERNALDATE (the file's mtime) is then read on first use by
//   folder::internal_date() and remembered (persisted at the next rewrite).
// - Own changes cause no re-read: a loaded folder watches new/ and cur/ (one inotify instance
//   per folder_registry, i.e. per process in splitmail-home); its own renames, links and unlinks are registered as expected events, so
//   only another writer's change (LMTP delivery, another program, a queue overflow) makes
//   sync() read a directory. Without inotify (limits) the mtime rule above applies alone, and
//   the first sync after our own change re-reads the directory once.
// - Expunges are remembered for VANISHED (RFC 7162) up to a bound (the newest
//   keep_expunged(), default 10,000, at each rewrite); for a client whose MODSEQ is older than
//   the forgotten ones, expunged_since() answers with every UID below UIDNEXT that is not
//   present (RFC 7162 3.2.5.1 allows UIDs that never existed).
// - One process per folder: while a folder is loaded the process holds an exclusive flock on
//   `splitmail-uidlist.lock` in its directory; a second splitmail-home process cannot load it
//   (sync() fails with errc::device_or_resource_busy and a log line names the path). Folder
//   objects of one process share the lock.
// - New messages (APPEND, COPY) are written to tmp/ with O_EXCL|O_NOFOLLOW, fsync'd, then
//   renamed into cur/ and cur/ is fsync'd before a UID is returned; a failure leaves nothing.
// - In-process sharing: every session of the process that opens the same folder shares one
//   `folder` object (through the folder_registry), so changes are seen by all of them at their
//   next sync(); the last few opened folders stay loaded after their sessions end.
// - Threads (issue 12 item 4): a folder_registry may be used from many threads at once (it
//   has its own mutexes, never held across disk work); a folder and a mailbox_store are not
//   thread-safe: every call on the folders of one user must come from one thread at a time
//   (splitmail-home runs them on the user's strand, users/executors.hpp). Folders of
//   different users share nothing but the registry.
// - `dovecot-uidlist` is read once (migration) and never written: after migration Dovecot's
//   own files are stale (see docs/architecture.md, IMAP storage).
// Does not: run off the calling thread (all calls block on the disk: callers choose the thread); keep an index readable
// by older splitmail-home versions (a downgrade finds no index it knows and assigns new UIDs);
// start a new UIDVALIDITY when UIDs run out (after 2^31 deliveries to one folder).
#include "imap/file_mapping.hpp"
#include "maildir/flags.hpp"

#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace splitmail::home::imap {

namespace fs = std::filesystem;

class header_cache;    // header_cache.hpp: SORT values, kept with the folder
class structure_cache; // structure_cache.hpp: ENVELOPE/BODYSTRUCTURE strings
class folder;

// What the folders of a process share, owned by whoever runs them (splitmail-home's service;
// no process-wide statics): the open folders (every session of a user opening a folder gets
// the same object) and the last `keep_loaded` opened ones kept loaded, the flocks held on
// folder indexes, and the inotify instance with its directory watches.
// Thread-safe; its mutexes are held for map updates and short system calls only, never across
// a directory read or an index load. Must outlive every folder made with it.
class folder_registry {
public:
    explicit folder_registry(std::size_t keep_loaded = 16);
    ~folder_registry(); // releases the kept folders, the inotify instance and the locks
    folder_registry(const folder_registry&) = delete;
    folder_registry& operator=(const folder_registry&) = delete;
    // For code that runs no service (unit tests, fuzz targets): one per process, never freed.
    static folder_registry& standalone();
    // Folders currently loaded (for tests).
    std::size_t loaded();

    struct impl; // store_detail.hpp
    impl& state() { return *impl_; }

private:
    std::unique_ptr<impl> impl_;
};

// The flag bits and the file-name codec are Maildir's (maildir/flags.hpp).
using maildir::flag_answered;
using maildir::flag_bits;
using maildir::flag_deleted;
using maildir::flag_draft;
using maildir::flag_flagged;
using maildir::flag_seen;
using maildir::flags_of_filename;
using maildir::keywords_of_filename;
using maildir::max_keywords;
using maildir::with_flags;

// "\Seen" etc. -> bit; 0 for anything else.
std::uint8_t flag_from_name(std::string_view name);
// A keyword is an atom (RFC 3501 9 flag-keyword) without '\\'.
bool valid_keyword(std::string_view name);
std::string flags_text(std::uint8_t flags, bool recent); // "(\Seen \Recent)"

constexpr std::int64_t date_unknown = INT64_MIN; // INTERNALDATE not read yet

struct message_entry {
    // Current file name; the characters belong to the folder and stay valid while the folder
    // lives and this entry keeps this name.
    std::string_view file;
    std::uint64_t size = 0;
    // Seconds since the epoch (file mtime), or date_unknown: use folder::internal_date().
    mutable std::int64_t internal_date = date_unknown;
    std::uint64_t modseq = 1;
    std::uint32_t uid = 0;
    std::uint32_t keywords = 0; // bit i: keyword i of folder::keywords()
    bool in_new = false;        // still in new/
    std::uint8_t flags = 0;
    std::string_view base() const { return file.substr(0, file.find(':')); }
};

class folder {
public:
    // `user_root`: the user's Maildir root, where the UIDVALIDITY counter lives
    // (uidvalidity.hpp); empty means `dir` (INBOX, tests). `registry`: what it shares with the
    // process's other folders (null: folder_registry::standalone()).
    explicit folder(fs::path dir, std::string host, fs::path user_root = {},
                    folder_registry* registry = nullptr);
    ~folder();
    folder(const folder&) = delete;
    folder& operator=(const folder&) = delete;
    // Picks up changes made by others (LMTP delivery, other processes): checks the mtimes of
    // new/ and cur/ and reads them when they changed (or always when `force`), assigns UIDs to
    // new files, forgets vanished ones, logs everything in the index.
    std::error_code sync(bool force = false);
    const std::vector<message_entry>& messages() const { return msgs_; }
    const message_entry* find(std::uint32_t uid) const;
    std::uint32_t uidvalidity() const { return uidvalidity_; }
    std::uint32_t uidnext() const { return uidnext_; }
    std::uint64_t highest_modseq() const { return highest_modseq_; }
    std::size_t count_in_new() const;
    const fs::path& dir() const { return dir_; }
    // INTERNALDATE of `m`: read from the file's mtime on first use, then remembered.
    std::int64_t internal_date(const message_entry& m) const;

    // Keyword table of this folder (index = letter - 'a').
    const std::vector<std::string>& keywords() const { return keywords_; }
    std::optional<unsigned> keyword_index(std::string_view name) const; // case-insensitive
    // Index of `name`, adding it to dovecot-keywords if new; errc::no_space_on_device when
    // all 26 letters are taken, errc::invalid_argument for a name that is not a keyword.
    std::expected<unsigned, std::error_code> intern_keyword(std::string_view name);
    bool has_keyword(const message_entry& m, std::string_view name) const;
    // "(\Seen $Forwarded \Recent)": system flags, keywords, then \Recent.
    std::string flags_text(const message_entry& m, bool recent) const;
    void append_flags(std::string& out, const message_entry& m, bool recent) const;
    // "(\Answered ... \Draft kw1 kw2)" and the PERMANENTFLAGS list including "\*".
    std::string flag_list(bool permanent) const;

    std::error_code set_flags(std::uint32_t uid, std::uint8_t flags, std::uint32_t keywords);
    std::error_code set_flags(std::uint32_t uid, std::uint8_t flags) {
        auto* m = find(uid);
        return set_flags(uid, flags, m ? m->keywords : 0);
    }
    std::error_code expunge(std::uint32_t uid);
    // fsyncs records written since the last flush. STORE and EXPUNGE do not call it (a crash
    // may lose their last changes, see the top of this file); APPEND and COPY flush by
    // themselves.
    std::error_code flush();
    // Records (flag changes, expunges) that may be written without fsync before one is forced;
    // also how far MODSEQs skip after a crash (recover_unsynced).
    static constexpr std::size_t max_unsynced = std::size_t{1} << 20;
    // UIDs expunged with a MODSEQ above `modseq` (RFC 7162 3.2.5.1, VANISHED (EARLIER)); when
    // expunges after `modseq` were forgotten: every UID below UIDNEXT that is not present.
    // Ascending, merged ranges (lo <= hi): their count is at most one more than the number of
    // messages plus remembered expunges, never UIDNEXT (a read index may name 2^31).
    struct uid_range {
        std::uint32_t lo, hi;
        bool operator==(const uid_range&) const = default;
    };
    std::vector<uid_range> expunged_since(std::uint64_t modseq) const;
    // How many expunges the next rewrite keeps (newest first); older ones are forgotten.
    void keep_expunged(std::size_t n) { keep_expunged_ = n; }
    // Highest MODSEQ of a forgotten expunge (0: none forgotten).
    std::uint64_t pruned_modseq() const { return pruned_modseq_; }
    // Grows with every expunge seen by this object (a cheap "anything expunged?" test).
    std::size_t expunge_count() const { return expunge_count_; }
    // Moves new/ files to cur/ (keeping the base name) and returns their UIDs.
    std::vector<std::uint32_t> move_new_to_cur();
    // \Recent of messages written by add()/copy_from() (APPEND, COPY, MOVE), which go to cur/
    // directly: kept in this shared object until one session claims them (RFC 3501 2.3.2:
    // exactly one session sees a message as recent). Not kept across restarts of the process.
    // claim_recent() returns those still present and forgets them; count_in_new() counts them.
    std::vector<std::uint32_t> claim_recent();
    bool recent_unclaimed(std::uint32_t uid) const;
    // Writes a new message; returns its UID.
    std::expected<std::uint32_t, std::error_code> add(std::string_view content, std::uint8_t flags,
                                                      std::optional<std::int64_t> date,
                                                      std::uint32_t keywords = 0);
    // Copies message `uid` of `from` into this folder (hard link when possible), with its
    // flags and keywords (keywords re-numbered for this folder).
    std::expected<std::uint32_t, std::error_code> copy_from(const folder& from, std::uint32_t uid);
    std::expected<std::string, std::error_code> read(std::uint32_t uid) const;
    fs::path path_of(const message_entry& m) const;

    // The SORT values of this folder's messages (header_cache.hpp), filled on first use and
    // shared by every session that has the folder open.
    header_cache& headers() const;
    // FETCH ENVELOPE/BODYSTRUCTURE/BODY strings (structure_cache.hpp), likewise shared.
    structure_cache& structures() const;

    // Statistics for tests and benchmarks: directory reads and stat calls done by sync().
    std::size_t scans() const { return scans_; }
    std::size_t file_stats() const { return stats_; }

private:
    std::error_code load_index();
    std::error_code fresh_uidvalidity();
    bool load_v3(int fd, std::size_t file_size, std::size_t& log_start);
    void load_log(std::string_view text);
    bool apply_line(std::string_view line);
    bool load_v2(std::string_view text);
    void load_v1(std::string_view text);
    bool load_dovecot_uidlist();
    void load_keywords();
    std::error_code save_keywords();
    std::error_code append(std::string_view records, bool sync_now);
    std::error_code compact();
    static void append_record(std::string& out, const message_entry& m);
    static void append_expunge(std::string& out, std::uint32_t uid, std::uint64_t modseq);
    std::string_view keep_name(std::string_view name);
    std::string unique_name(std::uint64_t size);
    std::expected<std::uint32_t, std::error_code>
    register_file(std::string_view file, std::uint64_t size, std::int64_t date);
    std::error_code scan(bool scan_new, bool scan_cur, std::int64_t nm, std::int64_t cm,
                         bool trust_new, bool trust_cur);
    void note_own_change(int which, std::int64_t before_ns);
    std::error_code log_mtimes();
    std::error_code mark_unsynced();
    void recover_unsynced();
    void add_watch(int which);
    void drop_watches();
    bool foreign_change(int which);
    void reset_watch(int which);
    // Registers (on) or withdraws an event our own change of `name` in new/ (0) or cur/ (1)
    // causes: kind 'F' moved from, 'T' moved to, 'C' created, 'D' deleted.
    void expect(int which, char kind, std::string_view name, bool on = true);

    folder_registry& registry_;
    fs::path dir_;
    fs::path root_; // the user's Maildir root (UIDVALIDITY counter)
    std::string host_;
    std::uint32_t uidvalidity_ = 0, uidnext_ = 1;
    std::uint64_t highest_modseq_ = 1;
    std::vector<message_entry> msgs_;                               // sorted by uid
    std::vector<std::pair<std::uint32_t, std::uint64_t>> expunged_; // uid, modseq
    std::uint64_t pruned_modseq_ = 0;
    std::size_t keep_expunged_ = 10000;
    // File names of msgs_: the loaded snapshot (mapped), and blocks that are never moved or
    // freed until the next rewrite.
    file_mapping snapshot_;
    std::vector<std::unique_ptr<char[]>> names_;
    char* names_pos_ = nullptr;
    std::size_t names_left_ = 0;
    int wd_[2] = {-1, -1}; // inotify watches of new/ and cur/ (-1: none, mtimes only)
    // The watch was in place when msgs_ last matched the directory exactly: without foreign
    // events, the directory needs no read.
    bool established_[2] = {false, false};
    std::error_code lock_error_; // another process holds the folder
    std::error_code init_error_; // no UIDVALIDITY could be allocated
    bool locked_ = false;
    std::pair<std::uint64_t, std::uint64_t> lock_key_;         // device, inode of the lock file
    std::vector<std::pair<std::string, std::uint32_t>> hints_; // base -> uid (V1, Dovecot)
    std::vector<std::string> keywords_;
    std::int64_t keywords_mtime_ = -1;
    // [0] new/, [1] cur/: mtime as of the last scan, and whether it can be trusted (it was
    // older than that scan, so any later change gives a different mtime).
    std::int64_t mtime_[2] = {-1, -1};
    bool trusted_[2] = {false, false};
    std::int64_t logged_mtime_[2] = {-1, -1}; // last "D" record
    int fd_ = -1;                             // the index, opened for appending
    bool index_ok_ = false;                   // a V2 index file exists and is the log we append to
    std::size_t log_records_ = 0;
    bool dirty_ = false; // written but not fsync'd
    // Records written since the last fsync (at most max_unsynced), and whether the marker
    // file that says so after a crash is on disk (mark_unsynced).
    std::size_t unsynced_records_ = 0;
    bool unsynced_marked_ = false;
    std::size_t scans_ = 0, stats_ = 0;
    std::size_t expunge_count_ = 0;
    std::vector<std::uint32_t> recent_; // ascending UIDs not yet claimed (claim_recent)
    mutable std::unique_ptr<header_cache> headers_;
    mutable std::unique_ptr<structure_cache> structures_;
};

// The mailboxes of one user.
class mailbox_store {
public:
    // `registry`: where open folders are shared (null: folder_registry::standalone()).
    mailbox_store(fs::path root, std::string host, folder_registry* registry = nullptr)
        : root_(std::move(root)), host_(std::move(host)),
          registry_(registry ? registry : &folder_registry::standalone()) {}

    // Directory of a mailbox name, or nullopt if the name is not acceptable.
    std::optional<fs::path> dir_of(std::string_view name) const;
    static bool valid_name(std::string_view name);
    static bool is_inbox(std::string_view name);
    bool exists(std::string_view name) const;
    // Shared open folder (same object for every session using the same registry).
    std::expected<std::shared_ptr<folder>, std::error_code> open(std::string_view name);

    std::vector<std::string> list() const; // "INBOX" and every folder, sorted
    // create() and rename()'s new name refuse what is not canonical modified UTF-7
    // (RFC 3501 5.1.3, mutf7_valid) with invalid_argument; names found on disk are listed and
    // opened as they are, so a folder made by other software can still be renamed or deleted.
    std::error_code create(std::string_view name);
    // DELETE: the mailbox goes, a subscription to its name stays (RFC 3501 6.3.6).
    std::error_code remove(std::string_view name);
    std::error_code rename(std::string_view from, std::string_view to);
    // The `subscriptions` file: one name per line, or Dovecot's "V\t2" format (names after
    // the header, '\t' as hierarchy separator), which is kept when found.
    std::vector<std::string> subscriptions() const;
    std::error_code subscribe(std::string_view name, bool on);
    // Creates Drafts, Sent, Trash, Junk, Archive (subscribed) the first time a user logs in.
    void ensure_special_use();
    static std::string special_use(std::string_view name); // "\\Sent" or ""
    // Whether `names` (as list() returns them: INBOX first, the rest sorted) holds a mailbox
    // below `name` (RFC 3348 \HasChildren).
    static bool has_children(const std::vector<std::string>& names, std::string_view name);
    const fs::path& root() const { return root_; }

private:
    fs::path root_;
    std::string host_;
    folder_registry* registry_;
};

} // namespace splitmail::home::imap
