// One connection's greylisting and rate limits; see policy.hpp.
#include "smtp_in/policy.hpp"

#include "filter/greylist.hpp"
#include "filter/rate_limit.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/network.hpp"

#include <algorithm>
#include <cctype>

namespace splitmail::relay {
namespace {

using filter::rate_limiter;

filter::wall_seconds to_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

smtp::reply greylisted(std::chrono::seconds retry) {
    return smtp::make_reply(
        451, "4.7.1", "Greylisted, try again in " + std::to_string(retry.count()) + " seconds");
}

} // namespace

std::string_view listed_domain(std::string_view domain, const std::vector<std::string>& domains) {
    while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    for (const auto& e : domains) {
        if (domain.size() < e.size()) continue;
        const auto tail = domain.substr(domain.size() - e.size());
        if (!iequal(tail, e)) continue;
        if (domain.size() == e.size() || domain[domain.size() - e.size() - 1] == '.') return e;
    }
    return {};
}

connection_policy::connection_policy(policy_context ctx, std::string client_ip, std::string log_id)
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

std::optional<smtp::reply> connection_policy::mail(std::string_view user, std::string_view sender) {
    passed_ = false; // a new transaction
    pending_domain_.clear();
    pending_rcpts_.clear();
    pending_retry_ = std::chrono::seconds{0};
    auto* lim = limiter_for(user);
    if (!lim) return std::nullopt;
    const std::string key = key_for(user);
    const auto now = steady_now();
    if (!lim->allows(key, rate_limiter::what::messages, now)) {
        log::warn("limits", id_, "MAIL refused: message rate limit",
                  {{"client", ip_},
                   {"user", user},
                   {"from", sender},
                   {"limit", std::to_string(lim->limit(rate_limiter::what::messages)) + "/h"}});
        // RFC 3463 4.7.1: delivery not authorized for now; the sender retries later.
        return smtp::make_reply(451, "4.7.1",
                                user.empty() ? "Error: too many messages from your "
                                               "address, try again later"
                                             : "Error: too many messages sent by you "
                                               "in the last hour, try again later");
    }
    lim->add(key, rate_limiter::what::messages, now);
    return std::nullopt;
}

std::optional<smtp::reply> connection_policy::rcpt(std::string_view user, std::string_view sender,
                                                   std::string_view recipient) {
    if (dnsbl_block_ && user.empty()) return dnsbl_block_;
    auto* lim = limiter_for(user);
    const std::string key = key_for(user);
    const auto steady = steady_now();
    if (lim && !lim->allows(key, rate_limiter::what::recipients, steady)) {
        log::warn("limits", id_, "RCPT refused: recipient rate limit",
                  {{"client", ip_},
                   {"user", user},
                   {"from", sender},
                   {"to", recipient},
                   {"limit", std::to_string(lim->limit(rate_limiter::what::recipients)) + "/h"}});
        return smtp::make_reply(451, "4.7.1",
                                "Error: too many recipients in the last hour, "
                                "try again later");
    }
    if (user.empty() && ctx_.greylist && !dnsbl_allowed_) {
        if (auto t = filter::make_triplet(ip_, sender, recipient)) {
            auto a = ctx_.greylist->check(*t, to_seconds(ctx_.now()));
            const auto at = sender.rfind('@');
            const std::string_view listed =
                !a.accepted() && ctx_.skip_verified && at != std::string_view::npos
                    ? listed_domain(sender.substr(at + 1), *ctx_.skip_verified)
                    : std::string_view();
            if (!listed.empty()) {
                // Accepted for now; the proof (SPF/DKIM) is known at the end of DATA.
                pending_domain_ = std::string(listed);
                pending_rcpts_ += (pending_rcpts_.empty() ? "" : ",") + std::string(recipient);
                pending_retry_ = std::max(pending_retry_, a.retry_after);
            } else if (!a.accepted()) {
                log::info("greylist", id_, "deferred",
                          {{"client", ip_},
                           {"from", sender},
                           {"to", recipient},
                           {"retry_after", std::to_string(a.retry_after.count()) + "s"},
                           {"first", a.result == filter::grey_result::first_seen ? "yes" : "no"}});
                return greylisted(a.retry_after);
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

std::optional<smtp::reply>
connection_policy::end_of_data(const std::vector<std::string>& verified) {
    if (pending_domain_.empty()) return std::nullopt;
    std::string domain;
    domain.swap(pending_domain_);
    std::string rcpts;
    rcpts.swap(pending_rcpts_);
    const std::vector<std::string> listed{domain};
    for (const auto& v : verified) {
        if (listed_domain(v, listed).empty()) continue;
        log::info("greylist", id_, "skipped: verified sender",
                  {{"client", ip_}, {"to", rcpts}, {"domain", domain}, {"verified", v}});
        return std::nullopt;
    }
    log::info("greylist", id_, "deferred",
              {{"client", ip_},
               {"to", rcpts},
               {"domain", domain},
               {"retry_after", std::to_string(pending_retry_.count()) + "s"},
               {"reason", "sender of a skip_verified_senders domain without SPF or DKIM pass"}});
    return greylisted(pending_retry_);
}

void connection_policy::dnsbl(std::optional<smtp::reply> block, bool allowed) {
    dnsbl_block_ = std::move(block);
    dnsbl_allowed_ = allowed;
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
