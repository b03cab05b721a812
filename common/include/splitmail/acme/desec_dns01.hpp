#pragma once
// dns-01 (RFC 8555 8.4) through deSEC: the _acme-challenge TXT records of an order written in
// one bulk request, and removed in one after validation.
//
// Guarantees: all tasks of one present() go out as a single atomic PATCH (deSEC bulk write),
// with one RRset per _acme-challenge name holding every value for it (the apex and its
// wildcard share _acme-challenge.<domain>, so both values sit in one RRset); the TTL is the
// domain's minimum_ttl (read from deSEC), so resolvers keep a stale value as briefly as the
// domain allows. present() returns only once `visible` has reported every value as served
// (it is meant to ask the domain's authoritative servers directly, not a cache), polling
// every `check_interval` for at most `propagation_timeout`. cleanup() deletes the RRsets
// (`records: []`). Works with a token whose policy allows writing only TXT at
// _acme-challenge(.<sub>) names of the domain.
// Does not: look up the authoritative servers itself (the caller's `visible` does), or handle
// names outside `zone`.
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "splitmail/acme/client.hpp"
#include "splitmail/desec/client.hpp"

namespace splitmail::acme {

// The RRsets to write for `tasks` in `zone` (pure): subname "_acme-challenge" or
// "_acme-challenge.<sub>", TXT values quoted as deSEC wants them, sorted by subname. A task
// outside `zone` is an error naming it.
result<std::vector<desec::rrset>>
challenge_rrsets(std::string_view zone, std::span<const challenge_task> tasks, std::uint32_t ttl);

class desec_dns01_solver final : public challenge_solver {
public:
    // Whether the authoritative servers answer every value in `txt_values` (unquoted) for
    // `fqdn` ("_acme-challenge.example.org"). An error is reported and ends present().
    using visibility_check = std::function<result<bool>(
        const std::string& fqdn, const std::vector<std::string>& txt_values)>;

    struct options {
        std::string zone; // the deSEC domain, e.g. "example.org"
        std::chrono::seconds check_interval{5};
        std::chrono::seconds propagation_timeout{600};
        std::function<void(std::chrono::seconds)> sleep; // default: std::this_thread::sleep_for
    };

    desec_dns01_solver(desec::client& api, visibility_check visible, options o);

    std::string type() const override { return "dns-01"; }
    result<> present(std::span<const challenge_task> tasks) override;
    void cleanup(std::span<const challenge_task> tasks) override;
    // The error of the last cleanup, "" when it succeeded (cleanup cannot fail the issuance).
    const std::string& cleanup_error() const noexcept { return cleanup_error_; }

private:
    desec::client& api_;
    visibility_check visible_;
    options options_;
    std::string cleanup_error_;
};

} // namespace splitmail::acme
