// DNS record data: canonical forms of presentation text; see records.hpp.
#include "check/records.hpp"
#include "splitmail/address/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <sstream>

namespace splitmail::provision::check {

namespace {

std::vector<std::string> tokens(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string t; in >> t;) out.push_back(std::move(t));
    return out;
}

bool all_digits(std::string_view s, std::size_t max_len) {
    return !s.empty() && s.size() <= max_len &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_uint(std::string_view s, unsigned long max) {
    if (!all_digits(s, 5)) return false;
    return std::stoul(std::string(s)) <= max;
}

// A presentation name: lower case, trailing dot added ("@" and relative names are not
// expected in records of a plan; they are compared as given).
std::optional<std::string> canonical_name(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::string out = address::lower_ascii(s);
    if (out.back() != '.') out += '.';
    return out;
}

} // namespace

std::optional<std::vector<std::string>> parse_txt_strings(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    skip_space();
    if (i < s.size() && s[i] != '"') {
        // Unquoted: one string up to the end (zone files allow one unquoted word; we are lenient).
        auto end = s.find_last_not_of(" \t");
        out.emplace_back(s.substr(i, end + 1 - i));
        return out;
    }
    while (i < s.size()) {
        if (s[i] != '"') return std::nullopt;
        ++i;
        std::string cur;
        bool closed = false;
        while (i < s.size()) {
            const char c = s[i++];
            if (c == '"') {
                closed = true;
                break;
            }
            if (c != '\\') {
                cur += c;
                continue;
            }
            if (i >= s.size()) return std::nullopt;
            if (s[i] >= '0' && s[i] <= '9') { // \DDD (RFC 1035 5.1)
                if (i + 3 > s.size() || !all_digits(s.substr(i, 3), 3)) return std::nullopt;
                const int v = std::stoi(std::string(s.substr(i, 3)));
                if (v > 255) return std::nullopt;
                cur += static_cast<char>(v);
                i += 3;
            } else {
                cur += s[i++];
            }
        }
        if (!closed || cur.size() > 255) return std::nullopt; // RFC 1035 3.3: <= 255 octets
        out.push_back(std::move(cur));
        skip_space();
    }
    if (out.empty()) return std::nullopt;
    return out;
}

std::optional<std::string> txt_joined(std::string_view text) {
    auto parts = parse_txt_strings(text);
    if (!parts) return std::nullopt;
    std::string out;
    for (const auto& p : *parts) out += p;
    return out;
}

std::optional<std::string> canonical_address(std::string_view address) {
    const std::string a(address);
    std::array<unsigned char, 16> buf{};
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, a.c_str(), buf.data()) == 1)
        return inet_ntop(AF_INET, buf.data(), text, sizeof text) ? std::optional(std::string(text))
                                                                 : std::nullopt;
    if (inet_pton(AF_INET6, a.c_str(), buf.data()) == 1)
        return inet_ntop(AF_INET6, buf.data(), text, sizeof text) ? std::optional(std::string(text))
                                                                  : std::nullopt;
    return std::nullopt;
}

std::optional<std::string> canonical(rr_type t, std::string_view text) {
    switch (t) {
    case rr_type::a: {
        auto a = canonical_address(text);
        if (!a || a->find(':') != std::string::npos) return std::nullopt;
        return a;
    }
    case rr_type::aaaa: {
        auto a = canonical_address(text);
        if (!a || a->find(':') == std::string::npos) return std::nullopt;
        return a;
    }
    case rr_type::ns:
    case rr_type::cname:
    case rr_type::ptr: {
        auto tk = tokens(text);
        if (tk.size() != 1) return std::nullopt;
        return canonical_name(tk[0]);
    }
    case rr_type::mx: {
        auto tk = tokens(text);
        if (tk.size() != 2 || !is_uint(tk[0], 65535)) return std::nullopt;
        auto n = canonical_name(tk[1]);
        if (!n) return std::nullopt;
        return std::to_string(std::stoul(tk[0])) + " " + *n;
    }
    case rr_type::srv: {
        auto tk = tokens(text);
        if (tk.size() != 4) return std::nullopt;
        std::string out;
        for (int i = 0; i < 3; ++i) {
            if (!is_uint(tk[i], 65535)) return std::nullopt;
            out += std::to_string(std::stoul(tk[i])) + " ";
        }
        auto n = canonical_name(tk[3]);
        if (!n) return std::nullopt;
        return out + *n;
    }
    case rr_type::tlsa: {
        auto tk = tokens(text);
        if (tk.size() < 4) return std::nullopt;
        std::string out;
        for (int i = 0; i < 3; ++i) {
            if (!is_uint(tk[i], 255)) return std::nullopt;
            out += std::to_string(std::stoul(tk[i])) + " ";
        }
        std::string h; // RFC 6698 2.2: the hex may be split by white space
        for (std::size_t i = 3; i < tk.size(); ++i) h += address::lower_ascii(tk[i]);
        if (h.empty() || h.size() % 2 != 0 ||
            h.find_first_not_of("0123456789abcdef") != std::string::npos)
            return std::nullopt;
        return out + h;
    }
    case rr_type::txt: return txt_joined(text);
    }
    return std::nullopt;
}

rrset_diff compare_rrset(rr_type t, const std::vector<std::string>& planned,
                         const std::vector<std::string>& answered) {
    rrset_diff d;
    std::vector<std::pair<std::string, std::string>> want, got; // canonical, original
    for (const auto& p : planned) {
        if (auto c = canonical(t, p))
            want.emplace_back(*c, p);
        else
            d.unparsed.push_back(p);
    }
    for (const auto& a : answered) {
        if (auto c = canonical(t, a))
            got.emplace_back(*c, a);
        else
            d.unparsed.push_back(a);
    }
    for (const auto& [c, orig] : want)
        if (std::none_of(got.begin(), got.end(), [&](auto& g) { return g.first == c; }))
            d.missing.push_back(orig);
    for (const auto& [c, orig] : got)
        if (std::none_of(want.begin(), want.end(), [&](auto& w) { return w.first == c; }))
            d.extra.push_back(orig);
    return d;
}

std::optional<std::string> reverse_name(std::string_view address) {
    const std::string a(address);
    std::array<unsigned char, 16> b{};
    if (inet_pton(AF_INET, a.c_str(), b.data()) == 1) {
        return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) +
               "." + std::to_string(b[0]) + ".in-addr.arpa";
    }
    if (inet_pton(AF_INET6, a.c_str(), b.data()) == 1) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        for (int i = 15; i >= 0; --i) {
            out += digits[b[i] & 15];
            out += '.';
            out += digits[b[i] >> 4];
            out += '.';
        }
        return out + "ip6.arpa";
    }
    return std::nullopt;
}

} // namespace splitmail::provision::check
