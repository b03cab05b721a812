// HTTP/1.x header values and answer framing; see http.hpp.
#include "splitmail/net/http.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/text/trim.hpp"

#include <charconv>

namespace splitmail::net {

std::string http_header_value(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 1000)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '_' : c;
    }
    return out;
}

std::expected<std::optional<http_response>, std::string> parse_http_response(std::string_view in,
                                                                             bool eof) {
    auto end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (eof) return std::unexpected("connection closed before the end of the HTTP head");
        return std::nullopt;
    }
    std::string_view head = in.substr(0, end);
    std::string_view rest = in.substr(end + 4);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    // RFC 9112 4: HTTP-version SP 3DIGIT SP [reason-phrase]
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ')
        return std::unexpected("not an HTTP/1.x status line");
    http_response r;
    auto code = status_line.substr(9, 3);
    auto [p, ec] = std::from_chars(code.data(), code.data() + 3, r.status);
    if (ec != std::errc() || p != code.data() + 3 || r.status < 100 || r.status > 599)
        return std::unexpected("bad HTTP status code");
    std::optional<std::uint64_t> length;
    std::string_view fields = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    while (!fields.empty()) {
        auto e = fields.find("\r\n");
        auto line = fields.substr(0, e);
        fields = e == std::string_view::npos ? "" : fields.substr(e + 2);
        auto colon = line.find(':');
        if (colon == std::string_view::npos) return std::unexpected("malformed HTTP header line");
        auto name = line.substr(0, colon);
        auto value = text::trim(line.substr(colon + 1));
        if (address::iequals_ascii(name, "Transfer-Encoding"))
            return std::unexpected("chunked or encoded answers are not supported");
        if (address::iequals_ascii(name, "Content-Length")) {
            std::uint64_t n = 0;
            auto [q, ec2] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec2 != std::errc() || q != value.data() + value.size() || value.empty())
                return std::unexpected("bad Content-Length");
            if (length && *length != n) return std::unexpected("conflicting Content-Length");
            length = n;
        }
    }
    if (length) {
        if (rest.size() < *length) {
            if (eof) return std::unexpected("connection closed before the end of the body");
            return std::nullopt;
        }
        r.body = rest.substr(0, *length);
        return r;
    }
    if (!eof) return std::nullopt;
    r.body = rest;
    return r;
}

} // namespace splitmail::net
