// rspamd's HTTP protocol, pure half; see rspamd_protocol.hpp.
#include "filter/rspamd_protocol.hpp"

#include <nlohmann/json.hpp>

namespace splitmail::relay::filter {
namespace {

constexpr std::size_t max_depth = 32;
constexpr std::size_t max_symbols = 200;
constexpr std::size_t max_header_changes = 32;

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
        if (it != v.end() && it->is_string())
            a.add_headers.push_back({name, it->get<std::string>()});
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
    h += "Host: " + net::http_header_value(host) + "\r\n";
    h += "Connection: close\r\n";
    h += "Content-Length: " + std::to_string(content_length) + "\r\n";
    // rspamd reads the null sender from an empty From (its protocol: "From: <>" also works).
    h += "From: <" + net::http_header_value(r.from) + ">\r\n";
    for (const auto& rc : r.rcpts) h += "Rcpt: <" + net::http_header_value(rc) + ">\r\n";
    if (!r.ip.empty()) h += "IP: " + net::http_header_value(r.ip) + "\r\n";
    if (!r.helo.empty()) h += "Helo: " + net::http_header_value(r.helo) + "\r\n";
    if (!r.hostname.empty()) h += "Hostname: " + net::http_header_value(r.hostname) + "\r\n";
    if (!r.user.empty()) h += "User: " + net::http_header_value(r.user) + "\r\n";
    if (!r.queue_id.empty()) h += "Queue-Id: " + net::http_header_value(r.queue_id) + "\r\n";
    h += "\r\n";
    return h;
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
        return std::unexpected("rspamd error: " +
                               (err->is_string() ? err->get<std::string>() : std::string("?")));
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
    if (auto sub = j.find("subject"); sub != j.end() && sub->is_string())
        a.subject = sub->get<std::string>().substr(0, 2000);
    return a;
}

} // namespace splitmail::relay::filter
