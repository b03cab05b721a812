#pragma once
// Wires splitmail-home together: user database (reloaded on SIGHUP and when its files change),
// Maildir deliverer on the durable committer, per-user strands for mailbox work (IMAP commands,
// Maildir links of deliveries) over imap.store_threads threads, one folder registry, LMTP
// listeners (plain or mutual TLS with the
// relay's certificate pinned), graceful stop on SIGTERM/SIGINT.
#include "splitmail/config/home.hpp"

#include <string>

namespace splitmail::home {

// What can be checked before starting: TLS files, listen addresses, the user database loads,
// the Maildir root is usable. Returns "" or a message naming the setting and what to fix.
std::string preflight(const settings& s);

// Runs until SIGTERM/SIGINT. Returns the process exit code.
int run(const settings& s, const std::string& config_path);

} // namespace splitmail::home
