// The LMTP driver over real loopback TCP (net::server + net::connection), with the real
// resolver, user database and Maildir deliverer in a temporary directory: per-recipient
// replies after durable delivery, aliases delivered once per mailbox, concurrent sessions.
#include "lmtp/delivery.hpp"
#include "lmtp/driver.hpp"
#include "maildir/deliver.hpp"
#include "users/resolver.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/net/server.hpp"
#include "splitmail/users/live_database.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace splitmail;

namespace {

class LmtpDriver : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sm-lmtpd-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "mail");
        std::ofstream(dir_ / "users") << "a@x.test:{PLAIN}a\nb@x.test:{PLAIN}b\n";
        std::ofstream(dir_ / "aliases") << "team@x.test: a@x.test, b@x.test\n";
        live_ = std::make_unique<users::live_database>(
            users::sources{dir_ / "users", dir_ / "aliases", "+", {"x.test"}});
        resolver_ = std::make_unique<home::recipient_resolver>(*live_);
        ASSERT_TRUE(resolver_->reload());
        committer_ = std::make_unique<durable::committer>();
        deliverer_ = std::make_unique<home::maildir::deliverer>(dir_ / "mail", *committer_, "h");
        delivery_ = std::make_unique<home::lmtp::mailbox_delivery>(*deliverer_);
        ctx_.opt.hostname = "home.test";
        ctx_.resolver = resolver_.get();
        ctx_.delivery = delivery_.get();
        ctx_.idle_timeout = std::chrono::seconds(10);
        server_ = std::make_unique<net::server>(
            io_, "lmtp", net::limits{},
            [this](net::connection& c) { return home::lmtp::run_session(c, ctx_, "T"); },
            [](net::connection&, std::string_view) -> asio::awaitable<void> { co_return; });
        server_->listen("127.0.0.1:0");
        port_ = server_->bound().at(0).port();
        thread_ = std::thread([this] { io_.run(); });
    }
    void TearDown() override {
        asio::post(io_, [this] {
            server_->stop();
            io_.stop();
        });
        thread_.join();
        server_.reset();
        delivery_.reset();
        deliverer_.reset();
        committer_.reset();
        fs::remove_all(dir_);
    }

    // A blocking client: sends `script` in one write, reads until `replies` replies arrived.
    std::vector<std::string> talk(const std::string& script, std::size_t replies) {
        asio::io_context cio;
        asio::ip::tcp::socket s(cio);
        s.connect({asio::ip::make_address("127.0.0.1"), port_});
        asio::write(s, asio::buffer(script));
        std::vector<std::string> out;
        std::string data;
        while (out.size() < replies) {
            auto n = asio::read_until(s, asio::dynamic_buffer(data), "\r\n");
            std::string line = data.substr(0, n - 2);
            data.erase(0, n);
            if (line.size() >= 4 && line[3] == '-') continue; // multi-line: keep the last
            out.push_back(line);
        }
        return out;
    }
    std::size_t count(const fs::path& d) {
        std::error_code ec;
        std::size_t n = 0;
        for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); ++it)
            ++n;
        return n;
    }

    fs::path dir_;
    asio::io_context io_{1};
    std::unique_ptr<users::live_database> live_;
    std::unique_ptr<home::recipient_resolver> resolver_;
    std::unique_ptr<durable::committer> committer_;
    std::unique_ptr<home::maildir::deliverer> deliverer_;
    std::unique_ptr<home::lmtp::mailbox_delivery> delivery_;
    home::lmtp::driver_context ctx_;
    std::unique_ptr<net::server> server_;
    unsigned short port_ = 0;
    std::thread thread_;
};

} // namespace

TEST_F(LmtpDriver, PipelinedTransactionOverTcp) {
    auto r = talk("LHLO relay.test\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\n"
                  "RCPT TO:<nobody@x.test>\r\nRCPT TO:<team@x.test>\r\nRCPT TO:<b+tag@x.test>\r\n"
                  "DATA\r\nSubject: x\r\n\r\n..body\r\n.\r\nQUIT\r\n",
                  11);
    ASSERT_EQ(r.size(), 11u);
    EXPECT_EQ(r[0], "220 home.test LMTP splitmail ready");
    EXPECT_EQ(r[1], "250 XDIRECTORY");
    EXPECT_EQ(r[2], "250 2.1.0 Ok");
    EXPECT_EQ(r[3], "250 2.1.5 Ok");
    EXPECT_EQ(r[4], "550 5.1.1 <nobody@x.test>: user unknown");
    EXPECT_EQ(r[5], "250 2.1.5 Ok");
    EXPECT_EQ(r[6], "250 2.1.5 Ok");
    EXPECT_EQ(r[7].substr(0, 3), "354");
    EXPECT_EQ(r[8], "250 2.0.0 <a@x.test> delivered");
    EXPECT_EQ(r[9], "250 2.0.0 <team@x.test> delivered");
    EXPECT_EQ(r[10], "250 2.0.0 <b+tag@x.test> delivered");
    // One copy per mailbox although a@ and b@ were each reached twice.
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 1u);
    EXPECT_EQ(count(dir_ / "mail/x.test/b/new"), 1u);
    for (auto& e : fs::directory_iterator(dir_ / "mail/x.test/b/new")) {
        std::ifstream in(e.path(), std::ios::binary);
        std::string all((std::istreambuf_iterator<char>(in)), {});
        // Two mailboxes share one file: no Delivered-To naming one of them (delivery.hpp).
        EXPECT_EQ(all, "Return-Path: <s@e.test>\r\nSubject: x\r\n\r\n.body\r\n");
    }
}

// Junk filing (issue 18): the relay's "X-Spam: Yes" above its Received: puts the message into
// every recipient's Junk folder; the same field written by the sender (below the relay's
// Received:) does not; transactions on one connection each decide afresh.
TEST_F(LmtpDriver, RelayMarkedJunkGoesToTheJunkFolder) {
    const std::string received = "Received: from mx.s.test by mx.x.test; Sun, 6 Dec 2026\r\n";
    auto r = talk("LHLO r\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<team@x.test>\r\nDATA\r\n"
                  "X-Spam: Yes\r\nX-Spam-Status: Yes, score=50.00\r\n" +
                      received +
                      "Subject: spam\r\n\r\nbody\r\n.\r\n"
                      "MAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n" +
                      received + "X-Spam: Yes\r\nSubject: forged\r\n\r\nbody\r\n.\r\nQUIT\r\n",
                  11);
    ASSERT_EQ(r.size(), 11u);
    EXPECT_EQ(r[5], "250 2.0.0 <team@x.test> delivered");
    EXPECT_EQ(r[9], "250 2.0.0 <a@x.test> delivered");
    for (const auto* u : {"a", "b"})
        EXPECT_EQ(count(dir_ / "mail/x.test" / u / ".Junk/new"), 1u) << u;
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 1u) << "the sender's own X-Spam: INBOX";
    EXPECT_EQ(count(dir_ / "mail/x.test/b/new"), 0u);
}

TEST_F(LmtpDriver, EmptyJunkFolderSettingKeepsJunkInTheInbox) {
    home::lmtp::mailbox_delivery inbox_only(*deliverer_, "");
    std::promise<void> set;
    asio::post(io_, [&] {
        ctx_.delivery = &inbox_only;
        set.set_value();
    });
    set.get_future().wait();
    auto r = talk("LHLO r\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n"
                  "X-Spam: Yes\r\nReceived: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
                  7);
    ASSERT_EQ(r.size(), 7u);
    EXPECT_EQ(r[5], "250 2.0.0 <a@x.test> delivered");
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 1u);
    EXPECT_FALSE(fs::exists(dir_ / "mail/x.test/a/.Junk"));
    std::promise<void> back;
    asio::post(io_, [&] {
        ctx_.delivery = delivery_.get();
        back.set_value();
    });
    back.get_future().wait();
}

// test_home_restart (ASan, two deliveries of one message): the stop closed the connections
// with nothing owed, in the same turn of the loop as a session's read of its end of DATA
// completed. That session must not deliver: its 250 cannot go out, so the relay retries.
TEST_F(LmtpDriver, EndOfDataSeenAfterTheStopClosedIsNotDelivered) {
    std::promise<void> set;
    asio::post(io_, [&] {
        ctx_.closing = true;
        set.set_value();
    });
    set.get_future().wait();
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(s, asio::buffer(std::string("LHLO r\r\nMAIL FROM:<s@e.test>\r\n"
                                            "RCPT TO:<a@x.test>\r\nDATA\r\nSubject: t\r\n\r\n"
                                            "body\r\n.\r\n")));
    std::string all;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(all), ec); // until home closes
    EXPECT_NE(all.find("354"), std::string::npos) << all;
    EXPECT_EQ(all.find("delivered"), std::string::npos) << "no 250 after DATA: " << all;
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 0u) << "nothing delivered";
    std::promise<std::size_t> owed;
    asio::post(io_, [&] {
        owed.set_value(ctx_.replies_owed);
        ctx_.closing = false;
    });
    EXPECT_EQ(owed.get_future().get(), 0u);
}

TEST_F(LmtpDriver, UserAddedOnDiskIsSeenWithoutRestart) {
    auto before = talk("LHLO r\r\nMAIL FROM:<>\r\nRCPT TO:<new@x.test>\r\nQUIT\r\n", 5);
    EXPECT_EQ(before[3], "550 5.1.1 <new@x.test>: user unknown");
    std::ofstream(dir_ / "users", std::ios::app) << "new@x.test:{PLAIN}n\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100)); // refresh interval
    auto after = talk("LHLO r\r\nMAIL FROM:<>\r\nRCPT TO:<new@x.test>\r\nQUIT\r\n", 5);
    EXPECT_EQ(after[3], "250 2.1.5 Ok");
}

TEST_F(LmtpDriver, ConcurrentSessions) {
    constexpr int sessions = 20, per = 10;
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int i = 0; i < sessions; ++i)
        ts.emplace_back([&] {
            std::string script = "LHLO r\r\n";
            for (int m = 0; m < per; ++m)
                script += "MAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nm\r\n.\r\n";
            script += "QUIT\r\n";
            auto r = talk(script, 2 + per * 4 + 1);
            for (const auto& l : r)
                if (l == "250 2.0.0 <a@x.test> delivered") ++ok;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(ok.load(), sessions * per);
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), std::size_t(sessions * per));
    EXPECT_EQ(count(dir_ / "mail/x.test/a/tmp"), 0u);
}

namespace {

// Issue 12 / test_home_restart: the end of DATA arrives with the last chunk of the body, whose
// append runs on the deliverer's workers. While that append waits, a stop must already see the
// transaction's replies as owed; otherwise it closes the connection, the message is delivered
// a moment later, and its 250 never goes out (the relay then delivers it a second time).
TEST_F(LmtpDriver, RepliesOwedFromTheEndOfDataOn) {
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    std::string data;
    auto reply = [&] {
        auto n = asio::read_until(s, asio::dynamic_buffer(data), "\r\n");
        std::string line = data.substr(0, n - 2);
        data.erase(0, n);
        return line;
    };
    asio::write(s, asio::buffer(std::string(
                       "LHLO r\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n")));
    std::string line;
    do line = reply();
    while (line.substr(0, 3) != "354");
    // The message file is staged on the deliverer's workers after the 354: wait for it, so the
    // blocked workers below hold back only the append.
    auto staged = [&] {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir_ / "mail", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file()) return true;
        return false;
    };
    for (int i = 0; i < 200 && !staged(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(staged()) << "no staged message file";
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // the driver reads again
    // Every worker of the deliverer busy until released.
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    std::atomic<int> blocked{0};
    constexpr int workers = 16; // at least the pool's size: the extra tasks queue behind
    for (int i = 0; i < workers; ++i)
        deliverer_->run([gate, &blocked] {
            ++blocked;
            gate.wait();
        });
    asio::write(s, asio::buffer(std::string("Subject: t\r\n\r\nbody\r\n.\r\n")));
    auto owed = [&] {
        std::promise<std::size_t> p;
        asio::post(io_, [&] { p.set_value(ctx_.replies_owed); });
        return p.get_future().get();
    };
    std::size_t seen = 0;
    for (int i = 0; i < 200 && seen == 0; ++i) { // the session reads the end of DATA
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        seen = owed();
    }
    EXPECT_EQ(seen, 1u) << "the end of DATA is in, the last append waits: replies are owed";
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 0u) << "not delivered yet";
    release.set_value();
    EXPECT_EQ(reply(), "250 2.0.0 <a@x.test> delivered");
    EXPECT_EQ(count(dir_ / "mail/x.test/a/new"), 1u);
    // The reply can reach us before the io thread sees its write complete and settles the debt.
    for (int i = 0; i < 500 && (seen = owed()) != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(seen, 0u) << "the reply went out: nothing owed any more";
}

} // namespace
