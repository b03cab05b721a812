#pragma once
// RFC 5322 3.3 date-time for headers we write (Date:, Received:, DSN fields).
//
// Guarantees: always UTC ("+0000"), English day and month names written by hand, so neither
// the locale nor TZ can change the output: "Mon, 23 Nov 2026 16:57:17 +0000".
// Does not: parse dates.
#include <chrono>
#include <string>

namespace splitmail::smtp {

std::string rfc5322_date(std::chrono::system_clock::time_point tp);

} // namespace splitmail::smtp
