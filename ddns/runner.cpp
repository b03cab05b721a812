#include "runner.hpp"

#include "splitmail/program/daemon_main.hpp"

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string_view>
#include <thread>

#include "agent.hpp"
#include "exit_codes.hpp"
#include "splitmail/config/ddns.hpp"
#include "splitmail/log/log.hpp"
#include "splitmail/sys/notify.hpp"

namespace splitmail::ddns {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr std::string_view component = "ddns";
std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested.store(true); }

void install_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

// Sleeps `d` (at least 100 ms, so no loop can spin) unless a stop is requested.
void sleep_for(milliseconds d) {
    d = std::max<milliseconds>(d, 100ms);
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop_requested.load()) {
        auto left = until - std::chrono::steady_clock::now();
        if (left <= 0ms) return;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, 100ms));
    }
}

void move_aside(const std::filesystem::path& file) {
    auto aside = file;
    aside += ".corrupt";
    std::error_code ec;
    std::filesystem::rename(file, aside, ec);
    log::warn(component, "-", "state file unreadable; moved aside, starting with empty state",
              {{"file", file.string()}, {"moved_to", aside.string()}});
}

constexpr std::string_view usage_text =
    "usage: splitmail-ddns [--config FILE] [--once] [--dry-run] [--check-config]\n"
    "       splitmail-ddns --print-config-doc\n"
    "Keeps the home's A/AAAA records on deSEC current.\n"
    "  --config FILE       configuration (default /etc/splitmail/ddns.toml)\n"
    "  --once              one check-and-update, then exit (for timers/cron)\n"
    "  --dry-run           log what would change, write nothing\n"
    "  --check-config      check the configuration, then exit\n"
    "  --print-config-doc  print the settings reference (Markdown)\n"
    "exit codes: 0 ok, 1 change refused by deSEC, 2 usage, 10 bad token (401),\n"
    "  11 token not allowed (403), 12 unknown domain (404), 13 address not\n"
    "  publishable (--once), 75 temporary failure (--once), 78 bad configuration\n";

} // namespace

int run(const run_options& o) {
    auto s = load_settings(o.config_file);
    if (!s) {
        log::error(component, "-", "configuration error: " + s.error());
        return exit_code::config;
    }
    log::level lvl{};
    if (!log::parse_level(s->log_level, lvl)) {
        log::error(component, "-",
                   "configuration error: " + o.config_file.string() +
                       ": log.level: unknown level \"" + s->log_level + "\"");
        return exit_code::config;
    }
    log::set_min_level(lvl);
    auto token = read_token(s->token_file);
    if (!token) {
        log::error(component, "-", "configuration error: desec.token_file: " + token.error());
        return exit_code::config;
    }

    auto loaded = load_state(s->state_file);
    state st;
    if (loaded)
        st = std::move(*loaded);
    else
        move_aside(s->state_file);
    auto persist = [&](const state& now) {
        if (o.dry_run) return; // a dry run changes nothing, not even the state file
        if (auto r = save_state(s->state_file, now); !r)
            log::error(component, "-", "cannot write the state file: " + r.error());
    };

    desec::client_options copt;
    copt.base_url = s->api_url;
    copt.token = std::move(*token);
    copt.ca_file = s->ca_file;
    copt.timeout = s->timeout;
    copt.user_agent = "splitmail-ddns/0.1";
    desec::client api(copt);
    auto http = desec::make_curl_transport(
        desec::curl_options{s->ca_file, s->timeout, "splitmail-ddns/0.1", 4096});
    source_detector detector(s->sources, *http);
    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    agent a(
        *s, api, detector, st, persist, [&] { return unit(rng); }, o.dry_run);

    install_signals();
    log::info(component, "-", o.once ? "checking once" : "started",
              {{"domain", s->domain},
               {"interval_s", s->interval.count()},
               {"dry_run", o.dry_run ? "yes" : "no"}});

    // Type=notify: ready once configuration, token and state are loaded; the first cycle runs
    // next and its outcome is in the log (a deSEC outage must not fail `systemctl start`).
    if (!o.once) sys::notify("READY=1");
    using status = cycle_result::status;
    int short_waits = 0;
    int transient_tries = 0;
    while (!stop_requested.load()) {
        auto r = a.run_cycle(std::chrono::system_clock::now());
        if (r.st == status::fatal) {
            log::error(component, "-", r.message, {{"exit", r.exit_code}});
            return r.exit_code;
        }
        if (o.once) {
            switch (r.st) {
            case status::unchanged:
            case status::updated:
            case status::would_update:
                if (r.st == status::unchanged) log::info(component, "-", "records are current");
                return r.refused ? exit_code::address_refused : exit_code::ok;
            case status::failed: return exit_code::failure;
            case status::postponed:
                // A short wait (Retry-After of a few seconds, the 1/s limit) is waited out.
                if (r.next <= 5s && ++short_waits <= 5) {
                    sleep_for(r.next);
                    continue;
                }
                log::warn(component, "-", "postponed: " + r.message,
                          {{"retry_in_s",
                            std::chrono::duration_cast<std::chrono::seconds>(r.next).count()}});
                return exit_code::tempfail;
            case status::transient:
                if (++transient_tries < 3) {
                    sleep_for(std::min<milliseconds>(r.next, 5s));
                    continue;
                }
                return r.refused ? exit_code::address_refused : exit_code::tempfail;
            case status::fatal: break;
            }
        }
        sleep_for(r.next);
    }
    log::info(component, "-", "stopping");
    sys::notify("STOPPING=1");
    return exit_code::ok;
}

int main_with_args(int argc, char** argv) {
    // The daemons' shared command line (common program/daemon_main.hpp), with ddns' own flags.
    static constexpr std::string_view own_flags[] = {"--once", "--dry-run"};
    const program::daemon_info info{"splitmail-ddns", usage_text, "ddns.toml", settings_table(),
                                    own_flags};
    auto parsed = program::parse_command_line(info, argc, argv);
    if (auto* code = std::get_if<int>(&parsed)) return *code;
    const auto& cl = std::get<program::command_line>(parsed);
    run_options o;
    if (!cl.config.empty()) o.config_file = cl.config;
    o.once = cl.has("--once");
    o.dry_run = cl.has("--dry-run");
    if (cl.check_only) {
        auto s = load_settings(o.config_file);
        if (!s) {
            program::complain(info, s.error());
            return exit_code::config;
        }
        std::printf("%s: configuration ok\n", o.config_file.c_str());
        return exit_code::ok;
    }
    return run(o);
}

} // namespace splitmail::ddns
