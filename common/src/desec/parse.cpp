// Parsing of deSEC answers. Written against nlohmann::json in its non-throwing parse mode; the
// remaining accessors are guarded by type checks, and a catch-all for json::exception turns any
// surprise into an error value instead of an exception (bad input never crashes a caller).
#include "splitmail/desec/parse.hpp"
#include "splitmail/text/trim.hpp"
#include "splitmail/address/address.hpp"

#include <charconv>
#include <cctype>
#include <limits>

#include <nlohmann/json.hpp>

namespace splitmail::desec {
namespace {

using nlohmann::json;

constexpr std::size_t max_message = 400;

std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (out.size() >= max_message) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    return out;
}

std::optional<json> parse_json(std::string_view body) {
    json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

std::expected<rrset, std::string> rrset_from(const json& j) {
    if (!j.is_object()) return std::unexpected("RRset is not a JSON object");
    rrset r;
    auto type = j.find("type");
    if (type == j.end() || !type->is_string()) return std::unexpected("RRset without a type");
    r.type = type->get<std::string>();
    if (auto s = j.find("subname"); s != j.end()) {
        if (s->is_string())
            r.subname = s->get<std::string>();
        else if (!s->is_null())
            return std::unexpected("RRset subname is not a string");
    }
    if (auto t = j.find("ttl"); t != j.end() && !t->is_null()) {
        if (!t->is_number_integer()) return std::unexpected("RRset ttl is not an integer");
        if (t->is_number_unsigned()) {
            auto v = t->get<std::uint64_t>();
            if (v > std::numeric_limits<std::uint32_t>::max())
                return std::unexpected("RRset ttl out of range");
            r.ttl = static_cast<std::uint32_t>(v);
        } else {
            return std::unexpected("RRset ttl is negative");
        }
    }
    auto recs = j.find("records");
    if (recs == j.end() || !recs->is_array()) return std::unexpected("RRset without records");
    for (const auto& v : *recs) {
        if (!v.is_string()) return std::unexpected("RRset record is not a string");
        r.records.push_back(v.get<std::string>());
    }
    return r;
}

std::expected<domain_info, std::string> domain_from(const json& j) {
    if (!j.is_object()) return std::unexpected("domain is not a JSON object");
    domain_info d;
    auto name = j.find("name");
    if (name == j.end() || !name->is_string()) return std::unexpected("domain without a name");
    d.name = name->get<std::string>();
    auto mt = j.find("minimum_ttl");
    if (mt == j.end() || !mt->is_number_unsigned() ||
        mt->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        return std::unexpected("domain without a valid minimum_ttl");
    d.minimum_ttl = static_cast<std::uint32_t>(mt->get<std::uint64_t>());
    auto str = [&](const char* key) -> std::string {
        auto it = j.find(key);
        return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string{};
    };
    d.created = str("created");
    d.published = str("published");
    d.touched = str("touched");
    return d;
}

// Field errors, detail texts and lists flattened into one readable line.
std::string flatten(const json& j, int depth = 0) {
    if (depth > 8) return "...";
    if (j.is_string()) return printable(j.get<std::string>());
    if (j.is_array()) {
        std::string out;
        for (const auto& v : j) {
            std::string part = flatten(v, depth + 1);
            if (part.empty()) continue;
            if (!out.empty()) out += "; ";
            out += part;
        }
        return out;
    }
    if (j.is_object()) {
        std::string out;
        for (auto it = j.begin(); it != j.end(); ++it) {
            std::string part = flatten(it.value(), depth + 1);
            if (part.empty()) continue;
            if (!out.empty()) out += "; ";
            if (it.key() != "detail" && it.key() != "non_field_errors")
                out += printable(it.key()) + ": ";
            out += part;
        }
        return out;
    }
    if (j.is_null()) return {};
    return printable(j.dump());
}

template <class T, class F>
std::expected<std::vector<T>, std::string> list_of(std::string_view body, F item) {
    auto j = parse_json(body);
    if (!j) return std::unexpected("answer is not valid JSON");
    if (!j->is_array()) return std::unexpected("answer is not a JSON array");
    std::vector<T> out;
    out.reserve(j->size());
    for (const auto& v : *j) {
        auto one = item(v);
        if (!one) return std::unexpected(one.error());
        out.push_back(std::move(*one));
    }
    return out;
}

using text::trim;

} // namespace

std::string_view to_string(error_kind k) noexcept {
    switch (k) {
    case error_kind::network: return "network";
    case error_kind::tls: return "tls";
    case error_kind::throttled: return "throttled";
    case error_kind::server: return "server";
    case error_kind::unauthorized: return "unauthorized";
    case error_kind::forbidden: return "forbidden";
    case error_kind::not_found: return "not_found";
    case error_kind::bad_request: return "bad_request";
    case error_kind::protocol: return "protocol";
    }
    return "unknown";
}

std::expected<rrset, std::string> parse_rrset(std::string_view body) try {
    auto j = parse_json(body);
    if (!j) return std::unexpected("answer is not valid JSON");
    return rrset_from(*j);
} catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("bad RRset: ") + e.what());
}

std::expected<std::vector<rrset>, std::string> parse_rrset_list(std::string_view body) try {
    return list_of<rrset>(body, rrset_from);
} catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("bad RRset list: ") + e.what());
}

std::expected<domain_info, std::string> parse_domain(std::string_view body) try {
    auto j = parse_json(body);
    if (!j) return std::unexpected("answer is not valid JSON");
    return domain_from(*j);
} catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("bad domain: ") + e.what());
}

std::expected<std::vector<domain_info>, std::string> parse_domain_list(std::string_view body) try {
    return list_of<domain_info>(body, domain_from);
} catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("bad domain list: ") + e.what());
}

error parse_error_response(int status, std::string_view body, std::string_view retry_after) {
    error e;
    e.status = status;
    if (status == 400)
        e.kind = error_kind::bad_request;
    else if (status == 401)
        e.kind = error_kind::unauthorized;
    else if (status == 403)
        e.kind = error_kind::forbidden;
    else if (status == 404)
        e.kind = error_kind::not_found;
    else if (status == 429)
        e.kind = error_kind::throttled;
    else if (status >= 500 && status <= 599)
        e.kind = error_kind::server;
    else
        e.kind = error_kind::protocol;
    if (status == 429) e.retry_after = parse_retry_after(retry_after);

    std::string text;
    try {
        auto j = parse_json(body);
        if (j && status == 400 && j->is_array() && !j->empty() && (*j)[0].is_object()) {
            // Bulk request: one error object per request item, in request order.
            std::size_t i = 0;
            for (const auto& item : *j) {
                std::string part = flatten(item);
                if (!part.empty()) {
                    if (!text.empty()) text += "; ";
                    text += "item " + std::to_string(i + 1) + ": " + part;
                }
                e.item_errors.push_back(std::move(part));
                ++i;
            }
        } else if (j) {
            text = flatten(*j);
        } else {
            text = printable(trim(body));
        }
    } catch (const nlohmann::json::exception&) {
        text = printable(trim(body));
    }
    e.message = "HTTP " + std::to_string(status);
    if (!text.empty()) e.message += ": " + text;
    return e;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
    value = trim(value);
    if (value.empty()) return std::nullopt;
    for (char c : value)
        if (c < '0' || c > '9') return std::nullopt; // an HTTP-date or garbage
    // Nine digits are 31 years; longer values are clamped instead of overflowing.
    if (value.size() > 9) return std::chrono::seconds(999'999'999);
    std::int64_t v = 0;
    std::from_chars(value.data(), value.data() + value.size(), v);
    return std::chrono::seconds(v);
}

std::optional<std::string> parse_link_next(std::string_view h) {
    // RFC 8288 3: link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), comma separated.
    std::size_t i = 0;
    while (i < h.size()) {
        while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
        if (i >= h.size() || h[i] != '<') return std::nullopt;
        auto close = h.find('>', i);
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view target = h.substr(i + 1, close - i - 1);
        i = close + 1;
        // Parameters up to the next comma outside a quoted string.
        std::size_t start = i;
        bool quoted = false;
        while (i < h.size() && (quoted || h[i] != ',')) {
            if (h[i] == '"')
                quoted = !quoted;
            else if (h[i] == '\\' && quoted && i + 1 < h.size())
                ++i;
            ++i;
        }
        std::string_view params = h.substr(start, i - start);
        std::size_t p = 0;
        while (p < params.size()) {
            auto semi = params.find(';', p);
            std::string_view param =
                trim(params.substr(p, semi == std::string_view::npos ? params.npos : semi - p));
            p = semi == std::string_view::npos ? params.size() : semi + 1;
            auto eq = param.find('=');
            if (eq == std::string_view::npos) continue;
            if (!address::iequals_ascii(trim(param.substr(0, eq)), "rel")) continue;
            std::string_view v = trim(param.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            // rel may hold several space-separated relation types.
            std::size_t q = 0;
            while (q <= v.size()) {
                auto sp = v.find(' ', q);
                std::string_view rel = v.substr(q, sp == std::string_view::npos ? v.npos : sp - q);
                if (address::iequals_ascii(rel, "next")) return std::string(target);
                if (sp == std::string_view::npos) break;
                q = sp + 1;
            }
        }
    }
    return std::nullopt;
}

std::string serialize_rrsets(std::span<const rrset> items) {
    json arr = json::array();
    for (const auto& r : items) {
        json o = {{"subname", r.subname}, {"type", r.type}, {"records", r.records}};
        if (r.ttl != 0) o["ttl"] = r.ttl;
        arr.push_back(std::move(o));
    }
    // Invalid UTF-8 in a value is replaced rather than thrown on.
    return arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace splitmail::desec
