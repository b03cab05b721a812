// DKIM key records; see key_record.hpp.
#include "dkim/key_record.hpp"

#include "dkim/signature.hpp"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace splitmail::relay::dkim {

namespace {

// A colon-separated list (3.6.1 h=, s=, t=) contains `want` (FWS around items ignored).
bool list_has(std::string_view list, std::string_view want) {
    std::size_t start = 0;
    while (start <= list.size()) {
        const auto colon = list.find(':', start);
        std::string_view item =
            list.substr(start, colon == std::string_view::npos ? list.npos : colon - start);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item == want) return true;
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    return false;
}

EVP_PKEY* decode_rsa_public_key(const std::string& der) {
    // RFC 6376 3.6.1 names RSAPublicKey; signers publish SubjectPublicKeyInfo. Try both.
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    if (EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()))) return k;
    EVP_PKEY* k = nullptr;
    OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", "type-specific", "RSA",
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
    if (!dctx) return nullptr;
    p = reinterpret_cast<const unsigned char*>(der.data());
    std::size_t left = der.size();
    if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) k = nullptr;
    OSSL_DECODER_CTX_free(dctx);
    return k;
}

} // namespace

std::expected<key_record, std::string> parse_key_record(std::string_view txt) {
    auto tags = parse_tags(txt);
    if (!tags) return std::unexpected("key record: " + tags.error());
    key_record rec;
    bool have_p = false;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const tag& t = (*tags)[i];
        if (t.name == "v") {
            // RFC 6376 3.6.1: if present, v= is the first tag and is "DKIM1".
            if (i != 0 || t.value != "DKIM1")
                return std::unexpected("key record: v= is not DKIM1 as the first tag");
        } else if (t.name == "k") {
            if (t.value == "rsa")
                rec.type = key_type::rsa;
            else if (t.value == "ed25519")
                rec.type = key_type::ed25519;
            else
                return std::unexpected("key record: unknown key type k=" +
                                       std::string(t.value.substr(0, 32)));
        } else if (t.name == "p") {
            auto p = decode_base64(t.value);
            if (!p) return std::unexpected("key record: p= is not base64");
            rec.public_key = std::move(*p);
            have_p = true;
        } else if (t.name == "t") {
            rec.strict = list_has(t.value, "s");
            rec.testing = list_has(t.value, "y");
        } else if (t.name == "h") {
            if (!list_has(t.value, "sha256"))
                return std::unexpected("key record: h= does not allow sha256");
        } else if (t.name == "s") {
            if (!list_has(t.value, "email") && !list_has(t.value, "*"))
                return std::unexpected("key record: not for email (s=)");
        }
    }
    if (!have_p) return std::unexpected("key record: no p= tag");
    return rec;
}

std::expected<public_key, std::string> load_public_key(const key_record& rec) {
    if (rec.public_key.empty()) return std::unexpected("key revoked (empty p=)");
    EVP_PKEY* k = nullptr;
    if (rec.type == key_type::ed25519) {
        // RFC 8463 4.2: the raw 32-octet public key.
        if (rec.public_key.size() != 32) return std::unexpected("ed25519 key is not 32 octets");
        k = EVP_PKEY_new_raw_public_key(
            EVP_PKEY_ED25519, nullptr,
            reinterpret_cast<const unsigned char*>(rec.public_key.data()), 32);
    } else {
        k = decode_rsa_public_key(rec.public_key);
        if (k && EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
            EVP_PKEY_free(k);
            return std::unexpected("k=rsa but p= is not an RSA key");
        }
    }
    if (!k) {
        ERR_clear_error(); // hostile DNS data is an expected failure, not a library error
        return std::unexpected("p= is not a public key");
    }
    public_key out{std::shared_ptr<EVP_PKEY>(k, &EVP_PKEY_free), 0};
    if (rec.type == key_type::rsa) out.bits = EVP_PKEY_get_bits(k);
    return out;
}

} // namespace splitmail::relay::dkim
