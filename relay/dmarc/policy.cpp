// DMARC evaluation; see policy.hpp.
#include "dmarc/policy.hpp"

#include "dkim/message.hpp"
#include "submission/author.hpp"

#include "splitmail/dkim/tag_list.hpp"

#include <algorithm>

namespace splitmail::relay::dmarc {

namespace {

std::optional<policy> parse_policy(std::string_view v) {
    if (v == "none") return policy::none;
    if (v == "quarantine") return policy::quarantine;
    if (v == "reject") return policy::reject;
    return std::nullopt;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// RFC 7489 3.1.1 / 3.1.2: strict = identical; relaxed = same Organizational Domain.
bool aligned(std::string_view id, std::string_view from, bool strict, const suffix_list& psl) {
    const std::string a = lower(id), b = lower(from);
    if (a.empty()) return false;
    if (strict) return a == b;
    return psl.organizational_domain(a) == psl.organizational_domain(b);
}

policy lower_policy(policy p) { return p == policy::reject ? policy::quarantine : policy::none; }

int severity(const outcome& o) {
    // Fails with a stricter applied policy first, then errors, then the rest.
    switch (o.code) {
    case result::fail: return 10 + static_cast<int>(o.applied);
    case result::temperror: return 3;
    case result::permerror: return 2;
    case result::none: return 1;
    case result::pass: return 0;
    }
    return 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 3986 2.1 percent-decoding; nullopt on a broken escape.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// One dmarc-uri: "mailto:addr[?query][!size[kmgt]]"; nullopt unless a usable mailto:.
std::optional<report_uri> parse_uri(std::string_view u) {
    u = trim(u);
    report_uri r;
    // RFC 7489 6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; "!" cannot
    // appear in a URI unescaped (6.2), so the last one starts the size.
    if (const auto bang = u.rfind('!'); bang != std::string_view::npos) {
        std::string_view size = u.substr(bang + 1);
        u = u.substr(0, bang);
        std::uint64_t unit = 1;
        if (!size.empty()) {
            switch (size.back()) {
            case 'k':
            case 'K': unit = 1ull << 10; break;
            case 'm':
            case 'M': unit = 1ull << 20; break;
            case 'g':
            case 'G': unit = 1ull << 30; break;
            case 't':
            case 'T': unit = 1ull << 40; break;
            default: break;
            }
            if (unit != 1) size.remove_suffix(1);
        }
        if (size.empty() || size.size() > 12 || !std::all_of(size.begin(), size.end(), is_digit))
            return std::nullopt;
        r.max_size = std::stoull(std::string(size)) * unit;
        if (r.max_size == 0) return std::nullopt;
    }
    if (u.size() < 7 || lower(u.substr(0, 7)) != "mailto:") return std::nullopt;
    u.remove_prefix(7);
    u = u.substr(0, u.find('?')); // RFC 6068 hfields: not ours to honour
    auto addr = percent_decode(u);
    if (!addr) return std::nullopt;
    const auto at = addr->rfind('@');
    if (at == 0 || at == std::string::npos || at + 1 == addr->size() ||
        addr->find_first_of(" \t\r\n,<>\"") != std::string::npos || addr->size() > 254)
        return std::nullopt;
    r.address = addr->substr(0, at) + "@" + lower(std::string_view(*addr).substr(at + 1));
    return r;
}

} // namespace

std::vector<report_uri> parse_rua(std::string_view value) {
    std::vector<report_uri> out;
    while (!value.empty()) {
        const auto comma = value.find(',');
        auto u = parse_uri(value.substr(0, comma));
        // RFC 7489 6.2: a receiver need not send to more than two; we keep at most 10.
        if (u && out.size() < 10 && std::find(out.begin(), out.end(), *u) == out.end())
            out.push_back(std::move(*u));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return out;
}

std::string_view to_string(result r) {
    switch (r) {
    case result::none: return "none";
    case result::pass: return "pass";
    case result::fail: return "fail";
    case result::temperror: return "temperror";
    case result::permerror: return "permerror";
    }
    return "none";
}

std::expected<record, std::string> parse_record(std::string_view txt) {
    auto tags = splitmail::dkim::parse_tags(txt);
    if (!tags) return std::unexpected("DMARC record: " + tags.error());
    // RFC 7489 6.3: v=DMARC1 first (6.4 grammar: dmarc-version is the first tag).
    if (tags->empty() || (*tags)[0].name != "v" || (*tags)[0].value != "DMARC1")
        return std::unexpected("DMARC record: v=DMARC1 is not the first tag");
    record r;
    bool have_p = false, have_sp = false;
    for (const auto& t : *tags) {
        if (t.name == "p" || t.name == "sp") {
            auto p = parse_policy(t.value);
            if (!p) return std::unexpected("DMARC record: bad " + std::string(t.name) + "=");
            (t.name == "p" ? r.p : r.sp) = *p;
            (t.name == "p" ? have_p : have_sp) = true;
        } else if (t.name == "adkim" || t.name == "aspf") {
            if (t.value != "r" && t.value != "s")
                return std::unexpected("DMARC record: bad " + std::string(t.name) + "=");
            (t.name == "adkim" ? r.adkim_strict : r.aspf_strict) = t.value == "s";
        } else if (t.name == "pct") {
            if (t.value.empty() || t.value.size() > 3 ||
                !std::all_of(t.value.begin(), t.value.end(),
                             [](char c) { return c >= '0' && c <= '9'; }))
                return std::unexpected("DMARC record: bad pct=");
            r.pct = std::stoi(std::string(t.value));
            if (r.pct > 100) return std::unexpected("DMARC record: bad pct=");
        } else if (t.name == "rua") {
            r.rua = parse_rua(t.value);
        } else if (t.name == "ri") {
            // 6.3 ri=: 32-bit unsigned; a bad value is ignored (the default applies).
            if (!t.value.empty() && t.value.size() <= 10 &&
                std::all_of(t.value.begin(), t.value.end(), is_digit)) {
                const auto v = std::stoull(std::string(t.value));
                if (v > 0 && v <= 0xffffffffull) r.ri = static_cast<std::uint32_t>(v);
            }
        } else if (t.name == "fo") {
            r.fo = std::string(t.value);
        }
    }
    if (!have_p) return std::unexpected("DMARC record: no p=");
    if (!have_sp) r.sp = r.p; // 6.3 sp=: default is p=
    return r;
}

std::optional<record> select_record(const lookup& l, std::string& why) {
    std::vector<const std::string*> dmarc;
    for (const auto& t : l.txt)
        if (t.starts_with("v=DMARC1")) dmarc.push_back(&t);
    if (dmarc.empty()) {
        why = "no DMARC record";
        return std::nullopt;
    }
    if (dmarc.size() > 1) {
        why = "more than one DMARC record"; // RFC 7489 6.6.3: no policy
        return std::nullopt;
    }
    auto r = parse_record(*dmarc[0]);
    if (!r) {
        why = r.error();
        return std::nullopt;
    }
    return *r;
}

outcome evaluate(std::string_view from_domain, const lookup& from_lookup, const lookup& org_lookup,
                 const authenticated& auth, const suffix_list& psl, int roll) {
    outcome o;
    o.from_domain = lower(from_domain);
    const std::string org = psl.organizational_domain(o.from_domain);
    // RFC 7489 6.6.3: the From domain's record; else the Organizational Domain's.
    std::string why;
    std::optional<record> rec;
    bool from_org = false;
    if (from_lookup.st == lookup::status::temp_error) {
        o.code = result::temperror;
        o.reason = "DMARC lookup failed";
        return o;
    }
    rec = select_record(from_lookup, why);
    if (!rec && org != o.from_domain) {
        if (org_lookup.st == lookup::status::temp_error) {
            o.code = result::temperror;
            o.reason = "DMARC lookup failed";
            return o;
        }
        rec = select_record(org_lookup, why);
        from_org = rec.has_value();
    }
    if (!rec) {
        o.code = why.starts_with("DMARC record:") ? result::permerror : result::none;
        o.reason = why;
        return o;
    }
    const bool spf_ok =
        auth.spf_pass && aligned(auth.spf_domain, o.from_domain, rec->aspf_strict, psl);
    bool dkim_ok = false;
    for (const auto& d : auth.dkim_domains)
        dkim_ok = dkim_ok || aligned(d, o.from_domain, rec->adkim_strict, psl);
    o.published = from_org ? rec->sp : rec->p;
    o.rec = rec;
    o.policy_domain = from_org ? org : o.from_domain;
    o.spf_aligned = spf_ok;
    o.dkim_aligned = dkim_ok;
    if (spf_ok || dkim_ok) {
        o.code = result::pass;
        o.reason = dkim_ok ? "aligned DKIM pass" : "aligned SPF pass";
        return o;
    }
    o.code = result::fail;
    // RFC 7489 6.6.4: outside the pct sample the next lower policy applies.
    o.applied = roll < rec->pct ? o.published : lower_policy(o.published);
    o.reason = "no aligned SPF or DKIM pass";
    return o;
}

outcome strictest(const std::vector<outcome>& all) {
    if (all.empty()) return {};
    return *std::max_element(all.begin(), all.end(), [](const outcome& a, const outcome& b) {
        return severity(a) < severity(b);
    });
}

std::vector<std::string> from_domains(std::string_view header_block) {
    const auto fields = dkim::parse_header(dkim::split_message(header_block).header);
    const dkim::header_field* from = nullptr;
    for (const auto& f : fields) {
        if (!dkim::iequals(f.name, "from")) continue;
        if (from) return {}; // RFC 5322 3.6: one From: field
        from = &f;
    }
    if (!from) return {};
    auto list = parse_address_list(from->raw.substr(from->raw.find(':') + 1));
    if (!list) return {};
    std::vector<std::string> out;
    for (const auto& a : list->addresses) {
        const auto at = a.rfind('@');
        if (at == std::string::npos) return {};
        std::string d = lower(std::string_view(a).substr(at + 1));
        if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(std::move(d));
    }
    return out;
}

} // namespace splitmail::relay::dmarc
