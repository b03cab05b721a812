#pragma once
// Group-commit of small files: "make these files durable, then tell me".
//
// For each file of a request: create a temporary file in the request's tmp dir with
// O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600), write it, fsync it, rename it into its final directory,
// fsync that directory; only then is the completion called with no error. Files of one request
// become visible strictly in order: file i+1 is renamed only after file i and its directory are
// durable (the spool relies on this: the message file is durable before its envelope appears).
// A file marked in_place skips tmp + rename (see file::in_place) but keeps the ordering.
// Unlinks listed in a request run after its files, each followed by an fsync of its directory.
//
// Why a committer: a disk here does ~1,000-1,400 serial (file fsync + dir fsync) commits/s.
// File fsyncs of different files run concurrently on a small thread pool (ext4 batches them
// into one journal commit), and directory fsyncs are shared: every rename into a directory that
// lands while an fsync of that directory is in flight waits for, and shares, the next one.
// See bench/fsync/README.md for the measurements that chose this design.
//
// Guarantees: on success every file is at its final path with its full content and survives a
// crash. On failure (ENOSPC, EIO, ...) the error is the errno of the failing call, temporary
// files are removed, and files this request created (replace == false) are removed from their
// final directories again; a file written with replace == true may hold the old or new content.
// The completion is called exactly once, on a committer thread: callers post back to their own
// executor and must not block there for long.
//
// Does not: create directories, choose names, retry, or know about mail. No Asio here.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace splitmail::durable {

// A file that is written before its commit (a message streamed into the spool while it
// arrives) and then adopted by a request (file::adopt). It is invisible until adopted: an
// O_TMPFILE inode in `dir`, or, on file systems without O_TMPFILE, a name in `dir` created with
// O_EXCL (the spool's start-up recovery removes leftovers of a crash from tmp/).
// Guarantees: write() appends all bytes or records the first error (ENOSPC, EIO...), which
// every later write() and the committer report; nothing is visible anywhere but `dir` until a
// request adopts the file; destroying an unadopted file leaves nothing behind.
// Opened read-write: the content scanners (relay/filter) pread what was written so far.
// Does not: fsync (the committer does, once), or read.
class temp_file {
public:
    // `anonymous` false skips O_TMPFILE (tests of the fallback).
    static std::expected<temp_file, std::error_code> create(const std::filesystem::path& dir,
                                                            bool anonymous = true);
    temp_file(temp_file&& o) noexcept;
    temp_file& operator=(temp_file&& o) noexcept;
    ~temp_file();

    std::error_code write(std::string_view bytes); // append; the first error sticks
    std::error_code error() const { return err_; }
    std::uint64_t size() const { return size_; }
    int fd() const { return fd_; }
    bool anonymous() const { return named_.empty(); }

    // For the committer: give the file the name `path` (never replacing one); 0 or an errno.
    int link_to(const std::filesystem::path& path);

private:
    temp_file() = default;
    void release();
    int fd_ = -1;
    std::filesystem::path named_; // "" for O_TMPFILE, or once renamed to its final path
    std::uint64_t size_ = 0;
    std::error_code err_;
};

struct file {
    std::filesystem::path path;      // final path; its directory must exist (same fs as tmp_dir)
    std::vector<std::string> chunks; // content, written in order (e.g. trace prefix + body)
    bool replace = false;            // false: fail with EEXIST if `path` exists (RENAME_NOREPLACE)
    // Write directly at `path` (O_EXCL) instead of tmp + rename: saves one journal commit per
    // request because the directory fsync runs alongside the file fsync. The file is visible,
    // possibly incomplete, before the completion: only for files nobody reads until a later
    // file of the same request exists (the spool's message file: its envelope comes later).
    // On failure it is removed like any created file. `replace` is ignored (always O_EXCL).
    bool in_place = false;
    // Adopt this already written file instead of writing `chunks` (which must be empty): it
    // is linked at `path` (never replacing), then fsync'd alongside an fsync of its directory,
    // as an in_place file is; its content is complete when it becomes visible. A write error
    // the file recorded fails the request. On failure the link is removed again.
    std::shared_ptr<temp_file> adopt;
};

struct request {
    std::filesystem::path tmp_dir;              // where temporary files are created
    std::vector<file> files;                    // made durable and visible in this order
    std::vector<std::filesystem::path> unlinks; // removed (and dir fsync'd) after the files
};

struct options {
    std::size_t threads = 16;             // file write+fsync; I/O, not CPU: more threads than cores
    std::size_t dir_threads = 8;          // threads for directory fsyncs
    std::size_t dir_fsyncs_in_flight = 1; // per directory; 1 = classic group commit
};

// Counters for logs and benchmarks.
struct stats {
    std::size_t requests = 0;
    std::size_t file_fsyncs = 0;
    std::size_t dir_fsyncs = 0; // fewer than requests when group commit is working
};

class committer {
public:
    explicit committer(options opt = {});
    ~committer(); // waits for every submitted request to complete, then stops the threads
    committer(const committer&) = delete;
    committer& operator=(const committer&) = delete;

    // Asynchronous: `done` is called once, on a committer thread.
    void submit(request req, std::function<void(std::error_code)> done);

    // Blocking, for tools and tests. Must not be called from a completion (deadlock).
    std::error_code commit(request req);

    stats counters() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace splitmail::durable
