// text::hex and the ASCII case helpers of common/address.
#include "splitmail/address/address.hpp"
#include "splitmail/text/hex.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace splitmail;

TEST(text_hex, lower_case_two_digits_per_byte) {
    const unsigned char b[] = {0x00, 0x0f, 0xa0, 0xff, 0x12};
    EXPECT_EQ(text::hex(b, sizeof b), "000fa0ff12");
    EXPECT_EQ(text::hex(std::string_view("\x01\xfe", 2)), "01fe");
    EXPECT_EQ(text::hex(std::vector<unsigned char>{}), "");
}

TEST(ascii_case, lower_and_iequals_touch_only_a_to_z) {
    EXPECT_EQ(address::lower_ascii("MiXeD.Example-ÄÖ"), "mixed.example-ÄÖ");
    EXPECT_EQ(address::lower_ascii('@'), '@');
    EXPECT_EQ(address::lower_ascii('['), '['); // just after 'Z'
    EXPECT_TRUE(address::iequals_ascii("STARTTLS", "starttls"));
    EXPECT_FALSE(address::iequals_ascii("STARTTLS", "starttl"));
    EXPECT_FALSE(address::iequals_ascii("@", "`"));       // 0x40 vs 0x60: not letters
    EXPECT_FALSE(address::iequals_ascii("\xc4", "\xe4")); // Latin-1 Ä/ä are not folded
}
