// RFC 2047 encoded-word decoding to UTF-8; see encoded_words.hpp.
#include "splitmail/text/encoded_words.hpp"

#include "splitmail/smtp/base64.hpp"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <optional>

namespace splitmail::text::encoded_words {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// `in` from `charset` to UTF-8; nullopt when iconv does not know the charset. Octets it
// cannot convert become U+FFFD, so a stray byte does not hide the rest of the word.
std::optional<std::string> to_utf8(std::string_view charset, std::string_view in) {
    std::string cs(charset);
    for (char& c : cs)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (cs == "UTF-8" || cs == "UTF8" || cs == "US-ASCII" || cs == "ASCII") return std::string(in);
    iconv_t cd = ::iconv_open("UTF-8", cs.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
    std::string out;
    std::string buf(in.size() * 4 + 16, '\0');
    char* src = const_cast<char*>(in.data());
    std::size_t left = in.size();
    while (left > 0) {
        char* dst = buf.data();
        std::size_t room = buf.size();
        std::size_t r = ::iconv(cd, &src, &left, &dst, &room);
        out.append(buf.data(), static_cast<std::size_t>(dst - buf.data()));
        if (r == static_cast<std::size_t>(-1)) {
            if (errno == E2BIG) continue;
            out += "\xEF\xBF\xBD"; // EILSEQ / EINVAL: skip one octet
            ++src;
            --left;
        }
    }
    ::iconv_close(cd);
    return out;
}

// One encoded word at s[i]: its decoded text and length, or nullopt.
std::optional<std::pair<std::string, std::size_t>> word(std::string_view s, std::size_t i,
                                                        unknown_charset unknown) {
    if (s.substr(i, 2) != "=?") return std::nullopt;
    const std::size_t limit = std::min(s.size(), i + max_word);
    std::size_t q1 = i + 2;
    while (q1 < limit && s[q1] != '?' && !is_ws(s[q1])) ++q1;
    if (q1 == i + 2 || q1 + 2 >= limit || s[q1] != '?' || s[q1 + 2] != '?') return std::nullopt;
    char enc = s[q1 + 1];
    std::size_t end = q1 + 3;
    while (end + 1 < limit && !(s[end] == '?' && s[end + 1] == '=') && !is_ws(s[end])) ++end;
    if (end + 1 >= limit || s[end] != '?' || s[end + 1] != '=') return std::nullopt;
    std::string_view charset = s.substr(i + 2, q1 - i - 2);
    charset = charset.substr(0, charset.find('*')); // RFC 2231 5: charset*language
    std::string_view payload = s.substr(q1 + 3, end - q1 - 3);
    std::string octets;
    if (enc == 'B' || enc == 'b') {
        octets = smtp::decode_base64_lax(payload);
    } else if (enc == 'Q' || enc == 'q') {
        for (std::size_t k = 0; k < payload.size(); ++k) { // RFC 2047 4.2
            char c = payload[k];
            if (c == '_')
                octets += ' ';
            else if (c == '=' && k + 2 < payload.size() && hex_digit(payload[k + 1]) >= 0 &&
                     hex_digit(payload[k + 2]) >= 0) {
                octets +=
                    static_cast<char>(hex_digit(payload[k + 1]) * 16 + hex_digit(payload[k + 2]));
                k += 2;
            } else
                octets += c;
        }
    } else {
        return std::nullopt;
    }
    auto text = to_utf8(charset, octets);
    if (!text && unknown == unknown_charset::octets) text = std::move(octets);
    if (!text) return std::nullopt;
    return std::pair{std::move(*text), end + 2 - i};
}

} // namespace

std::string decode(std::string_view text, unknown_charset unknown) {
    std::string out;
    bool after_word = false; // only white space since the last encoded word
    std::size_t word_end = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '=' && i + 1 < text.size() && text[i + 1] == '?') {
            if (auto w = word(text, i, unknown)) {
                if (after_word) out.resize(word_end); // RFC 2047 6.2
                out += w->first;
                i += w->second;
                after_word = true;
                word_end = out.size();
                continue;
            }
        }
        char c = text[i++];
        out += c;
        if (!is_ws(c)) after_word = false;
    }
    return out;
}

} // namespace splitmail::text::encoded_words
