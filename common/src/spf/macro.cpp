// RFC 7208 7.3, 7.4: macro expansion.
#include "splitmail/spf/evaluator.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace splitmail::spf {
namespace {

std::string address_text(const ip_address& ip) {
    char buf[INET6_ADDRSTRLEN]{};
    ::inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.octets.data(), buf, sizeof buf);
    return buf;
}

// RFC 7208 7.3: split on the delimiters, optionally reverse, keep the right-hand `keep`
// parts, join with ".".
std::string transform(std::string_view value, const macro_token& t) {
    std::string_view delims = t.delimiters.empty() ? std::string_view(".") : t.delimiters;
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || delims.find(value[i]) != std::string_view::npos) {
            parts.push_back(value.substr(start, i - start));
            start = i + 1;
        }
    }
    if (t.reverse) std::reverse(parts.begin(), parts.end());
    std::size_t first = 0;
    if (t.keep != 0 && t.keep < parts.size()) first = parts.size() - t.keep;
    std::string out;
    for (std::size_t i = first; i < parts.size(); ++i) {
        if (i != first) out.push_back('.');
        out.append(parts[i]);
    }
    return out;
}

// RFC 7208 7.3: upper-case macro letters are URL-escaped (RFC 3986 unreserved kept).
std::string url_escape(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

} // namespace

std::string ip_macro_text(const ip_address& ip) {
    if (!ip.v6) return address_text(ip);
    // RFC 7208 7.3: IPv6 as dot-separated nibbles ("1.0.B.C..."), upper-case as in 7.4.
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (auto o : ip.octets) {
        if (!out.empty()) out.push_back('.');
        out.push_back(hex[o >> 4]);
        out.push_back('.');
        out.push_back(hex[o & 15]);
    }
    return out;
}

std::string reverse_name(const ip_address& ip) {
    macro_token t;
    t.reverse = true;
    return transform(ip_macro_text(ip), t) + (ip.v6 ? ".ip6.arpa" : ".in-addr.arpa");
}

std::string expand_macros(const macro_string& m, const macro_context& ctx) {
    std::string out;
    std::string p_cache;
    bool have_p = false;
    for (const auto& t : m) {
        if (!t.is_macro) {
            out.append(t.literal);
            continue;
        }
        std::string value;
        switch (t.letter) {
        case 's': value = ctx.sender; break;
        case 'l': value = ctx.local; break;
        case 'o': value = ctx.sender_domain; break;
        case 'd': value = ctx.domain; break;
        case 'i': value = ctx.ip ? ip_macro_text(*ctx.ip) : ""; break;
        case 'p':
            if (!have_p) {
                p_cache = ctx.validated_name ? ctx.validated_name(ctx.state) : "unknown";
                have_p = true;
            }
            value = p_cache;
            break;
        case 'v': value = ctx.ip && ctx.ip->v6 ? "ip6" : "in-addr"; break;
        case 'h': value = ctx.helo; break;
        case 'c': value = ctx.ip ? address_text(*ctx.ip) : ""; break;
        case 'r': value = ctx.receiver.empty() ? "unknown" : std::string(ctx.receiver); break;
        case 't': value = std::to_string(ctx.now); break;
        default: break; // the parser admits no other letter
        }
        value = transform(value, t);
        out.append(t.url_escape ? url_escape(value) : value);
    }
    return out;
}

} // namespace splitmail::spf
