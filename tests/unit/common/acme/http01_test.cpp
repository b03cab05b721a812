// http-01 responder: the pure answer function, then the real listener over loopback.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "splitmail/acme/http01.hpp"

#include <filesystem>
#include <fstream>
#include <vector>

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

// --http-webroot and the relay's port 80: the solver writes DIR/<token> (0644, the relay reads
// it as its own user), read_webroot_token serves only such files, cleanup removes them.
TEST(AcmeHttp01, WebrootFilesServedAndRemoved) {
    char tmpl[] = "/tmp/acme-webroot-XXXXXX";
    // The webroot inside a directory of the test's own, so a stray file beside it is ours.
    const std::filesystem::path base = ::mkdtemp(tmpl);
    const std::filesystem::path dir = base / "challenges";
    std::filesystem::create_directory(dir);
    acme::http01_webroot_solver solver(dir);
    std::vector<acme::challenge_task> tasks(1);
    tasks[0].type = "http-01";
    tasks[0].domain = "mx.example.org";
    tasks[0].token = "Tok_en-1";
    tasks[0].key_authorization = "Tok_en-1.thumbprint";
    ASSERT_TRUE(solver.present(tasks));
    const auto file = dir / "Tok_en-1";
    ASSERT_TRUE(std::filesystem::is_regular_file(file));
    EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
              std::filesystem::perms(0644));
    EXPECT_EQ(acme::read_webroot_token(dir, "Tok_en-1"), "Tok_en-1.thumbprint");
    auto lookup = [&dir](std::string_view t) { return acme::read_webroot_token(dir, t); };
    auto ok = acme::http01_answer(
        "GET /.well-known/acme-challenge/Tok_en-1 HTTP/1.1\r\nHost: mx\r\n\r\n", lookup);
    EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n") &&
                ok.ends_with("\r\n\r\nTok_en-1.thumbprint"))
        << ok;
    // Only base64url names in that directory, regular files of at most 4 KiB, no symlink;
    // an edited file's trailing newline is not part of the answer.
    std::ofstream(dir / "edited") << "edited.thumb\n";
    EXPECT_EQ(acme::read_webroot_token(dir, "edited"), "edited.thumb");
    std::ofstream(dir / "big") << std::string(5000, 'x');
    EXPECT_FALSE(acme::read_webroot_token(dir, "big"));
    std::filesystem::create_symlink(file, dir / "link");
    EXPECT_FALSE(acme::read_webroot_token(dir, "link")) << "a symlink is not served";
    std::filesystem::create_directory(dir / "sub");
    EXPECT_FALSE(acme::read_webroot_token(dir, "sub"));
    std::ofstream(dir / "empty");
    EXPECT_FALSE(acme::read_webroot_token(dir, "empty"));
    for (const char* t : {"../etc/passwd", ".hidden", "a/b", "", "Tok_en-1.tmp"})
        EXPECT_FALSE(acme::read_webroot_token(dir, t)) << t;
    EXPECT_TRUE(
        acme::http01_answer("GET /.well-known/acme-challenge/..%2fetc HTTP/1.1\r\n\r\n", lookup)
            .starts_with("HTTP/1.1 404"));
    solver.cleanup(tasks);
    EXPECT_FALSE(std::filesystem::exists(file)) << "cleanup removes the file";
    EXPECT_TRUE(
        acme::http01_answer("GET /.well-known/acme-challenge/Tok_en-1 HTTP/1.1\r\n\r\n", lookup)
            .starts_with("HTTP/1.1 404"));
    // A task of another type, or a token that is not base64url, is refused before any write.
    tasks[0].token = "../x";
    EXPECT_FALSE(solver.present(tasks));
    EXPECT_FALSE(std::filesystem::exists(base / "x"));
    std::filesystem::remove_all(base);
    acme::http01_webroot_solver missing("/nonexistent/dir");
    tasks[0].token = "tok";
    auto r = missing.present(tasks);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("http.challenge_dir"), std::string::npos) << r.error().message;
}
