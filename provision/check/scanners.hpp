#pragma once
// The "scanners" check of `splitmail check` (relay machine, issue 18): do the content scanners
// relay.toml enables (rspamd.enabled, clamav.enabled) answer, and is clamd's signature
// database current? This header holds the pure half: the parser of clamd's VERSION answer and
// the findings made from what the probes got; scanner_probe.hpp does the I/O.
//
// Guarantees: parse_clamd_version never throws, keeps at most 64 printable characters of the
// engine version and accepts only a plausible date (ctime format, years 1970-9999); the
// findings' consequence text follows the scanner's on_failure setting.
// Does not: talk to anything, or decide what the relay does with mail (relay/filter/verdict).
#include <cstdint>
#include <ctime>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "check/finding.hpp"

namespace splitmail::provision::check {

// clamd(8) VERSION: "ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026" (engine / version of the
// daily signature database / its build time in clamd's ctime format), or only "ClamAV 1.0.7"
// when no daily database is loaded (e.g. only local .ndb signatures).
struct clamd_version {
    std::string engine;                 // "1.0.7"
    std::optional<std::uint64_t> db;    // 27480
    std::optional<std::time_t> db_time; // the build time, read as UTC (clamd prints its local
                                        // time without a zone: off by hours, never by days)
    bool operator==(const clamd_version&) const = default;
};

// One answer, with or without its trailing NUL / newline.
std::expected<clamd_version, std::string> parse_clamd_version(std::string_view text);

// "Fri Dec  4 09:31:02 2026" -> seconds since the epoch (as UTC); nullopt if not that shape.
std::optional<std::time_t> parse_ctime(std::string_view text);

// The signature database is stale when older than this (freshclam checks every 2 hours by
// default; ClamAV publishes daily updates).
inline constexpr long long clamd_db_max_age = 7 * 86400;

// What a probe found; `problem` empty means the scanner answered as expected.
struct rspamd_probe {
    std::string problem; // "connection refused", "no answer within 5 s", "HTTP status 500", ...
    std::string version; // from the answer's Server header ("3.4"), "" when absent
};

struct clamd_probe {
    std::string problem;
    std::optional<clamd_version> version; // when VERSION was understood
};

struct scanner_config {
    std::string address;
    bool tempfail_on_failure = false;
    std::string file; // relay.toml, for the fix text
};

finding rspamd_finding(const scanner_config& cfg, const rspamd_probe& p);
findings clamd_findings(const scanner_config& cfg, const clamd_probe& p, std::time_t now);

// The version in an HTTP answer's head ("Server: rspamd/3.4" -> "3.4"); "" when absent. Only
// the head (up to the empty line) is looked at; at most 32 printable characters are kept.
std::string rspamd_server_version(std::string_view answer);

} // namespace splitmail::provision::check
