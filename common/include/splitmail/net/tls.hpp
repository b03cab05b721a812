#pragma once
// TLS contexts for servers (STARTTLS, implicit TLS) and clients (LMTP to home, SMTP out).
// TLS 1.2 is the minimum; the system's OpenSSL cipher defaults apply. Errors name the file
// and OpenSSL's reason so an operator knows what to fix.
// Does not: reload by itself (programs rebuild the context on SIGHUP and swap the pointer).
#include <boost/asio/ssl/context.hpp>

#include <expected>
#include <filesystem>
#include <memory>
#include <string>

namespace splitmail::net {

using tls_context = std::shared_ptr<boost::asio::ssl::context>;

// cert: PEM chain (leaf first), key: PEM private key. When `require_client_cert` is set the
// handshake fails unless the client presents a certificate (verification of *which* one is the
// caller's job: pin it with peer_cert_sha256()).
std::expected<tls_context, std::string> make_server_tls(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key,
                                                        bool require_client_cert = false);
// cert/key may be empty (no client certificate). Peer verification is by pinning, done by the
// caller; `verify_peer_with_system_cas` is for connections to the internet (later issues).
std::expected<tls_context, std::string> make_client_tls(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key,
                                                        bool verify_peer_with_system_cas = false);
// Lower-case hex SHA-256 of the first certificate in a PEM file, or "" if unreadable.
std::string sha256_hex_of_cert_file(const std::filesystem::path& pem);

} // namespace splitmail::net
