#pragma once
// DMARC aggregate reports as receivers send them to our rua= address (RFC 7489 7.2 and
// Appendix C): the XML document parsed into a plain value, for `splitmail dmarc report`.
//
// What is read (Appendix C element names; any other element, and any attribute, is ignored):
//   feedback/report_metadata   org_name, email, report_id, date_range/begin, date_range/end
//   feedback/policy_published  domain, p, sp, pct, adkim, aspf
//   feedback/record            row/source_ip, row/count, row/policy_evaluated/{disposition,
//                              dkim, spf}, identifiers/{header_from, envelope_from},
//                              auth_results/dkim/{domain, selector, result},
//                              auth_results/spf/{domain, result}
// Namespaced documents (the DMARCbis drafts' xmlns) read the same: prefixes are dropped.
//
// Guarantees: pure; linear in the input; never throws on bad input. A report is returned only
// if the root is <feedback>, org_name, report_id and the policy domain are present, begin and
// end are Unix times with begin <= end, and every record has a valid IPv4/IPv6 source_ip and a
// decimal count <= max_count. Other problems are an error text naming the record ("record 3:
// count \"x\" is not a number"). At most `max_records` records and `max_auth_results` DKIM or
// SPF results per record (more is an error). Every string in the result is trimmed, at most
// `max_value` octets, and has its control characters (< 0x20, 0x7f) replaced by '?' so that a
// hostile report cannot write terminal escapes; keyword values (p, sp, adkim, aspf,
// disposition, dkim, spf, result) are lower-cased.
// Does not: check that the report's values are among the RFC's keywords (an unknown result is
// kept as written), verify who sent the report, or decide alignment itself (policy_evaluated
// already holds the reporter's DMARC-aligned verdicts, RFC 7489 Appendix C).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::dmarc::report_in {

inline constexpr std::size_t max_records = 200'000;
inline constexpr std::size_t max_auth_results = 100;
inline constexpr std::size_t max_value = 1024;
inline constexpr std::uint64_t max_count = 1'000'000'000'000ULL; // sums of many stay exact

struct published_policy {
    std::string domain, p, sp, adkim, aspf;
    std::optional<unsigned> pct; // 0..100 when present
};

struct dkim_result {
    std::string domain, selector, result;
};
struct spf_result {
    std::string domain, result;
};

struct report_record {
    std::string source_ip;
    std::uint64_t count = 0;
    // policy_evaluated: the reporter's DMARC-aligned verdicts and what it did.
    std::string disposition, dkim, spf;
    std::string header_from, envelope_from;
    std::vector<dkim_result> auth_dkim;
    std::vector<spf_result> auth_spf;
    // RFC 7489 3: a message passes DMARC when aligned DKIM or aligned SPF passes.
    bool dmarc_pass() const { return dkim == "pass" || spf == "pass"; }
};

struct aggregate_report {
    std::string org_name, email, report_id;
    std::int64_t begin = 0, end = 0; // date_range, seconds since the epoch (UTC)
    published_policy policy;
    std::vector<report_record> records;
};

// Parses one report document. The error text starts with "XML:" for a document that is not
// well-formed XML and with "report:" for well-formed XML that is not a usable report.
std::expected<aggregate_report, std::string> parse_aggregate_report(std::string_view xml);

} // namespace splitmail::dmarc::report_in
