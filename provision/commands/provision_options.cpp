// The command line of `splitmail provision relay|home`: see provision_options.hpp.
#include "commands/provision_options.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/address/ip.hpp"

#include <charconv>
#include <initializer_list>
#include <string_view>

namespace splitmail::provision::provisioning {

namespace fs = std::filesystem;

const char* const usage_text =
    "usage: splitmail provision relay --domain D [--domain D2 ...] --hostname H\n"
    "                                 --public-ipv4 A [--public-ipv6 A6] [--imap-host N]\n"
    "                                 (--imap-host: IMAP name of home, default home.D)\n"
    "                                 [--wg-port PORT] [--root DIR] [--bindir DIR] [--force]\n"
    "                                 [--new-tunnel-keys] [--dry-run] [--scanners auto|on|off]\n"
    "                                 (--scanners: rspamd/clamd wiring; auto = what is installed)\n"
    "                                 [--imap-pass-through yes|no] (IMAP clients reach home\n"
    "                                 through the relay: imap.D, port 993; for CGNAT homes)\n"
    "       splitmail provision home --pairing FILE [--hostname N] [--root DIR]\n"
    "                                [--bindir DIR] [--force] [--dry-run]\n"
    "       both: [--desec-api URL] [--desec-ca-file F] (kept in site.toml; home: ddns.toml)\n"
    "             [--sync-tunnel] (with --root: sync the running interface too)\n"
    "Writes configurations, keys, certificates, WireGuard and systemd units (see\n"
    "docs/operations.md). Safe to run again: existing keys are kept, files that differ are\n"
    "kept unless --force (which keeps a copy, FILE.bak-TIME). --root DIR writes below DIR (all\n"
    "paths in the configs carry DIR). --dry-run writes nothing and says what would change.\n"
    "Re-pairing: `provision relay ... --new-tunnel-keys` makes new WireGuard keys for both\n"
    "ends (only the key lines of the tunnel file change; other files and edits stay), syncs a\n"
    "running interface (wg syncconf) and writes a new pairing file; `provision home --pairing\n"
    "NEW-FILE` on home does the same with the keys it holds.\n";

namespace {

using address::is_ipv4_text;
using address::is_ipv6_text;

// ASCII host/domain name with at least two labels.
bool host_name(const std::string& s) {
    bool utf8 = false;
    return address::valid_domain(s, &utf8) && !utf8 && s.find('.') != std::string::npos;
}

// Paths end up in systemd units (ExecStart=, ReadWritePaths=) and TOML: refuse characters that
// would need quoting there ('%' and '$' are systemd specifiers/variables).
std::optional<std::string> check_dir_option(const std::string& opt, fs::path& p) {
    const std::string s = p.string();
    if (s.empty()) return opt + " needs a directory";
    for (char c : s)
        if (c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '\\' || c == '%' ||
            c == '$' || static_cast<unsigned char>(c) < 0x20)
            return opt + " \"" + s + "\": use a path without spaces, quotes, '\\', '%' or '$'";
    std::error_code ec;
    p = fs::absolute(p, ec).lexically_normal();
    if (ec) return opt + " \"" + s + "\": " + ec.message();
    std::string n = p.string();
    while (n.size() > 1 && n.back() == '/') n.pop_back();
    p = n;
    return std::nullopt;
}

// Parses options of the form --name VALUE (and --force). `value_opts` lists the options that
// take a value; `take` decides what a repeated option means (--domain collects, others
// override).
template <class F>
std::optional<std::string> parse_args(std::span<const std::string> args,
                                      std::initializer_list<std::string_view> value_opts,
                                      F&& take) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i];
        std::string v;
        bool has_inline = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            v = a.substr(eq + 1);
            a = a.substr(0, eq);
            has_inline = true;
        }
        if (a == "--force" || a == "--dry-run" || a == "--new-tunnel-keys" ||
            a == "--sync-tunnel") {
            if (has_inline) return a + " takes no value";
            if (auto e = take(a, "")) return e;
            continue;
        }
        bool known = false;
        for (auto o : value_opts) known = known || a == o;
        if (!known) return "unknown option \"" + args[i] + "\"";
        if (!has_inline) {
            if (i + 1 >= args.size()) return a + " needs a value";
            v = args[++i];
        }
        if (auto e = take(a, v)) return e;
    }
    return std::nullopt;
}

// The options both roles take; true when `a` is one of them.
bool take_common(common_options& o, const std::string& a, const std::string& v) {
    if (a == "--force")
        o.force = true;
    else if (a == "--dry-run")
        o.dry_run = true;
    else if (a == "--sync-tunnel")
        o.sync_tunnel = true;
    else if (a == "--desec-api")
        o.desec_api = v;
    else if (a == "--desec-ca-file")
        o.desec_ca_file = v;
    else if (a == "--root") {
        o.root = v;
        o.root_given = true;
    } else if (a == "--bindir")
        o.bindir = v;
    else
        return false;
    return true;
}

// --root and --bindir, checked after the role's own options.
std::optional<std::string> check_common(common_options& o) {
    if (auto r = check_dir_option("--root", o.root)) return r;
    if (o.root == "/") o.root_given = false; // `--root /` is the real system
    return check_dir_option("--bindir", o.bindir);
}

} // namespace

std::optional<std::string> parse_relay(std::span<const std::string> args, relay_options& o) {
    auto e = parse_args(
        args,
        {"--domain", "--hostname", "--public-ipv4", "--public-ipv6", "--imap-host", "--wg-port",
         "--root", "--bindir", "--desec-api", "--desec-ca-file", "--scanners",
         "--imap-pass-through"},
        [&](const std::string& a, const std::string& v) -> std::optional<std::string> {
            if (take_common(o, a, v)) return std::nullopt;
            if (a == "--new-tunnel-keys")
                o.new_tunnel_keys = true;
            else if (a == "--domain")
                o.domains.push_back(address::lower_ascii(v));
            else if (a == "--hostname")
                o.hostname = address::lower_ascii(v);
            else if (a == "--public-ipv4")
                o.ipv4 = v;
            else if (a == "--public-ipv6")
                o.ipv6 = v;
            else if (a == "--imap-host")
                o.imap_host = address::lower_ascii(v);
            else if (a == "--scanners") {
                if (v != "auto" && v != "on" && v != "off")
                    return "--scanners \"" + v + "\" must be auto, on or off";
                o.scanners = v;
            } else if (a == "--imap-pass-through") {
                if (v != "yes" && v != "no")
                    return "--imap-pass-through \"" + v + "\" must be yes or no";
                o.imap_pass_through = v;
            } else if (a == "--wg-port") {
                unsigned p = 0;
                auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), p);
                if (ec != std::errc() || end != v.data() + v.size() || p == 0 || p > 65535)
                    return "--wg-port \"" + v + "\" is not a UDP port (1-65535)";
                o.wg_port = static_cast<std::uint16_t>(p);
            }
            return std::nullopt;
        });
    if (e) return e;
    if (o.domains.empty()) return "--domain is required (the mail domain, e.g. example.com)";
    for (std::size_t i = 0; i < o.domains.size(); ++i) {
        if (o.domains[i].ends_with(".")) o.domains[i].pop_back();
        if (!host_name(o.domains[i]))
            return "--domain \"" + o.domains[i] +
                   "\" is not a domain name (ASCII letters, digits, '-' and dots, e.g. "
                   "example.com; IDNs in their xn-- form)";
        for (std::size_t j = 0; j < i; ++j)
            if (o.domains[j] == o.domains[i])
                return "--domain \"" + o.domains[i] + "\" is given twice";
    }
    if (o.hostname.ends_with(".")) o.hostname.pop_back();
    if (o.hostname.empty())
        return "--hostname is required (the relay's public name, e.g. mx." + o.domains[0] + ")";
    if (!host_name(o.hostname))
        return "--hostname \"" + o.hostname + "\" is not a fully qualified host name (e.g. mx." +
               o.domains[0] + ")";
    if (o.ipv4.empty())
        return "--public-ipv4 is required (the relay's public IPv4 address: A record, SPF and "
               "the WireGuard endpoint home dials)";
    if (!is_ipv4_text(o.ipv4)) return "--public-ipv4 \"" + o.ipv4 + "\" is not an IPv4 address";
    if (!o.ipv6.empty() && !is_ipv6_text(o.ipv6))
        return "--public-ipv6 \"" + o.ipv6 + "\" is not an IPv6 address";
    if (!o.imap_host.empty() && !host_name(o.imap_host))
        return "--imap-host \"" + o.imap_host + "\" is not a fully qualified host name";
    return check_common(o);
}

std::optional<std::string> parse_home(std::span<const std::string> args, home_options& o) {
    auto take = [&](const std::string& a, const std::string& v) -> std::optional<std::string> {
        if (take_common(o, a, v)) return std::nullopt;
        if (a == "--new-tunnel-keys")
            return std::string("--new-tunnel-keys is for the relay (it makes the keys); on home, "
                               "`provision home --pairing NEW-FILE` takes them over");
        else if (a == "--pairing")
            o.pairing = v;
        else if (a == "--hostname")
            o.hostname = address::lower_ascii(v);
        return std::nullopt;
    };
    auto e = parse_args(
        args, {"--pairing", "--hostname", "--root", "--bindir", "--desec-api", "--desec-ca-file"},
        take);
    if (e) return e;
    if (o.pairing.empty())
        return "--pairing is required (the file `splitmail provision relay` wrote as "
               "/etc/splitmail/pairing-home.toml on the relay; copy it here first)";
    if (o.hostname.ends_with(".")) o.hostname.pop_back();
    if (!o.hostname.empty() && !host_name(o.hostname))
        return "--hostname \"" + o.hostname +
               "\" is not a fully qualified host name (e.g. "
               "home.example.com)";
    return check_common(o);
}

} // namespace splitmail::provision::provisioning
