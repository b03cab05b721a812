// TLS context construction; see tls.hpp.
#include "splitmail/net/tls.hpp"
#include "splitmail/net/openssl_error.hpp"
#include "splitmail/text/hex.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>

namespace splitmail::net {
namespace ssl = boost::asio::ssl;
namespace {

using splitmail::net::openssl_error;

std::expected<void, std::string> load_pair(SSL_CTX* ctx, const std::filesystem::path& cert,
                                           const std::filesystem::path& key) {
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
        return std::unexpected(cert.string() + ": cannot load certificate: " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
        return std::unexpected(key.string() + ": cannot load private key: " + openssl_error());
    if (SSL_CTX_check_private_key(ctx) != 1)
        return std::unexpected(key.string() + ": private key does not match " + cert.string());
    return {};
}

// Pinning is done by the caller; accept any certificate at the handshake.
int accept_any(int, X509_STORE_CTX*) { return 1; }

} // namespace

std::string check_cipher_list(std::string_view ciphers) {
    if (ciphers.empty()) return "";
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return "cannot create a TLS context: " + openssl_error();
    ERR_clear_error();
    std::string list(ciphers);
    std::string why;
    if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
        why = "no usable cipher in \"" + list + "\": " + openssl_error();
    SSL_CTX_free(ctx);
    return why;
}

std::expected<tls_context, std::string> make_server_tls(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key,
                                                        bool require_client_cert,
                                                        std::string_view ciphers) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* raw = ctx->native_handle();
    SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
    SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    // OpenSSL's own record buffers (about 33 KiB) are freed while a connection is idle: an
    // IMAP IDLE or a waiting SMTP client then costs little more than its socket.
    SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
    if (!ciphers.empty()) {
        // TLS 1.2 only; TLS 1.3 suites (SSL_CTX_set_ciphersuites) stay OpenSSL's, all AEAD.
        ERR_clear_error();
        std::string list(ciphers);
        if (SSL_CTX_set_cipher_list(raw, list.c_str()) != 1)
            return std::unexpected("no usable cipher in \"" + list + "\": " + openssl_error());
    }
    if (auto r = load_pair(raw, cert, key); !r) return std::unexpected(r.error());
    if (require_client_cert)
        SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    return ctx;
}

std::expected<tls_context, std::string> make_client_tls(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key,
                                                        bool verify_peer_with_system_cas) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* raw = ctx->native_handle();
    SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
    SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
    if (!cert.empty()) {
        if (auto r = load_pair(raw, cert, key); !r) return std::unexpected(r.error());
    }
    if (verify_peer_with_system_cas) {
        SSL_CTX_set_default_verify_paths(raw);
        SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
}

std::string cert_sha256_hex(const X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) {
        ERR_clear_error();
        return "";
    }
    return text::hex(md, len);
}

std::string sha256_hex_of_cert_file(const std::filesystem::path& pem) {
    FILE* f = std::fopen(pem.c_str(), "r");
    if (!f) return "";
    X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!x) return "";
    auto out = cert_sha256_hex(x);
    X509_free(x);
    return out;
}

} // namespace splitmail::net
