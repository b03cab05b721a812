#pragma once
// The relay's durable spool (also read by `splitmail queue`).
//
// Layout under the root:  tmp/  msg/  incoming/  deferred/  hold/  corrupt/  deleted/
// A queued message is an immutable message file msg/<id> (trace header prefix + the bytes as
// received; the body is never rewritten) plus an envelope <queue>/<id>.json (envelope.hpp).
//
// Guarantees:
//  - enqueue() completes without error only when both files and their directories are fsync'd;
//    the message file is durable before the envelope appears (durable::committer orders them),
//    so an envelope never points at a missing message after a crash. The message file is
//    written in place (O_EXCL in msg/), the envelope via tmp/ + rename: a message file without
//    an envelope is an unfinished, never acknowledged enqueue (recover() sets it aside).
//  - update() rewrites an envelope by write-temp + fsync + rename: a reader sees the old or the
//    new envelope, never a mix. It fails with ENOENT if the envelope is gone (deleted by
//    `splitmail queue delete` while the relay was delivering) instead of resurrecting it.
//  - remove() unlinks envelope then message, each durable, so a crash in between leaves an
//    orphan message, never an envelope without its message.
//  - The mode of msg/<id> says how far a message got (Postfix marks a complete queue file with
//    its execute bit the same way): 0600 while it is written, 0700 once its envelope is durable
//    (it may have been acknowledged), 0500 once remove() has started (it is delivered, bounced
//    or expired). Mode changes are not fsync'd: a lost change makes recover() more cautious,
//    never less (an orphan then looks acknowledged and goes to corrupt/).
//  - recover() deletes only what it can prove is not owed to anyone: a message file without an
//    envelope that never got its envelope (0600: the client never saw 250), one whose removal
//    had started (0500: delivered), and one whose envelope `splitmail queue delete` already
//    moved to deleted/ (it follows its envelope there). Everything else it cannot account for
//    (0700 without envelope, unreadable or misnamed envelopes, stray files) goes to corrupt/.
//  - Errors carry the errno of the failing system call; ENOSPC surfaces as
//    std::errc::no_space_on_device (the SMTP layer answers 452 4.3.1).
// Completions of the asynchronous calls run on a committer thread (see committer.hpp).
//
// Does not: schedule, deliver, lock against a second relay on the same spool (the pid file in
// control.hpp is advisory), or clean deleted/ and corrupt/ (that is the administrator's call).
// A crash between a delivery and remove() repeats that delivery once (at-least-once, as every
// MTA): the receiver may see a duplicate, never a loss.
#include "splitmail/durable/committer.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/queue/envelope.hpp"

#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace splitmail::queue {

using completion = std::function<void(std::error_code)>;

// ENOSPC or EDQUOT from any spool operation: the SMTP layer answers 452 4.3.1
// (RFC 3463 4.3.1 "mail system full") and never 250.
bool is_disk_full(std::error_code ec);

// What recover() did, for the start-up log.
struct recovery_report {
    std::vector<envelope> envelopes;           // to schedule, sorted by id (= arrival order)
    std::vector<std::string> moved_to_corrupt; // file names (relative to the root) moved aside
    std::vector<std::string> problems;         // one line per moved file: path and reason
    std::size_t tmp_removed = 0;
    // Crash leftovers provably not owed (see the guarantees above): "msg/<id>: reason", one
    // per message file removed or moved to deleted/.
    std::vector<std::string> leftovers;
};

// A listing for the CLI: envelopes that parsed, plus the ones that did not.
struct listing {
    std::vector<envelope> envelopes; // sorted by id
    std::vector<std::string> errors; // "deferred/X.json: recipients: missing"
};

class spool {
public:
    // Opens (and with create = true makes, mode 0700) the spool directories under `root`.
    // `committer` must outlive the spool; it may be shared with other users of the same disk.
    static std::expected<spool, std::error_code>
    open(const std::filesystem::path& root, durable::committer& committer, bool create = true);

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path message_path(const std::string& id) const;
    std::filesystem::path envelope_path(const std::string& id, queue_name q) const;

    // Makes msg/<id> (prefix + body) and then <env.queue>/<id>.json durable. env.id must be a
    // valid id; env.size is set here. On error nothing is left in msg/ or the queue dir.
    void enqueue(envelope env, std::string prefix, std::string body, completion done);

    // Streaming enqueue (issue 12): create_message() gives an invisible file in tmp/ to write
    // the message into as it arrives; enqueue_file() adopts it as msg/<id> (linked when
    // complete, fsync'd with one shared fsync of msg/) and then writes <env.queue>/<id>.json,
    // with the same guarantees as enqueue(). `prefix` is stored in the envelope (its `prefix`
    // field), not in the file; read_message() returns prefix + file. A write error the file
    // recorded (ENOSPC...) is the completion's error. On error nothing is left in msg/ or the
    // queue dir, and dropping an unadopted file leaves nothing anywhere.
    std::expected<durable::temp_file, std::error_code> create_message() const;
    void enqueue_file(envelope env, std::string prefix, durable::temp_file message,
                      completion done);

    // Rewrites the envelope in its directory (env.queue). ENOENT if it is no longer there.
    void update(const envelope& env, completion done);
    std::error_code update_sync(const envelope& env);

    // Moves the envelope from `from` to `to` (one rename, then fsync of both directories),
    // e.g. incoming -> deferred after a failed attempt. Blocking (two directory fsyncs).
    std::error_code move(const std::string& id, queue_name from, queue_name to);

    // After full delivery (or bounce): unlink envelope, then the message; durable.
    void remove(const envelope& env, completion done);
    std::error_code remove_sync(const envelope& env);

    // Start-up recovery, before the relay accepts mail (see the guarantees above).
    // Message files without an envelope younger than `orphan_age` are left alone: they may
    // belong to a commit still in flight in another process.
    std::expected<recovery_report, std::error_code>
    recover(std::chrono::seconds orphan_age = std::chrono::seconds{60});

    // For the CLI: every envelope in incoming/, deferred/, hold/.
    listing list() const;
    // One envelope, looked up in incoming/, deferred/, hold/ (ENOENT if none, EINVAL for a
    // string that is not an id, EBADMSG for an unparsable envelope).
    std::expected<envelope, std::error_code> load(const std::string& id) const;
    // The message: envelope prefix (streamed messages) + the message file (after file_skip).
    std::expected<std::string, std::error_code> read_message(const std::string& id) const;

    // A queued message opened for sending in pieces (issue 12 item 2): the prefix from the
    // envelope (the trace fields of a streamed message) and the open message file; the
    // message is prefix + the file's `file_size` octets. Reading is the caller's (off the io
    // thread). ENOENT once the message was deleted.
    // The file's first `file_offset` octets are not part of the message (envelope file_skip:
    // the prefix carries an edited copy of them).
    struct stored_message {
        std::string prefix;
        durable::unique_fd fd;
        std::uint64_t file_size = 0;
        std::uint64_t file_offset = 0; // where the message's part of the file starts
        std::uint64_t size() const { return prefix.size() + file_size - file_offset; }
    };
    std::expected<stored_message, std::error_code> open_message(const std::string& id) const;

    // `splitmail queue delete`: rename the envelope into deleted/ (a running relay sees it gone
    // at once), then the message file. Returns where the envelope was.
    std::expected<queue_name, std::error_code> remove_to_deleted(const std::string& id);

private:
    spool(std::filesystem::path root, durable::committer& c) : root_(std::move(root)), c_(&c) {}
    std::filesystem::path root_;
    durable::committer* c_;
};

} // namespace splitmail::queue
