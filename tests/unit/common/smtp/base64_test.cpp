// SASL base64 (RFC 4648 4): canonical padded input only, so one credential has one encoding.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/base64.hpp"

using namespace splitmail::smtp;

TEST(base64, round_trip_and_padding) {
    const std::vector<std::string> inputs = {"", "a", "ab", "abc", std::string("u\0pw", 4)};
    for (const auto& s : inputs) {
        auto d = decode_base64(encode_base64(s));
        ASSERT_TRUE(d) << s;
        EXPECT_EQ(*d, s);
    }
    EXPECT_FALSE(decode_base64("YQ="));  // length not a multiple of 4
    EXPECT_FALSE(decode_base64("Y=Q=")); // data after '='
    EXPECT_FALSE(decode_base64("YQ*=")); // not in the alphabet
}

// RFC 4648 3.5: the bits below the last character of a padded group must be zero; "YR==" and
// "YWJ=" decode to "a" and "ab" only in a lax decoder (found by home_lmtp_xauth_fuzz).
TEST(base64, refuses_non_zero_pad_bits) {
    EXPECT_EQ(decode_base64("YQ=="), "a");
    EXPECT_FALSE(decode_base64("YR=="));
    EXPECT_EQ(decode_base64("YWI="), "ab");
    EXPECT_FALSE(decode_base64("YWJ="));
}
