// Summary of received DMARC aggregate reports; see summary.hpp.
#include "report_in/summary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <tuple>
#include <utility>

namespace splitmail::provision::report_in {
namespace {

using dmarc::report_in::aggregate_report;
using dmarc::report_in::report_record;

// File names and attachment names come from outside: no terminal control characters.
std::string printable(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}
std::string rpad(const std::string& s, std::size_t width) {
    return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string policy_text(const aggregate_report& r) {
    const auto& p = r.policy;
    std::string out = "p=" + or_dash(p.p);
    if (!p.sp.empty()) out += " sp=" + p.sp;
    if (p.pct) out += " pct=" + std::to_string(*p.pct);
    if (!p.adkim.empty()) out += " adkim=" + p.adkim;
    if (!p.aspf.empty()) out += " aspf=" + p.aspf;
    return out;
}

constexpr std::size_t ip_width = 39; // the longest IPv6 text

} // namespace

std::string utc_minute(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) return std::to_string(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

summary summarise(std::vector<input_report> reports, std::vector<skipped_input> skipped) {
    summary s;
    s.skipped = std::move(skipped);
    std::map<std::pair<std::string, std::string>, std::string> seen; // (org, id) -> source
    std::map<std::string, domain_summary> domains;
    std::map<std::string, std::map<std::string, source_total>> sources; // domain -> ip -> sums
    for (auto& in : reports) {
        auto& r = in.report;
        auto [it, fresh] = seen.emplace(std::pair(r.org_name, r.report_id), in.source);
        if (!fresh) {
            ++s.duplicates;
            s.skipped.push_back({in.source, "duplicate of report " + r.report_id + " from " +
                                                r.org_name + " (first read from " + it->second +
                                                ")"});
            continue;
        }
        ++s.reports;
        std::sort(r.records.begin(), r.records.end(),
                  [](const report_record& a, const report_record& b) {
                      return a.count != b.count ? a.count > b.count : a.source_ip < b.source_ip;
                  });
        auto& d = domains[r.policy.domain];
        d.domain = r.policy.domain;
        auto& ips = sources[r.policy.domain];
        for (const auto& rec : r.records) {
            auto& t = ips[rec.source_ip];
            t.ip = rec.source_ip;
            (rec.dmarc_pass() ? t.pass : t.fail) += rec.count;
            (rec.dmarc_pass() ? d.pass : d.fail) += rec.count;
        }
        d.reports.push_back(std::move(in));
    }
    for (auto& [name, d] : domains) {
        std::stable_sort(d.reports.begin(), d.reports.end(),
                         [](const input_report& a, const input_report& b) {
                             const auto &x = a.report, &y = b.report;
                             return std::tie(x.begin, x.org_name, x.report_id) <
                                    std::tie(y.begin, y.org_name, y.report_id);
                         });
        for (auto& [ip, t] : sources[name]) d.sources.push_back(t);
        std::sort(d.sources.begin(), d.sources.end(),
                  [](const source_total& a, const source_total& b) {
                      if (a.fail != b.fail) return a.fail > b.fail;
                      if (a.pass != b.pass) return a.pass > b.pass;
                      return a.ip < b.ip;
                  });
        s.domains.push_back(std::move(d));
    }
    return s;
}

std::string render_text(const summary& s) {
    std::string o = "DMARC aggregate reports: " + plural(s.reports, "report", "reports") +
                    " read, " + plural(s.duplicates, "duplicate", "duplicates") + ", " +
                    std::to_string(s.skipped.size() - s.duplicates) + " skipped\n";
    for (const auto& d : s.domains) {
        o += "\n" + d.domain + ": " + plural(d.reports.size(), "report", "reports") + ", " +
             plural(d.pass + d.fail, "message", "messages") + ", " + std::to_string(d.pass) +
             " pass DMARC, " + std::to_string(d.fail) + " fail\n";
        for (const auto& in : d.reports) {
            const auto& r = in.report;
            o += "  " + r.org_name + "  " + utc_minute(r.begin) + " .. " + utc_minute(r.end) +
                 " UTC  id " + r.report_id + "  " + policy_text(r) + "\n";
            o += "    " + pad("source IP", ip_width) + "  " + rpad("count", 10) +
                 "  DKIM  SPF   disposition  DMARC\n";
            for (const auto& rec : r.records)
                o += "    " + pad(rec.source_ip, ip_width) + "  " +
                     rpad(std::to_string(rec.count), 10) + "  " + pad(or_dash(rec.dkim), 4) + "  " +
                     pad(or_dash(rec.spf), 4) + "  " + pad(or_dash(rec.disposition), 11) + "  " +
                     (rec.dmarc_pass() ? "pass" : "FAIL") + "\n";
        }
        o += "  who sends as " + d.domain + ":\n";
        o += "    failing DMARC (spoofing, or a sender you have not set up):\n";
        bool any = false;
        for (const auto& t : d.sources)
            if (t.fail) {
                o +=
                    "      " + pad(t.ip, ip_width) + "  " + rpad(std::to_string(t.fail), 10) + "\n";
                any = true;
            }
        if (!any) o += "      (none)\n";
        o += "    passing DMARC:\n";
        std::vector<const source_total*> passing;
        for (const auto& t : d.sources)
            if (t.pass) passing.push_back(&t);
        std::stable_sort(passing.begin(), passing.end(),
                         [](auto* a, auto* b) { return a->pass > b->pass; });
        for (const auto* t : passing)
            o += "      " + pad(t->ip, ip_width) + "  " + rpad(std::to_string(t->pass), 10) + "\n";
        if (passing.empty()) o += "      (none)\n";
    }
    if (!s.skipped.empty()) {
        o += "\nskipped:\n";
        for (const auto& k : s.skipped)
            o += "  " + printable(k.source) + ": " + printable(k.reason) + "\n";
    }
    return o;
}

std::string render_json(const summary& s) {
    using nlohmann::json;
    json doms = json::array();
    for (const auto& d : s.domains) {
        json reps = json::array();
        for (const auto& in : d.reports) {
            const auto& r = in.report;
            json rows = json::array();
            for (const auto& rec : r.records)
                rows.push_back({{"source_ip", rec.source_ip},
                                {"count", rec.count},
                                {"dkim", rec.dkim},
                                {"spf", rec.spf},
                                {"disposition", rec.disposition},
                                {"dmarc", rec.dmarc_pass() ? "pass" : "fail"},
                                {"header_from", rec.header_from},
                                {"envelope_from", rec.envelope_from}});
            json pol = {{"p", r.policy.p},
                        {"sp", r.policy.sp},
                        {"adkim", r.policy.adkim},
                        {"aspf", r.policy.aspf}};
            pol["pct"] = r.policy.pct ? json(*r.policy.pct) : json(nullptr);
            reps.push_back({{"org_name", r.org_name},
                            {"email", r.email},
                            {"report_id", r.report_id},
                            {"begin", r.begin},
                            {"end", r.end},
                            {"source", printable(in.source)},
                            {"policy", pol},
                            {"rows", rows}});
        }
        json srcs = json::array();
        for (const auto& t : d.sources)
            srcs.push_back({{"source_ip", t.ip}, {"pass", t.pass}, {"fail", t.fail}});
        doms.push_back({{"domain", d.domain},
                        {"messages", d.pass + d.fail},
                        {"pass", d.pass},
                        {"fail", d.fail},
                        {"reports", reps},
                        {"sources", srcs}});
    }
    json skipped = json::array();
    for (const auto& k : s.skipped)
        skipped.push_back({{"source", printable(k.source)}, {"reason", printable(k.reason)}});
    json out = {{"reports", s.reports},
                {"duplicates", s.duplicates},
                {"domains", doms},
                {"skipped", skipped}};
    // Texts from reports need not be UTF-8: replace bad sequences rather than throw.
    return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace splitmail::provision::report_in
