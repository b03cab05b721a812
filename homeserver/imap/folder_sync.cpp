// A folder's sync with new/ and cur/ (store.hpp), and the lookups over its messages.
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
    if (!scan_dir[0] && !scan_dir[1]) return log_mtimes();
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
        int fd =
            ::open((dir_ / (in_new ? "new" : "cur")).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
        files[i] = {std::string_view(pool).substr(spans[i].first, spans[i].second), i < first_cur};
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
        bool in_order = msgs_.empty() || std::all_of(added.begin(), added.end(), [&](auto& m) {
                            return m.uid > msgs_.back().uid;
                        });
        msgs_.insert(msgs_.end(), added.begin(), added.end());
        if (!in_order || !std::is_sorted(msgs_.begin(), msgs_.end(),
                                         [](auto& a, auto& b) { return a.uid < b.uid; }))
            std::sort(msgs_.begin(), msgs_.end(), [](auto& a, auto& b) { return a.uid < b.uid; });
    }
    if (scan_new) mtime_[0] = nm, trusted_[0] = trust_new;
    if (scan_cur) mtime_[1] = cm, trusted_[1] = trust_cur;
    if (!index_ok_) return compact();
    // New UIDs are promised to clients (RFC 3501 2.3.1.1: a UID never changes): durable before
    // any session reports them. What else a read finds (another writer's renames and unlinks)
    // a later read finds again if a crash loses the records.
    if (auto ec = append(records, !added.empty())) return ec;
    return log_mtimes();
}

// Appends a "D" record when both directories' mtimes are trusted and differ from the last one
// logged. A "D" record vouches for every record before it (the next load reads no directory
// when the mtimes match), so it is written only when those are on disk (nothing unsynced);
// otherwise it waits for a later sync after a flush. It is not fsync'd itself: losing it costs
// the next load one directory read (readdir, no stat), and the next fsync of the index (an
// APPEND, a new UID, the folder's close) takes it along.
std::error_code folder::log_mtimes() {
    if (dirty_ || !index_ok_ || !trusted_[0] || !trusted_[1] ||
        (mtime_[0] == logged_mtime_[0] && mtime_[1] == logged_mtime_[1]))
        return {};
    std::string d = "D ";
    put_i64(d, mtime_[0]);
    d += ' ';
    put_i64(d, mtime_[1]);
    d += '\n';
    if (auto ec = write_all(fd_, d)) return ec;
    ++log_records_;
    logged_mtime_[0] = mtime_[0];
    logged_mtime_[1] = mtime_[1];
    return {};
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
        if (!out.empty() && out.back().hi + 1 == u)
            out.back().hi = u;
        else
            out.push_back({u, u});
    }
    return out;
}

} // namespace splitmail::home::imap
