// Maildir++ mailboxes with a persistent UID/MODSEQ index and keywords; see store.hpp.
#include "imap/store.hpp"

#include "imap/codec.hpp"
#include "imap/header_cache.hpp"
#include "imap/uidvalidity.hpp"
#include "maildir/name.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

namespace splitmail::home::imap {
namespace {

constexpr const char* index_name = "splitmail-uidlist";
constexpr const char* keywords_name = "dovecot-keywords";

std::int64_t mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// How far back an mtime must lie before we trust that a later change would alter it: the
// kernel stamps directories from a coarse clock (a few ms); a file system with whole-second
// stamps (nanoseconds always 0) needs a second.
std::int64_t trust_margin(std::int64_t mtime) {
    return mtime % 1000000000 == 0 ? 1'100'000'000LL : 20'000'000LL;
}

std::error_code errno_code() { return {errno, std::generic_category()}; }

std::error_code fsync_dir(const fs::path& d) {
    auto r = durable::fsync_dir(d);
    return r ? std::error_code{} : r.error().code;
}

std::error_code make_maildir(const fs::path& d) {
    std::error_code ec;
    fs::create_directories(d.parent_path(), ec);
    if (ec) return ec;
    for (auto sub : {"", "cur", "new", "tmp"}) {
        fs::path p = *sub ? d / sub : d;
        if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return errno_code();
    }
    return {};
}

using durable::write_all;

// Writes `parts` to `path` through a temp file: write, fsync, rename, fsync of the directory
// (until then a crash may bring back the old file, and with it lose records appended to the
// new one after its UIDs were handed out).
// The folder lock makes us the only writer: a fixed "<name>.tmp".
std::error_code replace_file(const fs::path& path, std::initializer_list<std::string_view> parts) {
    durable::replace_options opt;
    opt.locked = true;
    auto r = durable::replace_file(path, parts, opt);
    return r ? std::error_code{} : r.error().code;
}
std::error_code replace_file(const fs::path& path, std::string_view text) {
    return replace_file(path, {text});
}

// nullopt when missing or unreadable. The cap only guards against a wrong file: an index of
// a million messages is well under 100 MiB.
std::optional<std::string> read_small_file(const fs::path& p) {
    auto r = durable::read_file(p, {std::size_t{1} << 30, true});
    if (!r) return std::nullopt;
    return std::move(*r);
}

// Splits the next space-separated field off `s`.
std::string_view field(std::string_view& s) {
    auto sp = s.find(' ');
    std::string_view f = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
    return f;
}

template <class T> bool number(std::string_view s, T& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

bool acceptable_file(std::string_view f) {
    if (f.empty() || f[0] == '.' || f.size() > 255) return false;
    return f.find_first_of("\n\r/ ") == std::string_view::npos;
}

std::atomic<std::uint64_t> name_counter{0};

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

} // namespace

// What folder objects share (see folder_registry in store.hpp). Three mutexes, each held for
// map updates and short system calls only, never across a directory read or an index load.
struct folder_registry::impl {
    explicit impl(std::size_t keep) : keep_loaded(keep) {}

    // Open folders shared by the sessions of a user, and the most recently opened ones.
    std::size_t keep_loaded;
    std::mutex open_mu;
    std::map<std::string, std::weak_ptr<folder>> open;
    std::deque<std::shared_ptr<folder>> recent;

    // By device and inode of the lock file, so a folder renamed while loaded is still ours.
    std::mutex locks_mu;
    std::map<lock_key, held_lock> locks;

    std::mutex watch_mu;
    int watch_fd = -2; // -2: not tried yet, -1: inotify unavailable
    std::unordered_map<int, dir_watch> watches;

    std::error_code lock_folder(const fs::path& dir, lock_key& key);
    void unlock_folder(lock_key key);
    void forget_loaded(const fs::path& dir);
    void drain_events(); // watch_mu held
};

folder_registry::folder_registry(std::size_t keep_loaded)
    : impl_(std::make_unique<impl>(keep_loaded)) {}

folder_registry::~folder_registry() {
    // The kept folders go first: their destructors drop watches and locks here.
    std::deque<std::shared_ptr<folder>> kept;
    {
        std::lock_guard lk(impl_->open_mu);
        kept.swap(impl_->recent);
    }
    kept.clear();
    if (impl_->watch_fd >= 0) ::close(impl_->watch_fd);
    for (auto& [key, l] : impl_->locks)
        if (l.pid == ::getpid()) ::close(l.fd);
}

folder_registry& folder_registry::standalone() {
    // Never destroyed: folders kept loaded by it may outlive other statics at exit (fuzz
    // targets, UBSan), and their destructors use it.
    static auto* r = new folder_registry();
    return *r;
}

std::size_t folder_registry::loaded() {
    std::lock_guard lk(impl_->open_mu);
    std::size_t n = 0;
    for (auto& [dir, f] : impl_->open) n += !f.expired();
    return n;
}

// Forgets loaded folders at or below `dir` (DELETE, RENAME).
void folder_registry::impl::forget_loaded(const fs::path& dir) {
    std::deque<std::shared_ptr<folder>> dropped; // destroyed after the mutex is released
    std::lock_guard lk(open_mu);
    std::string key = dir.string();
    for (auto it = open.begin(); it != open.end();) {
        if (it->first == key || it->first.starts_with(key + "/")) it = open.erase(it);
        else ++it;
    }
    for (auto it = recent.begin(); it != recent.end();) {
        std::string d = (*it)->dir().string();
        if (d == key || d.starts_with(key + "/")) {
            dropped.push_back(std::move(*it));
            it = recent.erase(it);
        } else {
            ++it;
        }
    }
}

std::error_code folder_registry::impl::lock_folder(const fs::path& dir, lock_key& key) {
    fs::path lp = dir / (std::string(index_name) + ".lock");
    int fd = ::open(lp.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errno_code();
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        auto ec = errno_code();
        ::close(fd);
        return ec;
    }
    key = {st.st_dev, st.st_ino};
    std::lock_guard lk(locks_mu);
    auto it = locks.find(key);
    if (it != locks.end() && it->second.pid == ::getpid()) {
        ++it->second.users;
        ::close(fd);
        return {};
    }
    if (it != locks.end()) { // the parent's, inherited through fork()
        ::close(it->second.fd);
        locks.erase(it);
    }
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        auto ec = errno == EWOULDBLOCK ? std::make_error_code(std::errc::device_or_resource_busy)
                                       : errno_code();
        ::close(fd);
        return ec;
    }
    locks.emplace(key, held_lock{fd, ::getpid(), 1});
    return {};
}

void folder_registry::impl::unlock_folder(lock_key key) {
    std::lock_guard lk(locks_mu);
    auto it = locks.find(key);
    if (it == locks.end() || it->second.pid != ::getpid() || --it->second.users > 0) return;
    ::close(it->second.fd);
    locks.erase(it);
}

void folder_registry::impl::drain_events() {
    alignas(struct inotify_event) char buf[16384];
    while (true) {
        auto n = ::read(watch_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        for (char* p = buf; p < buf + n;) {
            auto* ev = reinterpret_cast<struct inotify_event*>(p);
            p += sizeof(struct inotify_event) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                for (auto& [wd, w] : watches)
                    for (auto& [who, s] : w.subs) s.foreign = true;
                continue;
            }
            auto it = watches.find(ev->wd);
            if (it == watches.end()) continue;
            char kind = ev->mask & IN_MOVED_FROM ? 'F'
                        : ev->mask & IN_MOVED_TO ? 'T'
                        : ev->mask & IN_CREATE   ? 'C'
                        : ev->mask & IN_DELETE   ? 'D'
                                                 : '?';
            std::string key(1, kind);
            if (ev->len > 0) key += ev->name; // NUL-padded
            for (auto& [who, s] : it->second.subs) {
                auto e = kind == '?' ? s.expected.end() : s.expected.find(key);
                if (e != s.expected.end()) s.expected.erase(e);
                else s.foreign = true;
            }
        }
    }
}


std::uint8_t flag_from_name(std::string_view n) {
    if (iequals(n, "\\Answered")) return flag_answered;
    if (iequals(n, "\\Flagged")) return flag_flagged;
    if (iequals(n, "\\Deleted")) return flag_deleted;
    if (iequals(n, "\\Seen")) return flag_seen;
    if (iequals(n, "\\Draft")) return flag_draft;
    return 0;
}

bool valid_keyword(std::string_view n) {
    // RFC 3501 9: flag-keyword = atom; atom-specials are ( ) { SP CTL % * " \ ]
    if (n.empty() || n.size() > 128) return false;
    for (unsigned char c : n)
        if (c <= 0x20 || c >= 0x7f || std::string_view("(){%*\"\\]").find(static_cast<char>(c)) !=
                                          std::string_view::npos)
            return false;
    return true;
}

std::string flags_text(std::uint8_t f, bool recent) {
    std::string out = "(";
    auto add = [&](const char* s) {
        if (out.size() > 1) out += ' ';
        out += s;
    };
    if (f & flag_answered) add("\\Answered");
    if (f & flag_flagged) add("\\Flagged");
    if (f & flag_deleted) add("\\Deleted");
    if (f & flag_seen) add("\\Seen");
    if (f & flag_draft) add("\\Draft");
    if (recent) add("\\Recent");
    return out + ")";
}

std::uint8_t flags_of_filename(std::string_view file) {
    auto p = file.find(":2,");
    if (p == std::string_view::npos) return 0;
    std::uint8_t f = 0;
    for (char c : file.substr(p + 3)) {
        switch (c) {
        case 'D': f |= flag_draft; break;
        case 'F': f |= flag_flagged; break;
        case 'R': f |= flag_answered; break;
        case 'S': f |= flag_seen; break;
        case 'T': f |= flag_deleted; break;
        default: break;
        }
    }
    return f;
}

std::uint32_t keywords_of_filename(std::string_view file) {
    auto p = file.find(":2,");
    if (p == std::string_view::npos) return 0;
    std::uint32_t k = 0;
    for (char c : file.substr(p + 3))
        if (c >= 'a' && c <= 'z') k |= 1u << (c - 'a');
    return k;
}

std::string with_flags(std::string_view file, std::uint8_t f, std::uint32_t keywords) {
    std::string base(file.substr(0, file.find(':')));
    std::string letters;
    auto p = file.find(":2,");
    if (p != std::string_view::npos)
        for (char c : file.substr(p + 3))
            if (std::string_view("DFRST").find(c) == std::string_view::npos &&
                !(c >= 'a' && c <= 'z') && c != ',' && c != ':')
                letters += c;
    if (f & flag_draft) letters += 'D';
    if (f & flag_flagged) letters += 'F';
    if (f & flag_answered) letters += 'R';
    if (f & flag_seen) letters += 'S';
    if (f & flag_deleted) letters += 'T';
    for (unsigned i = 0; i < max_keywords; ++i)
        if (keywords & (1u << i)) letters += static_cast<char>('a' + i);
    std::sort(letters.begin(), letters.end()); // maildir spec: info letters in ASCII order
    return base + ":2," + letters;
}

// ---------------------------------------------------------------- folder: index file
//
// splitmail-uidlist, version 3: a snapshot, then a log.
//   magic   = "splitmail-uidlist 3\n"
//   header  = snap_header (72 bytes, below)
//   records = snap_msg x n_msgs (40 bytes each, ascending UID)
//   expunge = snap_expunge x n_expunged (16 bytes each)
//   names   = names_bytes bytes: each record's file name followed by "\n", in record order
//   log     = text lines (all numbers decimal, "\n" ends a line):
//     added   = "A " uid " " modseq " " size " " (date / "-") " " ("n" / "c") " " file-name
//     expunge = "X " uid " " modseq
//     dirs    = "D " new-mtime-ns " " cur-mtime-ns
// Integers are little-endian. Later records win; uidnext and highestmodseq are at least one
// past / the largest value any record names. Unknown log record letters are skipped (room for
// later versions). Version 2 was the header line
// "splitmail-uidlist 2 V" uidvalidity " N" uidnext " M" highestmodseq followed by the log only.

namespace {

static_assert(std::endian::native == std::endian::little, "the index is stored little-endian");

constexpr std::string_view magic_v3 = "splitmail-uidlist 3\n";
constexpr std::uint8_t dead = 0xff; // flags of an entry expunged while the log is read
// Largest UID an index may name (as Dovecot: below 2^31), so UIDNEXT cannot wrap around.
constexpr std::uint32_t max_uid = 0x7fffffffu;

struct snap_header {
    std::uint32_t uidvalidity, uidnext;
    std::uint64_t highest_modseq;
    std::uint64_t pruned_modseq;
    std::int64_t mtime_new, mtime_cur; // -1 -1: no trusted mtimes (new/ and cur/ are read)
    std::uint64_t n_msgs, n_expunged, names_bytes;
    std::uint64_t reserved;
};
static_assert(sizeof(snap_header) == 72);

struct snap_msg {
    std::uint64_t modseq, size;
    std::int64_t date;
    std::uint32_t uid, keywords;
    std::uint32_t name_off;
    std::uint16_t name_len;
    std::uint8_t in_new, flags;
};
static_assert(sizeof(snap_msg) == 40);

struct snap_expunge {
    std::uint64_t modseq;
    std::uint32_t uid, reserved;
};
static_assert(sizeof(snap_expunge) == 16);

bool read_at(int fd, char* to, std::size_t n, std::size_t off) {
    while (n > 0) {
        auto r = ::pread(fd, to, n, static_cast<off_t>(off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        to += r, n -= static_cast<std::size_t>(r), off += static_cast<std::size_t>(r);
    }
    return true;
}

// Names must not contain these (a name is a file of new/ or cur/).
bool names_clean(std::string_view blob, std::size_t lines) {
    for (char c : {'/', '\r', ' ', '\0'})
        if (std::memchr(blob.data(), c, blob.size())) return false;
    std::size_t count = 0;
    const char* p = blob.data();
    const char* e = p + blob.size();
    while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(e - p))))) {
        ++count;
        ++p;
    }
    return count == lines;
}

void put_u64(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}
void put_i64(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace

folder::folder(fs::path dir, std::string host, fs::path user_root, folder_registry* registry)
    : registry_(registry ? *registry : folder_registry::standalone()), dir_(std::move(dir)),
      root_(user_root.empty() ? dir_ : std::move(user_root)), host_(std::move(host)) {
    lock_error_ = registry_.state().lock_folder(dir_, lock_key_);
    if (lock_error_) {
        log::error("imap", "-", "folder index in use by another splitmail-home process",
                   {{"path", (dir_ / index_name).string()}, {"error", lock_error_.message()}});
        return;
    }
    locked_ = true;
    load_keywords();
    if (auto ec = load_index()) {
        // No UIDVALIDITY could be allocated durably: serving the folder could hand out a
        // value a client has seen before (RFC 3501 2.3.1.1), so sync() refuses.
        log::error("imap", "-", "cannot allocate a UIDVALIDITY",
                   {{"path", (root_ / "splitmail-uidvalidity").string()},
                    {"error", ec.message()}});
        init_error_ = ec;
    }
}

header_cache& folder::headers() const {
    if (!headers_) headers_ = std::make_unique<header_cache>();
    return *headers_;
}

folder::~folder() {
    if (fd_ >= 0) {
        if (dirty_) ::fsync(fd_);
        ::close(fd_);
    }
    drop_watches();
    if (locked_) registry_.state().unlock_folder(lock_key_);
}

std::string_view folder::keep_name(std::string_view name) {
    if (name.size() > names_left_) {
        std::size_t n = std::max<std::size_t>(name.size(), 64 * 1024);
        names_.push_back(std::make_unique_for_overwrite<char[]>(n));
        names_pos_ = names_.back().get();
        names_left_ = n;
    }
    std::memcpy(names_pos_, name.data(), name.size());
    std::string_view out(names_pos_, name.size());
    names_pos_ += name.size();
    names_left_ -= name.size();
    return out;
}

folder::mapping& folder::mapping::operator=(mapping&& o) noexcept {
    if (this != &o) {
        if (addr) ::munmap(addr, len);
        addr = std::exchange(o.addr, nullptr);
        len = std::exchange(o.len, 0);
    }
    return *this;
}

folder::mapping::~mapping() {
    if (addr) ::munmap(addr, len);
}

std::error_code folder::load_index() {
    fs::path ip = dir_ / index_name;
    int fd = ::open(ip.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) != 0) {
        ::close(fd);
        fd = -1;
    }
    std::size_t file_size = fd >= 0 ? static_cast<std::size_t>(st.st_size) : 0;
    char head[32] = {};
    bool have_head = fd >= 0 && file_size >= magic_v3.size() &&
                     read_at(fd, head, magic_v3.size(), 0);
    if (have_head && std::string_view(head, magic_v3.size()) == magic_v3) {
        std::size_t log_start = 0;
        bool ok = load_v3(fd, file_size, log_start);
        ::close(fd);
        if (ok) {
            index_ok_ = true;
            // A crash may leave a torn last line: cut it so the next record starts a line.
            if (log_start < file_size) {
                std::string tail(file_size - log_start, '\0');
                int rfd = ::open(ip.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                bool read_ok = rfd >= 0 && read_at(rfd, tail.data(), tail.size(), log_start);
                if (rfd >= 0) ::close(rfd);
                if (read_ok) {
                    load_log(tail);
                    auto end = tail.rfind('\n');
                    std::size_t keep = log_start + (end == std::string::npos ? 0 : end + 1);
                    if (keep < file_size && ::truncate(ip.c_str(), static_cast<off_t>(keep)) != 0)
                        index_ok_ = false;
                } else {
                    index_ok_ = false; // rewritten at the first change
                }
            }
            if (index_ok_) fd_ = ::open(ip.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
            if (fd_ < 0) index_ok_ = false;
            return {};
        }
        msgs_.clear();
        expunged_.clear();
        fd = -1;
    }
    if (fd >= 0) ::close(fd);
    auto text = have_head ? read_small_file(ip) : std::nullopt;
    if (text && text->starts_with("splitmail-uidlist 2 ") && load_v2(*text)) {
        // Converted to version 3 now; until that succeeds every change rewrites the file.
        index_ok_ = false;
        compact();
        return {};
    }
    msgs_.clear();
    expunged_.clear();
    if (text && text->starts_with("V1 ")) load_v1(*text);
    else if (!load_dovecot_uidlist()) return fresh_uidvalidity();
    if (uidvalidity_ == 0) return fresh_uidvalidity(); // a V1 index without a usable header
    return {};
}

std::error_code folder::fresh_uidvalidity() {
    // RFC 3501 2.3.1.1 / RFC 9051 2.3.1.1: a new UIDVALIDITY must be greater than any this
    // name had; the per-user counter makes it so even within one second (issue 15 item 10).
    uidnext_ = 1;
    auto v = next_uidvalidity(root_, std::time(nullptr));
    if (!v) return v.error();
    uidvalidity_ = *v;
    return {};
}

bool folder::load_v3(int fd, std::size_t file_size, std::size_t& log_start) {
    snap_header h{};
    std::size_t off = magic_v3.size();
    if (file_size < off + sizeof h || !read_at(fd, reinterpret_cast<char*>(&h), sizeof h, off))
        return false;
    off += sizeof h;
    std::size_t room = file_size - off;
    if (h.uidvalidity == 0 || h.uidnext == 0 || h.uidnext > max_uid + 1 ||
        h.n_msgs > room / sizeof(snap_msg))
        return false;
    std::size_t recs = static_cast<std::size_t>(h.n_msgs) * sizeof(snap_msg);
    room -= recs;
    if (h.n_expunged > room / sizeof(snap_expunge)) return false;
    std::size_t exps = static_cast<std::size_t>(h.n_expunged) * sizeof(snap_expunge);
    room -= exps;
    if (h.names_bytes > room || h.names_bytes > 0xffffffffu) return false;
    std::size_t nb = static_cast<std::size_t>(h.names_bytes);
    log_start = off + recs + exps + nb;
    // The snapshot is used where it lies in the page cache: the names stay in this mapping
    // (it outlives a later rename of the file; only the log after it is ever truncated).
    void* map = log_start == 0 ? MAP_FAILED
                               : ::mmap(nullptr, log_start, PROT_READ, MAP_SHARED | MAP_POPULATE,
                                        fd, 0);
    if (map == MAP_FAILED) return false;
    mapping snap{map, log_start};
    const char* base = static_cast<const char*>(map);
    const char* rec = base + off;
    const char* exp = rec + recs;
    std::string_view names(exp + exps, nb);
    std::size_t n = static_cast<std::size_t>(h.n_msgs);
    if (!names_clean(names, n)) return false;
    uidvalidity_ = h.uidvalidity;
    uidnext_ = h.uidnext;
    highest_modseq_ = std::max<std::uint64_t>(h.highest_modseq, 1);
    pruned_modseq_ = h.pruned_modseq;
    msgs_.clear();
    msgs_.reserve(n);
    std::size_t name_at = 0;
    bool sorted = true;
    std::uint32_t last = 0;
    for (std::size_t i = 0; i < n; ++i) {
        snap_msg r;
        std::memcpy(&r, rec + i * sizeof r, sizeof r);
        // Names are laid out in record order, each followed by its "\n": together with the
        // "\n" count checked above, no name holds a "\n".
        if (r.name_off != name_at || r.name_len == 0 || std::size_t{r.name_off} + r.name_len >= nb ||
            names[r.name_off + r.name_len] != '\n' || names[r.name_off] == '.' || r.uid == 0 ||
            r.uid > max_uid)
            return false;
        name_at += r.name_len + 1u;
        auto& m = msgs_.emplace_back();
        m.file = std::string_view(names.data() + r.name_off, r.name_len);
        m.uid = r.uid;
        m.modseq = r.modseq;
        m.size = r.size;
        m.internal_date = r.date;
        m.in_new = r.in_new != 0;
        m.flags = r.flags & 0x1f;
        m.keywords = r.keywords & ((1u << max_keywords) - 1);
        if (m.uid <= last) sorted = false;
        last = std::max(last, m.uid);
        highest_modseq_ = std::max(highest_modseq_, m.modseq);
    }
    if (name_at != nb) return false;
    if (last >= uidnext_) uidnext_ = last + 1;
    if (!sorted) { // not written by us; keep one entry per UID
        std::stable_sort(msgs_.begin(), msgs_.end(),
                         [](auto& a, auto& b) { return a.uid < b.uid; });
        auto end = std::unique(msgs_.begin(), msgs_.end(),
                               [](auto& a, auto& b) { return a.uid == b.uid; });
        msgs_.erase(end, msgs_.end());
    }
    expunged_.clear();
    expunged_.reserve(static_cast<std::size_t>(h.n_expunged));
    for (std::size_t i = 0; i < h.n_expunged; ++i) {
        snap_expunge x;
        std::memcpy(&x, exp + i * sizeof x, sizeof x);
        if (x.uid == 0 || x.uid > max_uid) continue;
        expunged_.emplace_back(x.uid, x.modseq);
        highest_modseq_ = std::max(highest_modseq_, x.modseq);
        if (x.uid >= uidnext_) uidnext_ = x.uid + 1;
    }
    names_.clear();
    names_pos_ = nullptr;
    names_left_ = 0;
    snapshot_ = std::move(snap);
    bool have_d = h.mtime_new >= 0 && h.mtime_cur >= 0;
    mtime_[0] = have_d ? h.mtime_new : -1;
    mtime_[1] = have_d ? h.mtime_cur : -1;
    trusted_[0] = trusted_[1] = have_d;
    logged_mtime_[0] = mtime_[0];
    logged_mtime_[1] = mtime_[1];
    log_records_ = msgs_.size() + expunged_.size() + 1;
    return true;
}

// Applies the log lines of `text` (a torn last line, without "\n", is ignored).
void folder::load_log(std::string_view text) {
    std::size_t pos = 0;
    bool dropped = false;
    while (true) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) break;
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++log_records_;
        if (!line.empty() && line[0] == 'X') dropped = true;
        apply_line(line);
    }
    if (dropped) std::erase_if(msgs_, [](auto& m) { return m.flags == dead; });
}

// One log line; an expunged message is marked `dead` (the caller erases those).
bool folder::apply_line(std::string_view line) {
    auto kind = field(line);
    if (kind == "A") {
        message_entry m;
        auto u = field(line), ms = field(line), sz = field(line), dt = field(line),
             wh = field(line);
        if (!number(u, m.uid) || !number(ms, m.modseq) || !number(sz, m.size) ||
            !(dt == "-" || number(dt, m.internal_date)) || wh.size() != 1 ||
            !acceptable_file(line) || m.uid == 0 || m.uid > max_uid)
            return false;
        if (dt == "-") m.internal_date = date_unknown;
        m.in_new = wh[0] == 'n';
        m.file = keep_name(line);
        m.flags = flags_of_filename(m.file);
        m.keywords = keywords_of_filename(m.file);
        highest_modseq_ = std::max(highest_modseq_, m.modseq);
        uidnext_ = std::max(uidnext_, m.uid + 1);
        if (msgs_.empty() || msgs_.back().uid < m.uid) {
            msgs_.push_back(m);
        } else {
            auto it = std::lower_bound(msgs_.begin(), msgs_.end(), m.uid,
                                       [](auto& a, std::uint32_t v) { return a.uid < v; });
            if (it != msgs_.end() && it->uid == m.uid) *it = m;
            else msgs_.insert(it, m);
        }
        return true;
    }
    if (kind == "X") {
        std::uint32_t uid = 0;
        std::uint64_t ms = 0;
        auto u = field(line), mv = field(line);
        if (!number(u, uid) || !number(mv, ms) || uid == 0 || uid > max_uid) return false;
        highest_modseq_ = std::max(highest_modseq_, ms);
        uidnext_ = std::max(uidnext_, uid + 1);
        expunged_.emplace_back(uid, ms);
        auto it = std::lower_bound(msgs_.begin(), msgs_.end(), uid,
                                   [](auto& a, std::uint32_t v) { return a.uid < v; });
        if (it != msgs_.end() && it->uid == uid) it->flags = dead; // keeps the UID order
        return true;
    }
    if (kind == "D") {
        auto a = field(line), b = field(line);
        std::int64_t nm = 0, cm = 0;
        if (!number(a, nm) || !number(b, cm)) return false;
        mtime_[0] = nm, mtime_[1] = cm;
        trusted_[0] = trusted_[1] = true;
        logged_mtime_[0] = nm, logged_mtime_[1] = cm;
        return true;
    }
    return false;
}

bool folder::load_v2(std::string_view text) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return false; // torn header
    std::string_view line = text.substr(0, nl);
    field(line);
    field(line); // "splitmail-uidlist 2"
    std::uint32_t uv = 0, un = 0;
    std::uint64_t hm = 0;
    while (!line.empty()) {
        auto f = field(line);
        if (f.size() < 2) continue;
        if (f[0] == 'V') number(f.substr(1), uv);
        else if (f[0] == 'N') number(f.substr(1), un);
        else if (f[0] == 'M') number(f.substr(1), hm);
    }
    if (uv == 0 || un == 0 || un > max_uid + 1) return false;
    uidvalidity_ = uv;
    uidnext_ = un;
    highest_modseq_ = std::max<std::uint64_t>(hm, 1);
    msgs_.clear();
    expunged_.clear();
    mtime_[0] = mtime_[1] = -1;
    trusted_[0] = trusted_[1] = false;
    load_log(text.substr(nl + 1));
    return true;
}
void folder::load_v1(std::string_view text) {
    std::istringstream in{std::string(text)};
    std::string version;
    in >> version >> uidvalidity_ >> uidnext_;
    if (uidvalidity_ == 0 || uidnext_ == 0 || uidnext_ > max_uid + 1) {
        uidvalidity_ = 0; // load_index() allocates a new one
        uidnext_ = 1;
        return;
    }
    std::uint32_t uid;
    std::string base;
    while (in >> uid >> base)
        if (uid != 0 && uid <= max_uid) hints_.emplace_back(base, uid);
    std::sort(hints_.begin(), hints_.end());
}

bool folder::load_dovecot_uidlist() {
    // Dovecot's maildir uidlist, version 3: "3 V<uidvalidity> N<uidnext> G<guid>", then
    // "<uid> [<ext> ...] :<file name>" per message (extensions are letter+value fields).
    auto text = read_small_file(dir_ / "dovecot-uidlist");
    if (!text) return false;
    std::istringstream in(*text);
    std::string line;
    if (!std::getline(in, line)) return false;
    std::string_view h(line);
    if (field(h) != "3") return false;
    std::uint32_t uv = 0, un = 0;
    while (!h.empty()) {
        auto f = field(h);
        if (f.size() < 2) continue;
        if (f[0] == 'V') number(f.substr(1), uv);
        else if (f[0] == 'N') number(f.substr(1), un);
    }
    if (uv == 0 || un == 0 || un > max_uid + 1) return false;
    uidvalidity_ = uv;
    uidnext_ = un;
    while (std::getline(in, line)) {
        std::string_view l(line);
        std::uint32_t uid = 0;
        if (!number(field(l), uid) || uid == 0 || uid > max_uid) continue;
        auto colon = l.find(':');
        if (colon == std::string_view::npos) continue;
        if (colon > 0 && l[colon - 1] != ' ') continue;
        std::string_view file = l.substr(colon + 1);
        file = file.substr(0, file.find(':'));
        if (file.empty()) continue;
        hints_.emplace_back(std::string(file), uid);
        uidnext_ = std::max(uidnext_, uid + 1);
    }
    std::sort(hints_.begin(), hints_.end());
    // Dovecot keeps MODSEQs in its binary index, which we do not read. Clients may hold a
    // Dovecot HIGHESTMODSEQ; starting above any counter Dovecot reaches (the clock in
    // seconds) means a CHANGEDSINCE from such a client reports everything, never too little.
    highest_modseq_ = static_cast<std::uint64_t>(std::time(nullptr));
    return true;
}

void folder::load_keywords() {
    // Dovecot's dovecot-keywords: "<index> <name>" per line, index 0..25 = letter a..z.
    keywords_mtime_ = mtime_ns(dir_ / keywords_name);
    keywords_.clear();
    auto text = read_small_file(dir_ / keywords_name);
    if (!text) return;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        std::string_view l(line);
        unsigned idx = 0;
        if (!number(field(l), idx) || idx >= max_keywords || !valid_keyword(l)) continue;
        if (keywords_.size() <= idx) keywords_.resize(idx + 1);
        keywords_[idx] = std::string(l);
    }
}

std::error_code folder::save_keywords() {
    std::string text;
    for (std::size_t i = 0; i < keywords_.size(); ++i)
        if (!keywords_[i].empty()) text += std::to_string(i) + " " + keywords_[i] + "\n";
    auto ec = replace_file(dir_ / keywords_name, text);
    keywords_mtime_ = mtime_ns(dir_ / keywords_name);
    return ec;
}

void folder::append_record(std::string& out, const message_entry& m) {
    out += "A ";
    put_u64(out, m.uid);
    out += ' ';
    put_u64(out, m.modseq);
    out += ' ';
    put_u64(out, m.size);
    out += ' ';
    if (m.internal_date == date_unknown) out += '-';
    else put_i64(out, m.internal_date);
    out += m.in_new ? " n " : " c ";
    out += m.file;
    out += '\n';
}

void folder::append_expunge(std::string& out, std::uint32_t uid, std::uint64_t modseq) {
    out += "X ";
    put_u64(out, uid);
    out += ' ';
    put_u64(out, modseq);
    out += '\n';
}

std::error_code folder::append(std::string_view records, bool sync_now) {
    if (records.empty()) return {};
    if (!index_ok_) return compact(); // first write: the snapshot has everything
    std::size_t n = static_cast<std::size_t>(std::count(records.begin(), records.end(), '\n'));
    if (auto ec = write_all(fd_, records)) return ec;
    log_records_ += n;
    dirty_ = true;
    if (log_records_ > 2 * (msgs_.size() + expunged_.size()) + 1000) return compact();
    if (sync_now) return flush();
    return {};
}

std::error_code folder::flush() {
    if (!dirty_ || fd_ < 0) return {};
    if (::fsync(fd_) != 0) return errno_code();
    dirty_ = false;
    return {};
}

std::error_code folder::compact() {
    if (!locked_) return lock_error_;
    // Expunges kept for VANISHED: the newest keep_expunged_; the rest is summed up by the
    // highest MODSEQ forgotten.
    if (expunged_.size() > keep_expunged_) {
        std::stable_sort(expunged_.begin(), expunged_.end(),
                         [](auto& a, auto& b) { return a.second < b.second; });
        std::size_t drop = expunged_.size() - keep_expunged_;
        for (std::size_t i = 0; i < drop; ++i)
            pruned_modseq_ = std::max(pruned_modseq_, expunged_[i].second);
        expunged_.erase(expunged_.begin(), expunged_.begin() + static_cast<std::ptrdiff_t>(drop));
    }
    std::size_t nb = 0;
    for (const auto& m : msgs_) nb += m.file.size() + 1;
    if (nb > 0xffffffffu) return std::make_error_code(std::errc::file_too_large);
    snap_header h{};
    h.uidvalidity = uidvalidity_;
    h.uidnext = uidnext_;
    h.highest_modseq = highest_modseq_;
    h.pruned_modseq = pruned_modseq_;
    bool have_d = trusted_[0] && trusted_[1];
    h.mtime_new = have_d ? mtime_[0] : -1;
    h.mtime_cur = have_d ? mtime_[1] : -1;
    h.n_msgs = msgs_.size();
    h.n_expunged = expunged_.size();
    h.names_bytes = nb;
    std::string head;
    head.resize(magic_v3.size() + sizeof h + msgs_.size() * sizeof(snap_msg) +
                expunged_.size() * sizeof(snap_expunge));
    char* p = head.data();
    std::memcpy(p, magic_v3.data(), magic_v3.size());
    p += magic_v3.size();
    std::memcpy(p, &h, sizeof h);
    p += sizeof h;
    auto names = std::make_unique_for_overwrite<char[]>(nb + 1);
    std::size_t at = 0;
    for (const auto& m : msgs_) {
        snap_msg r{};
        r.modseq = m.modseq;
        r.size = m.size;
        r.date = m.internal_date;
        r.uid = m.uid;
        r.keywords = m.keywords;
        r.name_off = static_cast<std::uint32_t>(at);
        r.name_len = static_cast<std::uint16_t>(m.file.size());
        r.in_new = m.in_new ? 1 : 0;
        r.flags = m.flags;
        std::memcpy(p, &r, sizeof r);
        p += sizeof r;
        std::memcpy(names.get() + at, m.file.data(), m.file.size());
        at += m.file.size();
        names[at++] = '\n';
    }
    for (auto [uid, ms] : expunged_) {
        snap_expunge x{};
        x.modseq = ms;
        x.uid = uid;
        std::memcpy(p, &x, sizeof x);
        p += sizeof x;
    }
    fs::path ip = dir_ / index_name;
    if (auto ec = replace_file(ip, {head, std::string_view(names.get(), nb)})) return ec;
    // The names now live in the blob just written; the older blocks go.
    at = 0;
    for (auto& m : msgs_) {
        m.file = std::string_view(names.get() + at, m.file.size());
        at += m.file.size() + 1;
    }
    names_.clear();
    names_.push_back(std::move(names));
    snapshot_ = {};
    names_pos_ = nullptr;
    names_left_ = 0;
    logged_mtime_[0] = have_d ? mtime_[0] : -1;
    logged_mtime_[1] = have_d ? mtime_[1] : -1;
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(ip.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd_ < 0) {
        index_ok_ = false;
        return errno_code();
    }
    index_ok_ = true;
    dirty_ = false;
    log_records_ = msgs_.size() + expunged_.size() + 1;
    hints_.clear();
    hints_.shrink_to_fit();
    return {};
}

// ---------------------------------------------------------------- folder: sync

std::error_code folder::sync(bool force) {
    if (!locked_) return lock_error_;
    if (init_error_) return init_error_;
    if (mtime_ns(dir_ / keywords_name) != keywords_mtime_) load_keywords();
    add_watch(0); // before the mtimes are read: later changes are seen by one or the other
    add_watch(1);
    std::int64_t nm = mtime_ns(dir_ / "new"), cm = mtime_ns(dir_ / "cur");
    if (nm < 0 || cm < 0) return std::make_error_code(std::errc::no_such_file_or_directory);
    std::int64_t now = now_ns();
    bool trust[2] = {now - nm > trust_margin(nm), now - cm > trust_margin(cm)};
    std::int64_t mt[2] = {nm, cm};
    bool scan_dir[2];
    for (int i = 0; i < 2; ++i) {
        if (established_[i] && !foreign_change(i)) {
            // Watched since our state was exact, and only our own changes happened: the
            // directory holds what msgs_ says; its mtime is the one to log.
            scan_dir[i] = force;
            if (!force) mtime_[i] = mt[i], trusted_[i] = trust[i];
            continue;
        }
        // A directory is read when its mtime moved, or when the last read could not be
        // trusted and this one can (a change in the tick of the last read is caught now;
        // until the tick is over a read would prove nothing).
        scan_dir[i] = force || mt[i] != mtime_[i] || (!trusted_[i] && trust[i]) ||
                      (established_[i] && foreign_change(i));
        // Unchanged since a trusted mtime, and watched since before it was read: exact.
        if (!scan_dir[i] && trusted_[i] && wd_[i] >= 0) established_[i] = true;
    }
    if (!scan_dir[0] && !scan_dir[1]) {
        std::string d;
        log_mtimes(d);
        if (auto ec = append(d, false)) return ec;
        return flush();
    }
    return scan(scan_dir[0], scan_dir[1], nm, cm, trust[0], trust[1]);
}

std::error_code folder::scan(bool scan_new, bool scan_cur, std::int64_t nm, std::int64_t cm,
                             bool trust_new, bool trust_cur) {
    ++scans_;
    struct found {
        std::string_view file;
        bool in_new;
        bool matched = false;
    };
    // Plain readdir into one buffer: no string or path object per entry (cur/ may hold
    // 100,000 names).
    std::string pool;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> spans; // offset, length in pool
    std::size_t first_cur = 0;
    int dfd[2] = {-1, -1};
    struct closer {
        int* fds;
        ~closer() {
            for (int i = 0; i < 2; ++i)
                if (fds[i] >= 0) ::close(fds[i]);
        }
    } close_dirs{dfd};
    for (bool in_new : {true, false}) {
        if (!in_new) first_cur = spans.size();
        if (!(in_new ? scan_new : scan_cur)) continue;
        reset_watch(in_new ? 0 : 1); // from here on, any other change shows
        established_[in_new ? 0 : 1] = wd_[in_new ? 0 : 1] >= 0;
        int fd = ::open((dir_ / (in_new ? "new" : "cur")).c_str(),
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return errno_code();
        dfd[in_new ? 0 : 1] = fd;
        DIR* dp = ::fdopendir(::dup(fd));
        if (!dp) return errno_code();
        errno = 0;
        while (const struct dirent* e = ::readdir(dp)) {
            std::string_view f(e->d_name);
            if (!acceptable_file(f)) continue;
            spans.emplace_back(static_cast<std::uint32_t>(pool.size()),
                               static_cast<std::uint32_t>(f.size()));
            pool += f;
        }
        int err = errno;
        ::closedir(dp);
        if (err) return {err, std::generic_category()};
    }
    std::vector<found> files(spans.size());
    for (std::size_t i = 0; i < spans.size(); ++i)
        files[i] = {std::string_view(pool).substr(spans[i].first, spans[i].second),
                    i < first_cur};
    std::string records;
    const bool logging = index_ok_; // otherwise compact() writes everything below
    bool removed = false;
    std::size_t known = 0;
    for (const auto& m : msgs_)
        if (m.in_new ? scan_new : scan_cur) ++known;
    if (known > 0) {
        std::unordered_map<std::string_view, std::size_t> by_base;
        by_base.reserve(files.size());
        for (std::size_t i = 0; i < files.size(); ++i) {
            std::string_view f(files[i].file);
            by_base.emplace(f.substr(0, f.find(':')), i);
        }
        auto gone = [&](message_entry& m) {
            // Expunged by someone else (RFC 3501 7.4.1 reports it at the next chance), or two
            // UIDs for one file (a damaged index): the later one goes.
            expunged_.emplace_back(m.uid, ++highest_modseq_);
            ++expunge_count_;
            if (logging) append_expunge(records, m.uid, highest_modseq_);
            m.flags = dead;
            removed = true;
        };
        for (auto& m : msgs_) {
            if (!(m.in_new ? scan_new : scan_cur)) continue;
            auto it = by_base.find(m.base());
            if (it == by_base.end()) {
                gone(m);
                continue;
            }
            auto& f = files[it->second];
            if (f.matched) {
                gone(m);
                continue;
            }
            f.matched = true;
            if (f.file == m.file && f.in_new == m.in_new) continue;
            std::uint8_t fl = flags_of_filename(f.file);
            std::uint32_t kw = keywords_of_filename(f.file);
            if (fl != m.flags || kw != m.keywords) m.modseq = ++highest_modseq_;
            m.file = keep_name(f.file);
            m.in_new = f.in_new;
            m.flags = fl;
            m.keywords = kw;
            if (logging) append_record(records, m);
        }
    }
    if (removed) std::erase_if(msgs_, [](auto& m) { return m.flags == dead; });
    // Files nobody knew: a UID from the imported list, else the next one, in name order (names
    // start with the delivery time).
    std::vector<found*> fresh;
    for (auto& f : files)
        if (!f.matched) fresh.push_back(&f);
    std::sort(fresh.begin(), fresh.end(), [](auto* a, auto* b) { return a->file < b->file; });
    std::vector<message_entry> added;
    added.reserve(fresh.size());
    std::vector<std::uint32_t> hinted; // UIDs taken from hints_ in this loop
    for (auto* f : fresh) {
        message_entry m;
        m.file = f->file; // still in `pool`; kept below
        m.in_new = f->in_new;
        if (!hints_.empty()) {
            std::string_view base = m.base();
            auto ix = std::lower_bound(hints_.begin(), hints_.end(), base,
                                       [](auto& a, std::string_view b) { return a.first < b; });
            if (ix != hints_.end() && ix->first == base && !find(ix->second) &&
                std::find(hinted.begin(), hinted.end(), ix->second) == hinted.end()) {
                m.uid = ix->second;
                hinted.push_back(m.uid);
            }
        }
        added.push_back(m);
    }
    // Hinted UIDs first, so new UIDs start above all of them.
    for (auto& m : added)
        if (m.uid) uidnext_ = std::max(uidnext_, m.uid + 1);
    for (auto& m : added) {
        if (m.uid == 0) m.uid = uidnext_++;
        m.flags = flags_of_filename(m.file);
        m.keywords = keywords_of_filename(m.file);
        m.modseq = ++highest_modseq_;
        if (auto s = maildir::size_from_name(m.file)) {
            m.size = *s; // INTERNALDATE: read when asked for (internal_date())
        } else {
            struct stat st {};
            ++stats_;
            std::string name(m.file);
            if (::fstatat(dfd[m.in_new ? 0 : 1], name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
                m.internal_date = st.st_mtim.tv_sec;
                m.size = static_cast<std::uint64_t>(st.st_size);
            }
        }
        m.file = keep_name(m.file);
        if (logging) append_record(records, m);
    }
    if (!added.empty()) {
        bool in_order = msgs_.empty() ||
                        std::all_of(added.begin(), added.end(),
                                    [&](auto& m) { return m.uid > msgs_.back().uid; });
        msgs_.insert(msgs_.end(), added.begin(), added.end());
        if (!in_order || !std::is_sorted(msgs_.begin(), msgs_.end(),
                                         [](auto& a, auto& b) { return a.uid < b.uid; }))
            std::sort(msgs_.begin(), msgs_.end(), [](auto& a, auto& b) { return a.uid < b.uid; });
    }
    if (scan_new) mtime_[0] = nm, trusted_[0] = trust_new;
    if (scan_cur) mtime_[1] = cm, trusted_[1] = trust_cur;
    log_mtimes(records);
    if (!index_ok_) return compact();
    return append(records, true);
}

// Adds a "D" record when both directories' mtimes are trusted and differ from the last one
// logged.
void folder::log_mtimes(std::string& records) {
    if (!trusted_[0] || !trusted_[1] ||
        (mtime_[0] == logged_mtime_[0] && mtime_[1] == logged_mtime_[1]))
        return;
    records += "D ";
    put_i64(records, mtime_[0]);
    records += ' ';
    put_i64(records, mtime_[1]);
    records += '\n';
    logged_mtime_[0] = mtime_[0];
    logged_mtime_[1] = mtime_[1];
}

void folder::note_own_change(int which, std::int64_t before_ns) {
    // Our own rename/unlink/create moved the directory's mtime. If nobody else had changed it
    // since the last read, the new mtime is ours; it is recent, so it is not trusted and the
    // first sync after the clock tick reads the directory once more.
    if (mtime_[which] != before_ns) return; // someone else changed it: the next sync reads it
    mtime_[which] = mtime_ns(dir_ / (which == 0 ? "new" : "cur"));
    trusted_[which] = false;
}

std::int64_t folder::internal_date(const message_entry& m) const {
    if (m.internal_date != date_unknown) return m.internal_date;
    struct stat st {};
    if (::stat(path_of(m).c_str(), &st) != 0) return 0; // gone: the next sync tells
    m.internal_date = st.st_mtim.tv_sec;
    return m.internal_date;
}

const message_entry* folder::find(std::uint32_t uid) const {
    auto it = std::lower_bound(msgs_.begin(), msgs_.end(), uid,
                               [](const message_entry& m, std::uint32_t u) { return m.uid < u; });
    return it != msgs_.end() && it->uid == uid ? &*it : nullptr;
}

std::size_t folder::count_in_new() const {
    std::size_t n = static_cast<std::size_t>(
        std::count_if(msgs_.begin(), msgs_.end(), [](auto& m) { return m.in_new; }));
    for (auto uid : recent_)
        if (find(uid)) ++n;
    return n;
}

std::vector<std::uint32_t> folder::claim_recent() {
    std::vector<std::uint32_t> out;
    for (auto uid : recent_)
        if (find(uid)) out.push_back(uid);
    recent_.clear();
    return out;
}

bool folder::recent_unclaimed(std::uint32_t uid) const {
    return std::binary_search(recent_.begin(), recent_.end(), uid);
}

fs::path folder::path_of(const message_entry& m) const {
    return dir_ / (m.in_new ? "new" : "cur") / m.file;
}

std::vector<folder::uid_range> folder::expunged_since(std::uint64_t modseq) const {
    std::vector<uid_range> out;
    if (modseq < pruned_modseq_) {
        // Some expunges after `modseq` are forgotten: every UID that is not here (RFC 7162
        // 3.2.5.1: "MAY ... include UIDs of messages that were never present"), as the gaps
        // between messages: linear in the messages, not in UIDNEXT.
        std::uint32_t next = 1;
        for (const auto& m : msgs_) {
            if (m.uid > next) out.push_back({next, m.uid - 1});
            next = m.uid + 1;
        }
        if (uidnext_ > next) out.push_back({next, uidnext_ - 1});
        return out;
    }
    std::vector<std::uint32_t> uids;
    for (auto [uid, ms] : expunged_)
        if (ms > modseq) uids.push_back(uid);
    std::sort(uids.begin(), uids.end());
    for (auto u : uids) {
        if (!out.empty() && out.back().hi >= u) continue; // duplicate
        if (!out.empty() && out.back().hi + 1 == u) out.back().hi = u;
        else out.push_back({u, u});
    }
    return out;
}

// ---------------------------------------------------------------- folder: change watch

void folder::add_watch(int which) {
    if (wd_[which] >= 0) return;
    auto& r = registry_.state();
    std::lock_guard lk(r.watch_mu);
    if (r.watch_fd == -2) {
        r.watch_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r.watch_fd < 0) r.watch_fd = -1;
    }
    if (r.watch_fd < 0) return;
    int wd = ::inotify_add_watch(r.watch_fd, (dir_ / (which == 0 ? "new" : "cur")).c_str(),
                                 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    if (wd < 0) return; // e.g. fs.inotify.max_user_watches: mtimes only
    r.watches[wd].subs[this] = {};
    wd_[which] = wd;
    established_[which] = false;
}

void folder::drop_watches() {
    auto& r = registry_.state();
    std::lock_guard lk(r.watch_mu);
    for (int& wd : wd_) {
        if (wd < 0) continue;
        auto it = r.watches.find(wd);
        if (it != r.watches.end()) {
            it->second.subs.erase(this);
            if (it->second.subs.empty()) {
                ::inotify_rm_watch(r.watch_fd, wd);
                r.watches.erase(it);
            }
        }
        wd = -1;
    }
}

// Whether anything but our own changes happened in new/ (0) or cur/ (1) since the last
// reset_watch(); true when there is no watch.
bool folder::foreign_change(int which) {
    if (wd_[which] < 0) return true;
    auto& r = registry_.state();
    std::lock_guard lk(r.watch_mu);
    r.drain_events();
    auto it = r.watches.find(wd_[which]);
    if (it == r.watches.end()) return true;
    auto s = it->second.subs.find(this);
    return s == it->second.subs.end() || s->second.foreign;
}

void folder::reset_watch(int which) {
    if (wd_[which] < 0) return;
    auto& r = registry_.state();
    std::lock_guard lk(r.watch_mu);
    r.drain_events();
    auto it = r.watches.find(wd_[which]);
    if (it == r.watches.end()) return;
    it->second.subs[this] = {};
}

void folder::expect(int which, char kind, std::string_view name, bool on) {
    if (wd_[which] < 0) return;
    std::string key(1, kind);
    key += name;
    auto& r = registry_.state();
    std::lock_guard lk(r.watch_mu);
    auto it = r.watches.find(wd_[which]);
    if (it == r.watches.end()) return;
    auto& s = it->second.subs[this];
    if (on) {
        s.expected.insert(std::move(key));
    } else if (auto e = s.expected.find(key); e != s.expected.end()) {
        s.expected.erase(e);
    }
}

// ---------------------------------------------------------------- folder: keywords

std::optional<unsigned> folder::keyword_index(std::string_view name) const {
    for (std::size_t i = 0; i < keywords_.size(); ++i)
        if (!keywords_[i].empty() && iequals(keywords_[i], name)) return static_cast<unsigned>(i);
    return std::nullopt;
}

std::expected<unsigned, std::error_code> folder::intern_keyword(std::string_view name) {
    if (!valid_keyword(name)) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (mtime_ns(dir_ / keywords_name) != keywords_mtime_) load_keywords();
    if (auto i = keyword_index(name)) return *i;
    std::size_t slot = keywords_.size();
    for (std::size_t i = 0; i < keywords_.size(); ++i)
        if (keywords_[i].empty()) {
            slot = i;
            break;
        }
    if (slot >= max_keywords) return std::unexpected(std::make_error_code(std::errc::no_space_on_device));
    if (slot == keywords_.size()) keywords_.emplace_back();
    keywords_[slot] = std::string(name);
    if (auto ec = save_keywords()) {
        keywords_[slot].clear();
        return std::unexpected(ec);
    }
    return static_cast<unsigned>(slot);
}

bool folder::has_keyword(const message_entry& m, std::string_view name) const {
    auto i = keyword_index(name);
    return i && (m.keywords & (1u << *i));
}

std::string folder::flags_text(const message_entry& m, bool recent) const {
    std::string out;
    append_flags(out, m, recent);
    return out;
}

void folder::append_flags(std::string& out, const message_entry& m, bool recent) const {
    out += '(';
    bool first = true;
    auto add = [&](std::string_view s) {
        if (!first) out += ' ';
        first = false;
        out += s;
    };
    if (m.flags & flag_answered) add("\\Answered");
    if (m.flags & flag_flagged) add("\\Flagged");
    if (m.flags & flag_deleted) add("\\Deleted");
    if (m.flags & flag_seen) add("\\Seen");
    if (m.flags & flag_draft) add("\\Draft");
    if (m.keywords)
        for (std::size_t i = 0; i < keywords_.size(); ++i)
            if ((m.keywords & (1u << i)) && !keywords_[i].empty()) add(keywords_[i]);
    if (recent) add("\\Recent");
    out += ')';
}

std::string folder::flag_list(bool permanent) const {
    std::string out = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    for (const auto& k : keywords_)
        if (!k.empty()) out += " " + k;
    std::size_t used = static_cast<std::size_t>(
        std::count_if(keywords_.begin(), keywords_.end(), [](auto& k) { return !k.empty(); }));
    // RFC 3501 7.1: "\*" = new keywords may be created (while a letter is free).
    if (permanent && used < max_keywords) out += " \\*";
    return out + ")";
}

// ---------------------------------------------------------------- folder: changes

std::error_code folder::set_flags(std::uint32_t uid, std::uint8_t flags, std::uint32_t keywords) {
    auto* m = const_cast<message_entry*>(find(uid));
    if (!m) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (!m->in_new && m->flags == flags && m->keywords == keywords) return {};
    std::string nf = with_flags(m->file, flags, keywords);
    fs::path to = dir_ / "cur" / nf;
    std::int64_t before_new = mtime_ns(dir_ / "new"), before_cur = mtime_ns(dir_ / "cur");
    int from_dir = m->in_new ? 0 : 1;
    bool moves = m->in_new || m->file != nf;
    if (moves) expect(from_dir, 'F', m->file), expect(1, 'T', nf);
    if (::rename(path_of(*m).c_str(), to.c_str()) != 0) {
        auto ec = errno_code();
        if (moves) expect(from_dir, 'F', m->file, false), expect(1, 'T', nf, false);
        return ec;
    }
    bool was_new = m->in_new;
    bool changed = m->flags != flags || m->keywords != keywords;
    m->file = keep_name(nf);
    m->in_new = false;
    m->flags = flags;
    m->keywords = keywords;
    if (changed) m->modseq = ++highest_modseq_;
    if (was_new) note_own_change(0, before_new);
    note_own_change(1, before_cur);
    std::string record;
    append_record(record, *m);
    return append(record, false);
}

std::error_code folder::expunge(std::uint32_t uid) {
    auto* m = find(uid);
    if (!m) return {};
    int which = m->in_new ? 0 : 1;
    std::int64_t before = mtime_ns(dir_ / (which == 0 ? "new" : "cur"));
    expect(which, 'D', m->file);
    if (::unlink(path_of(*m).c_str()) != 0) {
        auto ec = errno_code();
        expect(which, 'D', m->file, false);
        if (ec != std::errc::no_such_file_or_directory) return ec;
    }
    note_own_change(which, before);
    msgs_.erase(msgs_.begin() + (m - msgs_.data()));
    expunged_.emplace_back(uid, ++highest_modseq_);
    ++expunge_count_;
    std::string record;
    append_expunge(record, uid, highest_modseq_);
    return append(record, false);
}

std::vector<std::uint32_t> folder::move_new_to_cur() {
    std::vector<std::uint32_t> moved;
    std::string records;
    std::int64_t before_new = mtime_ns(dir_ / "new"), before_cur = mtime_ns(dir_ / "cur");
    for (auto& m : msgs_) {
        if (!m.in_new) continue;
        std::string nf = with_flags(m.file, m.flags, m.keywords);
        expect(0, 'F', m.file), expect(1, 'T', nf);
        if (::rename(path_of(m).c_str(), (dir_ / "cur" / nf).c_str()) != 0) {
            expect(0, 'F', m.file, false), expect(1, 'T', nf, false);
        } else {
            m.file = keep_name(nf);
            m.in_new = false;
            moved.push_back(m.uid);
            append_record(records, m);
        }
    }
    if (!moved.empty()) {
        note_own_change(0, before_new);
        note_own_change(1, before_cur);
        append(records, false);
    }
    return moved;
}

std::string folder::unique_name(std::uint64_t size) {
    using namespace std::chrono;
    auto now = system_clock::now().time_since_epoch();
    maildir::unique_name n;
    n.sec = duration_cast<seconds>(now).count();
    n.usec = duration_cast<microseconds>(now).count() % 1000000;
    n.pid = ::getpid();
    n.counter = 1000000 + name_counter.fetch_add(1); // apart from the LMTP deliverer's counter
    n.host = maildir::escape_host(host_);
    n.size = size;
    return maildir::make_name(n);
}

std::expected<std::uint32_t, std::error_code> folder::register_file(std::string_view file,
                                                                    std::uint64_t size,
                                                                    std::int64_t date) {
    if (auto ec = fsync_dir(dir_ / "cur")) return std::unexpected(ec);
    message_entry m;
    m.uid = uidnext_++;
    m.file = keep_name(file);
    m.flags = flags_of_filename(m.file);
    m.keywords = keywords_of_filename(m.file);
    m.size = size;
    m.internal_date = date;
    m.modseq = ++highest_modseq_;
    msgs_.push_back(m);
    recent_.push_back(m.uid); // UIDs only grow: recent_ stays sorted
    std::string record;
    append_record(record, m);
    if (auto ec = append(record, true)) return std::unexpected(ec);
    return msgs_.back().uid;
}

std::expected<std::uint32_t, std::error_code> folder::add(std::string_view content,
                                                          std::uint8_t flags,
                                                          std::optional<std::int64_t> date,
                                                          std::uint32_t keywords) {
    std::string name = unique_name(content.size());
    fs::path tmp = dir_ / "tmp" / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(errno_code());
    auto fail = [&](std::error_code ec) -> std::expected<std::uint32_t, std::error_code> {
        ::close(fd);
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    };
    if (auto ec = write_all(fd, content)) return fail(ec);
    if (::fsync(fd) != 0) return fail(errno_code());
    std::int64_t when = date.value_or(std::time(nullptr));
    struct timespec ts[2] = {{static_cast<time_t>(when), 0}, {static_cast<time_t>(when), 0}};
    ::futimens(fd, ts); // INTERNALDATE is the file's mtime
    ::close(fd);
    std::string final_name = with_flags(name, flags, keywords);
    std::int64_t before = mtime_ns(dir_ / "cur");
    expect(1, 'T', final_name);
    if (::rename(tmp.c_str(), (dir_ / "cur" / final_name).c_str()) != 0) {
        auto ec = errno_code();
        expect(1, 'T', final_name, false);
        ::unlink(tmp.c_str());
        return std::unexpected(ec);
    }
    note_own_change(1, before);
    return register_file(final_name, content.size(), when);
}

std::expected<std::uint32_t, std::error_code> folder::copy_from(const folder& from,
                                                                std::uint32_t uid) {
    const auto* m = from.find(uid);
    if (!m) return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    std::uint32_t kw = 0;
    for (std::size_t i = 0; i < from.keywords_.size(); ++i)
        if ((m->keywords & (1u << i)) && !from.keywords_[i].empty())
            if (auto k = intern_keyword(from.keywords_[i])) kw |= 1u << *k;
    std::string name = with_flags(unique_name(m->size), m->flags, kw);
    fs::path to = dir_ / "cur" / name;
    std::int64_t before = mtime_ns(dir_ / "cur");
    expect(1, 'C', name);
    if (::link(from.path_of(*m).c_str(), to.c_str()) == 0) {
        note_own_change(1, before);
        return register_file(name, m->size, from.internal_date(*m));
    }
    expect(1, 'C', name, false);
    auto content = from.read(uid);
    if (!content) return std::unexpected(content.error());
    return add(*content, m->flags, from.internal_date(*m), kw);
}

std::expected<std::string, std::error_code> folder::read(std::uint32_t uid) const {
    const auto* m = find(uid);
    if (!m) return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    int fd = ::open(path_of(*m).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_code());
    std::string out;
    char buf[65536];
    while (true) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto ec = errno_code();
            ::close(fd);
            return std::unexpected(ec);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// ---------------------------------------------------------------- mailbox_store

bool mailbox_store::is_inbox(std::string_view name) { return iequals(name, "INBOX"); }

bool mailbox_store::valid_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    if (name.front() == '.' || name.back() == '.') return false;
    if (name.find("..") != std::string_view::npos) return false;
    for (unsigned char c : name)
        if (c < 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '*' || c == '%') return false;
    return true;
}

std::optional<fs::path> mailbox_store::dir_of(std::string_view name) const {
    if (is_inbox(name)) return root_;
    if (!valid_name(name)) return std::nullopt;
    return root_ / ("." + std::string(name));
}

bool mailbox_store::exists(std::string_view name) const {
    auto d = dir_of(name);
    if (!d) return false;
    struct stat st {};
    return ::lstat((*d / "cur").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::expected<std::shared_ptr<folder>, std::error_code> mailbox_store::open(std::string_view name) {
    auto d = dir_of(name);
    if (!d) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    if (is_inbox(name)) {
        if (auto ec = make_maildir(*d)) return std::unexpected(ec);
    } else if (!exists(name)) {
        return std::unexpected(std::make_error_code(std::errc::no_such_file_or_directory));
    }
    auto& r = registry_->state();
    const std::string key = d->string();
    std::shared_ptr<folder> f, fresh, evicted;
    {
        std::lock_guard lk(r.open_mu);
        if (auto it = r.open.find(key); it != r.open.end()) f = it->second.lock();
    }
    bool created = !f;
    if (created) {
        // The index is loaded without the registry's mutex held, so one user's cold SELECT
        // never waits for another's. The same folder is not loaded twice at once: a user's
        // sessions run one at a time (their strand); were it to happen, the later one shares.
        fresh = std::make_shared<folder>(*d, host_, root_, registry_);
        std::lock_guard lk(r.open_mu);
        auto& slot = r.open[key];
        f = slot.lock();
        created = !f;
        if (created) slot = f = fresh;
    }
    {
        // Keep the most recently opened folders loaded, so the next SELECT needs no index
        // read. One that falls out is released after the mutex (its destructor fsyncs).
        std::lock_guard lk(r.open_mu);
        std::erase(r.recent, f);
        r.recent.push_front(f);
        if (r.recent.size() > r.keep_loaded) {
            evicted = std::move(r.recent.back());
            r.recent.pop_back();
        }
    }
    evicted.reset();
    if (auto ec = f->sync()) {
        if (created) { // e.g. locked by another process: try afresh next time
            std::lock_guard lk(r.open_mu);
            if (auto it = r.open.find(key); it != r.open.end() && it->second.lock() == f)
                r.open.erase(it);
            std::erase(r.recent, f);
        }
        return std::unexpected(ec);
    }
    return f;
}

std::vector<std::string> mailbox_store::list() const {
    std::vector<std::string> out{"INBOX"};
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_, ec)) {
        std::string n = e.path().filename().string();
        if (n.size() < 2 || n[0] != '.' || !e.is_directory()) continue;
        std::string name = n.substr(1);
        if (!valid_name(name) || is_inbox(name)) continue;
        if (!fs::is_directory(e.path() / "cur")) continue;
        out.push_back(name);
    }
    std::sort(out.begin() + 1, out.end());
    return out;
}

std::error_code mailbox_store::create(std::string_view name) {
    std::string n(name);
    if (!n.empty() && n.back() == '.') n.pop_back(); // RFC 3501 6.3.3 trailing delimiter
    if (is_inbox(n) || exists(n)) return std::make_error_code(std::errc::file_exists);
    // RFC 3501 5.1.3: only canonical modified UTF-7 is created (no "&AAA-", "&", ...).
    if (!mutf7_valid(n)) return std::make_error_code(std::errc::invalid_argument);
    auto d = dir_of(n);
    if (!d) return std::make_error_code(std::errc::invalid_argument);
    if (auto ec = make_maildir(root_)) return ec;
    if (auto ec = make_maildir(*d)) return ec;
    return fsync_dir(root_);
}

std::error_code mailbox_store::remove(std::string_view name) {
    if (is_inbox(name)) return std::make_error_code(std::errc::permission_denied);
    if (!exists(name)) return std::make_error_code(std::errc::no_such_file_or_directory);
    for (const auto& other : list())
        if (other.size() > name.size() && other.starts_with(std::string(name) + "."))
            return std::make_error_code(std::errc::directory_not_empty);
    registry_->state().forget_loaded(*dir_of(name));
    std::error_code ec;
    fs::remove_all(*dir_of(name), ec);
    if (ec) return ec;
    // The subscription stays: RFC 3501 6.3.6 (RFC 9051 6.3.7), the server MUST NOT remove a
    // name from the subscriptions because its mailbox no longer exists.
    return fsync_dir(root_);
}

std::error_code mailbox_store::rename(std::string_view from, std::string_view to) {
    if (is_inbox(from)) return std::make_error_code(std::errc::operation_not_supported);
    if (!exists(from)) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (is_inbox(to) || exists(to)) return std::make_error_code(std::errc::file_exists);
    if (!dir_of(to) || !mutf7_valid(to)) return std::make_error_code(std::errc::invalid_argument);
    // RFC 3501 6.3.5: inferior names are renamed too.
    std::string prefix = std::string(from) + ".";
    std::vector<std::string> moves{std::string(from)};
    for (const auto& n : list())
        if (n.starts_with(prefix)) moves.push_back(n);
    for (const auto& n : moves) {
        std::string target = std::string(to) + n.substr(from.size());
        if (!dir_of(target)) return std::make_error_code(std::errc::invalid_argument);
        registry_->state().forget_loaded(*dir_of(n));
        if (::rename(dir_of(n)->c_str(), dir_of(target)->c_str()) != 0) return errno_code();
    }
    auto subs = subscriptions();
    for (const auto& n : moves)
        if (std::find(subs.begin(), subs.end(), n) != subs.end()) {
            subscribe(n, false);
            subscribe(std::string(to) + n.substr(from.size()), true);
        }
    return fsync_dir(root_);
}

namespace {
// Dovecot 2.3 writes "V\t2\n\n" and then one name per line with '\t' between hierarchy
// levels; older Dovecot, Courier and we write plain names, one per line.
constexpr std::string_view dovecot_v2_header = "V\t2\n\n";
} // namespace

std::vector<std::string> mailbox_store::subscriptions() const {
    std::vector<std::string> out;
    auto text = read_small_file(root_ / "subscriptions");
    if (!text) return out;
    std::string_view rest(*text);
    bool v2 = rest.starts_with(dovecot_v2_header);
    if (v2) rest.remove_prefix(dovecot_v2_header.size());
    while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string line(rest.substr(0, nl));
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (v2) std::replace(line.begin(), line.end(), '\t', '.');
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end())
            out.push_back(line);
    }
    return out;
}

std::error_code mailbox_store::subscribe(std::string_view name, bool on) {
    auto subs = subscriptions();
    auto it = std::find(subs.begin(), subs.end(), name);
    if (on == (it != subs.end())) return {};
    if (on) subs.emplace_back(name);
    else subs.erase(it);
    if (auto ec = make_maildir(root_)) return ec;
    auto old = read_small_file(root_ / "subscriptions");
    bool v2 = old && std::string_view(*old).starts_with(dovecot_v2_header);
    std::string text = v2 ? std::string(dovecot_v2_header) : std::string();
    for (auto s : subs) {
        if (v2) std::replace(s.begin(), s.end(), '.', '\t');
        text += s + "\n";
    }
    return replace_file(root_ / "subscriptions", text);
}

bool mailbox_store::has_children(const std::vector<std::string>& names, std::string_view name) {
    // `names` as list() gives them: INBOX, then the rest sorted, where the children of `name`
    // are one run starting at name + "." (a binary search: LIST asks this for every name).
    std::string prefix = std::string(name) + ".";
    auto begin = names.empty() ? names.end() : names.begin() + 1;
    auto it = std::lower_bound(begin, names.end(), prefix);
    return it != names.end() && it->size() > prefix.size() && it->starts_with(prefix);
}

std::string mailbox_store::special_use(std::string_view name) {
    // RFC 6154 2: attributes of the folders we create.
    if (name == "Drafts") return "\\Drafts";
    if (name == "Sent") return "\\Sent";
    if (name == "Trash") return "\\Trash";
    if (name == "Junk") return "\\Junk";
    if (name == "Archive") return "\\Archive";
    return "";
}

void mailbox_store::ensure_special_use() {
    fs::path marker = root_ / "splitmail-special-use";
    if (fs::exists(marker)) return;
    if (make_maildir(root_)) return;
    subscribe("INBOX", true);
    for (auto n : {"Drafts", "Sent", "Trash", "Junk", "Archive"}) {
        if (!exists(n)) create(n);
        subscribe(n, true);
    }
    std::ofstream(marker) << "created\n";
}

} // namespace splitmail::home::imap
