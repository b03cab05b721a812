#pragma once
// DKIM keys: the one home of the key file format and the d=/s= name rules, shared by the
// relay's signer (relay/dkim/) and `splitmail dkim`, `provision relay`, `dns plan`, `check`.
//
// Key layout (written by `splitmail dkim keygen` and `provision relay`, read by the relay):
//     <dir>/<domain>/<selector>.key      PKCS#8 PEM private key, mode 0600, dir 0700
// The file name is the selector (s=) and the directory the signing domain (d=); the algorithm
// comes from the key itself: an RSA key signs rsa-sha256 (RFC 6376 3.3.1), an Ed25519 key
// ed25519-sha256 (RFC 8463). keygen names the two selectors of one key pair <S>-rsa and
// <S>-ed25519, since one DNS name can hold only one key record (RFC 6376 3.6.2.2).
//
// Guarantees: every error names the file and says what is wrong with it (missing, unreadable,
// not a PEM private key, wrong key type, RSA shorter than 1024 bits: RFC 8301 3.2).
// Does not: write key files (callers use durable::replace_file, mode 0600), talk to DNS, or watch
// files for rotation. The public half as a DNS record: dkim/record.hpp.
#include <openssl/types.h>

#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::dkim {

enum class algorithm { rsa_sha256, ed25519_sha256 };

// The a= value: "rsa-sha256" or "ed25519-sha256".
std::string_view algorithm_name(algorithm a);

struct signing_key {
    std::string domain;   // d=
    std::string selector; // s=
    algorithm alg = algorithm::rsa_sha256;
    std::shared_ptr<EVP_PKEY> pkey; // private key
    std::filesystem::path file;     // where it came from ("" if from memory)
};

// RFC 6376 3.5: d= and s= are domain names (letters, digits, '-', '_' in labels, '.' between);
// this also keeps them safe as path components.
bool valid_domain(std::string_view d);
bool valid_selector(std::string_view s);

// Where keys live unless configured otherwise.
inline constexpr std::string_view default_key_dir = "/etc/splitmail/dkim";

// <dir>/<domain>/<selector>.key
std::filesystem::path key_file(const std::filesystem::path& dir, std::string_view domain,
                               std::string_view selector);

// Parses a PEM private key (PKCS#8, or a traditional RSA key) held in memory.
std::expected<signing_key, std::string> key_from_pem(std::string_view pem, std::string domain,
                                                     std::string selector);

// Loads one key file; the error text names the file.
std::expected<signing_key, std::string> load_key(const std::filesystem::path& pem,
                                                 std::string domain, std::string selector);

// Loads <dir>/<domain>/<selector>.key for each selector given.
std::expected<std::vector<signing_key>, std::string>
load_keys(const std::filesystem::path& dir, std::string_view domain,
          const std::vector<std::string>& selectors);

// The selectors of every <dir>/<domain>/*.key, sorted; an error if the directory cannot be
// read, an empty list if it holds no key.
std::expected<std::vector<std::string>, std::string> selectors_in(const std::filesystem::path& dir,
                                                                  std::string_view domain);

// Loads every <dir>/<domain>/*.key, in file-name order; an error if there is none.
std::expected<std::vector<signing_key>, std::string>
load_domain_keys(const std::filesystem::path& dir, std::string_view domain);

// A new private key as PKCS#8 PEM text: "rsa" (RSA-2048, RFC 8301 3.2) or "ed25519"
// (RFC 8463). Nothing is written.
std::expected<std::string, std::string> new_key_pem(std::string_view algorithm);

} // namespace splitmail::dkim
