#pragma once
// A small blocking DNS client for `splitmail check`, on libunbound: ask a recursive resolver
// (a forwarder "ip:port", or the name servers of /etc/resolv.conf) for one RRset and get the
// records in presentation format (records.hpp), so they compare with a plan.
//
// Guarantees:
//  - status tells NXDOMAIN, NOERROR without data, a usable answer, and resolver trouble
//    (SERVFAIL, timeout, unreachable) apart; `error` says which;
//  - the libunbound context is common/dns's (splitmail/dns/context.hpp, shared with the
//    relay): with a forwarder, names libunbound would otherwise answer itself (.test, the
//    private and documentation reverse zones) are asked to it, and a loopback forwarder is
//    allowed; the records' text is common/dns's rdata_to_text;
//  - a record whose rdata does not parse is reported in `error`, never silently dropped;
//  - bounded time (issue 16 bug 6): each lookup gets at most `per_query` (default 3 s); after
//    `give_up_after` lookups in a row timed out, or once `overall` (default 20 s) of lookups
//    have passed, the resolver counts as unreachable and further lookups fail at once with
//    that reason, so a dead resolver costs seconds, not minutes.
// Does not: validate DNSSEC, follow CNAMEs for the caller (libunbound does that), or cache
// across runs.
#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "check/records.hpp"
#include "splitmail/dns/context.hpp"

namespace splitmail::provision::check {

enum class dns_status { answer, nodata, nxdomain, error };

struct dns_limits {
    std::chrono::milliseconds per_query{3000};
    std::chrono::milliseconds overall{20000};
    int give_up_after = 2; // consecutive timeouts
};

struct dns_answer {
    dns_status status = dns_status::error;
    std::vector<std::string> records; // presentation format, as the resolver answered
    std::string error;                // resolver trouble or unparsable records
};

class dns_query {
public:
    // forwarder "ip:port" / "[v6]:port"; "" = /etc/resolv.conf.
    static std::expected<std::unique_ptr<dns_query>, std::string>
    create(const std::string& forwarder, dns_limits limits = {});
    ~dns_query() = default;
    dns_query(const dns_query&) = delete;
    dns_query& operator=(const dns_query&) = delete;

    dns_answer query(const std::string& name, rr_type type);
    const std::string& resolver_text() const { return resolver_; } // for messages
    // Why further lookups are not tried ("" while the resolver still counts as reachable).
    const std::string& unreachable() const { return unreachable_; }

private:
    dns_query(splitmail::dns::context ctx, std::string resolver, dns_limits limits)
        : ctx_(std::move(ctx)), resolver_(std::move(resolver)), limits_(limits) {}
    splitmail::dns::context ctx_;
    std::string resolver_;
    dns_limits limits_;
    std::chrono::steady_clock::duration spent_{};
    int timeouts_in_a_row_ = 0;
    std::string unreachable_;
};

} // namespace splitmail::provision::check
