// SPF parsing and coverage; see spf.hpp.
#include "check/spf.hpp"
#include "splitmail/address/address.hpp"

#include "check/records.hpp"

#include <arpa/inet.h>

#include <array>
#include <sstream>

namespace splitmail::provision::check {

namespace {

bool parse_len(std::string_view s, int max, int& out) {
    if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string_view::npos)
        return false;
    if (s.size() > 1 && s[0] == '0') return false; // RFC 7208 5.6: no leading zeros
    out = std::stoi(std::string(s));
    return out <= max;
}

// "[:domain][/c4][//c6]" after a/mx. Returns a reason on error.
std::string parse_domain_cidr(std::string_view rest, spf_term& t, bool domain_required) {
    if (!rest.empty() && rest[0] == ':') {
        rest.remove_prefix(1);
        auto slash = rest.find('/');
        t.domain = address::lower_ascii(rest.substr(0, slash));
        if (t.domain.empty()) return "empty domain after ':'";
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    } else if (domain_required) {
        return "needs ':domain'";
    }
    if (rest.empty()) return {};
    if (t.mechanism != "a" && t.mechanism != "mx") return "unexpected '" + std::string(rest) + "'";
    // "/c4", "//c6" or "/c4//c6" (RFC 7208 5.6 dual-cidr-length)
    auto dbl = rest.find("//");
    std::string_view c4 = rest.substr(0, dbl), c6;
    if (dbl != std::string_view::npos) c6 = rest.substr(dbl + 2);
    if (!c4.empty()) {
        if (c4[0] != '/' || !parse_len(c4.substr(1), 32, t.cidr4)) return "bad IPv4 prefix length";
    }
    if (dbl != std::string_view::npos && !parse_len(c6, 128, t.cidr6))
        return "bad IPv6 prefix length";
    return {};
}

bool is_v6(const std::string& a) { return a.find(':') != std::string::npos; }

} // namespace

bool is_spf(std::string_view s) {
    if (s.size() < 6 || address::lower_ascii(s.substr(0, 6)) != "v=spf1") return false;
    return s.size() == 6 || s[6] == ' ';
}

std::expected<spf_record, std::string> parse_spf(std::string_view text) {
    if (!is_spf(text)) return std::unexpected("does not start with v=spf1");
    spf_record r;
    std::istringstream in{std::string(text.substr(6))};
    for (std::string term; in >> term;) {
        auto fail = [&](const std::string& why) {
            return std::unexpected("\"" + term + "\": " + why);
        };
        // modifier: name "=" ... where name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        auto eq = term.find('=');
        auto colon = term.find_first_of(":/");
        if (eq != std::string::npos && (colon == std::string::npos || eq < colon) && eq > 0 &&
            std::isalpha(static_cast<unsigned char>(term[0]))) {
            const std::string name = address::lower_ascii(term.substr(0, eq));
            if (name == "redirect") {
                if (!r.redirect.empty()) return fail("a second redirect= (RFC 7208 6)");
                r.redirect = address::lower_ascii(term.substr(eq + 1));
                if (r.redirect.empty()) return fail("redirect= needs a domain");
            }
            continue; // exp= and unknown modifiers do not change the result
        }
        spf_term t;
        std::string_view s = term;
        if (s[0] == '+' || s[0] == '-' || s[0] == '~' || s[0] == '?') {
            t.qualifier = s[0];
            s.remove_prefix(1);
        }
        auto end = s.find_first_of(":/");
        t.mechanism = address::lower_ascii(s.substr(0, end));
        std::string_view rest = end == std::string_view::npos ? std::string_view{} : s.substr(end);
        std::string why;
        if (t.mechanism == "all") {
            if (!rest.empty()) why = "all takes no argument";
        } else if (t.mechanism == "include" || t.mechanism == "exists") {
            why = parse_domain_cidr(rest, t, true);
        } else if (t.mechanism == "a" || t.mechanism == "mx" || t.mechanism == "ptr") {
            why = parse_domain_cidr(rest, t, false);
        } else if (t.mechanism == "ip4" || t.mechanism == "ip6") {
            if (rest.empty() || rest[0] != ':') {
                why = "needs ':address'";
            } else {
                rest.remove_prefix(1);
                auto slash = rest.find('/');
                t.address = std::string(rest.substr(0, slash));
                auto canon = canonical_address(t.address);
                const bool v6 = t.mechanism == "ip6";
                if (!canon || is_v6(*canon) != v6) {
                    why = "not an " + std::string(v6 ? "IPv6" : "IPv4") + " address";
                } else {
                    t.address = *canon;
                    if (slash != std::string_view::npos &&
                        !parse_len(rest.substr(slash + 1), v6 ? 128 : 32, v6 ? t.cidr6 : t.cidr4))
                        why = "bad prefix length";
                }
            }
        } else {
            why = "unknown mechanism (RFC 7208 5: permerror)";
        }
        if (!why.empty()) return fail(why);
        r.terms.push_back(std::move(t));
    }
    return r;
}

bool in_prefix(const std::string& address, const std::string& network, int prefix) {
    std::array<unsigned char, 16> a{}, n{};
    int bits = 0;
    if (inet_pton(AF_INET, address.c_str(), a.data()) == 1) {
        if (inet_pton(AF_INET, network.c_str(), n.data()) != 1) return false;
        bits = prefix < 0 ? 32 : prefix;
    } else if (inet_pton(AF_INET6, address.c_str(), a.data()) == 1) {
        if (inet_pton(AF_INET6, network.c_str(), n.data()) != 1) return false;
        bits = prefix < 0 ? 128 : prefix;
    } else {
        return false;
    }
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        const unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((a[i] & mask) != (n[i] & mask)) return false;
    }
    return true;
}

spf_coverage spf_covers(const spf_record& r, const std::string& address, const std::string& domain,
                        const spf_lookups& lookups) {
    const bool v6 = is_v6(address);
    std::string pending; // a "+" term before this point that we could not evaluate
    auto term_text = [](const spf_term& t) {
        std::string s = t.qualifier == '+' ? "" : std::string(1, t.qualifier);
        s += t.mechanism;
        if (!t.domain.empty()) s += ":" + t.domain;
        if (!t.address.empty()) s += ":" + t.address;
        if (t.cidr4 >= 0) s += "/" + std::to_string(t.cidr4);
        if (t.cidr6 >= 0) s += (t.mechanism == "ip6" ? "/" : "//") + std::to_string(t.cidr6);
        return s;
    };
    auto decided = [&](const spf_term& t) -> spf_coverage {
        if (t.qualifier == '+') return {spf_verdict::pass, term_text(t)};
        if (!pending.empty())
            return {spf_verdict::unknown, "only if " + pending + " covers it (not followed); " +
                                              term_text(t) + " matches after it"};
        return {spf_verdict::not_pass, term_text(t) + " matches first"};
    };
    for (const auto& t : r.terms) {
        const std::string target = t.domain.empty() ? domain : t.domain;
        if (t.mechanism == "all") return decided(t);
        if (t.mechanism == "ip4" || t.mechanism == "ip6") {
            if ((t.mechanism == "ip6") != v6) continue;
            if (in_prefix(address, t.address, v6 ? t.cidr6 : t.cidr4)) return decided(t);
            continue;
        }
        if (t.domain.find('%') != std::string::npos || t.mechanism == "include" ||
            t.mechanism == "exists" || t.mechanism == "ptr") {
            if (t.qualifier != '+')
                return {spf_verdict::unknown,
                        term_text(t) + " is not followed and could decide the result"};
            if (pending.empty()) pending = term_text(t);
            continue;
        }
        // a / mx
        auto found =
            t.mechanism == "a" ? lookups.addresses(target, v6) : lookups.mx_addresses(target, v6);
        if (!found) return {spf_verdict::unknown, term_text(t) + ": " + found.error()};
        for (const auto& a : *found)
            if (in_prefix(address, a, v6 ? t.cidr6 : t.cidr4)) return decided(t);
    }
    if (!r.redirect.empty())
        return {spf_verdict::unknown, "redirect=" + r.redirect + " is not followed"};
    if (!pending.empty())
        return {spf_verdict::unknown, "only if " + pending + " covers it (not followed)"};
    return {spf_verdict::not_pass, "no mechanism matches and there is no all (neutral)"};
}

} // namespace splitmail::provision::check
