#pragma once
// Incremental command-line framer for SMTP/LMTP servers (and any CRLF line protocol).
//
// Guarantees: bytes may arrive in any split (byte by byte included); each line is returned once,
// without its line end. A line longer than the limit (RFC 5321 4.5.3.1.4: 1000 octets including
// CRLF, i.e. 998 of text) is reported as too_long exactly once, as soon as it is known, and the
// framer resynchronises after the next LF; the over-long bytes are never buffered beyond the
// limit. A line ended by a bare LF is returned (Postfix tolerates these in commands) with
// bare_lf = true so the session can decide. Bytes not yet returned stay available through
// buffered()/take_buffered()/discard_buffered(): take for the DATA hand-off, discard after
// STARTTLS (CVE-2011-0411: nothing pipelined before the TLS handshake may be executed after it).
// Does not do: command parsing, DATA dot-unstuffing (data_reader.hpp), any I/O.
#include <cstddef>
#include <string>
#include <string_view>

namespace splitmail::smtp {

class line_framer {
public:
    static constexpr std::size_t default_max_line = 1000; // octets including CRLF

    enum class status { line, need_more, too_long };
    struct result {
        status st = status::need_more;
        std::string line;     // without CR LF; valid when st == line
        bool bare_lf = false; // the line ended with LF not preceded by CR
    };

    explicit line_framer(std::size_t max_line = default_max_line);

    void feed(std::string_view bytes);
    result next();

    // Bytes received and not consumed by next() (while discarding an over-long line, none).
    std::size_t buffered() const { return buf_.size() - pos_; }
    std::string take_buffered();
    void discard_buffered();
    std::size_t max_line() const { return max_line_; }

private:
    void compact();

    std::size_t max_line_;
    std::string buf_;
    std::size_t pos_ = 0;     // first unconsumed byte of buf_
    bool discarding_ = false; // inside an over-long line: drop bytes up to the next LF
};

} // namespace splitmail::smtp
