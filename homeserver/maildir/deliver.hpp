#pragma once
// Delivery of one message copy into a user's Maildir (cr.yp.to/proto/maildir.html):
// <root>/<domain>/<local>/{tmp,new,cur}, created 0700 on first delivery.
//
// Guarantees (the durable committer does the file part): the file is created in tmp/ with
// O_CREAT|O_EXCL|O_NOFOLLOW, written (trace headers, then the body, byte for byte), fsync'd,
// renamed into new/ under a unique name (name.hpp) and new/ is fsync'd; only then is `done`
// called with no error. Directory fsyncs are shared between concurrent deliveries (group
// commit). On any failure nothing is left in new/ or tmp/ and `done` gets the errno.
// Never follows a symbolic link below the root: every directory on the way is opened with
// O_NOFOLLOW (ELOOP/ENOTDIR otherwise), and names are refused if they are "", ".", ".." or
// contain '/'. Newly created directories are fsync'd into their parent.
// Blocking work (mkdir, opening the chain) runs on a small worker pool, never on the caller's
// thread; `done` runs on a worker or committer thread.
//
// Shared delivery (LMTP, one message to many mailboxes, the way Dovecot's LMTP does it): the
// message is streamed once into a staged file below <root>/.lmtp-tmp/ (staged_message, written
// chunk by chunk: memory does not grow with the message), fsync'd once, then hard-linked into
// every recipient's new/ and each new/ is fsync'd once; only then is that recipient delivered.
// Across file systems (EXDEV: a Maildir on another mount) that one mailbox gets a copy (tmp/,
// fsync, rename into new/, fsync new/). A failure for one mailbox (its Maildir unusable, full
// disk while copying) fails that mailbox only. The staged name is unlinked when the last
// reference goes; a crash leaves it behind and the next start removes it (nothing acknowledged
// depends on it: every delivered copy is its own link in a new/).
// Per-user execution (issue 12 item 4): with set_user_executors(), the link into each mailbox
// runs on that user's strand, after the staged file's one fsync here: the delivery to a user is
// serialised with that user's IMAP work. The fsync of new/ that follows runs on the same pool
// but off the strand (the user's IMAP commands do not wait for the disk; the reply to the relay
// does, as before), and a mailbox whose disk work hangs holds a pool thread, not this
// deliverer's workers, so deliveries to other users go on. Without it everything runs on the
// deliverer's workers (tests, tools). The cost: while that fsync runs, the user's IMAP session
// may already see the new file; if the fsync then fails (EIO), the name is removed again and
// the session reports it expunged - the relay never got a 250 for it, so nothing is lost, as
// with Dovecot, whose LMTP renames into new/ before its directory fsync too.
// Does not: resolve users or aliases, enforce quotas, or index the Maildir for IMAP.
#include "splitmail/durable/committer.hpp"
#include "users/executors.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace splitmail::home::maildir {

// "Return-Path: <sender>\r\nDelivered-To: <address>\r\n" (RFC 5322 3.6.7 trace fields; the
// sender is "" for the null reverse-path, giving "<>").
std::string trace_headers(std::string_view sender, std::string_view delivered_to);

// The Maildir of `user` (lower-case local@domain) below root, or an errc for unusable names.
std::expected<std::filesystem::path, std::error_code>
maildir_path(const std::filesystem::path& root, std::string_view user);

// A message being received, in a file of <root>/.lmtp-tmp (same file system as the Maildirs so
// it can be hard-linked). Blocking calls: run them off the io thread (deliverer::run).
class staged_message {
public:
    ~staged_message(); // closes and unlinks the staged name (delivered links stay)
    staged_message(const staged_message&) = delete;
    staged_message& operator=(const staged_message&) = delete;

    // Appends bytes; the first error sticks (later appends do nothing and return it).
    std::error_code append(std::string_view bytes);
    std::uint64_t size() const { return size_; }
    std::error_code error() const { return ec_; }
    // The Maildir++ folder (".NAME" below each user's Maildir, tmp/new/cur made when missing)
    // the links go into instead of the INBOX: e.g. "Junk". Empty (the default): the INBOX.
    // A name with '/' or "." / ".." fails the delivery with EINVAL. Set before deliver_shared.
    void set_folder(std::string folder) { folder_ = std::move(folder); }
    const std::string& folder() const { return folder_; }

private:
    friend class deliverer;
    staged_message(int dir_fd, int fd, std::string name)
        : dir_fd_(dir_fd), fd_(fd), name_(std::move(name)) {}
    int dir_fd_ = -1;
    int fd_ = -1;
    std::string name_;
    std::string folder_;
    std::uint64_t size_ = 0;
    std::error_code ec_;
    bool synced_ = false;
};

struct delivered {
    std::error_code ec;
    std::filesystem::path file; // final path in new/ (of the INBOX or the folder) when !ec
};

class deliverer {
public:
    // `host`: the name used in Maildir file names (escaped here).
    deliverer(std::filesystem::path root, durable::committer& committer, std::string host,
              std::size_t workers = 2);
    ~deliverer(); // waits for the worker pool

    // Asynchronous. The file holds `headers` then `*body`.
    void deliver(std::string user, std::string headers, std::shared_ptr<const std::string> body,
                 std::function<void(delivered)> done);

    // Blocking: a new empty staged message (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600).
    std::expected<std::shared_ptr<staged_message>, std::error_code> stage();

    // Asynchronous: fsyncs `msg` once, then links it into new/ of every user (copy on EXDEV),
    // fsyncing each new/ once. `done` gets one result per entry of `users`, same order.
    void deliver_shared(std::shared_ptr<staged_message> msg, std::vector<std::string> users,
                        std::function<void(std::vector<delivered>)> done);
    // Blocking form of deliver_shared, for tests and the worker itself.
    std::vector<delivered> deliver_shared_now(staged_message& msg,
                                              const std::vector<std::string>& users);

    // Runs `fn` on the worker pool (the driver appends staged chunks there, off the io thread).
    template <class F>
    void run(F&& fn) {
        boost::asio::post(pool_, std::forward<F>(fn));
    }

    // The link(2) used for shared delivery (linkat semantics, returns 0 or -1 with errno);
    // tests inject EXDEV here to exercise the copy fallback.
    using link_function = int (*)(int olddirfd, const char* oldname, int newdirfd,
                                  const char* newname);
    void set_link_function(link_function f) { link_ = f; }
    // Links run on the recipients' strands (see above); must outlive this deliverer's work.
    void set_user_executors(user_executors* ux) { users_exec_ = ux; }

    // Blocking: creates the Maildir if needed (no symlinks followed). For tools and tests.
    std::expected<std::filesystem::path, std::error_code> ensure_maildir(std::string_view user);

    const std::filesystem::path& root() const { return root_; }

private:
    std::string next_name(std::uint64_t size);
    // link_one = link_only (the link into new/, or the copy on EXDEV) + finish_link (fsync of
    // new/; the name is removed again when that fails).
    struct linked;
    delivered link_one(staged_message& msg, const std::string& user, const std::string& name);
    linked link_only(staged_message& msg, const std::string& user, const std::string& name);
    delivered finish_link(linked l);
    std::error_code sync_staged(staged_message& msg);

    link_function link_ = nullptr;
    user_executors* users_exec_ = nullptr;
    std::filesystem::path root_;
    durable::committer& committer_;
    std::string host_;
    std::atomic<std::uint64_t> counter_{0};
    boost::asio::thread_pool pool_;
};

} // namespace splitmail::home::maildir
