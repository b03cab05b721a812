// DATA body reader: see data_reader.hpp. One state per position relative to a line start; a
// line start exists only after CRLF (never after a bare LF or CR), which is what keeps the
// terminator unambiguous (CVE-2023-51764).
#include "splitmail/smtp/data_reader.hpp"

namespace splitmail::smtp {

namespace {
constexpr std::uint64_t max_line_text = 998; // RFC 5321 4.5.3.1.6: 1000 octets incl. CRLF
}

data_reader::error data_reader::err() const {
    if (bare_lf_) return error::bare_lf;
    if (bare_cr_) return error::bare_cr;
    if (too_big_) return error::too_big;
    return error::none;
}

void data_reader::reset() { *this = data_reader(max_size_); }

void data_reader::emit(std::string& out, std::string_view bytes) {
    if (failed()) {
        size_ += bytes.size();
        return;
    }
    if (max_size_ != 0 && size_ + bytes.size() > max_size_) {
        // Keep exactly the first max_size_ octets, however the input was split, so the output
        // does not depend on read boundaries.
        out.append(bytes.substr(0, static_cast<std::size_t>(max_size_ - size_)));
        too_big_ = true;
    } else {
        out.append(bytes);
    }
    size_ += bytes.size();
}

void data_reader::count_line_octets(std::size_t n) {
    line_len_ += n;
    if (line_len_ > max_line_text && !line_counted_) {
        line_counted_ = true;
        ++long_lines_;
    }
}

void data_reader::end_line() {
    line_len_ = 0;
    line_counted_ = false;
}

data_reader::result data_reader::feed(std::string_view in, std::string& out) {
    std::size_t i = 0;
    const std::size_t n = in.size();
    while (i < n && state_ != st::done) {
        const char c = in[i];
        switch (state_) {
        case st::line_start:
            if (c == '.') {
                // RFC 5321 4.5.2: a leading dot is either the terminator or stuffing; decide
                // on the next octet. It is never part of the content.
                count_line_octets(1);
                state_ = st::dot;
                ++i;
            } else {
                state_ = st::mid; // reprocess c as ordinary line content
            }
            break;
        case st::dot:
            if (c == '\r') {
                state_ = st::dot_cr;
                ++i;
            } else {
                state_ = st::mid; // stuffed dot dropped; c is content (a bare LF is caught there)
            }
            break;
        case st::dot_cr:
            if (c == '\n') {
                state_ = st::done; // CRLF "." CRLF: the only terminator
                ++i;
            } else {
                // ".\r" followed by something else: a bare CR; keep reading.
                bare_cr_ = true;
                count_line_octets(1);
                state_ = st::mid;
            }
            break;
        case st::mid: {
            auto stop = in.find_first_of("\r\n", i);
            if (stop == std::string_view::npos) stop = n;
            if (stop > i) {
                emit(out, in.substr(i, stop - i));
                count_line_octets(stop - i);
                i = stop;
            }
            if (i < n) {
                if (in[i] == '\r') {
                    state_ = st::cr;
                } else {
                    // Bare LF: a smuggling vector. It does not start a line (so "\n.\r\n" and
                    // "\n.\n" are plain content), the message is refused after the terminator.
                    bare_lf_ = true;
                    end_line();
                }
                ++i;
            }
            break;
        }
        case st::cr:
            if (c == '\n') {
                emit(out, "\r\n");
                end_line();
                state_ = st::line_start;
                ++i;
            } else {
                // Bare CR ("\r.\r" and similar): content, never a line end.
                bare_cr_ = true;
                count_line_octets(1);
                state_ = st::mid;
            }
            break;
        case st::done: break;
        }
    }
    return result{state_ == st::done, i};
}

} // namespace splitmail::smtp
