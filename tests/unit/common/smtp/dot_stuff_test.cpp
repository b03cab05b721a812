// DATA transparency encoding (RFC 5321 4.5.2), whole and streamed: the streamed encoder gives
// the same octets wherever the message is cut (every split point, byte by byte), and the
// server side (data_reader) turns the result back into the message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/data_reader.hpp"
#include "splitmail/smtp/dot_stuff.hpp"

using splitmail::smtp::append_dot_stuffed;
using splitmail::smtp::dot_stuffer;

namespace {

std::string whole(const std::string& m) {
    std::string out;
    append_dot_stuffed(out, m);
    return out;
}

std::string pieces(const std::string& m, const std::vector<std::size_t>& cuts) {
    dot_stuffer d;
    std::string out;
    std::size_t pos = 0;
    for (auto c : cuts) {
        d.feed(out, std::string_view(m).substr(pos, c - pos));
        pos = c;
    }
    d.feed(out, std::string_view(m).substr(pos));
    d.finish(out);
    return out;
}

const std::vector<std::string> cases = {
    "",
    "a\r\n",
    "no final line end",
    ".\r\n",
    "..\r\n",
    ".leading dot\r\nsecond\r\n.\r\n",
    "line\r\n.\r\n.x\r\nend",
    "ends with CR\r",
    "bare\nLF\n.dot after bare LF\r\n",
    "\r\n\r\n.\r\n\r\n",
    ".",
    "x.\r\n.y",
};

} // namespace

TEST(dot_stuff, known_encodings) {
    EXPECT_EQ(whole(""), ".\r\n");
    EXPECT_EQ(whole("a\r\n"), "a\r\n.\r\n");
    EXPECT_EQ(whole("no final line end"), "no final line end\r\n.\r\n");
    EXPECT_EQ(whole(".\r\n"), "..\r\n.\r\n");
    EXPECT_EQ(whole("line\r\n.\r\n.x\r\nend"), "line\r\n..\r\n..x\r\nend\r\n.\r\n");
    EXPECT_EQ(whole("ends with CR\r"), "ends with CR\r\r\n.\r\n");
    EXPECT_EQ(whole("x.\r\n.y"), "x.\r\n..y\r\n.\r\n");
}

TEST(dot_stuff, streamed_equals_whole_at_every_split) {
    for (const auto& m : cases) {
        const auto expect = whole(m);
        for (std::size_t cut = 0; cut <= m.size(); ++cut)
            EXPECT_EQ(pieces(m, {cut}), expect)
                << "message " << testing::PrintToString(m) << " cut at " << cut;
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < m.size(); ++i) every.push_back(i);
        EXPECT_EQ(pieces(m, every), expect) << "byte by byte: " << testing::PrintToString(m);
        // Empty pieces in between change nothing.
        EXPECT_EQ(pieces(m, {0, 0, m.size() / 2, m.size() / 2}), expect);
    }
}

TEST(dot_stuff, data_reader_restores_the_message) {
    for (const auto& m : cases) {
        bool bare = false;
        for (std::size_t i = 0; i < m.size(); ++i)
            if ((m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) ||
                (m[i] == '\r' && (i + 1 >= m.size() || m[i + 1] != '\n')))
                bare = true;
        if (bare) continue; // the server refuses bare CR/LF (smuggling); not a round trip
        std::string restored;
        splitmail::smtp::data_reader r(1 << 20);
        auto res = r.feed(whole(m), restored);
        ASSERT_TRUE(res.done) << testing::PrintToString(m);
        std::string expect = m;
        if (!expect.empty() && !expect.ends_with("\r\n")) expect += "\r\n";
        EXPECT_EQ(restored, expect);
    }
}
