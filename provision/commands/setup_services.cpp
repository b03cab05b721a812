// `splitmail setup`: the systemd units started, and the waits until relay or home works; see
// setup_guided.hpp.
#include "commands/setup_guided.hpp"

#include "check/line_client.hpp"
#include "check/program.hpp"
#include "check/wireguard.hpp"
#include "setup/files.hpp"
#include "setup/wg_sync.hpp"
#include "splitmail/text/json_integer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <thread>

namespace splitmail::provision::guided_setup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

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

} // namespace

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
            fetched = text::integer_at<std::int64_t>(nlohmann::json::parse(**t), "fetched_at");
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

} // namespace splitmail::provision::guided_setup
