#include "splitmail/text/json_integer.hpp"

#include <cstdint>
#include <stdexcept>

#include <gtest/gtest.h>

namespace splitmail::text {
namespace {

using nlohmann::json;

// The values a damaged file or a fuzzer writes where a whole number belongs: only integers
// that fit are taken; a float is never converted (out of range that was undefined behaviour).
TEST(JsonInteger, OnlyIntegersThatFit) {
    EXPECT_EQ(json_integer<int>(json::parse("1")), 1);
    EXPECT_EQ(json_integer<int>(json::parse("-7")), -7);
    EXPECT_EQ(json_integer<std::int64_t>(json::parse("9223372036854775807")), INT64_MAX);
    EXPECT_EQ(json_integer<std::int64_t>(json::parse("9223372036854775808")), std::nullopt);
    EXPECT_EQ(json_integer<std::uint32_t>(json::parse("4294967295")), 4294967295u);
    EXPECT_EQ(json_integer<std::uint32_t>(json::parse("4294967296")), std::nullopt);
    EXPECT_EQ(json_integer<std::uint32_t>(json::parse("-1")), std::nullopt);
    EXPECT_EQ(json_integer<int>(json::parse("3000000000")), std::nullopt);
    for (const char* bad :
         {"1.0", "4.4e79", "92123372036854775807", "\"1\"", "true", "null", "[1]", "{}"})
        EXPECT_EQ(json_integer<int>(json::parse(bad)), std::nullopt) << bad;
}

TEST(JsonInteger, AtAndOrNameTheKey) {
    const auto j = json::parse(R"({"n": 5, "f": 1e30, "s": "x"})");
    EXPECT_EQ(integer_at<int>(j, "n"), 5);
    EXPECT_EQ(integer_or(j, "missing", 42), 42);
    EXPECT_EQ(integer_or(j, "n", 42), 5);
    try {
        (void)integer_at<std::int64_t>(j, "f");
        ADD_FAILURE() << "a float was taken";
    } catch (const std::range_error& e) {
        EXPECT_STREQ(e.what(), "f: not a whole number in range");
    }
    EXPECT_THROW((void)integer_or(j, "s", 0), std::range_error);
    EXPECT_THROW((void)integer_at<int>(j, "missing"), json::out_of_range);
}

} // namespace
} // namespace splitmail::text
