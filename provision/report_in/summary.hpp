#pragma once
// What `splitmail dmarc report` prints: DMARC aggregate reports (RFC 7489 7.2) received at our
// rua= address, de-duplicated and summed up per policy domain, as text or JSON.
//
// For each policy domain (policy_published/domain): each report (reporting organisation, date
// range, published policy) with its rows (source IP, message count, the reporter's DMARC-
// aligned DKIM and SPF verdicts, disposition), then "who sends as you": per source IP, the
// messages that failed DMARC (neither aligned DKIM nor aligned SPF passed: spoofing, or a
// sender you forgot to authorise) and those that passed.
//
// Guarantees: pure (the caller reads files); the same inputs in the same order give the same
// output byte for byte; a report seen again (same org_name and report_id, RFC 7489 7.2.1.1:
// report_id is unique per reporter) is counted once and listed as a skipped duplicate; every
// text that came from a file is printed without control characters; sums are exact (counts
// are capped by aggregate_parse.hpp). Output ordering: domains by name; reports by begin
// time, org, id; rows by count (descending), then IP; sources by failing count (descending),
// then passing count, then IP.
// Does not: read files, or judge whether a source IP is "ours" (only DMARC's verdict is shown).
#include "splitmail/dmarc/aggregate_parse.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace splitmail::provision::report_in {

struct input_report {
    std::string source; // "path" or "path: attachment ..."
    dmarc::report_in::aggregate_report report;
};

struct skipped_input {
    std::string source, reason;
};

struct source_total {
    std::string ip;
    std::uint64_t pass = 0, fail = 0;
};

struct domain_summary {
    std::string domain;
    std::vector<input_report> reports;
    std::vector<source_total> sources;
    std::uint64_t pass = 0, fail = 0;
};

struct summary {
    std::vector<domain_summary> domains;
    std::vector<skipped_input> skipped; // inputs in order, then duplicates
    std::size_t reports = 0, duplicates = 0;
};

summary summarise(std::vector<input_report> reports, std::vector<skipped_input> skipped);

std::string render_text(const summary& s);
// {"reports": N, "duplicates": N, "domains": [{"domain", "messages", "pass", "fail",
//   "reports": [{"org_name", "email", "report_id", "begin", "end", "source",
//                "policy": {"p", "sp", "pct", "adkim", "aspf"},
//                "rows": [{"source_ip", "count", "dkim", "spf", "disposition", "dmarc",
//                          "header_from", "envelope_from"}]}],
//   "sources": [{"source_ip", "pass", "fail"}]}],
//  "skipped": [{"source", "reason"}]}
// "begin"/"end" are Unix times; "dmarc" is "pass" or "fail".
std::string render_json(const summary& s);

// "2026-12-01 00:00" (UTC) for a Unix time.
std::string utc_minute(std::int64_t t);

} // namespace splitmail::provision::report_in
