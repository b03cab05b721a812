#pragma once
// One connection's greylisting and rate limits (issue 18): the session's transaction_policy
// over the relay-wide greylist store and rate limiters, with the client address, the log id
// and a clock.
//
//  - MAIL: the message limit of the authenticated user (submission) or of the client IP
//    (port 25; an IPv6 client counts by its /64); over it, 451 4.7.1 and a warning in the log.
//  - RCPT of a client the DNS lists refused (dnsbl()): that refusal, nothing else asked.
//  - RCPT (a recipient the directory accepted): the recipient limit likewise; then, for a
//    client that is not authenticated and when greylisting is on, the greylist decides
//    (451 4.7.1 Greylisted, try again in N seconds), logged as
//    `info greylist ID deferred client=IP from=... to=... retry_after=Ns` or `... passed ...`.
//    A sender of a domain in `skip_verified` (greylist.skip_verified_senders) is not deferred
//    at RCPT: the recipient is accepted and its verdict waits for end_of_data().
//  - end_of_data(verified): the domains the message proved (SPF pass of the envelope sender,
//    DKIM pass d=). When a recipient waits and none of them covers the sender's listed
//    domain, the message gets 451 4.7.1 (the triplets were recorded at RCPT, so the retry
//    after the delay passes as usual); otherwise it goes on, logged as `greylist skipped`.
//  - delivered(): the message of this transaction was queued; when one of its recipients
//    passed greylisting, the client network gets one more passed delivery (auto_allow).
// Does not do: decide whom to ask (the session skips trusted clients), persist anything.
#include "smtp_in/session.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

namespace filter {
class greylist;
class rate_limiter;
} // namespace filter

struct policy_context {
    filter::greylist* greylist = nullptr;    // null: no greylisting at RCPT
    filter::rate_limiter* clients = nullptr; // inbound, per client IP (null: none)
    filter::rate_limiter* users = nullptr;   // submission, per user (null: none)
    std::function<std::chrono::system_clock::time_point()> now; // default: system_clock
    const std::vector<std::string>* skip_verified = nullptr;    // sender domains (lower case)
};

// The entry of `domains` that `domain` is (or is a subdomain of); "" when none. Case-blind.
std::string_view listed_domain(std::string_view domain, const std::vector<std::string>& domains);

class connection_policy final : public transaction_policy {
public:
    connection_policy(policy_context ctx, std::string client_ip, std::string log_id);
    std::optional<smtp::reply> mail(std::string_view user, std::string_view sender) override;
    std::optional<smtp::reply> rcpt(std::string_view user, std::string_view sender,
                                    std::string_view recipient) override;
    std::optional<smtp::reply> end_of_data(const std::vector<std::string>& verified);
    // DNS lists (filter/dnsbl_check.hpp), known before the client's first command: `block`
    // refuses every recipient of an unauthenticated client; `allowed` skips greylisting.
    void dnsbl(std::optional<smtp::reply> block, bool allowed);
    void delivered();

private:
    filter::rate_limiter* limiter_for(std::string_view user) const;
    std::string key_for(std::string_view user) const; // user, IPv4 address or IPv6 /64
    std::chrono::steady_clock::time_point steady_now() const;

    policy_context ctx_;
    std::string ip_, id_;
    bool passed_ = false; // a recipient of this transaction passed greylisting
    std::optional<smtp::reply> dnsbl_block_;
    bool dnsbl_allowed_ = false;
    // Recipients accepted at RCPT whose greylisting waits for the sender's proof.
    std::string pending_domain_; // the listed domain the sender claims
    std::string pending_rcpts_;  // for the log
    std::chrono::seconds pending_retry_{0};
};

} // namespace splitmail::relay
