// DKIM tag-lists and DKIM-Signature fields; see signature.hpp.
#include "dkim/signature.hpp"

#include "dkim/key.hpp"

#include "splitmail/smtp/base64.hpp"

namespace splitmail::relay::dkim {

namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_copy(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}

// Offsets of a range of `text` with FWS trimmed on both sides.
std::pair<std::size_t, std::size_t> trim(std::string_view text, std::size_t b, std::size_t e) {
    while (b < e && is_fws(text[b])) ++b;
    while (e > b && is_fws(text[e - 1])) --e;
    return {b, e};
}

// At most 18 digits: fits an int64 with no overflow check needed.
std::optional<std::int64_t> parse_number(std::string_view v) {
    if (v.empty() || v.size() > 18) return std::nullopt;
    std::int64_t n = 0;
    for (char c : v) {
        if (!is_digit(c)) return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

std::string strip_fws(std::string_view v) {
    std::string out;
    for (char c : v)
        if (!is_fws(c)) out.push_back(c);
    return out;
}

// RFC 6376 3.5 h=: names separated by ':' with FWS around them.
std::optional<std::vector<std::string>> parse_header_list(std::string_view v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const auto colon = v.find(':', start);
        const auto end = colon == std::string_view::npos ? v.size() : colon;
        const auto [b, e] = trim(v, start, end);
        const std::string_view name = v.substr(b, e - b);
        if (name.empty()) return std::nullopt;
        for (char c : name) {
            const auto u = static_cast<unsigned char>(c);
            // RFC 5322 3.6.8 field-name: printable US-ASCII except ':'.
            if (u < 0x21 || u > 0x7e) return std::nullopt;
        }
        out.push_back(lower_copy(name));
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    return out;
}

std::optional<std::pair<canon, canon>> parse_canon(std::string_view v) {
    auto one = [](std::string_view s) -> std::optional<canon> {
        if (s == "simple") return canon::simple;
        if (s == "relaxed") return canon::relaxed;
        return std::nullopt;
    };
    const auto slash = v.find('/');
    auto h = one(v.substr(0, slash));
    if (!h) return std::nullopt;
    if (slash == std::string_view::npos) return std::pair{*h, canon::simple}; // 3.5 default
    auto b = one(v.substr(slash + 1));
    if (!b) return std::nullopt;
    return std::pair{*h, *b};
}

bool is_same_or_subdomain(std::string_view sub, std::string_view parent) {
    if (sub.size() == parent.size()) return sub == parent;
    return sub.size() > parent.size() && sub.ends_with(parent) &&
           sub[sub.size() - parent.size() - 1] == '.';
}

signature_error syntax(std::string r) { return {signature_error::kind::syntax, std::move(r)}; }
signature_error policy(std::string r) { return {signature_error::kind::policy, std::move(r)}; }

const tag* find(const std::vector<tag>& tags, std::string_view name) {
    for (const auto& t : tags)
        if (t.name == name) return &t;
    return nullptr;
}

} // namespace

std::optional<std::string> decode_base64(std::string_view text) {
    return smtp::decode_base64(strip_fws(text));
}

std::string_view to_string(sig_algorithm a) {
    switch (a) {
    case sig_algorithm::rsa_sha256: return "rsa-sha256";
    case sig_algorithm::ed25519_sha256: return "ed25519-sha256";
    case sig_algorithm::rsa_sha1: return "rsa-sha1";
    }
    return "?";
}

std::expected<dkim_signature, signature_error> parse_signature(std::string_view value) {
    auto tags = parse_tags(value);
    if (!tags) return std::unexpected(syntax(tags.error()));
    // RFC 6376 6.1.1: v a b bh d h s are required.
    for (std::string_view req : {"v", "a", "b", "bh", "d", "h", "s"})
        if (!find(*tags, req)) return std::unexpected(syntax("missing tag " + std::string(req)));
    dkim_signature sig;
    if (find(*tags, "v")->value != "1")
        return std::unexpected(
            syntax("unsupported version v=" + std::string(find(*tags, "v")->value.substr(0, 16))));

    const tag& a = *find(*tags, "a");
    sig.a = a.value;
    if (a.value == "rsa-sha256")
        sig.alg = sig_algorithm::rsa_sha256;
    else if (a.value == "ed25519-sha256")
        sig.alg = sig_algorithm::ed25519_sha256;
    else if (a.value == "rsa-sha1")
        sig.alg = sig_algorithm::rsa_sha1;
    else
        return std::unexpected(syntax("unknown algorithm a=" + std::string(a.value.substr(0, 32))));

    const tag& b = *find(*tags, "b");
    auto bdec = decode_base64(b.value);
    if (!bdec || bdec->empty()) return std::unexpected(syntax("b= is not base64"));
    sig.b = std::move(*bdec);
    sig.b_text = b.value;
    sig.b_value_begin = b.value_begin;
    sig.b_value_end = b.value_end;

    auto bh = decode_base64(find(*tags, "bh")->value);
    const std::size_t digest = sig.alg == sig_algorithm::rsa_sha1 ? 20 : 32;
    if (!bh || bh->size() != digest) return std::unexpected(syntax("bh= is not a digest"));
    sig.bh = std::move(*bh);

    if (const tag* c = find(*tags, "c")) {
        auto cc = parse_canon(c->value);
        if (!cc)
            return std::unexpected(
                syntax("unknown canonicalization c=" + std::string(c->value.substr(0, 32))));
        sig.header_canon = cc->first;
        sig.body_canon = cc->second;
    }

    sig.domain = lower_copy(find(*tags, "d")->value);
    if (!valid_domain(sig.domain)) return std::unexpected(syntax("d= is not a domain name"));
    sig.selector = std::string(find(*tags, "s")->value);
    if (!valid_selector(sig.selector)) return std::unexpected(syntax("s= is not a selector"));

    auto h = parse_header_list(find(*tags, "h")->value);
    if (!h) return std::unexpected(syntax("h= is not a list of field names"));
    sig.signed_headers = std::move(*h);

    for (std::string_view n : {"l", "t", "x"}) {
        const tag* t = find(*tags, n);
        if (!t) continue;
        auto v = parse_number(t->value);
        if (!v) return std::unexpected(syntax(std::string(n) + "= is not a number"));
        if (n == "l") sig.length = static_cast<std::uint64_t>(*v);
        if (n == "t") sig.timestamp = *v;
        if (n == "x") sig.expiry = *v;
    }

    sig.auid = "@" + sig.domain;
    if (const tag* i = find(*tags, "i")) {
        const auto at = i->value.rfind('@');
        if (at == std::string_view::npos) return std::unexpected(syntax("i= has no '@'"));
        sig.auid = std::string(i->value);
        // RFC 6376 3.5 i=: its domain MUST be d= or a subdomain of it.
        if (!is_same_or_subdomain(lower_copy(i->value.substr(at + 1)), sig.domain))
            return std::unexpected(policy("i= domain is not d= or a subdomain of it"));
    }

    // RFC 6376 5.4 / 6.1.1: a signature that does not cover From is unacceptable.
    bool from = false;
    for (const auto& n : sig.signed_headers) from = from || n == "from";
    if (!from) return std::unexpected(policy("h= does not include From"));

    if (const tag* q = find(*tags, "q")) {
        bool dns = false;
        for (const auto& m : parse_header_list(q->value).value_or(std::vector<std::string>{}))
            dns = dns || m == "dns/txt";
        if (!dns) return std::unexpected(policy("no supported query method in q="));
    }
    // RFC 6376 3.5 x=: MUST be greater than t=.
    if (sig.timestamp && sig.expiry && *sig.expiry < *sig.timestamp)
        return std::unexpected(policy("x= is before t="));
    return sig;
}

std::string without_b_value(std::string_view field, std::size_t value_offset,
                            const dkim_signature& sig) {
    std::string out(field.substr(0, value_offset + sig.b_value_begin));
    out.append(field.substr(value_offset + sig.b_value_end));
    return out;
}

} // namespace splitmail::relay::dkim
