// message_stream: a queued message (envelope prefix + file) read in pieces on a thread pool
// gives exactly the whole-message DATA encoding; a file that shrank or cannot be read throws
// before the terminator (a transaction must never end with a truncated message).
#include <gtest/gtest.h>

#include "delivery/message_stream.hpp"
#include "splitmail/smtp/dot_stuff.hpp"

#include "../../../support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <fcntl.h>
#include <fstream>
#include <string>
#include <unistd.h>

namespace asio = boost::asio;
using splitmail::queue::spool;
using splitmail::relay::message_stream;

namespace {

spool::stored_message stored(const std::filesystem::path& p, std::string prefix) {
    spool::stored_message m;
    m.prefix = std::move(prefix);
    m.fd = splitmail::durable::unique_fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    m.file_size = std::filesystem::file_size(p);
    return m;
}

// Drains the stream on an io_context; returns the concatenated pieces and how many there were.
std::pair<std::string, std::size_t> drain(message_stream& s) {
    asio::io_context io;
    auto f = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::pair<std::string, std::size_t>> {
            std::string all;
            std::size_t n = 0;
            for (;;) {
                auto piece = co_await s.next();
                if (piece.empty()) break;
                all += piece;
                ++n;
            }
            co_return std::make_pair(all, n);
        },
        asio::use_future);
    io.run();
    return f.get();
}

std::string big_message() {
    // Lines that start with dots across chunk boundaries, ~1 MiB, no final CRLF.
    std::string m = "Subject: big\r\n\r\n";
    for (int i = 0; m.size() < (1u << 20) + 12345; ++i)
        m += (i % 3 == 0 ? "." : "") + std::string(static_cast<std::size_t>(i % 997), 'x') + "\r\n";
    m += ".last line without CRLF";
    return m;
}

} // namespace

TEST(message_stream, file_pieces_equal_whole_encoding) {
    splitmail::test::temp_dir d("msgstream");
    const std::string prefix = "Received: from x\r\n\tby y; now\r\n";
    const std::string body = big_message();
    std::ofstream(d / "m", std::ios::binary) << body;
    asio::thread_pool pool(2);
    message_stream s(stored(d / "m", prefix), pool);
    EXPECT_EQ(s.size(), prefix.size() + body.size());
    auto [all, pieces] = drain(s);
    std::string expect;
    splitmail::smtp::append_dot_stuffed(expect, prefix + body);
    EXPECT_EQ(all, expect);
    // prefix + ceil(file / chunk) + terminator: bounded pieces, never the whole file at once
    EXPECT_EQ(pieces,
              1 + (body.size() + message_stream::chunk_size - 1) / message_stream::chunk_size + 1);
}

// Issue 18: the file's first file_offset octets (a header block the prefix replaced) are
// never sent; pieces still never exceed a chunk.
TEST(message_stream, file_offset_skips_the_replaced_header) {
    splitmail::test::temp_dir d("msgstream");
    const std::string original = "Subject: hi\r\n\r\n";
    const std::string body = big_message();
    std::ofstream(d / "m", std::ios::binary) << original + body;
    asio::thread_pool pool(2);
    auto m = stored(d / "m", "Received: x\r\nSubject: [SPAM] hi\r\n\r\n");
    m.file_offset = original.size();
    const std::string prefix = m.prefix;
    message_stream s(std::move(m), pool);
    EXPECT_EQ(s.size(), prefix.size() + body.size());
    std::string expect;
    splitmail::smtp::append_dot_stuffed(expect, prefix + body);
    EXPECT_EQ(drain(s).first, expect);
}

TEST(message_stream, memory_message_and_empty_file) {
    message_stream m(std::string(".a\r\nb"));
    EXPECT_EQ(drain(m).first, "..a\r\nb\r\n.\r\n");
    splitmail::test::temp_dir d("msgstream");
    std::ofstream(d / "empty").close();
    asio::thread_pool pool(1);
    message_stream e(stored(d / "empty", ""), pool);
    EXPECT_EQ(drain(e).first, ".\r\n");
}

TEST(message_stream, shrunk_file_throws_before_the_terminator) {
    splitmail::test::temp_dir d("msgstream");
    std::ofstream(d / "m", std::ios::binary) << big_message();
    asio::thread_pool pool(1);
    auto m = stored(d / "m", "");
    ASSERT_EQ(::truncate((d / "m").c_str(), 1000), 0); // shorter than when opened
    message_stream s(std::move(m), pool);
    asio::io_context io;
    std::string seen;
    auto f = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            for (;;) {
                auto piece = co_await s.next();
                if (piece.empty()) break;
                seen += piece;
            }
        },
        asio::use_future);
    io.run();
    EXPECT_THROW(f.get(), std::system_error);
    EXPECT_EQ(seen.find("\r\n.\r\n"), std::string::npos) << "no terminator after a short read";
}
