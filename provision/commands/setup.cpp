// `splitmail setup relay|home`: see setup.hpp.
#include "commands/setup.hpp"
#include "splitmail/text/trim.hpp"

#include "check/line_client.hpp"
#include "check/program.hpp"
#include "check/wireguard.hpp"
#include "check/context.hpp"
#include "commands/cert.hpp"
#include "commands/check.hpp"
#include "commands/dns.hpp"
#include "commands/provision.hpp"
#include "commands/user.hpp"
#include "setup/files.hpp"
#include "setup/pairing.hpp"
#include "setup/render.hpp"
#include "setup/wg_sync.hpp"

#include <pwd.h>
#include <termios.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

namespace splitmail::provision {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* usage_text =
    "usage: splitmail setup relay [--domain D]... [--hostname H] [--public-ipv4 A]\n"
    "                             [--public-ipv6 A6] [--imap-host N]\n"
    "                             [--imap-pass-through yes|no] [COMMON]\n"
    "       splitmail setup home [--pairing FILE] [--hostname N] [--user ADDRESS] [COMMON]\n"
    "COMMON: [--desec-token-file FILE|-] [--desec-api URL] [--desec-ca-file F]\n"
    "        [--yes] [--dry-run] [--no-systemd] [--wait SECONDS] [--resolver IP:PORT]\n"
    "        [--root DIR] [--bindir DIR] [--systemctl PROG]\n"
    "        [--certificate acme|self-signed] [--acme-directory URL] [--acme-ca-file F]\n"
    "        [--acme-dns-server IP:PORT]...\n"
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
    "(--acme-directory for another CA) through deSEC (dns-01: no open port needed) for the\n"
    "relay's name (relay) or the IMAP name (home), renewed by splitmail-cert.timer; if it\n"
    "cannot be had, the self-signed one stays and the command to try again is printed.\n";

struct options {
    std::string role;
    std::vector<std::string> domains;
    std::string hostname, ipv4, ipv6, imap_host;
    std::string imap_pass_through; // relay: "yes" | "no" | "" (as provision decides)
    std::string pairing, user;
    std::string token_from; // --desec-token-file: a path, or "-" for stdin
    std::string desec_api, desec_ca;
    std::string root, bindir, resolver;
    std::string systemctl = "systemctl";
    bool systemctl_given = false;
    bool dry_run = false, yes = false, no_systemd = false;
    int wait_s = 90;
    std::string certificate = "acme"; // or "self-signed"
    std::string acme_directory, acme_ca;
    std::vector<std::string> acme_dns_servers; // authoritative servers to wait for (tests)
};

std::string trim(const std::string& s) { return std::string(text::trim(s)); }

std::optional<std::string> parse(std::span<const std::string> args, options& o) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i], v;
        bool inline_value = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            v = a.substr(eq + 1);
            a = a.substr(0, eq);
            inline_value = true;
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
        } else if (a == "--acme-directory")
            o.acme_directory = v;
        else if (a == "--acme-ca-file")
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

struct step_failed {
    std::string text;
};

class guided {
public:
    guided(options o, std::ostream& out, std::ostream& err)
        : o_(std::move(o)), out_(out), err_(err), L_(o_.root.empty() ? "/" : o_.root),
          tty_(::isatty(0) == 1) {}

    int run();

private:
    void gather();
    std::vector<std::string> provision_args() const;
    int provision_plan();
    std::string token_plan();
    std::vector<std::string> units() const;
    void start_services(bool config_changed);
    bool systemctl(const std::vector<std::string>& args, bool quiet_failure = false);
    void wait_relay();
    void wait_home();
    void add_user();
    void certificate();
    void left_to_do(int check_rc);
    bool wait_for(const std::string& what, const std::function<bool()>& cond);

    options o_;
    std::ostream& out_;
    std::ostream& err_;
    setup::layout L_;
    bool tty_;
    std::string token_; // "" = keep the file as it is
    std::optional<setup::pairing> pairing_;
    bool restarted_ = false; // a daemon was (re)started by this run
};

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

std::vector<std::string> guided::units() const {
    if (o_.role == "relay")
        return {"wg-quick@" + std::string(setup::relay_interface), "splitmail-relay"};
    return {"wg-quick@" + std::string(setup::home_interface), "splitmail-home", "splitmail-ddns"};
}

bool guided::systemctl(const std::vector<std::string>& args, bool quiet_failure) {
    std::string line = "systemctl";
    for (const auto& a : args) line += " " + a;
    if (o_.no_systemd) {
        out_ << "  would run: " << line << "\n";
        return true;
    }
    std::vector<std::string> argv = {o_.systemctl};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = check::run_program(argv, 120s);
    if (!quiet_failure) out_ << "  $ " << line << "\n";
    if (r.exit_code == 0) return true;
    if (!quiet_failure)
        throw step_failed{line + " failed (exit " + std::to_string(r.exit_code) +
                          "): " + trim(r.output) + "; `journalctl -xe` says why"};
    return false;
}

void guided::start_services(bool config_changed) {
    out_ << "==> services\n";
    if (!o_.no_systemd && !o_.systemctl_given) {
        std::error_code ec;
        if (!fs::is_directory("/run/systemd/system", ec))
            throw step_failed{"systemd is not running here (a container?): give --no-systemd "
                              "to start nothing and see the commands"};
    }
    systemctl({"daemon-reload"});
    for (const auto& u : units()) {
        const bool was_active = !o_.no_systemd && systemctl({"is-active", "--quiet", u}, true);
        systemctl({"enable", "--now", u});
        if (!was_active || config_changed) restarted_ = true;
        // The tunnel's keys are synced by provision itself (wg syncconf); daemons read their
        // configuration at start.
        if (was_active && config_changed && !u.starts_with("wg-quick@"))
            systemctl({"restart", u});
        else if (was_active)
            out_ << "  " << u << " was running; its configuration is unchanged\n";
    }
}

bool guided::wait_for(const std::string& what, const std::function<bool()>& cond) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(o_.wait_s);
    bool said = false;
    while (true) {
        if (cond()) {
            out_ << "  ok: " << what << "\n";
            return true;
        }
        if (std::chrono::steady_clock::now() >= until) return false;
        if (!said) {
            out_ << "  waiting for " << what << " (up to " << o_.wait_s << " s) ...\n"
                 << std::flush;
            said = true;
        }
        std::this_thread::sleep_for(500ms);
    }
}

bool tcp_answers(const std::string& host_port) {
    check::line_client c(2s);
    return c.open(host_port).empty();
}

bool handshake_done(const std::string& iface) {
    if (!setup::interface_here(iface)) return false;
    auto r = check::run_program({"wg", "show", iface, "latest-handshakes"}, 5s);
    if (r.exit_code != 0) return false;
    auto hs = check::parse_latest_handshakes(r.output);
    if (!hs || hs->empty()) return false;
    for (const auto& h : *hs)
        if (h.when == 0) return false;
    return true;
}

void guided::wait_relay() {
    out_ << "==> waiting until it works\n";
    if (!wait_for("splitmail-relay answers on port 25", [] { return tcp_answers("127.0.0.1:25"); }))
        throw step_failed{"splitmail-relay does not answer on port 25 after " +
                          std::to_string(o_.wait_s) + " s: journalctl -u splitmail-relay"};
    const std::string iface = setup::relay_interface;
    if (!wait_for("the tunnel interface " + iface, [&] {
            return setup::interface_here(iface) &&
                   check::run_program({"wg", "show", iface}, 5s).exit_code == 0;
        }))
        throw step_failed{"the tunnel interface " + iface + " is not up: journalctl -u wg-quick@" +
                          iface};
    if (!handshake_done(iface)) {
        out_ << "  the tunnel waits for home (run `splitmail setup home` there, below)\n";
        return;
    }
    out_ << "  ok: home is connected through the tunnel\n";
    // Home is there (a re-run): the relay's copy of home's recipient list
    // (<spool>/recipients.json, relay/recipients/directory.hpp) must be fetched after the
    // relay started, so RCPT TO is answered from home's current users.
    const fs::path copy = L_.spool_dir() / "recipients.json";
    const auto started = std::time(nullptr) - 5;
    std::int64_t fetched = 0;
    auto fresh = [&] {
        auto t = setup::read_if_exists(copy);
        if (!t || !*t) return false;
        try {
            fetched = nlohmann::json::parse(**t).at("fetched_at").get<std::int64_t>();
        } catch (const std::exception&) {
            return false;
        }
        return fetched >= started || !restarted_;
    };
    if (!wait_for("the relay's recipient list from home (" + copy.string() + ")", fresh))
        throw step_failed{"the relay has not fetched home's recipient list (" + copy.string() +
                          (fetched ? ", last at unix time " + std::to_string(fetched) : "") +
                          "); `splitmail check` (lmtp line) says why"};
}

void guided::wait_home() {
    out_ << "==> waiting until it works\n";
    const std::string iface = setup::home_interface;
    const auto& p = *pairing_;
    if (!wait_for("the WireGuard handshake with the relay (" + p.relay_endpoint + ")",
                  [&] { return handshake_done(iface); }))
        throw step_failed{"no WireGuard handshake with the relay " + p.relay_endpoint + " within " +
                          std::to_string(o_.wait_s) + " s: the tunnel is broken. Is UDP " +
                          p.relay_endpoint +
                          " open at the VPS, and was the relay set up with this pairing file "
                          "(`splitmail check` on both machines compares the running keys)?"};
    const std::string lmtp = p.tunnel_home + ":" + std::to_string(p.lmtp_port);
    if (!wait_for("splitmail-home's LMTP on the tunnel (" + lmtp + ")",
                  [&] { return tcp_answers(lmtp); }))
        throw step_failed{"splitmail-home does not answer on " + lmtp +
                          ": journalctl -u splitmail-home"};
    if (o_.user.empty()) {
        out_ << "  (no --user: the relay learns new users at its next recipient-list refresh, "
                "every home.recipient_refresh = 60 s by default)\n";
        return;
    }
    // The relay's recipient list comes from home (XDIRECTORY) at its start and every
    // home.recipient_refresh; a RCPT probe through the tunnel shows when it knows the user.
    const std::string relay_smtp = p.tunnel_relay + ":25";
    std::string last;
    auto relay_knows = [&] {
        check::line_client c(5s);
        if (!c.open(relay_smtp).empty()) return false;
        auto g = c.reply();
        if (!g || !g->starts_with("220")) return false;
        c.send("EHLO " + (o_.hostname.empty() ? std::string("home.invalid") : o_.hostname) +
               "\r\n");
        if (!c.reply()) return false;
        c.send("MAIL FROM:<>\r\n");
        if (!c.reply()) return false;
        c.send("RCPT TO:<" + o_.user + ">\r\n");
        auto r = c.reply();
        c.send("QUIT\r\n");
        last = r ? *r : "";
        return r && r->starts_with("250");
    };
    if (!wait_for("the relay's recipient-list refresh (it accepts " + o_.user + ")", relay_knows))
        throw step_failed{"the relay does not accept mail for " + o_.user + " after " +
                          std::to_string(o_.wait_s) + " s (last answer: \"" + last +
                          "\"); `splitmail check` on the relay (lmtp line)"};
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

} // namespace

int run_setup(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage_text;
            return 0;
        }
    if (args.empty() || (args[0] != "relay" && args[0] != "home")) {
        err << "splitmail setup: which machine? `setup relay` (the VPS) or `setup home`\n"
            << usage_text;
        return 2;
    }
    options o;
    o.role = args[0];
    if (auto e = parse(args.subspan(1), o)) {
        err << "splitmail setup " << o.role << ": " << *e << "\n" << usage_text;
        return 2;
    }
    guided g(std::move(o), out, err);
    return g.run();
}

int run_setup(std::span<const std::string> args) { return run_setup(args, std::cout, std::cerr); }

} // namespace splitmail::provision
