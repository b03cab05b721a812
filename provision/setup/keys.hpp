#pragma once
// Key material for `splitmail provision`: WireGuard key pairs (made by the `wg` program of
// wireguard-tools, so the keys are exactly what wg-quick expects) and the self-signed TLS
// placeholder certificates of relay and home (OpenSSL 3).
//
// Guarantees: a WireGuard key is 44 characters of base64 for 32 octets (checked on everything
// read or made); a self-signed certificate carries CN and subjectAltName DNS = the host name,
// is valid from 5 minutes ago for `days` days, and its key is ECDSA P-256. Errors name the
// program or file and what to do.
// Does not: write files (setup/files.hpp) or decide where keys live.
#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::setup {

// Runs `argv` (argv[0] looked up in PATH) with `input` on its standard input; returns its
// standard output. A non-zero exit or a signal is an error naming the program and its stderr.
std::expected<std::string, std::string> run_program(const std::vector<std::string>& argv,
                                                    std::string_view input);

// True for 44 characters of standard base64 that decode to 32 octets (a Curve25519 key).
bool valid_wg_key(std::string_view key);

struct wg_keypair {
    std::string private_key; // base64, as `wg genkey` prints it (no newline)
    std::string public_key;
};
// `wg genkey` | `wg pubkey`.
std::expected<wg_keypair, std::string> wg_generate();
// `wg pubkey` of an existing private key.
std::expected<std::string, std::string> wg_public_key(std::string_view private_key);

struct tls_pair {
    std::string key_pem; // PKCS#8
    std::string cert_pem;
};
// A new P-256 key and a self-signed certificate for `hostname` (CN and SAN) and the names in
// `also` (more SAN entries).
std::expected<tls_pair, std::string> make_self_signed(std::string_view hostname, int days = 90,
                                                      const std::vector<std::string>& also = {});
// A self-signed certificate for `hostname` (and `also`) made with the existing key `key_pem`.
std::expected<std::string, std::string>
self_signed_for_key(std::string_view key_pem, std::string_view hostname, int days = 90,
                    const std::vector<std::string>& also = {});

struct cert_info {
    std::string sha256_hex; // lower-case hex SHA-256 of the DER certificate
    std::chrono::system_clock::time_point not_after;
    bool self_signed = false; // issuer == subject
};
// Reads the first certificate of `cert_pem`; when `key_pem` is not empty, also checks that the
// key belongs to the certificate. `name` is used in errors (the file).
std::expected<cert_info, std::string> inspect_cert(std::string_view cert_pem,
                                                   std::string_view key_pem, std::string_view name);
// Whether the first certificate of `cert_pem` is valid for `hostname` (SAN, or CN without SAN;
// RFC 6125 matching as done by OpenSSL's X509_check_host).
bool cert_covers_host(std::string_view cert_pem, std::string_view hostname);
// Whether `key_pem` holds a private key OpenSSL can read.
bool valid_private_key(std::string_view key_pem);

} // namespace splitmail::provision::setup
