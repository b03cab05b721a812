// Durable small files; see durable/file.hpp.
#include "splitmail/durable/file.hpp"

#include "hooks.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdio.h> // renameat2 (glibc)
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::durable {

namespace fs = std::filesystem;

namespace {

std::atomic<test_hooks::fsync_hook> hook{nullptr};
std::atomic<test_hooks::step_hook> step_hook{nullptr};
std::atomic<unsigned> tmp_counter{0};

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

error fail(int e, const fs::path& p, std::string step) {
    return error{errno_code(e), p, std::move(step)};
}

std::error_code do_fsync(int fd, bool directory) {
    if (int e = detail::injected_fsync_error(fd, directory)) return errno_code(e);
    while (::fsync(fd) != 0) {
        if (errno != EINTR) return errno_code(errno);
    }
    return {};
}

fs::path dir_of(const fs::path& p) {
    return p.parent_path().empty() ? fs::path(".") : p.parent_path();
}

} // namespace

void unique_fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

std::error_code unique_fd::close() {
    if (fd_ < 0) return {};
    int r = ::close(release());
    // close(2) must not be retried on EINTR (Linux has released the fd already).
    return r == 0 || errno == EINTR ? std::error_code{} : errno_code(errno);
}

std::string error::text() const {
    std::string out = path.string();
    if (!step.empty()) out += ": " + step;
    // The size cap's step says it all; "File too large" would only confuse.
    if (code != std::errc::file_too_large) out += ": " + code.message();
    return out;
}

std::error_code fsync_fd(int fd) { return do_fsync(fd, false); }

std::error_code write_all(int fd, std::string_view data) {
    if (int e = detail::injected_write_error()) return errno_code(e);
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_code(errno);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

result<> fsync_dir(const fs::path& dir) {
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return std::unexpected(fail(errno, dir, "cannot open directory"));
    if (auto ec = do_fsync(fd.get(), true))
        return std::unexpected(error{ec, dir, "cannot fsync directory"});
    return {};
}

result<> replace_file(const fs::path& path, std::initializer_list<std::string_view> parts,
                      const replace_options& opt) {
    const fs::path dir = dir_of(path);
    fs::path tmp;
    if (opt.locked) {
        tmp = path;
        tmp += ".tmp";
        ::unlink(tmp.c_str()); // a stale one from a crashed run; the caller excludes others
    } else {
        tmp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(tmp_counter.fetch_add(1, std::memory_order_relaxed)));
    }
    unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return std::unexpected(fail(errno, tmp, "cannot create"));
    auto undo = [&](std::error_code ec, const fs::path& p, std::string step) {
        fd.reset();
        ::unlink(tmp.c_str());
        return std::unexpected(error{ec, p, std::move(step)});
    };
    for (auto part : parts)
        if (auto ec = write_all(fd.get(), part)) return undo(ec, tmp, "cannot write");
    if (opt.owner && ::fchown(fd.get(), opt.owner->first, opt.owner->second) != 0 &&
        !opt.owner_best_effort)
        return undo(errno_code(errno), tmp, "cannot chown");
    if (::fchmod(fd.get(), opt.mode) != 0) return undo(errno_code(errno), tmp, "cannot chmod");
    if (auto ec = do_fsync(fd.get(), false)) return undo(ec, tmp, "cannot fsync");
    if (auto ec = fd.close()) return undo(ec, tmp, "cannot close");
    if (int e = detail::injected_rename_error()) return undo(errno_code(e), path, "cannot rename");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return undo(errno_code(errno), path, "cannot rename");
    return fsync_dir(dir);
}

result<> replace_file(const fs::path& path, std::string_view content, const replace_options& opt) {
    return replace_file(path, {content}, opt);
}

result<> rename_noreplace(const fs::path& from, const fs::path& to) {
    if (int e = detail::injected_rename_error())
        return std::unexpected(fail(e, to, "cannot rename"));
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
    if (errno != EINVAL && errno != ENOSYS)
        return std::unexpected(fail(errno, to, "cannot rename"));
    // File systems without RENAME_NOREPLACE: link(2) never replaces either.
    if (::link(from.c_str(), to.c_str()) != 0)
        return std::unexpected(fail(errno, to, "cannot link"));
    if (::unlink(from.c_str()) != 0) return std::unexpected(fail(errno, from, "cannot unlink"));
    return {};
}

result<std::string> read_file(const fs::path& path, const read_options& opt) {
    int flags = O_RDONLY | O_CLOEXEC | (opt.no_follow ? O_NOFOLLOW : 0);
    unique_fd fd(::open(path.c_str(), flags));
    if (!fd) return std::unexpected(fail(errno, path, "cannot open"));
    auto too_big = [&] {
        return std::unexpected(
            error{errno_code(EFBIG), path,
                  "larger than the limit of " + std::to_string(opt.max_size) + " bytes"});
    };
    std::string out;
    struct ::stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
        if (static_cast<std::uintmax_t>(st.st_size) > opt.max_size) return too_big();
        out.reserve(static_cast<std::size_t>(st.st_size));
    }
    char buf[1 << 14];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::unexpected(fail(errno, path, "cannot read"));
        }
        if (n == 0) break;
        // The size may have grown since fstat, and pipes or /proc files report none.
        if (out.size() + static_cast<std::size_t>(n) > opt.max_size) return too_big();
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

result<std::optional<std::string>> read_file_if_exists(const fs::path& path,
                                                       const read_options& opt) {
    auto r = read_file(path, opt);
    if (r) return std::optional<std::string>(std::move(*r));
    if (r.error().code == std::errc::no_such_file_or_directory) return std::optional<std::string>();
    return std::unexpected(r.error());
}

namespace test_hooks {
void set_fsync_hook(fsync_hook h) { hook.store(h, std::memory_order_release); }
void set_step_hook(step_hook h) { durable::step_hook.store(h, std::memory_order_release); }
} // namespace test_hooks

namespace detail {
int injected_fsync_error(int fd, bool directory) {
    auto h = hook.load(std::memory_order_acquire);
    return h ? h(fd, directory) : 0;
}
int injected_write_error() {
    auto h = step_hook.load(std::memory_order_acquire);
    return h ? h(test_hooks::step::write) : 0;
}
int injected_rename_error() {
    auto h = step_hook.load(std::memory_order_acquire);
    return h ? h(test_hooks::step::rename) : 0;
}
} // namespace detail

} // namespace splitmail::durable
