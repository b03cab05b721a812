#pragma once
// What the relay remembers of one inbound message for DMARC aggregate reports (RFC 7489 7.2):
// one observation per message whose From: domain had a DMARC record, kept as one line of a
// per-period file (dmarc/store.hpp) until the report for that period is sent.
//
// Line format (version 1), fields separated by one space, each field percent-encoded (every
// octet outside 0x21..0x7e, and '%' ',' ';' are %XX; an empty field is "-", a field that is
// "-" itself is "%2D"):
//   1 TIME IP HEADER_FROM ENVELOPE_FROM POLICY_DOMAIN SPF_DOMAIN SPF_SCOPE SPF_RESULT
//     ALIGNED DISPOSITION P SP PCT ADKIM ASPF FO DKIM RUA
// ALIGNED is two letters (DKIM, SPF) of p/f; ADKIM/ASPF are r/s; DKIM is a ','-list of
// "domain;selector;result" ("-" when empty), RUA a ','-list of "address;max_size".
//
// Guarantees: decode(encode(o)) == o for every observation whose enumerated fields hold the
// values below and whose lists are within the limits (encode() cuts longer lists: at most
// max_dkim signatures and 10 rua); encode() never emits '\n' or '\r'; decode() never throws and
// rejects anything else with a reason (unknown version, wrong field count, bad enum values,
// numbers out of range, broken escapes).
// Does not: read or write files (store.hpp), aggregate (report.hpp).
#include "dmarc/policy.hpp"

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dmarc {

struct dkim_auth {
    std::string domain;   // d=
    std::string selector; // s=
    std::string result;   // none pass fail policy neutral temperror permerror (RFC 7489 App. C)
    bool operator==(const dkim_auth&) const = default;
};

struct observation {
    std::int64_t time = 0;      // unix seconds, end of DATA
    std::string source_ip;      // the SMTP client
    std::string header_from;    // RFC5322.From domain
    std::string envelope_from;  // RFC5321.MailFrom domain (the HELO name for the null sender)
    std::string policy_domain;  // where the DMARC record was found
    std::string spf_domain;     // the identity SPF checked
    bool spf_helo = false;      // scope: helo (true) or mfrom
    std::string spf_result;     // none neutral pass fail softfail temperror permerror
    bool dkim_aligned = false;  // DMARC-aligned DKIM pass (policy_evaluated/dkim)
    bool spf_aligned = false;   // DMARC-aligned SPF pass (policy_evaluated/spf)
    policy disposition = policy::none; // what we did with the message
    policy p = policy::none;    // the record as published
    policy sp = policy::none;
    int pct = 100;
    bool adkim_strict = false;
    bool aspf_strict = false;
    std::string fo = "0";
    std::vector<dkim_auth> dkim;
    std::vector<report_uri> rua;
    bool operator==(const observation&) const = default;
};

inline constexpr std::size_t max_dkim = 10;

std::string encode(const observation& o);
std::expected<observation, std::string> decode(std::string_view line);

bool valid_dkim_result(std::string_view r);
bool valid_spf_result(std::string_view r);

} // namespace splitmail::relay::dmarc
