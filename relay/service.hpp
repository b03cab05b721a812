#pragma once
// Wires the relay together: spool + recovery, recipient cache, delivery runner, SMTP
// listeners, signals (TERM/INT stop, HUP reloads TLS, USR1 flushes the queue).
#include "splitmail/config/relay.hpp"

#include <string>

namespace splitmail::relay {

// Checks what can be checked before starting (TLS files load, listen addresses parse, spool
// directory usable). Returns "" or a message naming the setting and what to fix.
std::string preflight(const settings& s);

// Runs until SIGTERM/SIGINT. Returns the process exit code.
int run(const settings& s, const std::string& config_path);

} // namespace splitmail::relay
