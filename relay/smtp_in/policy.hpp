#pragma once
// One connection's greylisting and rate limits (issue 18): the session's transaction_policy
// over the relay-wide greylist store and rate limiters, with the client address, the log id
// and a clock.
//
//  - MAIL: the message limit of the authenticated user (submission) or of the client IP
//    (port 25; an IPv6 client counts by its /64); over it, 451 4.7.1 and a warning in the log.
//  - RCPT (a recipient the directory accepted): the recipient limit likewise; then, for a
//    client that is not authenticated and when greylisting is on, the greylist decides
//    (451 4.7.1 Greylisted, try again in N seconds), logged as
//    `info greylist ID deferred client=IP from=... to=... retry_after=Ns` or `... passed ...`.
//  - delivered(): the message of this transaction was queued; when one of its recipients
//    passed greylisting, the client network gets one more passed delivery (auto_allow).
// Does not do: decide whom to ask (the session skips trusted clients), persist anything.
#include "smtp_in/session.hpp"

#include <chrono>
#include <functional>
#include <string>

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
};

class connection_policy final : public transaction_policy {
public:
    connection_policy(policy_context ctx, std::string client_ip, std::string log_id);
    std::optional<smtp::reply> mail(std::string_view user, std::string_view sender) override;
    std::optional<smtp::reply> rcpt(std::string_view user, std::string_view sender,
                                    std::string_view recipient) override;
    void delivered();

private:
    filter::rate_limiter* limiter_for(std::string_view user) const;
    std::string key_for(std::string_view user) const; // user, IPv4 address or IPv6 /64
    std::chrono::steady_clock::time_point steady_now() const;

    policy_context ctx_;
    std::string ip_, id_;
    bool passed_ = false; // a recipient of this transaction passed greylisting
};

} // namespace splitmail::relay
