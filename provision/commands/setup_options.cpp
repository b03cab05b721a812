// The command line of `splitmail setup relay|home`: see setup_options.hpp.
#include "commands/setup_options.hpp"

#include "splitmail/acme/types.hpp"

#include <algorithm>
#include <charconv>

namespace splitmail::provision::guided_setup {

const char* const usage_text =
    "usage: splitmail setup relay [--domain D]... [--hostname H] [--public-ipv4 A]\n"
    "                             [--public-ipv6 A6] [--imap-host N]\n"
    "                             [--imap-pass-through yes|no] [COMMON]\n"
    "       splitmail setup home [--pairing FILE] [--hostname N] [--user ADDRESS] [COMMON]\n"
    "COMMON: [--desec-token-file FILE|-] [--desec-api URL] [--desec-ca-file F]\n"
    "        [--yes] [--dry-run] [--no-systemd] [--wait SECONDS] [--resolver IP:PORT]\n"
    "        [--root DIR] [--bindir DIR] [--systemctl PROG]\n"
    "        [--certificate acme|self-signed] [--acme-directory URL|--acme-staging]\n"
    "        [--acme-ca-file F] [--acme-dns-server IP:PORT]...\n"
    "One command per machine: provision, the deSEC token file, (relay) dns apply, WireGuard\n"
    "and the services started, waits until they work, runs `splitmail check` and prints what\n"
    "is left to do. Missing values are asked for on a terminal. It shows its plan first and\n"
    "asks (a script gives --yes); --dry-run shows the plan only. Safe to run again.\n"
    "--no-systemd starts nothing and prints the systemctl commands (containers, staging);\n"
    "--user ADDRESS (home) adds the first mailbox (password asked, or read from stdin).\n"
    "--imap-pass-through yes (relay; the default of a first setup): mail clients reach home's\n"
    "IMAP at the relay (imap.D, port 993), for a home behind CGNAT or without port forwarding;\n"
    "no: clients connect to home itself (a public address and port 993 forwarded there).\n"
    "--certificate acme (the default): a trusted certificate from Let's Encrypt\n"
    "(--acme-staging: its staging CA, untrusted, for a first try; --acme-directory for another\n"
    "CA) through deSEC (dns-01: no open port needed) for the relay's name (relay) or the IMAP\n"
    "name (home), renewed by splitmail-cert.timer; if it cannot be had, the self-signed one\n"
    "stays and the command to try again is printed.\n";

std::optional<std::string> parse(std::span<const std::string> args, options& o) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i], v;
        bool inline_value = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            v = a.substr(eq + 1);
            a = a.substr(0, eq);
            inline_value = true;
        }
        if (a == "--acme-staging") { // Let's Encrypt's staging CA (untrusted certificates)
            if (inline_value) return a + " takes no value";
            if (!o.acme_directory.empty() &&
                o.acme_directory != acme::letsencrypt_staging_directory)
                return "--acme-staging and --acme-directory both name the CA: give one";
            o.acme_directory = acme::letsencrypt_staging_directory;
            continue;
        }
        if (a == "--dry-run" || a == "--yes" || a == "--no-systemd") {
            if (inline_value) return a + " takes no value";
            (a == "--dry-run" ? o.dry_run : a == "--yes" ? o.yes : o.no_systemd) = true;
            continue;
        }
        static const std::vector<std::string> relay_only = {
            "--domain", "--public-ipv4", "--public-ipv6", "--imap-host", "--imap-pass-through"};
        static const std::vector<std::string> home_only = {"--pairing", "--user"};
        static const std::vector<std::string> both = {
            "--hostname",       "--desec-token-file", "--desec-api",      "--desec-ca-file",
            "--root",           "--bindir",           "--systemctl",      "--wait",
            "--resolver",       "--certificate",      "--acme-directory", "--acme-ca-file",
            "--acme-dns-server"};
        auto in = [&](const std::vector<std::string>& l) {
            return std::find(l.begin(), l.end(), a) != l.end();
        };
        if (!in(both) && !in(o.role == "relay" ? relay_only : home_only)) {
            if (in(relay_only) || in(home_only))
                return a + " is for `setup " + (o.role == "relay" ? "home" : "relay") + "`";
            return "unknown option \"" + args[i] + "\"";
        }
        if (!inline_value) {
            if (i + 1 >= args.size()) return a + " needs a value";
            v = args[++i];
        }
        if (a == "--domain")
            o.domains.push_back(v);
        else if (a == "--hostname")
            o.hostname = v;
        else if (a == "--public-ipv4")
            o.ipv4 = v;
        else if (a == "--public-ipv6")
            o.ipv6 = v;
        else if (a == "--imap-host")
            o.imap_host = v;
        else if (a == "--imap-pass-through") {
            if (v != "yes" && v != "no")
                return "--imap-pass-through \"" + v + "\" must be yes or no";
            o.imap_pass_through = v;
        } else if (a == "--pairing")
            o.pairing = v;
        else if (a == "--user")
            o.user = v;
        else if (a == "--desec-token-file")
            o.token_from = v;
        else if (a == "--desec-api")
            o.desec_api = v;
        else if (a == "--desec-ca-file")
            o.desec_ca = v;
        else if (a == "--root")
            o.root = v;
        else if (a == "--bindir")
            o.bindir = v;
        else if (a == "--resolver")
            o.resolver = v;
        else if (a == "--certificate") {
            if (v != "acme" && v != "self-signed")
                return "--certificate \"" + v + "\" must be acme or self-signed";
            o.certificate = v;
        } else if (a == "--acme-directory") {
            if (o.acme_directory == acme::letsencrypt_staging_directory)
                return "--acme-staging and --acme-directory both name the CA: give one";
            o.acme_directory = v;
        } else if (a == "--acme-ca-file")
            o.acme_ca = v;
        else if (a == "--acme-dns-server")
            o.acme_dns_servers.push_back(v);
        else if (a == "--systemctl") {
            o.systemctl = v;
            o.systemctl_given = true;
        } else if (a == "--wait") {
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), o.wait_s);
            if (ec != std::errc() || end != v.data() + v.size() || o.wait_s < 1 || o.wait_s > 3600)
                return "--wait \"" + v + "\": seconds, 1 to 3600";
        }
    }
    return std::nullopt;
}

} // namespace splitmail::provision::guided_setup
