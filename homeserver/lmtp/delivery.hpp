#pragma once
// Turns a finished LMTP transaction (delivery_job) into Maildir deliveries and the
// per-recipient replies RFC 2033 4.2 asks for.
//
// Guarantees: one copy per distinct final user, even when several recipients (aliases,
// plus-addresses) lead to the same mailbox; each copy gets "Return-Path: <sender>" and
// "Delivered-To: <user>" before the unchanged body. A recipient's reply is 250 only when
// every mailbox it expands to holds a durable copy; otherwise it is the first failure's reply
// (errors.hpp: always 4xx, so the relay retries; a retry may duplicate a copy that did land,
// which is the price of never losing one). `done` is called exactly once, on a worker thread.
// Does not: resolve addresses (the session got that from the resolver) or write to sockets.
#include "lmtp/session.hpp"
#include "maildir/deliver.hpp"

#include <functional>
#include <string>
#include <vector>

namespace splitmail::home::lmtp {

class mailbox_delivery {
public:
    explicit mailbox_delivery(maildir::deliverer& d) : deliverer_(d) {}
    void deliver(const delivery_job& job, std::string_view session_id,
                 std::function<void(std::vector<smtp::reply>)> done);

private:
    maildir::deliverer& deliverer_;
};

} // namespace splitmail::home::lmtp
