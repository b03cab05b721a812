// TLSA key rollover (RFC 7671 8.1, setup/rollover.hpp): the step decision, the files of the
// next key, the DNS plan publishing both records, and `splitmail cert rollover` walking a
// self-signed certificate through the steps.
#include "commands/cert.hpp"
#include "dns/plan.hpp"
#include "dns_fixture.hpp"
#include "setup/keys.hpp"
#include "setup/rollover.hpp"
#include "splitmail/durable/file.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <sstream>

namespace {

namespace fs = std::filesystem;
namespace setup = splitmail::provision::setup;
using splitmail::provision::testing::dns_fixture;
using splitmail::provision::testing::read_text;

// "3 1 1 <hex>" of a public key, computed here with OpenSSL directly.
std::string tlsa_of_pkey(EVP_PKEY* k) {
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(k, &der);
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(der, static_cast<std::size_t>(len), md, &n, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    std::string hex;
    char buf[3];
    for (unsigned i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        hex += buf;
    }
    return "3 1 1 " + hex;
}

std::string tlsa_of_key(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (k == nullptr) return "no key";
    std::string t = tlsa_of_pkey(k);
    EVP_PKEY_free(k);
    return t;
}

std::string tlsa_of_cert(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (x == nullptr) return "no cert";
    std::string t = tlsa_of_pkey(X509_get0_pubkey(x));
    X509_free(x);
    return t;
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(Rollover, StepsFollowPublicationAndTwiceTheTtl) {
    EXPECT_EQ(setup::rollover_of(std::nullopt, 1000).step, setup::rollover_step::none);
    setup::next_key k;
    k.pem = "x";
    EXPECT_EQ(setup::rollover_of(k, 1000).step, setup::rollover_step::publish);
    k.published_at = 1000;
    k.ttl = 3600;
    auto st = setup::rollover_of(k, 1000 + 7199);
    EXPECT_EQ(st.step, setup::rollover_step::wait);
    EXPECT_EQ(st.switch_from, 1000 + 7200);
    EXPECT_EQ(setup::rollover_of(k, 1000 + 7200).step, setup::rollover_step::ready);
}

TEST(Rollover, NextKeyFilesAreMadeOnceAndPublicationRecordedOnce) {
    splitmail::test::temp_dir d("rollover");
    const fs::path key = d / "relay.key";
    auto none = setup::read_next_key(key);
    ASSERT_TRUE(none) << none.error();
    EXPECT_FALSE(*none);

    auto made = setup::make_next_key(key);
    ASSERT_TRUE(made) << made.error();
    EXPECT_TRUE(*made);
    EXPECT_EQ(mode_of(setup::next_key_file(key)), 0600u);
    const std::string pem = read_text(setup::next_key_file(key));
    EXPECT_TRUE(setup::valid_private_key(pem));
    auto again = setup::make_next_key(key);
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again) << "an existing next key is never replaced";
    EXPECT_EQ(read_text(setup::next_key_file(key)), pem);

    auto m = setup::mark_next_published(key, 300, 5000);
    ASSERT_TRUE(m) << m.error();
    EXPECT_TRUE(*m);
    auto m2 = setup::mark_next_published(key, 3600, 9000);
    ASSERT_TRUE(m2);
    EXPECT_FALSE(*m2) << "the first publication time stays";
    auto r = setup::read_next_key(key);
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->pem, pem);
    EXPECT_EQ((*r)->published_at, 5000);
    EXPECT_EQ((*r)->ttl, 300u);

    auto f = setup::forget_next_key(key);
    ASSERT_TRUE(f) << f.error();
    EXPECT_FALSE(fs::exists(setup::next_key_file(key)));
    EXPECT_FALSE(fs::exists(setup::next_state_file(key)));
}

TEST(Rollover, DamagedFilesAreNamed) {
    splitmail::test::temp_dir d("rollover");
    const fs::path key = d / "relay.key";
    ASSERT_TRUE(splitmail::durable::replace_file(setup::next_key_file(key), "not a key"));
    auto r = setup::read_next_key(key);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(setup::next_key_file(key).string()), std::string::npos) << r.error();

    fs::remove(setup::next_key_file(key));
    ASSERT_TRUE(setup::make_next_key(key));
    ASSERT_TRUE(splitmail::durable::replace_file(setup::next_state_file(key), "{\"ttl\": 1}"));
    auto s = setup::read_next_key(key);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().find(setup::next_state_file(key).string()), std::string::npos) << s.error();
}

TEST(Rollover, PlanPublishesTheNextKeyBesideTheCurrentOne) {
    dns_fixture f;
    const fs::path key = f.dir / "tls/relay.key";
    auto p0 = splitmail::provision::dns::make_plan(f.s, "example.com");
    ASSERT_TRUE(p0) << p0.error();
    EXPECT_TRUE(p0->rollover_key.empty());

    ASSERT_TRUE(setup::make_next_key(key));
    const std::string next_tlsa = tlsa_of_key(read_text(setup::next_key_file(key)));
    auto p = splitmail::provision::dns::make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    const splitmail::desec::rrset* tlsa = nullptr;
    for (const auto& r : p->rrsets)
        if (r.subname == "_25._tcp.mx" && r.type == "TLSA") tlsa = &r;
    ASSERT_TRUE(tlsa);
    auto recs = tlsa->records;
    std::sort(recs.begin(), recs.end());
    std::vector<std::string> want{"3 1 1 " + f.spki_sha256, next_tlsa};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(recs, want);
    EXPECT_EQ(p->rollover_key, key);
}

struct cert_run {
    int code;
    std::string out, err;
};
cert_run cert(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = splitmail::provision::run_cert(args, out, err);
    return {code, out.str(), err.str()};
}

// A self-signed certificate for mx.example.com written to `key` and `crt`, as provision does.
setup::tls_pair self_signed_files(const fs::path& key, const fs::path& crt,
                                  std::vector<std::string> more_names = {}) {
    auto pair = setup::make_self_signed("mx.example.com", 30, std::move(more_names));
    EXPECT_TRUE(pair) << pair.error();
    if (!pair) return {};
    EXPECT_TRUE(splitmail::durable::replace_file(key, pair->key_pem));
    EXPECT_TRUE(splitmail::durable::replace_file(crt, pair->cert_pem));
    return *pair;
}

TEST(Rollover, CertRolloverWalksASelfSignedCertificateThroughTheSteps) {
    splitmail::test::temp_dir d("rollover");
    const fs::path key = d / "relay.key", crt = d / "relay.crt";
    const auto pair = self_signed_files(key, crt, {"smtp.example.com"});
    ASSERT_FALSE(pair.key_pem.empty());
    const std::vector<std::string> base{"rollover", "--cert", crt.string(), "--key", key.string()};

    auto r1 = cert(base);
    ASSERT_EQ(r1.code, 0) << r1.err;
    EXPECT_NE(r1.out.find("step 1 of 3"), std::string::npos) << r1.out;
    const std::string next_pem = read_text(setup::next_key_file(key));
    EXPECT_EQ(read_text(key), pair.key_pem) << "the current key stays until the switch";

    auto r2 = cert(base);
    EXPECT_EQ(r2.code, 75) << "not published yet";
    EXPECT_NE(r2.err.find("splitmail dns apply"), std::string::npos) << r2.err;

    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    ASSERT_TRUE(setup::mark_next_published(key, 3600, now - 60));
    auto r3 = cert(base);
    EXPECT_EQ(r3.code, 75) << "published a minute ago, TTL 1 h: wait";
    EXPECT_NE(r3.err.find("step 2 of 3"), std::string::npos) << r3.err;
    EXPECT_EQ(read_text(crt), pair.cert_pem);

    // Two TTLs later (the record's publication moved back in time), the switch.
    ASSERT_TRUE(setup::forget_next_key(key));
    ASSERT_TRUE(splitmail::durable::replace_file(setup::next_key_file(key), next_pem));
    ASSERT_TRUE(setup::mark_next_published(key, 3600, now - 7201));
    auto r4 = cert(base);
    ASSERT_EQ(r4.code, 0) << r4.err;
    EXPECT_NE(r4.out.find("step 3 of 3"), std::string::npos) << r4.out;
    EXPECT_EQ(read_text(key), next_pem);
    EXPECT_EQ(mode_of(key), 0600u);
    const std::string new_cert = read_text(crt);
    EXPECT_EQ(tlsa_of_cert(new_cert), tlsa_of_key(next_pem))
        << "the certificate is for the next key";
    auto info = setup::inspect_cert(new_cert, next_pem, crt.string());
    ASSERT_TRUE(info) << info.error();
    EXPECT_TRUE(info->self_signed);
    EXPECT_TRUE(setup::cert_covers_host(new_cert, "mx.example.com"));
    EXPECT_TRUE(setup::cert_covers_host(new_cert, "smtp.example.com"));
    EXPECT_FALSE(fs::exists(setup::next_key_file(key)));
    EXPECT_FALSE(fs::exists(setup::next_state_file(key)));
}

TEST(Rollover, ForceSwitchesBeforeTwiceTheTtlButNeverBeforePublication) {
    splitmail::test::temp_dir d("rollover");
    const fs::path key = d / "relay.key", crt = d / "relay.crt";
    const auto pair = self_signed_files(key, crt);
    ASSERT_FALSE(pair.key_pem.empty());
    std::vector<std::string> args{"rollover", "--cert",     crt.string(),
                                  "--key",    key.string(), "--force"};
    ASSERT_EQ(cert(args).code, 0);
    EXPECT_EQ(cert(args).code, 75) << "--force does not skip publication";
    ASSERT_TRUE(
        setup::mark_next_published(key, 3600, static_cast<std::int64_t>(std::time(nullptr))));
    auto r = cert(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(read_text(key), pair.key_pem);
}

} // namespace

namespace {
int file_fsyncs = 0;
int fail_second_file_fsync(int, bool directory) {
    if (directory) return 0;
    return ++file_fsyncs == 2 ? EIO : 0;
}
} // namespace

// The switch writes the key, then the certificate; when the certificate cannot be written the
// old key goes back, so the pair on disk still belongs together (the next key stays for a retry).
TEST(Rollover, AFailedCertificateWritePutsTheOldKeyBack) {
    splitmail::test::temp_dir d("rollover");
    const fs::path key = d / "relay.key", crt = d / "relay.crt";
    const auto pair = self_signed_files(key, crt);
    ASSERT_FALSE(pair.key_pem.empty());
    std::vector<std::string> args{"rollover", "--cert", crt.string(), "--key", key.string()};
    ASSERT_EQ(cert(args).code, 0);
    ASSERT_TRUE(setup::mark_next_published(key, 60, 1000));
    file_fsyncs = 0;
    cert_run r;
    {
        splitmail::durable::test_hooks::scoped_fsync_hook hook(fail_second_file_fsync);
        r = cert(args);
    }
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("the old key was put back"), std::string::npos) << r.err;
    EXPECT_EQ(read_text(key), pair.key_pem);
    EXPECT_EQ(read_text(crt), pair.cert_pem);
    EXPECT_TRUE(fs::exists(setup::next_key_file(key))) << "the rollover can be run again";
}
