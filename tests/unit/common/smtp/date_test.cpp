#include "splitmail/smtp/date.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

using namespace std::chrono;

TEST(Rfc5322Date, FormatsUtcWithEnglishNames) {
    // 2026-11-23 16:57:07 UTC was a Monday.
    auto tp = sys_days{year{2026} / November / 23} + hours{16} + minutes{57} + seconds{7};
    EXPECT_EQ(splitmail::smtp::rfc5322_date(tp), "Mon, 23 Nov 2026 16:57:07 +0000");
}

TEST(Rfc5322Date, PadsDayAndIgnoresTimeZone) {
    ::setenv("TZ", "Pacific/Kiritimati", 1);
    auto tp = sys_days{year{2024} / February / 29} + hours{23} + minutes{59} + seconds{59};
    EXPECT_EQ(splitmail::smtp::rfc5322_date(tp), "Thu, 29 Feb 2024 23:59:59 +0000");
    ::unsetenv("TZ");
    EXPECT_EQ(splitmail::smtp::rfc5322_date(sys_days{year{1970} / January / 1}),
              "Thu, 01 Jan 1970 00:00:00 +0000");
}

} // namespace
