#pragma once
// `splitmail dmarc recorded [--config FILE | --dir DIR] [--day YYYY-MM-DD]`: what the relay has
// recorded for DMARC aggregate reports (issue 17) on one UTC day (default: today): per policy
// domain, the number of messages, and per source address how many passed DMARC (an aligned
// SPF or DKIM pass) and how many failed. The records are read from dmarc_reports.dir of
// relay.toml (through the relay's own settings table) or from --dir.
//
// Exit status: 0 success (also when nothing was recorded), 1 the records cannot be read,
// 2 usage error. Does not: send or rebuild reports, or talk to the relay.
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_dmarc(std::span<const std::string> args);
int run_dmarc(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
