// Maildir unique names; see name.hpp.
#include "maildir/name.hpp"

#include <charconv>

namespace splitmail::home::maildir {
namespace {

template <class T>
bool parse_num(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// Splits "M123P45Q6" into its numbers; every letter at most once, digits after each.
bool parse_delivery_id(std::string_view s, unique_name& n) {
    bool m = false, p = false, q = false;
    while (!s.empty()) {
        char tag = s.front();
        s.remove_prefix(1);
        std::size_t i = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        auto digits = s.substr(0, i);
        s.remove_prefix(i);
        bool ok = false;
        if (tag == 'M' && !m)
            ok = m = parse_num(digits, n.usec);
        else if (tag == 'P' && !p)
            ok = p = parse_num(digits, n.pid);
        else if (tag == 'Q' && !q)
            ok = q = parse_num(digits, n.counter);
        if (!ok) return false;
    }
    return m && p && q && n.usec < 1'000'000;
}

} // namespace

std::string escape_host(std::string_view host) {
    std::string out;
    for (char c : host) {
        if (c == '/')
            out += "\\057";
        else if (c == ':')
            out += "\\072";
        else
            out.push_back(c);
    }
    return out;
}

std::string make_name(const unique_name& n) {
    std::string out = std::to_string(n.sec) + ".M" + std::to_string(n.usec) + "P" +
                      std::to_string(n.pid) + "Q" + std::to_string(n.counter) + "." + n.host;
    if (n.size) out += ",S=" + std::to_string(*n.size);
    if (!n.info.empty()) out += ":" + n.info;
    return out;
}

std::optional<unique_name> parse_name(std::string_view name) {
    unique_name n;
    auto colon = name.find(':');
    if (colon != std::string_view::npos) {
        n.info = std::string(name.substr(colon + 1));
        name = name.substr(0, colon);
    }
    auto d1 = name.find('.');
    if (d1 == std::string_view::npos || !parse_num(name.substr(0, d1), n.sec)) return std::nullopt;
    auto rest = name.substr(d1 + 1);
    auto d2 = rest.find('.');
    if (d2 == std::string_view::npos || !parse_delivery_id(rest.substr(0, d2), n))
        return std::nullopt;
    auto host_and_fields = rest.substr(d2 + 1);
    auto comma = host_and_fields.find(',');
    n.host = std::string(host_and_fields.substr(0, comma));
    if (n.host.empty() || n.host.find('/') != std::string::npos) return std::nullopt;
    n.size = size_from_name(name);
    return n;
}

std::optional<std::uint64_t> size_from_name(std::string_view name) {
    name = name.substr(0, name.find(':'));
    auto pos = name.find(",S=");
    if (pos == std::string_view::npos) return std::nullopt;
    auto v = name.substr(pos + 3);
    v = v.substr(0, v.find(','));
    std::uint64_t out = 0;
    if (!parse_num(v, out)) return std::nullopt;
    return out;
}

} // namespace splitmail::home::maildir
