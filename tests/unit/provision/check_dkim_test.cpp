// Unit tests of provision/check/dkim_record: published key vs local key.
#include "check/dkim_record.hpp"
#include "check/records.hpp"

#include <gtest/gtest.h>

using namespace splitmail::provision::check;

namespace {
const std::string key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuNPTifrteIzDDID4MOFRsm";
const std::string local = "v=DKIM1; k=rsa; p=" + key;
} // namespace

TEST(CheckDkim, TagList) {
    auto t = parse_tag_list(" v = DKIM1 ;k=rsa; p=AB CD ;");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->at("v"), "DKIM1");
    EXPECT_EQ(t->at("p"), "AB CD");
    EXPECT_FALSE(parse_tag_list("v=DKIM1; k"));
    EXPECT_FALSE(parse_tag_list("p=a; p=b"));
    EXPECT_FALSE(parse_tag_list("=x"));
}

TEST(CheckDkim, SameKeyIgnoresSplittingAndWhitespace) {
    EXPECT_EQ(compare_dkim(local, local), dkim_match::same);
    // Split into two TXT strings in the middle of p=, as zone files and deSEC do.
    auto joined =
        txt_joined("\"v=DKIM1; k=rsa; p=" + key.substr(0, 20) + "\" \"" + key.substr(20) + "\"");
    ASSERT_TRUE(joined);
    EXPECT_EQ(compare_dkim(local, *joined), dkim_match::same);
    std::string spaced = "v=DKIM1;k=rsa;  p = ";
    for (std::size_t i = 0; i < key.size(); i += 10) spaced += key.substr(i, 10) + " \t";
    EXPECT_EQ(compare_dkim(local, spaced), dkim_match::same);
    // k= defaults to rsa; extra tags (t=, h=) do not matter.
    EXPECT_EQ(compare_dkim(local, "p=" + key + "; t=s; h=sha256"), dkim_match::same);
}

TEST(CheckDkim, Differences) {
    EXPECT_EQ(compare_dkim(local, "v=DKIM1; k=rsa; p=" + key.substr(1)), dkim_match::different);
    EXPECT_EQ(compare_dkim(local, "v=DKIM1; k=ed25519; p=" + key), dkim_match::different);
    EXPECT_EQ(compare_dkim(local, "v=DKIM1; k=rsa; p="), dkim_match::revoked);
    EXPECT_EQ(compare_dkim(local, "v=DKIM2; p=" + key), dkim_match::not_dkim);
    EXPECT_EQ(compare_dkim(local, "v=spf1 -all"), dkim_match::not_dkim);
    EXPECT_EQ(compare_dkim(local, "v=DKIM1; k=rsa"), dkim_match::not_dkim);
    EXPECT_EQ(compare_dkim("v=DKIM1; k=ed25519; p=ABC=", "v=DKIM1; k=ED25519; p=ABC="),
              dkim_match::same);
}
