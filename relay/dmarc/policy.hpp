#pragma once
// DMARC (RFC 7489) as pure functions: the policy record (6.3), identifier alignment (3.1) and
// the evaluation of one message (6.6), given what SPF and DKIM found and the records DNS gave.
// The caller does the DNS (relay/sender_auth) and decides what to do with the policy.
//
// Guarantees:
//  - parse_record(): "v=DMARC1" must be the first tag (6.3); p= is required and one of none,
//    quarantine, reject; sp= (default p), adkim=/aspf= r|s (default r), pct= 0..100 (default
//    100); rua= (6.2, 7.2.1.1): the comma-separated URIs, of which only mailto: ones are kept
//    (other schemes and malformed URIs are skipped, never an error), each with its optional
//    "!size" limit (k/m/g/t suffix, 0 = none); ri= (default 86400) kept; fo= kept as text
//    for the report's policy_published; ruf= and rf= are ignored; unknown tags are ignored;
//    the tag-list grammar is common/dkim/tag_list.hpp's;
//  - select_record(): of the TXT strings at _dmarc.<domain>, the ones starting with "v=DMARC1"
//    count; none -> no policy; more than one -> no policy (6.6.3);
//  - evaluate(): pass when an SPF pass or a DKIM pass is aligned with the From: domain, relaxed
//    (same Organizational Domain) or strict (equal) as the record asks; otherwise fail with the
//    policy to apply: sp= when the record came from the Organizational Domain for a subdomain,
//    and pct= sampling as 6.6.4 says (a message outside the sample gets the next lower policy:
//    reject -> quarantine -> none);
//  - several From: domains (6.6.1): each is evaluated, the strictest outcome is the message's.
// Does not: query DNS, send reports (dmarc/report*.hpp), check the external-destination rule
// of 7.1 (dmarc/external.hpp), or read ruf= (failure reports are not sent).
#include "dmarc/psl.hpp"

#include "splitmail/dmarc/records.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dmarc {

// The policy values and rua= destinations are shared with the report records (common/).
using splitmail::dmarc::override_reason;
using splitmail::dmarc::policy;
using splitmail::dmarc::report_uri;
using splitmail::dmarc::to_string;

struct record {
    policy p = policy::none;
    policy sp = policy::none;
    bool adkim_strict = false;
    bool aspf_strict = false;
    int pct = 100;
    std::vector<report_uri> rua; // mailto: only, at most 10
    std::uint32_t ri = 86400;    // 6.3 ri=: requested report interval (seconds)
    std::string fo = "0";        // 6.3 fo=, as published (reported, not acted on)
};

// rua='s value (6.2 / 6.4 dmarc-uri *(*WSP "," *WSP dmarc-uri)): mailto: URIs only.
std::vector<report_uri> parse_rua(std::string_view value);

std::expected<record, std::string> parse_record(std::string_view txt);

struct lookup {
    enum class status { found, none, temp_error } st = status::none;
    std::vector<std::string> txt; // the TXT strings at _dmarc.<domain> (found)
};

// The one DMARC record among `l`'s strings; nullopt with `why` set when there is none usable.
std::optional<record> select_record(const lookup& l, std::string& why);

enum class result { none, pass, fail, temperror, permerror };
std::string_view to_string(result r);

struct authenticated {
    bool spf_pass = false;
    std::string spf_domain;                // MAIL FROM domain (HELO for the null sender)
    std::vector<std::string> dkim_domains; // d= of each DKIM pass
};

struct outcome {
    result code = result::none;
    policy applied = policy::none;   // what the receiver should do (fail only)
    policy published = policy::none; // p= or sp= that applied before pct
    std::string from_domain;         // RFC5322.From domain (header.from)
    std::string reason;
    // When a record was found (pass or fail): the record, the domain it was found at (the
    // From: domain or its Organizational Domain) and the aligned results (7.2.1.1's
    // policy_evaluated dkim / spf).
    std::optional<record> rec;
    std::string policy_domain;
    bool dkim_aligned = false;
    bool spf_aligned = false;
};

// `from_lookup`: _dmarc.<from domain>; `org_lookup`: _dmarc.<organizational domain> (only
// consulted when the first has no record and the domains differ). `roll` in [0, 100) decides
// pct= sampling (the caller draws it at random; tests fix it).
outcome evaluate(std::string_view from_domain, const lookup& from_lookup, const lookup& org_lookup,
                 const authenticated& auth, const suffix_list& psl, int roll);

// The strictest of several (RFC 7489 6.6.1, more than one From: domain).
outcome strictest(const std::vector<outcome>& all);

// The From: domains of a header block (6.6.1): the distinct domains of the From: field's
// addresses, lower-case; empty when there is no single parsable From: field.
std::vector<std::string> from_domains(std::string_view header_block);

} // namespace splitmail::relay::dmarc
