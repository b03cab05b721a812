#pragma once
// Sender authentication of inbound mail at the relay (issue 17): DKIM verified while DATA
// streams, SPF from relay/spf, both recorded in one Authentication-Results field (RFC 8601)
// with our hostname as authserv-id, in front of the Received-SPF and Received fields.
//
// Data path (never the whole message in memory):
//   the SMTP sink calls message_tap::begin() at 354, header() with the header block (the
//   DKIM-Signature fields are parsed and each signature's header data and body hasher are set
//   up; the block returned is what gets stored: any Authentication-Results field claiming our
//   authserv-id removed, RFC 8601 5), body() with every chunk as it goes to the spool file
//   (each signature's body hash advances), and reset() when the message is refused;
//   at the end of DATA the driver calls inbound_auth_fields(): the key lookups (in parallel,
//   through libunbound on its pool, all within dkim_verify.timeout), the SPF check, one log
//   line per signature, and the prefix fields.
//
// Guarantees: outgoing mail (authenticated or from relay.trusted_networks) is neither checked
// nor filtered; nothing is refused here (results are recorded; DMARC decides later); with
// auth_results.add off only Received-SPF is written, but forged fields are still removed;
// delivery::size is corrected for the octets removed.
// Does not: DMARC, iprev, ARC.
#include "dkim/verifier.hpp"
#include "dns/resolver.hpp"
#include "sender_auth/auth_results.hpp"
#include "smtp_in/session.hpp"
#include "spf/inbound.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::sender_auth {

struct config {
    std::string authserv_id;                   // our hostname
    bool add_results = true;                   // auth_results.add
    bool dkim = true;                          // dkim_verify.enabled (and a resolver exists)
    std::size_t max_signatures = 5;
    std::chrono::milliseconds dkim_timeout{10000};
    dns::unbound_resolver* resolver = nullptr; // for DKIM keys; null: dkim=temperror
};

// One per connection, owned next to the spool sink.
class message_tap {
public:
    explicit message_tap(const config* cfg) : cfg_(cfg) {}
    void begin(bool inbound);
    // The header block to store (the input, or a copy without our forged fields).
    std::string_view header(std::string_view block);
    void body(std::string_view chunk);
    void reset();

    dkim::message_verifier* verifier() { return verifier_ ? &*verifier_ : nullptr; }
    std::size_t removed_fields() const { return removed_fields_; }
    std::size_t removed_octets() const { return removed_octets_; }

private:
    const config* cfg_;
    bool inbound_ = false;
    std::optional<dkim::message_verifier> verifier_;
    std::string filtered_;
    std::size_t removed_fields_ = 0, removed_octets_ = 0;
};

// The Authentication-Results methods for what was checked: spf (when checked) with
// smtp.mailfrom or smtp.helo, then one dkim per signature (or dkim=none when unsigned and
// verification is on).
std::vector<method_result> describe(const std::optional<inbound_spf>& spf,
                                    const queue::envelope& env,
                                    const dkim::message_verifier* dkim);

// Fetches the pending keys of `v` (parallel, all within `timeout`) and hands them to it;
// signatures still waiting at the deadline get temperror.
boost::asio::awaitable<void> fetch_keys(dns::unbound_resolver& resolver,
                                        std::chrono::milliseconds timeout,
                                        dkim::message_verifier& v);

// The prefix fields of a message at the end of DATA: Authentication-Results (inbound, when on),
// then Received-SPF. `cfg` null: only Received-SPF, as before issue 17's DKIM part.
boost::asio::awaitable<std::string> inbound_auth_fields(spf_checker* spf, const config* cfg,
                                                        message_tap* tap, delivery& d,
                                                        std::string log_id);

} // namespace splitmail::relay::sender_auth
