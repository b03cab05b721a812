#pragma once
// `splitmail provision relay|home`: sets up a machine from nothing, and re-checks it later.
//
//   provision relay --domain D [--domain D2 ...] --hostname H --public-ipv4 A
//                   [--public-ipv6 A6] [--imap-host N] [--wg-port 51820]
//                   [--root DIR] [--bindir DIR] [--force] [--new-tunnel-keys]
//   provision home --pairing FILE [--hostname N] [--root DIR] [--bindir DIR] [--force]
//   both: [--dry-run] [--desec-api URL] [--desec-ca-file F] [--sync-tunnel]
//
// Files, modes and the pairing file: docs/internal/provision.md. --root DIR writes everything
// below DIR and every path written into a configuration carries the DIR prefix, so the tree
// runs as it is (tests). --bindir names where the programs are for the systemd units
// (default /usr/bin).
//
// Guarantees:
// - Idempotent: every file is compared with what would be written and reported on one line
//   ("created", "unchanged", "replaced", "kept PATH (differs; --force to replace)"); a second
//   run with the same arguments prints only "unchanged" lines and changes nothing.
// - Keys (WireGuard, DKIM, TLS) are never regenerated while a usable one exists: configs are
//   derived from the keys on disk. An unusable key file is an error unless --force, which
//   replaces it. --force also replaces configs that differ; to rotate a key, delete its file.
//   The self-signed TLS placeholder (CN/SAN = host name, 90 days) is renewed with the same key
//   when it expires within 21 days; a certificate that is not self-signed is never replaced.
// - Run as root without --root: the system users `splitmail` (and `splitmail-ddns` on home)
//   are created when missing (useradd --system) and spool, Maildir root and the keys the
//   services read get their owners. With --root no owner is changed (the output says so).
// - Nothing is replaced without a copy: --force, a renewed placeholder and new tunnel keys first
//   copy the old file to PATH.bak-YYYYMMDDTHHMMSS. --dry-run writes nothing and prints the same
//   lines as "would create/replace".
// - Re-pairing (issue 16 bug 3): new tunnel keys (relay: --new-tunnel-keys, or a deleted
//   wg-smrelay.conf; home: a pairing file with other keys) change only the key lines of the
//   wg-quick file (setup::rekey_wg_conf); the pairing file follows the keys. A running interface
//   of that name is synced (wg syncconf) and checked; under --root only with --sync-tunnel. A
//   tunnel file that cannot take the keys is an error (exit 1), never a silent broken tunnel.
// - Every error says what to fix. Exit status: 0 done (also "nothing to do", and when files
//   that differ were kept: they are reported), 1 failure, 2 usage error.
// Does not: start services, bring up the tunnel or touch DNS (`splitmail setup` does all three).
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

int run_provision(std::span<const std::string> args);
int run_provision(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
