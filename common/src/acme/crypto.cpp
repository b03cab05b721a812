// ACME cryptography on OpenSSL 3 (see crypto.hpp).
#include "splitmail/acme/crypto.hpp"

#include <time.h>

#include <cstring>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "splitmail/net/openssl_error.hpp"
#include "splitmail/sys/clock.hpp"

namespace splitmail::acme {

namespace {

struct bio_free {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
struct bn_free {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct x509_free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;

std::unexpected<error> crypto_fail(std::string what) {
    return fail(error_kind::local, what + ": " + net::openssl_error());
}

std::string bio_string(BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string sha256(std::string_view data) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), len);
}

std::string coordinate(EVP_PKEY* k, const char* param) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(k, param, &raw) != 1) return {};
    bn_ptr bn(raw);
    unsigned char buf[32];
    if (BN_bn2binpad(bn.get(), buf, sizeof buf) != 32) return {};
    return std::string(reinterpret_cast<char*>(buf), sizeof buf);
}

x509_ptr first_cert(std::string_view pem) {
    bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!b) return nullptr;
    return x509_ptr(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
}

std::chrono::system_clock::time_point to_time(const ASN1_TIME* t, bool& ok) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        ok = false;
        return {};
    }
    return sys::from_utc_tm(tm);
}

} // namespace

std::string base64url(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
    for (; i + 3 <= in.size(); i += 3) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (in.size() - i == 1) {
        unsigned v = byte(i) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
    } else if (in.size() - i == 2) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
    }
    return out; // RFC 7515 2: no '=' padding
}

void ec_key::deleter::operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }

result<ec_key> ec_key::generate() {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    if (k == nullptr) return crypto_fail("cannot generate a P-256 key");
    return ec_key(k);
}

result<ec_key> ec_key::from_pem(std::string_view pem) {
    bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* k = b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr;
    if (k == nullptr) return crypto_fail("not a PEM private key");
    ec_key out(k);
    if (!EVP_PKEY_is_a(k, "EC"))
        return fail(error_kind::local, std::string("the key is ") + EVP_PKEY_get0_type_name(k) +
                                           ", not an ECDSA P-256 key");
    char group[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
            1 ||
        (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0))
        return fail(error_kind::local,
                    std::string("the key is on curve ") + group + ", not P-256 (prime256v1)");
    return out;
}

std::string ec_key::private_pem() const {
    bio_ptr b(BIO_new(BIO_s_mem()));
    if (!b ||
        PEM_write_bio_PrivateKey(b.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    return bio_string(b.get());
}

std::optional<key_type> parse_key_type(std::string_view t) {
    if (t == "p256" || t == "ecdsa" || t == "P-256") return key_type::p256;
    if (t == "rsa2048" || t == "rsa") return key_type::rsa2048;
    return std::nullopt;
}

std::string_view key_type_name(key_type t) noexcept {
    return t == key_type::rsa2048 ? "rsa2048" : "p256";
}

cert_key::cert_key(const ec_key& k) : type_(key_type::p256) {
    EVP_PKEY* raw = k.native();
    EVP_PKEY_up_ref(raw);
    key_ = std::shared_ptr<EVP_PKEY>(raw, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
}

result<cert_key> cert_key::generate(key_type t) {
    if (t == key_type::p256) {
        auto k = ec_key::generate();
        if (!k) return std::unexpected(k.error());
        return cert_key(*k);
    }
    EVP_PKEY* k = EVP_RSA_gen(2048);
    if (k == nullptr) return crypto_fail("cannot generate an RSA-2048 key");
    return cert_key(std::shared_ptr<EVP_PKEY>(k, [](EVP_PKEY* p) { EVP_PKEY_free(p); }),
                    key_type::rsa2048);
}

result<cert_key> cert_key::from_pem(std::string_view pem) {
    bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* raw = b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr) return crypto_fail("not a PEM private key");
    std::shared_ptr<EVP_PKEY> k(raw, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
    if (EVP_PKEY_is_a(raw, "RSA")) {
        // RFC 8301 / CA/Browser Forum baseline: RSA below 2048 bits is not acceptable.
        if (EVP_PKEY_get_bits(raw) < 2048)
            return fail(error_kind::local, "the RSA key has " +
                                               std::to_string(EVP_PKEY_get_bits(raw)) +
                                               " bits; at least 2048 are needed");
        return cert_key(std::move(k), key_type::rsa2048);
    }
    auto ec = ec_key::from_pem(pem);
    if (!ec) return std::unexpected(ec.error());
    return cert_key(*ec);
}

std::string cert_key::private_pem() const {
    bio_ptr b(BIO_new(BIO_s_mem()));
    if (!b ||
        PEM_write_bio_PrivateKey(b.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    return bio_string(b.get());
}

std::string ec_key::jwk_json() const {
    // RFC 7638 3.2: required members only, lexicographic order, no whitespace.
    return R"({"crv":"P-256","kty":"EC","x":")" +
           base64url(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X)) + R"(","y":")" +
           base64url(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y)) + R"("})";
}

std::string ec_key::thumbprint() const { return base64url(sha256(jwk_json())); }

result<std::string> ec_key::sign_es256(std::string_view data) const {
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    std::size_t der_len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &der_len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        return crypto_fail("cannot sign");
    std::string der(der_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        return crypto_fail("cannot sign");
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    if (sig == nullptr) return crypto_fail("cannot decode the ECDSA signature");
    // RFC 7518 3.4: R and S as 32-octet big-endian integers, concatenated.
    unsigned char raw[64];
    bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
              BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    if (!ok) return fail(error_kind::local, "ECDSA signature does not fit 64 octets");
    return std::string(reinterpret_cast<char*>(raw), sizeof raw);
}

result<std::string> sign_jws(const ec_key& key, const jws_header& header,
                             std::string_view payload) {
    nlohmann::ordered_json h;
    h["alg"] = "ES256";
    if (header.kid.empty())
        h["jwk"] = nlohmann::ordered_json::parse(key.jwk_json());
    else
        h["kid"] = header.kid;
    h["nonce"] = header.nonce;
    h["url"] = header.url;
    std::string protected64 = base64url(h.dump());
    std::string payload64 = base64url(payload);
    auto sig = key.sign_es256(protected64 + "." + payload64);
    if (!sig) return std::unexpected(sig.error());
    nlohmann::ordered_json body;
    body["protected"] = protected64;
    body["payload"] = payload64;
    body["signature"] = base64url(*sig);
    return body.dump();
}

std::string key_authorization(std::string_view token, std::string_view thumbprint) {
    return std::string(token) + "." + std::string(thumbprint);
}

std::string dns01_txt_value(std::string_view key_authorization) {
    return base64url(sha256(key_authorization));
}

std::string http01_path(std::string_view token) {
    return "/.well-known/acme-challenge/" + std::string(token);
}

// valid_token: http01_answer.cpp (no libcurl, shared with the relay).

bool valid_dns_name(std::string_view name) noexcept {
    if (name.starts_with("*.")) name.remove_prefix(2);
    if (name.empty() || name.size() > 253) return false;
    int labels = 0;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) dot = name.size();
        std::string_view label = name.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
        ++labels;
        start = dot + 1;
    }
    return labels >= 2;
}

result<std::string> make_csr_der(const cert_key& key, std::span<const std::string> names) {
    if (names.empty()) return fail(error_kind::local, "a certificate needs at least one name");
    std::string san;
    for (const auto& n : names) {
        if (!valid_dns_name(n))
            return fail(error_kind::local,
                        "\"" + n + "\" is not a DNS name a certificate can hold");
        san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    struct req_free {
        void operator()(X509_REQ* r) const noexcept { X509_REQ_free(r); }
    };
    std::unique_ptr<X509_REQ, req_free> req(X509_REQ_new());
    if (!req || X509_REQ_set_version(req.get(), 0) != 1) return crypto_fail("cannot make a CSR");
    if (names[0].size() <= 64) { // RFC 5280 ub-common-name
        X509_NAME* subject = X509_REQ_get_subject_name(req.get());
        if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(names[0].c_str()), -1,
                                       -1, 0) != 1)
            return crypto_fail("cannot set the CSR subject");
    }
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    if (ext == nullptr) return crypto_fail("cannot build subjectAltName");
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, ext);
    int added = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (added != 1) return crypto_fail("cannot add subjectAltName to the CSR");
    if (X509_REQ_set_pubkey(req.get(), key.native()) != 1 ||
        X509_REQ_sign(req.get(), key.native(), EVP_sha256()) <= 0)
        return crypto_fail("cannot sign the CSR");
    unsigned char* der = nullptr;
    int len = i2d_X509_REQ(req.get(), &der);
    if (len <= 0) return crypto_fail("cannot encode the CSR");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

result<cert_times> leaf_times(std::string_view chain_pem) {
    auto cert = first_cert(chain_pem);
    if (!cert) return crypto_fail("no certificate in the chain");
    bool ok = true;
    cert_times t{to_time(X509_get0_notBefore(cert.get()), ok),
                 to_time(X509_get0_notAfter(cert.get()), ok)};
    if (!ok) return fail(error_kind::local, "cannot read the certificate's validity");
    return t;
}

result<std::string> ari_cert_id(std::string_view chain_pem) {
    auto cert = first_cert(chain_pem);
    if (!cert) return crypto_fail("no certificate in the chain");
    const ASN1_OCTET_STRING* kid = X509_get0_authority_key_id(cert.get());
    if (kid == nullptr || ASN1_STRING_length(kid) <= 0)
        return fail(error_kind::local, "the certificate has no Authority Key Identifier");
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    unsigned char* der = nullptr;
    const int n = i2d_ASN1_INTEGER(serial, &der);
    if (n <= 2 || der == nullptr) {
        OPENSSL_free(der);
        return crypto_fail("cannot encode the serial number");
    }
    // DER INTEGER: tag, length (short or long form), then the content octets (with the leading
    // zero a positive number whose top bit is set carries).
    std::size_t off = 2;
    if (der[1] & 0x80) off += der[1] & 0x7f;
    std::string serial_octets;
    if (off < static_cast<std::size_t>(n))
        serial_octets.assign(reinterpret_cast<const char*>(der) + off,
                             static_cast<std::size_t>(n) - off);
    OPENSSL_free(der);
    if (serial_octets.empty()) return crypto_fail("empty serial number");
    const std::string key_id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(kid)),
                             static_cast<std::size_t>(ASN1_STRING_length(kid)));
    return base64url(key_id) + "." + base64url(serial_octets);
}

std::vector<std::string> leaf_dns_names(std::string_view chain_pem) {
    std::vector<std::string> out;
    auto cert = first_cert(chain_pem);
    if (!cert) return out;
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && i < 1000; ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS) continue;
        const ASN1_IA5STRING* s = g->d.dNSName;
        std::string n(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
        for (char& c : n)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        out.push_back(std::move(n));
    }
    GENERAL_NAMES_free(names);
    return out;
}

std::size_t count_certificates(std::string_view chain_pem) {
    bio_ptr b(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
    std::size_t n = 0;
    while (b && n < 64) {
        x509_ptr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
        if (!c) break;
        ++n;
    }
    (void)net::openssl_error(); // the read past the last certificate queues an error
    return n;
}

bool leaf_matches_key(std::string_view chain_pem, const cert_key& key) {
    auto cert = first_cert(chain_pem);
    return cert && X509_check_private_key(cert.get(), key.native()) == 1;
}

} // namespace splitmail::acme
