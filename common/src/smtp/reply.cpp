// SMTP reply formatting and parsing: see reply.hpp.
#include "splitmail/smtp/reply.hpp"

#include <algorithm>

namespace splitmail::smtp {
namespace {

bool all_digits(std::string_view s, std::size_t min, std::size_t max) {
    if (s.size() < min || s.size() > max) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

} // namespace

bool is_enhanced_code(std::string_view s) {
    // RFC 3463 2: class "." subject "." detail; class 2/4/5, subject and detail 1-3 digits.
    auto d1 = s.find('.');
    if (d1 == std::string_view::npos) return false;
    auto d2 = s.find('.', d1 + 1);
    if (d2 == std::string_view::npos) return false;
    std::string_view cls = s.substr(0, d1);
    if (cls != "2" && cls != "4" && cls != "5") return false;
    return all_digits(s.substr(d1 + 1, d2 - d1 - 1), 1, 3) && all_digits(s.substr(d2 + 1), 1, 3);
}

std::string reply::format() const {
    std::string out;
    std::string code_text = std::to_string(code);
    if (lines.empty()) {
        out = code_text;
        if (!enhanced.empty()) out += " " + enhanced;
        out += "\r\n";
        return out;
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out += code_text;
        out += (i + 1 == lines.size()) ? ' ' : '-';
        if (!enhanced.empty()) {
            out += enhanced;
            if (!lines[i].empty()) out += ' ';
        }
        out += lines[i];
        out += "\r\n";
    }
    return out;
}

std::string reply::text() const {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i) out += "; ";
        out += lines[i];
    }
    return out;
}

reply make_reply(int code, std::string_view enhanced, std::string_view text) {
    return reply{code, std::string(enhanced), {std::string(text)}};
}

reply make_reply(int code, std::string_view enhanced, std::vector<std::string> lines) {
    return reply{code, std::string(enhanced), std::move(lines)};
}

void reply_parser::feed(std::string_view bytes) {
    if (!error_.empty()) return;
    buf_.append(bytes);
    while (error_.empty()) {
        auto lf = buf_.find('\n', pos_);
        if (lf == std::string::npos) {
            if (buf_.size() - pos_ > max_line_) error_ = "reply line too long";
            break;
        }
        std::string_view line(buf_.data() + pos_, lf - pos_);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() + 2 > max_line_) {
            error_ = "reply line too long";
            break;
        }
        pos_ = lf + 1;
        if (!parse_line(line)) break;
    }
    if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

bool reply_parser::parse_line(std::string_view line) {
    // RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
    //                            Reply-code [ SP textstring ] CRLF
    if (line.size() < 3 || !all_digits(line.substr(0, 3), 3, 3) || line[0] < '2' || line[0] > '5') {
        error_ = "malformed reply code";
        return false;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool last = true;
    std::string_view text;
    if (line.size() > 3) {
        if (line[3] == '-')
            last = false;
        else if (line[3] != ' ') {
            error_ = "malformed reply separator";
            return false;
        }
        text = line.substr(4);
    }
    if (in_reply_ && code != partial_.code) {
        error_ = "reply code changed inside a multi-line reply";
        return false;
    }
    if (!in_reply_) {
        partial_ = reply{};
        partial_.code = code;
        in_reply_ = true;
    }
    if (partial_.lines.size() >= max_lines_) {
        error_ = "too many reply lines";
        return false;
    }
    partial_.lines.emplace_back(text);
    if (!last) return true;

    // RFC 2034 3: the enhanced code starts every line's text; take it when the first line has
    // one of the reply's class, and strip it from each line that repeats it.
    std::string_view first = partial_.lines.front();
    auto sp = first.find(' ');
    const std::string cand(first.substr(0, sp)); // copy: the lines are edited below
    if (is_enhanced_code(cand) && cand[0] == static_cast<char>('0' + code / 100)) {
        partial_.enhanced = std::string(cand);
        for (auto& l : partial_.lines) {
            std::string_view lv = l;
            if (lv.substr(0, cand.size()) == partial_.enhanced &&
                (lv.size() == cand.size() || lv[cand.size()] == ' '))
                l.erase(0, std::min(l.size(), cand.size() + 1));
        }
    }
    ready_.push_back(std::move(partial_));
    partial_ = reply{};
    in_reply_ = false;
    return true;
}

reply_parser::result reply_parser::next() {
    result r;
    if (!ready_.empty()) {
        r.st = status::reply;
        r.value = std::move(ready_.front());
        ready_.pop_front();
        return r;
    }
    if (!error_.empty()) {
        r.st = status::error;
        r.error = error_;
        return r;
    }
    return r;
}

} // namespace splitmail::smtp
