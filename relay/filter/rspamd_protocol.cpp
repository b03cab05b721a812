// rspamd's HTTP protocol, pure half; see rspamd_protocol.hpp.
#include "filter/rspamd_protocol.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/text/trim.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace splitmail::relay::filter {
namespace {

constexpr std::size_t max_depth = 32;
constexpr std::size_t max_symbols = 200;
constexpr std::size_t max_header_changes = 32;

// Client-supplied text in an HTTP header value: no line breaks, no NUL, no other controls.
std::string header_value(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 1000)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '_' : c;
    }
    return out;
}

using json = nlohmann::json;

double number_or_zero(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_number() ? it->get<double>() : 0.0;
}

// One milter.add_headers entry: "value", {"value": "...", "order": n} or a list of those.
void add_header_values(const std::string& name, const json& v, rspamd_answer& a) {
    if (a.add_headers.size() >= max_header_changes) return;
    if (v.is_string()) {
        a.add_headers.push_back({name, v.get<std::string>()});
    } else if (v.is_object()) {
        auto it = v.find("value");
        if (it != v.end() && it->is_string()) a.add_headers.push_back({name, it->get<std::string>()});
    } else if (v.is_array()) {
        for (const auto& e : v)
            if (!e.is_array()) add_header_values(name, e, a);
    }
}

void read_milter(const json& m, rspamd_answer& a) {
    if (!m.is_object()) return;
    if (auto add = m.find("add_headers"); add != m.end() && add->is_object())
        for (const auto& [name, v] : add->items()) add_header_values(name, v, a);
    if (auto rm = m.find("remove_headers"); rm != m.end() && rm->is_object())
        for (const auto& [name, v] : rm->items())
            if (a.remove_headers.size() < max_header_changes) a.remove_headers.push_back(name);
}

} // namespace

std::string rspamd_request_head(const rspamd_request& r, std::string_view host,
                                std::uint64_t content_length) {
    std::string h = "POST /checkv2 HTTP/1.1\r\n";
    h += "Host: " + header_value(host) + "\r\n";
    h += "Connection: close\r\n";
    h += "Content-Length: " + std::to_string(content_length) + "\r\n";
    // rspamd reads the null sender from an empty From (its protocol: "From: <>" also works).
    h += "From: <" + header_value(r.from) + ">\r\n";
    for (const auto& rc : r.rcpts) h += "Rcpt: <" + header_value(rc) + ">\r\n";
    if (!r.ip.empty()) h += "IP: " + header_value(r.ip) + "\r\n";
    if (!r.helo.empty()) h += "Helo: " + header_value(r.helo) + "\r\n";
    if (!r.hostname.empty()) h += "Hostname: " + header_value(r.hostname) + "\r\n";
    if (!r.user.empty()) h += "User: " + header_value(r.user) + "\r\n";
    if (!r.queue_id.empty()) h += "Queue-Id: " + header_value(r.queue_id) + "\r\n";
    h += "\r\n";
    return h;
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

std::expected<rspamd_answer, std::string> parse_rspamd_answer(std::string_view text) {
    json j;
    try {
        // The callback sees every nesting level as it opens: refuse deep input before it is
        // built (the answer of a healthy rspamd nests 4 levels).
        json::parser_callback_t limit = [](int depth, json::parse_event_t, json&) {
            if (static_cast<std::size_t>(depth) > max_depth)
                throw std::length_error("nested too deeply");
            return true;
        };
        j = json::parse(text.begin(), text.end(), limit);
    } catch (const std::exception& e) {
        return std::unexpected(std::string("bad JSON: ") + e.what());
    }
    if (!j.is_object()) return std::unexpected("answer is not a JSON object");
    if (auto err = j.find("error"); err != j.end())
        return std::unexpected("rspamd error: " + (err->is_string() ? err->get<std::string>()
                                                                    : std::string("?")));
    auto act = j.find("action");
    if (act == j.end() || !act->is_string()) return std::unexpected("answer has no action");
    rspamd_answer a;
    a.action = act->get<std::string>();
    a.score = number_or_zero(j, "score");
    a.required_score = number_or_zero(j, "required_score");
    if (auto syms = j.find("symbols"); syms != j.end() && syms->is_object()) {
        for (const auto& [name, v] : syms->items()) {
            if (a.symbols.size() >= max_symbols) break;
            a.symbols.push_back({name, v.is_object() ? number_or_zero(v, "score") : 0.0});
        }
    }
    if (auto m = j.find("milter"); m != j.end()) read_milter(*m, a);
    if (auto msgs = j.find("messages"); msgs != j.end() && msgs->is_object())
        if (auto sm = msgs->find("smtp_message"); sm != msgs->end() && sm->is_string())
            a.smtp_message = sm->get<std::string>().substr(0, 200);
    return a;
}

} // namespace splitmail::relay::filter
