#pragma once
// What the files of the IMAP store (store.hpp) share and nobody else uses: file and directory
// helpers over common/durable, the index's record helpers, the registry's internals (locks,
// inotify watches, open folders) and its lock/watch bookkeeping types. The store's code is split
// by concern: folder.cpp (a folder's messages, flags, keywords, new files), folder_index.cpp
// (the splitmail-uidlist snapshot and log), folder_sync.cpp (reading new/ and cur/),
// folder_registry.cpp (what folders of a process share; change watches), mailbox_store.cpp
// (a user's folders, subscriptions, special use), store_detail.cpp (these helpers) and
// maildir/flags.* (the ":2," info letters of a file name).
#include "imap/store.hpp"

#include "splitmail/durable/file.hpp"

#include <atomic>
#include <charconv>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace splitmail::home::imap {
namespace detail {

using durable::write_all;

inline constexpr const char* index_name = "splitmail-uidlist";
inline constexpr const char* keywords_name = "dovecot-keywords";
// Exists while index records that were not fsync'd may exist (folder::mark_unsynced).
inline constexpr const char* unsynced_marker_name = "splitmail-uidlist.unsynced";
inline constexpr std::uint8_t dead = 0xff; // flags of an entry expunged while the log is read
// Largest UID an index may name (as Dovecot: below 2^31), so UIDNEXT cannot wrap around.
inline constexpr std::uint32_t max_uid = 0x7fffffffu;

std::int64_t mtime_ns(const fs::path& p); // -1 when it cannot be read
std::int64_t now_ns();
// How far back an mtime must lie before we trust that a later change would alter it.
std::int64_t trust_margin(std::int64_t mtime);
std::error_code errno_code();
std::error_code fsync_dir(const fs::path& d);
std::error_code make_maildir(const fs::path& d);
// Writes `parts` to `path` through a temp file (write, fsync, rename, fsync of the directory);
// the folder lock makes the caller the only writer.
std::error_code replace_file(const fs::path& path, std::initializer_list<std::string_view> parts);
std::error_code replace_file(const fs::path& path, std::string_view text);
// nullopt when missing or unreadable (capped at 1 GiB: only a wrong file is that big).
std::optional<std::string> read_small_file(const fs::path& p);
// Splits the next space-separated field off `s`.
std::string_view field(std::string_view& s);
template <class T>
bool number(std::string_view s, T& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}
// A name that can be a message file of new/ or cur/.
bool acceptable_file(std::string_view f);
void put_u64(std::string& out, std::uint64_t v);
void put_i64(std::string& out, std::int64_t v);
// Unique-name counter of the process (apart from the LMTP deliverer's).
extern std::atomic<std::uint64_t> name_counter;

// One process per folder: an exclusive flock on "splitmail-uidlist.lock", held once per
// process (folder objects of one registry on the same directory share it; a forked child
// does not inherit the right to use the parent's lock).
struct held_lock {
    int fd;
    pid_t pid;
    std::size_t users;
};

// The inotify instance for the new/ and cur/ of every loaded folder (the per-user limit on
// instances is small). Each folder object subscribed to a directory learns whether anything
// but its own renames, links and unlinks happened there since its last read.
struct watch_sub {
    bool foreign = false;
    std::unordered_multiset<std::string> expected; // kind letter + file name
};
struct dir_watch {
    std::map<const void*, watch_sub> subs;
};

using lock_key = std::pair<std::uint64_t, std::uint64_t>;

} // namespace detail

// What folder objects share (see folder_registry in store.hpp). Three mutexes, each held for
// map updates and short system calls only, never across a directory read or an index load.
struct folder_registry::impl {
    using lock_key = detail::lock_key;
    explicit impl(std::size_t keep) : keep_loaded(keep) {}

    // Open folders shared by the sessions of a user, and the most recently opened ones.
    std::size_t keep_loaded;
    std::mutex open_mu;
    std::map<std::string, std::weak_ptr<folder>> open;
    std::deque<std::shared_ptr<folder>> recent;

    // By device and inode of the lock file, so a folder renamed while loaded is still ours.
    std::mutex locks_mu;
    std::map<lock_key, detail::held_lock> locks;

    std::mutex watch_mu;
    int watch_fd = -2; // -2: not tried yet, -1: inotify unavailable
    std::unordered_map<int, detail::dir_watch> watches;

    std::error_code lock_folder(const fs::path& dir, lock_key& key);
    // The last user of a lock also removes `unlink_when_last` (a clean close's
    // splitmail-uidlist.unsynced) before the flock goes.
    void unlock_folder(lock_key key, const fs::path* unlink_when_last = nullptr);
    std::size_t lock_users(lock_key key); // folder objects of this process holding the lock
    void forget_loaded(const fs::path& dir);
    void drain_events(); // watch_mu held
};

} // namespace splitmail::home::imap
