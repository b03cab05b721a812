// A folder's index file, splitmail-uidlist (store.hpp): load (v1-v3, Dovecot's uidlist),
// append, flush, compact.
#include "imap/store_detail.hpp"

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

namespace splitmail::home::imap {
using namespace detail;

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

} // namespace

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
    bool have_head =
        fd >= 0 && file_size >= magic_v3.size() && read_at(fd, head, magic_v3.size(), 0);
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
    if (text && text->starts_with("V1 "))
        load_v1(*text);
    else if (!load_dovecot_uidlist())
        return fresh_uidvalidity();
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
    void* map = log_start == 0
                    ? MAP_FAILED
                    : ::mmap(nullptr, log_start, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) return false;
    file_mapping snap{map, log_start};
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
        if (r.name_off != name_at || r.name_len == 0 ||
            std::size_t{r.name_off} + r.name_len >= nb || names[r.name_off + r.name_len] != '\n' ||
            names[r.name_off] == '.' || r.uid == 0 || r.uid > max_uid)
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
            if (it != msgs_.end() && it->uid == m.uid)
                *it = m;
            else
                msgs_.insert(it, m);
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
        if (f[0] == 'V')
            number(f.substr(1), uv);
        else if (f[0] == 'N')
            number(f.substr(1), un);
        else if (f[0] == 'M')
            number(f.substr(1), hm);
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
        if (f[0] == 'V')
            number(f.substr(1), uv);
        else if (f[0] == 'N')
            number(f.substr(1), un);
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
    if (m.internal_date == date_unknown)
        out += '-';
    else
        put_i64(out, m.internal_date);
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
    // Records that may carry MODSEQs clients see before they are fsync'd: the marker first
    // (see mark_unsynced), and never more of them than a restart after a crash skips.
    if (!sync_now) {
        if (auto ec = mark_unsynced()) return ec;
        if (unsynced_records_ + n > max_unsynced) sync_now = true;
    }
    if (auto ec = write_all(fd_, records)) return ec;
    log_records_ += n;
    unsynced_records_ += n;
    dirty_ = true;
    if (log_records_ > 2 * (msgs_.size() + expunged_.size()) + 1000) return compact();
    if (sync_now) return flush();
    return {};
}

std::error_code folder::flush() {
    if (!dirty_ || fd_ < 0) return {};
    if (auto ec = durable::fsync_fd(fd_)) return ec;
    dirty_ = false;
    unsynced_records_ = 0;
    return {};
}

std::error_code folder::mark_unsynced() {
    if (unsynced_marked_) return {};
    // Durable before the first record that is not: its presence at the next load says that
    // records (and the MODSEQs they gave out) may have been lost (store.hpp, crash recovery).
    fs::path p = dir_ / unsynced_marker_name;
    durable::unique_fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return errno_code();
    if (auto ec = durable::fsync_fd(fd.get())) return ec;
    if (auto ec = fsync_dir(dir_)) return ec;
    unsynced_marked_ = true;
    return {};
}

void folder::recover_unsynced() {
    struct stat st {};
    if (::lstat((dir_ / unsynced_marker_name).c_str(), &st) != 0) return; // closed cleanly
    unsynced_marked_ = true; // on disk; the marker stays until a clean close
    // Another folder object of this process has the directory loaded: the marker is its own
    // and every record it wrote is in the file we just read (the page cache), none lost.
    if (registry_.state().lock_users(lock_key_) > 1) return;
    // The last process may have handed out MODSEQs in records a crash lost (at most
    // max_unsynced since its last fsync): skip them all, so no MODSEQ a client saw is ever
    // given to another change (RFC 7162 3.1.1: mod-sequences only grow), and write the new
    // HIGHESTMODSEQ durably before anything uses it (a second crash must not skip from the old
    // value again).
    highest_modseq_ += max_unsynced + 1;
    if (auto ec = compact()) {
        log::error("imap", "-", "cannot write the folder index after an unclean stop",
                   {{"path", (dir_ / index_name).string()}, {"error", ec.message()}});
        init_error_ = ec;
    }
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
    unsynced_records_ = 0;
    log_records_ = msgs_.size() + expunged_.size() + 1;
    hints_.clear();
    hints_.shrink_to_fit();
    return {};
}

} // namespace splitmail::home::imap
