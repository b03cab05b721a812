#pragma once
// DATA body reader (RFC 5321 4.1.1.4, 4.5.2): dot-unstuffing and the end-of-data terminator,
// hardened against SMTP smuggling (CVE-2023-51764 and relatives).
//
// Guarantees:
// - The ONLY terminator is CRLF "." CRLF, where the first CRLF may be the one that ended the
//   DATA command (an immediate ".\r\n" is an empty message). "\n.\n", "\n.\r\n", "\r\n.\n",
//   "\r.\r" and friends never end the data, so one DATA can never become two messages.
// - A bare LF or bare CR anywhere in the body is recorded (bare_lf / bare_cr); the reader keeps
//   consuming to the real terminator so the peer's following bytes are not read as commands.
// - Over the size limit the reader keeps consuming and discarding to the terminator, then
//   reports too_big; the output then holds exactly the first max_size octets. Once any error
//   is recorded nothing more is appended (the output is for diagnostics only then).
// - Output is the unstuffed content with CRLF kept and the final "." line excluded; it is never
//   longer than the input. Correct for any split of the input, byte by byte included.
// - Lines longer than 998 octets (RFC 5321 4.5.3.1.6) are counted, not refused.
// Does not do: BDAT, header parsing, any I/O.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace splitmail::smtp {

class data_reader {
public:
    enum class error { none, bare_lf, bare_cr, too_big };
    struct result {
        bool done = false;        // the terminator was consumed
        std::size_t consumed = 0; // bytes of this feed used; the rest belongs to what follows
    };

    // max_size: maximum unstuffed body size in octets; 0 means no limit.
    explicit data_reader(std::uint64_t max_size = 0) : max_size_(max_size) {}

    // Appends unstuffed content to `out`. After done, further feeds consume nothing.
    result feed(std::string_view bytes, std::string& out);

    bool done() const { return state_ == st::done; }
    // The error to report, most serious first: bare_lf, bare_cr, too_big.
    error err() const;
    bool saw_bare_lf() const { return bare_lf_; }
    bool saw_bare_cr() const { return bare_cr_; }
    bool too_big() const { return too_big_; }
    std::uint64_t size() const { return size_; } // unstuffed octets seen (also past the limit)
    std::uint64_t long_lines() const { return long_lines_; }
    void reset();

private:
    enum class st { line_start, dot, dot_cr, mid, cr, done };
    void emit(std::string& out, std::string_view bytes);
    void count_line_octets(std::size_t n);
    void end_line();
    bool failed() const { return bare_lf_ || bare_cr_ || too_big_; }

    std::uint64_t max_size_;
    st state_ = st::line_start;
    std::uint64_t size_ = 0;
    std::uint64_t line_len_ = 0; // wire octets of the current line so far (without line end)
    bool line_counted_ = false;
    std::uint64_t long_lines_ = 0;
    bool bare_lf_ = false;
    bool bare_cr_ = false;
    bool too_big_ = false;
};

} // namespace splitmail::smtp
