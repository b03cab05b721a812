#pragma once
// SMTP/LMTP replies: the value type, formatting for servers, and an incremental parser for
// clients (relay -> home LMTP, relay -> internet SMTP).
//
// Guarantees: format() emits RFC 5321 4.2 multi-line syntax ("250-a\r\n250 b\r\n"), with the
// RFC 2034 enhanced status code repeated on every line when set. reply_parser accepts bytes in
// any split, yields each complete reply once, and refuses (sticky error) malformed replies:
// bad code, code changing inside a multi-line reply, bad separator, over-long lines, too many
// lines. It tolerates bare LF line ends from peers (we are the client; be liberal in reading).
// Does not do: any I/O, any interpretation of the reply text.
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::smtp {

struct reply {
    int code = 0;
    std::string enhanced;           // "5.1.1", or "" when none (RFC 3463 / RFC 2034)
    std::vector<std::string> lines; // text of each line, without code / enhanced code / CRLF

    // "250-first\r\n250 last\r\n"; a reply without lines formats as "250\r\n" style with the
    // enhanced code alone when set.
    std::string format() const;
    // Text of all lines joined with "; " (for logs).
    std::string text() const;

    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; }
    bool permanent() const { return code >= 500 && code < 600; }
    friend bool operator==(const reply&, const reply&) = default;
};

reply make_reply(int code, std::string_view enhanced, std::string_view text);
reply make_reply(int code, std::string_view enhanced, std::vector<std::string> lines);

// True when `s` is an RFC 3463 status code "class.subject.detail" (class 2, 4 or 5; subject
// 0-999, detail 0-999, no leading zeros rule enforced loosely: 1-3 digits).
bool is_enhanced_code(std::string_view s);

class reply_parser {
public:
    enum class status { reply, need_more, error };
    struct result {
        status st = status::need_more;
        reply value;       // valid when st == reply
        std::string error; // valid when st == error (for logs)
    };

    // RFC 5321 4.5.3.1.5 sets 512 octets per reply line; real servers exceed it, so the default
    // is more liberal. max_lines bounds memory for huge answers (XDIRECTORY lists every user).
    explicit reply_parser(std::size_t max_line = 2048, std::size_t max_lines = 100000)
        : max_line_(max_line), max_lines_(max_lines) {}

    void feed(std::string_view bytes);
    // Next complete reply, need_more, or the (sticky) error.
    result next();
    // Bytes received but not yet part of a returned reply.
    std::size_t buffered() const { return buf_.size() - pos_; }
    bool failed() const { return !error_.empty(); }

private:
    bool parse_line(std::string_view line); // false on error (error_ set)

    std::size_t max_line_;
    std::size_t max_lines_;
    std::string buf_;
    std::size_t pos_ = 0;
    reply partial_;
    bool in_reply_ = false;
    std::deque<reply> ready_;
    std::string error_;
};

} // namespace splitmail::smtp
