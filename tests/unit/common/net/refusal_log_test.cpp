// The rate limit of "connection refused" log lines (net::refusal_log).
#include "splitmail/net/server.hpp"

#include <gtest/gtest.h>

using splitmail::net::refusal_log;
using namespace std::chrono_literals;

TEST(RefusalLog, FirstRefusalPerClientPerWindowIsLogged) {
    refusal_log r;
    auto t = splitmail::net::clock::time_point{} + 1h;
    EXPECT_TRUE(r.note("192.0.2.1", t).log);
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(r.note("192.0.2.1", t + 1ms * i).log);
    auto d = r.note("192.0.2.2", t + 2s);
    EXPECT_TRUE(d.log);
    EXPECT_EQ(d.suppressed, 1000u) << "the next logged line reports what was left out";
    auto next = r.note("192.0.2.1", t + refusal_log::window);
    EXPECT_TRUE(next.log) << "a new window logs the client again";
    EXPECT_EQ(next.suppressed, 0u);
}

TEST(RefusalLog, AtMostTwentyClientsPerWindow) {
    refusal_log r;
    auto t = splitmail::net::clock::time_point{} + 1h;
    int logged = 0;
    for (int i = 0; i < 500; ++i)
        if (r.note("198.51.100." + std::to_string(i % 250), t).log) ++logged;
    EXPECT_EQ(logged, static_cast<int>(refusal_log::clients_per_window));
    auto d = r.note("203.0.113.1", t + refusal_log::window);
    EXPECT_TRUE(d.log);
    EXPECT_EQ(d.suppressed, 480u);
}
