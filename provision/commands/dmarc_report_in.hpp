#pragma once
// `splitmail dmarc report [--json] PATH...`: reads the DMARC aggregate reports that arrive at
// the domain's rua= address (RFC 7489 7.2) and says which sources send as the domain and
// whether DMARC passes for them.
//
//   PATH      a file (a report mail from a Maildir, or a bare .xml / .xml.gz / .zip), or a
//             Maildir folder: the files in its new/ and cur/ (names starting with "." are
//             left out), in name order
//   --json    the summary as JSON (report_in/summary.hpp has the schema)
//
// Output (report_in/summary.hpp): per policy domain, each report and its rows, then "who
// sends as you" (source IPs whose messages fail DMARC, and those that pass); then every file
// or attachment that was not used, one line each with the reason (not a report, malformed,
// too large, a duplicate of a report already read).
//
// Guarantees: reads only; a file larger than `max_report_file` is not read (skipped with the
// reason); decompression and parsing are capped (report_in/unpack.hpp, aggregate_parse.hpp);
// hostile input gives a skipped line, never a crash.
// Exit status: 0 when every PATH could be read (skipped files included), 1 when a PATH does
// not exist or is neither a file nor a Maildir folder (the rest is still summarised), 2 usage.
// Does not: fetch mail (point it at the Maildir that receives rua= mail), move or delete
// reports it has read, or keep state between runs.
#include <cstddef>
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

inline constexpr std::size_t max_report_file = 100u * 1024 * 1024;

int run_dmarc_report(std::span<const std::string> args);
int run_dmarc_report(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
