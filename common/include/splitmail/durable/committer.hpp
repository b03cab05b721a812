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
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace splitmail::durable {

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
