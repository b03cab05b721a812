// The steps both provision flows take: see provision_flow.hpp.
#include "commands/provision_flow.hpp"

#include "setup/keys.hpp"
#include "setup/wg_sync.hpp"

namespace splitmail::provision::provisioning {

namespace fs = std::filesystem;
using setup::file_writer;
using setup::layout;
using setup::owner;

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

bool summary(const file_writer& w, std::ostream& out) {
    if (w.changes() == 0 && w.kept() == 0)
        out << "nothing to do: every file is as it should be\n";
    else if (w.kept() > 0)
        out << w.kept() << " file(s) kept although they differ from what provision would write "
            << "(see \"kept\" above; --force replaces them)\n";
    if (w.dry_run()) out << "dry run: nothing was written\n";
    return w.dry_run();
}

} // namespace splitmail::provision::provisioning
