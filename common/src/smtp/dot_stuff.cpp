// DATA transparency encoding; see dot_stuff.hpp.
#include "splitmail/smtp/dot_stuff.hpp"

namespace splitmail::smtp {

void append_dot_stuffed(std::string& out, std::string_view message) {
    out.reserve(out.size() + message.size() + message.size() / 64 + 8);
    dot_stuffer d;
    d.feed(out, message);
    d.finish(out);
}

void dot_stuffer::feed(std::string& out, std::string_view piece) {
    if (piece.empty()) return;
    std::size_t i = 0;
    while (i < piece.size()) {
        // Copy up to and including the next LF in one go.
        if (at_line_start_ && piece[i] == '.') out.push_back('.');
        auto lf = piece.find('\n', i);
        if (lf == std::string_view::npos) {
            out.append(piece.substr(i));
            i = piece.size();
            at_line_start_ = false;
        } else {
            out.append(piece.substr(i, lf + 1 - i));
            i = lf + 1;
            at_line_start_ = true;
        }
    }
    if (piece.size() >= 2) {
        last_[0] = piece[piece.size() - 2];
        last_[1] = piece.back();
    } else {
        last_[0] = last_[1];
        last_[1] = piece[0];
    }
    empty_ = false;
}

void dot_stuffer::finish(std::string& out) {
    if (!empty_ && !(last_[0] == '\r' && last_[1] == '\n')) out.append("\r\n");
    out.append(".\r\n");
}

} // namespace splitmail::smtp
