#pragma once
// Queue ids: unique, sortable by creation time, safe as file names and in Received headers.
//
// An id is 18 characters of Crockford base32 (0-9, A-Z without I L O U): 10 for the creation
// time in milliseconds since the epoch, 4 for a per-process counter, 4 random. Within one
// process ids are strictly increasing (a mutex-guarded (time, counter) pair); the random part
// keeps two processes apart. ASCII order equals creation order. Thread-safe.
//
// Does not: parse anything but syntax (is_valid_id); ids carry no meaning beyond their time.
#include <chrono>
#include <string>
#include <string_view>

namespace splitmail::queue {

inline constexpr std::size_t id_length = 18;

std::string make_id();
// Same, with an injected clock value (for tests).
std::string make_id(std::chrono::system_clock::time_point now);

// True if `s` has the shape of an id (length and alphabet): safe to use in a path.
bool is_valid_id(std::string_view s);

} // namespace splitmail::queue
