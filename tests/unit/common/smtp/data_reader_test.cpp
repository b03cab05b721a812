// DATA reader: dot-unstuffing, the single CRLF.CRLF terminator, smuggling variants, limits.
// Every case is fed whole, byte by byte, and in two halves at every split point.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/data_reader.hpp"

using splitmail::smtp::data_reader;

namespace {

struct outcome {
    bool done = false;
    std::size_t consumed = 0;
    std::string out;
    data_reader::error err = data_reader::error::none;
    std::uint64_t long_lines = 0;
};

outcome run_chunks(const std::string& in, const std::vector<std::size_t>& cuts, std::uint64_t max) {
    data_reader r(max);
    outcome o;
    std::size_t pos = 0;
    auto push = [&](std::size_t end) {
        if (o.done) return;
        auto res = r.feed(std::string_view(in).substr(pos, end - pos), o.out);
        o.consumed += res.consumed;
        if (res.done) o.done = true;
        pos = end;
    };
    for (auto c : cuts) push(c);
    push(in.size());
    o.err = r.err();
    o.long_lines = r.long_lines();
    return o;
}

std::vector<outcome> all_splits(const std::string& in, std::uint64_t max = 0) {
    std::vector<outcome> v;
    v.push_back(run_chunks(in, {}, max));
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < in.size(); ++i) bytes.push_back(i);
    v.push_back(run_chunks(in, bytes, max));
    for (std::size_t i = 1; i < in.size() && in.size() < 200; ++i)
        v.push_back(run_chunks(in, {i}, max));
    return v;
}

struct data_case {
    const char* name;
    std::string in;
    bool done;
    std::size_t consumed; // when done
    std::string out;      // when no error
    data_reader::error err;
};

const std::vector<data_case>& cases() {
    using E = data_reader::error;
    static const std::vector<data_case> c = {
        {"empty message", ".\r\n", true, 3, "", E::none},
        {"simple", "Subject: x\r\n\r\nhi\r\n.\r\n", true, 21, "Subject: x\r\n\r\nhi\r\n", E::none},
        {"dot stuffed", "..a\r\n..\r\n.\r\n", true, 12, ".a\r\n.\r\n", E::none},
        {"dot mid line untouched", "a.b\r\na..\r\n.\r\n", true, 13, "a.b\r\na..\r\n", E::none},
        {"pipelined after terminator", "x\r\n.\r\nQUIT\r\n", true, 6, "x\r\n", E::none},
        {"not finished", "x\r\n.", false, 0, "", E::none},
        {"lf dot lf is content", "a\n.\nMAIL FROM:<x@y>\r\n.\r\n", true, 0, "", E::bare_lf},
        {"lf dot crlf is content", "a\n.\r\nRCPT\r\n.\r\n", true, 0, "", E::bare_lf},
        {"crlf dot lf is content", "a\r\n.\nRCPT\r\n.\r\n", true, 0, "", E::bare_lf},
        {"cr dot cr is content", "a\r.\rRCPT\r\n.\r\n", true, 0, "", E::bare_cr},
        {"bare lf at start", "\n.\r\n.\r\n", true, 0, "", E::bare_lf},
        {"bare cr before lf-less dot", "a\r\r\n.\r\n", true, 0, "", E::bare_cr},
        {"dot cr x", "a\r\n.\rx\r\n.\r\n", true, 0, "", E::bare_cr},
        {"only lf terminator never ends", "a\n.\n", false, 0, "", E::bare_lf},
        {"bare lf wins over cr", "\r \n\r\n.\r\n", true, 0, "", E::bare_lf},
    };
    return c;
}

} // namespace

TEST(data_reader, table_whole_and_split) {
    for (const auto& tc : cases()) {
        for (const auto& o : all_splits(tc.in)) {
            SCOPED_TRACE(tc.name);
            EXPECT_EQ(o.done, tc.done);
            EXPECT_EQ(o.err, tc.err);
            if (tc.done && tc.err == data_reader::error::none) {
                EXPECT_EQ(o.consumed, tc.consumed);
                EXPECT_EQ(o.out, tc.out);
            }
            if (!tc.done || tc.consumed == 0) {
                EXPECT_EQ(o.consumed, tc.in.size());
            }
            EXPECT_LE(o.out.size(), tc.in.size());
        }
    }
}

TEST(data_reader, smuggled_second_message_is_one_message) {
    // The classic CVE-2023-51764 payload: the fake terminator must not end the DATA; the whole
    // thing up to the real terminator is one (refused) message, nothing is left for commands.
    std::string payload = "Subject: real\r\n\r\nbody\n.\nMAIL FROM:<ceo@bank.example>\r\n"
                          "RCPT TO:<victim@example.test>\r\nDATA\r\nSubject: forged\r\n\r\n"
                          "x\r\n.\r\nQUIT\r\n";
    for (const auto& o : all_splits(payload)) {
        ASSERT_TRUE(o.done);
        EXPECT_EQ(o.err, data_reader::error::bare_lf);
        EXPECT_EQ(payload.substr(o.consumed), "QUIT\r\n");
    }
}

TEST(data_reader, size_limit_reads_to_terminator) {
    std::string body(100, 'a');
    std::string in = body + "\r\n.\r\nNOOP\r\n";
    for (const auto& o : all_splits(in, 50)) {
        ASSERT_TRUE(o.done);
        EXPECT_EQ(o.err, data_reader::error::too_big);
        EXPECT_EQ(in.substr(o.consumed), "NOOP\r\n");
        EXPECT_LE(o.out.size(), 50u);
    }
    // Exactly at the limit is fine: 100 + CRLF = 102 octets.
    auto ok = run_chunks(in, {}, 102);
    EXPECT_EQ(ok.err, data_reader::error::none);
    EXPECT_EQ(ok.out, body + "\r\n");
    auto over = run_chunks(in, {}, 101);
    EXPECT_EQ(over.err, data_reader::error::too_big);
}

TEST(data_reader, long_lines_counted_not_refused) {
    std::string in = std::string(998, 'x') + "\r\n" + std::string(999, 'y') + "\r\n." +
                     std::string(998, 'z') + "\r\n" + std::string(3000, 'w') + "\r\n.\r\n";
    for (const auto& o : {run_chunks(in, {}, 0), run_chunks(in, {1500, 1501, 2999}, 0)}) {
        EXPECT_TRUE(o.done);
        EXPECT_EQ(o.err, data_reader::error::none);
        // the 999-y line, the ".zzz" line (999 wire octets), the 3000-w line
        EXPECT_EQ(o.long_lines, 3u);
    }
}

TEST(data_reader, feeds_after_done_consume_nothing_and_reset_restarts) {
    data_reader r;
    std::string out;
    auto res = r.feed(".\r\n", out);
    EXPECT_TRUE(res.done);
    auto again = r.feed("x\r\n.\r\n", out);
    EXPECT_TRUE(again.done);
    EXPECT_EQ(again.consumed, 0u);
    r.reset();
    EXPECT_FALSE(r.done());
    auto third = r.feed("x\r\n.\r\n", out);
    EXPECT_TRUE(third.done);
    EXPECT_EQ(out, "x\r\n");
}
