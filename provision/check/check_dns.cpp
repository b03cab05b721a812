// The "dns" check: the plan of `splitmail dns plan` against what a resolver answers.
#include "check/checks.hpp"
#include "check/records.hpp"
#include "dns/plan.hpp"

namespace splitmail::provision::check {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
    return out.empty() ? "nothing" : out;
}

// RRsets with a check of their own: the apex TXT (SPF, judged by what it lets pass), DKIM keys
// (compared as tag lists), TLSA (compared with the certificate).
bool judged_elsewhere(const desec::rrset& r) {
    if (r.type == "TLSA") return true;
    if (r.type != "TXT") return false;
    return r.subname.empty() || r.subname.ends_with("._domainkey") || r.subname == "_domainkey";
}

} // namespace

findings check_dns(context& c) {
    findings out;
    if (!c.relay) return out;
    auto dns = c.dns();
    if (!dns) return {fail("dns", dns.error(), resolver_fix(c))};
    for (const auto& d : c.s.domains) {
        auto p = dns::make_plan(c.s, d);
        if (!p) {
            out.push_back(
                fail("dns", d + ": no plan to compare with: " + p.error(),
                     "fix what the message names, then splitmail dns plan --domain " + d));
            continue;
        }
        for (const auto& r : p->rrsets) {
            if (judged_elsewhere(r)) continue;
            const std::string name = r.subname.empty() ? d : r.subname + "." + d;
            auto type = parse_rr_type(r.type);
            const std::string label = r.type + " " + name;
            if (!type) {
                out.push_back(warn("dns", label + ": type not checked by splitmail check"));
                continue;
            }
            if (!(*dns)->unreachable().empty()) {
                // One line for what was not asked, not one per record (issue 16 bug 6).
                out.push_back(
                    fail("dns",
                         d + ": the remaining records were not looked up: " + (*dns)->unreachable(),
                         resolver_fix(c)));
                break;
            }
            auto a = (*dns)->query(name, *type);
            if (a.status == dns_status::error) {
                out.push_back(fail("dns", label + ": lookup failed: " + a.error, resolver_fix(c)));
                continue;
            }
            auto diff = compare_rrset(*type, r.records, a.records);
            if (diff.same()) {
                out.push_back(ok("dns", label + " as planned"));
            } else if (a.records.empty()) {
                out.push_back(fail("dns",
                                   label + " is missing (" +
                                       (a.status == dns_status::nxdomain ? "NXDOMAIN" : "no data") +
                                       "; planned: " + join(r.records) + ")",
                                   dns_apply_fix(c, d)));
            } else {
                std::string detail = label + " differs from the plan:";
                if (!diff.missing.empty()) detail += " missing " + join(diff.missing) + ";";
                if (!diff.extra.empty()) detail += " not planned " + join(diff.extra) + ";";
                if (!diff.unparsed.empty()) detail += " unreadable " + join(diff.unparsed) + ";";
                detail.pop_back();
                out.push_back(fail("dns", detail, dns_apply_fix(c, d)));
            }
        }
    }
    return out;
}

} // namespace splitmail::provision::check
