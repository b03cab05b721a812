#pragma once
// Turns a finished LMTP transaction (delivery_job + its staged message file) into Maildir
// deliveries and the per-recipient replies RFC 2033 4.2 asks for.
//
// Guarantees: the message is written once (maildir::staged_message) and every distinct final
// user gets a hard link of that one file in new/ (a copy only across file systems), even when
// several recipients (aliases, plus-addresses) lead to the same mailbox only one. The file starts
// with trace_prefix(job): "Return-Path: <sender>" always, and "Delivered-To: <user>" only when
// the transaction reaches exactly one mailbox. Why: a shared file cannot name each reader, and
// naming one of several would show every recipient who else got it (Bcc included); so the
// per-mailbox header is dropped for multi-mailbox messages and the body stays shared.
// A recipient's reply is 250 only when every mailbox it expands to holds a durable link;
// otherwise it is the first failure's reply (errors.hpp: always 4xx, so the relay retries; a
// retry may duplicate a copy that did land, which is the price of never losing one). A failure
// of one mailbox fails only the recipients that expand to it. `done` is called exactly once,
// on a worker thread.
// Does not: resolve addresses (the session got that from the resolver) or write to sockets.
#include "lmtp/session.hpp"
#include "maildir/deliver.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace splitmail::home::lmtp {

class mailbox_delivery {
public:
    // `junk_folder` (home.toml maildir.junk_folder): where mail the relay marked as junk goes
    // (file_as_junk); empty: the INBOX like any other.
    explicit mailbox_delivery(maildir::deliverer& d, std::string junk_folder = "Junk")
        : deliverer_(d), junk_folder_(std::move(junk_folder)) {}

    // The trace header block the staged file starts with (see above).
    static std::string trace_prefix(const delivery_job& job);
    // The distinct final users of `job`, in first-seen order.
    static std::vector<std::string> users_of(const delivery_job& job);

    // Blocking (run it off the io thread): a new staged file holding trace_prefix(job).
    std::expected<std::shared_ptr<maildir::staged_message>, std::error_code>
    stage(const delivery_job& job);
    // Asynchronous: links `msg` into every mailbox of `job`; done(one reply per job.rcpts).
    void deliver(const delivery_job& job, std::shared_ptr<maildir::staged_message> msg,
                 std::string_view session_id, std::function<void(std::vector<smtp::reply>)> done);

    // The relay marked `msg` as junk for `reason` (splitmail/smtp/relay_marks.hpp): its links
    // go into the junk folder, if one is set. Call before deliver().
    void file_as_junk(maildir::staged_message& msg, std::string_view reason) const;

    maildir::deliverer& deliverer() { return deliverer_; }

private:
    maildir::deliverer& deliverer_;
    std::string junk_folder_;
};

} // namespace splitmail::home::lmtp
