#pragma once
// `splitmail cert obtain|renew|status`: certificates from an ACME CA (RFC 8555) for the relay.
//
//   obtain  --name N [--name N]... --cert FILE --key FILE --account-key FILE
//           [--directory URL] [--ca-file FILE] [--contact mailto:ADDR]
//           [--http-listen ADDR:PORT] [--relay-spool DIR] [--config relay.toml]
//       Always asks the CA for a new certificate (http-01 answered by a built-in responder on
//       ADDR:PORT, default 0.0.0.0:80), writes it, then asks the relay to reload.
//           --challenge dns-01 --desec-domain D --desec-token-file F [--desec-api URL]
//           [--desec-ca-file F] [--dns-server IP:PORT]...
//       dns-01 instead: the _acme-challenge TXT records go to deSEC in one bulk write (TTL at
//       the domain's minimum_ttl), the command waits until every --dns-server (default: the
//       addresses of ns1.desec.io and ns2.desec.org) answers them, and removes them afterwards.
//       The token needs write access only to TXT at _acme-challenge (deSEC token policy).
//   renew   (same options) does that only when renewal is due (a third of the lifetime
//           left, a missing certificate, or names that changed; see acme/renewal.hpp).
//   renew --all [--dir DIR]: every certificate with a renewal file (below).
//   status  --cert FILE [--name N]...: expiry, when renewal is due, automatic or not, failures
//           (and the step of a key rollover when --key/--config names the key).
//   rollover --config relay.toml | --cert FILE --key FILE [--force]: one step of a TLSA key
//           rollover per run (setup/rollover.hpp): make the next key; then, once `dns apply`
//           has published its TLSA record for twice the TTL, certify it (the renewal file's CA,
//           or self-signed like the current certificate), replace the key, reload. Exit 75 while
//           it must wait (the message says for what).
// --config reads hostname (the name), tls_cert/tls_key and spool_dir from relay.toml; options
// given explicitly win. --directory defaults to Let's Encrypt production.
//
// Guarantees: the certificate key (ECDSA P-256, or RSA-2048 with --key-type rsa2048) is reused
// when the key file already holds a usable one (of either type), so a renewal keeps TLSA "3 1 1" records valid; otherwise a new key is made. Each file is
// replaced atomically and durably (key 0600, chain 0644, owner and group kept); a failed issuance leaves both files
// as they were (the old certificate stays in service). The account key file (0600) is created
// on first use and reused after. After a new certificate the relay named by the spool's pid
// file gets SIGHUP (reload in place).
// Exit status: 0 success (or nothing due), 1 failure, 2 usage error; 75 (EX_TEMPFAIL) when the
// CA is rate-limiting or unreachable (try again later; the message says when if the CA did).
// Automatic renewal: a successful obtain/renew leaves CERT.acme.json (0600) next to the
// certificate: the options in canonical form and the failure history. `renew --all [--dir DIR]`
// (the splitmail-cert.timer, DIR default /etc/splitmail/tls) renews each certificate with such a
// file when it is due, with acme/renewal.hpp's backoff after failures (recorded in the file,
// never counted for a run that only waited); exit 1 if one failed, else 75 if one must wait for
// the CA, else 0. `--reload-unit UNIT` runs `systemctl reload UNIT` after a new certificate.
// The first obtain enables splitmail-cert.timer when systemd runs (otherwise it says what to
// run). RFC 9773: when the CA's directory has renewalInfo, `renew` is due inside the CA's
// suggested window (acme/renewal.hpp) and newOrder says which certificate it replaces.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <ostream>
#include <span>
#include <string>

namespace splitmail::provision {

// The renewal file of `cert` (CERT.acme.json), for `splitmail check`: nullopt when there is
// none; the error when it cannot be read.
struct renewal_status {
    int failures = 0;
    std::int64_t last_attempt = 0; // unix seconds of the last failure
    std::string last_error;
};
std::optional<std::expected<renewal_status, std::string>>
read_renewal_status(const std::filesystem::path& cert);

int run_cert(std::span<const std::string> args);
int run_cert(std::span<const std::string> args, std::ostream& out, std::ostream& err);

} // namespace splitmail::provision
