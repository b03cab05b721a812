// `splitmail setup`: a trusted certificate through `splitmail cert obtain`; see setup_guided.hpp.
#include "commands/setup_guided.hpp"

#include "check/context.hpp"
#include "commands/cert.hpp"

#include <filesystem>
#include <sstream>

namespace splitmail::provision::guided_setup {

namespace fs = std::filesystem;

// A trusted certificate through `splitmail cert obtain` (dns-01 via deSEC, with the token this
// setup already holds), once: a certificate that has a renewal file is left to the timer. A
// failure is not the setup's failure: the self-signed placeholder stays in service and the
// command to try again is printed.
void guided::certificate() {
    if (o_.certificate != "acme") return;
    out_ << "==> certificate\n";
    const bool relay = o_.role == "relay";
    const fs::path cert = L_.tls_dir() / (relay ? "relay.crt" : "home.crt");
    const fs::path key = L_.tls_dir() / (relay ? "relay.key" : "home.key");
    std::error_code ec;
    if (fs::exists(cert.string() + ".acme.json", ec)) {
        out_ << "  unchanged: " << cert.string() << " is renewed automatically "
             << "(splitmail cert status --cert " << cert.string() << ")\n";
        return;
    }
    std::vector<std::string> names;
    std::vector<std::string> domains;
    if (relay) {
        names.push_back(o_.hostname);
        domains = o_.domains;
    } else {
        const auto& p = *pairing_;
        domains = p.domains;
        if (!p.imap_host.empty()) names.push_back(p.imap_host);
        if (!p.imap_pass_through.empty() && p.imap_pass_through != p.imap_host)
            names.push_back(p.imap_pass_through);
        if (names.empty()) {
            out_ << "  no IMAP name is published (no imap_host in the pairing file): the "
                    "self-signed certificate stays\n";
            return;
        }
    }
    const std::string zone = check::zone_of(domains, names.front());
    if (zone.empty()) {
        out_ << "  " << names.front() << " is not under a deSEC domain of this site: the "
             << "self-signed certificate stays; `splitmail cert obtain` with --http-listen "
                "can get one over http-01\n";
        return;
    }
    std::vector<std::string> a = {"obtain"};
    for (const auto& n : names) a.insert(a.end(), {"--name", n});
    a.insert(a.end(), {"--cert", cert.string(), "--key", key.string(), "--account-key",
                       (L_.etc() / "acme" / "account.key").string(), "--contact",
                       "postmaster@" + domains.front(), "--challenge", "dns-01", "--desec-domain",
                       zone, "--desec-token-file", L_.desec_token().string()});
    if (!o_.desec_api.empty()) a.insert(a.end(), {"--desec-api", o_.desec_api});
    if (!o_.desec_ca.empty()) a.insert(a.end(), {"--desec-ca-file", o_.desec_ca});
    if (!o_.acme_directory.empty()) a.insert(a.end(), {"--directory", o_.acme_directory});
    if (!o_.acme_ca.empty()) a.insert(a.end(), {"--ca-file", o_.acme_ca});
    for (const auto& s : o_.acme_dns_servers) a.insert(a.end(), {"--dns-server", s});
    if (relay)
        a.insert(a.end(), {"--relay-spool", L_.spool_dir().string()});
    else
        a.insert(a.end(), {"--reload-unit", "splitmail-home"});
    if (o_.systemctl_given) a.insert(a.end(), {"--systemctl", o_.systemctl});
    std::string retry = "splitmail cert";
    for (const auto& x : a) retry += " " + x;
    if (o_.no_systemd) { // staging: nothing that reaches out or starts anything
        out_ << "  would run: " << retry << "\n";
        return;
    }
    std::ostringstream cout_, cerr_;
    const int rc = run_cert(a, cout_, cerr_);
    for (std::istringstream lines(cout_.str() + cerr_.str()); !lines.eof();) {
        std::string line;
        std::getline(lines, line);
        if (!line.empty()) out_ << "  " << line << "\n";
    }
    if (rc == 0) {
        out_ << "  ok: a trusted certificate for";
        for (const auto& n : names) out_ << " " << n;
        out_ << " is in service; splitmail-cert.timer renews it\n";
        return;
    }
    out_ << "  the self-signed certificate stays in service ("
         << (rc == 75 ? "the CA asks to "
                        "wait"
                      : "see above")
         << "; a deSEC token must be allowed to write TXT at _acme-challenge." << names.front()
         << "). Try again later with:\n    " << retry << "\n";
}

} // namespace splitmail::provision::guided_setup
