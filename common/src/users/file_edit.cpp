// Locked, atomic rewrite of a small text file; see users/file_edit.hpp.
#include "splitmail/users/file_edit.hpp"

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::users {
namespace {

std::string sys_error(const std::filesystem::path& p, std::string_view what) {
    return p.string() + ": " + std::string(what) + ": " + std::strerror(errno);
}

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

} // namespace

std::expected<void, std::string> rewrite_file(const std::filesystem::path& file,
                                              const file_change& change, ::mode_t new_mode,
                                              ::mode_t allowed) {
    auto lock_path = file;
    lock_path += ".lock";
    fd_guard lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (lock.fd < 0) return std::unexpected(sys_error(lock_path, "open"));
    while (::flock(lock.fd, LOCK_EX) != 0) {
        if (errno != EINTR) return std::unexpected(sys_error(lock_path, "flock"));
    }

    std::string current;
    ::mode_t mode = new_mode;
    std::optional<std::pair<::uid_t, ::gid_t>> owner; // of the file being replaced
    {
        fd_guard in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
        if (in.fd < 0 && errno != ENOENT) return std::unexpected(sys_error(file, "open"));
        if (in.fd >= 0) {
            struct ::stat st{};
            if (::fstat(in.fd, &st) == 0) {
                mode = st.st_mode & 07777 & allowed;
                owner.emplace(st.st_uid, st.st_gid);
            }
            char buf[8192];
            for (;;) {
                ssize_t n = ::read(in.fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return std::unexpected(sys_error(file, "read"));
                if (n == 0) break;
                current.append(buf, static_cast<std::size_t>(n));
            }
        }
    }

    auto next = change(current);
    if (!next) return std::unexpected(next.error());

    auto tmp = file;
    tmp += ".tmp." + std::to_string(::getpid());
    ::unlink(tmp.c_str()); // a stale one from a crashed run (we hold the lock)
    fd_guard out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)};
    if (out.fd < 0) return std::unexpected(sys_error(tmp, "create"));
    // The replacement keeps the owner and group too: root editing a root:splitmail 0640 file
    // must not make it unreadable for the service (best effort when not root).
    if (owner) (void)::fchown(out.fd, owner->first, owner->second);
    ::fchmod(out.fd, mode); // umask must not widen or narrow what the file had
    auto fail = [&](std::string_view what) {
        auto msg = sys_error(tmp, what);
        ::unlink(tmp.c_str());
        return std::unexpected(msg);
    };
    const char* p = next->data();
    std::size_t left = next->size();
    while (left > 0) {
        ssize_t n = ::write(out.fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write");
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(out.fd) != 0) return fail("fsync");
    if (::rename(tmp.c_str(), file.c_str()) != 0) return fail("rename");
    auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd < 0 || ::fsync(d.fd) != 0) return std::unexpected(sys_error(dir, "fsync"));
    return {};
}

} // namespace splitmail::users
