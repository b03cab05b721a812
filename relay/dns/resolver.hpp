#pragma once
// MX resolution for outbound delivery: domain -> the hosts to try, in order, with their
// addresses (RFC 5321 5.1, RFC 7505 null MX).
//
// Guarantees (unbound_resolver):
//  - MX records in preference order, equal preferences shuffled; every host with its IPv6
//    (AAAA) addresses first, then IPv4 (A); hosts without any address are dropped;
//  - no MX records (NOERROR, no data) -> the domain itself is the implicit MX (RFC 5321 5.1);
//  - a null MX ("0 .") -> null_mx, the caller bounces at once with 5.1.10 (RFC 7505 4.1);
//  - NXDOMAIN, or names that exist but have no address anywhere -> a permanent status;
//    SERVFAIL, timeouts, an unreachable resolver -> temp_error (try again later);
//  - the blocking lookups run on a small private thread pool, never on the caller's io
//    thread; resolve_mx resumes on the caller's executor;
//  - a query is handed to libunbound's asynchronous interface (its own thread does the
//    network) and its caller waits for the answer; destruction cancels what is in flight
//    (those callers get a temporary error, "resolver stopped"), so a silent name server
//    never holds the relay's exit up.
// The libunbound context (forwarder or /etc/resolv.conf, local zones, loopback) is made by
// common/dns (splitmail/dns/context.hpp), shared with `splitmail check`.
// Does not: validate DNSSEC yet (it comes with DANE: the context is ready for a trust anchor),
// convert U-label domains to A-labels (IDNA), or detect that an MX points back at us.
#include "splitmail/dns/context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace splitmail::relay::dns {

enum class mx_status {
    ok,         // hosts is not empty
    null_mx,    // RFC 7505: the domain accepts no mail
    no_domain,  // NXDOMAIN
    no_address, // no MX host (or implicit MX) has an address
    temp_error  // resolver trouble; retry later
};

struct mx_host {
    std::string name; // exchange, lower-case, no trailing dot
    std::uint16_t preference = 0;
    std::vector<std::string> addresses; // "2001:db8::25", "192.0.2.25": IPv6 first
};

struct mx_answer {
    mx_status status = mx_status::temp_error;
    std::vector<mx_host> hosts;
    bool implicit = false; // no MX records: the domain's own A/AAAA
    std::string error;     // for logs and DSN diagnostics when status != ok
};

class resolver {
public:
    virtual ~resolver() = default;
    virtual boost::asio::awaitable<mx_answer> resolve_mx(std::string domain) = 0;
};

struct resolver_options {
    // "ip:port" ("127.0.0.1:5353", "[::1]:53") of a recursive resolver to forward to;
    // "" uses the name servers of /etc/resolv.conf. With a forwarder, names under .test and
    // the private reverse zones are asked to it too (splitmail/dns/context.hpp).
    std::string forwarder;
    std::size_t threads = 2;
};

class unbound_resolver final : public resolver {
public:
    static std::expected<std::unique_ptr<unbound_resolver>, std::string>
    create(const resolver_options& opt);
    ~unbound_resolver() override;

    boost::asio::awaitable<mx_answer> resolve_mx(std::string domain) override;
    // The same, blocking the calling thread (tools and tests).
    mx_answer lookup(const std::string& domain);

    // One query of any type, blocking the calling thread (SPF, relay/spf): the rdata items
    // as libunbound hands them out. Run it on pool(), never on an io thread.
    struct raw_answer {
        enum class status { ok, nxdomain, error } st = status::error;
        std::vector<std::vector<std::uint8_t>> data; // empty with ok: no data (NOERROR)
        std::string error;
    };
    raw_answer query_raw(const std::string& name, int rr_type);
    boost::asio::thread_pool& pool() { return pool_; }

    struct async_state; // libunbound's asynchronous interface and who waits on it

private:
    unbound_resolver(splitmail::dns::context ctx, std::unique_ptr<async_state> async,
                     std::size_t threads);
    splitmail::dns::context ctx_;
    std::unique_ptr<async_state> async_;
    boost::asio::thread_pool pool_;
};

} // namespace splitmail::relay::dns
