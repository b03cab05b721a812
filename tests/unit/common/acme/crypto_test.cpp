// ACME cryptography: base64url, JWK and its RFC 7638 thumbprint, ES256 JWS, key authorization,
// dns-01 value, CSR. The fixed key is RFC 7515 Appendix A.3's P-256 key; expected thumbprint and
// TXT values were computed independently (Python hashlib over the RFC 7638 JWK string).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "splitmail/acme/crypto.hpp"

namespace acme = splitmail::acme;

namespace {

constexpr const char* rfc7515_a3_pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";

std::string unb64url(std::string s) {
    for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4) s += '=';
    std::string out(s.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!s.empty() && s.back() == '=') {
        s.pop_back();
        out.pop_back();
    }
    return out;
}

// Verifies an ES256 R||S signature with OpenSSL's own verifier.
bool verify_es256(const acme::ec_key& key, const std::string& data, const std::string& raw) {
    if (raw.size() != 64) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.native()) == 1 &&
        EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_len),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

} // namespace

TEST(AcmeCrypto, Base64urlHasNoPaddingAndTheUrlAlphabet) {
    EXPECT_EQ(acme::base64url(""), "");
    EXPECT_EQ(acme::base64url("f"), "Zg");
    EXPECT_EQ(acme::base64url("fo"), "Zm8");
    EXPECT_EQ(acme::base64url("foo"), "Zm9v");
    EXPECT_EQ(acme::base64url("foob"), "Zm9vYg");
    EXPECT_EQ(acme::base64url("\xfb\xff"), "-_8");
}

TEST(AcmeCrypto, JwkAndThumbprintOfRfc7515Key) {
    auto k = acme::ec_key::from_pem(rfc7515_a3_pem);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ(k->jwk_json(),
              R"({"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
              R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})");
    EXPECT_EQ(k->thumbprint(), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
}

TEST(AcmeCrypto, KeyAuthorizationAndDns01Value) {
    auto ka = acme::key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                                      "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
    EXPECT_EQ(
        ka,
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
    EXPECT_EQ(acme::dns01_txt_value(ka), "ZaJgFtIV4WA0t2MzN7kbSk0sfRd2GZjaxRqaSTAK6lI");
    EXPECT_EQ(acme::http01_path("abc"), "/.well-known/acme-challenge/abc");
}

TEST(AcmeCrypto, KeysOtherThanP256AreRefusedByName) {
    EVP_PKEY* rsa = EVP_RSA_gen(2048);
    ASSERT_NE(rsa, nullptr);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, rsa, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    auto k = acme::ec_key::from_pem(std::string(data, static_cast<std::size_t>(n)));
    BIO_free(b);
    EVP_PKEY_free(rsa);
    ASSERT_FALSE(k);
    EXPECT_NE(k.error().message.find("not an ECDSA P-256 key"), std::string::npos)
        << k.error().message;
    EXPECT_FALSE(acme::ec_key::from_pem("not a key"));
}

TEST(AcmeCrypto, GeneratedKeyRoundTripsThroughPem) {
    auto k = acme::ec_key::generate();
    ASSERT_TRUE(k);
    auto again = acme::ec_key::from_pem(k->private_pem());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->thumbprint(), k->thumbprint());
    EXPECT_NE(acme::ec_key::generate()->thumbprint(), k->thumbprint());
}

TEST(AcmeCrypto, JwsIsFlattenedAndVerifies) {
    auto k = acme::ec_key::from_pem(rfc7515_a3_pem);
    ASSERT_TRUE(k);
    for (bool with_kid : {false, true}) {
        acme::jws_header h{"https://ca.test/acme/new-order", "nonce-1",
                           with_kid ? "https://ca.test/acme/acct/7" : ""};
        auto body = acme::sign_jws(*k, h, R"({"identifiers":[]})");
        ASSERT_TRUE(body);
        auto j = nlohmann::json::parse(*body);
        ASSERT_TRUE(j["protected"].is_string() && j["payload"].is_string() &&
                    j["signature"].is_string());
        auto prot = nlohmann::json::parse(unb64url(j["protected"]));
        EXPECT_EQ(prot["alg"], "ES256");
        EXPECT_EQ(prot["nonce"], "nonce-1");
        EXPECT_EQ(prot["url"], "https://ca.test/acme/new-order");
        // RFC 8555 6.2: exactly one of jwk and kid.
        EXPECT_EQ(prot.contains("kid"), with_kid);
        EXPECT_EQ(prot.contains("jwk"), !with_kid);
        if (!with_kid) {
            EXPECT_EQ(prot["jwk"]["x"], "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
        }
        EXPECT_EQ(unb64url(j["payload"]), R"({"identifiers":[]})");
        std::string input =
            j["protected"].get<std::string>() + "." + j["payload"].get<std::string>();
        std::string sig = unb64url(j["signature"]);
        EXPECT_EQ(sig.size(), 64u);
        EXPECT_TRUE(verify_es256(*k, input, sig));
        EXPECT_FALSE(verify_es256(*k, input + "x", sig)) << "a verifier that accepts anything";
    }
}

TEST(AcmeCrypto, PostAsGetHasAnEmptyPayload) {
    auto k = acme::ec_key::generate();
    auto body = acme::sign_jws(*k, {"https://ca.test/o/1", "n", "https://ca.test/a/1"}, "");
    ASSERT_TRUE(body);
    EXPECT_EQ(nlohmann::json::parse(*body)["payload"], "");
}

TEST(AcmeCrypto, DnsNamesForCsr) {
    for (const char* good :
         {"mx.example.org", "*.example.org", "a-b.c1.example", "XN--BCHER-KVA.example"})
        EXPECT_TRUE(acme::valid_dns_name(good)) << good;
    for (const char* bad :
         {"", "localhost", "a..b", "-a.example", "a-.example", "a,DNS:evil.example", "a b.example",
          "*.*.example", "ex*.example", "a.example.", "*."})
        EXPECT_FALSE(acme::valid_dns_name(bad)) << bad;
    EXPECT_FALSE(acme::valid_dns_name(std::string(64, 'a') + ".example"));
}

TEST(AcmeCrypto, CsrCarriesNamesAndIsSignedByTheCertificateKey) {
    auto k = acme::ec_key::generate();
    std::vector<std::string> names{"mx.example.org", "*.example.org"};
    auto der = acme::make_csr_der(*k, names);
    ASSERT_TRUE(der) << der.error().message;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
    X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
    ASSERT_NE(req, nullptr);
    EXPECT_EQ(X509_REQ_verify(req, k->native()), 1);
    STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
    auto* san =
        static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
    ASSERT_NE(san, nullptr);
    ASSERT_EQ(sk_GENERAL_NAME_num(san), 2);
    for (int i = 0; i < 2; ++i) {
        auto* g = sk_GENERAL_NAME_value(san, i);
        ASSERT_EQ(g->type, GEN_DNS);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName))),
                  names[static_cast<std::size_t>(i)]);
    }
    GENERAL_NAMES_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);

    std::vector<std::string> injected{"a.example,DNS:evil.example"};
    EXPECT_FALSE(acme::make_csr_der(*k, injected));
    EXPECT_FALSE(acme::make_csr_der(*k, std::vector<std::string>{}));
}

// RFC 9773 4.1's example: AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:
// C8:D4 and serial 0x87654321 (DER content 00 87 65 43 21) give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
TEST(AcmeCrypto, AriCertIdOfTheRfcExample) {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    ASSERT_NE(k, nullptr);
    X509* x = X509_new();
    X509_set_version(x, 2);
    BIGNUM* bn = nullptr;
    ASSERT_GT(BN_hex2bn(&bn, "87654321"), 0);
    ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
    X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME* n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("ari.example"), -1, -1, 0);
    X509_set_issuer_name(x, n);
    const unsigned char kid[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, kid, sizeof kid);
    ASSERT_EQ(X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0), 1);
    AUTHORITY_KEYID_free(akid);
    ASSERT_GT(X509_sign(x, k, EVP_sha256()), 0);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* data = nullptr;
    const long len = BIO_get_mem_data(b, &data);
    const std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(b);
    X509_free(x);

    auto id = acme::ari_cert_id(pem);
    ASSERT_TRUE(id) << id.error().text();
    EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");

    // A certificate without AKI (self-signed, as provision's placeholder) has no ARI id.
    X509* y = X509_new();
    X509_set_version(y, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(y), 7);
    X509_gmtime_adj(X509_getm_notBefore(y), 0);
    X509_gmtime_adj(X509_getm_notAfter(y), 86400);
    X509_set_pubkey(y, k);
    X509_set_issuer_name(y, X509_get_subject_name(y));
    ASSERT_GT(X509_sign(y, k, EVP_sha256()), 0);
    BIO* c = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(c, y);
    const long len2 = BIO_get_mem_data(c, &data);
    const std::string pem2(data, static_cast<std::size_t>(len2));
    BIO_free(c);
    X509_free(y);
    EVP_PKEY_free(k);
    EXPECT_FALSE(acme::ari_cert_id(pem2));
}

// --key-type rsa2048: the CSR carries the RSA key and is signed by it; a key read back keeps
// its type; RSA below 2048 bits and curves other than P-256 are refused by name.
TEST(AcmeCrypto, RsaCertificateKeys) {
    auto k = acme::cert_key::generate(acme::key_type::rsa2048);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ(k->type(), acme::key_type::rsa2048);
    EXPECT_EQ(EVP_PKEY_get_bits(k->native()), 2048);
    std::vector<std::string> names{"mx.example.org"};
    auto der = acme::make_csr_der(*k, names);
    ASSERT_TRUE(der) << der.error().message;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
    X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
    ASSERT_NE(req, nullptr);
    EXPECT_EQ(X509_REQ_verify(req, k->native()), 1);
    EVP_PKEY* pub = X509_REQ_get0_pubkey(req);
    ASSERT_NE(pub, nullptr);
    EXPECT_TRUE(EVP_PKEY_is_a(pub, "RSA"));
    X509_REQ_free(req);

    auto again = acme::cert_key::from_pem(k->private_pem());
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->type(), acme::key_type::rsa2048);
    auto ec = acme::cert_key::from_pem(acme::ec_key::generate()->private_pem());
    ASSERT_TRUE(ec);
    EXPECT_EQ(ec->type(), acme::key_type::p256);

    EVP_PKEY* small = EVP_RSA_gen(1024);
    ASSERT_NE(small, nullptr);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, small, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long len = BIO_get_mem_data(b, &data);
    auto weak = acme::cert_key::from_pem(std::string(data, static_cast<std::size_t>(len)));
    BIO_free(b);
    EVP_PKEY_free(small);
    ASSERT_FALSE(weak);
    EXPECT_NE(weak.error().message.find("1024 bits"), std::string::npos) << weak.error().message;

    EVP_PKEY* p384 = EVP_EC_gen("P-384");
    ASSERT_NE(p384, nullptr);
    BIO* c = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(c, p384, nullptr, nullptr, 0, nullptr, nullptr);
    const long len2 = BIO_get_mem_data(c, &data);
    auto other = acme::cert_key::from_pem(std::string(data, static_cast<std::size_t>(len2)));
    BIO_free(c);
    EVP_PKEY_free(p384);
    EXPECT_FALSE(other);

    EXPECT_EQ(acme::parse_key_type("rsa2048"), acme::key_type::rsa2048);
    EXPECT_EQ(acme::parse_key_type("p256"), acme::key_type::p256);
    EXPECT_FALSE(acme::parse_key_type("rsa4096"));
}
