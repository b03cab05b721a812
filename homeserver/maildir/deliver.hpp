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
// Does not: resolve users or aliases, enforce quotas, or index the Maildir for IMAP.
#include "splitmail/durable/committer.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace splitmail::home::maildir {

// "Return-Path: <sender>\r\nDelivered-To: <address>\r\n" (RFC 5322 3.6.7 trace fields; the
// sender is "" for the null reverse-path, giving "<>").
std::string trace_headers(std::string_view sender, std::string_view delivered_to);

// The Maildir of `user` (lower-case local@domain) below root, or an errc for unusable names.
std::expected<std::filesystem::path, std::error_code> maildir_path(
    const std::filesystem::path& root, std::string_view user);

struct delivered {
    std::error_code ec;
    std::filesystem::path file; // final path in new/ when !ec
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

    // Blocking: creates the Maildir if needed (no symlinks followed). For tools and tests.
    std::expected<std::filesystem::path, std::error_code> ensure_maildir(std::string_view user);

    const std::filesystem::path& root() const { return root_; }

private:
    std::string next_name(std::uint64_t size);

    std::filesystem::path root_;
    durable::committer& committer_;
    std::string host_;
    std::atomic<std::uint64_t> counter_{0};
    boost::asio::thread_pool pool_;
};

} // namespace splitmail::home::maildir
