// `splitmail provision relay|home`: see provision.hpp.
#include "commands/provision.hpp"
#include "splitmail/text/hex.hpp"
#include "splitmail/text/trim.hpp"

#include "commands/dkim.hpp"
#include "setup/files.hpp"
#include "setup/keys.hpp"
#include "setup/pairing.hpp"
#include "setup/public_address.hpp"
#include "setup/render.hpp"
#include "setup/wg_sync.hpp"
#include "site/site.hpp"
#include "splitmail/address/address.hpp"
#include "splitmail/address/ip.hpp"
#include "splitmail/auth/settings.hpp"
#include "splitmail/config/home.hpp"
#include "splitmail/config/relay.hpp"

#include <openssl/rand.h>

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <functional>
#include <iostream>
#include <optional>

namespace splitmail::provision {

namespace fs = std::filesystem;
using setup::file_writer;
using setup::layout;
using setup::owner;

namespace {

constexpr const char* usage_text =
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

struct usage_error {
    std::string text;
};

struct common_options {
    fs::path root = "/";
    bool root_given = false;
    fs::path bindir = "/usr/bin";
    bool force = false;
    bool dry_run = false;
    bool sync_tunnel = false; // --sync-tunnel: also sync a running interface under --root
    std::string desec_api;    // "" = keep the site file's (default https://desec.io/api/v1)
    fs::path desec_ca_file;   // "" = keep the site file's (default: the system's CAs)
};

struct relay_options : common_options {
    std::vector<std::string> domains;
    std::string hostname, ipv4, ipv6, imap_host;
    std::uint16_t wg_port = 51820;
    bool new_tunnel_keys = false;
    std::string scanners = "auto"; // --scanners auto|on|off: rspamd/clamd wiring (issue 18)
    // --imap-pass-through yes|no: clients reach home's IMAP at the relay (imap.<domain>, port
    // 993, relay/imap_proxy), for a home behind CGNAT; "" = as relay.toml has it (else no).
    std::string imap_pass_through;
};

struct home_options : common_options {
    fs::path pairing;
    std::string hostname;
};

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
// take a value; every option may appear once except those in `repeatable`.
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

std::optional<std::string> parse_relay(std::span<const std::string> args, relay_options& o) {
    auto e = parse_args(
        args,
        {"--domain", "--hostname", "--public-ipv4", "--public-ipv6", "--imap-host", "--wg-port",
         "--root", "--bindir", "--desec-api", "--desec-ca-file", "--scanners",
         "--imap-pass-through"},
        [&](const std::string& a, const std::string& v) -> std::optional<std::string> {
            if (a == "--force")
                o.force = true;
            else if (a == "--dry-run")
                o.dry_run = true;
            else if (a == "--sync-tunnel")
                o.sync_tunnel = true;
            else if (a == "--new-tunnel-keys")
                o.new_tunnel_keys = true;
            else if (a == "--domain")
                o.domains.push_back(address::lower_ascii(v));
            else if (a == "--hostname")
                o.hostname = address::lower_ascii(v);
            else if (a == "--public-ipv4")
                o.ipv4 = v;
            else if (a == "--desec-api")
                o.desec_api = v;
            else if (a == "--desec-ca-file")
                o.desec_ca_file = v;
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
            } else if (a == "--root") {
                o.root = v;
                o.root_given = true;
            } else if (a == "--bindir")
                o.bindir = v;
            else if (a == "--wg-port") {
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
    if (auto r = check_dir_option("--root", o.root)) return r;
    if (o.root == "/") o.root_given = false; // `--root /` is the real system
    if (auto r = check_dir_option("--bindir", o.bindir)) return r;
    return std::nullopt;
}

std::optional<std::string> parse_home(std::span<const std::string> args, home_options& o) {
    auto take = [&](const std::string& a, const std::string& v) -> std::optional<std::string> {
        if (a == "--force")
            o.force = true;
        else if (a == "--dry-run")
            o.dry_run = true;
        else if (a == "--sync-tunnel")
            o.sync_tunnel = true;
        else if (a == "--new-tunnel-keys")
            return std::string("--new-tunnel-keys is for the relay (it makes the keys); on home, "
                               "`provision home --pairing NEW-FILE` takes them over");
        else if (a == "--pairing")
            o.pairing = v;
        else if (a == "--desec-api")
            o.desec_api = v;
        else if (a == "--desec-ca-file")
            o.desec_ca_file = v;
        else if (a == "--hostname")
            o.hostname = address::lower_ascii(v);
        else if (a == "--root") {
            o.root = v;
            o.root_given = true;
        } else if (a == "--bindir")
            o.bindir = v;
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
    if (auto r = check_dir_option("--root", o.root)) return r;
    if (o.root == "/") o.root_given = false; // `--root /` is the real system
    if (auto r = check_dir_option("--bindir", o.bindir)) return r;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Owners

struct owners {
    std::optional<owner> service;      // splitmail:splitmail (spool, Maildir, DKIM keys)
    std::optional<owner> root_service; // root:splitmail (TLS keys, users files: read-only)
    std::optional<owner> root;         // root:root
    std::optional<owner> ddns;         // splitmail-ddns:splitmail-ddns
};

std::expected<void, std::string> ensure_user(const std::string& name, const std::string& home,
                                             std::ostream& out) {
    if (::getpwnam(name.c_str()) != nullptr) {
        out << "unchanged user " << name << "\n";
        return {};
    }
    auto r = setup::run_program({"useradd", "--system", "--user-group", "--home-dir", home,
                                 "--no-create-home", "--shell", "/usr/sbin/nologin", name},
                                "");
    if (!r)
        return std::unexpected("cannot create the system user " + name + ": " + r.error() +
                               " (create it with `useradd --system --user-group " + name +
                               "` and run again)");
    if (::getpwnam(name.c_str()) == nullptr)
        return std::unexpected("useradd succeeded but user " + name + " does not exist");
    out << "created user " << name << "\n";
    return {};
}

std::optional<owner> owner_of(const std::string& user, const std::string& group_name) {
    const passwd* pw = ::getpwnam(user.c_str());
    const struct group* gr = ::getgrnam(group_name.c_str());
    if (pw == nullptr || gr == nullptr) return std::nullopt;
    return owner{pw->pw_uid, gr->gr_gid, user + ":" + group_name};
}

// Decides whether owners are managed: only as root for the real system (no --root).
std::expected<owners, std::string> prepare_owners(const common_options& o, bool with_ddns,
                                                  std::ostream& out) {
    owners w;
    if (o.root_given) {
        out << "note: --root given: no system user is created and no owner is changed\n";
        return w;
    }
    if (::geteuid() != 0)
        return std::unexpected("writing the system configuration needs root: run as root, or "
                               "give --root DIR to write the tree into a directory");
    if (o.dry_run) {
        // Nothing is created: owners are compared only where the users exist already.
        for (const char* u : {"splitmail", "splitmail-ddns"}) {
            if (!with_ddns && std::string_view(u) == "splitmail-ddns") continue;
            if (::getpwnam(u) == nullptr) out << "would create user " << u << "\n";
        }
        w.service = owner_of("splitmail", "splitmail");
        w.root_service = owner_of("root", "splitmail");
        w.root = owner_of("root", "root");
        if (with_ddns) w.ddns = owner_of("splitmail-ddns", "splitmail-ddns");
        return w;
    }
    if (auto r = ensure_user("splitmail", "/var/lib/splitmail", out); !r)
        return std::unexpected(r.error());
    if (with_ddns)
        if (auto r = ensure_user("splitmail-ddns", "/var/lib/splitmail-ddns", out); !r)
            return std::unexpected(r.error());
    w.service = owner_of("splitmail", "splitmail");
    w.root_service = owner_of("root", "splitmail");
    w.root = owner_of("root", "root");
    if (with_ddns) w.ddns = owner_of("splitmail-ddns", "splitmail-ddns");
    if (!w.service || !w.root_service || !w.root || (with_ddns && !w.ddns))
        return std::unexpected("the users/groups splitmail (and splitmail-ddns) are incomplete; "
                               "check /etc/passwd and /etc/group");
    return w;
}

// ---------------------------------------------------------------------------------------------
// Keys on disk

// Keeps a usable existing secret, makes one when absent (or unusable with --force).
std::expected<std::string, std::string>
ensure_secret(file_writer& w, const fs::path& path, mode_t mode, const std::optional<owner>& own,
              const std::function<bool(const std::string&)>& usable,
              const std::function<std::expected<std::string, std::string>()>& make,
              std::string_view what) {
    auto existing = setup::read_if_exists(path);
    if (!existing) return std::unexpected(existing.error());
    if (*existing && usable(**existing)) {
        auto r = w.file(path, **existing, mode, own);
        if (!r) return std::unexpected(r.error());
        return **existing;
    }
    if (*existing && !w.force())
        return std::unexpected(path.string() + ": not a usable " + std::string(what) +
                               "; fix or remove it, or run with --force to replace it with a "
                               "new one");
    auto made = make();
    if (!made) return std::unexpected(made.error());
    auto r = w.file(path, *made, mode, own);
    if (!r) return std::unexpected(r.error());
    return *made;
}

// Issue 18: rspamd's wiring on the relay (setup/render.hpp): the controller password (kept
// once made; rspamd gets its hash, made by `rspamadm pw` when the password is new or the file
// has none), the local.d files, the drop-in that orders rspamd after the tunnel. Returns the
// plain password (for the pairing file).
std::expected<std::string, std::string> ensure_rspamd_wiring(file_writer& w, const setup::layout& L,
                                                             const setup::tunnel& tun,
                                                             const owners& own) {
    std::error_code ec;
    const bool had = fs::exists(L.rspamd_password(), ec);
    auto pw = ensure_secret(
        w, L.rspamd_password(), 0600, own.root,
        [](const std::string& t) {
            auto v = auth::read_secret_text(t);
            return v && v->size() >= 16 && v->find('"') == std::string::npos;
        },
        []() -> std::expected<std::string, std::string> {
            unsigned char raw[24];
            if (RAND_bytes(raw, sizeof raw) != 1)
                return std::unexpected(std::string("no random bytes for the rspamd password"));
            return text::hex(raw, sizeof raw) + "\n";
        },
        "rspamd controller password");
    if (!pw) return std::unexpected(pw.error());
    const std::string password = *auth::read_secret_text(*pw);
    const fs::path ctl = L.rspamd_local_dir() / "worker-controller.inc";
    auto old = setup::read_if_exists(ctl);
    if (!old) return std::unexpected(old.error());
    std::string hash = *old && had ? setup::rspamd_password_hash(**old) : std::string();
    if (hash.empty()) {
        // rspamadm reads the password only from its command line (a moment in the process
        // list of this machine); it never reaches a file in plain text except ours (0600).
        auto h = setup::run_program({"rspamadm", "pw", "-p", password}, "");
        if (!h)
            return std::unexpected("rspamadm pw (to hash the rspamd controller password): " +
                                   h.error());
        hash = std::string(text::trim(*h));
        if (!hash.starts_with("$") || hash.find('"') != std::string::npos)
            return std::unexpected("rspamadm pw printed no password hash: " + *h);
    }
    const std::string text = setup::render_rspamd_controller(tun, hash);
    if (*old && **old != text && !had) {
        if (auto r = w.replace_file(ctl, text, 0644, own.root, "new controller password"); !r)
            return std::unexpected(r.error());
    } else if (auto r = w.file(ctl, text, 0644, own.root); !r) {
        return std::unexpected(r.error());
    }
    for (auto [name, content] :
         {std::pair{"worker-normal.inc", setup::render_rspamd_worker_normal()},
          std::pair{"redis.conf", setup::render_rspamd_redis()}})
        if (auto r = w.file(L.rspamd_local_dir() / name, content, 0644, own.root); !r)
            return std::unexpected(r.error());
    if (auto r = w.file(L.unit_dir() / "rspamd.service.d" / "splitmail.conf",
                        setup::render_rspamd_dropin(setup::relay_interface), 0644, own.root);
        !r)
        return std::unexpected(r.error());
    return password;
}

// The TLS key and certificate: an existing usable pair (also a real certificate that replaced
// the placeholder) is kept; otherwise a self-signed placeholder for `hostname` (and the names
// in `also`) is made.
std::expected<setup::cert_info, std::string>
ensure_tls(file_writer& w, const fs::path& cert, const fs::path& key, const std::string& hostname,
           const owners& own, const std::vector<std::string>& also = {}) {
    std::string missing_names; // of hostname and `also`, those the certificate is not valid for
    const auto covers_all = [&](const std::string& pem) {
        missing_names.clear();
        for (const auto& n : [&] {
                 std::vector<std::string> all{hostname};
                 all.insert(all.end(), also.begin(), also.end());
                 return all;
             }())
            if (!setup::cert_covers_host(pem, n))
                missing_names += (missing_names.empty() ? "" : ", ") + n;
        return missing_names.empty();
    };
    {
        std::error_code ec;
        if (!w.force() && fs::exists(cert, ec) && !fs::exists(key, ec))
            return std::unexpected(cert.string() + " exists but its key " + key.string() +
                                   " does not; put the key back, or run with --force for a new "
                                   "self-signed pair");
    }
    auto key_pem = ensure_secret(
        w, key, 0640, own.root_service,
        [](const std::string& t) { return setup::valid_private_key(t); },
        [&]() -> std::expected<std::string, std::string> {
            // A new key invalidates whatever certificate is there: make the pair now.
            auto p = setup::make_self_signed(hostname, 90, also);
            if (!p) return std::unexpected(p.error());
            return p->key_pem;
        },
        "PEM private key");
    if (!key_pem) return std::unexpected(key_pem.error());
    auto cert_pem = setup::read_if_exists(cert);
    if (!cert_pem) return std::unexpected(cert_pem.error());
    if (*cert_pem) {
        auto info = setup::inspect_cert(**cert_pem, *key_pem, cert.string());
        const bool covers = info && covers_all(**cert_pem);
        // Our placeholder for this host that lacks a name asked for now (the IMAP
        // pass-through's name at home): made again with the same key (TLSA stays valid).
        if (info && !covers && info->self_signed && !also.empty() &&
            setup::cert_covers_host(**cert_pem, hostname)) {
            auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
            if (!made) return std::unexpected(key.string() + ": " + made.error());
            if (auto e =
                    w.replace_file(cert, *made, 0644, own.root,
                                   "self-signed placeholder made for " + missing_names + " too");
                !e)
                return std::unexpected(e.error());
            return setup::inspect_cert(*made, *key_pem, cert.string());
        }
        // A certificate someone installed (not self-signed) is never replaced by a
        // placeholder; a placeholder for another name is, with --force.
        if (info && (covers || !info->self_signed || !w.force())) {
            if (!covers) {
                w.report_kept(cert, "certificate is not valid for " + missing_names +
                                        (info->self_signed ? "; --force for a new self-signed one"
                                                           : "; install one that is"));
                return *info;
            }
            // The placeholder is renewed (same key, so TLSA 3 1 1 stays valid) before it runs
            // out; a certificate someone installed is theirs to renew.
            const auto soon = std::chrono::system_clock::now() + std::chrono::days(21);
            if (info->self_signed && info->not_after < soon) {
                auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
                if (!made) return std::unexpected(key.string() + ": " + made.error());
                if (auto e = w.replace_file(cert, *made, 0644, own.root,
                                            "self-signed placeholder expires within 21 days");
                    !e)
                    return std::unexpected(e.error());
                return setup::inspect_cert(*made, *key_pem, cert.string());
            }
            auto r = w.file(cert, **cert_pem, 0644, own.root);
            if (!r) return std::unexpected(r.error());
            return *info;
        }
        if (!info && !w.force())
            return std::unexpected(info.error() + "; install the matching certificate, or run "
                                                  "with --force for a new self-signed one");
    }
    auto made = setup::self_signed_for_key(*key_pem, hostname, 90, also);
    if (!made) return std::unexpected(key.string() + ": " + made.error());
    auto r = w.file(cert, *made, 0644, own.root);
    if (!r) return std::unexpected(r.error());
    return setup::inspect_cert(*made, *key_pem, cert.string());
}

// Values of an existing site file that provision does not decide (people may edit them).
void keep_site_edits(const fs::path& file, site& s) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return;
    auto old = load_site(file);
    if (!old) return; // reported as "kept (differs)" by the writer
    s.dmarc_rua = old->dmarc_rua;
    s.tlsrpt_rua = old->tlsrpt_rua;
    s.ttl = old->ttl;
    s.desec_api = old->desec_api;
    s.desec_token_file = old->desec_token_file;
    s.desec_ca_file = old->desec_ca_file;
    s.resolver = old->resolver;
    s.cert_warn_days = old->cert_warn_days;
}

site default_site(const layout& L, const std::vector<std::string>& domains) {
    site s;
    s.domains = domains;
    s.dmarc_rua = "mailto:postmaster@" + domains.front();
    s.tlsrpt_rua = s.dmarc_rua;
    s.desec_api = "https://desec.io/api/v1";
    s.desec_token_file = L.desec_token();
    return s;
}

struct step_error {
    std::string text;
};

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if (auto r_ = (expr); !r_) throw step_error{r_.error()};                                   \
    } while (0)

// Writes a tunnel file. When the file is there with other key material (a re-pairing), only
// its key lines are replaced (setup::rekey_wg_conf: every other line, edited or not, stays; the
// old file is kept as PATH.bak-TIME). Otherwise as any other file (unchanged / kept / created).
// A file that cannot take the new keys is an error: a tunnel left with old keys is broken, and
// exiting 0 would hide that (issue 16 bug 3).
std::expected<void, std::string> write_wg(file_writer& w, const fs::path& conf,
                                          const std::optional<std::string>& existing,
                                          const std::string& desired, const std::string& priv,
                                          const std::string& peer_pub, const std::string& endpoint,
                                          const std::optional<owner>& own) {
    if (existing) {
        auto rk = setup::rekey_wg_conf(*existing, priv, peer_pub, endpoint);
        if (rk && *rk != *existing) {
            auto r = w.replace_file(conf, *rk, 0600, own, "new tunnel keys; every other line kept");
            if (!r) return std::unexpected(r.error());
            return {};
        }
        if (!rk && !w.force()) {
            const auto found = setup::read_wg_keys(*existing);
            if (found.private_key != priv || found.peer_public_key != peer_pub)
                return std::unexpected(conf.string() +
                                       ": the tunnel needs new keys but the file has no "
                                       "PrivateKey line in [Interface] or no PublicKey/Endpoint in "
                                       "its [Peer]; fix it, or run with --force to write it anew "
                                       "(the old one is kept as a .bak copy)");
        }
    }
    auto r = w.file(conf, desired, 0600, own);
    if (!r) return std::unexpected(r.error());
    return {};
}

// After the tunnel file is written: a running interface gets its keys (wg syncconf). Says what
// it did; an interface that is running but cannot be synced is an error.
// A --root tree is a staging copy, not this machine's tunnel: its keys never go into the running
// interface of the same name unless --sync-tunnel says so (tests in network namespaces).
std::expected<void, std::string> sync_wg(const file_writer& w, const common_options& o,
                                         const std::string& iface, const fs::path& conf,
                                         const std::string& priv, const std::string& peer_pub,
                                         std::ostream& out) {
    if (w.dry_run() || (o.root_given && !o.sync_tunnel)) return {};
    auto pub = setup::wg_public_key(priv);
    if (!pub) return std::unexpected(conf.string() + ": " + pub.error());
    auto r = setup::sync_running_interface(iface, conf, *pub, peer_pub);
    if (!r) return std::unexpected(r.error());
    if (*r == setup::wg_sync_result::synced)
        out << "synced the running interface " << iface << " to the keys of " << conf.string()
            << " (wg syncconf; no restart needed)\n";
    return {};
}

void summary(const file_writer& w, std::ostream& out) {
    if (w.changes() == 0 && w.kept() == 0)
        out << "nothing to do: every file is as it should be\n";
    else if (w.kept() > 0)
        out << w.kept() << " file(s) kept although they differ from what provision would write "
            << "(see \"kept\" above; --force replaces them)\n";
}

// ---------------------------------------------------------------------------------------------
// relay

int provision_relay(const relay_options& o, std::ostream& out, std::ostream& err) {
    const layout L(o.root);
    file_writer w(out, o.force, o.dry_run);
    bool rekeyed = false;
    // A private or reserved address would end up in the A/AAAA record, SPF and the WireGuard
    // endpoint home dials: say so (issue 16 bug 9), but go on (staging, tests).
    for (const auto& [flag, ip] : {std::pair<std::string, std::string>{"--public-ipv4", o.ipv4},
                                   {"--public-ipv6", o.ipv6}}) {
        if (ip.empty()) continue;
        if (auto why = setup::not_public_reason(ip); !why.empty())
            err << "splitmail provision relay: warning: " << flag << " " << ip << " is " << why
                << ", not reachable from the internet: the A/AAAA record, SPF and the "
                   "WireGuard endpoint made from it will not work; give the VPS's public "
                   "address (`ip -br addr` on the VPS, or the hoster's panel)\n";
    }
    // The name mail clients use for IMAP at home, which splitmail-ddns keeps current. Without
    // --imap-host: what an existing site file says, else home.<first domain> (the name
    // `provision home` takes anyway), so `dns apply` announces it (_imaps._tcp) and never
    // prunes it (issue 16 bug 2).
    std::string imap_host = o.imap_host;
    if (imap_host.empty()) {
        std::error_code ec;
        if (fs::exists(L.site_file(), ec)) {
            if (auto old = load_site(L.site_file())) imap_host = old->imap_host;
        } else {
            imap_host = "home." + o.domains.front();
        }
    }
    // The IMAP pass-through: as asked, else as relay.toml has it (a re-run keeps it).
    bool pass_through = o.imap_pass_through == "yes";
    if (o.imap_pass_through.empty()) {
        std::error_code ec;
        if (fs::exists(L.relay_toml(), ec))
            if (auto old =
                    relay::load_settings(L.relay_toml(), config::referenced_files::names_only))
                pass_through = !old->imap_proxy_listen.empty();
    }
    const std::string pass_through_host = "imap." + o.domains.front();
    if (pass_through && imap_host == pass_through_host) {
        err << "splitmail provision relay: --imap-host " << imap_host
            << " is the name the IMAP pass-through gives the relay; give home another name "
               "(e.g. --imap-host home."
            << o.domains.front() << ")\n";
        return 1;
    }
    try {
        auto own = prepare_owners(o, false, out);
        if (!own) throw step_error{own.error()};
        setup::tunnel tun;
        tun.wg_port = o.wg_port;

        TRY(w.directory(L.etc(), 0755, own->root));
        TRY(w.directory(L.tls_dir(), 0755, own->root));
        TRY(w.directory(L.dkim_dir(), 0755, own->root));
        TRY(w.directory(L.wg_dir(), 0700, own->root));
        TRY(w.directory(L.unit_dir(), 0755));
        TRY(w.directory(L.spool_dir(), 0750, own->service));

        // TLS placeholder (or the real certificate that replaced it).
        const fs::path cert = L.tls_dir() / "relay.crt", key = L.tls_dir() / "relay.key";
        auto tls = ensure_tls(w, cert, key, o.hostname, *own);
        if (!tls) throw step_error{tls.error()};

        // DKIM: sm1-rsa and sm1-ed25519 per domain, as `splitmail dkim keygen --selector sm1`.
        for (const auto& d : o.domains) {
            TRY(w.directory(L.dkim_dir() / d, 0700, own->service));
            for (const char* alg : {"rsa", "ed25519"}) {
                const fs::path f = L.dkim_dir() / d / (std::string("sm1-") + alg + ".key");
                auto k = ensure_secret(
                    w, f, 0600, own->service,
                    [&](const std::string&) { return dkim_txt_value(f).has_value(); },
                    [&] { return dkim_new_key_pem(alg); }, "DKIM private key");
                if (!k) throw step_error{k.error()};
            }
        }

        // WireGuard: keys come from the files on disk when they are there.
        const fs::path wg_conf = L.wg_dir() / (std::string(setup::relay_interface) + ".conf");
        auto wg_text = setup::read_if_exists(wg_conf);
        if (!wg_text) throw step_error{wg_text.error()};
        setup::wg_keys_found found;
        if (*wg_text) found = setup::read_wg_keys(**wg_text);
        std::string relay_priv;
        if (o.new_tunnel_keys) {
            auto kp = setup::wg_generate();
            if (!kp) throw step_error{kp.error()};
            relay_priv = kp->private_key;
            rekeyed = true;
        } else if (setup::valid_wg_key(found.private_key)) {
            relay_priv = found.private_key;
        } else if (*wg_text && !o.force) {
            throw step_error{wg_conf.string() + ": no valid PrivateKey in [Interface]; fix it, "
                                                "or run with --force to make new tunnel keys "
                                                "(home must then be provisioned again)"};
        } else {
            auto kp = setup::wg_generate();
            if (!kp) throw step_error{kp.error()};
            relay_priv = kp->private_key;
        }
        auto relay_pub = setup::wg_public_key(relay_priv);
        if (!relay_pub) throw step_error{wg_conf.string() + ": " + relay_pub.error()};

        // The LMTP pairing secret (contracts.md XSECRET): kept when usable, made once.
        auto lmtp_secret = ensure_secret(
            w, L.lmtp_secret(), 0640, own->root_service,
            [](const std::string& t) { return auth::read_secret_text(t).has_value(); },
            []() -> std::expected<std::string, std::string> {
                unsigned char raw[32];
                if (RAND_bytes(raw, sizeof raw) != 1)
                    return std::unexpected(std::string("no random bytes for the LMTP secret"));
                return text::hex(raw, sizeof raw) + "\n";
            },
            "LMTP pairing secret");
        if (!lmtp_secret) throw step_error{lmtp_secret.error()};

        // Issue 18: rspamd and clamd on this host (installed: `auto`; `on` whatever is found).
        const auto installed = [&](const char* bin) {
            std::error_code ec;
            return fs::exists(L.at(bin), ec);
        };
        const bool want_rspamd =
            o.scanners == "on" || (o.scanners == "auto" && installed("/usr/bin/rspamd"));
        const bool want_clamav =
            o.scanners == "on" || (o.scanners == "auto" && installed("/usr/sbin/clamd"));
        std::string rspamd_password;
        if (want_rspamd) {
            auto pw = ensure_rspamd_wiring(w, L, tun, *own);
            if (!pw) throw step_error{pw.error()};
            rspamd_password = *pw;
        }
        std::string clamd;
        if (want_clamav) {
            auto conf = setup::read_if_exists(L.clamd_conf());
            if (!conf) throw step_error{conf.error()};
            clamd = setup::clamd_address(*conf ? **conf : std::string());
        }

        std::optional<setup::pairing> old_pairing;
        auto pairing_text = setup::read_if_exists(L.pairing_file());
        if (!pairing_text) throw step_error{pairing_text.error()};
        if (*pairing_text) {
            auto p = setup::parse_pairing(**pairing_text, L.pairing_file().string());
            if (p) {
                auto pub = setup::wg_public_key(p->home_private_key);
                if (pub && *pub == p->home_public_key)
                    old_pairing = std::move(*p);
                else if (!o.force)
                    throw step_error{L.pairing_file().string() +
                                     ": home_public_key does not belong to home_private_key; "
                                     "remove the file or run with --force for new home keys"};
            } else if (!o.force) {
                throw step_error{p.error() + "; remove the file or run with --force to write a "
                                             "new one (with new home keys)"};
            }
        }
        std::string home_priv, home_pub;
        if (o.new_tunnel_keys) {
            auto kp = setup::wg_generate();
            if (!kp) throw step_error{kp.error()};
            home_priv = kp->private_key;
            home_pub = kp->public_key;
        } else if (old_pairing) {
            home_priv = old_pairing->home_private_key;
            home_pub = old_pairing->home_public_key;
        } else if (setup::valid_wg_key(found.peer_public_key) && !o.force) {
            // The pairing file was deleted after it was copied to home (as it says to): the
            // tunnel keeps home's public key; there is no private key to put into a new one.
            home_pub = found.peer_public_key;
        } else {
            auto kp = setup::wg_generate();
            if (!kp) throw step_error{kp.error()};
            home_priv = kp->private_key;
            home_pub = kp->public_key;
        }
        TRY(write_wg(w, wg_conf, *wg_text, setup::render_relay_wg(tun, relay_priv, home_pub),
                     relay_priv, home_pub, "", own->root));
        TRY(sync_wg(w, o, setup::relay_interface, wg_conf, relay_priv, home_pub, out));

        if (!home_priv.empty()) {
            setup::pairing p;
            p.domains = o.domains;
            p.relay_hostname = o.hostname;
            p.relay_endpoint = o.ipv4 + ":" + std::to_string(o.wg_port);
            p.relay_public_key = *relay_pub;
            p.home_private_key = home_priv;
            p.home_public_key = home_pub;
            p.tunnel_relay = tun.relay_ip;
            p.tunnel_home = tun.home_ip;
            p.tunnel_prefix = tun.prefix;
            p.lmtp_port = tun.lmtp_port;
            p.relay_tls_sha256 = tls->sha256_hex;
            p.imap_host = imap_host;
            p.lmtp_secret = *auth::read_secret_text(*lmtp_secret);
            if (!rspamd_password.empty()) {
                p.rspamd_controller =
                    tun.relay_ip + ":" + std::to_string(setup::rspamd_controller_port);
                p.rspamd_password = rspamd_password;
            }
            if (pass_through) {
                p.imap_pass_through = pass_through_host;
                p.imap_proxy_listen = tun.home_ip + ":" + std::to_string(tun.imap_proxy_port);
            }
            // The pairing file is made from the keys, never edited: when the keys changed it
            // is rewritten (an old one would pair home with keys the relay no longer has).
            std::string text = setup::render_pairing(p);
            // A certificate that `splitmail cert` renews (it has a renewal file; the key stays)
            // is no reason for a new pairing file on every renewal: relay_tls_sha256 only
            // tells home which certificate was in service at pairing time (nothing pins it),
            // so a file that differs in nothing else stays. A certificate replaced by hand
            // still rewrites it.
            std::error_code renewal_ec;
            const bool renewed_by_acme =
                fs::exists(fs::path(cert.string() + ".acme.json"), renewal_ec);
            if (renewed_by_acme && *pairing_text && **pairing_text != text) {
                auto old = setup::parse_pairing(**pairing_text, L.pairing_file().string());
                if (old) {
                    auto same = p;
                    same.relay_tls_sha256 = old->relay_tls_sha256;
                    if (setup::render_pairing(same) == **pairing_text) text = **pairing_text;
                }
            }
            if (*pairing_text && **pairing_text != text)
                TRY(w.replace_file(L.pairing_file(), text, 0600, own->root,
                                   "new tunnel keys or relay settings"));
            else
                TRY(w.file(L.pairing_file(), text, 0600, own->root));
        } else {
            out << "absent " << L.pairing_file().string()
                << " (deleted after pairing; home keeps its key. --force makes a new home key "
                   "pair and pairing file)\n";
        }

        site s = default_site(L, o.domains);
        keep_site_edits(L.site_file(), s);
        s.hostname = o.hostname;
        s.public_ipv4 = o.ipv4;
        s.public_ipv6 = o.ipv6;
        s.imap_host = imap_host;
        s.relay_config = L.relay_toml();
        s.home_config = "";
        if (!o.desec_api.empty()) s.desec_api = o.desec_api;
        if (!o.desec_ca_file.empty()) s.desec_ca_file = fs::absolute(o.desec_ca_file);
        s.wg_interface = setup::relay_interface;
        s.wg_config = wg_conf;
        TRY(w.file(L.site_file(), render_site(s), 0644, own->root));

        setup::relay_params rp;
        rp.domains = o.domains;
        rp.hostname = o.hostname;
        rp.tls_cert = cert;
        rp.tls_key = key;
        rp.dkim_dir = L.dkim_dir();
        rp.spool_dir = L.spool_dir();
        rp.lmtp_secret_file = L.lmtp_secret();
        rp.tun = tun;
        rp.rspamd = want_rspamd;
        rp.clamd_address = clamd;
        rp.imap_pass_through = pass_through;
        TRY(w.file(L.relay_toml(), setup::render_relay_toml(rp), 0644, own->root));
        if (pass_through && !w.dry_run()) {
            auto now = relay::load_settings(L.relay_toml(), config::referenced_files::names_only);
            if (now && now->imap_proxy_listen.empty())
                err << "splitmail provision relay: warning: " << L.relay_toml().string()
                    << " was kept and has no [imap_proxy]: the IMAP pass-through is off until "
                       "it has (run again with --force, or add the section shown in "
                       "docs/operations.md, \"IMAP through the relay\")\n";
        }

        setup::unit_params up;
        up.bindir = o.bindir;
        up.config = L.relay_toml();
        up.writable = {L.spool_dir()};
        up.wg_interface = setup::relay_interface;
        TRY(w.file(L.unit_dir() / "splitmail-relay.service", setup::render_relay_unit(up), 0644,
                   own->root));
    } catch (const step_error& e) {
        err << "splitmail provision relay: " << e.text << "\n";
        return 1;
    }
    summary(w, out);
    if (w.dry_run()) {
        out << "dry run: nothing was written\n";
        return 0;
    }
    if (rekeyed) {
        out << "next: the relay's tunnel has new keys; copy " << L.pairing_file().string()
            << " to the home machine (scp) and run `splitmail provision home --pairing FILE` "
               "there (it changes only home's keys and syncs its tunnel); the tunnel is down "
               "until then\n";
    } else if (w.changes() > 0) {
        out << "next: copy " << L.pairing_file().string()
            << " to the home machine (scp), run `splitmail provision home --pairing FILE` "
               "there and delete the copies; put a deSEC token that may write the domains' "
               "RRsets into "
            << L.desec_token().string()
            << " (owner root, mode 0600) and publish DNS with `splitmail dns plan`/`apply`; "
               "then `systemctl enable --now wg-quick@"
            << setup::relay_interface << " splitmail-relay`\n";
    }
    if (pass_through && w.changes() > 0)
        out << "IMAP pass-through: mail clients use " << pass_through_host
            << ", port 993 (the relay forwards to home through the tunnel); allow TCP 993 in "
               "the VPS's firewall\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
// home

int provision_home(const home_options& o, std::ostream& out, std::ostream& err) {
    const layout L(o.root);
    file_writer w(out, o.force, o.dry_run);
    try {
        auto text = setup::read_if_exists(o.pairing);
        if (!text)
            throw step_error{"cannot read the pairing file " + text.error() +
                             " (run as a user that may read it)"};
        if (!*text)
            throw step_error{"cannot read the pairing file " + o.pairing.string() +
                             ": no such file; copy /etc/splitmail/pairing-home.toml from the "
                             "relay (scp) and give its path"};
        auto p = setup::parse_pairing(**text, o.pairing.string());
        if (!p) throw step_error{p.error()};
        auto pub = setup::wg_public_key(p->home_private_key);
        if (!pub) throw step_error{o.pairing.string() + ": home_private_key: " + pub.error()};
        if (*pub != p->home_public_key)
            throw step_error{o.pairing.string() + ": home_public_key does not belong to "
                                                  "home_private_key (damaged copy? copy it "
                                                  "again from the relay)"};
        std::string hostname = o.hostname;
        if (hostname.empty()) hostname = p->imap_host;
        // The same default as dns::ddns_host(): `dns apply --prune` on the relay spares it.
        if (hostname.empty()) hostname = "home." + p->domains.front();

        auto own = prepare_owners(o, true, out);
        if (!own) throw step_error{own.error()};
        setup::tunnel tun;
        tun.relay_ip = p->tunnel_relay;
        tun.home_ip = p->tunnel_home;
        tun.prefix = p->tunnel_prefix;
        tun.lmtp_port = static_cast<std::uint16_t>(p->lmtp_port);
        std::string endpoint_host;
        std::uint16_t endpoint_port = 0;
        setup::split_endpoint(p->relay_endpoint, endpoint_host, endpoint_port);
        tun.wg_port = endpoint_port;

        TRY(w.directory(L.etc(), 0755, own->root));
        TRY(w.directory(L.tls_dir(), 0755, own->root));
        TRY(w.directory(L.wg_dir(), 0700, own->root));
        TRY(w.directory(L.unit_dir(), 0755));
        TRY(w.directory(L.state_dir(), 0750, own->service));
        TRY(w.directory(L.maildir_root(), 0700, own->service));
        TRY(w.directory(L.ddns_state_dir(), 0700, own->ddns));

        const fs::path cert = L.tls_dir() / "home.crt", key = L.tls_dir() / "home.key";
        // With the relay's IMAP pass-through, clients name imap.<domain>, and TLS ends here.
        std::vector<std::string> also;
        if (!p->imap_pass_through.empty() && p->imap_pass_through != hostname)
            also.push_back(p->imap_pass_through);
        auto tls = ensure_tls(w, cert, key, hostname, *own, also);
        if (!tls) throw step_error{tls.error()};

        // Databases: made empty once, then edited by `splitmail user|alias` only.
        TRY(w.initial_file(L.users_file(),
                           "# splitmail users: ADDRESS:{ARGON2ID}HASH per line.\n"
                           "# Add with `splitmail user add ADDRESS --config " +
                               L.home_toml().string() + "`.\n",
                           0640, own->root_service));
        TRY(w.initial_file(L.aliases_file(),
                           "# splitmail aliases: `alias@domain: target@domain, ...`; catch-all "
                           "`@domain: target@domain`.\n# Edit with `splitmail alias add ALIAS "
                           "TARGET --config " +
                               L.home_toml().string() + "`.\n",
                           0640, own->root_service));

        const fs::path wg_conf = L.wg_dir() / (std::string(setup::home_interface) + ".conf");
        auto wg_text = setup::read_if_exists(wg_conf);
        if (!wg_text) throw step_error{wg_text.error()};
        TRY(write_wg(
            w, wg_conf, *wg_text,
            setup::render_home_wg(tun, p->home_private_key, p->relay_public_key, p->relay_endpoint),
            p->home_private_key, p->relay_public_key, p->relay_endpoint, own->root));
        TRY(sync_wg(w, o, setup::home_interface, wg_conf, p->home_private_key, p->relay_public_key,
                    out));

        setup::home_params hp;
        hp.domains = p->domains;
        hp.hostname = hostname;
        hp.tls_cert = cert;
        hp.tls_key = key;
        hp.users_file = L.users_file();
        hp.aliases_file = L.aliases_file();
        hp.maildir_root = L.maildir_root();
        hp.config_file = L.home_toml();
        hp.tun = tun;
        if (!p->imap_proxy_listen.empty()) {
            std::string h;
            std::uint16_t port = 0;
            setup::split_endpoint(p->imap_proxy_listen, h, port);
            hp.tun.imap_proxy_port = port;
            hp.imap_pass_through = true;
        }
        if (!p->lmtp_secret.empty()) { // pairing files from before the secret have none
            // Key material of the pairing: a new one replaces the old (with a .bak copy).
            auto old = setup::read_if_exists(L.lmtp_secret());
            if (!old) throw step_error{old.error()};
            if (*old && **old != p->lmtp_secret + "\n") {
                TRY(w.replace_file(L.lmtp_secret(), p->lmtp_secret + "\n", 0640, own->root_service,
                                   "new secret from the pairing file; "
                                   "restart splitmail-home"));
            } else {
                TRY(w.file(L.lmtp_secret(), p->lmtp_secret + "\n", 0640, own->root_service));
            }
            hp.lmtp_secret_file = L.lmtp_secret();
        }
        if (!p->rspamd_controller.empty()) { // issue 18: spam learning on the relay's rspamd
            const std::string text = p->rspamd_password + "\n";
            auto old = setup::read_if_exists(L.rspamd_password());
            if (!old) throw step_error{old.error()};
            if (*old && **old != text)
                TRY(w.replace_file(L.rspamd_password(), text, 0640, own->root_service,
                                   "new rspamd controller password from the pairing file"));
            else
                TRY(w.file(L.rspamd_password(), text, 0640, own->root_service));
            hp.learn_controller = p->rspamd_controller;
            hp.learn_password_file = L.rspamd_password();
        }
        TRY(w.file(L.home_toml(), setup::render_home_toml(hp), 0644, own->root));
        if (hp.imap_pass_through && !w.dry_run()) {
            auto now = home::load_settings(L.home_toml(), config::referenced_files::names_only);
            if (now && now->imaps_proxy_listen.empty())
                err << "splitmail provision home: warning: " << L.home_toml().string()
                    << " was kept and has no imaps.proxy_listen: IMAP clients the relay forwards "
                       "are not served until it has (run again with --force, or add it as "
                       "docs/operations.md, \"IMAP through the relay\", shows)\n";
        }

        site s = default_site(L, p->domains);
        keep_site_edits(L.site_file(), s);
        s.hostname = p->relay_hostname;
        (endpoint_host.find(':') == std::string::npos ? s.public_ipv4 : s.public_ipv6) =
            endpoint_host;
        s.imap_host = hostname;
        s.relay_config = "";
        s.home_config = L.home_toml();
        if (!o.desec_api.empty()) s.desec_api = o.desec_api;
        if (!o.desec_ca_file.empty()) s.desec_ca_file = fs::absolute(o.desec_ca_file);
        s.wg_interface = setup::home_interface;
        s.wg_config = wg_conf;
        TRY(w.file(L.site_file(), render_site(s), 0644, own->root));

        // DDNS: the home's name inside one of the mail domains, or a zone of its own.
        setup::ddns_params dp;
        dp.domain = hostname;
        dp.names = {"@"};
        for (const auto& d : p->domains) {
            if (hostname.size() > d.size() + 1 && hostname.ends_with("." + d)) {
                dp.domain = d;
                dp.names = {hostname.substr(0, hostname.size() - d.size() - 1)};
                break;
            }
        }
        dp.state_file = L.ddns_state_dir() / "state.json";
        dp.token_file = L.desec_token();
        // ddns talks to the same deSEC as the site file names (tests: a fake with its own CA).
        if (s.desec_api != default_site(L, p->domains).desec_api) dp.api_url = s.desec_api;
        dp.ca_file = s.desec_ca_file;
        TRY(w.file(L.ddns_toml(), setup::render_ddns_toml(dp), 0644, own->root));

        setup::unit_params up;
        up.bindir = o.bindir;
        up.config = L.home_toml();
        up.writable = {L.state_dir()};
        up.wg_interface = setup::home_interface;
        TRY(w.file(L.unit_dir() / "splitmail-home.service", setup::render_home_unit(up), 0644,
                   own->root));
        setup::unit_params dup;
        dup.bindir = o.bindir;
        dup.config = L.ddns_toml();
        if (o.root_given) dup.writable = {L.ddns_state_dir()};
        TRY(w.file(L.unit_dir() / "splitmail-ddns.service", setup::render_ddns_unit(dup), 0644,
                   own->root));
    } catch (const step_error& e) {
        err << "splitmail provision home: " << e.text << "\n";
        return 1;
    }
    summary(w, out);
    if (w.dry_run()) {
        out << "dry run: nothing was written\n";
        return 0;
    }
    if (w.changes() > 0) {
        out << "next: delete the pairing file copies; add users with `splitmail user add "
               "ADDRESS --config "
            << L.home_toml().string() << "`; put a deSEC token into " << L.desec_token().string()
            << " (mode 0600, owner splitmail-ddns); then `systemctl enable --now wg-quick@"
            << setup::home_interface << " splitmail-home splitmail-ddns`\n";
    }
    return 0;
}

} // namespace

int run_provision(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << usage_text;
        return 2;
    }
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage_text;
            return 0;
        }
    const std::string& sub = args[0];
    if (sub == "relay") {
        relay_options o;
        if (auto e = parse_relay(args.subspan(1), o)) {
            err << "splitmail provision relay: " << *e << "\n" << usage_text;
            return 2;
        }
        return provision_relay(o, out, err);
    }
    if (sub == "home") {
        home_options o;
        if (auto e = parse_home(args.subspan(1), o)) {
            err << "splitmail provision home: " << *e << "\n" << usage_text;
            return 2;
        }
        return provision_home(o, out, err);
    }
    err << "splitmail provision: unknown subcommand \"" << sub << "\" (relay or home)\n"
        << usage_text;
    return 2;
}

int run_provision(std::span<const std::string> args) {
    return run_provision(args, std::cout, std::cerr);
}

} // namespace splitmail::provision
