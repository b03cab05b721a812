#pragma once
// TLS contexts for servers (STARTTLS, implicit TLS) and clients (LMTP to home, SMTP out).
// TLS 1.2 is the minimum. Server contexts offer, for TLS 1.2, only the cipher list they are
// given: by default default_server_ciphers, the AEAD suites of Mozilla's "intermediate"
// profile (ECDHE with AES-GCM or ChaCha20-Poly1305, no CBC, no RSA key exchange); TLS 1.3
// suites are OpenSSL's (all AEAD). Client contexts keep OpenSSL's defaults (opportunistic TLS
// to old servers beats plaintext). Errors name the file and OpenSSL's reason so an operator
// knows what to fix.
// Does not: reload by itself (programs rebuild the context on SIGHUP and swap the pointer).
#include <boost/asio/ssl/context.hpp>
#include <openssl/types.h>

#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace splitmail::net {

using tls_context = std::shared_ptr<boost::asio::ssl::context>;

// OpenSSL cipher list for TLS 1.2 (Mozilla intermediate, AEAD only).
inline constexpr std::string_view default_server_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// "" when OpenSSL accepts `ciphers` as a TLS 1.2 cipher list (at least one suite), else why
// not. The empty list is accepted and means OpenSSL's defaults.
std::string check_cipher_list(std::string_view ciphers);

// cert: PEM chain (leaf first), key: PEM private key. When `require_client_cert` is set the
// handshake fails unless the client presents a certificate (verification of *which* one is the
// caller's job: pin it with peer_cert_sha256()). `ciphers`: TLS 1.2 cipher list; "" keeps
// OpenSSL's defaults.
std::expected<tls_context, std::string>
make_server_tls(const std::filesystem::path& cert, const std::filesystem::path& key,
                bool require_client_cert = false,
                std::string_view ciphers = default_server_ciphers);
// cert/key may be empty (no client certificate). Peer verification is by pinning, done by the
// caller; `verify_peer_with_system_cas` is for connections to the internet (later issues).
std::expected<tls_context, std::string> make_client_tls(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key,
                                                        bool verify_peer_with_system_cas = false);
// Lower-case hex SHA-256 of a certificate's DER encoding: the pin compared with
// connection::peer_cert_sha256() and shown by `splitmail check`. "" if OpenSSL fails.
std::string cert_sha256_hex(const X509* cert);
// The same for the first certificate in a PEM file, or "" if unreadable.
std::string sha256_hex_of_cert_file(const std::filesystem::path& pem);

} // namespace splitmail::net
