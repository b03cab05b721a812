#pragma once
// The little HTTP/1.x the programs speak to local daemons (rspamd's normal worker from the relay,
// its controller from home): header values made safe, and the framing of an answer.
//
// Guarantees: http_header_value never returns CR, LF, NUL or another control character and
// at most 1000 bytes; parse_http_response never throws and accepts only a 1.x status line,
// a single Content-Length (or the body up to the close), no Transfer-Encoding.
// Does not: do I/O, or support chunked / compressed answers (rspamd sends neither unless asked).
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::net {

// Text (client-supplied or from a file) as an HTTP header value: controls become '_'.
std::string http_header_value(std::string_view s);

struct http_response {
    int status = 0;
    std::string_view body; // points into the text given to parse_http_response
};

// An HTTP/1.x answer read so far (`eof`: the peer closed). nullopt: need more bytes. The body
// ends at Content-Length, or at the close when there is none.
std::expected<std::optional<http_response>, std::string> parse_http_response(std::string_view in,
                                                                             bool eof);

} // namespace splitmail::net
