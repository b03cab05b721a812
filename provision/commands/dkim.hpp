#pragma once
// `splitmail dkim keygen|txt`: DKIM key pairs for the relay's signer (relay/dkim/) and the DNS
// TXT records that publish their public halves.
//
//   keygen --domain D --selector S [--algorithm rsa|ed25519|both] [--dir DIR] [--force]
//       Writes new private keys and prints their TXT records. --algorithm defaults to both.
//   txt --domain D [--selector S...] [--dir DIR]
//       Prints the TXT record of existing keys (every key of D without --selector).
//   --dir defaults to /etc/splitmail/dkim.
//
// Key layout (splitmail/dkim/key.hpp, which the relay reads too):
//     DIR/D/            mode 0700
//     DIR/D/SEL.key     PKCS#8 PEM private key, mode 0600; SEL is the DNS selector (s=) and
//                       the key type gives the algorithm (RSA-2048: rsa-sha256, Ed25519:
//                       ed25519-sha256, RFC 8463).
// Selectors: --algorithm rsa or ed25519 uses S itself; both uses S-rsa and S-ed25519, because a
// DNS name holds one key record only (RFC 6376 3.6.2.2: several TXT records at one selector
// give undefined results).
//
// Records printed (RFC 6376 3.6.1; RFC 8463 4.2 for Ed25519, whose p= is the raw 32-byte key):
//     SEL._domainkey.D. IN TXT "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>"
//     SEL._domainkey.D. IN TXT "v=DKIM1; k=ed25519; p=<base64 32 octets>"
// with the value split into quoted strings of at most 255 octets (RFC 1035 3.3.14), one line
// per record; lines starting with ';' are zone-file comments saying where the key file is.
//
// Guarantees: an existing key is never replaced without --force, and with several algorithms
// nothing is written unless every file can be; each key file appears complete or not at all
// (temporary file, fsync, rename, fsync of the directory).
// Exit status: 0 success, 1 operation failed, 2 usage error.
// Does not: publish anything in DNS (`splitmail dns apply` does) or reload the relay.
#include <expected>
#include <filesystem>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision {

int run_dkim(std::span<const std::string> args);
int run_dkim(std::span<const std::string> args, std::ostream& out, std::ostream& err);

// The TXT value "v=DKIM1; k=...; p=..." for the private key in `key_file`; the error names the
// file. For `splitmail dns plan` and `check`. Same as dkim::txt_value_of_file (dkim/record.hpp).
std::expected<std::string, std::string> dkim_txt_value(const std::filesystem::path& key_file);

// A new DKIM private key as PKCS#8 PEM text: "rsa" (RSA-2048) or "ed25519". Nothing is
// written; `splitmail provision relay` stores it with its own idempotent file writer.
// Same as dkim::new_key_pem (dkim/key.hpp).
std::expected<std::string, std::string> dkim_new_key_pem(std::string_view algorithm);

// A TXT value as zone-file character-strings: "..." "..." of at most 255 octets each.
std::string txt_strings(std::string_view value);

} // namespace splitmail::provision
