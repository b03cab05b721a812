// rspamd request head, HTTP framing and JSON answer; clamd framing and replies.
#include "filter/clamd_protocol.hpp"
#include "filter/rspamd_protocol.hpp"

#include <gtest/gtest.h>

namespace splitmail::relay::filter {
namespace {

TEST(FilterRspamd, RequestHead) {
    rspamd_request r;
    r.from = "a@sender.test";
    r.rcpts = {"demo@example.test", "two@example.test"};
    r.ip = "192.0.2.7";
    r.helo = "evil\r\nUser: admin";
    r.hostname = "";
    r.user = "demo@example.test";
    r.queue_id = "Q123";
    auto h = rspamd_request_head(r, "127.0.0.1", 1234);
    EXPECT_TRUE(h.starts_with("POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1\r\n")) << h;
    EXPECT_NE(h.find("Content-Length: 1234\r\n"), std::string::npos);
    EXPECT_NE(h.find("From: <a@sender.test>\r\n"), std::string::npos);
    EXPECT_NE(h.find("Rcpt: <demo@example.test>\r\nRcpt: <two@example.test>\r\n"),
              std::string::npos);
    EXPECT_NE(h.find("IP: 192.0.2.7\r\n"), std::string::npos);
    EXPECT_NE(h.find("Helo: evil__User: admin\r\n"), std::string::npos) << h;
    EXPECT_EQ(h.find("\r\nUser: admin"), std::string::npos);
    EXPECT_NE(h.find("User: demo@example.test\r\n"), std::string::npos);
    EXPECT_NE(h.find("Queue-Id: Q123\r\n"), std::string::npos);
    EXPECT_EQ(h.find("Hostname:"), std::string::npos); // unknown: left out
    EXPECT_TRUE(h.ends_with("\r\n\r\n"));
    rspamd_request null_sender;
    EXPECT_NE(rspamd_request_head(null_sender, "h", 0).find("From: <>\r\n"), std::string::npos);
}

TEST(FilterRspamd, HttpFramingWholeAndByteByByte) {
    const std::string answer = "HTTP/1.1 200 OK\r\nConnection: close\r\nServer: rspamd/3.4\r\n"
                               "Content-Length: 5\r\nContent-Type: application/json\r\n\r\n"
                               "{\"a\"}trailing";
    auto whole = parse_http_response(answer, false);
    ASSERT_TRUE(whole && *whole);
    EXPECT_EQ((*whole)->status, 200);
    EXPECT_EQ((*whole)->body, "{\"a\"}");
    const std::size_t complete = answer.size() - std::string("trailing").size();
    for (std::size_t n = 0; n < complete; ++n) {
        auto r = parse_http_response(std::string_view(answer).substr(0, n), false);
        ASSERT_TRUE(r) << n << ": " << r.error();
        EXPECT_FALSE(*r) << n;
        auto closed = parse_http_response(std::string_view(answer).substr(0, n), true);
        EXPECT_FALSE(closed) << n; // cut short by the peer
    }
    auto no_length = parse_http_response("HTTP/1.0 500 Oops\r\nX: y\r\n\r\nbody", false);
    ASSERT_TRUE(no_length);
    EXPECT_FALSE(*no_length);
    auto at_eof = parse_http_response("HTTP/1.0 500 Oops\r\nX: y\r\n\r\nbody", true);
    ASSERT_TRUE(at_eof && *at_eof);
    EXPECT_EQ((*at_eof)->status, 500);
    EXPECT_EQ((*at_eof)->body, "body");
}

TEST(FilterRspamd, HttpFramingErrors) {
    for (const char* bad : {"SMTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 99 OK\r\n\r\n"})
        EXPECT_FALSE(parse_http_response(bad, false)) << bad;
}

TEST(FilterRspamd, AnswerOfRspamd34) {
    // Shape of a real rspamd 3.4 /checkv2 answer (trimmed).
    const char* json = R"({"is_skipped":false,"score":100.0,"required_score":15.0,
        "action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0},
        "MIME_GOOD":{"name":"MIME_GOOD","score":-0.1,"options":["text/plain"]}},
        "messages":{"smtp_message":"Gtube pattern"},"message-id":"x@y",
        "milter":{"add_headers":{"X-Spamd-Bar":{"value":"++++","order":0},
                                 "X-Plain":"v","X-Two":[{"value":"1"},{"value":"2"}]},
                  "remove_headers":{"X-Spam":0,"X-Spamd-Bar":1}}})";
    auto a = parse_rspamd_answer(json);
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->action, "reject");
    EXPECT_DOUBLE_EQ(a->score, 100.0);
    EXPECT_DOUBLE_EQ(a->required_score, 15.0);
    ASSERT_EQ(a->symbols.size(), 2u);
    EXPECT_EQ(a->symbols[0].name, "GTUBE");
    EXPECT_DOUBLE_EQ(a->symbols[1].score, -0.1);
    EXPECT_EQ(a->smtp_message, "Gtube pattern");
    ASSERT_EQ(a->add_headers.size(), 4u);
    EXPECT_EQ(a->add_headers[0].name, "X-Plain"); // nlohmann orders object keys
    EXPECT_EQ(a->add_headers[1].name, "X-Spamd-Bar");
    EXPECT_EQ(a->add_headers[1].value, "++++");
    EXPECT_EQ(a->add_headers[3].value, "2");
    EXPECT_EQ(a->remove_headers, (std::vector<std::string>{"X-Spam", "X-Spamd-Bar"}));
}

TEST(FilterRspamd, BadAnswers) {
    for (const char* bad : {"", "[]", "{", "{\"score\":1}", "{\"action\":5}",
                            "{\"error\":\"bad request\"}", "not json"})
        EXPECT_FALSE(parse_rspamd_answer(bad)) << bad;
    std::string deep(100, '[');
    deep = "{\"action\":\"no action\",\"x\":" + deep + std::string(100, ']') + "}";
    auto d = parse_rspamd_answer(deep);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("nested"), std::string::npos) << d.error();
    // Odd but valid types are ignored, not fatal.
    auto odd = parse_rspamd_answer(
        R"({"action":"no action","score":"high","symbols":[1],"milter":{"add_headers":[1]}})");
    ASSERT_TRUE(odd) << odd.error();
    EXPECT_DOUBLE_EQ(odd->score, 0);
    EXPECT_TRUE(odd->symbols.empty());
}

TEST(FilterClamd, ChunkLengthIsBigEndian) {
    auto b = clamd_chunk_length(0x01020304);
    EXPECT_EQ(std::string(b.data(), 4), std::string("\x01\x02\x03\x04", 4));
    auto z = clamd_chunk_length(0);
    EXPECT_EQ(std::string(z.data(), 4), std::string(4, '\0'));
    EXPECT_EQ(clamd_instream_command, std::string_view("zINSTREAM\0", 10));
}

TEST(FilterClamd, Replies) {
    using k = clamd_reply::kind;
    struct {
        std::string_view in;
        k status;
        const char* detail;
    } cases[] = {
        {std::string_view("stream: OK\0", 11), k::clean, ""},
        {"stream: OK\n", k::clean, ""},
        {"stream: Eicar-Test-Signature FOUND", k::found, "Eicar-Test-Signature"},
        {"stream: Splitmail.Test.EICAR.UNOFFICIAL FOUND", k::found,
         "Splitmail.Test.EICAR.UNOFFICIAL"},
        {"INSTREAM size limit exceeded. ERROR", k::error, "INSTREAM size limit exceeded. ERROR"},
        {"stream: Can't allocate memory ERROR", k::error, "stream: Can't allocate memory ERROR"},
        {"stream: two words FOUND", k::error, nullptr},
        {"stream:  FOUND", k::error, nullptr},
        {"UNKNOWN COMMAND", k::error, nullptr},
        {"", k::error, nullptr},
        {std::string_view("stream: OK\0stream: OK", 21), k::error, nullptr},
        {"stream: Bad\x01Name FOUND", k::error, nullptr},
    };
    for (const auto& c : cases) {
        auto r = parse_clamd_reply(c.in);
        EXPECT_EQ(r.status, c.status) << c.in;
        if (c.detail) {
            EXPECT_EQ(r.detail, c.detail) << c.in;
        }
    }
}

} // namespace
} // namespace splitmail::relay::filter
