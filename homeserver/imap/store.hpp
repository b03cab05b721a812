#pragma once
// IMAP mailboxes over Maildir++ (cr.yp.to/proto/maildir.html; Courier/Dovecot Maildir++):
// INBOX is the user's Maildir root, other mailboxes are ".Name" directories below it, the
// hierarchy delimiter is ".". Each folder keeps a persistent index `splitmail-uidlist`
// (UIDVALIDITY, UIDNEXT, UID per base file name) so UIDs are stable (RFC 3501 2.3.1.1).
//
// Guarantees:
// - Mailbox names never leave the Maildir: no '/', '\\', control characters, empty
//   components ("..", leading/trailing '.'), and every folder directory starts with '.', so it
//   cannot collide with cur/ new/ tmp/ or files of the root.
// - UIDs are assigned in ascending order as files appear and never reused within a
//   UIDVALIDITY; the index is replaced atomically (write temp, fsync, rename).
// - Flags live in the ":2," info of the file name (D F R S T; other letters kept as found).
// - New messages (APPEND, COPY) are written to tmp/ with O_EXCL|O_NOFOLLOW, fsync'd, then
//   renamed into cur/ and cur/ is fsync'd before a UID is returned; a failure leaves nothing.
// - In-process sharing: every session of the process that opens the same folder shares one
//   `folder` object, so changes are seen by all of them at their next sync().
// Does not: lock against other processes writing the same index (one splitmail-home per
// Maildir), store keywords, or run off the calling thread (all calls block on the disk).
#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace splitmail::home::imap {

namespace fs = std::filesystem;

enum flag_bits : std::uint8_t {
    flag_answered = 1,
    flag_flagged = 2,
    flag_deleted = 4,
    flag_seen = 8,
    flag_draft = 16,
};

// "\Seen" etc. -> bit; 0 for anything else (keywords are not stored in this slice).
std::uint8_t flag_from_name(std::string_view name);
std::string flags_text(std::uint8_t flags, bool recent); // "(\Seen \Recent)"
std::uint8_t flags_of_filename(std::string_view file);
// New file name with `flags` in its ":2," info (other info letters of `file` kept).
std::string with_flags(std::string_view file, std::uint8_t flags);

struct message_entry {
    std::uint32_t uid = 0;
    std::string base;      // file name before ':'
    std::string file;      // current file name
    bool in_new = false;   // still in new/
    std::uint8_t flags = 0;
    std::uint64_t size = 0;
    std::int64_t internal_date = 0; // seconds since the epoch (file mtime)
};

class folder {
public:
    explicit folder(fs::path dir, std::string host);
    // Rescans new/ and cur/ when they changed (or always when `force`), assigns UIDs to new
    // files, forgets vanished ones, persists the index.
    std::error_code sync(bool force = false);
    const std::vector<message_entry>& messages() const { return msgs_; }
    const message_entry* find(std::uint32_t uid) const;
    std::uint32_t uidvalidity() const { return uidvalidity_; }
    std::uint32_t uidnext() const { return uidnext_; }
    std::size_t count_in_new() const;
    const fs::path& dir() const { return dir_; }

    std::error_code set_flags(std::uint32_t uid, std::uint8_t flags);
    std::error_code expunge(std::uint32_t uid);
    // Moves new/ files to cur/ (keeping the base name) and returns their UIDs.
    std::vector<std::uint32_t> move_new_to_cur();
    // Writes a new message; returns its UID.
    std::expected<std::uint32_t, std::error_code> add(std::string_view content,
                                                      std::uint8_t flags,
                                                      std::optional<std::int64_t> date);
    // Copies message `uid` of `from` into this folder (hard link when possible).
    std::expected<std::uint32_t, std::error_code> copy_from(const folder& from,
                                                            std::uint32_t uid);
    std::expected<std::string, std::error_code> read(std::uint32_t uid) const;
    fs::path path_of(const message_entry& m) const;

private:
    std::error_code load_index();
    std::error_code save_index();
    std::string unique_name(std::uint64_t size);
    std::expected<std::uint32_t, std::error_code> register_file(std::string file,
                                                                std::uint64_t size,
                                                                std::int64_t date);

    fs::path dir_;
    std::string host_;
    std::uint32_t uidvalidity_ = 0, uidnext_ = 1;
    std::vector<message_entry> msgs_; // sorted by uid
    std::vector<std::pair<std::string, std::uint32_t>> index_; // base -> uid (from the file)
    std::int64_t new_mtime_ = -1, cur_mtime_ = -1;
    bool scanned_ = false;
};

// The mailboxes of one user.
class mailbox_store {
public:
    mailbox_store(fs::path root, std::string host) : root_(std::move(root)), host_(std::move(host)) {}

    // Directory of a mailbox name, or nullopt if the name is not acceptable.
    std::optional<fs::path> dir_of(std::string_view name) const;
    static bool valid_name(std::string_view name);
    static bool is_inbox(std::string_view name);
    bool exists(std::string_view name) const;
    // Shared open folder (same object for every session of this process).
    std::expected<std::shared_ptr<folder>, std::error_code> open(std::string_view name);

    std::vector<std::string> list() const; // "INBOX" and every folder, sorted
    std::error_code create(std::string_view name);
    std::error_code remove(std::string_view name);
    std::error_code rename(std::string_view from, std::string_view to);
    std::vector<std::string> subscriptions() const;
    std::error_code subscribe(std::string_view name, bool on);
    // Creates Drafts, Sent, Trash, Junk, Archive (subscribed) the first time a user logs in.
    void ensure_special_use();
    static std::string special_use(std::string_view name); // "\\Sent" or ""
    const fs::path& root() const { return root_; }

private:
    fs::path root_;
    std::string host_;
};

// Glob match of a LIST pattern (RFC 3501 6.3.8): '*' anything, '%' anything but the delimiter.
bool list_match(std::string_view pattern, std::string_view name, char delim = '.');

} // namespace splitmail::home::imap
