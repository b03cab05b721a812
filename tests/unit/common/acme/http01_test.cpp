// http-01 responder: the pure answer function, then the real listener over loopback.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "splitmail/acme/http01.hpp"

namespace acme = splitmail::acme;

TEST(AcmeHttp01, AnswersOnlyPresentedTokens) {
    std::map<std::string, std::string> tokens{{"tok-1", "tok-1.thumb"}};
    auto ok = acme::http01_answer(
        "GET /.well-known/acme-challenge/tok-1 HTTP/1.1\r\nHost: a\r\n\r\n", tokens);
    EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
    EXPECT_TRUE(ok.ends_with("\r\n\r\ntok-1.thumb")) << ok;
    EXPECT_NE(ok.find("Content-Length: 11\r\n"), std::string::npos);
    auto head =
        acme::http01_answer("HEAD /.well-known/acme-challenge/tok-1 HTTP/1.1\r\n\r\n", tokens);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n")) << head;
    auto absolute = acme::http01_answer(
        "GET http://mx.example.org/.well-known/acme-challenge/tok-1 HTTP/1.1\r\n\r\n", tokens);
    EXPECT_TRUE(absolute.starts_with("HTTP/1.1 200"));
    for (const char* req : {"GET /.well-known/acme-challenge/tok-2 HTTP/1.1\r\n\r\n",
                            "GET /.well-known/acme-challenge/ HTTP/1.1\r\n\r\n",
                            "GET /.well-known/acme-challenge/tok-1/x HTTP/1.1\r\n\r\n",
                            "GET /etc/passwd HTTP/1.1\r\n\r\n"})
        EXPECT_TRUE(acme::http01_answer(req, tokens).starts_with("HTTP/1.1 404")) << req;
    EXPECT_TRUE(
        acme::http01_answer("POST /.well-known/acme-challenge/tok-1 HTTP/1.1\r\n\r\n", tokens)
            .starts_with("HTTP/1.1 405"));
    for (const char* req : {"", "GET\r\n\r\n", "GET / SMTP\r\n\r\n", "\r\n\r\n"})
        EXPECT_TRUE(acme::http01_answer(req, tokens).starts_with("HTTP/1.1 400")) << req;
}

namespace {
std::string fetch(std::uint16_t port, const std::string& request) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return "connect failed";
    }
    (void)::send(fd, request.data(), request.size(), 0);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}
} // namespace

TEST(AcmeHttp01, ListenerServesBetweenPresentAndCleanup) {
    std::unique_ptr<acme::http01_solver> s;
    std::uint16_t port = 0;
    for (std::uint16_t p = 41000; p < 41100 && !s; ++p) { // first free port in a small range
        if (auto r = acme::http01_solver::listen("127.0.0.1", p)) {
            s = std::move(*r);
            port = p;
        }
    }
    ASSERT_TRUE(s);
    EXPECT_FALSE(acme::http01_solver::listen("127.0.0.1", port)) << "a busy port is an error";
    const std::string req = "GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_TRUE(fetch(port, req).starts_with("HTTP/1.1 404"));
    acme::challenge_task t;
    t.type = "http-01";
    t.domain = "mx.example.org";
    t.token = "abc";
    t.key_authorization = "abc.thumb";
    ASSERT_TRUE(s->present(std::span(&t, 1)));
    EXPECT_TRUE(fetch(port, req).ends_with("\r\n\r\nabc.thumb"));
    s->cleanup(std::span(&t, 1));
    EXPECT_TRUE(fetch(port, req).starts_with("HTTP/1.1 404"));
    t.type = "dns-01";
    EXPECT_FALSE(s->present(std::span(&t, 1)));
}
