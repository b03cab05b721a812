// Incremental command-line framer: see line_framer.hpp.
#include "splitmail/smtp/line_framer.hpp"

namespace splitmail::smtp {

line_framer::line_framer(std::size_t max_line) : max_line_(max_line < 3 ? 3 : max_line) {}

void line_framer::feed(std::string_view bytes) {
    if (discarding_) {
        // Still inside an over-long line that was already reported: drop through the next LF.
        auto lf = bytes.find('\n');
        if (lf == std::string_view::npos) return;
        discarding_ = false;
        bytes.remove_prefix(lf + 1);
    }
    compact();
    buf_.append(bytes);
}

void line_framer::compact() {
    if (pos_ == 0) return;
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

line_framer::result line_framer::next() {
    result r;
    const std::size_t text_max = max_line_ - 2; // RFC 5321 4.5.3.1.4: 998 + CRLF
    std::string_view avail(buf_.data() + pos_, buf_.size() - pos_);
    // Only look as far as a legal line can reach (text + CR + LF), so a flood without LF costs
    // O(limit) per call, not O(buffer).
    std::string_view window = avail.substr(0, max_line_);
    auto lf = window.find('\n');
    if (lf == std::string_view::npos) {
        // No LF within the limit. It is over-long once the window is full, or once it holds
        // text_max + 1 octets whose last is not a CR (a CR there could still be the CRLF).
        bool too_long =
            avail.size() >= max_line_ || (avail.size() == max_line_ - 1 && avail.back() != '\r');
        if (!too_long) return r;
        // Drop the partial line; anything after an LF beyond the window is still valid input.
        auto later_lf = avail.find('\n', window.size());
        if (later_lf == std::string_view::npos) {
            buf_.clear();
            pos_ = 0;
            discarding_ = true;
        } else {
            pos_ += later_lf + 1;
        }
        r.st = status::too_long;
        return r;
    }
    std::string_view line = avail.substr(0, lf);
    bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    pos_ += lf + 1;
    if (line.size() > text_max) {
        r.st = status::too_long;
        return r;
    }
    r.st = status::line;
    r.line = std::string(line);
    r.bare_lf = !crlf;
    return r;
}

std::string line_framer::take_buffered() {
    std::string out = buf_.substr(pos_);
    buf_.clear();
    pos_ = 0;
    return out;
}

void line_framer::discard_buffered() {
    buf_.clear();
    pos_ = 0;
    discarding_ = false;
}

} // namespace splitmail::smtp
