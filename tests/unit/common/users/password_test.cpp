// Password schemes against hashes made by Dovecot's doveadm (checked-in fixtures, and fresh
// ones made at test time), plus our own argon2id hashes read back by doveadm.
#include "splitmail/users/password.hpp"

#include <argon2.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
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
    // The cross-check is the point of the test: without doveadm it fails (scripts/deps
    // installs dovecot-core with dovecot-lmtpd).
    ASSERT_EQ(::access("/usr/bin/doveadm", X_OK), 0)
        << "/usr/bin/doveadm missing; run ./scripts/deps";
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
    // doveadm pw -t verifies a hash; it prints "(verified)" on success. Its absence is a
    // failure (scripts/deps installs it), not a quietly dropped cross-check.
    ASSERT_EQ(::access("/usr/bin/doveadm", X_OK), 0) << "/usr/bin/doveadm missing";
    auto out =
        run("/usr/bin/doveadm pw -t '" + *h + "' -p 'correct horse \xE2\x9C\x93 battery' 2>&1");
    EXPECT_NE(out.find("verified"), std::string::npos) << out;
}

// argon2 goes to libsodium first and to libargon2 for what libsodium does not read. Each vector is
// checked three ways: verify_password, the libsodium half alone, and libargon2 directly (the
// reference: whatever it said before libsodium came in, verify_password must still say).
namespace {

const std::string kArgonPassword = "Tr0ub4dor&3 \xC3\xBC";

verify_result libargon2_says(std::string_view pw, const std::string& encoded) {
    bool id = encoded.rfind("$argon2id$", 0) == 0;
    int rc = id ? argon2id_verify(encoded.c_str(), pw.data(), pw.size())
                : argon2i_verify(encoded.c_str(), pw.data(), pw.size());
    if (rc == ARGON2_OK) return verify_result::match;
    if (rc == ARGON2_VERIFY_MISMATCH) return verify_result::mismatch;
    return verify_result::malformed;
}

struct argon_vector {
    const char* what;
    std::string stored; // "{SCHEME}$argon2..."
    bool libsodium;     // verified by libsodium (else left to libargon2)
};

std::vector<argon_vector> argon_vectors() {
    return {
        // doveadm pw -s ARGON2ID -p 'Tr0ub4dor&3 ü' (Debian 12 dovecot-core 2.3.19.1)
        {"doveadm ARGON2ID",
         "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$7mQikP34o9GU+kM6zX7XiQ$"
         "x8b6OVUyi5ErlRDa674VmAXXL8LAMktRFitkq7PVHhU",
         true},
        // argon2 CLI (libargon2): p=2 -- libsodium computes the lanes one after the other
        {"argon2id p=2",
         "{ARGON2ID}$argon2id$v=19$m=4096,t=2,p=2$cDJzYWx0cDJzYWx0$"
         "VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/2QL8",
         true},
        // argon2 CLI: argon2i t=1 (below libsodium's opslimit minimum for *making* argon2i)
        {"argon2i t=1",
         "{ARGON2I}$argon2i$v=19$m=4096,t=1,p=1$aXNhbHRpc2FsdGlzYWx0$"
         "zkEvzmR9bkpyyG9XAN3LY8bcTdFooq5f4m+QFi+fnoQ",
         true},
        // argon2 CLI -v 10: version 0x10, which libsodium refuses -> libargon2
        {"argon2id v=16",
         "{ARGON2ID}$argon2id$v=16$m=4096,t=2,p=1$djE2c2FsdHYxNnNhbHQ$"
         "9Ybc6ZbqvZ/zZt0M7qWGomFA3mOcvRcLzC2LNYRLXfo",
         false},
        {"argon2i v=16",
         "{ARGON2I}$argon2i$v=16$m=4096,t=2,p=1$djE2c2FsdHYxNnNhbHQ$"
         "WwaAmzpkOL+YuhEiSsUf+op7uJEyUEObl0RvZHxleC4",
         false},
        // the same without "$v=" (libargon2 reads it as 0x10) -> libargon2
        {"argon2id without v=",
         "{ARGON2ID}$argon2id$m=4096,t=2,p=1$djE2c2FsdHYxNnNhbHQ$"
         "9Ybc6ZbqvZ/zZt0M7qWGomFA3mOcvRcLzC2LNYRLXfo",
         false},
    };
}

} // namespace

TEST(Password, Argon2LibsodiumAndFallback) {
    for (const auto& v : argon_vectors()) {
        SCOPED_TRACE(v.what);
        std::string encoded = v.stored.substr(v.stored.find('}') + 1);
        bool id = scheme_of(v.stored) == scheme::argon2id;
        EXPECT_EQ(libargon2_says(kArgonPassword, encoded), verify_result::match);
        EXPECT_EQ(verify_password(kArgonPassword, v.stored), verify_result::match);
        EXPECT_EQ(verify_password("Tr0ub4dor&3 u", v.stored), verify_result::mismatch);
        EXPECT_EQ(verify_password("", v.stored), verify_result::mismatch);
        auto sodium = detail::verify_argon2_with_libsodium(kArgonPassword, encoded, id);
        if (v.libsodium) {
            EXPECT_EQ(sodium, verify_result::match);
            EXPECT_EQ(detail::verify_argon2_with_libsodium("wrong", encoded, id),
                      verify_result::mismatch);
        } else {
            EXPECT_EQ(sodium, std::nullopt);
        }
    }
    // What hash_password makes (libsodium) reads back with libargon2 as well.
    auto ours = hash_password(kArgonPassword);
    ASSERT_TRUE(ours) << ours.error();
    EXPECT_EQ(libargon2_says(kArgonPassword, ours->substr(10)), verify_result::match);
}

// Run alone (ctest starts a process per test) this is the first use of libsodium in the
// process, from the two threads at once, as on home's auth pool.
TEST(Password, Argon2FirstUseFromTwoThreads) {
    const std::string stored = "{ARGON2ID}$argon2id$v=19$m=4096,t=2,p=2$cDJzYWx0cDJzYWx0$"
                               "VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/2QL8";
    std::array<verify_result, 4> got{};
    std::thread a([&] {
        got[0] = verify_password(kArgonPassword, stored);
        got[1] = verify_password("no", stored);
    });
    std::thread b([&] {
        got[2] = verify_password(kArgonPassword, stored);
        got[3] = verify_password("no", stored);
    });
    a.join();
    b.join();
    EXPECT_EQ(got[0], verify_result::match);
    EXPECT_EQ(got[1], verify_result::mismatch);
    EXPECT_EQ(got[2], verify_result::match);
    EXPECT_EQ(got[3], verify_result::mismatch);
}

TEST(Password, Argon2TruncatedAndGarbageAsBefore) {
    const std::string good = "$argon2id$v=19$m=65536,t=3,p=1$7mQikP34o9GU+kM6zX7XiQ$"
                             "x8b6OVUyi5ErlRDa674VmAXXL8LAMktRFitkq7PVHhU";
    std::vector<std::string> bad;
    // Cuts of the doveadm hash: in the digest (a cut that still decodes is a shorter digest,
    // so a mismatch), at and before the last '$', in the salt and in the parameters.
    for (std::size_t n : {good.size() - 1, good.size() - 2, good.size() - 3, good.size() - 4,
                          good.find('$', 32) + 1, good.find('$', 32), std::size_t{40},
                          std::size_t{30}, std::size_t{17}, std::size_t{10}})
        bad.push_back(good.substr(0, n));
    for (const char* g : {
             "$argon2id$v=19$m=65536,t=3,p=1$!!$!!",
             "$argon2id$v=19$m=065536,t=3,p=1$7mQikP34o9GU+kM6zX7XiQ$x8b6OVUyi5ErlRDa674VmAXX",
             "$argon2id$v=19$m=4,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8",
             "$argon2id$v=19$m=8,t=0,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8",
             "$argon2id$v=19$m=8,t=1,p=0$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8",
             "$argon2id$v=19$m=8,t=1,p=1$cDJz$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/2QL8",
             "$argon2id$v=19$m=8,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJo",
             "$argon2id$v=19$m=8,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8x",
             "$argon2id$v=19$m=8,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8$",
             "$argon2id$v=20$m=8,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8",
             "$argon2id$v=19$m=8,t=1,p=1,data=AAAA$cDJzYWx0cDJzYWx0$VN3KR1/"
             "4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/2QL8",
         })
        bad.push_back(g);
    const char with_nul[] = "$argon2id$v=19$m=8,t=1,p=1$cDJzYWx0cDJzYWx0\0$VN3KR1/4oUJgEU6cFvJo";
    bad.emplace_back(with_nul, sizeof with_nul - 1);
    for (const auto& enc : bad) {
        SCOPED_TRACE(enc);
        auto want = libargon2_says("x", enc);
        EXPECT_NE(want, verify_result::match);
        EXPECT_EQ(verify_password("x", "{ARGON2ID}" + enc), want);
    }
    // Memory costs over 4 GiB are malformed without an allocation attempt (libargon2 itself
    // would try to malloc them: 4 TiB here, which AddressSanitizer aborts on).
    for (const char* huge : {
             "$argon2id$v=19$m=4294967295,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/"
             "4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/2QL8",
             "$argon2id$m=4194305,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg/"
             "2QL8",
             "$argon2id$v=19$m=99999999999999999999999,t=1,p=1$cDJzYWx0cDJzYWx0$VN3KR1/"
             "4oUJgEU6cFvJo",
         }) {
        SCOPED_TRACE(huge);
        EXPECT_EQ(verify_password("x", std::string("{ARGON2ID}") + huge), verify_result::malformed);
    }
    // A decodable shorter digest is a plain mismatch, also for the right password:
    const std::string short_digest =
        "$argon2id$v=19$m=4096,t=2,p=2$cDJzYWx0cDJzYWx0$VN3KR1/4oUJgEU6cFvJoxoI01s+bGR5AEODlEg";
    EXPECT_EQ(libargon2_says(kArgonPassword, short_digest), verify_result::mismatch);
    EXPECT_EQ(verify_password(kArgonPassword, "{ARGON2ID}" + short_digest),
              verify_result::mismatch);
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
    EXPECT_EQ(verify_password(
                  std::string("a\0b", 3),
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
