// Authentication-Results; see auth_results.hpp.
#include "sender_auth/auth_results.hpp"

#include "dkim/message.hpp"

namespace splitmail::relay::sender_auth {

namespace {

constexpr std::size_t max_text = 200;

bool is_ctl(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

// RFC 2045 5.1 token: no SP, CTL or tspecials.
bool is_token(std::string_view v) {
    if (v.empty()) return false;
    for (char c : v) {
        if (is_ctl(c) || c == ' ' || static_cast<unsigned char>(c) >= 0x80) return false;
        if (std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos) return false;
    }
    return true;
}

// RFC 8601 2.2 pvalue: a token, an address-like local@domain, or a quoted-string.
bool is_plain_pvalue(std::string_view v) {
    const auto at = v.rfind('@');
    if (at == std::string_view::npos) return is_token(v);
    return (at == 0 || is_token(v.substr(0, at))) && is_token(v.substr(at + 1));
}

std::string cut(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (is_ctl(c)) continue; // CR, LF, HTAB...: never end or fold the field
        if (out.size() == max_text) break;
        out.push_back(c);
    }
    return out;
}

std::string value(std::string_view v) {
    std::string clean = cut(v);
    if (is_plain_pvalue(clean)) return clean;
    std::string out = "\"";
    for (char c : clean) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Skips CFWS (RFC 5322 3.2.2): whitespace and nested comments.
std::size_t skip_cfws(std::string_view s, std::size_t i) {
    while (i < s.size()) {
        if (is_wsp(s[i])) {
            ++i;
        } else if (s[i] == '(') {
            int depth = 0;
            for (; i < s.size(); ++i) {
                if (s[i] == '\\') {
                    ++i;
                    continue;
                }
                if (s[i] == '(') ++depth;
                if (s[i] == ')' && --depth == 0) {
                    ++i;
                    break;
                }
            }
        } else {
            break;
        }
    }
    return i;
}

} // namespace

std::string authentication_results(std::string_view authserv_id,
                                   std::span<const method_result> methods) {
    std::string out = "Authentication-Results: " + value(authserv_id) + ";";
    if (methods.empty()) return out + " none\r\n"; // RFC 8601 2.2: no-result
    for (std::size_t i = 0; i < methods.size(); ++i) {
        const auto& m = methods[i];
        out += "\r\n\t" + cut(m.method) + "=" + cut(m.result);
        if (!m.reason.empty()) out += " reason=" + value(m.reason);
        for (const auto& [k, v] : m.properties) out += "\r\n\t " + cut(k) + "=" + value(v);
        if (i + 1 < methods.size()) out += ";";
    }
    return out + "\r\n";
}

std::string authserv_id_of(std::string_view field_value) {
    std::size_t i = skip_cfws(field_value, 0);
    std::string id;
    if (i < field_value.size() && field_value[i] == '"') {
        // A quoted-string authserv-id (RFC 8601 2.2 value).
        for (++i; i < field_value.size() && field_value[i] != '"'; ++i) {
            if (field_value[i] == '\\' && i + 1 < field_value.size()) ++i;
            id.push_back(field_value[i]);
        }
        return id;
    }
    for (; i < field_value.size(); ++i) {
        const char c = field_value[i];
        if (is_wsp(c) || c == ';' || c == '(') break;
        id.push_back(c);
    }
    return id;
}

std::optional<removal> remove_results_for(std::string_view header_block,
                                          std::string_view authserv_id) {
    const auto fields = dkim::parse_header(header_block);
    auto ours = [&](const dkim::header_field& f) {
        if (!dkim::iequals(f.name, "authentication-results")) return false;
        const auto colon = f.raw.find(':');
        return dkim::iequals(authserv_id_of(f.raw.substr(colon + 1)), authserv_id);
    };
    removal r;
    for (const auto& f : fields) r.fields += ours(f) ? 1 : 0;
    if (r.fields == 0) return std::nullopt;
    r.block.reserve(header_block.size());
    for (const auto& f : fields)
        if (!ours(f)) r.block.append(f.raw);
    return r;
}

} // namespace splitmail::relay::sender_auth
