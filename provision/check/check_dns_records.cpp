// The DNS-record checks of `splitmail check`: spf, dkim, tlsa, ptr (see checks.hpp).
#include "check/cert.hpp"
#include "splitmail/durable/file.hpp"
#include "check/checks.hpp"
#include "check/dkim_record.hpp"
#include "check/records.hpp"
#include "check/spf.hpp"
#include "commands/dkim.hpp"
#include "setup/rollover.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <unistd.h>

namespace splitmail::provision::check {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : std::string(sep)) + x;
    return out;
}

} // namespace

findings check_spf(context& c) {
    findings out;
    auto dns = c.dns();
    if (!dns) return {fail("spf", dns.error(), resolver_fix(c))};
    std::vector<std::string> addrs;
    for (const auto* a : {&c.s.public_ipv4, &c.s.public_ipv6})
        if (!a->empty()) addrs.push_back(*a);
    spf_lookups look;
    look.addresses = [&](const std::string& name,
                         bool v6) -> std::expected<std::vector<std::string>, std::string> {
        auto a = (*dns)->query(name, v6 ? rr_type::aaaa : rr_type::a);
        if (a.status == dns_status::error) return std::unexpected(a.error);
        return a.records;
    };
    look.mx_addresses = [&](const std::string& domain,
                            bool v6) -> std::expected<std::vector<std::string>, std::string> {
        auto mx = (*dns)->query(domain, rr_type::mx);
        if (mx.status == dns_status::error) return std::unexpected(mx.error);
        std::vector<std::string> all;
        std::size_t n = 0;
        for (const auto& rec : mx.records) {
            if (++n > 10) break; // RFC 7208 4.6.4: at most 10 MX names per mx mechanism
            auto space = rec.find(' ');
            if (space == std::string::npos) continue;
            auto got = look.addresses(rec.substr(space + 1), v6);
            if (!got) return got;
            all.insert(all.end(), got->begin(), got->end());
        }
        return all;
    };
    for (const auto& d : c.s.domains) {
        auto txt = (*dns)->query(d, rr_type::txt);
        if (txt.status == dns_status::error) {
            out.push_back(fail("spf", d + ": TXT lookup failed: " + txt.error, resolver_fix(c)));
            continue;
        }
        std::vector<std::string> spf;
        for (const auto& r : txt.records)
            if (auto j = txt_joined(r); j && is_spf(*j)) spf.push_back(*j);
        if (spf.empty()) {
            out.push_back(
                fail("spf", d + ": no SPF record (TXT \"v=spf1 ...\")", dns_apply_fix(c, d)));
            continue;
        }
        if (spf.size() > 1) {
            out.push_back(fail("spf",
                               d + ": " + std::to_string(spf.size()) +
                                   " SPF records; receivers treat that as an error (RFC 7208 "
                                   "4.5): " +
                                   join(spf, " | "),
                               "keep one: " + dns_apply_fix(c, d) +
                                   " replaces the apex TXT records with the planned one"));
            continue;
        }
        auto rec = parse_spf(spf[0]);
        if (!rec) {
            out.push_back(fail(
                "spf", d + ": SPF record does not parse: " + rec.error() + " (\"" + spf[0] + "\")",
                dns_apply_fix(c, d)));
            continue;
        }
        if (addrs.empty()) {
            out.push_back(
                warn("spf",
                     d + ": one SPF record; the site file names no public "
                         "address, so coverage is not checked",
                     "set site.public_ipv4 / site.public_ipv6 in " + c.site_file.string()));
            continue;
        }
        for (const auto& a : addrs) {
            auto cov = spf_covers(*rec, a, d, look);
            const std::string mech = (a.find(':') != std::string::npos ? "ip6:" : "ip4:") + a;
            if (cov.verdict == spf_verdict::pass) {
                out.push_back(ok("spf", d + ": SPF lets " + a + " pass (" + cov.reason + ")"));
            } else if (cov.verdict == spf_verdict::not_pass) {
                out.push_back(fail("spf",
                                   d + ": SPF does not let the relay's address " + a +
                                       " pass: " + cov.reason + " (\"" + spf[0] + "\")",
                                   dns_apply_fix(c, d) + " (or add " + mech +
                                       " before the all of the SPF record)"));
            } else {
                out.push_back(warn("spf",
                                   d + ": cannot tell whether SPF lets " + a +
                                       " pass: " + cov.reason + " (checked: ip4, ip6, a, mx, all)",
                                   "add " + mech + " to the SPF record of " + d));
            }
        }
    }
    return out;
}

findings check_dkim(context& c) {
    findings out;
    if (!c.relay) return out;
    const fs::path dir = c.relay->dkim_dir;
    if (dir.empty())
        return {warn("dkim",
                     "dkim.dir is not set in " + c.relay->file.string() +
                         ": outgoing mail is not signed",
                     "splitmail dkim keygen --domain " + c.s.domains.front() +
                         " --selector sm1 --dir /etc/splitmail/dkim, then set dkim.dir = "
                         "\"/etc/splitmail/dkim\" and systemctl restart splitmail-relay")};
    auto dns = c.dns();
    if (!dns) return {fail("dkim", dns.error(), resolver_fix(c))};
    for (const auto& d : c.s.domains) {
        std::vector<fs::path> keys;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir / d, ec))
            if (e.path().extension() == ".key") keys.push_back(e.path());
        std::sort(keys.begin(), keys.end());
        if (keys.empty()) {
            out.push_back(fail("dkim",
                               d + ": no DKIM key in " + (dir / d).string() +
                                   (ec ? " (" + ec.message() + ")" : ""),
                               "splitmail dkim keygen --domain " + d + " --selector sm1 --dir " +
                                   dir.string() + ", then " + dns_apply_fix(c, d)));
            continue;
        }
        for (const auto& k : keys) {
            const std::string sel = k.stem().string();
            const std::string name = sel + "._domainkey." + d;
            const std::string fix = dns_apply_fix(c, d) +
                                    " (or publish the output of "
                                    "`splitmail dkim txt --domain " +
                                    d + " --selector " + sel + " --dir " + dir.string() + "`)";
            auto local = dkim_txt_value(k);
            if (!local) {
                const bool denied = ::access(k.c_str(), R_OK) != 0 && errno == EACCES;
                out.push_back(fail("dkim", local.error(),
                                   denied ? std::string("run splitmail check as root (DKIM keys "
                                                        "are mode 0600)")
                                          : "splitmail dkim keygen --domain " + d + " --selector " +
                                                sel + " --dir " + dir.string() + " --force"));
                continue;
            }
            auto a = (*dns)->query(name, rr_type::txt);
            if (a.status == dns_status::error) {
                out.push_back(
                    fail("dkim", name + ": TXT lookup failed: " + a.error, resolver_fix(c)));
                continue;
            }
            if (a.status != dns_status::answer) {
                out.push_back(fail("dkim",
                                   d + ": key " + sel + " (" + k.string() +
                                       ") is not published: " + name + " has no TXT record",
                                   fix));
                continue;
            }
            bool same = false, revoked = false;
            for (const auto& r : a.records) {
                auto j = txt_joined(r);
                if (!j) continue;
                auto m = compare_dkim(*local, *j);
                same = same || m == dkim_match::same;
                revoked = revoked || m == dkim_match::revoked;
            }
            if (same && a.records.size() == 1) {
                out.push_back(ok("dkim", d + ": key " + sel + " is published at " + name));
            } else if (same) {
                out.push_back(warn("dkim",
                                   d + ": key " + sel + " is published at " + name + ", with " +
                                       std::to_string(a.records.size() - 1) +
                                       " other TXT record(s) there (RFC 6376 3.6.2.2: results "
                                       "are undefined)",
                                   fix));
            } else {
                out.push_back(fail("dkim",
                                   d + ": " + name +
                                       (revoked ? " publishes a revoked key (p=)"
                                                : " publishes another key than " + k.string()),
                                   fix));
            }
        }
    }
    return out;
}

findings check_tlsa(context& c) {
    if (!c.relay) return {};
    if (c.relay->tls_cert.empty())
        return {
            fail("tlsa",
                 "tls.cert is not set in " + c.relay->file.string() + ": no certificate to publish",
                 "set tls.cert and tls.key in " + c.relay->file.string())};
    auto pem = durable::read_file(c.relay->tls_cert);
    if (!pem)
        return {fail("tlsa", pem.error().text(), "fix tls.cert in " + c.relay->file.string())};
    auto cert = inspect_cert(*pem, "", "", c.now);
    if (!cert)
        return {fail("tlsa", c.relay->tls_cert.string() + ": " + cert.error(),
                     "fix tls.cert in " + c.relay->file.string())};
    auto dns = c.dns();
    if (!dns) return {fail("tlsa", dns.error(), resolver_fix(c))};
    const std::string name = "_25._tcp." + c.s.hostname;
    const std::string want = tlsa_record_for(*cert);
    const std::string zone = zone_of(c.s, c.s.hostname);
    const std::string fix =
        zone.empty() ? "publish " + name + ". IN TLSA " + want + " in the zone of " + c.s.hostname
                     : dns_apply_fix(c, zone);
    auto a = (*dns)->query(name, rr_type::tlsa);
    if (a.status == dns_status::error)
        return {fail("tlsa", name + ": TLSA lookup failed: " + a.error, resolver_fix(c))};
    if (a.status != dns_status::answer)
        return {fail("tlsa", name + " has no TLSA record (planned: " + want + ")", fix)};
    // A key rollover under way (setup/rollover.hpp): the next key's record counts as expected.
    std::optional<setup::next_key> next;
    std::optional<cert_facts> next_facts;
    // (Not root: the key's directory may be closed to us; the check then cannot see a
    // rollover, as it cannot see the key.)
    const auto key_dir = c.relay->tls_key.parent_path();
    if (!c.relay->tls_key.empty() && ::access(key_dir.empty() ? "." : key_dir.c_str(), X_OK) == 0) {
        auto n = setup::read_next_key(c.relay->tls_key);
        if (!n)
            return {fail("tlsa", "key rollover: " + n.error(),
                         "run splitmail check as root (it reads tls.key's directory)")};
        next = std::move(*n);
        if (next) {
            auto f = key_facts(next->pem);
            if (!f)
                return {fail("tlsa",
                             setup::next_key_file(c.relay->tls_key).string() + ": " + f.error(),
                             "remove it and run `splitmail cert rollover` again")};
            next_facts = std::move(*f);
        }
    }
    std::vector<std::string> stale, unchecked;
    bool match = false, next_published = false;
    for (const auto& r : a.records) {
        const auto m = tlsa_matches(r, *cert);
        if (m == tlsa_result::match) {
            match = true;
        } else if (next_facts && tlsa_matches(r, *next_facts) == tlsa_result::match) {
            next_published = true;
        } else if (m == tlsa_result::no_match) {
            stale.push_back(r);
        } else {
            unchecked.push_back(r);
        }
    }
    if (!match)
        return {fail("tlsa",
                     name + ": no TLSA record matches the certificate " +
                         c.relay->tls_cert.string() + " (published: " + join(a.records) +
                         "; needed: " + want + "); DANE senders will refuse to deliver",
                     fix)};
    const std::string retire = "run `splitmail dns apply` (it publishes only the records the "
                               "plan holds)";
    if (next) {
        const std::string next_file = setup::next_key_file(c.relay->tls_key).string();
        const std::string switch_cmd = "splitmail cert rollover --config " + c.relay->file.string();
        if (!next_published)
            return {warn("tlsa",
                         name +
                             " matches the certificate; key rollover step 1 of 3: the next "
                             "key " +
                             next_file + " has no TLSA record yet",
                         fix)};
        const auto st = setup::rollover_of(next, static_cast<std::int64_t>(c.now));
        if (st.step == setup::rollover_step::publish)
            return {warn("tlsa",
                         name + " matches the certificate and the next key " + next_file +
                             "; key rollover step 1 of 3: `splitmail dns apply` has not "
                             "recorded publishing it (" +
                             setup::next_state_file(c.relay->tls_key).string() + ")",
                         fix)};
        const std::string extra =
            stale.empty() ? std::string() : "; also published and matching neither: " + join(stale);
        if (st.step == setup::rollover_step::wait)
            return {ok("tlsa", name + " matches the certificate and the next key " + next_file +
                                   "; key rollover step 2 of 3: switch from " +
                                   utc_text(static_cast<std::time_t>(st.switch_from)) + " (`" +
                                   switch_cmd + "`)" + extra)};
        return {ok("tlsa", name + " matches the certificate and the next key " + next_file +
                               "; key rollover step 2 of 3: published for twice the TTL, switch "
                               "now: `" +
                               switch_cmd + "`" + extra)};
    }
    if (!stale.empty())
        return {warn(
            "tlsa",
            name + " matches the certificate; also published and matching nothing: " + join(stale) +
                " (an old key's record: key rollover step 3 of 3 retires it)",
            fix.starts_with("publish ") ? "remove it from the zone of " + c.s.hostname : retire)};
    return {ok("tlsa", name + " matches the certificate (" + want.substr(0, 22) + "...)")};
}

findings check_ptr(context& c) {
    findings out;
    auto dns = c.dns();
    if (!dns) return {fail("ptr", dns.error(), resolver_fix(c))};
    const std::string host = c.s.hostname + ".";
    const std::string zone = zone_of(c.s, c.s.hostname);
    for (const auto* addr : {&c.s.public_ipv4, &c.s.public_ipv6}) {
        if (addr->empty()) continue;
        const bool v6 = addr->find(':') != std::string::npos;
        const std::string hoster_fix =
            "set the PTR of " + *addr + " to " + c.s.hostname + " at your VPS hoster";
        auto rev = reverse_name(*addr);
        if (!rev) {
            out.push_back(fail("ptr", *addr + " is not an address", "fix " + c.site_file.string()));
            continue;
        }
        auto p = (*dns)->query(*rev, rr_type::ptr);
        if (p.status == dns_status::error) {
            out.push_back(fail("ptr", *rev + ": PTR lookup failed: " + p.error, resolver_fix(c)));
            continue;
        }
        if (p.status != dns_status::answer) {
            out.push_back(fail("ptr",
                               *addr + " has no PTR record (receivers distrust such "
                                       "senders)",
                               hoster_fix));
            continue;
        }
        std::vector<std::string> names;
        for (const auto& r : p.records) names.push_back(canonical(rr_type::ptr, r).value_or(r));
        if (std::find(names.begin(), names.end(), host) == names.end()) {
            out.push_back(fail("ptr", "PTR of " + *addr + " is " + join(names) + ", not " + host,
                               hoster_fix));
            continue;
        }
        auto f = (*dns)->query(c.s.hostname, v6 ? rr_type::aaaa : rr_type::a);
        if (f.status == dns_status::error) {
            out.push_back(
                fail("ptr", c.s.hostname + ": lookup failed: " + f.error, resolver_fix(c)));
            continue;
        }
        const auto want = canonical_address(*addr);
        bool confirmed = false;
        for (const auto& r : f.records) confirmed = confirmed || canonical_address(r) == want;
        if (!confirmed) {
            out.push_back(fail("ptr",
                               "PTR of " + *addr + " is " + c.s.hostname + ", but " + c.s.hostname +
                                   " has no " + (v6 ? "AAAA" : "A") + " record with " + *addr +
                                   " (answers: " + (f.records.empty() ? "none" : join(f.records)) +
                                   "): not forward-confirmed",
                               zone.empty() ? "add " + std::string(v6 ? "AAAA" : "A") + " " +
                                                  *addr + " for " + c.s.hostname + " in its zone"
                                            : dns_apply_fix(c, zone)));
            continue;
        }
        if (names.size() > 1) {
            out.push_back(warn("ptr",
                               *addr + " has several PTR records (" + join(names) +
                                   "); receivers may pick another one",
                               "keep only " + host + ": " + hoster_fix));
            continue;
        }
        out.push_back(ok("ptr", "PTR of " + *addr + " is " + c.s.hostname + ", and " +
                                    c.s.hostname + " has " + *addr + " (forward-confirmed)"));
    }
    if (out.empty())
        out.push_back(warn("ptr", "the site file names no public address",
                           "set site.public_ipv4 / site.public_ipv6 in " + c.site_file.string()));
    return out;
}

} // namespace splitmail::provision::check
