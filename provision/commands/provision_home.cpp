// `splitmail provision home`: takes the pairing file over and writes home's keys, certificate,
// databases, tunnel, home.toml, site file, ddns.toml and units. What it guarantees:
// commands/provision.hpp.
#include "commands/provision_flow.hpp"

#include "setup/key_files.hpp"
#include "setup/keys.hpp"
#include "setup/owners.hpp"
#include "setup/pairing.hpp"
#include "splitmail/config/home.hpp"

namespace splitmail::provision::provisioning {

namespace fs = std::filesystem;
using setup::file_writer;
using setup::layout;

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

        auto own = setup::prepare_owners(o.root_given, o.dry_run, true, out);
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
        auto tls = setup::ensure_tls(w, cert, key, hostname, *own, also);
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
    if (summary(w, out)) return 0; // a dry run ends here
    if (w.changes() > 0) {
        out << "next: delete the pairing file copies; add users with `splitmail user add "
               "ADDRESS --config "
            << L.home_toml().string() << "`; put a deSEC token into " << L.desec_token().string()
            << " (mode 0600, owner splitmail-ddns); then `systemctl enable --now wg-quick@"
            << setup::home_interface << " splitmail-home splitmail-ddns`\n";
    }
    return 0;
}

} // namespace splitmail::provision::provisioning
