// DNS block and allow lists, the pure half; see dnsbl.hpp.
#include "splitmail/net/dnsbl.hpp"

#include "splitmail/address/address.hpp"

#include <arpa/inet.h>
#include <charconv>

namespace splitmail::net {
namespace {

constexpr int max_weight = 100;

std::optional<unsigned> number(std::string_view s, unsigned max) {
    unsigned v = 0;
    if (s.empty() || s.size() > 3) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
    return v;
}

// One octet of a pattern: N, [a..b] or [a;b;c].
std::optional<std::vector<std::pair<std::uint8_t, std::uint8_t>>> octet(std::string_view s) {
    std::vector<std::pair<std::uint8_t, std::uint8_t>> out;
    if (auto n = number(s, 255)) {
        out.emplace_back(static_cast<std::uint8_t>(*n), static_cast<std::uint8_t>(*n));
        return out;
    }
    if (s.size() < 3 || s.front() != '[' || s.back() != ']') return std::nullopt;
    s = s.substr(1, s.size() - 2);
    if (auto dots = s.find(".."); dots != std::string_view::npos) {
        auto a = number(s.substr(0, dots), 255), b = number(s.substr(dots + 2), 255);
        if (!a || !b || *a > *b) return std::nullopt;
        out.emplace_back(static_cast<std::uint8_t>(*a), static_cast<std::uint8_t>(*b));
        return out;
    }
    while (true) {
        auto semi = s.find(';');
        auto n = number(s.substr(0, semi), 255);
        if (!n || out.size() >= 16) return std::nullopt;
        out.emplace_back(static_cast<std::uint8_t>(*n), static_cast<std::uint8_t>(*n));
        if (semi == std::string_view::npos) return out;
        s = s.substr(semi + 1);
    }
}

std::optional<std::array<std::uint8_t, 4>> ipv4(std::string_view s) {
    std::array<std::uint8_t, 4> a{};
    for (int i = 0; i < 4; ++i) {
        auto dot = i < 3 ? s.find('.') : s.size();
        if (dot == std::string_view::npos) return std::nullopt;
        auto n = number(s.substr(0, dot), 255);
        if (!n) return std::nullopt;
        a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(*n);
        s = i < 3 ? s.substr(dot + 1) : std::string_view();
    }
    return a;
}

} // namespace

std::expected<dnsbl_site, std::string> parse_site(std::string_view text) {
    dnsbl_site site;
    if (text.size() > 600) return std::unexpected("longer than 600 characters");
    site.text = std::string(text);
    std::string_view rest = text;
    if (auto star = rest.rfind('*'); star != std::string_view::npos) {
        std::string_view w = rest.substr(star + 1);
        bool negative = !w.empty() && w.front() == '-';
        auto n = number(negative ? w.substr(1) : w, max_weight);
        if (!n) return std::unexpected("weight after '*' must be a whole number from -100 to 100");
        site.weight = negative ? -static_cast<int>(*n) : static_cast<int>(*n);
        rest = rest.substr(0, star);
    }
    auto sep = rest.find_first_of("=&");
    std::string zone(rest.substr(0, sep));
    while (!zone.empty() && zone.back() == '.') zone.pop_back();
    for (auto& c : zone) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (zone.size() > 253 || !address::valid_domain(zone) || zone.find('.') == std::string::npos)
        return std::unexpected("\"" + zone + "\" is not a DNS zone (e.g. zen.spamhaus.org)");
    site.zone = std::move(zone);
    if (sep == std::string_view::npos) return site;
    std::string_view spec = rest.substr(sep + 1);
    if (rest[sep] == '&') {
        auto a = ipv4(spec);
        if (!a)
            return std::unexpected("the mask after '&' must be written as an address (0.0.0.4)");
        site.mask = (std::uint32_t{(*a)[0]} << 24) | (std::uint32_t{(*a)[1]} << 16) |
                    (std::uint32_t{(*a)[2]} << 8) | (*a)[3];
        return site;
    }
    // Four octets separated by dots; the dots of a [a..b] range are inside its brackets.
    std::vector<std::string_view> parts;
    std::size_t from = 0;
    bool inside = false;
    for (std::size_t i = 0; i <= spec.size(); ++i) {
        if (i < spec.size() && spec[i] == '[') inside = true;
        if (i < spec.size() && spec[i] == ']') inside = false;
        if (i == spec.size() || (spec[i] == '.' && !inside)) {
            parts.push_back(spec.substr(from, i - from));
            from = i + 1;
        }
    }
    if (parts.size() != 4)
        return std::unexpected("the pattern after '=' must have four octets, each N, [a..b] "
                               "or [a;b] (127.0.0.[2..11])");
    for (std::size_t i = 0; i < 4; ++i) {
        auto o = octet(parts[i]);
        if (!o)
            return std::unexpected("octet \"" + std::string(parts[i]) +
                                   "\" is not N, [a..b] or [a;b]");
        site.octets[i] = std::move(*o);
    }
    site.has_pattern = true;
    return site;
}

std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view zone) {
    const std::string s(ip.substr(0, 64));
    unsigned char buf[16];
    if (::inet_pton(AF_INET, s.c_str(), buf) == 1)
        return std::to_string(buf[3]) + "." + std::to_string(buf[2]) + "." +
               std::to_string(buf[1]) + "." + std::to_string(buf[0]) + "." + std::string(zone);
    if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string out;
        out.reserve(64 + zone.size());
        for (int i = 15; i >= 0; --i) {
            out += hex[buf[i] & 0xf];
            out += '.';
            out += hex[buf[i] >> 4];
            out += '.';
        }
        return out + std::string(zone);
    }
    return std::nullopt;
}

site_result judge(const dnsbl_site& site, const std::vector<std::string>& answers) {
    site_result r;
    std::string refused;
    for (const auto& text : answers) {
        auto a = ipv4(text);
        if (!a || (*a)[0] != 127) continue; // not a list's answer (a hijacking resolver)
        if ((*a)[1] == 255 && (*a)[2] == 255) {
            refused += (refused.empty() ? "" : ",") + text;
            continue;
        }
        bool counts = true;
        if (site.mask) {
            const std::uint32_t v = (std::uint32_t{(*a)[0]} << 24) |
                                    (std::uint32_t{(*a)[1]} << 16) | (std::uint32_t{(*a)[2]} << 8) |
                                    (*a)[3];
            counts = (v & *site.mask) != 0;
        } else if (site.has_pattern) {
            for (std::size_t i = 0; i < 4 && counts; ++i) {
                bool any = false;
                for (const auto& [lo, hi] : site.octets[i])
                    any = any || ((*a)[i] >= lo && (*a)[i] <= hi);
                counts = any;
            }
        }
        if (counts) r.codes += (r.codes.empty() ? "" : ",") + text;
    }
    if (!r.codes.empty())
        r.result = site_result::what::listed;
    else if (!refused.empty()) {
        r.result = site_result::what::refused;
        r.codes = std::move(refused);
    }
    return r;
}

} // namespace splitmail::net
