#pragma once
// Durable small files: the one place that knows "write temp, fsync, rename, fsync the directory".
//
// replace_file() makes `path` hold exactly the given bytes or leaves the old file in place: the
// bytes go to a temporary file in the same directory (O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink
// planted there is never followed), which is fsync'd, renamed over `path`, and then the
// directory is fsync'd. Only when all of that succeeded is the change durable; every failing
// step, the directory fsync included, is an error (a rename whose directory entry is not yet
// on disk can come back as the old file after a crash). On failure the temporary file is
// removed; `path` then holds the old or the new content, never a mix.
//
// Also here: rename_noreplace (atomic, fails with EEXIST), fsync_dir, read_file with a size cap
// (files we read whole are small; the cap turns a wrong or hostile path into a clear error
// instead of an allocation of its size), and unique_fd, the fd guard.
//
// Does not: create directories, lock (callers that share a file with other processes lock it
// themselves, see users/file_edit.hpp), or group fsyncs of many files (durable/committer.hpp
// does, for the spool). Blocking calls: not for an event-loop thread.
#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace splitmail::durable {

// Owns one file descriptor; closes it on destruction. -1 is "none".
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);
    // close(2) with its result: after write+fsync a close error still means lost data on
    // some file systems (NFS), so writers check it.
    std::error_code close();

private:
    int fd_ = -1;
};

// What failed, on which path: `text()` is "PATH: cannot STEP: strerror", for logs and CLI messages;
// `code` is the errno (callers map ENOSPC/EDQUOT to their protocol's reply).
struct error {
    std::error_code code;
    std::filesystem::path path;
    std::string step; // "cannot create", "cannot fsync directory", "cannot read", ...
    std::string text() const;
};

template <class T = void>
using result = std::expected<T, error>;

struct replace_options {
    ::mode_t mode = 0600; // exactly this mode (fchmod: the umask does not apply)
    // Owner and group of the new file; nullopt leaves them to the process.
    std::optional<std::pair<::uid_t, ::gid_t>> owner;
    bool owner_best_effort = false; // a failing fchown is ignored (editing as a non-root user)
    // The caller holds a lock that excludes every other writer of `path` (or is its only
    // writer): the temporary file is then "<name>.tmp" next to it and a stale one from a
    // crashed run is removed first. Otherwise the name is unique per process and call
    // (".<name>.tmp.<pid>.<n>"), so concurrent writers never share a temporary file.
    bool locked = false;
};

// Makes `path` hold `parts` concatenated, durably (see the top of this file).
result<> replace_file(const std::filesystem::path& path,
                      std::initializer_list<std::string_view> parts,
                      const replace_options& opt = {});
result<> replace_file(const std::filesystem::path& path, std::string_view content,
                      const replace_options& opt = {});

// fsync of a directory, so that entries created, renamed or removed in it survive a crash.
result<> fsync_dir(const std::filesystem::path& dir);

// fsync(2) of an open file, through the test hook below; EINTR is retried.
std::error_code fsync_fd(int fd);

// Writes all of `data` to `fd` (EINTR and short writes handled).
std::error_code write_all(int fd, std::string_view data);

// rename(2) that fails with EEXIST instead of replacing `to` (renameat2 RENAME_NOREPLACE; on a
// file system without it, link + unlink, which is equally atomic for the name `to`).
// Does not fsync: the caller fsyncs the directories involved.
result<> rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to);

struct read_options {
    std::size_t max_size = 1 << 20; // larger files are an error (EFBIG) naming the limit
    bool no_follow = false;         // O_NOFOLLOW: a symlink at `path` is an error (ELOOP)
};

// The whole content of `path`. A missing file is an error with code ENOENT (callers that
// accept a missing file test `code == std::errc::no_such_file_or_directory`).
result<std::string> read_file(const std::filesystem::path& path, const read_options& opt = {});

// Like read_file, but a missing file is nullopt rather than an error.
result<std::optional<std::string>> read_file_if_exists(const std::filesystem::path& path,
                                                       const read_options& opt = {});

namespace test_hooks {
// Test hook: called before every fsync this module (replace_file, fsync_dir, the committer)
// makes, with the fd and whether it is a directory. Returning a non-zero errno makes that
// fsync fail with it. nullptr (the default) disables it. Not for production code; process-wide.
using fsync_hook = int (*)(int fd, bool directory);
void set_fsync_hook(fsync_hook hook);

// Installs a hook for the lifetime of the object.
class scoped_fsync_hook {
public:
    explicit scoped_fsync_hook(fsync_hook hook) { set_fsync_hook(hook); }
    ~scoped_fsync_hook() { set_fsync_hook(nullptr); }
    scoped_fsync_hook(const scoped_fsync_hook&) = delete;
    scoped_fsync_hook& operator=(const scoped_fsync_hook&) = delete;
};

// Test hook for the other steps that put a file on disk: called before every write(2) of file
// content (write_all, replace_file, temp_file::write, the committer's writes) and before every
// rename or link that gives a file its final name (rename_noreplace, replace_file, the
// committer's renames, temp_file::link_to). Returning a non-zero errno makes that step fail with
// it, as if the system call had. nullptr (the default) disables it. Not for production code;
// process-wide. With the fsync hook, tests fail each step of a commit in turn.
enum class step { write, rename };
using step_hook = int (*)(step s);
void set_step_hook(step_hook hook);

class scoped_step_hook {
public:
    explicit scoped_step_hook(step_hook hook) { set_step_hook(hook); }
    ~scoped_step_hook() { set_step_hook(nullptr); }
    scoped_step_hook(const scoped_step_hook&) = delete;
    scoped_step_hook& operator=(const scoped_step_hook&) = delete;
};
} // namespace test_hooks

} // namespace splitmail::durable
