#include "splitmail/sys/notify.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct dgram_listener {
    int fd = -1;
    std::string path;
    explicit dgram_listener(std::string p) : path(std::move(p)) {
        ::unlink(path.c_str());
        fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    ~dgram_listener() {
        ::close(fd);
        ::unlink(path.c_str());
    }
    std::string receive() {
        char buf[256];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<std::size_t>(n));
    }
};

TEST(SdNotify, NoSocketIsANoOp) {
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_TRUE(splitmail::sys::notify("READY=1"));
}

TEST(SdNotify, SendsOneDatagramToThePathSocket) {
    dgram_listener l("/tmp/splitmail-notify-test-" + std::to_string(::getpid()));
    ::setenv("NOTIFY_SOCKET", l.path.c_str(), 1);
    EXPECT_TRUE(splitmail::sys::notify("READY=1\nSTATUS=listening"));
    EXPECT_EQ(l.receive(), "READY=1\nSTATUS=listening");
    EXPECT_EQ(l.receive(), "<nothing>");
    ::unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotify, ReportsAMissingOrInvalidSocket) {
    ::setenv("NOTIFY_SOCKET", "/nonexistent/dir/notify.sock", 1);
    EXPECT_FALSE(splitmail::sys::notify("READY=1"));
    ::setenv("NOTIFY_SOCKET", "relative/path", 1);
    EXPECT_FALSE(splitmail::sys::notify("READY=1"));
    ::unsetenv("NOTIFY_SOCKET");
}

} // namespace
