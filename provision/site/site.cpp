#include "site.hpp"

#include <arpa/inet.h>

#include <array>
#include <sstream>

#include "splitmail/address/address.hpp"
#include "splitmail/address/ip.hpp"

namespace splitmail::provision {
namespace {

using config::kind;

constexpr std::array table{
    config::setting_spec{"site.domains", kind::string_list, "",
                         "Mail domains of this installation; the first is the primary one "
                         "(default of the DMARC and TLS-RPT report addresses).",
                         true},
    config::setting_spec{"site.hostname", kind::string, "",
                         "Fully qualified name of the relay: MX target, EHLO name, and what "
                         "the PTR of its public addresses must say.",
                         true},
    config::setting_spec{"site.public_ipv4", kind::string, "",
                         "Public IPv4 address of the relay (A record, SPF, WireGuard endpoint)."},
    config::setting_spec{"site.public_ipv6", kind::string, "",
                         "Public IPv6 address of the relay (AAAA record, SPF)."},
    config::setting_spec{"site.imap_host", kind::string, "",
                         "Name mail clients use for IMAP (the home's name); published as "
                         "`_imaps._tcp` SRV (RFC 6186). Empty: IMAP is not announced."},
    config::setting_spec{"site.relay_config", kind::path, "\"/etc/splitmail/relay.toml\"",
                         "The relay's configuration (read for DKIM keys, TLS certificate, "
                         "spool and listeners)."},
    config::setting_spec{"site.home_config", kind::path, "",
                         "The home's configuration, on a machine that runs splitmail-home."},
    config::setting_spec{"wireguard.interface", kind::string, "\"wg-smrelay\"",
                         "WireGuard interface of this machine (`check` reads its latest "
                         "handshake)."},
    config::setting_spec{"wireguard.config", kind::path, "\"/etc/wireguard/wg-smrelay.conf\"",
                         "wg-quick configuration of the tunnel."},
    config::setting_spec{"dns.dmarc_rua", kind::string, "",
                         "Where DMARC aggregate reports go (`mailto:` URI). Empty: "
                         "mailto:postmaster@ the primary domain."},
    config::setting_spec{"dns.tlsrpt_rua", kind::string, "",
                         "Where TLS-RPT reports go (RFC 8460). Empty: mailto:postmaster@ the "
                         "primary domain."},
    config::setting_spec{"dns.ttl", kind::integer, "3600",
                         "TTL of the records `splitmail dns apply` writes (raised to the "
                         "domain's minimum TTL at deSEC)."},
    config::setting_spec{"desec.api_url", kind::string, "\"https://desec.io/api/v1\"",
                         "Base URL of the deSEC REST API (https only); the same key as in "
                         "ddns.toml."},
    config::setting_spec{"desec.api", kind::string, "",
                         "Deprecated old name of `desec.api_url` (still read, with a warning)."},
    config::setting_spec{"desec.token_file", kind::path, "\"/etc/splitmail/desec.token\"",
                         "File holding a deSEC API token allowed to write the domains' "
                         "RRsets (mode 0600 or 0400)."},
    config::setting_spec{"desec.ca_file", kind::path, "",
                         "CA bundle to verify the API with instead of the system store (for "
                         "tests)."},
    config::setting_spec{"check.resolver", kind::string, "",
                         "Recursive resolver `splitmail check` asks (`ip:port`); empty uses "
                         "/etc/resolv.conf. DNS is checked as the world sees it, not through "
                         "the API."},
    config::setting_spec{"check.cert_warn_days", kind::integer, "21",
                         "`check` reports a TLS certificate that expires within this many "
                         "days."},
};

using address::is_ipv4_text;
using address::is_ipv6_text;

std::string q(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

} // namespace

std::span<const config::setting_spec> site_table() { return table; }

std::expected<site, std::string> site_from(const config::values& v, const std::string& file) {
    auto fail = [&](std::string_view key, const std::string& why) {
        return std::unexpected(file + ": " + std::string(key) + ": " + why + v.where(key));
    };
    site s;
    for (auto d : v.get_list("site.domains")) {
        bool utf8 = false;
        if (!address::valid_domain(d, &utf8) || utf8 || d.find('.') == std::string::npos)
            return fail("site.domains",
                        "\"" + d + "\" is not a domain name (ASCII, e.g. example.com)");
        for (auto& c : d) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        for (const auto& seen : s.domains)
            if (seen == d) return fail("site.domains", "\"" + d + "\" is listed twice");
        s.domains.push_back(std::move(d));
    }
    if (s.domains.empty()) return fail("site.domains", "needs at least one domain");
    s.hostname = v.get_string("site.hostname");
    if (!s.hostname.empty() && s.hostname.back() == '.') s.hostname.pop_back();
    if (!address::valid_domain(s.hostname) || s.hostname.find('.') == std::string::npos)
        return fail("site.hostname", "must be a fully qualified host name (mx.example.com)");
    s.public_ipv4 = v.get_string("site.public_ipv4");
    if (!s.public_ipv4.empty() && !is_ipv4_text(s.public_ipv4))
        return fail("site.public_ipv4", "\"" + s.public_ipv4 + "\" is not an IPv4 address");
    s.public_ipv6 = v.get_string("site.public_ipv6");
    if (!s.public_ipv6.empty() && !is_ipv6_text(s.public_ipv6))
        return fail("site.public_ipv6", "\"" + s.public_ipv6 + "\" is not an IPv6 address");
    s.imap_host = v.get_string("site.imap_host");
    if (!s.imap_host.empty() && !address::valid_domain(s.imap_host))
        return fail("site.imap_host", "must be a host name");
    auto abs_path = [&](std::string_view key, std::filesystem::path& out) -> std::string {
        out = v.get_path(key);
        if (!out.empty() && out.is_relative()) return "must be an absolute path";
        return {};
    };
    for (auto [key, out] :
         {std::pair<std::string_view, std::filesystem::path*>{"site.relay_config", &s.relay_config},
          {"site.home_config", &s.home_config},
          {"wireguard.config", &s.wg_config},
          {"desec.token_file", &s.desec_token_file},
          {"desec.ca_file", &s.desec_ca_file}}) {
        if (auto why = abs_path(key, *out); !why.empty()) return fail(key, why);
    }
    s.wg_interface = v.get_string("wireguard.interface");
    if (s.wg_interface.empty() || s.wg_interface.size() > 15)
        return fail("wireguard.interface", "must be an interface name of 1 to 15 characters");
    s.dmarc_rua = v.get_string("dns.dmarc_rua");
    if (s.dmarc_rua.empty()) s.dmarc_rua = "mailto:postmaster@" + s.domains.front();
    s.tlsrpt_rua = v.get_string("dns.tlsrpt_rua");
    if (s.tlsrpt_rua.empty()) s.tlsrpt_rua = "mailto:postmaster@" + s.domains.front();
    for (auto [key, val] :
         {std::pair<std::string_view, const std::string*>{"dns.dmarc_rua", &s.dmarc_rua},
          {"dns.tlsrpt_rua", &s.tlsrpt_rua}}) {
        if (val->rfind("mailto:", 0) != 0 && val->rfind("https:", 0) != 0)
            return fail(key, "must be a mailto: (or https: for TLS-RPT) URI");
        if (val->find_first_of(" ;\"\\") != std::string::npos)
            return fail(key, "must not contain spaces, ';', quotes or backslashes");
    }
    auto ttl = v.get_int("dns.ttl");
    if (ttl < 60 || ttl > 86400) return fail("dns.ttl", "must be 60..86400");
    s.ttl = static_cast<std::uint32_t>(ttl);
    // One name for the API URL in site.toml and ddns.toml (issue 16 bug 10): desec.api_url.
    std::string api_key = "desec.api_url";
    if (v.line_of("desec.api") > 0) {
        if (v.line_of("desec.api_url") > 0)
            return fail("desec.api", "set only desec.api_url (desec.api is its old name)");
        api_key = "desec.api";
        s.warnings.push_back(file + ": desec.api is deprecated" + v.where("desec.api") +
                             ": rename it to desec.api_url (the name ddns.toml uses)");
    }
    s.desec_api = v.get_string(api_key);
    if (s.desec_api.rfind("https://", 0) != 0) return fail(api_key, "must be an https:// URL");
    while (!s.desec_api.empty() && s.desec_api.back() == '/') s.desec_api.pop_back();
    s.resolver = v.get_string("check.resolver");
    auto days = v.get_int("check.cert_warn_days");
    if (days < 0 || days > 365) return fail("check.cert_warn_days", "must be 0..365");
    s.cert_warn_days = static_cast<int>(days);
    return s;
}

std::expected<site, std::string> load_site(const std::filesystem::path& file) {
    auto v = config::load(file, site_table());
    if (!v) return std::unexpected(v.error());
    return site_from(*v, file.string());
}

std::string render_site(const site& s) {
    std::ostringstream o;
    o << "# splitmail site file: written by `splitmail provision relay`, read by `splitmail dns`\n"
         "# and `splitmail check`. Keys: docs/configuration.md.\n\n[site]\ndomains = [";
    for (std::size_t i = 0; i < s.domains.size(); ++i) o << (i ? ", " : "") << q(s.domains[i]);
    o << "]\nhostname = " << q(s.hostname) << "\npublic_ipv4 = " << q(s.public_ipv4)
      << "\npublic_ipv6 = " << q(s.public_ipv6) << "\nimap_host = " << q(s.imap_host)
      << "\nrelay_config = " << q(s.relay_config.string())
      << "\nhome_config = " << q(s.home_config.string())
      << "\n\n[wireguard]\ninterface = " << q(s.wg_interface)
      << "\nconfig = " << q(s.wg_config.string()) << "\n\n[dns]\ndmarc_rua = " << q(s.dmarc_rua)
      << "\ntlsrpt_rua = " << q(s.tlsrpt_rua) << "\nttl = " << s.ttl
      << "\n\n[desec]\napi_url = " << q(s.desec_api)
      << "\ntoken_file = " << q(s.desec_token_file.string())
      << "\nca_file = " << q(s.desec_ca_file.string())
      << "\n\n[check]\nresolver = " << q(s.resolver) << "\ncert_warn_days = " << s.cert_warn_days
      << "\n";
    return o.str();
}

} // namespace splitmail::provision
