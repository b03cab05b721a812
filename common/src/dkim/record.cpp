// DKIM key records; see dkim/record.hpp.
#include "splitmail/dkim/record.hpp"
#include "splitmail/dkim/tag_list.hpp"
#include "splitmail/text/trim.hpp"
#include "splitmail/durable/file.hpp"
#include "splitmail/net/openssl_error.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace splitmail::dkim {

namespace {

using splitmail::net::openssl_error;

std::string b64(const unsigned char* p, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int len =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

using text::trim;

} // namespace

std::expected<std::string, std::string> txt_value(const EVP_PKEY* k) {
    if (EVP_PKEY_is_a(k, "RSA")) {
        // RFC 6376 3.6.1: p= for k=rsa is the base64 of the DER SubjectPublicKeyInfo.
        unsigned char* der = nullptr;
        const int n = i2d_PUBKEY(k, &der);
        if (n <= 0) return std::unexpected("cannot encode the public key: " + openssl_error());
        std::string v = "v=DKIM1; k=rsa; p=" + b64(der, static_cast<std::size_t>(n));
        OPENSSL_free(der);
        return v;
    }
    if (EVP_PKEY_is_a(k, "ED25519")) {
        // RFC 8463 4.2: p= for k=ed25519 is the base64 of the raw 32-octet public key.
        unsigned char raw[32];
        std::size_t n = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != 32)
            return std::unexpected("cannot read the Ed25519 public key: " + openssl_error());
        return "v=DKIM1; k=ed25519; p=" + b64(raw, n);
    }
    return std::unexpected(std::string("unsupported key type ") + EVP_PKEY_get0_type_name(k) +
                           " (need RSA or Ed25519)");
}

std::expected<std::string, std::string> txt_value_of_file(const std::filesystem::path& key_file) {
    auto text = durable::read_file(key_file, {1 << 20});
    if (!text) return std::unexpected(text.error().text());
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(text->data(), static_cast<int>(text->size())), &BIO_free);
    EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr)
        return std::unexpected(key_file.string() + ": not a PEM private key (" + openssl_error() +
                               ")");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(raw, &EVP_PKEY_free);
    auto v = txt_value(k.get());
    if (!v) return std::unexpected(key_file.string() + ": " + v.error());
    return v;
}

std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text) {
    auto tags = parse_tags(text); // the one RFC 6376 3.2 grammar
    if (!tags) return std::nullopt;
    std::map<std::string, std::string> out;
    for (const auto& t : *tags) out.emplace(std::string(t.name), std::string(t.value));
    return out;
}

} // namespace splitmail::dkim
