// Group-commit file committer: see committer.hpp for what it guarantees.
//
// Pipeline of one request:
//   write+fsync every file (in parallel) -> rename file 0 -> fsync its dir (shared) ->
//   rename file 1 -> fsync its dir (shared) -> ... -> unlinks (each + dir fsync) -> done
// Directory fsyncs: at most `dir_fsyncs_in_flight` (default one) in flight per directory;
// renames that arrive meanwhile queue up and are all covered by the next fsync of that
// directory (it starts after their renames). The thread that runs a directory fsync carries one
// of the waiting requests on to its next stage itself and hands the others to the dir threads.
// Nesting is bounded by the number of stages of a request, since stages only move forward.
#include "splitmail/durable/committer.hpp"

#include "hooks.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fcntl.h>
#include <future>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace splitmail::durable {

namespace {

thread_local bool on_pool_thread = false;

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

// Retries EINTR; returns 0 or an errno.
int write_all(int fd, const std::string& data) {
    if (int e = detail::injected_write_error()) return e;
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return 0;
}

int fsync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = detail::injected_fsync_error(fd, true);
    if (rc == 0 && ::fsync(fd) != 0) rc = errno;
    ::close(fd);
    return rc;
}

// rename(2) that refuses to replace an existing target. renameat2 is atomic; on file systems
// without RENAME_NOREPLACE (EINVAL) fall back to link+unlink, which refuses EEXIST as well.
int rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to) {
    if (int e = detail::injected_rename_error()) return e;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return errno;
    if (::link(from.c_str(), to.c_str()) != 0) return errno;
    ::unlink(from.c_str());
    return 0;
}

std::atomic<std::uint64_t> temp_counter{0};

} // namespace

std::expected<temp_file, std::error_code> temp_file::create(const std::filesystem::path& dir,
                                                            bool anonymous) {
    temp_file t;
    if (anonymous) {
        t.fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (t.fd_ >= 0) return t;
        // EISDIR/EOPNOTSUPP/EINVAL: kernel or file system without O_TMPFILE; anything else
        // (ENOENT, EACCES, ENOSPC...) is a real error.
        if (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL)
            return std::unexpected(errno_code(errno));
    }
    for (int tries = 0; tries < 8; ++tries) {
        char name[64];
        std::snprintf(name, sizeof name, "stream.%ld.%llu.tmp", static_cast<long>(::getpid()),
                      static_cast<unsigned long long>(temp_counter.fetch_add(1)));
        auto p = dir / name;
        t.fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (t.fd_ >= 0) {
            t.named_ = std::move(p);
            return t;
        }
        if (errno != EEXIST) break;
    }
    return std::unexpected(errno_code(errno));
}

temp_file::temp_file(temp_file&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), named_(std::move(o.named_)), size_(o.size_), err_(o.err_) {
    o.named_.clear();
}

temp_file& temp_file::operator=(temp_file&& o) noexcept {
    if (this != &o) {
        release();
        fd_ = std::exchange(o.fd_, -1);
        named_ = std::move(o.named_);
        o.named_.clear();
        size_ = o.size_;
        err_ = o.err_;
    }
    return *this;
}

temp_file::~temp_file() { release(); }

void temp_file::release() {
    if (!named_.empty()) ::unlink(named_.c_str());
    named_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::error_code temp_file::write(std::string_view bytes) {
    if (err_) return err_;
    if (fd_ < 0) return err_ = errno_code(EBADF);
    if (int e = detail::injected_write_error()) return err_ = errno_code(e);
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return err_ = errno_code(errno);
        }
        p += n;
        left -= static_cast<std::size_t>(n);
        size_ += static_cast<std::uint64_t>(n);
    }
    return {};
}

int temp_file::link_to(const std::filesystem::path& path) {
    if (fd_ < 0) return EBADF;
    if (!named_.empty()) {
        if (int e = rename_noreplace(named_, path)) return e;
        named_.clear(); // it is `path` now; the destructor must not remove it
        return 0;
    }
    if (int e = detail::injected_rename_error()) return e;
    // linkat(2) of an O_TMPFILE inode: through /proc (no capability needed), else AT_EMPTY_PATH
    // (needs CAP_DAC_READ_SEARCH). linkat never replaces an existing name.
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd_);
    if (::linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
    int e = errno;
    if (e == EEXIST) return e;
    if (::linkat(fd_, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH) == 0) return 0;
    return e;
}

struct committer::impl {
    struct op {
        request req;
        std::function<void(std::error_code)> done;
        std::vector<std::filesystem::path> tmp; // temp path per file ("" until created)
        std::vector<std::uint8_t> created;      // final path created by us (for rollback)
        std::atomic<std::size_t> writes_left{0};
        std::mutex m;
        std::error_code first_error;
    };
    using op_ptr = std::shared_ptr<op>;

    struct dir_state {
        std::size_t in_flight = 0;
        std::vector<std::function<void(std::error_code)>> waiting;
    };

    std::mutex m;
    std::condition_variable cv_work;
    std::condition_variable cv_dir;
    std::condition_variable cv_idle;
    std::deque<std::function<void()>> urgent; // directory fsyncs and what follows them
    std::deque<std::function<void()>> normal; // file writes
    bool stopping = false;
    std::size_t outstanding = 0;
    std::map<std::string, dir_state> dirs;
    std::vector<std::thread> threads;
    stats st;
    std::atomic<std::uint64_t> tmp_counter{0};

    std::size_t max_in_flight = 1;

    explicit impl(options opt) : max_in_flight(std::max<std::size_t>(1, opt.dir_fsyncs_in_flight)) {
        std::size_t n = opt.threads == 0 ? 1 : opt.threads;
        for (std::size_t i = 0; i < n; ++i) threads.emplace_back([this] { worker(false); });
        // Directory fsyncs get threads of their own: queued behind file fsyncs they would hold
        // back every completion (measured: bench/fsync/README.md).
        std::size_t d = opt.dir_threads == 0 ? 1 : opt.dir_threads;
        for (std::size_t i = 0; i < d; ++i) threads.emplace_back([this] { worker(true); });
    }

    ~impl() {
        {
            std::unique_lock lk(m);
            cv_idle.wait(lk, [this] { return outstanding == 0; });
            stopping = true;
        }
        cv_work.notify_all();
        cv_dir.notify_all();
        for (auto& t : threads) t.join();
    }

    void worker(bool dir_worker) {
        on_pool_thread = true;
        auto& q = dir_worker ? urgent : normal;
        auto& cv = dir_worker ? cv_dir : cv_work;
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock lk(m);
                cv.wait(lk, [&] { return stopping || !q.empty(); });
                if (q.empty()) return; // stopping and nothing left
                task = std::move(q.front());
                q.pop_front();
            }
            task();
        }
    }

    void post(std::function<void()> task, bool is_urgent) {
        {
            std::lock_guard lk(m);
            (is_urgent ? urgent : normal).push_back(std::move(task));
        }
        (is_urgent ? cv_dir : cv_work).notify_one();
    }

    void submit(request req, std::function<void(std::error_code)> done) {
        auto o = std::make_shared<op>();
        o->req = std::move(req);
        o->done = std::move(done);
        const std::size_t n = o->req.files.size();
        o->tmp.resize(n);
        o->created.assign(n, 0);
        std::size_t parts = n;
        for (const auto& f : o->req.files)
            parts += f.in_place || f.adopt ? 1 : 0; // + its dir fsync
        o->writes_left = parts;
        {
            std::lock_guard lk(m);
            ++outstanding;
            ++st.requests;
        }
        if (n == 0) {
            post([this, o] { unlink_stage(o, 0); }, false);
            return;
        }
        for (std::size_t i = 0; i < n; ++i) post([this, o, i] { write_file(o, i); }, false);
    }

    void note_error(const op_ptr& o, std::error_code ec) {
        if (!ec) return;
        std::lock_guard lk(o->m);
        if (!o->first_error) o->first_error = ec;
    }

    // Write stage: every file is written and fsync'd in parallel; an in-place file's directory
    // fsync runs alongside (its entry exists since open). The last one to finish moves on.
    void write_file(const op_ptr& o, std::size_t i) {
        const file& f = o->req.files[i];
        int fd = -1;
        int err = 0;
        if (f.adopt) {
            // Written already: make it visible (complete), then the same as in_place.
            err = f.adopt->error().value();
            if (err == 0 && (err = f.adopt->link_to(f.path)) == 0) {
                o->created[i] = 1;
                fd = ::dup(f.adopt->fd());
                if (fd < 0) err = errno;
            }
        } else if (f.in_place) {
            fd = ::open(f.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0)
                err = errno;
            else
                o->created[i] = 1;
        } else {
            // A unique name; O_EXCL makes a collision (another process, a stale file) harmless.
            std::filesystem::path tmp;
            for (int tries = 0; tries < 8 && fd < 0; ++tries) {
                char suffix[64];
                std::snprintf(suffix, sizeof suffix, ".%ld.%llu.tmp", static_cast<long>(::getpid()),
                              static_cast<unsigned long long>(tmp_counter.fetch_add(1)));
                tmp = o->req.tmp_dir / (f.path.filename().string() + suffix);
                fd =
                    ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                err = fd < 0 ? errno : 0;
                if (fd < 0 && err != EEXIST) break;
            }
            if (fd >= 0) o->tmp[i] = tmp;
        }
        bool dir_started = false;
        if (fd >= 0) {
            for (const auto& c : f.chunks) {
                if ((err = write_all(fd, c)) != 0) break;
            }
            if (err == 0 && (f.in_place || f.adopt)) {
                dir_started = true;
                // Not inline: this thread's file fsync is to run alongside.
                sync_dir(
                    f.path.parent_path(),
                    [this, o](std::error_code ec) {
                        note_error(o, ec);
                        write_done(o);
                    },
                    false);
            }
            if (err == 0) err = detail::injected_fsync_error(fd, false);
            if (err == 0 && ::fsync(fd) != 0) err = errno;
            if (::close(fd) != 0 && err == 0) err = errno;
            {
                std::lock_guard lk(m);
                ++st.file_fsyncs;
            }
        }
        note_error(o, err ? errno_code(err) : std::error_code{});
        if ((f.in_place || f.adopt) && !dir_started)
            write_done(o); // the directory part counts as done
        write_done(o);
    }

    void write_done(const op_ptr& o) {
        if (o->writes_left.fetch_sub(1) != 1) return;
        // Last part of the write stage finished.
        std::error_code ec;
        {
            std::lock_guard lk(o->m);
            ec = o->first_error;
        }
        if (ec) return fail(o, ec);
        rename_stage(o, 0);
    }

    void rename_stage(const op_ptr& o, std::size_t i) {
        if (i == o->req.files.size()) return unlink_stage(o, 0);
        const file& f = o->req.files[i];
        if (f.in_place || f.adopt) return rename_stage(o, i + 1); // already durable in place
        int err = 0;
        if (f.replace) {
            err = detail::injected_rename_error();
            if (err == 0 && ::rename(o->tmp[i].c_str(), f.path.c_str()) != 0) err = errno;
        } else {
            err = rename_noreplace(o->tmp[i], f.path);
        }
        if (err != 0) return fail(o, errno_code(err));
        o->tmp[i].clear();
        o->created[i] = f.replace ? 0 : 1;
        sync_dir(
            f.path.parent_path(),
            [this, o, i](std::error_code ec) {
                if (ec) return fail(o, ec);
                rename_stage(o, i + 1);
            },
            true);
    }

    void unlink_stage(const op_ptr& o, std::size_t i) {
        if (i == o->req.unlinks.size()) return finish(o, {});
        const auto& p = o->req.unlinks[i];
        // ENOENT: already gone (e.g. removed by an administrator); the goal is reached.
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) return finish(o, errno_code(errno));
        sync_dir(
            p.parent_path(),
            [this, o, i](std::error_code ec) {
                if (ec) return finish(o, ec);
                unlink_stage(o, i + 1);
            },
            true);
    }

    // Undo: temp files go, files this request created in final dirs go.
    void fail(const op_ptr& o, std::error_code ec) {
        for (std::size_t j = 0; j < o->req.files.size(); ++j) {
            if (!o->tmp[j].empty()) ::unlink(o->tmp[j].c_str());
            if (o->created[j]) ::unlink(o->req.files[j].path.c_str());
        }
        finish(o, ec);
    }

    void finish(const op_ptr& o, std::error_code ec) {
        try {
            if (o->done) o->done(ec);
        } catch (...) {
            // A completion must not throw; there is no one to report it to here.
        }
        o->done = nullptr;
        {
            std::lock_guard lk(m);
            --outstanding;
        }
        cv_idle.notify_all();
    }

    // Calls `cb` once an fsync of `dir` that started after this call has completed. At most
    // `dir_fsyncs_in_flight` fsyncs per directory run at once; callers arriving meanwhile wait
    // and share the next one. With `inline_ok` (the caller is a pool thread with nothing else to
    // do) a caller that finds a free slot runs the fsync and then its callback itself: thread
    // hand-offs cost more than the fsync when the CPUs are busy.
    void sync_dir(const std::filesystem::path& dir, std::function<void(std::error_code)> cb,
                  bool inline_ok) {
        const std::string key = dir.empty() ? std::string(".") : dir.string();
        bool start = false;
        {
            std::lock_guard lk(m);
            auto& ds = dirs[key];
            ds.waiting.push_back(std::move(cb));
            if (ds.in_flight < max_in_flight) {
                ++ds.in_flight;
                start = true;
            }
        }
        if (!start) return;
        if (inline_ok && on_pool_thread) return run_dir_sync(key);
        post([this, key] { run_dir_sync(key); }, true);
    }

    void run_dir_sync(const std::string& key) {
        std::vector<std::function<void(std::error_code)>> batch;
        {
            std::lock_guard lk(m);
            batch.swap(dirs[key].waiting); // renames done before this point are covered
        }
        int err = batch.empty() ? 0 : fsync_dir(key);
        bool again = false;
        {
            std::lock_guard lk(m);
            if (!batch.empty()) ++st.dir_fsyncs;
            auto it = dirs.find(key);
            if (it->second.waiting.empty()) {
                if (--it->second.in_flight == 0) dirs.erase(it);
            } else {
                again = true; // keep our slot: the next fsync covers those who waited
            }
        }
        if (again) post([this, key] { run_dir_sync(key); }, true);
        const std::error_code ec = err ? errno_code(err) : std::error_code{};
        if (batch.empty()) return;
        // The others' next steps run in parallel on the dir threads; the last one runs here.
        for (std::size_t i = 0; i + 1 < batch.size(); ++i)
            post([cb = std::move(batch[i]), ec] { cb(ec); }, true);
        batch.back()(ec);
    }
};

committer::committer(options opt) : impl_(std::make_unique<impl>(opt)) {}
committer::~committer() = default;

void committer::submit(request req, std::function<void(std::error_code)> done) {
    impl_->submit(std::move(req), std::move(done));
}

std::error_code committer::commit(request req) {
    std::promise<std::error_code> p;
    auto f = p.get_future();
    impl_->submit(std::move(req), [&p](std::error_code ec) { p.set_value(ec); });
    return f.get();
}

stats committer::counters() const {
    std::lock_guard lk(impl_->m);
    return impl_->st;
}

} // namespace splitmail::durable
