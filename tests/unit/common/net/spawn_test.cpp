// net::spawn: a coroutine nobody awaits never dies silently (issue 12 item 7).
#include "splitmail/net/spawn.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace {
asio::awaitable<void> finishes(int& ran) {
    ++ran;
    co_return;
}
asio::awaitable<void> throws() {
    throw std::runtime_error("worker broke");
    co_return;
}
struct handler_guard {
    ~handler_guard() { splitmail::net::set_fatal_handler(nullptr); }
};
} // namespace

TEST(Spawn, DeathCallsTheFatalHandlerWithItsName) {
    handler_guard g;
    asio::io_context io;
    std::vector<std::string> died;
    splitmail::net::set_fatal_handler([&](std::string_view what) { died.emplace_back(what); });
    int ran = 0;
    splitmail::net::spawn(io, "quiet worker", finishes(ran));
    splitmail::net::spawn(io, "broken worker", throws());
    splitmail::net::spawn(io.get_executor(), "second quiet worker", finishes(ran));
    io.run();
    EXPECT_EQ(ran, 2);
    ASSERT_EQ(died.size(), 1u);
    EXPECT_EQ(died[0], "broken worker");
}

TEST(Spawn, WithoutAHandlerTheProcessAborts) {
    EXPECT_DEATH(
        {
            asio::io_context io;
            splitmail::net::spawn(io, "broken worker", throws());
            io.run();
        },
        "");
}
