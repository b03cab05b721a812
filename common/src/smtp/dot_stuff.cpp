// DATA transparency encoding; see dot_stuff.hpp.
#include "splitmail/smtp/dot_stuff.hpp"

namespace splitmail::smtp {

void append_dot_stuffed(std::string& out, std::string_view message) {
    out.reserve(out.size() + message.size() + message.size() / 64 + 8);
    bool at_line_start = true;
    std::size_t i = 0;
    while (i < message.size()) {
        // Copy up to and including the next LF in one go.
        if (at_line_start && message[i] == '.') out.push_back('.');
        auto lf = message.find('\n', i);
        if (lf == std::string_view::npos) {
            out.append(message.substr(i));
            i = message.size();
            at_line_start = false;
        } else {
            out.append(message.substr(i, lf + 1 - i));
            i = lf + 1;
            at_line_start = true;
        }
    }
    if (!message.empty() && !message.ends_with("\r\n")) out.append("\r\n");
    out.append(".\r\n");
}

} // namespace splitmail::smtp
