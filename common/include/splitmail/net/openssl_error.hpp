#pragma once
// The reason for the last OpenSSL failure of this thread, for error messages.
//
// Guarantees: takes the oldest queued error and clears the rest of this thread's queue, so a
// later message does not report a stale error; "unknown OpenSSL error" when none is queued.
#include <string>

namespace splitmail::net {

std::string openssl_error();

} // namespace splitmail::net
