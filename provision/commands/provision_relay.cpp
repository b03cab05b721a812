// `splitmail provision relay`: the relay's keys, certificates, tunnel, pairing file, site file,
// relay.toml and unit, in that order. What it guarantees: commands/provision.hpp.
#include "commands/provision_flow.hpp"

#include "commands/dkim.hpp"
#include "setup/key_files.hpp"
#include "setup/keys.hpp"
#include "setup/owners.hpp"
#include "setup/pairing.hpp"
#include "setup/public_address.hpp"
#include "setup/rspamd_wiring.hpp"
#include "splitmail/auth/settings.hpp"
#include "splitmail/config/relay.hpp"

#include <utility>

namespace splitmail::provision::provisioning {

namespace fs = std::filesystem;
using setup::file_writer;
using setup::layout;

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
        auto own = setup::prepare_owners(o.root_given, o.dry_run, false, out);
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
        auto tls = setup::ensure_tls(w, cert, key, o.hostname, *own);
        if (!tls) throw step_error{tls.error()};

        // DKIM: sm1-rsa and sm1-ed25519 per domain, as `splitmail dkim keygen --selector sm1`.
        for (const auto& d : o.domains) {
            TRY(w.directory(L.dkim_dir() / d, 0700, own->service));
            for (const char* alg : {"rsa", "ed25519"}) {
                const fs::path f = L.dkim_dir() / d / (std::string("sm1-") + alg + ".key");
                auto k = setup::ensure_secret(
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
        auto lmtp_secret = setup::ensure_secret(
            w, L.lmtp_secret(), 0640, own->root_service,
            [](const std::string& t) { return auth::read_secret_text(t).has_value(); },
            [] { return setup::random_hex_secret(32, "LMTP secret"); }, "LMTP pairing secret");
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
            auto pw = setup::ensure_rspamd_wiring(w, L, tun, *own);
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
    if (summary(w, out)) return 0; // a dry run ends here
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

} // namespace splitmail::provision::provisioning
