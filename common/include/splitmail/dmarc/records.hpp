#pragma once
// DMARC aggregate report records (issue 17, RFC 7489 7.2), shared by the relay (which writes
// them at the end of DATA and reports them, relay/dmarc) and `splitmail dmarc recorded`
// (which reads them): one observation per inbound message whose From: domain had a DMARC
// record, one line each in a per-period append-only file of the relay's state directory
// (dmarc_reports.dir, by default <spool.dir>/dmarc, next to the greylist's state file), named
// "records-BEGIN-END.log" (unix seconds, END exclusive); "records-BEGIN-END.sent" marks a
// period whose reports were handed to the queue.
//
// Line format (version 2), fields separated by one space, each field percent-encoded (every
// octet outside 0x21..0x7e, and '%' ',' ';' are %XX; an empty field is "-", a field that is
// "-" itself is "%2D"):
//   1 TIME IP HEADER_FROM ENVELOPE_FROM POLICY_DOMAIN SPF_DOMAIN SPF_SCOPE SPF_RESULT
//     ALIGNED DISPOSITION P SP PCT ADKIM ASPF FO DKIM RUA REASON
// ALIGNED is two letters (DKIM, SPF) of p/f; ADKIM/ASPF are r/s; DKIM is a ','-list of
// "domain;selector;result" ("-" when empty), RUA a ','-list of "address;max_size", REASON
// none, sampled_out or local_policy. Version 1 lines (no REASON) are still read (reason none).
//
// Guarantees: decode(encode(o)) == o for every observation whose enumerated fields hold the
// values below, whose source IP, header_from and policy domain are not empty, whose DKIM
// domains are not empty and whose lists are within the limits (encode() cuts longer lists: at
// most max_dkim signatures and 10 rua); encode() never emits '\n' or '\r'; decode() never
// throws and rejects anything else with a reason (unknown version, wrong field count, bad enum
// values, numbers out of range, broken escapes). period_of() is pure (periods are aligned to
// multiples of the interval since the epoch, so a 1d interval gives UTC days); list_periods()
// returns the periods found, sorted by begin, each with whether it was sent; read_period()
// counts undecodable lines (and a last line cut by a crash) instead of failing; mark_sent()
// makes the .sent file durable (write temp, fsync, rename, fsync dir) before it returns.
// Does not: append (the relay's recorder, relay/dmarc/store.hpp), aggregate or send
// (relay/dmarc/report.hpp, report_job.hpp).
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace splitmail::dmarc {

enum class policy { none, quarantine, reject };
std::string_view to_string(policy p);
std::optional<policy> parse_policy(std::string_view v);

// Why the disposition differs from the published policy (RFC 7489 Appendix C
// PolicyOverrideType, the values this receiver can have): pct= sampling let the message through
// with the next lower policy (sampled_out), or the receiver's own setting (dmarc.on_reject)
// did not apply a reject (local_policy).
enum class override_reason { none, sampled_out, local_policy };
std::string_view to_string(override_reason r);
std::optional<override_reason> parse_override_reason(std::string_view v);

// A rua= destination (RFC 7489 6.2): a mailto: address and its size limit (octets, 0 none).
struct report_uri {
    std::string address; // local@domain, percent-decoded, without "mailto:"
    std::uint64_t max_size = 0;
    bool operator==(const report_uri&) const = default;
};

struct dkim_auth {
    std::string domain;   // d=
    std::string selector; // s=
    std::string result;   // none pass fail policy neutral temperror permerror (RFC 7489 App. C)
    bool operator==(const dkim_auth&) const = default;
};

struct observation {
    std::int64_t time = 0;     // unix seconds, end of DATA
    std::string source_ip;     // the SMTP client
    std::string header_from;   // RFC5322.From domain
    std::string envelope_from; // RFC5321.MailFrom domain (the HELO name for the null sender)
    std::string policy_domain; // where the DMARC record was found
    std::string spf_domain;    // the identity SPF checked
    bool spf_helo = false;     // scope: helo (true) or mfrom
    std::string spf_result;    // none neutral pass fail softfail temperror permerror
    bool dkim_aligned = false; // DMARC-aligned DKIM pass (policy_evaluated/dkim)
    bool spf_aligned = false;  // DMARC-aligned SPF pass (policy_evaluated/spf)
    policy disposition = policy::none;              // what we did with the message
    override_reason reason = override_reason::none; // why disposition is not the policy
    policy p = policy::none;                        // the record as published
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

inline constexpr std::size_t max_line = 8192;

struct period {
    std::int64_t begin = 0;
    std::int64_t end = 0; // exclusive
    bool operator==(const period&) const = default;
};

period period_of(std::int64_t now, std::chrono::seconds interval);
std::string period_file_name(const period& p, std::string_view ext); // ext "log" or "sent"
std::optional<period> parse_period_file_name(std::string_view name, std::string_view ext);

struct stored_period {
    period p;
    std::filesystem::path log;
    bool sent = false;
};
std::vector<stored_period> list_periods(const std::filesystem::path& dir);

struct read_result {
    std::vector<observation> records;
    std::size_t bad_lines = 0;
};
std::expected<read_result, std::string> read_period(const std::filesystem::path& log);

std::error_code mark_sent(const std::filesystem::path& dir, const period& p);
// Removes the .log and .sent files of sent periods that ended before `before`.
void prune(const std::filesystem::path& dir, std::int64_t before);

} // namespace splitmail::dmarc
