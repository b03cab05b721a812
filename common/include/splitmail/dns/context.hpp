#pragma once
// libunbound set-up shared by the relay's resolver (relay/dns) and `splitmail check`
// (provision/check): one way to make a context and one way to read what it answers.
//
// Guarantees:
//  - make_context("") uses the name servers of /etc/resolv.conf; make_context("ip:port")
//    forwards every query to that recursive resolver, including the names libunbound would
//    otherwise answer itself (the RFC 6761 .test names and the RFC 6303 reverse zones of the
//    private, loopback and documentation ranges): with an explicit resolver, it decides
//    (lab set-ups, the tests' DNS server);
//  - a resolver on loopback (a local unbound) may be asked: libunbound refuses 127.0.0.0/8
//    and ::1 by default;
//  - the context is asynchronous in a thread of libunbound's (ub_resolve_async; the default
//    would fork a process), so callers can wait with their own deadline or cancel;
//  - take_result frees the ub_result and tells NXDOMAIN, NOERROR without data, an answer, and
//    resolver trouble (an error code, SERVFAIL or another rcode, a DNSSEC failure) apart.
// Does not: wait for answers (each caller has its own concurrency: relay/dns/resolver.cpp a
// poller thread for many querying threads, provision/check/dns_query.cpp one thread with a
// deadline per query), validate DNSSEC (no trust anchor is configured yet; DANE will add it),
// or turn rdata into text (rdata.hpp).
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ub_ctx;
struct ub_result;

namespace splitmail::dns {

// "127.0.0.1:5353" -> "127.0.0.1@5353", "[::1]:53" -> "::1@53" (libunbound's syntax). An IPv6
// address needs brackets; errors say what is wrong.
std::expected<std::string, std::string> to_unbound_address(const std::string& host_port);

struct context_deleter {
    void operator()(ub_ctx* ctx) const noexcept;
};
using context = std::unique_ptr<ub_ctx, context_deleter>;

// forwarder: "ip:port" / "[v6]:port", or "" for /etc/resolv.conf.
std::expected<context, std::string> make_context(const std::string& forwarder);

enum class status { answer, nodata, nxdomain, error };

struct result {
    status st = status::error;
    std::vector<std::vector<std::uint8_t>> data; // the rdata items with status::answer
    std::string error;                           // with status::error
};

// One answer as libunbound's callback delivers it (err, r); frees r. `who` names the resolver
// in error texts ("resolver 127.0.0.1:53 answered rcode 2 (SERVFAIL)").
result take_result(int err, ub_result* r, std::string_view who);

} // namespace splitmail::dns
