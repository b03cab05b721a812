// The outbound SMTP client against a scripted server on loopback TCP: each step waits for the
// exact bytes the client must send, then answers. Covers PIPELINING and the command-by-command
// path, HELO fallback, per-recipient results, ESMTP parameters, STARTTLS (certificate made
// with openssl at test time, EHLO repeated after TLS), refused greeting, and deadlines.
#include <gtest/gtest.h>

#include "smtp_out/client.hpp"

#include "splitmail/net/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <optional>

using namespace splitmail;
using namespace splitmail::relay;
namespace asio = boost::asio;

namespace {

struct step {
    std::string expect;     // bytes the client must send next ("" = nothing, just reply)
    std::string reply;      // what the server answers ("" = nothing)
    bool start_tls = false; // after replying, do a TLS handshake (server side)
};

struct outcome {
    std::vector<smtp::reply> replies;
    std::string error; // exception text, if any
    std::optional<smtp::reply> failure_reply;
    bool server_ok = false; // every expected byte seen, in order
    std::string server_error;
    bool tls = false;
    peer_caps caps;
};

std::filesystem::path cert_dir() {
    static std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() /
                 ("smtp-client-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        auto cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                   "-subj /CN=mx.remote.test -keyout " +
                   (d / "k.pem").string() + " -out " + (d / "c.pem").string() + " >/dev/null 2>&1";
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        return d;
    }();
    return dir;
}

asio::awaitable<void> serve(net::tcp::acceptor& acc, std::vector<step> script, outcome& out,
                            net::tls_context tls) {
    auto sock = co_await acc.async_accept(asio::use_awaitable);
    net::connection c(std::move(sock));
    std::string buf;
    std::array<char, 4096> tmp;
    try {
        for (const auto& st : script) {
            while (buf.size() < st.expect.size()) {
                auto n = co_await c.read_some(tmp, std::chrono::seconds(5));
                if (n == 0) throw std::runtime_error("client closed; have: " + buf);
                buf.append(tmp.data(), n);
            }
            if (buf.compare(0, st.expect.size(), st.expect) != 0)
                throw std::runtime_error("expected [" + st.expect + "] got [" + buf + "]");
            buf.erase(0, st.expect.size());
            if (!st.reply.empty()) co_await c.write(st.reply, std::chrono::seconds(5));
            if (st.start_tls) {
                if (!buf.empty()) throw std::runtime_error("client pipelined after STARTTLS");
                co_await c.start_tls_server(tls, std::chrono::seconds(5));
            }
        }
        out.server_ok = true;
        // Keep the connection open briefly so the client can finish reading.
        auto n = co_await c.read_some(tmp, std::chrono::seconds(3));
        (void)n;
    } catch (const std::exception& e) {
        if (!out.server_ok) out.server_error = e.what();
    }
}

using body_fn = std::function<asio::awaitable<void>(smtp_client&, outcome&)>;

outcome run(std::vector<step> script, smtp_client_options opt, body_fn body,
            net::tls_context server_tls = nullptr) {
    asio::io_context io;
    net::tcp::acceptor acc(io, net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto port = acc.local_endpoint().port();
    outcome out;
    asio::co_spawn(io, serve(acc, std::move(script), out, server_tls), asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                auto conn = co_await net::connect("127.0.0.1:" + std::to_string(port),
                                                  std::chrono::seconds(5));
                auto c = co_await smtp_client::open(std::move(conn), opt);
                out.tls = c->is_tls();
                out.caps = c->caps();
                co_await body(*c, out);
            } catch (const smtp_failure& f) {
                out.error = f.what();
                out.failure_reply = f.reply;
            } catch (const std::exception& e) {
                out.error = net::error_text(e);
            }
        },
        asio::detached);
    io.run_for(std::chrono::seconds(20));
    return out;
}

smtp_client_options options() {
    smtp_client_options o;
    o.helo_name = "relay.example.test";
    o.timeouts.greeting = o.timeouts.command = o.timeouts.data_init = o.timeouts.data_block =
        o.timeouts.data_end = std::chrono::seconds(3);
    return o;
}

// Each transaction's message stream (consumed once by send()); kept for the whole test run.
std::deque<splitmail::relay::message_stream> streams;

outbound_transaction txn(std::vector<std::string> rcpts, std::string_view msg) {
    outbound_transaction t;
    t.sender = "demo@example.test";
    for (auto& r : rcpts) t.recipients.push_back({r, "", {}});
    t.message = &streams.emplace_back(std::string(msg));
    return t;
}

const std::string greet = "220 mx.remote.test ESMTP\r\n";
const std::string ehlo = "EHLO relay.example.test\r\n";
const std::string msg = "Subject: hi\r\n\r\n.dot line\r\nbody\r\n";
const std::string stuffed = "Subject: hi\r\n\r\n..dot line\r\nbody\r\n.\r\n";

} // namespace

TEST(smtp_client, pipelined_transaction_with_per_recipient_results_and_reset) {
    std::string size = std::to_string(msg.size());
    auto out =
        run({{"", greet},
             {ehlo, "250-mx.remote.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
                    "250-DSN\r\n250 SMTPUTF8\r\n"},
             {"MAIL FROM:<demo@example.test> SIZE=" + size +
                  " BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=e1\r\n"
                  "RCPT TO:<a@remote.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@remote.test\r\n"
                  "RCPT TO:<b@remote.test>\r\nDATA\r\n",
              "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"},
             {stuffed, "250 2.0.0 queued as X\r\n"},
             {"RSET\r\n", "250 2.0.0 ok\r\n"},
             {"QUIT\r\n", "221 bye\r\n"}},
            options(), [](smtp_client& c, outcome& o) -> asio::awaitable<void> {
                const std::vector<std::string> to = {"a@remote.test", "b@remote.test"};
                auto t = txn(to, msg);
                t.body = queue::body_type::eight_bit_mime;
                t.smtputf8 = true;
                t.ret = queue::ret_type::hdrs;
                t.envid = "e1";
                t.recipients[0].orcpt = "rfc822;a@remote.test";
                t.recipients[0].notify = *queue::parse_notify("FAILURE,DELAY");
                o.replies = co_await c.send(t);
                EXPECT_TRUE(co_await c.reset());
                co_await c.quit();
            });
    EXPECT_TRUE(out.server_ok) << out.server_error;
    EXPECT_EQ(out.error, "");
    ASSERT_EQ(out.replies.size(), 2u);
    EXPECT_EQ(out.replies[0].code, 250);
    EXPECT_EQ(out.replies[0].enhanced, "2.0.0");
    EXPECT_EQ(out.replies[1].code, 550);
    EXPECT_EQ(out.replies[1].enhanced, "5.1.1");
    EXPECT_TRUE(out.caps.pipelining);
    EXPECT_EQ(out.caps.max_size, 100000u);
}

TEST(smtp_client, helo_fallback_and_command_by_command) {
    auto out = run({{"", greet},
                    {ehlo, "502 5.5.2 what?\r\n"},
                    {"HELO relay.example.test\r\n", "250 mx.remote.test\r\n"},
                    {"MAIL FROM:<demo@example.test>\r\n", "250 ok\r\n"},
                    {"RCPT TO:<a@remote.test>\r\n", "451 4.2.0 busy\r\n"},
                    {"RCPT TO:<b@remote.test>\r\n", "250 ok\r\n"},
                    {"DATA\r\n", "354 go\r\n"},
                    {stuffed, "554 5.7.1 looks like spam\r\n"}},
                   options(), [](smtp_client& c, outcome& o) -> asio::awaitable<void> {
                       const std::vector<std::string> to = {"a@remote.test", "b@remote.test"};
                       auto t = txn(to, msg);
                       t.body = queue::body_type::eight_bit_mime; // no BODY= without 8BITMIME
                       o.replies = co_await c.send(t);
                   });
    EXPECT_TRUE(out.server_ok) << out.server_error;
    ASSERT_EQ(out.replies.size(), 2u) << out.error;
    EXPECT_EQ(out.replies[0].code, 451);
    EXPECT_EQ(out.replies[1].code, 554);
    EXPECT_FALSE(out.caps.esmtp);
}

TEST(smtp_client, refused_mail_refuses_every_recipient) {
    auto out = run({{"", greet},
                    {ehlo, "250-mx\r\n250 PIPELINING\r\n"},
                    {"MAIL FROM:<demo@example.test>\r\nRCPT TO:<a@remote.test>\r\n"
                     "RCPT TO:<b@remote.test>\r\nDATA\r\n",
                     "452 4.3.1 full\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n"
                     "503 5.5.1 no valid recipients\r\n"}},
                   options(), [](smtp_client& c, outcome& o) -> asio::awaitable<void> {
                       const std::vector<std::string> to = {"a@remote.test", "b@remote.test"};
                       auto t = txn(to, msg);
                       o.replies = co_await c.send(t);
                   });
    EXPECT_TRUE(out.server_ok) << out.server_error;
    ASSERT_EQ(out.replies.size(), 2u) << out.error;
    EXPECT_EQ(out.replies[0].code, 452);
    EXPECT_EQ(out.replies[1].code, 452);
}

TEST(smtp_client, all_recipients_refused_then_354_gets_empty_terminator) {
    auto out = run({{"", greet},
                    {ehlo, "250-mx\r\n250 PIPELINING\r\n"},
                    {"MAIL FROM:<demo@example.test>\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n",
                     "250 ok\r\n550 5.1.1 no\r\n354 go anyway\r\n"},
                    {".\r\n", "554 5.5.1 no recipients\r\n"}},
                   options(), [](smtp_client& c, outcome& o) -> asio::awaitable<void> {
                       const std::vector<std::string> to = {"a@remote.test"};
                       auto t = txn(to, msg);
                       o.replies = co_await c.send(t);
                   });
    EXPECT_TRUE(out.server_ok) << out.server_error;
    ASSERT_EQ(out.replies.size(), 1u) << out.error;
    EXPECT_EQ(out.replies[0].code, 550);
}

TEST(smtp_client, refused_greeting_throws_with_the_reply) {
    auto out = run({{"", "554 5.7.1 go away\r\n"}}, options(),
                   [](smtp_client&, outcome&) -> asio::awaitable<void> { co_return; });
    ASSERT_TRUE(out.failure_reply) << out.error;
    EXPECT_EQ(out.failure_reply->code, 554);
}

TEST(smtp_client, silent_server_times_out) {
    auto o = options();
    o.timeouts.greeting = std::chrono::milliseconds(300);
    auto start = std::chrono::steady_clock::now();
    auto out =
        run({{"", ""}}, o, [](smtp_client&, outcome&) -> asio::awaitable<void> { co_return; });
    EXPECT_NE(out.error.find("timed out"), std::string::npos) << out.error;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(smtp_client, lost_connection_during_data_throws) {
    auto out = run({{"", greet},
                    {ehlo, "250-mx\r\n250 PIPELINING\r\n"},
                    {"MAIL FROM:<demo@example.test>\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n",
                     "250 ok\r\n250 ok\r\n354 go\r\n"},
                    {stuffed, ""}}, // then the server closes without the final reply
                   options(), [](smtp_client& c, outcome& o) -> asio::awaitable<void> {
                       const std::vector<std::string> to = {"a@remote.test"};
                       auto t = txn(to, msg);
                       o.replies = co_await c.send(t);
                   });
    EXPECT_TRUE(out.replies.empty());
    EXPECT_NE(out.error, "");
}

TEST(smtp_client, starttls_when_offered_then_ehlo_again) {
    auto dir = cert_dir();
    auto stls = net::make_server_tls(dir / "c.pem", dir / "k.pem");
    ASSERT_TRUE(stls) << stls.error();
    auto ctls = net::make_client_tls("", "", false);
    ASSERT_TRUE(ctls) << ctls.error();
    auto o = options();
    o.tls = *ctls;
    o.sni = "mx.remote.test";
    auto out = run(
        {{"", greet},
         {ehlo, "250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n"},
         {"STARTTLS\r\n", "220 2.0.0 go ahead\r\n", true},
         {ehlo, "250-mx\r\n250 PIPELINING\r\n"},
         {"QUIT\r\n", "221 bye\r\n"}},
        o, [](smtp_client& c, outcome&) -> asio::awaitable<void> { co_await c.quit(); }, *stls);
    EXPECT_TRUE(out.server_ok) << out.server_error << " / " << out.error;
    EXPECT_TRUE(out.tls);
    // RFC 3207 4.2: capabilities come from the EHLO after TLS.
    EXPECT_TRUE(out.caps.pipelining);
    EXPECT_FALSE(out.caps.starttls);
    EXPECT_FALSE(out.caps.eight_bit_mime);
}

TEST(smtp_client, starttls_refused_continues_in_plaintext) {
    auto ctls = net::make_client_tls("", "", false);
    ASSERT_TRUE(ctls);
    auto o = options();
    o.tls = *ctls;
    auto out = run({{"", greet},
                    {ehlo, "250-mx\r\n250 STARTTLS\r\n"},
                    {"STARTTLS\r\n", "454 4.7.0 TLS not available\r\n"},
                    {"QUIT\r\n", "221 bye\r\n"}},
                   o, [](smtp_client& c, outcome&) -> asio::awaitable<void> { co_await c.quit(); });
    EXPECT_TRUE(out.server_ok) << out.server_error << " / " << out.error;
    EXPECT_FALSE(out.tls);
}
