// Notices built from the spool file in pieces: byte-identical to make_dsn over the whole
// message (RET=FULL and headers only, a boundary candidate straddling two pieces, a message
// without a final CRLF, a prefix), the header excerpt capped, routing by "is this ours", a
// deleted original, no notice for the null sender.
#include "queue/notice.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/queue/id.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace splitmail;
using namespace splitmail::relay;

namespace {

const sys_time t0 = sys_time{std::chrono::seconds{1'700'000'000}};

struct fixture {
    fs::path dir;
    durable::committer committer;
    std::optional<queue::spool> spool;
    boost::asio::io_context io;
    boost::asio::thread_pool readers{2};
    notice_settings ns{"relay.example.test",
                       [](std::string_view d) { return d == "example.test"; }};

    fixture() {
        std::string tmpl = (fs::temp_directory_path() / "notice-test-XXXXXX").string();
        dir = ::mkdtemp(tmpl.data());
        spool.emplace(*queue::spool::open(dir, committer));
    }
    ~fixture() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }

    // Queues `message` (prefix + body) for a failed recipient and returns its envelope.
    queue::envelope queue_original(const std::string& prefix, const std::string& body,
                                   queue::ret_type ret, std::string sender = "alice@example.org") {
        queue::envelope e;
        e.id = queue::make_id();
        e.sender = std::move(sender);
        queue::recipient r;
        r.address = "bob@far.example";
        r.state = queue::rcpt_state::failed;
        r.last_code = 550;
        r.last_enhanced = "5.1.1";
        r.last_text = "no such user";
        r.route = queue::rcpt_route::remote;
        e.recipients.push_back(r);
        e.ret = ret;
        e.arrival = t0;
        e.attempts = 1;
        auto f = spool->create_message();
        EXPECT_TRUE(f);
        f->write(body);
        std::promise<std::error_code> p;
        spool->enqueue_file(e, prefix, std::move(*f),
                            [&p](std::error_code ec) { p.set_value(ec); });
        EXPECT_FALSE(p.get_future().get());
        e.prefix = prefix;
        return e;
    }

    notice_result run(const queue::envelope& e, dsn_kind kind) {
        notice_result out;
        boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                out =
                    co_await queue_notice(*spool, readers, ns, e, kind, {},
                                          t0 + std::chrono::hours{1}, t0 + std::chrono::hours{120});
            },
            [](std::exception_ptr ep) {
                if (ep) std::rethrow_exception(ep);
            });
        io.restart();
        io.run();
        return out;
    }

    std::string expected(const queue::envelope& e, const std::string& whole, dsn_kind kind) {
        dsn_options opt{.reporting_mta = ns.reporting_mta,
                        .now = t0 + std::chrono::hours{1},
                        .will_retry_until = t0 + std::chrono::hours{120},
                        .only = {}};
        auto d = make_dsn(e, whole, kind, opt);
        EXPECT_TRUE(d);
        return d ? d->data : "";
    }
};

std::string big_body(std::size_t n, const std::string& planted, std::size_t at) {
    std::string b = "Subject: big\r\nFrom: a@example.org\r\n\r\n";
    while (b.size() < n) b += "line of the body, ascii only, 0123456789abcdef\r\n";
    b.replace(at, planted.size(), planted);
    return b;
}

} // namespace

TEST(notice, full_original_streamed_is_byte_identical) {
    fixture f;
    const std::string prefix = "Received: from x by relay.example.test\r\n";
    // Three pieces and a bit, 8-bit octets far from the start.
    std::string body = big_body(3 * 256 * 1024 + 1000,
                                "Gr\xc3\xbc\xc3\x9f"
                                "e",
                                600'000);
    auto e = f.queue_original(prefix, body, queue::ret_type::full);
    auto r = f.run(e, dsn_kind::failure);
    ASSERT_TRUE(r.ok);
    ASSERT_TRUE(r.notice);
    auto got = f.spool->read_message(r.notice->id);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, f.expected(e, prefix + body, dsn_kind::failure));
    EXPECT_NE(got->find("Content-Transfer-Encoding: 8bit"), std::string::npos);
    EXPECT_EQ(r.notice->body, queue::body_type::eight_bit_mime);
    EXPECT_EQ(r.notice->size, got->size());
    EXPECT_EQ(r.notice->recipients[0].route, queue::rcpt_route::remote);
    auto loaded = f.spool->load(r.notice->id);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->sender, "");
}

TEST(notice, boundary_candidate_across_two_pieces_is_avoided) {
    fixture f;
    // The id is made when the message is queued, so the candidate is planted afterwards.
    std::string body = big_body(600'000, "x", 100);
    auto e = f.queue_original("", body, queue::ret_type::full);
    // Rewrite the stored file with the boundary candidate straddling the 256 KiB piece edge.
    const std::string cand = "--=_splitmail_" + e.id;
    body.replace(256 * 1024 - 7, cand.size(), cand);
    {
        auto path = f.spool->message_path(e.id);
        ::chmod(path.c_str(), 0600);
        std::FILE* fp = std::fopen(path.c_str(), "wb");
        ASSERT_TRUE(fp);
        std::fwrite(body.data(), 1, body.size(), fp);
        std::fclose(fp);
    }
    auto r = f.run(e, dsn_kind::failure);
    ASSERT_TRUE(r.notice);
    auto got = f.spool->read_message(r.notice->id);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, f.expected(e, body, dsn_kind::failure));
    EXPECT_NE(got->find("boundary=\"=_splitmail_" + e.id + "_1\""), std::string::npos);
}

TEST(notice, headers_only_and_message_without_final_crlf) {
    fixture f;
    const std::string body = "Subject: hi\r\nFrom: a@example.org\r\n\r\nno final line end";
    auto e = f.queue_original("Received: by relay\r\n", body, queue::ret_type::hdrs,
                              "carol@example.test");
    auto r = f.run(e, dsn_kind::failure);
    ASSERT_TRUE(r.notice);
    auto got = f.spool->read_message(r.notice->id);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, f.expected(e, "Received: by relay\r\n" + body, dsn_kind::failure));
    EXPECT_EQ(got->find("no final line end"), std::string::npos);
    EXPECT_EQ(r.notice->recipients[0].route, queue::rcpt_route::home); // our domain

    auto full = f.queue_original("", body, queue::ret_type::full);
    auto r2 = f.run(full, dsn_kind::failure);
    ASSERT_TRUE(r2.notice);
    EXPECT_EQ(*f.spool->read_message(r2.notice->id), f.expected(full, body, dsn_kind::failure));
}

TEST(notice, header_excerpt_is_capped_at_a_line_end) {
    fixture f;
    std::string hdr;
    int n = 0;
    while (hdr.size() < dsn_header_excerpt + 50'000)
        hdr += "X-Filler-" + std::to_string(n++) + ": " + std::string(60, 'v') + "\r\n";
    auto e = f.queue_original("", hdr + "\r\nbody\r\n", queue::ret_type::hdrs);
    auto r = f.run(e, dsn_kind::failure);
    ASSERT_TRUE(r.notice);
    auto got = f.spool->read_message(r.notice->id);
    ASSERT_TRUE(got);
    EXPECT_LT(got->size(), dsn_header_excerpt + 8192);
    EXPECT_NE(got->find("X-Filler-0: "), std::string::npos);
    EXPECT_EQ(got->find("X-Filler-" + std::to_string(n - 1) + ":"), std::string::npos);
    // The excerpt ends with a whole line, then the closing boundary.
    EXPECT_NE(got->find(std::string(60, 'v') + "\r\n\r\n--=_splitmail_"), std::string::npos);
}

TEST(notice, null_sender_and_deleted_original) {
    fixture f;
    auto e = f.queue_original("", "Subject: x\r\n\r\nbody\r\n", queue::ret_type::full, "");
    auto r = f.run(e, dsn_kind::failure);
    EXPECT_TRUE(r.ok);
    EXPECT_FALSE(r.notice);

    auto g = f.queue_original("", "Subject: x\r\n\r\nbody\r\n", queue::ret_type::full);
    ASSERT_TRUE(f.spool->remove_to_deleted(g.id));
    auto r2 = f.run(g, dsn_kind::failure);
    ASSERT_TRUE(r2.notice); // the sender still learns it failed, without the original
    EXPECT_EQ(*f.spool->read_message(r2.notice->id), f.expected(g, "", dsn_kind::failure));
}
