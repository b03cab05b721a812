// One connection's greylisting and rate limits; see policy.hpp.
#include "smtp_in/policy.hpp"

#include "filter/greylist.hpp"
#include "filter/rate_limit.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/network.hpp"

namespace splitmail::relay {
namespace {

using filter::rate_limiter;

filter::wall_seconds to_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

} // namespace

connection_policy::connection_policy(policy_context ctx, std::string client_ip,
                                     std::string log_id)
    : ctx_(std::move(ctx)), ip_(std::move(client_ip)), id_(std::move(log_id)) {
    if (!ctx_.now) ctx_.now = [] { return std::chrono::system_clock::now(); };
}

rate_limiter* connection_policy::limiter_for(std::string_view user) const {
    return user.empty() ? ctx_.clients : ctx_.users;
}

std::string connection_policy::key_for(std::string_view user) const {
    if (!user.empty()) return std::string(user);
    // An IPv6 host usually holds a whole /64 and can pick a new address for every message:
    // count the /64, as every other per-network count does. IPv4 counts per address.
    auto net = net::parse_client_network(ip_);
    if (net && net->ends_with("/64")) return *net;
    return ip_;
}

std::chrono::steady_clock::time_point connection_policy::steady_now() const {
    return std::chrono::steady_clock::now(); // limits count in steady time: no clock jumps
}

std::optional<smtp::reply> connection_policy::mail(std::string_view user,
                                                   std::string_view sender) {
    passed_ = false; // a new transaction
    auto* lim = limiter_for(user);
    if (!lim) return std::nullopt;
    const std::string key = key_for(user);
    const auto now = steady_now();
    if (!lim->allows(key, rate_limiter::what::messages, now)) {
        log::warn("limits", id_, "MAIL refused: message rate limit",
                  {{"client", ip_}, {"user", user}, {"from", sender},
                   {"limit", std::to_string(lim->limit(rate_limiter::what::messages)) + "/h"}});
        // RFC 3463 4.7.1: delivery not authorized for now; the sender retries later.
        return smtp::make_reply(451, "4.7.1", user.empty()
                                                  ? "Error: too many messages from your "
                                                    "address, try again later"
                                                  : "Error: too many messages sent by you "
                                                    "in the last hour, try again later");
    }
    lim->add(key, rate_limiter::what::messages, now);
    return std::nullopt;
}

std::optional<smtp::reply> connection_policy::rcpt(std::string_view user, std::string_view sender,
                                                   std::string_view recipient) {
    auto* lim = limiter_for(user);
    const std::string key = key_for(user);
    const auto steady = steady_now();
    if (lim && !lim->allows(key, rate_limiter::what::recipients, steady)) {
        log::warn("limits", id_, "RCPT refused: recipient rate limit",
                  {{"client", ip_}, {"user", user}, {"from", sender}, {"to", recipient},
                   {"limit", std::to_string(lim->limit(rate_limiter::what::recipients)) + "/h"}});
        return smtp::make_reply(451, "4.7.1", "Error: too many recipients in the last hour, "
                                              "try again later");
    }
    if (user.empty() && ctx_.greylist) {
        if (auto t = filter::make_triplet(ip_, sender, recipient)) {
            auto a = ctx_.greylist->check(*t, to_seconds(ctx_.now()));
            if (!a.accepted()) {
                log::info("greylist", id_, "deferred",
                          {{"client", ip_}, {"from", sender}, {"to", recipient},
                           {"retry_after", std::to_string(a.retry_after.count()) + "s"},
                           {"first", a.result == filter::grey_result::first_seen ? "yes" : "no"}});
                return smtp::make_reply(451, "4.7.1",
                                        "Greylisted, try again in " +
                                            std::to_string(a.retry_after.count()) + " seconds");
            }
            if (a.result == filter::grey_result::passed_now)
                log::info("greylist", id_, "passed",
                          {{"client", ip_}, {"from", sender}, {"to", recipient}});
            if (a.result == filter::grey_result::passed ||
                a.result == filter::grey_result::passed_now)
                passed_ = true;
        }
    }
    if (lim) lim->add(key, rate_limiter::what::recipients, steady);
    return std::nullopt;
}

void connection_policy::delivered() {
    if (passed_ && ctx_.greylist) {
        if (auto net = net::parse_client_network(ip_)) {
            ctx_.greylist->count_delivery(*net, to_seconds(ctx_.now()));
            if (ctx_.greylist->network_allowed(*net, to_seconds(ctx_.now())))
                log::debug("greylist", id_, "client network auto-allowed", {{"network", *net}});
        }
    }
    passed_ = false;
}

} // namespace splitmail::relay
