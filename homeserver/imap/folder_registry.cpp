// What the folders of a process share (folder_registry, store.hpp): open folders, index locks,
// the inotify instance; and a folder's change watch on its new/ and cur/.
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
        if (it->first == key || it->first.starts_with(key + "/"))
            it = open.erase(it);
        else
            ++it;
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

std::size_t folder_registry::impl::lock_users(lock_key key) {
    std::lock_guard lk(locks_mu);
    auto it = locks.find(key);
    return it == locks.end() || it->second.pid != ::getpid() ? 0 : it->second.users;
}

void folder_registry::impl::unlock_folder(lock_key key, const fs::path* unlink_when_last) {
    std::lock_guard lk(locks_mu);
    auto it = locks.find(key);
    if (it == locks.end() || it->second.pid != ::getpid() || --it->second.users > 0) return;
    // Still under the flock and locks_mu: no other folder object of this process can be
    // loading this directory (it would have counted itself as a user first).
    if (unlink_when_last) ::unlink(unlink_when_last->c_str());
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
                if (e != s.expected.end())
                    s.expected.erase(e);
                else
                    s.foreign = true;
            }
        }
    }
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

} // namespace splitmail::home::imap
