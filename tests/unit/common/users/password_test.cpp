// Password schemes against hashes made by Dovecot's doveadm (checked-in fixtures, and fresh
// ones made at test time), plus our own argon2id hashes read back by doveadm.
#include "splitmail/users/password.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace splitmail::users;

namespace {

const std::string kPassword = "correct horse \xE2\x9C\x93 battery";

std::vector<std::string> fixture_hashes() {
    std::ifstream in(std::string(SPLITMAIL_TEST_DATA) + "/users/doveadm_hashes.txt");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#') out.push_back(line);
    return out;
}

std::string run(const std::string& cmd) {
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    std::string out;
    if (!p) return out;
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p.get())) out += buf.data();
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

} // namespace

TEST(Password, DoveadmFixturesVerify) {
    auto hashes = fixture_hashes();
    ASSERT_EQ(hashes.size(), 11u);
    for (const auto& h : hashes) {
        SCOPED_TRACE(h);
        EXPECT_NE(scheme_of(h), scheme::unknown);
        EXPECT_EQ(verify_password(kPassword, h), verify_result::match);
        EXPECT_EQ(verify_password("correct horse battery", h), verify_result::mismatch);
        EXPECT_EQ(verify_password("", h), verify_result::mismatch);
    }
}

TEST(Password, FreshDoveadmHashesVerify) {
    if (::access("/usr/bin/doveadm", X_OK) != 0)
        GTEST_SKIP() << "SKIPPED LOUDLY: /usr/bin/doveadm missing; run ./scripts/deps "
                        "(dovecot-core comes with dovecot-lmtpd)";
    for (std::string s : {"ARGON2ID", "ARGON2I", "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT",
                          "SSHA512", "SHA512", "PLAIN"}) {
        SCOPED_TRACE(s);
        auto h = run("/usr/bin/doveadm pw -s " + s + " -p 's3cr3t:with spaces'");
        ASSERT_EQ(h.rfind("{" + s + "}", 0), 0u) << h;
        EXPECT_EQ(verify_password("s3cr3t:with spaces", h), verify_result::match);
        EXPECT_EQ(verify_password("s3cr3t:with spaceS", h), verify_result::mismatch);
    }
}

TEST(Password, OurArgon2idIsDovecotCompatible) {
    auto h = hash_password(kPassword);
    ASSERT_TRUE(h) << h.error();
    EXPECT_EQ(h->rfind("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", 0), 0u) << *h;
    EXPECT_EQ(verify_password(kPassword, *h), verify_result::match);
    EXPECT_EQ(verify_password("wrong", *h), verify_result::mismatch);
    auto h2 = hash_password(kPassword);
    ASSERT_TRUE(h2);
    EXPECT_NE(*h, *h2) << "salt must be random";
    if (::access("/usr/bin/doveadm", X_OK) == 0) {
        // doveadm pw -t verifies a hash; it prints "(verified)" on success.
        auto out = run("/usr/bin/doveadm pw -t '" + *h + "' -p 'correct horse \xE2\x9C\x93 battery' 2>&1");
        EXPECT_NE(out.find("verified"), std::string::npos) << out;
    }
}

TEST(Password, SchemeNamesAreCaseInsensitive) {
    EXPECT_EQ(scheme_of("{plain}x"), scheme::plain);
    EXPECT_EQ(verify_password("x", "{plain}x"), verify_result::match);
    EXPECT_EQ(scheme_of("{sha512-crypt}$6$a$b"), scheme::sha512_crypt);
}

TEST(Password, MalformedAndUnknown) {
    EXPECT_EQ(verify_password("x", "x"), verify_result::unsupported);
    EXPECT_EQ(verify_password("x", "{MD5}abc"), verify_result::unsupported);
    EXPECT_EQ(verify_password("x", "{}x"), verify_result::unsupported);
    EXPECT_EQ(verify_password("x", "{SHA512-CRYPT}$5$abc$def"), verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{SHA512-CRYPT}garbage"), verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$!!$!!"),
              verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{ARGON2ID}$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA"),
              verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{SHA512}notbase64!"), verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{SHA512}AAAA"), verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{SSHA512}AAAA"), verify_result::malformed);
    EXPECT_EQ(verify_password("x", "{BLF-CRYPT}$1$abc"), verify_result::malformed);
    // A NUL in the password can never match a crypt(3) hash.
    EXPECT_EQ(verify_password(std::string("a\0b", 3),
                              "{SHA256-CRYPT}$5$tqpRgl8VOOoqTA4a$EdntFQyrDGPjw27FjKMZ9um5SbZGe.W2GmQD91.frVA"),
              verify_result::mismatch);
}

TEST(Password, WeakSchemes) {
    EXPECT_TRUE(is_weak("{PLAIN}x"));
    EXPECT_TRUE(is_weak("{CLEARTEXT}x"));
    EXPECT_TRUE(is_weak("{SHA512}x"));
    EXPECT_FALSE(is_weak("{SSHA512}x"));
    EXPECT_FALSE(is_weak("{ARGON2ID}x"));
}

TEST(Password, ConstantTimeEqual) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
}
