// Locked, atomic rewrite of a small text file; see users/file_edit.hpp.
#include "splitmail/users/file_edit.hpp"

#include "splitmail/durable/file.hpp"

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

} // namespace

std::expected<void, std::string> rewrite_file(const std::filesystem::path& file,
                                              const file_change& change, ::mode_t new_mode,
                                              ::mode_t allowed) {
    auto lock_path = file;
    lock_path += ".lock";
    durable::unique_fd lock(
        ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock) return std::unexpected(sys_error(lock_path, "open"));
    while (::flock(lock.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return std::unexpected(sys_error(lock_path, "flock"));
    }

    ::mode_t mode = new_mode;
    std::optional<std::pair<::uid_t, ::gid_t>> owner; // of the file being replaced
    struct ::stat st {};
    if (::stat(file.c_str(), &st) == 0) {
        mode = st.st_mode & 07777 & allowed;
        owner.emplace(st.st_uid, st.st_gid);
    }
    // The user and alias databases: 64 MiB is far above any real one.
    auto current = durable::read_file_if_exists(file, {64u << 20});
    if (!current) return std::unexpected(current.error().text());

    auto next = change(current->value_or(std::string()));
    if (!next) return std::unexpected(next.error());

    // The replacement keeps the owner and group too: root editing a root:splitmail 0640 file
    // must not make it unreadable for the service (best effort when not root). The mode is
    // set exactly: umask must not widen or narrow what the file had.
    durable::replace_options opt;
    opt.mode = mode;
    opt.owner = owner;
    opt.owner_best_effort = true;
    opt.locked = true; // we hold FILE.lock
    auto r = durable::replace_file(file, *next, opt);
    if (!r) return std::unexpected(r.error().text());
    return {};
}

} // namespace splitmail::users
