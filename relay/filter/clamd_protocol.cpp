// clamd's INSTREAM protocol, pure half; see clamd_protocol.hpp.
#include "filter/clamd_protocol.hpp"

namespace splitmail::relay::filter {
namespace {

std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u >= 0x7f) ? '?' : c;
    }
    return out;
}

clamd_reply error(std::string text) { return {clamd_reply::kind::error, std::move(text)}; }

} // namespace

std::array<char, 4> clamd_chunk_length(std::uint32_t n) {
    return {static_cast<char>((n >> 24) & 0xff), static_cast<char>((n >> 16) & 0xff),
            static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
}

clamd_reply parse_clamd_reply(std::string_view text) {
    while (!text.empty() && (text.back() == '\0' || text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    if (text.find('\0') != std::string_view::npos) return error("more than one reply");
    constexpr std::string_view stream = "stream: ";
    constexpr std::string_view found = " FOUND";
    constexpr std::string_view err = " ERROR";
    if (text.ends_with(err) || text.ends_with(":ERROR") || text == "ERROR")
        return error(printable(text, 200));
    if (!text.starts_with(stream)) return error("unexpected reply: " + printable(text, 200));
    auto rest = text.substr(stream.size());
    if (rest == "OK") return {clamd_reply::kind::clean, ""};
    if (rest.ends_with(found)) {
        auto name = rest.substr(0, rest.size() - found.size());
        if (name.empty() || name.size() > 128 || name.find(' ') != std::string_view::npos)
            return error("unexpected signature name: " + printable(name, 200));
        for (char c : name) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f) return error("unexpected signature name");
        }
        return {clamd_reply::kind::found, std::string(name)};
    }
    return error("unexpected reply: " + printable(text, 200));
}

} // namespace splitmail::relay::filter
