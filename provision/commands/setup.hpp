#pragma once
// `splitmail setup relay|home`: one guided command per machine (issue 16). It does what
// docs/operations.md describes as a page of steps, through the same code those steps run:
//
//   1. plan   `provision ... --dry-run` (what would be created or changed), the deSEC token
//             file, the services; on a terminal it asks before going on, elsewhere --yes
//             is needed (--dry-run stops here)
//   2. provision relay|home (the same code as `splitmail provision`)
//   3. the deSEC token file: /etc/splitmail/desec.token, mode 0600, owner root (relay) or
//      splitmail-ddns (home)
//   4. relay: `splitmail dns apply --yes` (publishes the plan at deSEC)
//   5. units: `systemctl daemon-reload`, `systemctl enable --now` of wg-quick@IFACE and the
//      daemons; a daemon that was running is restarted when its configuration changed
//      (--no-systemd: nothing is started, the commands are printed)
//   6. waits: relay: its SMTP port and tunnel interface (home already connected: also the
//      relay's copy of home's recipient list, <spool>/recipients.json); home: the WireGuard handshake (exit 1
//      when it does not come: a broken tunnel is never reported as done), home's LMTP on the
//      tunnel and, with --user, the relay's first recipient-list refresh that knows that user
//      (RCPT TO probe through the tunnel)
//   7. `splitmail check`, then the one thing left to do (relay: the exact scp command for the
//      pairing file and the PTR; home: the IMAP/SMTP settings for mail clients)
//
// Values come from flags or, on a terminal, from questions (the token is read without echo).
// Re-running is safe: provision is idempotent, the token file is compared, dns apply writes
// only differences, running services are left alone unless their configuration changed.
// Exit status: 0 set up (check findings are listed, not fatal), 1 a step failed, 2 usage.
// Does not: set the PTR (the hoster does), copy the pairing file between machines.
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_setup(std::span<const std::string> args);
int run_setup(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
