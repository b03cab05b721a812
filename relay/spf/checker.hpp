#pragma once
// SPF at the relay (issue 17): the RFC 7208 evaluator of common/spf for an inbound message's
// MAIL FROM identity (the null sender: postmaster@HELO, RFC 7208 2.4), over the relay's
// libunbound resolver, and the Received-SPF field that records it.
//
// Guarantees:
//  - the evaluation (blocking libunbound calls) runs on the resolver's thread pool, never on
//    an io thread; check() resumes on the caller's executor;
//  - one evaluation takes at most `timeout` (RFC 7208 4.6.4: at least 20 s is suggested): then
//    the result is temperror ("timed out"); queries after the deadline are not sent, and a
//    query still in flight finishes in the background with its answer dropped;
//  - DNS answers map to the evaluator's statuses: NXDOMAIN, NOERROR without data (or with
//    only unusable rdata), SERVFAIL/timeouts/no resolver = temp_error.
// Does not: reject or defer anything (the result is recorded; DMARC decides later), evaluate
// the HELO identity of a message with a non-null sender, or cache answers (libunbound does).
#include "dns/resolver.hpp"

#include "splitmail/spf/evaluator.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace splitmail::relay {

// spf::dns_client over libunbound, refusing to start queries after `deadline`.
class unbound_spf_dns final : public spf::dns_client {
public:
    unbound_spf_dns(dns::unbound_resolver& r, std::chrono::steady_clock::time_point deadline)
        : resolver_(r), deadline_(deadline) {}
    spf::dns_answer query(std::string_view name, spf::rr_type type) override;

private:
    dns::unbound_resolver& resolver_;
    std::chrono::steady_clock::time_point deadline_;
};

class spf_checker {
public:
    spf_checker(dns::unbound_resolver& resolver, std::chrono::milliseconds timeout,
                std::string receiver)
        : resolver_(resolver), timeout_(timeout), receiver_(std::move(receiver)) {}

    // check_mail_from (RFC 7208 2.4) for a client; an unparsable client_ip gives permerror.
    boost::asio::awaitable<spf::evaluation> check(std::string client_ip, std::string mail_from,
                                                  std::string helo);

    const std::string& receiver() const { return receiver_; }

private:
    dns::unbound_resolver& resolver_;
    std::chrono::milliseconds timeout_;
    std::string receiver_;
};

} // namespace splitmail::relay
