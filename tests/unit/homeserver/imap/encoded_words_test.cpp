// RFC 2047 encoded words decoded to UTF-8 (imap/encoded_words.hpp).
#include "imap/encoded_words.hpp"

#include <gtest/gtest.h>

namespace splitmail::home::imap::encoded_words {
namespace {

TEST(ImapEncodedWords, Decode) {
    const std::pair<const char*, const char*> cases[] = {
        {"plain text", "plain text"},
        {"=?utf-8?q?M=C3=BCller?=", "M\xC3\xBCller"},
        {"=?ISO-8859-1?Q?M=FCller?=", "M\xC3\xBCller"},
        {"=?iso-8859-15?q?=A4?=", "\xE2\x82\xAC"},
        {"=?utf-8?B?R3LDvMOfZQ==?=", "Gr\xC3\xBC\xC3\x9F"
                                     "e"},
        {"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"}, // RFC 2047 6.2
        {"=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},
        {"=?utf-8*de?q?a_b?=", "a b"}, // RFC 2231 5
        {"=?utf-8?", "=?utf-8?"},
        {"=?no-such-charset?q?x?=", "=?no-such-charset?q?x?="},
        {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
        {"=?utf-8?q?has space?=", "=?utf-8?q?has space?="},
        {"=?us-ascii?q?=FF?=", "\xFF"},
    };
    for (auto [in, want] : cases) EXPECT_EQ(decode(in), want) << in;
}

TEST(ImapEncodedWords, LongInputStaysLinear) {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "=?";
    EXPECT_EQ(decode(s), s);
}

} // namespace
} // namespace splitmail::home::imap::encoded_words
