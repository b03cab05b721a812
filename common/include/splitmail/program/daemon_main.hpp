#pragma once
// What every daemon's main() does, written once (issue 13): the shared command line
//   --config FILE | --config=FILE   the settings file
//   --check-config                  load and check it (preflight included), print "ok", exit
//   --print-config-doc              the settings reference as Markdown (docs/configuration.md)
//   --help | -h                     usage on stdout, exit 0 (asked for: not an error)
// plus boolean flags of the program's own (splitmail-ddns: --once, --dry-run); anything else is
// a usage error (exit 2, usage on stderr). For the daemons driven by a settings file,
// daemon_main() then loads it, sets the log level, runs the preflight checks and runs the
// service. A bad configuration exits 78 (EX_CONFIG, sysexits.h): the units list it in
// RestartPreventExitStatus, so systemd does not restart into the same error.
// Does not do: subcommands (the admin CLI `splitmail` dispatches on its own).
#include "splitmail/config/settings.hpp"
#include "splitmail/log/log.hpp"

#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace splitmail::program {

inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 2;
inline constexpr int exit_config = 78;

struct daemon_info {
    std::string_view name;        // "splitmail-relay": prefixes every message
    std::string_view usage;       // the whole usage text, ending in a newline
    std::string_view config_hint; // the file named in --print-config-doc's reference
    std::span<const config::setting_spec> table;
    std::span<const std::string_view> flags = {}; // the program's own boolean flags
};

struct command_line {
    std::string config; // empty when --config was not given
    bool check_only = false;
    std::vector<std::string> flags; // the program flags given, in order
    bool has(std::string_view flag) const;
};

// The command line to act on, or the exit code when parsing already answered it (help, the
// config reference) or refused it (the reason and the usage are on stderr then).
std::variant<command_line, int> parse_command_line(const daemon_info& info, int argc, char** argv);

// "<name>: <message>" on stderr.
void complain(const daemon_info& info, std::string_view message);

// Sets the minimum log level from a settings value ("info", "debug"...); an unknown name keeps
// the default (the settings table has already refused it).
void apply_log_level(const std::string& level);

// The whole main() of a daemon driven by one settings file: `load(path)` returns
// std::expected<Settings, std::string>, `preflight(settings)` an error text ("" when fine),
// `run(settings, path)` the exit status of the service.
template <class Load, class Preflight, class Run>
int daemon_main(const daemon_info& info, int argc, char** argv, Load load, Preflight preflight,
                Run run) {
    auto parsed = parse_command_line(info, argc, argv);
    if (auto* code = std::get_if<int>(&parsed)) return *code;
    auto& cl = std::get<command_line>(parsed);
    if (cl.config.empty()) {
        complain(info, "--config FILE is required");
        std::fputs(std::string(info.usage).c_str(), stderr);
        return exit_usage;
    }
    auto s = load(cl.config);
    if (!s) {
        complain(info, s.error());
        return exit_config;
    }
    apply_log_level(s->log_level);
    if (auto err = preflight(*s); !err.empty()) {
        complain(info, cl.config + ": " + err);
        return exit_config;
    }
    if (cl.check_only) {
        std::printf("%s: configuration ok\n", cl.config.c_str());
        return exit_ok;
    }
    return run(*s, cl.config);
}

} // namespace splitmail::program
