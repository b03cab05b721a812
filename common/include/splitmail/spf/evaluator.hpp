#pragma once
// SPF evaluation, RFC 7208 check_host() (4) over an injected DNS interface, for the MAIL FROM
// and HELO identities (2.3, 2.4).
//
// Guarantees:
//  - results are those of RFC 7208 2.6 (none neutral pass fail softfail temperror permerror);
//  - at most 10 terms that query DNS (include a mx ptr exists redirect) per evaluation,
//    counted across include and redirect; the 11th gives permerror (4.6.4);
//  - more than 2 void lookups (NXDOMAIN or no data) give permerror (4.6.4);
//  - an mx mechanism with more than 10 MX names gives permerror; a ptr mechanism or the p
//    macro looks at no more than 10 PTR names (4.6.4); so the number of DNS queries of one
//    evaluation is bounded by a constant (about 10 * 11 + a few);
//  - an explanation (6.2) only for fail, built from the exp= of the record that decided the
//    fail (never from an included record), else the configured default;
//  - DNS temporary errors give temperror where 4.4, 5 and 4.6 say so; PTR errors never do (5.5).
// Does not: do DNS itself (the dns_client is injected; the relay wraps libunbound), time out
// (the client does), or decide what to do with a result (policy lives with the caller).
#include "splitmail/spf/record.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::spf {

enum class rr_type { a, aaaa, mx, txt, ptr };

enum class dns_status {
    ok,        // records holds at least one record
    nxdomain,  // the name does not exist (RCODE 3)
    no_data,   // the name exists, no record of this type
    temp_error // timeout, SERVFAIL, no resolver: try later
};

struct dns_answer {
    dns_status status = dns_status::temp_error;
    // A/AAAA: address text; MX: exchange names (no preference, any order); PTR: names;
    // TXT: one string per record with its character-strings joined (RFC 7208 3.3).
    // Names may carry a trailing dot and any case.
    std::vector<std::string> records;
};

// The DNS client SPF needs. Synchronous: the relay runs a whole evaluation on its resolver
// thread pool, tests answer from a table.
class dns_client {
public:
    virtual ~dns_client() = default;
    virtual dns_answer query(std::string_view name, rr_type type) = 0;
};

enum class result { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view to_string(result r);

struct options {
    // RFC 7208 6.2: text used when a fail has no usable exp=; macros allowed.
    std::string default_explanation = "See https://www.open-spf.org/Why?s=%{S}&i=%{I}";
    std::string receiver = "unknown"; // %{r} (7.1): our host name
    std::uint64_t now = 0;            // %{t}: seconds since the epoch
    unsigned lookup_limit = 10;       // 4.6.4
    unsigned void_limit = 2;          // 4.6.4
};

struct evaluation {
    result code = result::none;
    std::string explanation; // only for fail
    std::string mechanism;   // the term that matched ("-all", "redirect=..."), "" if none
    std::string problem;     // why permerror / temperror / none, for logs and headers
    std::string domain;      // the domain evaluated (the identity's domain)
    unsigned dns_terms = 0;  // terms that queried DNS (4.6.4 counter)
};

// check_host(ip, domain, sender) as RFC 7208 4 defines it. `sender` is "local@domain" (an
// empty local-part means "postmaster", 4.3); `helo` fills %{h}.
evaluation check_host(dns_client& dns, const ip_address& ip, std::string_view domain,
                      std::string_view sender, std::string_view helo, const options& opt = {});

// The MAIL FROM identity (2.4): the reverse-path's domain; a null reverse-path ("") uses
// postmaster@<helo> (2.4).
evaluation check_mail_from(dns_client& dns, const ip_address& ip, std::string_view mail_from,
                           std::string_view helo, const options& opt = {});

// The HELO identity (2.3): postmaster@<helo>; a HELO that is not a domain (an address
// literal, no dot) gives none.
evaluation check_helo(dns_client& dns, const ip_address& ip, std::string_view helo,
                      const options& opt = {});

// Macro expansion (RFC 7208 7.3, 7.4) of one macro-string.
struct macro_context {
    std::string_view sender;        // s
    std::string_view local;         // l
    std::string_view sender_domain; // o
    std::string_view domain;        // d
    const ip_address* ip = nullptr;
    std::string_view helo;     // h
    std::string_view receiver; // r
    std::uint64_t now = 0;     // t
    // p: called at most once per expansion that needs it; returns the validated name
    // or "unknown".
    std::string (*validated_name)(void* state) = nullptr;
    void* state = nullptr;
};
std::string expand_macros(const macro_string& m, const macro_context& ctx);

// "1.2.3.4" / "1.0.B.C.…" (7.3 %{i}) and the reverse names for PTR queries.
std::string ip_macro_text(const ip_address& ip);
std::string reverse_name(const ip_address& ip);

} // namespace splitmail::spf
