// Configuration texts written by `splitmail provision`; see render.hpp.
#include "setup/render.hpp"

#include <cctype>
#include <cstdio>
#include <sstream>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

fs::path layout::at(std::string_view abs) const {
    std::string rel(abs);
    while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
    return root / rel;
}

std::string toml_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

namespace {

std::string list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_quote(items[i]);
    return out + "]";
}

std::string qp(const fs::path& p) { return toml_quote(p.string()); }

std::string hostport(const std::string& ip, unsigned port) {
    return ip + ":" + std::to_string(port);
}

// Hardening shared by every unit (systemd.exec(5)); each unit adds what it needs on top.
constexpr const char* hardening = "NoNewPrivileges=yes\n"
                                  "ProtectSystem=strict\n"
                                  "ProtectHome=yes\n"
                                  "PrivateTmp=yes\n"
                                  "PrivateDevices=yes\n"
                                  "ProtectKernelTunables=yes\n"
                                  "ProtectKernelModules=yes\n"
                                  "ProtectKernelLogs=yes\n"
                                  "ProtectControlGroups=yes\n"
                                  "ProtectClock=yes\n"
                                  "ProtectHostname=yes\n"
                                  "RestrictNamespaces=yes\n"
                                  "RestrictRealtime=yes\n"
                                  "RestrictSUIDSGID=yes\n"
                                  "LockPersonality=yes\n"
                                  "MemoryDenyWriteExecute=yes\n"
                                  "SystemCallArchitectures=native\n"
                                  "SystemCallFilter=@system-service\n"
                                  "SystemCallErrorNumber=EPERM\n";

std::string writable(const unit_params& p) {
    std::string out;
    for (const auto& w : p.writable) out += "ReadWritePaths=" + w.string() + "\n";
    return out;
}

std::string wg_dependency(const unit_params& p, const char* why) {
    if (p.wg_interface.empty()) return "After=network-online.target\n";
    const std::string wg = "wg-quick@" + p.wg_interface + ".service";
    return std::string("# ") + why + "\nAfter=network-online.target " + wg + "\nRequires=" + wg +
           "\n";
}

} // namespace

std::string render_relay_toml(const relay_params& p) {
    std::ostringstream o;
    const std::string home_lmtp = hostport(p.tun.home_ip, p.tun.lmtp_port);
    o << "# splitmail-relay configuration, written by `splitmail provision relay`.\n"
         "# Keys: docs/configuration.md. A re-run of provision keeps this file when you have\n"
         "# edited it (it says \"kept ... differs\"); --force puts the generated text back.\n\n"
         "[relay]\nhostname = "
      << toml_quote(p.hostname) << "\ndomains = " << list(p.domains)
      << "\n# Home's tunnel address may send to any domain without AUTH (its outgoing mail).\n"
         "trusted_networks = "
      << list({p.tun.home_ip + "/32"})
      << "\n\n[smtp]\nlisten = [\"0.0.0.0:25\", \"[::]:25\"]\n\n"
         "[submission]\nlisten = [\"0.0.0.0:587\", \"[::]:587\"]\n\n"
         "[submissions]\nlisten = [\"0.0.0.0:465\", \"[::]:465\"]\n\n"
         "# A self-signed placeholder until a real certificate replaces these files.\n"
         "[tls]\ncert = "
      << qp(p.tls_cert) << "\nkey = " << qp(p.tls_key) << "\n\n[dkim]\ndir = " << qp(p.dkim_dir)
      << "\n\n[spool]\ndir = " << qp(p.spool_dir)
      << "\n\n# splitmail-home through the WireGuard tunnel (wg-smrelay).\n[home]\nlmtp = "
      << toml_quote(home_lmtp) << "\ntransport = \"plain\"\n";
    if (!p.lmtp_secret_file.empty())
        o << "# Pairing secret presented to home on every LMTP connection (XSECRET).\n"
             "lmtp_secret_file = "
          << qp(p.lmtp_secret_file) << "\n";
    if (p.rspamd)
        o << "\n# Spam: rspamd's normal worker on this host (rspamd installed when provisioned).\n"
             "[rspamd]\nenabled = true\naddress = "
          << toml_quote(hostport("127.0.0.1", rspamd_normal_port)) << "\n";
    if (!p.clamd_address.empty())
        o << "\n# Viruses: clamd on this host (clamav-daemon installed when provisioned).\n"
             "[clamav]\nenabled = true\naddress = "
          << toml_quote(p.clamd_address) << "\n";
    if (p.imap_pass_through)
        o << "\n# IMAP clients reach home through this relay (imap.<domain>, port 993): the bytes\n"
             "# go through the tunnel with a PROXY header; TLS and the login happen at home.\n"
             "[imap_proxy]\nlisten = [\"0.0.0.0:993\", \"[::]:993\"]\nhome = "
          << toml_quote(hostport(p.tun.home_ip, p.tun.imap_proxy_port)) << "\n";
    return o.str();
}

std::string render_rspamd_worker_normal() {
    return "# Written by `splitmail provision relay`: the relay asks this worker (loopback only).\n"
           "bind_socket = \"127.0.0.1:" +
           std::to_string(rspamd_normal_port) + "\";\n";
}

std::string render_rspamd_controller(const tunnel& t, const std::string& password_hash) {
    return "# Written by `splitmail provision relay`: splitmail-home learns spam and ham here\n"
           "# through the WireGuard tunnel; the plain password is in\n"
           "# /etc/splitmail/rspamd-controller.password (and in home's copy).\n"
           "bind_socket = \"127.0.0.1:" +
           std::to_string(rspamd_controller_port) + "\";\nbind_socket = \"" +
           hostport(t.relay_ip, rspamd_controller_port) + "\";\npassword = \"" + password_hash +
           "\";\nenable_password = \"" + password_hash + "\";\n";
}

std::string render_rspamd_redis() {
    return "# Written by `splitmail provision relay`: Bayes statistics (learning) and rspamd's\n"
           "# other state in the local redis-server.\nservers = \"127.0.0.1\";\n";
}

std::string render_rspamd_dropin(const std::string& wg_interface) {
    return "# Written by `splitmail provision relay`: rspamd's controller binds the tunnel\n"
           "# address, which exists once the tunnel is up.\n[Unit]\nWants=wg-quick@" +
           wg_interface + ".service\nAfter=wg-quick@" + wg_interface + ".service\n";
}

std::string rspamd_password_hash(std::string_view text) {
    const std::string_view key = "\npassword = \"";
    auto at = text.find(key);
    if (at == std::string_view::npos) return "";
    at += key.size();
    auto end = text.find('"', at);
    if (end == std::string_view::npos) return "";
    return std::string(text.substr(at, end - at));
}

std::string clamd_address(std::string_view conf) {
    std::string local, tcp_port, tcp_addr;
    std::size_t pos = 0;
    while (pos < conf.size()) {
        auto end = conf.find('\n', pos);
        std::string_view line = conf.substr(pos, end == std::string_view::npos ? end : end - pos);
        pos = end == std::string_view::npos ? conf.size() : end + 1;
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            line.remove_prefix(1);
        if (line.empty() || line.front() == '#') continue;
        auto sp = line.find_first_of(" \t");
        if (sp == std::string_view::npos) continue;
        std::string_view key = line.substr(0, sp), value = line.substr(sp);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() &&
               (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
            value.remove_suffix(1);
        if (key == "LocalSocket") local = value;
        if (key == "TCPSocket") tcp_port = value;
        if (key == "TCPAddr") tcp_addr = value;
    }
    if (!local.empty()) return local;
    if (!tcp_port.empty())
        return (tcp_addr.empty() ? std::string("127.0.0.1") : tcp_addr) + ":" + tcp_port;
    return "/run/clamav/clamd.ctl";
}

std::string render_home_toml(const home_params& p) {
    std::ostringstream o;
    o << "# splitmail-home configuration, written by `splitmail provision home`.\n"
         "# Keys: docs/configuration.md. Users: `splitmail user add ADDRESS --config "
      << p.config_file.string() << "`.\n\n[home]\ndomains = " << list(p.domains)
      << "\nhostname = " << toml_quote(p.hostname)
      << "\n\n# LMTP from the relay arrives through the tunnel only (wg-smhome).\n[lmtp]\nlisten = "
      << list({hostport(p.tun.home_ip, p.tun.lmtp_port)});
    if (!p.lmtp_secret_file.empty())
        o << "\n# The relay proves itself with this pairing secret (XSECRET) before XAUTH,\n"
             "# XDIRECTORY or MAIL, so other local processes cannot use the LMTP port.\n"
             "relay_secret_file = "
          << qp(p.lmtp_secret_file);
    o << "\n\n[imap]\nlisten = [\"0.0.0.0:143\"]\ntls_cert = " << qp(p.tls_cert)
      << "\ntls_key = " << qp(p.tls_key) << "\n";
    if (p.imap_pass_through)
        o << "# The relay's IMAP pass-through: its tunnel address names each client (PROXY v2).\n"
             "proxy_from = "
          << list({p.tun.relay_ip + "/32"}) << "\n";
    o << "\n[imaps]\nlisten = [\"0.0.0.0:993\"]\n";
    if (p.imap_pass_through)
        o << "proxy_listen = " << list({hostport(p.tun.home_ip, p.tun.imap_proxy_port)}) << "\n";
    o << "\n"
      << "[users]\nfile = " << qp(p.users_file) << "\naliases = " << qp(p.aliases_file)
      << "\n\n[maildir]\nroot = " << qp(p.maildir_root) << "\n";
    if (!p.learn_controller.empty())
        o << "\n# Messages moved into (out of) Junk over IMAP teach the relay's rspamd spam "
             "(ham),\n"
             "# through the tunnel.\n[learn]\nrspamd_controller = "
          << toml_quote(p.learn_controller)
          << "\nrspamd_password_file = " << qp(p.learn_password_file) << "\n";
    return o.str();
}

std::string render_ddns_toml(const ddns_params& p) {
    std::ostringstream o;
    o << "# splitmail-ddns configuration, written by `splitmail provision home`: keeps the\n"
         "# home's A/AAAA records at deSEC current. Put a deSEC token into desec.token_file\n"
         "# (owner splitmail-ddns, mode 0600) before starting splitmail-ddns.\n\n"
         "[ddns]\ndomain = "
      << toml_quote(p.domain) << "\nnames = " << list(p.names)
      << "\nstate_file = " << qp(p.state_file) << "\n\n[desec]\ntoken_file = " << qp(p.token_file)
      << "\n";
    if (!p.api_url.empty()) o << "api_url = " << toml_quote(p.api_url) << "\n";
    if (!p.ca_file.empty()) o << "ca_file = " << qp(p.ca_file) << "\n";
    return o.str();
}

std::string render_relay_wg(const tunnel& t, const std::string& relay_private_key,
                            const std::string& home_public_key) {
    std::ostringstream o;
    o << "# WireGuard tunnel relay <-> home (wg-quick), written by `splitmail provision relay`.\n"
         "[Interface]\nAddress = "
      << t.relay_ip << "/" << t.prefix << "\nListenPort = " << t.wg_port
      << "\nPrivateKey = " << relay_private_key
      << "\n\n# home\n[Peer]\nPublicKey = " << home_public_key << "\nAllowedIPs = " << t.home_ip
      << "/32\n";
    return o.str();
}

std::string render_home_wg(const tunnel& t, const std::string& home_private_key,
                           const std::string& relay_public_key, const std::string& endpoint) {
    std::ostringstream o;
    o << "# WireGuard tunnel home <-> relay (wg-quick), written by `splitmail provision home`.\n"
         "[Interface]\nAddress = "
      << t.home_ip << "/" << t.prefix << "\nPrivateKey = " << home_private_key
      << "\n\n# relay\n[Peer]\nPublicKey = " << relay_public_key << "\nEndpoint = " << endpoint
      << "\nAllowedIPs = " << t.relay_ip
      << "/32\n# Home is usually behind NAT: keep the mapping open so the relay can reach it.\n"
         "PersistentKeepalive = 25\n";
    return o.str();
}

wg_keys_found read_wg_keys(const std::string& conf_text) {
    wg_keys_found f;
    std::istringstream in(conf_text);
    std::string line, section;
    bool first_peer_done = false;
    auto trim = [](std::string s) {
        const auto b = s.find_first_not_of(" \t\r");
        const auto e = s.find_last_not_of(" \t\r");
        return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
    };
    while (std::getline(in, line)) {
        line = trim(line.substr(0, line.find('#')));
        if (line.empty()) continue;
        if (line.front() == '[') {
            if (section == "[peer]") first_peer_done = true;
            section = line;
            for (auto& c : section)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = trim(line.substr(0, eq));
        for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::string value = trim(line.substr(eq + 1));
        if (section == "[interface]" && key == "privatekey") f.private_key = value;
        if (section == "[peer]" && !first_peer_done && key == "publickey" &&
            f.peer_public_key.empty())
            f.peer_public_key = value;
    }
    return f;
}

std::optional<std::string> rekey_wg_conf(std::string_view text, const std::string& private_key,
                                         const std::string& peer_public_key,
                                         const std::string& endpoint) {
    std::string out;
    out.reserve(text.size() + 64);
    std::string section;
    int peers = 0;
    bool did_private = false, did_public = false, did_endpoint = endpoint.empty();
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        const bool had_nl = nl != std::string_view::npos;
        text = had_nl ? text.substr(nl + 1) : std::string_view{};
        // The key of "Key = value" (wg-quick: case-insensitive, spaces around '=' optional).
        std::string_view body = line.substr(0, line.find('#'));
        const auto b = body.find_first_not_of(" \t");
        std::string key;
        if (b != std::string_view::npos) {
            body = body.substr(b);
            if (body.front() == '[') {
                section.clear();
                for (char c : body.substr(0, body.find(']') + 1))
                    section += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                if (section == "[peer]") ++peers;
            } else if (auto eq = body.find('='); eq != std::string_view::npos) {
                for (char c : body.substr(0, eq))
                    if (c != ' ' && c != '\t')
                        key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
        }
        auto put = [&](std::string_view name, const std::string& value) {
            out += std::string(line.substr(0, b)) + std::string(name) + " = " + value;
        };
        if (section == "[interface]" && key == "privatekey" && !did_private) {
            put("PrivateKey", private_key);
            did_private = true;
        } else if (section == "[peer]" && peers == 1 && key == "publickey" && !did_public) {
            put("PublicKey", peer_public_key);
            did_public = true;
        } else if (section == "[peer]" && peers == 1 && key == "endpoint" && !endpoint.empty() &&
                   !did_endpoint) {
            put("Endpoint", endpoint);
            did_endpoint = true;
        } else {
            out += line;
        }
        if (had_nl) out += '\n';
    }
    if (!did_private || !did_public || !did_endpoint) return std::nullopt;
    return out;
}

std::string render_relay_unit(const unit_params& p) {
    std::ostringstream o;
    const std::string bin = (p.bindir / "splitmail-relay").string();
    const std::string cfg = p.config.string();
    o << "# Written by `splitmail provision relay`.\n[Unit]\n"
         "Description=splitmail relay (internet-facing MX, queue to home)\n"
         "Documentation=file:///usr/share/doc/splitmail/operations.md\n"
      << wg_dependency(p, "Mail for home goes through the tunnel.")
      << "Wants=network-online.target\n\n[Service]\nType=notify\nUser=splitmail\n"
         "Group=splitmail\nExecStartPre="
      << bin << " --config " << cfg << " --check-config\nExecStart=" << bin << " --config " << cfg
      << "\nExecReload=/bin/kill -HUP $MAINPID\nRestart=on-failure\nRestartSec=5s\n"
         "# A configuration error (exit 78) will not fix itself by restarting.\n"
         "RestartPreventExitStatus=78\nUMask=0077\n"
         "# Ports 25, 465 and 587 without root.\n"
         "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
      << hardening << "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
      << writable(p)
      << "StateDirectory=splitmail\nLimitNOFILE=65536\n\n"
         "[Install]\nWantedBy=multi-user.target\n";
    return o.str();
}

std::string render_home_unit(const unit_params& p) {
    std::ostringstream o;
    const std::string bin = (p.bindir / "splitmail-home").string();
    const std::string cfg = p.config.string();
    o << "# Written by `splitmail provision home`.\n[Unit]\n"
         "Description=splitmail home server (LMTP delivery into Maildir, IMAP)\n"
         "Documentation=file:///usr/share/doc/splitmail/operations.md\n"
      << wg_dependency(p, "The LMTP listener is the tunnel address.")
      << "Wants=network-online.target\n\n[Service]\nType=notify\nUser=splitmail\n"
         "Group=splitmail\nExecStartPre="
      << bin << " --config " << cfg << " --check-config\nExecStart=" << bin << " --config " << cfg
      << "\n# SIGHUP reloads the users and aliases files.\n"
         "ExecReload=/bin/kill -HUP $MAINPID\nKillSignal=SIGTERM\nTimeoutStopSec=30\n"
         "Restart=on-failure\nRestartSec=2\nRestartPreventExitStatus=78\nUMask=0077\n"
         "# LMTP 24, IMAP 143 and 993 without root.\n"
         "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
      << hardening << "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
      << writable(p)
      << "StateDirectory=splitmail\nStateDirectoryMode=0750\n\n"
         "[Install]\nWantedBy=multi-user.target\n";
    return o.str();
}

std::string render_ddns_unit(const unit_params& p) {
    std::ostringstream o;
    const std::string bin = (p.bindir / "splitmail-ddns").string();
    o << "# Written by `splitmail provision home`.\n[Unit]\n"
         "Description=splitmail DDNS agent (deSEC A/AAAA updates)\n"
         "Documentation=file:///usr/share/doc/splitmail/ddns.md\n"
         "Wants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=notify\n"
         "User=splitmail-ddns\nGroup=splitmail-ddns\nExecStart="
      << bin << " --config " << p.config.string()
      << "\n# Transient trouble is retried inside the daemon; these exits are configuration\n"
         "# problems (10 bad token, 11 token not allowed, 12 unknown domain, 78 bad config).\n"
         "Restart=on-failure\nRestartSec=30s\nRestartPreventExitStatus=2 10 11 12 78\n"
         "StateDirectory=splitmail-ddns\nStateDirectoryMode=0700\nUMask=0077\n"
         "CapabilityBoundingSet=\nAmbientCapabilities=\n"
      << hardening << "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n"
      << writable(p) << "\n[Install]\nWantedBy=multi-user.target\n";
    return o.str();
}

} // namespace splitmail::provision::setup
