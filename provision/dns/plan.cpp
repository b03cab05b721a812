// The DNS plan of one mail domain: see plan.hpp.
#include "dns/plan.hpp"
#include "splitmail/durable/file.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <tuple>
#include <sstream>

#include "splitmail/config/relay.hpp"

#include "check/cert.hpp"
#include "commands/dkim.hpp"
#include "setup/rollover.hpp"

namespace splitmail::provision::dns {

namespace fs = std::filesystem;

namespace {

struct relay_files {
    fs::path dkim_dir;
    fs::path tls_cert;
    fs::path tls_key;
    bool imap_pass_through = false; // imap_proxy.listen set: clients reach IMAP at the relay
};

// relay.toml through the relay's own table (the same defaults and checks as the daemon).
std::expected<relay_files, std::string> read_relay_config(const fs::path& file) {
    if (file.empty())
        return std::unexpected("site.relay_config is empty: the DNS plan needs the relay's "
                               "configuration (run it on the relay, or set site.relay_config)");
    auto s = relay::load_settings(file, config::referenced_files::names_only);
    if (!s) return std::unexpected(s.error());
    relay_files r{s->dkim_dir, s->tls_cert, s->tls_key, !s->imap_proxy_listen.empty()};
    if (r.dkim_dir.empty())
        return std::unexpected(file.string() +
                               ": dkim.dir is not set: the relay does not sign, "
                               "so there are no DKIM records to publish (set dkim.dir and run "
                               "`splitmail dkim keygen`)");
    if (r.tls_cert.empty())
        return std::unexpected(file.string() + ": tls.cert is not set: the TLSA record needs "
                                               "the relay's certificate");
    return r;
}

// RFC 7671 / RFC 7672 3.1.1: DANE-EE(3) SPKI(1) SHA-256(1) of the first certificate in the file
// (the leaf of the chain the relay presents). The SPKI survives certificate renewals that keep
// the key.
std::expected<std::string, std::string> tlsa_3_1_1(const fs::path& cert_file) {
    auto read = durable::read_file(cert_file);
    if (!read) return std::unexpected(read.error().text() + " (tls.cert)");
    auto facts = check::inspect_cert(*read, "", "", 0);
    if (!facts) return std::unexpected(cert_file.string() + ": not a PEM certificate (tls.cert)");
    return check::tlsa_record_for(*facts);
}

// deSEC stores addresses in their canonical text form (RFC 5952 for IPv6); planning the same
// form keeps `dns apply` from rewriting an unchanged record.
std::string canonical_ip(const std::string& ip, int family) {
    unsigned char buf[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(family, ip.c_str(), buf) != 1) return ip;
    if (inet_ntop(family, buf, out, sizeof out) == nullptr) return ip;
    return out;
}

// `name` relative to `zone`: "" for the apex, nullopt when it is outside the zone.
std::optional<std::string> relative(const std::string& name, const std::string& zone) {
    if (name == zone) return std::string{};
    if (name.size() > zone.size() + 1 && name.ends_with(zone) &&
        name[name.size() - zone.size() - 1] == '.')
        return name.substr(0, name.size() - zone.size() - 1);
    return std::nullopt;
}

std::string join(const std::string& label, const std::string& rel) {
    return rel.empty() ? label : label + "." + rel;
}

// The host part of a mailto: URI ("mailto:a@b.example" -> "b.example"), "" otherwise.
std::string mailto_domain(const std::string& uri) {
    if (!uri.starts_with("mailto:")) return {};
    const auto at = uri.rfind('@');
    if (at == std::string::npos) return {};
    std::string d = uri.substr(at + 1);
    if (const auto bang = d.find('!'); bang != std::string::npos) d.resize(bang); // size limit
    for (auto& c : d) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return d;
}

} // namespace

std::expected<plan, std::string> make_plan(const site& s, const std::string& domain) {
    if (std::find(s.domains.begin(), s.domains.end(), domain) == s.domains.end())
        return std::unexpected("\"" + domain + "\" is not one of site.domains");
    if (s.public_ipv4.empty() && s.public_ipv6.empty())
        return std::unexpected("site.public_ipv4 and site.public_ipv6 are both empty: the SPF "
                               "and address records need the relay's public address");
    auto files = read_relay_config(s.relay_config);
    if (!files) return std::unexpected(files.error());

    plan p;
    p.domain = domain;
    const std::string host = s.hostname + ".";
    auto add = [&](std::string subname, std::string type, std::vector<std::string> records) {
        p.rrsets.push_back({std::move(subname), std::move(type), s.ttl, std::move(records)});
    };
    const std::string v4 = canonical_ip(s.public_ipv4, AF_INET);
    const std::string v6 = canonical_ip(s.public_ipv6, AF_INET6);

    // RFC 5321 5.1: mail for D goes to the relay.
    add("", "MX", {"10 " + host});

    // RFC 7208 5.6: the relay's addresses, and nothing else may send for D.
    std::string spf = "v=spf1";
    if (!v4.empty()) spf += " ip4:" + v4;
    if (!v6.empty()) spf += " ip6:" + v6;
    spf += " -all";
    add("", "TXT", {txt_strings(spf)});

    // RFC 6376 3.6.2.1: one TXT record at SEL._domainkey per key the relay signs with.
    const fs::path key_dir = files->dkim_dir / domain;
    std::vector<std::string> selectors;
    std::error_code ec;
    for (fs::directory_iterator it(key_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with(".") || it->path().extension() != ".key") continue;
        selectors.push_back(it->path().stem().string());
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
        return std::unexpected(key_dir.string() + ": " + ec.message());
    if (selectors.empty())
        return std::unexpected("no DKIM key for " + domain + " in " + key_dir.string() +
                               ": run `splitmail dkim keygen --domain " + domain +
                               " --selector sm1 --dir " + files->dkim_dir.string() + "`");
    for (const auto& sel : selectors) {
        auto v = dkim_txt_value(key_dir / (sel + ".key"));
        if (!v) return std::unexpected(v.error());
        add(sel + "._domainkey", "TXT", {txt_strings(*v)});
    }

    // RFC 7489 6.3: start with p=none and collect aggregate reports.
    add("_dmarc", "TXT", {txt_strings("v=DMARC1; p=none; rua=" + s.dmarc_rua)});
    // RFC 7489 7.1: a report address in another domain must be authorised there. When other
    // site domains send their reports to an address in this zone, publish the authorisation.
    for (const auto& other : s.domains) {
        if (other == domain) continue;
        const std::string rua_domain = mailto_domain(s.dmarc_rua);
        if (rua_domain.empty() || rua_domain == other) continue;
        if (auto rel = relative(rua_domain, domain))
            add(join(other + "._report._dmarc", *rel), "TXT", {txt_strings("v=DMARC1")});
    }
    // RFC 8460 3: where TLS reporting goes.
    add("_smtp._tls", "TXT", {txt_strings("v=TLSRPTv1; rua=" + s.tlsrpt_rua)});

    // RFC 6186 3 and RFC 8314 5.1: submission with implicit TLS preferred (lower priority
    // value) over STARTTLS on 587. IMAP is announced with implicit TLS only (RFC 8314 3.3
    // prefers it); RFC 6186 4 / RFC 2782: a target of "." says a service is decidedly not
    // offered, so clients do not probe for POP3 (never offered) or IMAP without TLS.
    add("_submissions._tcp", "SRV", {"0 1 465 " + host});
    add("_submission._tcp", "SRV", {"10 1 587 " + host});
    // The relay's IMAP pass-through (relay.toml imap_proxy.listen): clients use imap.<domain>,
    // which points at the relay, wherever home is (CGNAT included).
    const std::string pass_through_host = "imap." + domain;
    if (files->imap_pass_through && s.imap_host == pass_through_host)
        return std::unexpected("site.imap_host is " + s.imap_host +
                               ", the name the relay's IMAP "
                               "pass-through (imap_proxy.listen) publishes for the relay; "
                               "splitmail-ddns would point it at home: give home another name");
    const std::string imaps_target = files->imap_pass_through ? pass_through_host : s.imap_host;
    if (!imaps_target.empty()) {
        add("_imaps._tcp", "SRV", {"0 1 993 " + imaps_target + "."});
        add("_imap._tcp", "SRV", {"0 0 0 ."});
    }
    if (files->imap_pass_through) {
        if (!v4.empty()) add("imap", "A", {v4});
        if (!v6.empty()) add("imap", "AAAA", {v6});
        p.notes.push_back(pass_through_host +
                          " points at the relay (IMAP pass-through to home, "
                          "imap_proxy.listen in " +
                          s.relay_config.string() + ")");
    }
    add("_pop3s._tcp", "SRV", {"0 0 0 ."});
    add("_pop3._tcp", "SRV", {"0 0 0 ."});

    // The relay's own name: addresses and DANE, only when it lives in this zone.
    if (auto rel = relative(s.hostname, domain)) {
        if (!v4.empty()) add(*rel, "A", {v4});
        if (!v6.empty()) add(*rel, "AAAA", {v6});
        // RFC 7208 2.3: receivers check the HELO name too, and it is the only identity of a
        // bounce (MAIL FROM:<>), so the relay's name gets the same policy as the domain.
        if (!rel->empty()) add(*rel, "TXT", {txt_strings(spf)});
        auto tlsa = tlsa_3_1_1(files->tls_cert);
        if (!tlsa) return std::unexpected(tlsa.error());
        std::vector<std::string> tlsas{*tlsa};
        // A key rollover under way (setup/rollover.hpp): the next key's record beside it.
        auto next = files->tls_key.empty()
                        ? std::expected<std::optional<setup::next_key>, std::string>{}
                        : setup::read_next_key(files->tls_key);
        if (!next) return std::unexpected(next.error());
        if (*next) {
            auto nk = check::key_facts((*next)->pem);
            if (!nk)
                return std::unexpected(setup::next_key_file(files->tls_key).string() + ": " +
                                       nk.error());
            if (auto r = check::tlsa_record_for(*nk); r != *tlsa) tlsas.push_back(r);
            p.rollover_key = files->tls_key;
            p.notes.push_back("key rollover: the TLSA record of the next key " +
                              setup::next_key_file(files->tls_key).string() +
                              " is published beside the current one; `splitmail cert "
                              "rollover` switches to it once both have been published for "
                              "twice the TTL");
        }
        add(join("_25._tcp", *rel), "TLSA", tlsas);
        p.notes.push_back("TLSA pins the key of " + files->tls_cert.string() +
                          ": renew the certificate with the same key, or DANE-checking "
                          "senders fail until the new hash is published (RFC 7671 8.1); a new "
                          "key goes through `splitmail cert rollover`");
    } else {
        p.notes.push_back(s.hostname + " is not in " + domain +
                          ": its A/AAAA and TLSA "
                          "(_25._tcp." +
                          s.hostname + ") records belong to its own zone");
    }
    std::string ptr = "PTR records are set at the VPS hoster, not here: ";
    if (!v4.empty()) ptr += v4;
    if (!v6.empty()) ptr += (v4.empty() ? "" : " and ") + v6;
    p.notes.push_back(ptr + " must resolve back to " + host);
    if (relative(ddns_host(s), domain))
        p.notes.push_back("the address records of " + ddns_host(s) +
                          " are kept up to date by splitmail-ddns (never pruned)");
    if (s.imap_host.empty() && !files->imap_pass_through && domain == s.domains.front())
        p.notes.push_back("IMAP is not announced (no _imaps._tcp SRV): site.imap_host is empty; "
                          "set it to the name mail clients use (" +
                          ddns_host(s) + " is the one splitmail-ddns keeps current) to publish it");

    for (auto& r : p.rrsets) std::sort(r.records.begin(), r.records.end());
    std::sort(p.rrsets.begin(), p.rrsets.end(), [](const auto& a, const auto& b) {
        return std::tie(a.subname, a.type) < std::tie(b.subname, b.type);
    });
    return p;
}

std::string ddns_host(const site& s) {
    if (!s.imap_host.empty()) return s.imap_host;
    return s.domains.empty() ? std::string() : "home." + s.domains.front();
}

std::vector<std::pair<std::string, std::string>> ddns_rrsets(const site& s,
                                                             const std::string& domain) {
    std::vector<std::pair<std::string, std::string>> keep;
    for (const auto& name : {ddns_host(s), s.imap_host}) {
        if (name.empty()) continue;
        auto rel = relative(name, domain);
        if (!rel) continue;
        for (const char* type : {"A", "AAAA"})
            if (std::find(keep.begin(), keep.end(), std::pair{*rel, std::string(type)}) ==
                keep.end())
                keep.emplace_back(*rel, type);
    }
    return keep;
}

} // namespace splitmail::provision::dns
