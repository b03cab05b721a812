// common/dkim: one name rule, one key layout, keys made here load and publish as expected.
#include "splitmail/dkim/key.hpp"
#include "splitmail/dkim/record.hpp"
#include "splitmail/durable/file.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace splitmail;
namespace fs = std::filesystem;

TEST(common_dkim, names_are_ldh_labels_with_underscore) {
    for (std::string_view ok : {"example.test", "a.b-c.d", "x_y.example", "2026-ed25519", "_k"})
        EXPECT_TRUE(dkim::valid_domain(ok) && dkim::valid_selector(ok)) << ok;
    for (std::string_view bad : {"", ".", "..", "../etc", "a/b", "a..b", ".a", "a.", "-a", "a-",
                                 "a-.b", "a b", "a;b", "a=b", "\xc3\xa4"})
        EXPECT_FALSE(dkim::valid_domain(bad) || dkim::valid_selector(bad)) << bad;
    EXPECT_TRUE(dkim::valid_selector(std::string(63, 'a')));
    EXPECT_FALSE(dkim::valid_selector(std::string(64, 'a')));
}

TEST(common_dkim, new_keys_load_and_publish_their_public_half) {
    splitmail::test::temp_dir t("common-dkim");
    for (std::string_view alg : {"rsa", "ed25519"}) {
        auto pem = dkim::new_key_pem(alg);
        ASSERT_TRUE(pem) << pem.error();
        const auto file = dkim::key_file(t.path(), "example.test", std::string("s-") + alg.data());
        fs::create_directories(file.parent_path());
        ASSERT_TRUE(durable::replace_file(file, *pem));
        auto k = dkim::load_key(file, "example.test", "s");
        ASSERT_TRUE(k) << k.error();
        EXPECT_EQ(k->alg,
                  alg == "rsa" ? dkim::algorithm::rsa_sha256 : dkim::algorithm::ed25519_sha256);
        auto v = dkim::txt_value_of_file(file);
        ASSERT_TRUE(v) << v.error();
        auto tags = dkim::parse_tag_list(*v);
        ASSERT_TRUE(tags);
        EXPECT_EQ(tags->at("v"), "DKIM1");
        EXPECT_EQ(tags->at("k"), alg);
        EXPECT_EQ(*v, dkim::txt_value(k->pkey.get()).value());
    }
    EXPECT_EQ(dkim::selectors_in(t.path(), "example.test").value(),
              (std::vector<std::string>{"s-ed25519", "s-rsa"}));
    EXPECT_EQ(dkim::load_domain_keys(t.path(), "example.test").value().size(), 2u);
    EXPECT_FALSE(dkim::new_key_pem("dsa"));
}

TEST(common_dkim, errors_name_the_file) {
    splitmail::test::temp_dir t("common-dkim");
    auto missing = dkim::txt_value_of_file(t / "none.key");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find((t / "none.key").string()), std::string::npos);
    ASSERT_TRUE(durable::replace_file(t / "junk.key", "junk\n"));
    auto junk = dkim::txt_value_of_file(t / "junk.key");
    ASSERT_FALSE(junk);
    EXPECT_NE(junk.error().find("not a PEM private key"), std::string::npos) << junk.error();
    auto none = dkim::load_domain_keys(t.path(), "nowhere.test");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("nowhere.test"), std::string::npos);
}

TEST(common_dkim, tag_list) {
    auto t = dkim::parse_tag_list(" v = DKIM1 ;k=rsa; p=AB CD ;");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->at("v"), "DKIM1");
    EXPECT_EQ(t->at("p"), "AB CD");
    EXPECT_FALSE(dkim::parse_tag_list("v=DKIM1; k"));
    EXPECT_FALSE(dkim::parse_tag_list("p=a; p=b"));
    EXPECT_FALSE(dkim::parse_tag_list("=x"));
}
