#pragma once
// rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html), the pure half:
// the request head of `POST /checkv2` (envelope and client facts as HTTP headers, the message
// as the body), the framing of the HTTP answer, and the JSON answer parsed into what the relay
// uses (action, score, symbols, milter header changes).
//
// Guarantees: header values built from client-supplied text (HELO, addresses) carry no CR, LF
// or NUL; the answer parser never throws, refuses JSON nested deeper than 32 levels, and keeps
// at most 200 symbols and 32 header changes (the caller bounds the answer's size).
// Does not: do any I/O (rspamd_client.hpp), decide anything (verdict.hpp), or support chunked
// or compressed answers (rspamd sends neither unless asked).
#include "splitmail/net/http.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::filter {

struct rspamd_request {
    std::string from;               // envelope sender, "" for the null sender
    std::vector<std::string> rcpts; // envelope recipients
    std::string ip;                 // client address
    std::string helo;
    std::string hostname; // client's verified host name, "" when unknown
    std::string user;     // authenticated submission user, "" otherwise
    std::string queue_id;
};

// "POST /checkv2 HTTP/1.1\r\n...\r\n\r\n" announcing `content_length` octets of message.
std::string rspamd_request_head(const rspamd_request& r, std::string_view host,
                                std::uint64_t content_length);

// The answer's framing is common to every HTTP peer (splitmail/net/http.hpp).
using net::http_response;
using net::parse_http_response;

struct rspamd_symbol {
    std::string name;
    double score = 0;
};

struct rspamd_header_change {
    std::string name, value;
};

struct rspamd_answer {
    std::string action; // "no action", "greylist", "add header", "rewrite subject",
                        // "soft reject", "reject" (anything else is kept as given)
    double score = 0;
    double required_score = 0;
    std::vector<rspamd_symbol> symbols;            // as listed by rspamd
    std::vector<rspamd_header_change> add_headers; // milter.add_headers, in answer order
    std::vector<std::string> remove_headers;       // milter.remove_headers (names)
    std::string smtp_message;                      // messages.smtp_message (logged only)
    std::string subject; // "rewrite subject": the new Subject (rspamd's `subject`), capped
};

// The JSON body of a 200 answer to /checkv2; an error names what is wrong.
std::expected<rspamd_answer, std::string> parse_rspamd_answer(std::string_view json);

} // namespace splitmail::relay::filter
