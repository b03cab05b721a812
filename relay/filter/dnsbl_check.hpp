#pragma once
// DNS block and allow lists at the relay (issue 18): the lookups of one connecting client under
// every list of `dnsbl.sites`, started when it connects (in parallel, through the relay's
// libunbound resolver) and collected before its first command is read, within `dnsbl.timeout`;
// then the total weight decides (splitmail/net/dnsbl.hpp for the syntax and what counts):
//   total >= dnsbl.threshold        -> blocked: every RCPT gets the reply in `block`
//                                      (554 5.7.1 Service unavailable; client [IP] blocked
//                                      using ZONE[, ZONE...]), smtp_in/policy.cpp
//   total <= dnsbl.allow_threshold  -> allowed: not greylisted (when the threshold is < 0)
// Logged: `info dnsbl <id> listed client=IP score=N lists="zone(127.0.0.2) ..."` for any hit;
// a list that answers with an error code (127.255.255.x: most often "you query through a
// public resolver") or does not answer in time is a warning, at most once per list per 10
// minutes (a flood of connections must not flood the log).
// Does not: check trusted networks or submission (the driver does not ask), cache answers
// (libunbound caches them for their TTL).
#include "sender_auth/inbound.hpp"

#include "splitmail/config/relay_limits.hpp"
#include "splitmail/net/dnsbl.hpp"
#include "splitmail/smtp/reply.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace splitmail::relay::filter {

struct dnsbl_outcome {
    int score = 0;
    std::string lists;                // the lists that listed the client, with their codes
    std::optional<smtp::reply> block; // set: refuse the client's recipients with it
    bool allowed = false;             // at or below the allow threshold: no greylisting
};

class dnsbl_checker {
public:
    // `s` must hold sites that parse_site() accepts (the settings loader checked them).
    dnsbl_checker(const dnsbl_settings& s, dns::unbound_resolver& resolver);

    // The lookups of `ip` under every list, started now; nullopt for an address that is not
    // one (nothing to look up).
    std::optional<sender_auth::dns_lookups> start(const std::string& ip) const;
    boost::asio::awaitable<dnsbl_outcome> finish(sender_auth::dns_lookups& lookups,
                                                 const std::string& ip, const std::string& log_id);

    // The pure part: what the answers (one per site, in order; nullopt: no answer in time)
    // add up to. `warn(zone, text)` is called for a list that failed.
    dnsbl_outcome
    decide(const std::string& ip, const std::vector<std::optional<dkim::key_answer>>& answers,
           const std::function<void(const std::string&, const std::string&)>& warn) const;

private:
    void warn_once(const std::string& zone, const std::string& what, const std::string& log_id);

    std::vector<net::dnsbl_site> sites_;
    int threshold_, allow_threshold_;
    std::chrono::milliseconds timeout_;
    dns::unbound_resolver* resolver_;
    std::mutex m_;
    std::map<std::string, std::chrono::steady_clock::time_point> warned_; // per zone
};

} // namespace splitmail::relay::filter
