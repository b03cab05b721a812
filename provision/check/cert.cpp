// Certificate inspection and TLSA matching; see cert.hpp.
#include "check/cert.hpp"
#include "splitmail/text/hex.hpp"

#include "check/records.hpp"
#include "splitmail/net/openssl_error.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>

#include <memory>
#include <sstream>

namespace splitmail::provision::check {

namespace {

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

bio_ptr mem_bio(std::string_view s) {
    return {BIO_new_mem_buf(s.data(), static_cast<int>(s.size())), &BIO_free};
}

std::vector<std::uint8_t> der_of(X509* x) {
    unsigned char* p = nullptr;
    int n = i2d_X509(x, &p);
    if (n <= 0) return {};
    std::vector<std::uint8_t> out(p, p + n);
    OPENSSL_free(p);
    return out;
}

std::vector<std::uint8_t> spki_of(X509* x) {
    unsigned char* p = nullptr;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &p);
    if (n <= 0) return {};
    std::vector<std::uint8_t> out(p, p + n);
    OPENSSL_free(p);
    return out;
}

std::expected<std::time_t, std::string> to_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return std::unexpected("unreadable validity time");
    return timegm(&tm);
}

std::vector<std::uint8_t> digest(const EVP_MD* md, const std::vector<std::uint8_t>& in) {
    std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
    unsigned n = 0;
    if (EVP_Digest(in.data(), in.size(), out.data(), &n, md, nullptr) != 1) return {};
    out.resize(n);
    return out;
}

using splitmail::net::openssl_error;

} // namespace

std::expected<cert_facts, std::string> inspect_cert(std::string_view cert_pem,
                                                    std::string_view key_pem,
                                                    std::string_view hostname, std::time_t now) {
    ERR_clear_error();
    auto bio = mem_bio(cert_pem);
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) return std::unexpected("no PEM certificate (" + openssl_error() + ")");
    cert_facts f;
    f.cert_der = der_of(cert.get());
    f.spki_der = spki_of(cert.get());
    while (true) {
        x509_ptr more(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
        if (!more) break;
        f.chain_der.push_back(der_of(more.get()));
    }
    ERR_clear_error(); // the loop ends with "no start line"
    char* subj = X509_NAME_oneline(X509_get_subject_name(cert.get()), nullptr, 0);
    if (subj) {
        f.subject = subj[0] == '/' ? subj + 1 : subj;
        OPENSSL_free(subj);
    }
    auto nb = to_time(X509_get0_notBefore(cert.get()));
    auto na = to_time(X509_get0_notAfter(cert.get()));
    if (!nb || !na) return std::unexpected(nb ? na.error() : nb.error());
    f.not_before = *nb;
    f.not_after = *na;
    f.seconds_left = static_cast<long long>(f.not_after) - static_cast<long long>(now);
    f.not_yet_valid = now < f.not_before;
    if (!hostname.empty()) {
        const std::string h(hostname);
        f.host_matches = X509_check_host(cert.get(), h.data(), h.size(), 0, nullptr) == 1;
    }
    // Issuer equals subject and its own key verifies the signature (X509_check_issued would
    // also demand keyCertSign, which a leaf placeholder need not have).
    f.self_signed =
        X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0 &&
        X509_verify(cert.get(), X509_get0_pubkey(cert.get())) == 1;
    ERR_clear_error();
    if (!key_pem.empty()) {
        auto kb = mem_bio(key_pem);
        pkey_ptr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
        if (!key) {
            f.key_error = "no PEM private key (" + openssl_error() + ")";
        } else {
            f.key_matches = X509_check_private_key(cert.get(), key.get()) == 1;
            ERR_clear_error();
        }
    }
    return f;
}

std::string tlsa_record_for(const cert_facts& c) {
    return "3 1 1 " + text::hex(digest(EVP_sha256(), c.spki_der));
}

std::expected<cert_facts, std::string> key_facts(std::string_view key_pem) {
    ERR_clear_error();
    auto bio = mem_bio(key_pem);
    pkey_ptr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                 &EVP_PKEY_free);
    if (!key) return std::unexpected("no PEM private key (" + openssl_error() + ")");
    unsigned char* p = nullptr;
    const int n = i2d_PUBKEY(key.get(), &p);
    if (n <= 0) return std::unexpected("cannot encode its public key (" + openssl_error() + ")");
    cert_facts f;
    f.spki_der.assign(p, p + n);
    OPENSSL_free(p);
    return f;
}

tlsa_result tlsa_matches(std::string_view text, const cert_facts& c) {
    auto canon = canonical(rr_type::tlsa, text);
    if (!canon) return tlsa_result::malformed;
    std::istringstream in(*canon);
    unsigned usage = 0, selector = 0, matching = 0;
    std::string data;
    in >> usage >> selector >> matching >> data;
    if (usage != 1 && usage != 3) return tlsa_result::not_checkable; // trust-anchor usages
    const std::vector<std::uint8_t>* what = selector == 0   ? &c.cert_der
                                            : selector == 1 ? &c.spki_der
                                                            : nullptr;
    if (!what) return tlsa_result::not_checkable;
    std::vector<std::uint8_t> expected;
    if (matching == 0)
        expected = *what;
    else if (matching == 1)
        expected = digest(EVP_sha256(), *what);
    else if (matching == 2)
        expected = digest(EVP_sha512(), *what);
    else
        return tlsa_result::not_checkable;
    return text::hex(expected) == data ? tlsa_result::match : tlsa_result::no_match;
}

std::string verify_chain(const cert_facts& c, std::string_view hostname, std::time_t now) {
    auto load = [](const std::vector<std::uint8_t>& der) {
        const unsigned char* p = der.data();
        return x509_ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())), &X509_free);
    };
    auto leaf = load(c.cert_der);
    if (!leaf) return "unreadable certificate";
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                  &X509_STORE_free);
    X509_STORE_set_default_paths(store.get());
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(
        sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); });
    for (const auto& d : c.chain_der)
        if (auto x = load(d)) sk_X509_push(chain.get(), x.release());
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                        &X509_STORE_CTX_free);
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), chain.get()) != 1)
        return "cannot set up verification";
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, now);
    if (!hostname.empty()) {
        const std::string h(hostname);
        X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size());
    }
    const int ok = X509_verify_cert(ctx.get());
    ERR_clear_error();
    if (ok == 1) return {};
    return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

} // namespace splitmail::provision::check
