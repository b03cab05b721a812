#pragma once
// `splitmail check`: the doctor. Asks a resolver (not the deSEC API) whether DNS is as
// planned, checks PTR, SPF, DKIM, TLSA, the TLS certificate, the WireGuard handshake, the
// queue, the listeners and (home) the DDNS records, and prints one line per finding with the command that fixes it.
//
//   --site FILE        site file (default /etc/splitmail/site.toml)
//   --resolver IP:PORT recursive resolver to ask (overrides check.resolver; default
//                      /etc/resolv.conf)
//   --only LIST        comma-separated checks (checks.hpp): dns,spf,dkim,tlsa,ptr,tls,tunnel,...
//   --json             {"status": ..., "findings": [{"check","status","detail","fix"}]}
//
// On a relay (site.relay_config exists) every check but users and ddns runs; on a home machine
// (site.home_config set, no relay config) tls (IMAP), tunnel, users, listeners and, when
// ddns.toml is next to home.toml, ddns.
// Exit status: 0 nothing failed (warnings allowed), 1 something is wrong, 2 usage error.
// Does not: change anything.
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_check(std::span<const std::string> args);
int run_check(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
