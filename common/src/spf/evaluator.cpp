// RFC 7208 4-6: check_host().
#include "splitmail/spf/evaluator.hpp"

#include <algorithm>
#include <optional>

namespace splitmail::spf {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string normal_name(std::string_view s) {
    if (s.ends_with('.')) s.remove_suffix(1);
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

// RFC 7208 4.3: a multi-label domain name, labels of 1-63 octets, ending in a top label
// (so "[192.0.2.1]" and "192.0.2.1" are not domains).
bool is_valid_domain(std::string_view d) {
    if (d.ends_with('.')) d.remove_suffix(1);
    if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
    std::size_t start = 0;
    while (true) {
        auto dot = d.find('.', start);
        auto label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
        if (label.empty() || label.size() > 63) return false;
        for (char c : label)
            if (static_cast<unsigned char>(c) <= ' ' || c == '[' || c == ']') return false;
        if (dot == std::string_view::npos) {
            bool alpha = std::any_of(label.begin(), label.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
            });
            return alpha;
        }
        start = dot + 1;
    }
}

// RFC 7208 7.3: an expanded name longer than 253 octets loses labels on the left.
std::string fit_name(std::string name) {
    if (name.ends_with('.')) name.pop_back();
    while (name.size() > 253) {
        auto dot = name.find('.');
        if (dot == std::string::npos) break;
        name.erase(0, dot + 1);
    }
    return name;
}

bool is_void(const dns_answer& a) {
    return a.status == dns_status::nxdomain || a.status == dns_status::no_data ||
           (a.status == dns_status::ok && a.records.empty());
}

result of(qualifier q) {
    switch (q) {
    case qualifier::pass: return result::pass;
    case qualifier::fail: return result::fail;
    case qualifier::softfail: return result::softfail;
    case qualifier::neutral: return result::neutral;
    }
    return result::neutral;
}

struct outcome {
    result code = result::none;
    std::string mechanism;
    std::string problem;
    std::string explanation;
};

outcome error(result r, std::string why) { return {r, {}, std::move(why), {}}; }

class evaluator {
public:
    evaluator(dns_client& dns, const ip_address& ip, std::string_view sender, std::string_view helo,
              const options& opt)
        : dns_(dns), ip_(ip), helo_(helo), opt_(opt) {
        auto at = sender.rfind('@');
        local_ = at == std::string_view::npos ? std::string_view{} : sender.substr(0, at);
        sender_domain_ = at == std::string_view::npos ? sender : sender.substr(at + 1);
        // RFC 7208 4.3: no local-part -> "postmaster".
        if (local_.empty()) local_ = "postmaster";
        sender_ = local_ + "@" + sender_domain_;
    }

    outcome run(const std::string& domain);
    unsigned terms() const { return terms_; }

private:
    using step = std::optional<outcome>; // a result that ends the evaluation

    macro_context context(std::string_view domain) {
        macro_context c;
        c.sender = sender_;
        c.local = local_;
        c.sender_domain = sender_domain_;
        c.domain = domain;
        c.ip = &ip_;
        c.helo = helo_;
        c.receiver = opt_.receiver;
        c.now = opt_.now;
        c.validated_name = [](void* self) {
            auto* e = static_cast<evaluator*>(self);
            return e->validated_name(e->p_domain_);
        };
        c.state = this;
        p_domain_ = std::string(domain);
        return c;
    }

    std::string target(const mechanism& m, const std::string& domain) {
        if (!m.domain) return domain;
        return fit_name(expand_macros(*m.domain, context(domain)));
    }

    // RFC 7208 4.6.4: terms that query DNS.
    step count_term() {
        if (++terms_ > opt_.lookup_limit)
            return error(result::permerror, "more than " + std::to_string(opt_.lookup_limit) +
                                                " DNS-querying terms (RFC 7208 4.6.4)");
        return std::nullopt;
    }
    step count_void(const dns_answer& a) {
        if (is_void(a) && ++voids_ > opt_.void_limit)
            return error(result::permerror, "more than " + std::to_string(opt_.void_limit) +
                                                " void DNS lookups (RFC 7208 4.6.4)");
        return std::nullopt;
    }

    dns_answer address_query(const std::string& name) {
        return dns_.query(name, ip_.v6 ? rr_type::aaaa : rr_type::a);
    }
    bool any_address_matches(const dns_answer& a, unsigned cidr4, unsigned cidr6) {
        if (a.status != dns_status::ok) return false;
        for (const auto& r : a.records) {
            auto addr = parse_ip(r);
            if (addr && same_prefix(*addr, ip_, ip_.v6 ? cidr6 : cidr4)) return true;
        }
        return false;
    }

    // RFC 7208 5.5: the client's names whose addresses include the client (at most 10).
    std::vector<std::string> validated_names() {
        std::vector<std::string> out;
        auto ptr = dns_.query(reverse_name(ip_), rr_type::ptr);
        if (ptr.status != dns_status::ok) return out;
        std::size_t n = std::min<std::size_t>(ptr.records.size(), 10); // 4.6.4
        for (std::size_t i = 0; i < n; ++i) {
            std::string name = normal_name(ptr.records[i]);
            if (any_address_matches(address_query(name), 32, 128)) out.push_back(name);
        }
        return out;
    }

    static bool is_within(std::string_view name, std::string_view domain) {
        return name == domain || (name.size() > domain.size() && name.ends_with(domain) &&
                                  name[name.size() - domain.size() - 1] == '.');
    }

    // RFC 7208 7.3 %{p}: a validated name, preferring <domain> or a subdomain of it.
    std::string validated_name(const std::string& domain) {
        auto names = validated_names();
        if (names.empty()) return "unknown";
        std::string d = normal_name(domain);
        for (const auto& n : names)
            if (is_within(n, d)) return n;
        return names.front();
    }

    // Whether the mechanism matches (RFC 7208 5), or the error result that ends evaluation.
    std::expected<bool, outcome> matches(const mechanism& m, const std::string& domain);
    std::string explanation(const record& rec, const std::string& domain);

    dns_client& dns_;
    const ip_address& ip_;
    std::string local_, sender_domain_, sender_;
    std::string helo_;
    const options& opt_;
    unsigned terms_ = 0, voids_ = 0;
    std::string p_domain_;
};

std::expected<bool, outcome> evaluator::matches(const mechanism& m, const std::string& domain) {
    auto fail = [](outcome o) { return std::unexpected(std::move(o)); };
    switch (m.kind) {
    case mechanism_kind::all: return true;
    case mechanism_kind::ip4: return !ip_.v6 && same_prefix(ip_, m.network, m.cidr4);
    case mechanism_kind::ip6: return ip_.v6 && same_prefix(ip_, m.network, m.cidr6);
    default: break;
    }
    if (auto s = count_term()) return fail(*s);
    std::string name = target(m, domain);
    switch (m.kind) {
    case mechanism_kind::include: {
        // RFC 7208 5.2: the included record's result decides whether "include" matches.
        auto inner = run(name);
        switch (inner.code) {
        case result::pass: return true;
        case result::fail:
        case result::softfail:
        case result::neutral: return false;
        case result::temperror: return fail(inner);
        case result::permerror: return fail(inner);
        case result::none:
            return fail(
                error(result::permerror, "include:" + name + " has no SPF record (RFC 7208 5.2)"));
        }
        return false;
    }
    case mechanism_kind::a: {
        auto a = address_query(name);
        if (a.status == dns_status::temp_error)
            return fail(error(result::temperror, "DNS error looking up " + name));
        if (auto s = count_void(a)) return fail(*s);
        return any_address_matches(a, m.cidr4, m.cidr6);
    }
    case mechanism_kind::mx: {
        auto mx = dns_.query(name, rr_type::mx);
        if (mx.status == dns_status::temp_error)
            return fail(error(result::temperror, "DNS error looking up MX of " + name));
        if (auto s = count_void(mx)) return fail(*s);
        if (mx.status != dns_status::ok) return false;
        // RFC 7208 4.6.4: more than 10 MX names is a permerror.
        if (mx.records.size() > 10)
            return fail(
                error(result::permerror, name + " has more than 10 MX records (RFC 7208 4.6.4)"));
        for (const auto& host : mx.records) {
            auto a = address_query(normal_name(host));
            if (a.status == dns_status::temp_error)
                return fail(error(result::temperror, "DNS error looking up " + host));
            if (any_address_matches(a, m.cidr4, m.cidr6)) return true;
        }
        return false;
    }
    case mechanism_kind::ptr: {
        // RFC 7208 5.5: DNS errors here never give temperror; the mechanism just misses.
        std::string d = normal_name(name);
        for (const auto& n : validated_names())
            if (is_within(n, d)) return true;
        return false;
    }
    case mechanism_kind::exists: {
        // RFC 7208 5.7: always an A query, whatever the client's family.
        auto a = dns_.query(name, rr_type::a);
        if (a.status == dns_status::temp_error)
            return fail(error(result::temperror, "DNS error looking up " + name));
        if (auto s = count_void(a)) return fail(*s);
        return a.status == dns_status::ok && !a.records.empty();
    }
    default: break;
    }
    return false;
}

std::string evaluator::explanation(const record& rec, const std::string& domain) {
    auto fallback = [&]() {
        auto m = parse_macro_string(opt_.default_explanation, macro_syntax::explain_string);
        return m ? expand_macros(*m, context(domain)) : opt_.default_explanation;
    };
    if (!rec.exp) return fallback();
    // RFC 7208 6.2: any trouble with the explanation means "as if no exp= was given".
    std::string name = fit_name(expand_macros(*rec.exp, context(domain)));
    if (!is_valid_domain(name)) return fallback();
    auto txt = dns_.query(name, rr_type::txt);
    if (txt.status != dns_status::ok || txt.records.size() != 1) return fallback();
    auto m = parse_macro_string(txt.records[0], macro_syntax::explain_string);
    if (!m) return fallback();
    return expand_macros(*m, context(domain));
}

outcome evaluator::run(const std::string& domain) {
    // RFC 7208 4.3: a malformed domain gives none.
    if (!is_valid_domain(domain))
        return error(result::none, "\"" + domain + "\" is not a valid domain name");
    // RFC 7208 4.4: the TXT records of the domain.
    auto txt = dns_.query(domain, rr_type::txt);
    if (txt.status == dns_status::temp_error)
        return error(result::temperror, "DNS error looking up TXT of " + domain);
    // RFC 7208 4.5: exactly one record starting with "v=spf1".
    const std::string* found = nullptr;
    for (const auto& r : txt.records) {
        if (!is_spf_record(r)) continue;
        if (found) return error(result::permerror, domain + " publishes more than one SPF record");
        found = &r;
    }
    if (!found) return error(result::none, domain + " publishes no SPF record");
    auto rec = parse_record(*found);
    if (!rec) return error(result::permerror, domain + ": " + rec.error());

    // RFC 7208 4.6.2: mechanisms in order, the first match decides.
    for (const auto& m : rec->mechanisms) {
        auto hit = matches(m, domain);
        if (!hit) return std::move(hit.error());
        if (!*hit) continue;
        outcome o{of(m.q), m.text, {}, {}};
        if (o.code == result::fail) o.explanation = explanation(*rec, domain);
        return o;
    }
    // RFC 7208 6.1: redirect= only when no mechanism matched; its exp= replaces ours.
    if (rec->redirect) {
        if (auto s = count_term()) return *s;
        std::string name = fit_name(expand_macros(*rec->redirect, context(domain)));
        auto inner = run(name);
        if (inner.code == result::none)
            return error(result::permerror,
                         "redirect=" + name + " has no SPF record (RFC 7208 6.1)");
        if (inner.mechanism.empty() && inner.code != result::permerror &&
            inner.code != result::temperror)
            inner.mechanism = "redirect=" + name;
        return inner;
    }
    // RFC 7208 4.7: nothing matched.
    return {result::neutral, {}, "no mechanism matched", {}};
}

std::string_view domain_of(std::string_view mailbox) {
    auto at = mailbox.rfind('@');
    return at == std::string_view::npos ? mailbox : mailbox.substr(at + 1);
}

} // namespace

std::string_view to_string(result r) {
    switch (r) {
    case result::none: return "none";
    case result::neutral: return "neutral";
    case result::pass: return "pass";
    case result::fail: return "fail";
    case result::softfail: return "softfail";
    case result::temperror: return "temperror";
    case result::permerror: return "permerror";
    }
    return "none";
}

evaluation check_host(dns_client& dns, const ip_address& ip, std::string_view domain,
                      std::string_view sender, std::string_view helo, const options& opt) {
    evaluator e(dns, ip, sender, helo, opt);
    auto o = e.run(std::string(domain));
    evaluation out;
    out.code = o.code;
    out.explanation = std::move(o.explanation);
    out.mechanism = std::move(o.mechanism);
    out.problem = std::move(o.problem);
    out.domain = std::string(domain);
    out.dns_terms = e.terms();
    return out;
}

evaluation check_mail_from(dns_client& dns, const ip_address& ip, std::string_view mail_from,
                           std::string_view helo, const options& opt) {
    // RFC 7208 2.4: a null reverse-path is checked as postmaster@<HELO>.
    if (mail_from.empty()) return check_helo(dns, ip, helo, opt);
    return check_host(dns, ip, domain_of(mail_from), mail_from, helo, opt);
}

evaluation check_helo(dns_client& dns, const ip_address& ip, std::string_view helo,
                      const options& opt) {
    std::string sender = "postmaster@" + std::string(helo);
    return check_host(dns, ip, helo, sender, helo, opt);
}

} // namespace splitmail::spf
