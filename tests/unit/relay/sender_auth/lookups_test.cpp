// relay/sender_auth: the DKIM/DMARC TXT lookups over a real libunbound context forwarding to a
// slow DNS responder on loopback: answers that arrive in time are used, the rest end at the
// deadline, and the waiter never waits longer than the deadline.
#include "sender_auth/inbound.hpp"

#include "unit/relay/slow_dns.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace splitmail::relay;
using splitmail::relay::test::slow_dns;

namespace {

void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

std::vector<std::optional<dkim::key_answer>>
run(dns::unbound_resolver& r, std::chrono::milliseconds timeout, std::vector<std::string> names) {
    boost::asio::io_context io;
    std::vector<std::optional<dkim::key_answer>> out;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            out = co_await sender_auth::lookup_txt(r, timeout, names);
        },
        rethrow);
    io.run();
    return out;
}

} // namespace

TEST(sender_auth_lookups, deadline_and_answers) {
    slow_dns server(std::chrono::milliseconds(300));
    auto r = dns::unbound_resolver::create({server.address(), 2});
    ASSERT_TRUE(r) << r.error();
    const std::vector<std::string> names = {"a._domainkey.slow.example.test",
                                            "_dmarc.slow.example.test"};
    auto t0 = std::chrono::steady_clock::now();
    auto quick = run(**r, std::chrono::milliseconds(100), names);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(280));
    ASSERT_EQ(quick.size(), 2u);
    EXPECT_FALSE(quick[0]) << "no answer before the deadline";
    EXPECT_FALSE(quick[1]);

    auto patient = run(**r, std::chrono::milliseconds(10000), {"b._domainkey.slow2.example.test"});
    ASSERT_EQ(patient.size(), 1u);
    ASSERT_TRUE(patient[0]);
    EXPECT_EQ(patient[0]->st, dkim::key_answer::status::nxdomain);

    EXPECT_TRUE(run(**r, std::chrono::milliseconds(100), {}).empty());
    r->reset(); // joins the pool: late answers of the first run are dropped harmlessly
}

// Each From: domain asks for its own record and its Organizational Domain's.
TEST(sender_auth_lookups, dmarc_names) {
    const auto psl = dmarc::suffix_list::parse("com\nco.uk\n");
    EXPECT_EQ(sender_auth::dmarc_names({"news.example.co.uk", "x.com"}, psl),
              (std::vector<std::string>{"_dmarc.news.example.co.uk", "_dmarc.example.co.uk",
                                        "_dmarc.x.com", "_dmarc.x.com"}));
}

// RFC 8601 3: iprev results from the PTR answer and the forward answers of its names.
TEST(sender_auth_iprev, results) {
    using st = dkim::key_answer::status;
    auto ans = [](st s, std::vector<std::string> v = {}) {
        return std::optional<dkim::key_answer>(dkim::key_answer{s, std::move(v)});
    };
    const auto ptr = ans(st::ok, {"mail.example.org", "other.example.org"});
    const auto names = sender_auth::ptr_names(ptr);
    ASSERT_EQ(names.size(), 2u);
    auto r = sender_auth::evaluate_iprev("192.0.2.1", ptr, names,
                                         {ans(st::ok, {"192.0.2.9"}), ans(st::ok, {"192.0.2.1"})});
    EXPECT_EQ(r.result, "pass");
    EXPECT_EQ(r.name, "other.example.org");
    r = sender_auth::evaluate_iprev("2001:db8::1", ans(st::ok, {"v6.example.org"}),
                                    {"v6.example.org"}, {ans(st::ok, {"2001:DB8:0::1"})});
    EXPECT_EQ(r.result, "pass") << "addresses compare as addresses, not text";
    r = sender_auth::evaluate_iprev("192.0.2.1", ptr, names,
                                    {ans(st::ok, {"192.0.2.9"}), ans(st::nxdomain)});
    EXPECT_EQ(r.result, "fail");
    r = sender_auth::evaluate_iprev("192.0.2.1", ptr, names,
                                    {ans(st::ok, {"192.0.2.9"}), ans(st::temp_error)});
    EXPECT_EQ(r.result, "temperror");
    EXPECT_EQ(sender_auth::evaluate_iprev("192.0.2.1", ans(st::nxdomain), {}, {}).result,
              "permerror");
    EXPECT_EQ(sender_auth::evaluate_iprev("192.0.2.1", std::nullopt, {}, {}).result, "temperror");
    std::vector<std::string> many;
    for (int i = 0; i < 30; ++i) many.push_back("n" + std::to_string(i) + ".example.org");
    EXPECT_EQ(sender_auth::ptr_names(ans(st::ok, many)).size(), 10u);
}
