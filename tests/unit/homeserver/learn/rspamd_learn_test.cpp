// rspamd learning (issue 18): the request home sends to rspamd's controller, what its answers
// mean, and the learner sending a Maildir file over real loopback TCP to a scripted controller.
#include "learn/rspamd_learn.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>

using namespace splitmail::home::learn;
namespace asio = boost::asio;
namespace fs = std::filesystem;

TEST(RspamdLearn, RequestHead) {
    EXPECT_EQ(request_head(kind::spam, "10.8.0.1", "pw", 123),
              "POST /learnspam HTTP/1.1\r\nHost: 10.8.0.1\r\nConnection: close\r\n"
              "Password: pw\r\nContent-Length: 123\r\n\r\n");
    EXPECT_EQ(request_head(kind::ham, "h", "", 0),
              "POST /learnham HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
              "Content-Length: 0\r\n\r\n")
        << "no password: no Password header";
    auto h = request_head(kind::spam, "h", "a\r\nX-Evil: 1", 1);
    EXPECT_EQ(h.find("\r\nX-Evil"), std::string::npos) << "a password cannot add a header";
}

TEST(RspamdLearn, Answers) {
    using w = outcome::what;
    EXPECT_EQ(read_answer({200, R"({"success":true})"}).result, w::learned);
    auto already =
        read_answer({208, R"({"error":"<id> has been already learned as spam, ignore it"})"});
    EXPECT_EQ(already.result, w::already);
    EXPECT_NE(already.detail.find("already learned"), std::string::npos);
    EXPECT_EQ(read_answer({404, R"({"error":"<x> has been already learned as ham"})"}).result,
              w::already);
    auto denied = read_answer({403, R"({"error":"Unauthorized"})"});
    EXPECT_EQ(denied.result, w::refused);
    EXPECT_EQ(denied.detail, "Unauthorized");
    EXPECT_EQ(read_answer({500, "not json"}).detail, "HTTP 500");
    EXPECT_EQ(read_answer({200, R"({"success":false})"}).result, w::refused);
    EXPECT_EQ(read_answer({200, ""}).result, w::refused);
}

namespace {

// A controller that reads one request (head + Content-Length body) and answers `answer`.
struct scripted_controller {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    std::promise<std::string> request;
    std::thread t;
    explicit scripted_controller(std::string answer) {
        t = std::thread([this, answer] {
            asio::ip::tcp::socket s(io);
            acceptor.accept(s);
            std::string in;
            auto n = asio::read_until(s, asio::dynamic_buffer(in), "\r\n\r\n");
            auto pos = in.find("Content-Length: ");
            std::size_t len = std::stoul(in.substr(pos + 16));
            if (in.size() < n + len)
                asio::read(s, asio::dynamic_buffer(in),
                           asio::transfer_exactly(n + len - in.size()));
            request.set_value(in);
            asio::write(s, asio::buffer(answer));
        });
    }
    ~scripted_controller() { t.join(); }
    std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    }
};

} // namespace

TEST(RspamdLearn, LearnerSendsTheFileWithThePassword) {
    auto dir = fs::temp_directory_path() / ("sm-learn-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string body = "Subject: x\r\n\r\n" + std::string(200000, 'b') + "\r\n"; // > one read
    std::ofstream(dir / "msg") << body;
    scripted_controller c("HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"success\":true}");
    {
        rspamd_learner l({c.address(), "s3cret", std::chrono::milliseconds(5000), 10});
        l.submit(kind::spam, "a@x.test", {dir / "msg"});
        auto got = c.request.get_future();
        ASSERT_EQ(got.wait_for(std::chrono::seconds(30)), std::future_status::ready);
        auto req = got.get();
        EXPECT_TRUE(req.starts_with("POST /learnspam HTTP/1.1\r\n"));
        EXPECT_NE(req.find("\r\nPassword: s3cret\r\n"), std::string::npos);
        EXPECT_NE(req.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
                  std::string::npos);
        EXPECT_TRUE(req.ends_with("\r\n\r\n" + body)) << "the file, byte for byte";
        l.drain();
    }
    fs::remove_all(dir);
}

TEST(RspamdLearn, GoneFileAndUnreachableControllerDoNotBlock) {
    // A port nothing listens on: bind, take the number, close.
    std::string dead;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        dead = "127.0.0.1:" + std::to_string(a.local_endpoint().port());
    }
    auto dir = fs::temp_directory_path() / ("sm-learn2-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "msg") << "Subject: x\r\n\r\nb\r\n";
    // max_queue 8: at most 2 per user.
    rspamd_learner l({dead, "", std::chrono::milliseconds(2000), 8,
                      std::chrono::milliseconds(60000), std::chrono::milliseconds(60000)});
    auto t0 = std::chrono::steady_clock::now();
    l.submit(kind::ham, "a@x.test", {dir / "gone"}); // never existed: skipped
    l.submit(kind::ham, "a@x.test", {dir / "msg"});  // refused connection: logged
    // One MOVE of 50 messages over the user's share: the rest is dropped with one warning.
    l.submit(kind::ham, "a@x.test", std::vector<fs::path>(50, dir / "msg"));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1))
        << "submit never waits for the network";
    l.drain(); // returns once learning is paused: rspamd cannot be reached
    EXPECT_TRUE(l.paused());
    fs::remove_all(dir);
}

// rspamd unreachable for a while (relay rebooting, tunnel down): the request waits and goes
// out once the controller answers; nothing is lost to the outage.
TEST(RspamdLearn, UnreachableControllerIsRetriedUntilItAnswers) {
    asio::io_context io;
    std::string addr;
    unsigned short port = 0;
    {
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
        addr = "127.0.0.1:" + std::to_string(port);
    } // closed: connections are refused until the controller below starts
    auto dir = fs::temp_directory_path() / ("sm-learn3-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "msg") << "Subject: x\r\n\r\nretried\r\n";
    rspamd_learner l({addr, "", std::chrono::milliseconds(2000), 10, std::chrono::milliseconds(100),
                      std::chrono::milliseconds(200)});
    l.submit(kind::spam, "a@x.test", {dir / "msg"});
    l.drain();
    ASSERT_TRUE(l.paused());
    // The controller comes up on the same port.
    asio::ip::tcp::acceptor acc(io);
    acc.open(asio::ip::tcp::v4());
    acc.set_option(asio::socket_base::reuse_address(true));
    acc.bind({asio::ip::make_address("127.0.0.1"), port});
    acc.listen();
    asio::ip::tcp::socket s(io);
    acc.accept(s); // blocks until the learner's retry connects
    std::string in;
    auto n = asio::read_until(s, asio::dynamic_buffer(in), "\r\n\r\n");
    const std::size_t len = std::stoul(in.substr(in.find("Content-Length: ") + 16));
    if (in.size() < n + len)
        asio::read(s, asio::dynamic_buffer(in), asio::transfer_exactly(n + len - in.size()));
    EXPECT_TRUE(in.ends_with("retried\r\n"));
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"success\":true}";
    asio::write(s, asio::buffer(answer));
    s.close();
    l.drain();
    EXPECT_FALSE(l.paused()) << "learning resumed";
    fs::remove_all(dir);
}

// One user's MOVE of a big folder takes at most a quarter of the queue: another user's learn
// still finds room.
TEST(RspamdLearn, OneUserCannotFillTheWholeQueue) {
    std::string dead;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        dead = "127.0.0.1:" + std::to_string(a.local_endpoint().port());
    }
    auto dir = fs::temp_directory_path() / ("sm-learn4-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "msg") << "Subject: x\r\n\r\nb\r\n";
    // rspamd unreachable and a long pause: what is queued stays queued.
    rspamd_learner l({dead, "", std::chrono::milliseconds(2000), 8,
                      std::chrono::milliseconds(60000), std::chrono::milliseconds(60000)});
    l.submit(kind::spam, "big@x.test", std::vector<fs::path>(100, dir / "msg"));
    l.drain();
    ASSERT_TRUE(l.paused());
    EXPECT_EQ(l.queued_for("big@x.test"), 2u) << "a quarter of max_queue";
    l.submit(kind::spam, "small@x.test", {dir / "msg"});
    EXPECT_EQ(l.queued_for("small@x.test"), 1u) << "another user still finds room";
    fs::remove_all(dir);
}
