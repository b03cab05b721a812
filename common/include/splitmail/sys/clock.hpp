#pragma once
// Calendar times into std::chrono::system_clock without overflow. The clock counts
// nanoseconds in an int64 (about the years 1678 to 2261), and from_time_t of a time outside
// that is signed overflow, undefined: a certificate valid until 9999 (X.509's "no expiry"), a
// Retry-After date in the year 14 or a damaged state file would reach it (found by the
// acme_json fuzz corpus under UBSan).
// Guarantees: the result is the given time when it lies between the years 1685 and 2255, else
// the nearest end of that range (an early time stays in the past, a late one in the future).
#include <algorithm>
#include <chrono>
#include <ctime>

namespace splitmail::sys {

inline std::chrono::system_clock::time_point from_time_t_clamped(std::time_t t) {
    constexpr std::time_t limit = 9'000'000'000; // seconds from 1970, both ways
    return std::chrono::system_clock::from_time_t(std::clamp<std::time_t>(t, -limit, limit));
}

// A broken-down UTC time (timegm(3)), clamped as above.
inline std::chrono::system_clock::time_point from_utc_tm(std::tm tm) {
    return from_time_t_clamped(::timegm(&tm));
}

} // namespace splitmail::sys
