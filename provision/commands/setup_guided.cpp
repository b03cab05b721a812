// `splitmail setup`: the values, the plan, provision, the token and what is left to do; see
// setup_guided.hpp.
#include "commands/setup_guided.hpp"

#include "commands/check.hpp"
#include "commands/dns.hpp"
#include "commands/provision.hpp"
#include "commands/user.hpp"
#include "setup/files.hpp"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <sstream>

namespace splitmail::provision::guided_setup {

namespace fs = std::filesystem;

namespace {

// One line from the terminal; `def` when empty.
std::string ask(std::ostream& out, const std::string& question, const std::string& def) {
    out << question;
    if (!def.empty()) out << " [" << def << "]";
    out << ": " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) return def;
    line = trim(line);
    return line.empty() ? def : line;
}

std::string ask_secret(std::ostream& out, const std::string& question) {
    // Echo off before the question appears, and without TCSAFLUSH: an answer typed (or pasted)
    // as soon as the question shows must not be thrown away (that left setup waiting for
    // input the user had already given).
    termios old{};
    const bool tty = ::tcgetattr(0, &old) == 0;
    if (tty) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(0, TCSANOW, &quiet);
    }
    out << question << ": " << std::flush;
    std::string line;
    std::getline(std::cin, line);
    if (tty) ::tcsetattr(0, TCSANOW, &old);
    out << "\n";
    return trim(line);
}

// The token text: printable, no spaces (deSEC tokens are 28 characters of base64url).
std::optional<std::string> token_problem(const std::string& t) {
    if (t.empty()) return "the deSEC token is empty";
    if (t.size() > 256) return "the deSEC token is longer than 256 characters";
    for (unsigned char c : t)
        if (c <= 0x20 || c >= 0x7f)
            return "the deSEC token holds a space or a non-printable character";
    return std::nullopt;
}

// Lines of provision's report that say something changes ("would create", "created", ...).
int count_changes(const std::string& report, bool print, std::ostream& out) {
    std::istringstream in(report);
    std::string line;
    int changes = 0, unchanged = 0;
    while (std::getline(in, line)) {
        if (line.starts_with("unchanged ")) {
            ++unchanged;
            continue;
        }
        const bool change = line.starts_with("would ") || line.starts_with("created ") ||
                            line.starts_with("replaced ") || line.starts_with("renewed ") ||
                            line.starts_with("fixed ") || line.starts_with("synced ");
        if (change) ++changes;
        if (print && !line.starts_with("dry run:") && !line.starts_with("next:"))
            out << "  " << line << "\n";
    }
    if (print) out << "  (" << unchanged << " path(s) unchanged)\n";
    return changes;
}

} // namespace

void guided::gather() {
    const bool relay = o_.role == "relay";
    auto need = [&](std::string& v, const std::string& flag, const std::string& question,
                    const std::string& def) {
        if (!v.empty()) return;
        if (!tty_) {
            if (!def.empty()) {
                v = def;
                return;
            }
            throw step_failed{flag + " is required (no terminal to ask on)"};
        }
        v = ask(out_, question, def);
        if (v.empty()) throw step_failed{"no " + flag.substr(2) + " given"};
    };
    if (relay) {
        if (o_.domains.empty()) {
            std::string d;
            need(d, "--domain", "Mail domain (e.g. example.com)", "");
            o_.domains.push_back(d);
        }
        need(o_.hostname, "--hostname", "The relay's public host name (MX)",
             "mx." + o_.domains.front());
        need(o_.ipv4, "--public-ipv4", "The VPS's public IPv4 address", "");
        need(o_.imap_host, "--imap-host", "The name mail clients use for IMAP at home",
             "home." + o_.domains.front());
        // Issue 16: the first setup turns the IMAP pass-through on unless told otherwise: it
        // works whether home sits behind CGNAT or not, where IMAP straight to home needs a
        // public address and port 993 forwarded. A re-run keeps what relay.toml says.
        std::error_code ec;
        if (o_.imap_pass_through.empty() && !fs::exists(L_.relay_toml(), ec)) {
            o_.imap_pass_through = "yes";
            out_ << "IMAP pass-through: on (mail clients reach home through the relay, port 993; "
                    "--imap-pass-through no if home has a public address with port 993 "
                    "forwarded)\n";
        }
    } else {
        std::error_code ec;
        need(o_.pairing, "--pairing", "The pairing file copied from the relay",
             fs::exists("pairing-home.toml", ec) ? "pairing-home.toml" : "");
        auto text = setup::read_if_exists(o_.pairing);
        if (text && *text) {
            auto p = setup::parse_pairing(**text, o_.pairing);
            if (p) pairing_ = std::move(*p);
        }
        if (!pairing_)
            throw step_failed{"cannot read the pairing file " + o_.pairing +
                              "; copy /etc/splitmail/pairing-home.toml from the relay (the "
                              "scp command `splitmail setup relay` printed)"};
        if (o_.hostname.empty() && !pairing_->imap_host.empty()) o_.hostname = pairing_->imap_host;
    }
    // The token: a flag, the terminal, or the file that is already there.
    const fs::path tf = L_.desec_token();
    if (o_.token_from == "-") {
        std::getline(std::cin, token_);
        token_ = trim(token_);
    } else if (!o_.token_from.empty()) {
        auto t = setup::read_if_exists(o_.token_from);
        if (!t || !*t)
            throw step_failed{"cannot read --desec-token-file " + o_.token_from +
                              (t ? ": no such file" : ": " + t.error())};
        token_ = trim(**t);
    } else {
        std::error_code ec;
        if (!fs::exists(tf, ec)) {
            if (!tty_)
                throw step_failed{"a deSEC token is needed (" +
                                  std::string(relay ? "dns apply writes the domain's records"
                                                    : "splitmail-ddns keeps the home's "
                                                      "address current") +
                                  "): --desec-token-file FILE (or - for stdin); make one at "
                                  "desec.io -> Token management"};
            token_ = ask_secret(out_, "deSEC API token (not shown)");
        }
    }
    if (!token_.empty() || !o_.token_from.empty())
        if (auto why = token_problem(token_)) throw step_failed{*why};
}

std::vector<std::string> guided::provision_args() const {
    std::vector<std::string> a = {o_.role};
    if (o_.role == "relay") {
        for (const auto& d : o_.domains) a.insert(a.end(), {"--domain", d});
        a.insert(a.end(), {"--hostname", o_.hostname, "--public-ipv4", o_.ipv4, "--imap-host",
                           o_.imap_host});
        if (!o_.ipv6.empty()) a.insert(a.end(), {"--public-ipv6", o_.ipv6});
        if (!o_.imap_pass_through.empty())
            a.insert(a.end(), {"--imap-pass-through", o_.imap_pass_through});
    } else {
        a.insert(a.end(), {"--pairing", o_.pairing});
        if (!o_.hostname.empty()) a.insert(a.end(), {"--hostname", o_.hostname});
    }
    if (!o_.desec_api.empty()) a.insert(a.end(), {"--desec-api", o_.desec_api});
    if (!o_.desec_ca.empty()) a.insert(a.end(), {"--desec-ca-file", o_.desec_ca});
    // setup brings this tree's tunnel up: its running interface follows the keys (--sync-tunnel
    // matters only with --root; without it provision syncs anyway).
    if (!o_.root.empty()) a.insert(a.end(), {"--root", o_.root, "--sync-tunnel"});
    if (!o_.bindir.empty()) a.insert(a.end(), {"--bindir", o_.bindir});
    return a;
}

int guided::provision_plan() {
    auto args = provision_args();
    args.push_back("--dry-run");
    std::ostringstream pout, perr;
    const int rc = run_provision(args, pout, perr);
    if (rc != 0) throw step_failed{trim(perr.str())};
    out_ << "==> plan: files (splitmail provision " << o_.role << ")\n";
    return count_changes(pout.str(), true, out_);
}

std::string guided::token_plan() {
    const fs::path tf = L_.desec_token();
    auto old = setup::read_if_exists(tf);
    if (!old) throw step_failed{old.error()};
    if (token_.empty()) return *old ? "" : "missing";
    if (!*old) return "would create " + tf.string() + " (mode 0600)";
    return **old == token_ + "\n" ? "" : "would replace " + tf.string() + " (a new token)";
}

void guided::add_user() {
    if (o_.user.empty()) return;
    out_ << "==> mailbox " << o_.user << "\n";
    const fs::path users = L_.users_file();
    auto text = setup::read_if_exists(users);
    if (text && *text) {
        std::istringstream in(**text);
        std::string line;
        while (std::getline(in, line))
            if (line.rfind(o_.user + ":", 0) == 0) {
                out_ << "  unchanged: " << o_.user << " exists (`splitmail user passwd` "
                     << "changes its password)\n";
                return;
            }
    }
    const std::vector<std::string> args = {"add", o_.user, "--config", L_.home_toml().string()};
    if (run_user(args) != 0) throw step_failed{"splitmail user add " + o_.user + " failed"};
}

void guided::left_to_do(int check_rc) {
    out_ << "==> left to do\n";
    if (check_rc != 0)
        out_ << "- `splitmail check` found problems (above; each line names its fix). Right "
                "after the first setup DNS may still be propagating.\n";
    if (o_.role == "relay") {
        const std::string pf = L_.pairing_file().string();
        out_ << "- on the home machine (as root), copy the pairing file and run the setup there:\n"
             << "    scp root@" << o_.ipv4 << ":" << pf << " .\n"
             << "    splitmail setup home --pairing pairing-home.toml\n"
             << "  (from here instead: scp " << pf << " root@HOME-MACHINE:)\n"
             << "  then delete it on both machines: it holds home's WireGuard key.\n"
             << "- set the PTR (reverse DNS) of " << o_.ipv4
             << (o_.ipv6.empty() ? "" : " and " + o_.ipv6) << " to " << o_.hostname
             << " in your VPS hoster's panel (it cannot be set through deSEC).\n";
        return;
    }
    const auto& p = *pairing_;
    const std::string imap = o_.hostname.empty() ? "home." + p.domains.front() : o_.hostname;
    out_ << "- delete the pairing file copies: rm " << o_.pairing
         << " (and on the relay: rm /etc/splitmail/pairing-home.toml)\n";
    if (o_.user.empty())
        out_ << "- add mailboxes: splitmail user add you@" << p.domains.front() << " --config "
             << L_.home_toml().string() << "\n";
    if (!p.imap_pass_through.empty())
        out_ << "- mail clients: IMAP server " << p.imap_pass_through
             << ", port 993, SSL/TLS, normal password, user name = the full address\n"
             << "  (the relay " << p.relay_hostname
             << " forwards it to this machine through the tunnel: no port forwarding at home;\n"
             << "  allow TCP 993 in the VPS's firewall);\n";
    else
        out_ << "- mail clients: IMAP server " << imap
             << ", port 993, SSL/TLS, normal password, user name = the full address\n"
             << "  (forward TCP 993 on the home router to this machine; splitmail-ddns keeps "
             << imap << " pointing at your home address);\n";
    out_ << "  outgoing SMTP server " << p.relay_hostname
         << ", port 465 SSL/TLS (or 587 STARTTLS), same user name and password.\n";
}

int guided::run() {
    try {
        gather();
        const int changes = provision_plan();
        const std::string tp = token_plan();
        if (tp == "missing") throw step_failed{"a deSEC token is needed: --desec-token-file FILE"};
        out_ << "==> plan: deSEC token\n  "
             << (tp.empty() ? "unchanged " + L_.desec_token().string() : tp) << "\n";
        out_ << "==> plan: then\n";
        if (o_.role == "relay") out_ << "  splitmail dns apply (records shown as it runs)\n";
        if (!o_.user.empty()) out_ << "  splitmail user add " << o_.user << "\n";
        out_ << "  systemctl enable --now";
        for (const auto& u : units()) out_ << " " << u;
        out_ << (o_.no_systemd ? "  (--no-systemd: printed, not run)" : "") << "\n"
             << "  wait until it works\n";
        if (o_.certificate == "acme")
            out_ << "  a certificate from "
                 << (o_.acme_directory.empty() ? std::string("Let's Encrypt") : o_.acme_directory)
                 << " (dns-01 through deSEC) unless one is renewed already\n";
        out_ << "  splitmail check\n";
        if (o_.dry_run) {
            out_ << "dry run: nothing was changed\n";
            return 0;
        }
        if ((changes > 0 || !tp.empty()) && !o_.yes) {
            if (!tty_)
                throw step_failed{"not confirmed: the plan above changes files; run again with "
                                  "--yes to go ahead (no terminal to ask on)"};
            if (ask(out_, "Go ahead? [y/N]", "") != "y")
                throw step_failed{"stopped; nothing was changed"};
        }

        out_ << "==> provision " << o_.role << "\n";
        std::ostringstream pout, perr;
        if (run_provision(provision_args(), pout, perr) != 0) throw step_failed{trim(perr.str())};
        int changed = count_changes(pout.str(), true, out_);

        if (!token_.empty()) {
            out_ << "==> deSEC token\n";
            std::optional<setup::owner> own;
            if (o_.root.empty() || o_.root == "/") {
                const char* user = o_.role == "relay" ? "root" : "splitmail-ddns";
                const passwd* pw = ::getpwnam(user);
                if (pw == nullptr) throw step_failed{"no system user " + std::string(user)};
                own = setup::owner{pw->pw_uid, pw->pw_gid, std::string(user) + ":" + user};
            }
            setup::file_writer w(out_, true);
            auto r = w.file(L_.desec_token(), token_ + "\n", 0600, own);
            if (!r) throw step_failed{r.error()};
            changed += w.changes();
        }
        if (o_.role == "relay") {
            out_ << "==> dns apply\n";
            std::vector<std::string> a = {"apply", "--site", L_.site_file().string(), "--yes"};
            if (run_dns(a, out_, err_) != 0)
                throw step_failed{"splitmail dns apply failed (above); fix that and run "
                                  "`splitmail setup relay` again"};
        } else {
            add_user();
        }

        start_services(changed > 0);
        if (o_.no_systemd) {
            out_ << "==> not waiting: nothing was started (--no-systemd)\n";
        } else if (o_.role == "relay") {
            wait_relay();
        } else {
            wait_home();
        }

        certificate();
        out_ << "==> splitmail check\n" << std::flush;
        std::vector<std::string> ca = {"--site", L_.site_file().string()};
        if (!o_.resolver.empty()) ca.insert(ca.end(), {"--resolver", o_.resolver});
        const int check_rc = run_check(ca, out_, err_);
        left_to_do(check_rc);
        return 0;
    } catch (const step_failed& e) {
        err_ << "splitmail setup " << o_.role << ": " << e.text << "\n";
        return 1;
    }
}

} // namespace splitmail::provision::guided_setup
