#pragma once
// Process-level driver of splitmail-ddns: loads the config and token, opens the state file,
// builds the deSEC client and the address detector, and runs the agent once (--once) or as a
// daemon until SIGTERM/SIGINT.
//
// Guarantees: returns an exit code from exit_codes.hpp; configuration errors are reported on
// stderr/log naming the file, key and reason. The daemon never busy-loops: every cycle ends
// in a sleep of at least 100 ms, and fatal deSEC answers (401/403/404) end the process.
// Does not: fork or write a PID file (systemd supervises it).
#include <filesystem>
#include <string>

namespace splitmail::ddns {

struct run_options {
    std::filesystem::path config_file = "/etc/splitmail/ddns.toml";
    bool once = false;
    bool dry_run = false;
};

int run(const run_options& options);

// The command line; returns the exit code (handles --help, --print-config-doc).
int main_with_args(int argc, char** argv);

} // namespace splitmail::ddns
