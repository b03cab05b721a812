// RFC 2047 encoded words decoded to UTF-8 (common/text/encoded_words.hpp), as IMAP SEARCH/SORT
// and the relay's author check use them.
#include "splitmail/text/encoded_words.hpp"

#include <gtest/gtest.h>

namespace splitmail::text::encoded_words {
namespace {

TEST(EncodedWords, Decode) {
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

TEST(EncodedWords, LongInputStaysLinear) {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "=?";
    EXPECT_EQ(decode(s), s);
}

} // namespace
} // namespace splitmail::text::encoded_words

namespace splitmail::text::encoded_words {
namespace {

// The relay's mode: a charset iconv does not know yields the word's octets instead of the word.
TEST(EncodedWords, UnknownCharsetKeptOrDecodedToOctets) {
    const std::string_view w = "=?x-unknown?q?alice=40example.test?=";
    EXPECT_EQ(decode(w), w);
    EXPECT_EQ(decode(w, unknown_charset::octets), "alice@example.test");
    // A known charset is converted in both modes.
    EXPECT_EQ(decode("=?iso-8859-1?b?TfxsbGVy?=", unknown_charset::octets), "M\xC3\xBCller");
}

} // namespace
} // namespace splitmail::text::encoded_words
