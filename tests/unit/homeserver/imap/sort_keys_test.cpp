// Sort values (imap/sort_keys.hpp): RFC 5256 2.1 base subjects, 2.2 sent dates, the address
// values of SORT FROM/TO/CC and RFC 5957 DISPLAYFROM/DISPLAYTO; linear time on hostile input.
#include "imap/sort_keys.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace splitmail::home::imap::sort_keys {
namespace {

TEST(ImapSortKeys, BaseSubject) {
    struct row {
        const char* in;
        const char* base;
        bool reply;
    };
    const row rows[] = {
        {"apple", "APPLE", false},
        {"Re: apple", "APPLE", true},
        {"RE: Re: re:apple", "APPLE", true},
        {"Fwd: apple", "APPLE", true},
        {"fw: apple", "APPLE", true},
        {"Re[2]: apple", "APPLE", true},
        {"Re [2]: apple", "APPLE", true},
        {"[list] Re: apple", "APPLE", true},
        {"[list] apple", "APPLE", false},
        {"[list][other]  apple  ", "APPLE", false},
        {"[list]", "[LIST]", false}, // (4): a blob is kept when nothing would be left
        {"apple (fwd)", "APPLE", true},
        {"apple (FWD) (fwd)  ", "APPLE", true},
        {"[fwd: apple]", "APPLE", true},
        {"[Fwd: Re: [list] apple (fwd)]", "APPLE", true},
        {"Re: [fwd: [fwd: apple]]", "APPLE", true},
        {"  apple\t  pie ", "APPLE PIE", false},
        {"=?utf-8?q?Re=3A_M=C3=BCller?=", "M\xC3\xBCLLER", true}, // decoded first (step 1)
        {"Reply: apple", "REPLY: APPLE", false},
        {"re apple", "RE APPLE", false},
        {"", "", false},
        {"Re:", "", true},
        {"[unterminated Re: apple", "[UNTERMINATED RE: APPLE", false},
    };
    for (const auto& r : rows) {
        bool reply = !r.reply;
        EXPECT_EQ(base_subject(r.in, &reply), r.base) << r.in;
        EXPECT_EQ(reply, r.reply) << r.in;
    }
}

TEST(ImapSortKeys, BaseSubjectIsLinear) {
    // Many blobs with no "Re:" after them: the old-fashioned loop rescans the run per blob.
    std::string hostile;
    for (int i = 0; i < 50000; ++i) hostile += "[a]";
    hostile += " x";
    std::string nested;
    for (int i = 0; i < 20000; ++i) nested += "[fwd: ";
    nested += "x";
    nested += std::string(20000, ']');
    std::string refs;
    for (int i = 0; i < 50000; ++i) refs += "Re: ";
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(base_subject(hostile), "X");
    EXPECT_EQ(base_subject(refs), "");
    (void)base_subject(nested);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_LT(ms, 500) << "quadratic?";
}

TEST(ImapSortKeys, SentDate) {
    const std::int64_t jan2 = 1672653600; // 2023-01-02 10:00:00 UTC
    EXPECT_EQ(sent_date("Mon, 2 Jan 2023 10:00:00 +0000"), jan2);
    EXPECT_EQ(sent_date("2 Jan 2023 10:00:00 +0000"), jan2);
    EXPECT_EQ(sent_date("Mon, 02 Jan 2023 05:00:00 -0500"), jan2);
    EXPECT_EQ(sent_date("Mon, 2 Jan 2023 11:30 +0130"), jan2);
    EXPECT_EQ(sent_date("Mon, 2 Jan 2023 02:00:00 PST"), jan2);
    EXPECT_EQ(sent_date("Mon (comment), 2 Jan 2023 10:00:00 GMT (UTC)"), jan2);
    EXPECT_EQ(sent_date("2 jan 23 10:00:00 +0000"), jan2) << "two-digit year (RFC 5322 4.3)";
    EXPECT_EQ(sent_date("2 January 2023 10:00:00"), jan2) << "no zone: UTC";
    EXPECT_EQ(sent_date("1 Jan 1970 00:00:00 +0000"), 0);
    EXPECT_EQ(sent_date("29 Feb 2024 00:00:00 +0000"), 1709164800);
    for (const char* bad : {"", "yesterday", "2023-01-02T10:00:00Z", "32 Jan 2023 10:00 +0000",
                            "2 Foo 2023 10:00 +0000", "2 Jan 2023 25:00 +0000",
                            "2 Jan 2023 10:00:00 +0099", "2 Jan 2023", "2 Jan 2023 10"})
        EXPECT_EQ(sent_date(bad), std::nullopt) << bad;
}

TEST(ImapSortKeys, AddressValues) {
    auto l = address::parse_list("\"Zed, Aaron\" <zed@x.test>, b@y.test");
    EXPECT_EQ(first_mailbox(l), "ZED");
    EXPECT_EQ(first_display(l), "ZED, AARON");
    l = address::parse_list("team: =?utf-8?q?J=C3=B6rg?= <j@x.test>;");
    EXPECT_EQ(first_mailbox(l), "J") << "group markers skipped";
    EXPECT_EQ(first_display(l), "J\xC3\xB6RG") << "encoded words decoded";
    l = address::parse_list("<Alice@X.test>");
    EXPECT_EQ(first_display(l), "ALICE@X.TEST") << "no name: the address";
    EXPECT_EQ(first_mailbox(address::parse_list("")), "");
    EXPECT_EQ(first_display(address::parse_list("undisclosed-recipients:;")), "");
}

} // namespace
} // namespace splitmail::home::imap::sort_keys
