// The pairing file between relay and home; see pairing.hpp.
#include "setup/pairing.hpp"

#include "setup/keys.hpp"
#include "splitmail/address/address.hpp"
#include "splitmail/address/ip.hpp"

#include <arpa/inet.h>

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

namespace splitmail::provision::setup {

namespace {

std::string q(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

using address::is_ipv4_text;
using address::is_ipv6_text;

bool host_name(std::string_view s) {
    bool utf8 = false;
    return address::valid_domain(s, &utf8) && !utf8 && s.find('.') != std::string_view::npos;
}

bool hex64(std::string_view s) {
    return s.size() == 64 && std::ranges::all_of(s, [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

} // namespace

bool split_endpoint(std::string_view endpoint, std::string& host, std::uint16_t& port) {
    std::string_view h, p;
    if (!endpoint.empty() && endpoint.front() == '[') {
        const auto close = endpoint.find(']');
        if (close == std::string_view::npos || close + 1 >= endpoint.size() ||
            endpoint[close + 1] != ':')
            return false;
        h = endpoint.substr(1, close - 1);
        p = endpoint.substr(close + 2);
        if (!is_ipv6_text(std::string(h))) return false;
    } else {
        const auto colon = endpoint.rfind(':');
        if (colon == std::string_view::npos) return false;
        h = endpoint.substr(0, colon);
        p = endpoint.substr(colon + 1);
        if (!is_ipv4_text(std::string(h))) return false;
    }
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || p.empty() || v == 0 || v > 65535)
        return false;
    host = std::string(h);
    port = static_cast<std::uint16_t>(v);
    return true;
}

std::string render_pairing(const pairing& p) {
    std::ostringstream o;
    o << "# splitmail pairing file, written by `splitmail provision relay`.\n"
         "# Copy it to the home machine (scp; it holds home's WireGuard private key), run\n"
         "#     splitmail provision home --pairing FILE\n"
         "# there, then delete every copy of it.\n\n[pairing]\nversion = "
      << p.version << "\ndomains = [";
    for (std::size_t i = 0; i < p.domains.size(); ++i) o << (i ? ", " : "") << q(p.domains[i]);
    o << "]\nrelay_hostname = " << q(p.relay_hostname)
      << "\nrelay_endpoint = " << q(p.relay_endpoint)
      << "\nrelay_public_key = " << q(p.relay_public_key)
      << "\nhome_private_key = " << q(p.home_private_key)
      << "\nhome_public_key = " << q(p.home_public_key) << "\ntunnel_relay = " << q(p.tunnel_relay)
      << "\ntunnel_home = " << q(p.tunnel_home) << "\ntunnel_prefix = " << p.tunnel_prefix
      << "\nlmtp_port = " << p.lmtp_port << "\nrelay_tls_sha256 = " << q(p.relay_tls_sha256)
      << "\nimap_host = " << q(p.imap_host) << "\n";
    if (!p.lmtp_secret.empty()) o << "lmtp_secret = " << q(p.lmtp_secret) << "\n";
    if (!p.rspamd_controller.empty())
        o << "rspamd_controller = " << q(p.rspamd_controller)
          << "\nrspamd_password = " << q(p.rspamd_password) << "\n";
    if (!p.imap_pass_through.empty())
        o << "imap_pass_through = " << q(p.imap_pass_through)
          << "\nimap_proxy_listen = " << q(p.imap_proxy_listen) << "\n";
    return o.str();
}

std::expected<pairing, std::string> parse_pairing(std::string_view text, std::string_view name) {
    const std::string file(name);
    auto fail = [&](std::string_view key, const std::string& why) {
        return std::unexpected(file + ": " + std::string(key) + ": " + why);
    };
    toml::table doc;
    try {
        doc = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        std::ostringstream where;
        where << e.source().begin.line;
        return std::unexpected(file + ": line " + where.str() + ": " +
                               std::string(e.description()) +
                               " (not a pairing file written by `splitmail provision relay`)");
    }
    const toml::table* t = doc["pairing"].as_table();
    if (t == nullptr)
        return std::unexpected(file + ": no [pairing] table (copy pairing-home.toml made by "
                                      "`splitmail provision relay`)");
    for (const auto& [k, v] : doc) {
        if (k.str() != "pairing") return fail(k.str(), "unknown table or key");
    }
    pairing p;
    // The version decides how everything else is read: check it first.
    auto version = (*t)["version"].value<std::int64_t>();
    if (!version) return fail("pairing.version", "missing (an integer; this splitmail writes 1)");
    if (*version != pairing_version)
        return fail("pairing.version", "pairing version " + std::to_string(*version) +
                                           "; this splitmail reads " + "version " +
                                           std::to_string(pairing_version) +
                                           " (run the same splitmail version on relay and home)");
    static const std::set<std::string, std::less<>> known = {
        "version",           "domains",          "relay_hostname",    "relay_endpoint",
        "relay_public_key",  "home_private_key", "home_public_key",   "tunnel_relay",
        "tunnel_home",       "tunnel_prefix",    "lmtp_port",         "relay_tls_sha256",
        "imap_host",         "lmtp_secret",      "rspamd_controller", "rspamd_password",
        "imap_pass_through", "imap_proxy_listen"};
    for (const auto& [k, v] : *t)
        if (!known.contains(k.str())) return fail("pairing." + std::string(k.str()), "unknown key");
    auto str = [&](std::string_view key, std::string& out, bool required) -> std::string {
        const toml::node* n = t->get(key);
        if (n == nullptr) return required ? "missing" : "";
        auto s = n->value_exact<std::string>();
        if (!s) return "must be a string";
        out = *s;
        return "";
    };
    auto integer = [&](std::string_view key, int& out, int lo, int hi) -> std::string {
        const toml::node* n = t->get(key);
        if (n == nullptr) return "missing";
        auto v = n->value_exact<std::int64_t>();
        if (!v) return "must be an integer";
        if (*v < lo || *v > hi) return "must be " + std::to_string(lo) + ".." + std::to_string(hi);
        out = static_cast<int>(*v);
        return "";
    };
    const toml::array* doms = (*t)["domains"].as_array();
    if (doms == nullptr) return fail("pairing.domains", "missing (a list of domain names)");
    for (const auto& d : *doms) {
        auto s = d.value_exact<std::string>();
        if (!s) return fail("pairing.domains", "must be a list of strings");
        if (!host_name(*s)) return fail("pairing.domains", "\"" + *s + "\" is not a domain name");
        p.domains.push_back(address::lower_ascii(*s));
    }
    if (p.domains.empty()) return fail("pairing.domains", "needs at least one domain");
    struct field {
        std::string_view key;
        std::string* out;
        bool required;
    };
    for (const auto& f :
         {field{"relay_hostname", &p.relay_hostname, true},
          field{"relay_endpoint", &p.relay_endpoint, true},
          field{"relay_public_key", &p.relay_public_key, true},
          field{"home_private_key", &p.home_private_key, true},
          field{"home_public_key", &p.home_public_key, true},
          field{"tunnel_relay", &p.tunnel_relay, true}, field{"tunnel_home", &p.tunnel_home, true},
          field{"relay_tls_sha256", &p.relay_tls_sha256, true},
          field{"imap_host", &p.imap_host, false}, field{"lmtp_secret", &p.lmtp_secret, false},
          field{"rspamd_controller", &p.rspamd_controller, false},
          field{"rspamd_password", &p.rspamd_password, false},
          field{"imap_pass_through", &p.imap_pass_through, false},
          field{"imap_proxy_listen", &p.imap_proxy_listen, false}}) {
        if (auto e = str(f.key, *f.out, f.required); !e.empty())
            return fail("pairing." + std::string(f.key), e);
    }
    if (auto e = integer("tunnel_prefix", p.tunnel_prefix, 8, 30); !e.empty())
        return fail("pairing.tunnel_prefix", e);
    if (auto e = integer("lmtp_port", p.lmtp_port, 1, 65535); !e.empty())
        return fail("pairing.lmtp_port", e);
    if (!host_name(p.relay_hostname))
        return fail("pairing.relay_hostname", "must be a fully qualified host name");
    std::string host;
    std::uint16_t port = 0;
    if (!split_endpoint(p.relay_endpoint, host, port))
        return fail("pairing.relay_endpoint", "must be IPv4:port or [IPv6]:port");
    for (auto [key, val] :
         {std::pair<std::string_view, const std::string*>{"relay_public_key", &p.relay_public_key},
          {"home_private_key", &p.home_private_key},
          {"home_public_key", &p.home_public_key}}) {
        if (!valid_wg_key(*val))
            return fail("pairing." + std::string(key),
                        "not a WireGuard key (44 characters of base64)");
    }
    if (!is_ipv4_text(p.tunnel_relay))
        return fail("pairing.tunnel_relay", "must be an IPv4 address");
    if (!is_ipv4_text(p.tunnel_home)) return fail("pairing.tunnel_home", "must be an IPv4 address");
    if (p.tunnel_relay == p.tunnel_home)
        return fail("pairing.tunnel_home", "must differ from tunnel_relay");
    p.relay_tls_sha256 = address::lower_ascii(p.relay_tls_sha256);
    std::erase(p.relay_tls_sha256, ':');
    if (!hex64(p.relay_tls_sha256))
        return fail("pairing.relay_tls_sha256", "must be 64 hex digits (SHA-256)");
    if (!p.imap_host.empty() && !host_name(p.imap_host))
        return fail("pairing.imap_host", "must be a host name or empty");
    if (!p.lmtp_secret.empty() &&
        (p.lmtp_secret.size() < 32 || p.lmtp_secret.size() > 200 ||
         !std::ranges::all_of(p.lmtp_secret, [](unsigned char c) { return c > 0x20 && c < 0x7f; })))
        return fail("pairing.lmtp_secret", "must be 32 to 200 printable characters");
    if (!p.rspamd_controller.empty()) {
        std::string host;
        std::uint16_t port = 0;
        if (!split_endpoint(p.rspamd_controller, host, port) || port == 0)
            return fail("pairing.rspamd_controller", "must be ip:port");
        if (p.rspamd_password.size() < 16 || p.rspamd_password.size() > 200 ||
            !std::ranges::all_of(p.rspamd_password,
                                 [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '"'; }))
            return fail("pairing.rspamd_password", "must be 16 to 200 printable characters");
    } else if (!p.rspamd_password.empty()) {
        return fail("pairing.rspamd_password", "needs rspamd_controller");
    }
    if (!p.imap_pass_through.empty()) {
        if (!host_name(p.imap_pass_through))
            return fail("pairing.imap_pass_through", "must be a host name or empty");
        std::string host;
        std::uint16_t port = 0;
        if (!split_endpoint(p.imap_proxy_listen, host, port) || port == 0 || host != p.tunnel_home)
            return fail("pairing.imap_proxy_listen", "must be tunnel_home:port");
    } else if (!p.imap_proxy_listen.empty()) {
        return fail("pairing.imap_proxy_listen", "needs imap_pass_through");
    }
    return p;
}

} // namespace splitmail::provision::setup
