// Unit tests of provision/check/cert: expiry against an injected clock, host name, key pair,
// self-signed detection and TLSA matching. Certificates are made here with OpenSSL.
#include "check/cert.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <memory>

using namespace splitmail::provision::check;

namespace {

constexpr std::time_t now = 1'800'000'000; // a fixed clock
constexpr long day = 86400;

// X509_time_adj_ex takes a time_t* it does not modify; a mutable copy keeps it simple.
std::time_t& now_copy() {
    static std::time_t t = now;
    return t;
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

pkey_ptr new_key() { return {EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free}; }

std::string pem_key(EVP_PKEY* k) {
    std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// Self-signed (or signed by `issuer_key` with issuer name "CN=Test CA") certificate for `host`
// valid from now+from to now+to.
std::string make_cert(EVP_PKEY* k, const std::string& host, long from, long to,
                      EVP_PKEY* issuer_key = nullptr) {
    std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), &X509_free);
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 7);
    X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, from, &now_copy());
    X509_time_adj_ex(X509_getm_notAfter(x.get()), 0, to, &now_copy());
    X509_set_pubkey(x.get(), k);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
    if (issuer_key) {
        std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> iss(X509_NAME_new(), &X509_NAME_free);
        X509_NAME_add_entry_by_txt(iss.get(), "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("Test CA"), -1, -1, 0);
        X509_set_issuer_name(x.get(), iss.get());
    } else {
        X509_set_issuer_name(x.get(), name);
    }
    const std::string san = "DNS:" + host;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x.get(), issuer_key ? issuer_key : k, EVP_sha256());
    std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_X509(b.get(), x.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

} // namespace

TEST(CheckCert, ValidForHostWithItsKey) {
    auto k = new_key();
    auto cert = make_cert(k.get(), "mx.example.com", -day, 90 * day);
    auto f = inspect_cert(cert, pem_key(k.get()), "mx.example.com", now);
    ASSERT_TRUE(f) << f.error();
    EXPECT_EQ(f->seconds_left, 90 * day);
    EXPECT_FALSE(f->not_yet_valid);
    EXPECT_TRUE(f->host_matches);
    EXPECT_TRUE(f->key_matches);
    EXPECT_TRUE(f->self_signed);
    EXPECT_EQ(f->subject, "CN=mx.example.com");
}

TEST(CheckCert, ExpiryAgainstTheClock) {
    auto k = new_key();
    auto soon = inspect_cert(make_cert(k.get(), "mx.example.com", -80 * day, 5 * day), "",
                             "mx.example.com", now);
    ASSERT_TRUE(soon);
    EXPECT_EQ(soon->seconds_left, 5 * day); // below the default warning of 21 days
    auto gone = inspect_cert(make_cert(k.get(), "mx.example.com", -90 * day, -day), "",
                             "mx.example.com", now);
    ASSERT_TRUE(gone);
    EXPECT_LT(gone->seconds_left, 0);
    auto future = inspect_cert(make_cert(k.get(), "mx.example.com", day, 90 * day), "", "", now);
    ASSERT_TRUE(future);
    EXPECT_TRUE(future->not_yet_valid);
}

TEST(CheckCert, WrongHostAndWrongKey) {
    auto k = new_key(), other = new_key();
    auto cert = make_cert(k.get(), "other.example.com", -day, 90 * day);
    auto f = inspect_cert(cert, pem_key(other.get()), "mx.example.com", now);
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->host_matches);
    EXPECT_FALSE(f->key_matches);
    EXPECT_TRUE(f->key_error.empty());
    auto bad_key = inspect_cert(cert, "not a key", "", now);
    ASSERT_TRUE(bad_key);
    EXPECT_FALSE(bad_key->key_error.empty());
    EXPECT_FALSE(inspect_cert("garbage", "", "", now));
}

TEST(CheckCert, SignedByAnotherKeyIsNotSelfSigned) {
    auto k = new_key(), ca = new_key();
    auto f =
        inspect_cert(make_cert(k.get(), "mx.example.com", -day, 90 * day, ca.get()), "", "", now);
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->self_signed);
    EXPECT_FALSE(verify_chain(*f, "", now).empty()); // "Test CA" is in no system store
}

TEST(CheckCert, TlsaMatch) {
    auto k = new_key(), other = new_key();
    auto f = inspect_cert(make_cert(k.get(), "mx.example.com", -day, 90 * day), "", "", now);
    auto g = inspect_cert(make_cert(other.get(), "mx.example.com", -day, 90 * day), "", "", now);
    ASSERT_TRUE(f && g);
    const std::string rec = tlsa_record_for(*f);
    ASSERT_EQ(rec.size(), 6u + 64u);
    EXPECT_EQ(tlsa_matches(rec, *f), tlsa_result::match);
    // The same record in upper case, split by white space (RFC 6698 2.2).
    std::string upper = rec;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    upper.insert(30, " ");
    EXPECT_EQ(tlsa_matches(upper, *f), tlsa_result::match);
    // A stale record (another key) does not match.
    EXPECT_EQ(tlsa_matches(tlsa_record_for(*g), *f), tlsa_result::no_match);
    // 3 1 1 survives a renewal with the same key; 3 0 1 (whole certificate) does not.
    auto renewed = inspect_cert(make_cert(k.get(), "mx.example.com", 0, 180 * day), "", "", now);
    ASSERT_TRUE(renewed);
    EXPECT_EQ(tlsa_matches(rec, *renewed), tlsa_result::match);
    EXPECT_EQ(tlsa_matches("3 1 0 " + std::string(10, 'a'), *f), tlsa_result::no_match);
    EXPECT_EQ(tlsa_matches("2 0 1 " + rec.substr(6), *f), tlsa_result::not_checkable);
    EXPECT_EQ(tlsa_matches("3 1 9 ab", *f), tlsa_result::not_checkable);
    EXPECT_EQ(tlsa_matches("3 1 1 xyz", *f), tlsa_result::malformed);
}
