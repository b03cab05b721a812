// DMARC report records and their files; see records.hpp.
#include "splitmail/dmarc/records.hpp"

#include "splitmail/durable/file.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace splitmail::dmarc {

namespace fs = std::filesystem;

std::string_view to_string(policy p) {
    switch (p) {
    case policy::none: return "none";
    case policy::quarantine: return "quarantine";
    case policy::reject: return "reject";
    }
    return "none";
}

std::optional<policy> parse_policy(std::string_view v) {
    if (v == "none") return policy::none;
    if (v == "quarantine") return policy::quarantine;
    if (v == "reject") return policy::reject;
    return std::nullopt;
}

std::string_view to_string(override_reason r) {
    switch (r) {
    case override_reason::none: return "none";
    case override_reason::sampled_out: return "sampled_out";
    case override_reason::local_policy: return "local_policy";
    }
    return "none";
}

std::optional<override_reason> parse_override_reason(std::string_view v) {
    if (v == "none") return override_reason::none;
    if (v == "sampled_out") return override_reason::sampled_out;
    if (v == "local_policy") return override_reason::local_policy;
    return std::nullopt;
}

namespace {

// Version 1 lines (written before the REASON field existed) are still read: reason none.
constexpr std::size_t field_count_v1 = 19;
constexpr std::size_t field_count = 20;

bool plain(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != '%' && c != ',' && c != ';';
}

void escape_into(std::string& out, std::string_view v) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char c : v) {
        if (plain(c)) {
            out += c;
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        out += '%';
        out += hex[u >> 4];
        out += hex[u & 15];
    }
}

// A top-level field: "-" for empty, "%2D" for "-".
void field(std::string& out, std::string_view v) {
    if (!out.empty()) out += ' ';
    if (v.empty())
        out += '-';
    else if (v == "-")
        out += "%2D";
    else
        escape_into(out, v);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::string> unescape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (c == '%') {
            if (i + 2 >= v.size()) return std::nullopt;
            const int hi = hex_value(v[i + 1]), lo = hex_value(v[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (plain(c)) {
            out += c;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::optional<std::string> top(std::string_view v) {
    if (v == "-") return std::string();
    return unescape(v);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        const auto at = s.find(sep);
        out.push_back(s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + 1);
    }
    return out;
}

template <class T>
std::optional<T> number(std::string_view v) {
    T n{};
    if (v.empty() || v.size() > 20) return std::nullopt;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return n;
}

} // namespace

bool valid_dkim_result(std::string_view r) {
    static constexpr std::array ok{"none",    "pass",      "fail",     "policy",
                                   "neutral", "temperror", "permerror"};
    return std::find(ok.begin(), ok.end(), r) != ok.end();
}

bool valid_spf_result(std::string_view r) {
    static constexpr std::array ok{"none",     "neutral",   "pass",     "fail",
                                   "softfail", "temperror", "permerror"};
    return std::find(ok.begin(), ok.end(), r) != ok.end();
}

std::string encode(const observation& o) {
    std::string out;
    field(out, "2");
    field(out, std::to_string(o.time));
    field(out, o.source_ip);
    field(out, o.header_from);
    field(out, o.envelope_from);
    field(out, o.policy_domain);
    field(out, o.spf_domain);
    field(out, o.spf_helo ? "helo" : "mfrom");
    field(out, o.spf_result);
    field(out, std::string{o.dkim_aligned ? 'p' : 'f', o.spf_aligned ? 'p' : 'f'});
    field(out, to_string(o.disposition));
    field(out, to_string(o.p));
    field(out, to_string(o.sp));
    field(out, std::to_string(o.pct));
    field(out, o.adkim_strict ? "s" : "r");
    field(out, o.aspf_strict ? "s" : "r");
    field(out, o.fo);
    // Lists: items escaped one by one, then joined (the separators stay literal).
    out += ' ';
    if (o.dkim.empty()) out += '-';
    for (std::size_t i = 0; i < o.dkim.size() && i < max_dkim; ++i) {
        if (i) out += ',';
        escape_into(out, o.dkim[i].domain);
        out += ';';
        escape_into(out, o.dkim[i].selector);
        out += ';';
        escape_into(out, o.dkim[i].result);
    }
    out += ' ';
    if (o.rua.empty()) out += '-';
    for (std::size_t i = 0; i < o.rua.size() && i < 10; ++i) {
        if (i) out += ',';
        escape_into(out, o.rua[i].address);
        out += ';';
        out += std::to_string(o.rua[i].max_size);
    }
    field(out, to_string(o.reason));
    return out;
}

std::expected<observation, std::string> decode(std::string_view line) {
    const auto f = split(line, ' ');
    if (f.empty() || (f[0] != "1" && f[0] != "2")) return std::unexpected("unknown record version");
    if (f.size() != (f[0] == "1" ? field_count_v1 : field_count))
        return std::unexpected("wrong number of fields");
    std::array<std::string, field_count_v1 - 2> v; // the scalar fields before the lists
    for (std::size_t i = 0; i + 2 < field_count_v1; ++i) {
        auto s = top(f[i]);
        if (!s) return std::unexpected("bad escape in field " + std::to_string(i + 1));
        v[i] = std::move(*s);
    }
    observation o;
    auto t = number<std::int64_t>(v[1]);
    if (!t || *t < 0) return std::unexpected("bad time");
    o.time = *t;
    o.source_ip = v[2];
    o.header_from = v[3];
    o.envelope_from = v[4];
    o.policy_domain = v[5];
    if (o.source_ip.empty() || o.header_from.empty() || o.policy_domain.empty())
        return std::unexpected("empty source IP, header_from or policy domain");
    o.spf_domain = v[6];
    if (v[7] != "helo" && v[7] != "mfrom") return std::unexpected("bad SPF scope");
    o.spf_helo = v[7] == "helo";
    if (!valid_spf_result(v[8])) return std::unexpected("bad SPF result");
    o.spf_result = v[8];
    if (v[9].size() != 2 || (v[9][0] != 'p' && v[9][0] != 'f') ||
        (v[9][1] != 'p' && v[9][1] != 'f'))
        return std::unexpected("bad alignment");
    o.dkim_aligned = v[9][0] == 'p';
    o.spf_aligned = v[9][1] == 'p';
    auto disp = parse_policy(v[10]), p = parse_policy(v[11]), sp = parse_policy(v[12]);
    if (!disp || !p || !sp) return std::unexpected("bad policy");
    o.disposition = *disp;
    o.p = *p;
    o.sp = *sp;
    auto pct = number<int>(v[13]);
    if (!pct || *pct < 0 || *pct > 100) return std::unexpected("bad pct");
    o.pct = *pct;
    if ((v[14] != "r" && v[14] != "s") || (v[15] != "r" && v[15] != "s"))
        return std::unexpected("bad alignment mode");
    o.adkim_strict = v[14] == "s";
    o.aspf_strict = v[15] == "s";
    o.fo = v[16];
    if (f[17] != "-") {
        const auto items = split(f[17], ',');
        if (items.size() > max_dkim) return std::unexpected("too many DKIM results");
        for (auto item : items) {
            const auto parts = split(item, ';');
            if (parts.size() != 3) return std::unexpected("bad DKIM result");
            dkim_auth d;
            auto dom = unescape(parts[0]), sel = unescape(parts[1]), res = unescape(parts[2]);
            if (!dom || !sel || !res || dom->empty() || !valid_dkim_result(*res))
                return std::unexpected("bad DKIM result");
            o.dkim.push_back({std::move(*dom), std::move(*sel), std::move(*res)});
        }
    }
    if (f[18] != "-") {
        const auto items = split(f[18], ',');
        if (items.size() > 10) return std::unexpected("too many rua URIs");
        for (auto item : items) {
            const auto parts = split(item, ';');
            if (parts.size() != 2) return std::unexpected("bad rua");
            auto addr = unescape(parts[0]);
            auto size = number<std::uint64_t>(parts[1]);
            if (!addr || addr->empty() || !size) return std::unexpected("bad rua");
            o.rua.push_back({std::move(*addr), *size});
        }
    }
    if (f.size() == field_count) {
        auto reason = parse_override_reason(f[19]);
        if (!reason) return std::unexpected("bad override reason");
        o.reason = *reason;
    }
    return o;
}

period period_of(std::int64_t now, std::chrono::seconds interval) {
    const std::int64_t len = std::max<std::int64_t>(1, interval.count());
    const std::int64_t begin = now >= 0 ? now / len * len : ((now - len + 1) / len) * len;
    return {begin, begin + len};
}

std::string period_file_name(const period& p, std::string_view ext) {
    return "records-" + std::to_string(p.begin) + "-" + std::to_string(p.end) + "." +
           std::string(ext);
}

std::optional<period> parse_period_file_name(std::string_view name, std::string_view ext) {
    constexpr std::string_view prefix = "records-";
    if (!name.starts_with(prefix)) return std::nullopt;
    name.remove_prefix(prefix.size());
    const std::string suffix = "." + std::string(ext);
    if (!name.ends_with(suffix)) return std::nullopt;
    name.remove_suffix(suffix.size());
    const auto dash = name.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    period p;
    auto parse = [](std::string_view s, std::int64_t& out) {
        if (s.empty() || s.size() > 18) return false;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
    };
    if (!parse(name.substr(0, dash), p.begin) || !parse(name.substr(dash + 1), p.end) ||
        p.end <= p.begin)
        return std::nullopt;
    return p;
}

std::vector<stored_period> list_periods(const fs::path& dir) {
    std::vector<stored_period> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const auto name = e.path().filename().string();
        if (auto p = parse_period_file_name(name, "log"))
            out.push_back({*p, e.path(), fs::exists(dir / period_file_name(*p, "sent"), ec)});
    }
    std::sort(out.begin(), out.end(),
              [](const stored_period& a, const stored_period& b) { return a.p.begin < b.p.begin; });
    return out;
}

std::expected<read_result, std::string> read_period(const fs::path& log) {
    // The recorder's caps bound the file: max_records lines of at most max_line octets.
    durable::read_options opt;
    opt.max_size = std::size_t{1} << 30;
    auto text = durable::read_file(log, opt);
    if (!text) return std::unexpected(text.error().text());
    read_result r;
    std::string_view rest = *text;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        if (nl == std::string_view::npos) { // a line cut by a crash
            ++r.bad_lines;
            break;
        }
        auto o = decode(rest.substr(0, nl));
        if (o)
            r.records.push_back(std::move(*o));
        else
            ++r.bad_lines;
        rest.remove_prefix(nl + 1);
    }
    return r;
}

std::error_code mark_sent(const fs::path& dir, const period& p) {
    auto r = durable::replace_file(dir / period_file_name(p, "sent"), std::string_view("sent\n"));
    return r ? std::error_code() : r.error().code;
}

void prune(const fs::path& dir, std::int64_t before) {
    std::error_code ec;
    for (const auto& sp : list_periods(dir)) {
        if (!sp.sent || sp.p.end >= before) continue;
        fs::remove(sp.log, ec);
        fs::remove(dir / period_file_name(sp.p, "sent"), ec);
    }
}

} // namespace splitmail::dmarc
