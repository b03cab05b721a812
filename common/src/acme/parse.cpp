// Parsers of ACME server answers (see parse.hpp). nlohmann::json is used in its non-throwing
// form (parse with allow_exceptions=false) and every member is type-checked before use.
#include "splitmail/acme/parse.hpp"
#include "splitmail/sys/clock.hpp"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include <nlohmann/json.hpp>

namespace splitmail::acme {

namespace {

using json = nlohmann::json;

constexpr std::string_view urn_prefix = "urn:ietf:params:acme:error:";

std::optional<json> parse_object(std::string_view text) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

std::string string_member(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

// Keeps log lines on one line and bounded: control characters become '?', long text is cut.
std::string printable(std::string_view s, std::size_t cap = 300) {
    std::string out;
    for (char c : s.substr(0, std::min(s.size(), cap)))
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    if (s.size() > cap) out += "...";
    return out;
}

problem problem_from(const json& j, bool allow_sub) {
    problem p;
    p.type = string_member(j, "type");
    p.detail = string_member(j, "detail");
    if (auto it = j.find("status"); it != j.end() && it->is_number_integer()) {
        auto v = it->get<long long>();
        if (v >= 0 && v < 1000) p.status = static_cast<int>(v);
    }
    if (auto it = j.find("identifier"); it != j.end() && it->is_object())
        p.identifier = string_member(*it, "type") + ":" + string_member(*it, "value");
    if (auto it = j.find("subproblems"); allow_sub && it != j.end() && it->is_array()) {
        for (const auto& s : *it) {
            if (p.subproblems.size() >= max_subproblems) break;
            if (s.is_object()) p.subproblems.push_back(problem_from(s, false));
        }
    }
    return p;
}

std::optional<problem> optional_problem(const json& j, const char* member) {
    auto it = j.find(member);
    if (it == j.end() || !it->is_object()) return std::nullopt;
    return problem_from(*it, true);
}

std::expected<identifier, std::string> identifier_from(const json& j) {
    if (!j.is_object()) return std::unexpected("identifier is not an object");
    identifier id{string_member(j, "type"), string_member(j, "value")};
    if (id.type.empty() || id.value.empty())
        return std::unexpected("identifier without type or value");
    return id;
}

std::expected<challenge, std::string> challenge_from(const json& j) {
    if (!j.is_object()) return std::unexpected("challenge is not an object");
    challenge c;
    c.type = string_member(j, "type");
    c.url = string_member(j, "url");
    c.token = string_member(j, "token");
    c.state = parse_status(string_member(j, "status"));
    c.error = optional_problem(j, "error");
    if (c.type.empty() || c.url.empty()) return std::unexpected("challenge without type or url");
    return c;
}

} // namespace

std::string_view problem::short_type() const noexcept {
    std::string_view t = type;
    if (t.starts_with(urn_prefix)) t.remove_prefix(urn_prefix.size());
    return t;
}

std::string problem::describe() const {
    std::string out(short_type().empty() ? std::string_view("problem") : short_type());
    if (!identifier.empty()) out += " [" + printable(identifier, 100) + "]";
    if (!detail.empty()) out += ": " + printable(detail);
    if (status != 0) out += " (HTTP " + std::to_string(status) + ")";
    for (const auto& s : subproblems) out += "; " + s.describe();
    return out;
}

std::string_view to_string(error_kind k) noexcept {
    switch (k) {
    case error_kind::network: return "network";
    case error_kind::tls: return "tls";
    case error_kind::protocol: return "protocol";
    case error_kind::server: return "server";
    case error_kind::rate_limited: return "rate-limited";
    case error_kind::validation: return "validation";
    case error_kind::timeout: return "timeout";
    case error_kind::local: return "local";
    case error_kind::solver: return "solver";
    }
    return "unknown";
}

std::string error::text() const {
    std::string out = std::string(to_string(kind)) + ": " + message;
    if (retry_after) out += " (retry after " + std::to_string(retry_after->count()) + "s)";
    return out;
}

status parse_status(std::string_view s) noexcept {
    if (s == "pending") return status::pending;
    if (s == "ready") return status::ready;
    if (s == "processing") return status::processing;
    if (s == "valid") return status::valid;
    if (s == "invalid") return status::invalid;
    if (s == "expired") return status::expired;
    if (s == "deactivated") return status::deactivated;
    if (s == "revoked") return status::revoked;
    return status::unknown;
}

std::string_view to_string(status s) noexcept {
    switch (s) {
    case status::pending: return "pending";
    case status::ready: return "ready";
    case status::processing: return "processing";
    case status::valid: return "valid";
    case status::invalid: return "invalid";
    case status::expired: return "expired";
    case status::deactivated: return "deactivated";
    case status::revoked: return "revoked";
    case status::unknown: break;
    }
    return "unknown";
}

std::expected<directory, std::string> parse_directory(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("directory is not a JSON object");
    directory d;
    d.new_nonce = string_member(*j, "newNonce");
    d.new_account = string_member(*j, "newAccount");
    d.new_order = string_member(*j, "newOrder");
    d.revoke_cert = string_member(*j, "revokeCert");
    d.key_change = string_member(*j, "keyChange");
    d.renewal_info = string_member(*j, "renewalInfo");
    if (auto m = j->find("meta"); m != j->end() && m->is_object()) {
        d.terms_of_service = string_member(*m, "termsOfService");
        if (auto e = m->find("externalAccountRequired"); e != m->end() && e->is_boolean())
            d.external_account_required = e->get<bool>();
    }
    // RFC 8555 7.1.1: these three are what an issuance needs.
    for (auto [name, value] :
         {std::pair{"newNonce", &d.new_nonce}, std::pair{"newAccount", &d.new_account},
          std::pair{"newOrder", &d.new_order}})
        if (value->empty()) return std::unexpected(std::string("directory has no ") + name);
    return d;
}

std::expected<order, std::string> parse_order(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("order is not a JSON object");
    order o;
    o.state = parse_status(string_member(*j, "status"));
    if (o.state == status::unknown) return std::unexpected("order has no known status");
    if (auto it = j->find("identifiers"); it != j->end() && it->is_array()) {
        if (it->size() > max_list_items) return std::unexpected("order has too many identifiers");
        for (const auto& i : *it) {
            auto id = identifier_from(i);
            if (!id) return std::unexpected("order: " + id.error());
            o.identifiers.push_back(std::move(*id));
        }
    }
    if (auto it = j->find("authorizations"); it != j->end() && it->is_array()) {
        if (it->size() > max_list_items)
            return std::unexpected("order has too many authorizations");
        for (const auto& a : *it) {
            if (!a.is_string()) return std::unexpected("order: authorization URL is not a string");
            o.authorizations.push_back(a.get<std::string>());
        }
    }
    o.finalize = string_member(*j, "finalize");
    o.certificate = string_member(*j, "certificate");
    o.error = optional_problem(*j, "error");
    if (o.finalize.empty()) return std::unexpected("order has no finalize URL");
    return o;
}

std::expected<challenge, std::string> parse_challenge(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("challenge is not a JSON object");
    return challenge_from(*j);
}

std::expected<authorization, std::string> parse_authorization(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("authorization is not a JSON object");
    authorization a;
    auto id = identifier_from(j->contains("identifier") ? (*j)["identifier"] : json());
    if (!id) return std::unexpected("authorization: " + id.error());
    a.id = std::move(*id);
    a.state = parse_status(string_member(*j, "status"));
    if (a.state == status::unknown) return std::unexpected("authorization has no known status");
    if (auto w = j->find("wildcard"); w != j->end() && w->is_boolean()) a.wildcard = w->get<bool>();
    if (auto it = j->find("challenges"); it != j->end() && it->is_array()) {
        for (const auto& c : *it) {
            if (a.challenges.size() >= max_challenges) break;
            // An unusable challenge of another type is no reason to refuse the others.
            if (auto ch = challenge_from(c)) a.challenges.push_back(std::move(*ch));
        }
    }
    return a;
}

std::expected<status, std::string> parse_account_status(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("account is not a JSON object");
    auto s = parse_status(string_member(*j, "status"));
    if (s == status::unknown) return std::unexpected("account has no known status");
    return s;
}

std::optional<problem> parse_problem(std::string_view text) {
    auto j = parse_object(text);
    if (!j || string_member(*j, "type").empty()) return std::nullopt;
    return problem_from(*j, true);
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    constexpr std::chrono::seconds cap = std::chrono::hours(24 * 7);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
        value.remove_suffix(1);
    if (value.empty() || value.size() > 64) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) return cap;
        return std::min(std::chrono::seconds(std::stol(std::string(value))), cap);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7).
    std::tm tm{};
    std::string copy(value);
    const char* end = ::strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    auto at = sys::from_utc_tm(tm);
    if (at <= now) return std::chrono::seconds(0);
    return std::min(std::chrono::duration_cast<std::chrono::seconds>(at - now), cap);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
    if (text.size() < 20 || text.size() > 64) return std::nullopt;
    std::tm tm{};
    std::string copy(text);
    const char* p = ::strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == nullptr) {
        // RFC 3339 5.6 allows a lower-case "t" as the separator too.
        p = ::strptime(copy.c_str(), "%Y-%m-%dt%H:%M:%S", &tm);
        if (p == nullptr) return std::nullopt;
    }
    if (*p == '.') {
        ++p;
        if (*p < '0' || *p > '9') return std::nullopt;
        while (*p >= '0' && *p <= '9') ++p;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        ++p;
    } else if (*p == '+' || *p == '-') {
        const int sign = *p == '-' ? -1 : 1;
        auto two = [](const char* q) -> int {
            if (q[0] < '0' || q[0] > '9' || q[1] < '0' || q[1] > '9') return -1;
            return (q[0] - '0') * 10 + (q[1] - '0');
        };
        const int h = two(p + 1);
        if (h < 0 || h > 23 || p[3] != ':') return std::nullopt;
        const int m = two(p + 4);
        if (m < 0 || m > 59) return std::nullopt;
        offset = sign * (h * 3600L + m * 60L);
        p += 6;
    } else {
        return std::nullopt;
    }
    if (*p != '\0') return std::nullopt;
    return sys::from_utc_tm(tm) - std::chrono::seconds(offset);
}

std::expected<renewal_info, std::string> parse_renewal_info(std::string_view text) {
    auto j = parse_object(text);
    if (!j) return std::unexpected("renewal information is not a JSON object");
    auto w = j->find("suggestedWindow");
    if (w == j->end() || !w->is_object())
        return std::unexpected("renewal information has no suggestedWindow");
    auto start = parse_rfc3339(string_member(*w, "start"));
    auto end = parse_rfc3339(string_member(*w, "end"));
    if (!start || !end)
        return std::unexpected("suggestedWindow start/end are not RFC 3339 date-times");
    if (!(*start < *end)) return std::unexpected("suggestedWindow ends before it starts");
    renewal_info r{*start, *end, string_member(*j, "explanationURL")};
    if (r.explanation_url.size() > 2048) r.explanation_url.clear();
    return r;
}

error error_from_response(std::string_view what, int status, std::string_view body,
                          std::optional<std::chrono::seconds> retry_after) {
    error e;
    e.retry_after = retry_after;
    e.detail = parse_problem(body);
    std::string head = std::string(what) + ": HTTP " + std::to_string(status);
    if (e.detail) {
        e.kind =
            e.detail->short_type() == "rateLimited" ? error_kind::rate_limited : error_kind::server;
        e.message = head + ": " + e.detail->describe();
    } else {
        e.kind = error_kind::server;
        e.message = head + (body.empty() ? "" : ": " + printable(body, 200));
    }
    return e;
}

} // namespace splitmail::acme
