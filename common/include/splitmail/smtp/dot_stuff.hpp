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

// The same encoding for a message that arrives in pieces (read from the spool in chunks):
// feed() every piece in order, then finish() once. The output does not depend on where the
// message was cut (the same octets as append_dot_stuffed on the whole).
class dot_stuffer {
public:
    void feed(std::string& out, std::string_view piece);
    void finish(std::string& out); // the final CRLF if missing, then "." CRLF

private:
    bool at_line_start_ = true;
    bool empty_ = true;
    char last_[2] = {0, 0}; // the last two octets fed
};

} // namespace splitmail::smtp
