#pragma once
// Encoding a message for the DATA phase of SMTP/LMTP (client side), RFC 5321 4.5.2:
// a line starting with "." gets one more "."; the data ends with CRLF "." CRLF.
// The input is the message as stored (CRLF line ends). A missing final CRLF is added so the
// terminator always starts a line. Bare LF or CR are passed through unchanged (our server
// never stores them: it refuses them at DATA time).
#include <string>
#include <string_view>

namespace splitmail::smtp {

// Appends the transparency-encoded message plus the terminator to `out`.
void append_dot_stuffed(std::string& out, std::string_view message);

} // namespace splitmail::smtp
