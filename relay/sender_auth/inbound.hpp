#pragma once
// Sender authentication of inbound mail at the relay (issue 17): DKIM verified while DATA
// streams, SPF from relay/spf, DMARC (relay/dmarc) from both, iprev of the client, all in one
// Authentication-Results field (RFC 8601) with our hostname as authserv-id, in front of the
// Received-SPF and Received fields; a DMARC p=reject failure can refuse the message.
//
// Data path (never the whole message in memory):
//   the SMTP sink calls message_tap::begin() at 354, header() with the header block (the
//   DKIM-Signature fields are parsed and each signature's header data and body hasher are set
//   up; the block returned is what gets stored: any Authentication-Results field claiming our
//   authserv-id removed, RFC 8601 5), body() with every chunk as it goes to the spool file
//   (each signature's body hash advances), and reset() when the message is refused;
//   at the end of DATA the driver calls check_inbound(): the DKIM key and DMARC record lookups
//   start (in parallel, through libunbound on its pool, all within dkim_verify.timeout), the
//   SPF check runs meanwhile, then one log line per signature and one for DMARC, and the
//   prefix fields or the refusal.
//
// Guarantees: outgoing mail (authenticated or from relay.trusted_networks) is neither checked
// nor filtered; the only refusal is a DMARC failure whose applied policy is reject while
// dmarc.on_reject is "reject" (550 5.7.1, RFC 7489 6.7 / 10.3); with auth_results.add off
// only Received-SPF is written, but forged fields are still removed; delivery::size is
// corrected for the octets removed.
// With cfg->reports set, every inbound message whose From: domain has a DMARC record leaves
// one observation (splitmail/dmarc/records.hpp) for the aggregate reports, refused ones
// included.
// Does not: ARC, send DMARC reports (dmarc/report_job.hpp), file quarantined mail into Junk
// (the A-R field says policy.dmarc=quarantine; home does not act on it yet).
#include "dkim/verifier.hpp"
#include "dmarc/policy.hpp"
#include "dmarc/store.hpp"
#include "dns/resolver.hpp"
#include "sender_auth/auth_results.hpp"
#include "smtp_in/session.hpp"
#include "spf/inbound.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::sender_auth {

struct config {
    std::string authserv_id; // our hostname
    bool add_results = true; // auth_results.add
    bool dkim = true;        // dkim_verify.enabled (and a resolver exists)
    std::size_t max_signatures = 5;
    bool iprev = true; // iprev.enabled
    std::chrono::milliseconds dkim_timeout{10000};
    dns::unbound_resolver* resolver = nullptr; // for DKIM keys; null: dkim=temperror
    const dmarc::suffix_list* psl = nullptr;   // DMARC on when set (dmarc.enabled)
    enum class reject_action { reject, quarantine, none } on_reject = reject_action::reject;
    dmarc::recorder* reports = nullptr; // dmarc_reports.enabled: record observations
};

// What we did with a message, for the reports (RFC 7489 Appendix C disposition): reject when
// refused; a reject that dmarc.on_reject says not to apply is the quarantine or the delivery
// it asks for; none for a pass (pure).
dmarc::policy reported_disposition(const dmarc::outcome& dm, bool refused,
                                   config::reject_action on_reject);

// The observation a DMARC outcome with a record leaves for the reports (pure).
dmarc::observation observe(const dmarc::outcome& dm, dmarc::policy disposition,
                           const std::optional<inbound_spf>& spf, const queue::envelope& env,
                           const dkim::message_verifier* dkim, std::int64_t now);

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
    const std::vector<std::string>& from_domains() const { return from_domains_; }
    std::size_t removed_fields() const { return removed_fields_; }
    std::size_t removed_octets() const { return removed_octets_; }

private:
    const config* cfg_;
    bool inbound_ = false;
    std::optional<dkim::message_verifier> verifier_;
    std::vector<std::string> from_domains_; // for DMARC, read from the header block
    std::string filtered_;
    std::size_t removed_fields_ = 0, removed_octets_ = 0;
};

// iprev (RFC 8601 3): the client address's PTR names (at most 10 are followed), each looked up
// forward (A for IPv4, AAAA for IPv6); pass when one of them has the address.
struct iprev_outcome {
    std::string result; // pass, fail, temperror, permerror
    std::string name;   // the confirmed name (pass), or what was found
    std::string reason;
};
std::vector<std::string> ptr_names(const std::optional<dkim::key_answer>& ptr);
iprev_outcome evaluate_iprev(std::string_view client_ip, const std::optional<dkim::key_answer>& ptr,
                             const std::vector<std::string>& names,
                             const std::vector<std::optional<dkim::key_answer>>& forward);

// The Authentication-Results methods for what was checked: spf (when checked) with
// smtp.mailfrom or smtp.helo, then one dkim per signature (or dkim=none when unsigned and
// verification is on).
std::vector<method_result> describe(const std::optional<inbound_spf>& spf,
                                    const queue::envelope& env, const dkim::message_verifier* dkim,
                                    const std::optional<dmarc::outcome>& dmarc = std::nullopt,
                                    const std::optional<iprev_outcome>& iprev = std::nullopt);

// One DNS question; the answers come back decoded per type (TXT: the strings of each record
// joined; PTR: names; A/AAAA: address text) in dkim::key_answer::txt.
struct dns_query {
    std::string name;
    int type = 16; // TXT
};

// DNS lookups started at once (in parallel on the resolver's pool) and collected later, so
// other work (SPF) runs meanwhile. wait() returns when every answer is in or at the deadline,
// whichever comes first; a question without an answer is nullopt. Queries not yet sent at the
// deadline are not sent; one in flight finishes in the background.
class dns_lookups {
public:
    dns_lookups(dns::unbound_resolver& resolver, std::chrono::steady_clock::time_point deadline,
                const std::vector<dns_query>& queries);
    boost::asio::awaitable<std::vector<std::optional<dkim::key_answer>>> wait();

private:
    struct state;
    std::shared_ptr<state> st_;
    std::chrono::steady_clock::time_point deadline_;
};

// TXT lookups of `names` started and waited for, all within `timeout`.
boost::asio::awaitable<std::vector<std::optional<dkim::key_answer>>>
lookup_txt(dns::unbound_resolver& resolver, std::chrono::milliseconds timeout,
           std::vector<std::string> names);

// DMARC of a message: every From: domain evaluated (at most 5), the strictest outcome.
// `answers` maps each name dmarc_names() returned to its lookup.
std::vector<std::string> dmarc_names(const std::vector<std::string>& from_domains,
                                     const dmarc::suffix_list& psl);

struct checked {
    std::string prefix;                 // Authentication-Results, Received-SPF
    std::optional<smtp::reply> refusal; // DMARC p=reject failure (nothing may be spooled)
    // Domains the message proved: the envelope sender's domain when its SPF passed (not the
    // HELO identity), and d= of every DKIM signature that verified (greylist skip list).
    std::vector<std::string> verified;
};

// The end-of-DATA step. `cfg` null: only Received-SPF, as before issue 17's DKIM part.
boost::asio::awaitable<checked> check_inbound(spf_checker* spf, const config* cfg, message_tap* tap,
                                              delivery& d, std::string log_id);

} // namespace splitmail::relay::sender_auth
