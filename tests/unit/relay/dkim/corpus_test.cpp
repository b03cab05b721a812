// Signs every message of tests/data/dkim/corpus with an RSA and an Ed25519 key and checks the
// result's shape. The integration test tests/integration/test_dkim_verify.py runs this test
// with freshly generated keys (SPLITMAIL_DKIM_KEY_DIR, SPLITMAIL_DKIM_DOMAIN) and collects the
// signed messages (SPLITMAIL_DKIM_SIGNED_DIR) to verify them with dkimpy and OpenDKIM. Without
// those variables it uses the checked-in test keys and writes nothing.
#include "dkim/signer.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace splitmail::relay::dkim;
namespace fs = std::filesystem;

namespace {
std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    EXPECT_TRUE(in) << p;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
}
} // namespace

TEST(dkim_corpus, every_message_gets_one_signature_per_key) {
    const fs::path data = fs::path(SPLITMAIL_TEST_DATA) / "dkim";
    const fs::path key_dir =
        env("SPLITMAIL_DKIM_KEY_DIR") ? env("SPLITMAIL_DKIM_KEY_DIR") : (data / "keys").string();
    const std::string domain =
        env("SPLITMAIL_DKIM_DOMAIN") ? env("SPLITMAIL_DKIM_DOMAIN") : "example.test";
    const char* out_dir = env("SPLITMAIL_DKIM_SIGNED_DIR");

    auto keys = load_domain_keys(key_dir, domain);
    ASSERT_TRUE(keys) << keys.error();
    ASSERT_EQ(keys->size(), 2u);
    signer s(std::move(*keys));

    std::map<std::string, std::string> expected_bh;
    std::istringstream bh_lines(read_file(data / "bodyhash.expected"));
    for (std::string line; std::getline(bh_lines, line);)
        if (!line.empty() && line[0] != '#')
            expected_bh[line.substr(0, line.find(' '))] = line.substr(line.find(' ') + 1);

    int signed_count = 0;
    for (const auto& entry : fs::directory_iterator(data / "corpus")) {
        const std::string name = entry.path().filename().string();
        const std::string msg = read_file(entry.path());
        auto prefix = s.sign(msg, 1700000000);
        ASSERT_TRUE(prefix) << name << ": " << prefix.error();

        // Two fields, RSA first, each line < 78 columns, the dkimpy body hash in both.
        std::size_t fields = 0, at = 0;
        while ((at = prefix->find("DKIM-Signature: ", at)) != std::string::npos) {
            ++fields;
            ++at;
        }
        EXPECT_EQ(fields, 2u) << name;
        EXPECT_TRUE(prefix->starts_with("DKIM-Signature: v=1; a=rsa-sha256;")) << name;
        std::istringstream lines(*prefix);
        for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 77u) << line;
        const std::string flat = relaxed_header(*prefix);
        ASSERT_TRUE(expected_bh.count(name)) << name << " missing from bodyhash.expected";
        std::size_t bh_count = 0;
        for (at = 0; (at = flat.find("bh=" + expected_bh[name] + ";", at)) != std::string::npos;
             ++at)
            ++bh_count;
        EXPECT_EQ(bh_count, 2u) << name;
        EXPECT_NE(flat.find("h=from:from:"), std::string::npos) << name;

        if (out_dir != nullptr) {
            std::ofstream out(fs::path(out_dir) / name, std::ios::binary);
            out << *prefix << msg; // the prefix in front; the message untouched
            ASSERT_TRUE(out.good()) << out_dir;
        }
        ++signed_count;
    }
    EXPECT_EQ(signed_count, static_cast<int>(expected_bh.size()));
}
