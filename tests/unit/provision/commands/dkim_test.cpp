// `splitmail dkim keygen|txt`: files, modes, records, refusal to overwrite, usage errors.
#include "commands/dkim.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

using namespace splitmail::provision;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "dkim-cli-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_dir() { fs::remove_all(path); }
};

struct result {
    int code;
    std::string out, err;
};

result run(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = run_dkim(args, out, err);
    return {code, out.str(), err.str()};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Concatenated character-strings of the TXT record line for `name`.
std::string record_value(const std::string& out, const std::string& name) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with(name + ". IN TXT ")) continue;
        std::string v;
        const std::regex str("\"([^\"]*)\"");
        for (std::sregex_iterator it(line.begin(), line.end(), str), end; it != end; ++it) {
            EXPECT_LE((*it)[1].length(), 255);
            v += (*it)[1];
        }
        return v;
    }
    return {};
}

} // namespace

TEST(dkim_cli, keygen_both_writes_two_private_keys_and_prints_their_records) {
    temp_dir d;
    auto r =
        run({"keygen", "--domain", "example.test", "--selector", "s1", "--dir", d.path.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    const fs::path rsa = d.path / "example.test" / "s1-rsa.key";
    const fs::path ed = d.path / "example.test" / "s1-ed25519.key";
    ASSERT_TRUE(fs::exists(rsa) && fs::exists(ed)) << r.out;
    EXPECT_EQ(fs::status(rsa).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(ed).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(d.path / "example.test").permissions() & fs::perms::all,
              fs::perms::owner_all);
    EXPECT_TRUE(read_file(rsa).starts_with("-----BEGIN PRIVATE KEY-----"));

    const std::string rsa_txt = record_value(r.out, "s1-rsa._domainkey.example.test");
    const std::string ed_txt = record_value(r.out, "s1-ed25519._domainkey.example.test");
    EXPECT_TRUE(
        rsa_txt.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"))
        << rsa_txt;                  // SubjectPublicKeyInfo of an RSA-2048 key
    EXPECT_GT(rsa_txt.size(), 255u); // so the split into character-strings was exercised
    EXPECT_TRUE(std::regex_match(ed_txt, std::regex("v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=")))
        << ed_txt;
    // The printed records are those of the written keys.
    EXPECT_EQ(dkim_txt_value(rsa).value(), rsa_txt);
    EXPECT_EQ(dkim_txt_value(ed).value(), ed_txt);
    auto t = run({"txt", "--domain", "example.test", "--dir", d.path.string()});
    ASSERT_EQ(t.code, 0) << t.err;
    EXPECT_EQ(record_value(t.out, "s1-rsa._domainkey.example.test"), rsa_txt);
    EXPECT_EQ(record_value(t.out, "s1-ed25519._domainkey.example.test"), ed_txt);
}

TEST(dkim_cli, single_algorithm_uses_the_selector_as_given) {
    temp_dir d;
    auto r = run({"keygen", "--domain", "example.test", "--selector", "2026", "--algorithm",
                  "ed25519", "--dir", d.path.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(d.path / "example.test" / "2026.key"));
    EXPECT_FALSE(record_value(r.out, "2026._domainkey.example.test").empty()) << r.out;
    auto k = run({"keygen", "--domain", "example.test", "--selector", "r", "--algorithm", "rsa",
                  "--dir", d.path.string()});
    ASSERT_EQ(k.code, 0) << k.err;
    EXPECT_TRUE(record_value(k.out, "r._domainkey.example.test").starts_with("v=DKIM1; k=rsa;"));
}

TEST(dkim_cli, refuses_to_overwrite_without_force) {
    temp_dir d;
    const std::vector<std::string> args = {"keygen", "--domain", "example.test", "--selector",
                                           "s",      "--dir",    d.path.string()};
    ASSERT_EQ(run(args).code, 0);
    const fs::path rsa = d.path / "example.test" / "s-rsa.key";
    const std::string before = read_file(rsa);
    // Only the Ed25519 key missing: still nothing written, since the RSA one exists.
    fs::remove(d.path / "example.test" / "s-ed25519.key");
    auto again = run(args);
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.err.find(rsa.string()), std::string::npos) << again.err;
    EXPECT_NE(again.err.find("--force"), std::string::npos);
    EXPECT_EQ(read_file(rsa), before);
    EXPECT_FALSE(fs::exists(d.path / "example.test" / "s-ed25519.key"));

    auto forced = args;
    forced.push_back("--force");
    ASSERT_EQ(run(forced).code, 0);
    EXPECT_NE(read_file(rsa), before);
    EXPECT_TRUE(fs::exists(d.path / "example.test" / "s-ed25519.key"));
    for (const auto& e : fs::directory_iterator(d.path / "example.test"))
        EXPECT_EQ(e.path().extension(), ".key") << "temporary file left: " << e.path();
}

TEST(dkim_cli, usage_errors) {
    EXPECT_EQ(run({}).code, 2);
    EXPECT_EQ(run({"frobnicate"}).code, 2);
    EXPECT_EQ(run({"keygen", "--selector", "s"}).code, 2);          // no domain
    EXPECT_EQ(run({"keygen", "--domain", "example.test"}).code, 2); // no selector
    EXPECT_EQ(run({"keygen", "--domain", "../etc", "--selector", "s"}).code, 2);
    EXPECT_EQ(run({"keygen", "--domain", "example.test", "--selector", "a/b"}).code, 2);
    EXPECT_EQ(
        run({"keygen", "--domain", "example.test", "--selector", "s", "--algorithm", "dsa"}).code,
        2);
    EXPECT_EQ(run({"keygen", "--domain", "example.test", "--selector"}).code, 2);
    EXPECT_EQ(run({"keygen", "--help"}).code, 0);
}

TEST(dkim_cli, txt_errors_name_the_file) {
    temp_dir d;
    auto none = run({"txt", "--domain", "example.test", "--dir", d.path.string()});
    EXPECT_EQ(none.code, 1);
    fs::create_directories(d.path / "example.test");
    std::ofstream(d.path / "example.test" / "bad.key") << "junk";
    auto bad =
        run({"txt", "--domain", "example.test", "--selector", "bad", "--dir", d.path.string()});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find((d.path / "example.test" / "bad.key").string()), std::string::npos)
        << bad.err;
}

TEST(dkim_cli, txt_strings_split_at_255) {
    EXPECT_EQ(txt_strings(""), "\"\"");
    EXPECT_EQ(txt_strings("abc"), "\"abc\"");
    const std::string v(600, 'x');
    EXPECT_EQ(txt_strings(v), "\"" + std::string(255, 'x') + "\" \"" + std::string(255, 'x') +
                                  "\" \"" + std::string(90, 'x') + "\"");
}
