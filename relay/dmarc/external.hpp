#pragma once
// Verifying external report destinations (RFC 7489 7.1) as pure functions: a rua= address
// whose domain is not in the policy domain's Organizational Domain may only get reports when
// the destination publishes "<policy-domain>._report._dmarc.<destination-domain>" with a TXT
// record starting "v=DMARC1". The caller does the DNS lookup (through the relay's resolver).
//
// Guarantees: is_external() compares Organizational Domains (3.2), case-insensitively;
// authorises() is true only for a found lookup with a string starting with "v=DMARC1" (7.1:
// any such record; its own rua= override is not honoured, see below).
// Does not: query DNS, or apply the destination record's rua= rewrite (7.1 allows the
// destination to name other addresses; we then send nothing rather than follow it).
#include "dmarc/policy.hpp"

#include <string>
#include <string_view>

namespace splitmail::relay::dmarc {

// The domain of an address ("" when none), lower-case.
std::string address_domain(std::string_view address);

bool is_external(std::string_view policy_domain, std::string_view dest_domain,
                 const suffix_list& psl);

// "<policy-domain>._report._dmarc.<dest-domain>" (7.1 step 2).
std::string verification_name(std::string_view policy_domain, std::string_view dest_domain);

bool authorises(const lookup& answer);

} // namespace splitmail::relay::dmarc
