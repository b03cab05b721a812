// Server TLS contexts: TLS 1.2 offers only AEAD suites by default (Mozilla intermediate), the
// list is configurable, and a bad list is an error naming it.
#include "splitmail/net/tls.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace splitmail;

namespace {

class ServerTls : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sm-tls-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        auto cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                   "-days 2 -subj /CN=t -keyout " +
                   (dir_ / "k.pem").string() + " -out " + (dir_ / "c.pem").string() +
                   " 2>/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // The TLS 1.2 suites a server SSL made from `ctx` would accept.
    static std::vector<std::string> tls12_suites(const net::tls_context& ctx, bool aead) {
        std::vector<std::string> out;
        SSL* ssl = SSL_new(ctx->native_handle());
        STACK_OF(SSL_CIPHER)* list = SSL_get_ciphers(ssl);
        for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
            const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
            if (std::string(SSL_CIPHER_get_version(c)) == "TLSv1.3") continue;
            if ((SSL_CIPHER_is_aead(c) != 0) == aead) out.emplace_back(SSL_CIPHER_get_name(c));
        }
        SSL_free(ssl);
        return out;
    }

    fs::path dir_;
};

} // namespace

TEST_F(ServerTls, DefaultOffersOnlyAeadSuitesForTls12) {
    auto ctx = net::make_server_tls(dir_ / "c.pem", dir_ / "k.pem");
    ASSERT_TRUE(ctx) << ctx.error();
    auto cbc = tls12_suites(*ctx, false);
    EXPECT_TRUE(cbc.empty()) << "first non-AEAD suite: " << cbc.front();
    auto aead = tls12_suites(*ctx, true);
    EXPECT_NE(std::find(aead.begin(), aead.end(), "ECDHE-ECDSA-AES128-GCM-SHA256"), aead.end());
    EXPECT_NE(std::find(aead.begin(), aead.end(), "ECDHE-ECDSA-CHACHA20-POLY1305"), aead.end());
}

TEST_F(ServerTls, CipherListIsConfigurableAndEmptyMeansOpenSslDefaults) {
    auto one = net::make_server_tls(dir_ / "c.pem", dir_ / "k.pem", false,
                                    "ECDHE-ECDSA-AES256-GCM-SHA384");
    ASSERT_TRUE(one) << one.error();
    EXPECT_EQ(tls12_suites(*one, true), std::vector<std::string>{"ECDHE-ECDSA-AES256-GCM-SHA384"});
    auto defaults = net::make_server_tls(dir_ / "c.pem", dir_ / "k.pem", false, "");
    ASSERT_TRUE(defaults) << defaults.error();
    EXPECT_FALSE(tls12_suites(*defaults, false).empty()) << "OpenSSL's defaults include CBC";
}

TEST_F(ServerTls, BadCipherListIsAnErrorNamingIt) {
    EXPECT_EQ(net::check_cipher_list(net::default_server_ciphers), "");
    EXPECT_EQ(net::check_cipher_list(""), "");
    auto why = net::check_cipher_list("NO-SUCH-CIPHER");
    EXPECT_NE(why.find("NO-SUCH-CIPHER"), std::string::npos) << why;
    auto ctx = net::make_server_tls(dir_ / "c.pem", dir_ / "k.pem", false, "NO-SUCH-CIPHER");
    ASSERT_FALSE(ctx);
    EXPECT_NE(ctx.error().find("NO-SUCH-CIPHER"), std::string::npos) << ctx.error();
}
