// Queue ids (unique, sortable, file-name safe) and the envelope JSON form.
#include "splitmail/queue/envelope.hpp"
#include "splitmail/queue/id.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

using namespace splitmail::queue;
using namespace std::chrono;

TEST(queue_id, shape_and_alphabet) {
    auto id = make_id();
    EXPECT_EQ(id.size(), id_length);
    EXPECT_TRUE(is_valid_id(id));
    EXPECT_EQ(id.find_first_of("ILOU/.-"), std::string::npos);
    EXPECT_FALSE(is_valid_id(""));
    EXPECT_FALSE(is_valid_id("../../etc/passwd0"));
    EXPECT_FALSE(is_valid_id(id.substr(1)));
    EXPECT_FALSE(is_valid_id(id.substr(1) + "I")); // I is not in the alphabet
    EXPECT_FALSE(is_valid_id(id.substr(1) + "a")); // upper case only
}

TEST(queue_id, sorted_by_time_and_strictly_increasing) {
    // In the future: the generator is monotonic, so times before its last id are lifted.
    const auto t0 = time_point_cast<seconds>(system_clock::now()) + hours{24};
    std::string a = make_id(t0);
    std::string b = make_id(t0);              // same millisecond: counter
    std::string c = make_id(t0 + seconds{1}); // later
    std::string d = make_id(t0 - hours{1});   // clock stepped back: still after c
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    EXPECT_LT(c, d);
    // Time prefix: a later second sorts later even with a fresh generator state.
    EXPECT_LT(a.substr(0, 10), c.substr(0, 10));
}

TEST(queue_id, unique_across_threads) {
    std::mutex m;
    std::set<std::string> all;
    std::vector<std::thread> ts;
    const int threads = 8, per = 20000;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&] {
            std::vector<std::string> mine;
            mine.reserve(per);
            for (int i = 0; i < per; ++i) mine.push_back(make_id());
            EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
            std::lock_guard lk(m);
            all.insert(mine.begin(), mine.end());
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(all.size(), static_cast<std::size_t>(threads * per));
}

namespace {

envelope sample() {
    envelope e;
    e.id = make_id();
    e.sender = "alice@example.org";
    recipient r1;
    r1.address = "demo@example.test";
    r1.orcpt = "rfc822;demo+2Btag@example.test";
    r1.notify = *parse_notify("FAILURE,DELAY");
    r1.state = rcpt_state::deferred;
    r1.last_code = 451;
    r1.last_enhanced = "4.3.0";
    r1.last_text = "home \"offline\"\ttry later";
    recipient r2;
    r2.address = "bob@example.test";
    r2.notify = *parse_notify("NEVER");
    r2.state = rcpt_state::delivered;
    r2.last_code = 250;
    r2.route = rcpt_route::remote;
    recipient r3;
    r3.address = "jörg@example.test";
    r3.state = rcpt_state::failed;
    e.recipients = {r1, r2, r3};
    e.ret = ret_type::full;
    e.envid = "QQ314159";
    e.body = body_type::eight_bit_mime;
    e.smtputf8 = true;
    e.arrival = system_clock::time_point{seconds{1'700'000'000}};
    e.attempts = 3;
    e.next_attempt = e.arrival + minutes{4};
    e.last_error = "connect: refused";
    e.client_ip = "2001:db8::1";
    e.client_helo = "mx.example.org";
    e.size = 5120;
    e.delay_warned = true;
    e.queue = queue_name::incoming;
    return e;
}

} // namespace

TEST(envelope_json, round_trip_keeps_every_field) {
    const envelope e = sample();
    auto back = from_json(to_json(e));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, e);
    // Defaults round-trip too (null sender, nothing optional set).
    envelope minimal;
    minimal.id = make_id();
    minimal.recipients.emplace_back();
    minimal.recipients.back().address = "x@example.test";
    auto m = from_json(to_json(minimal));
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(*m, minimal);
    EXPECT_EQ(m->sender, "");
    EXPECT_FALSE(m->recipients[0].notify.given);
}

TEST(envelope_json, unknown_members_are_ignored) {
    std::string j = to_json(sample());
    j.insert(1, "\"future_field\": {\"x\": [1,2]},");
    auto e = from_json(j);
    ASSERT_TRUE(e) << e.error();
    EXPECT_EQ(e->sender, "alice@example.org");
}

TEST(envelope_json, rejects_malformed_envelopes) {
    const std::string id = make_id();
    const std::string rc = R"([{"address":"a@b"}])";
    auto doc = [&](const std::string& extra, const std::string& rcpts) {
        return "{\"id\":\"" + id +
               "\",\"sender\":\"s@x\",\"arrival\":1700000000,\"recipients\":" + rcpts + extra + "}";
    };
    ASSERT_TRUE(from_json(doc("", rc))) << "the base document must parse";
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"not json", "{"},
        {"array", "[]"},
        {"missing id", R"({"sender":"","arrival":1,"recipients":[{"address":"a@b"}]})"},
        {"path in id",
         R"({"id":"../../x","sender":"","arrival":1,"recipients":[{"address":"a@b"}]})"},
        {"missing recipients", "{\"id\":\"" + id + "\",\"sender\":\"\",\"arrival\":1}"},
        {"empty recipients", doc("", "[]")},
        {"recipient not object", doc("", "[1]")},
        {"recipient without address", doc("", R"([{"state":"pending"}])")},
        {"attempts as string", doc(",\"attempts\":\"3\"", rc)},
        {"negative size", doc(",\"size\":-1", rc)},
        {"huge arrival", doc(",\"next_attempt\":99999999999999", rc)},
        {"unknown state", doc("", R"([{"address":"a@b","state":"lost"}])")},
        {"unknown route", doc("", R"([{"address":"a@b","route":"mars"}])")},
        {"bad notify", doc("", R"([{"address":"a@b","notify":"NEVER,FAILURE"}])")},
        {"bad ret", doc(",\"ret\":\"SOME\"", rc)},
        {"bad body", doc(",\"body\":\"9BIT\"", rc)},
        {"bool as int", doc(",\"smtputf8\":1", rc)},
        {"future version", doc(",\"version\":99", rc)},
    };
    for (const auto& [name, text] : bad) {
        auto e = from_json(text);
        EXPECT_FALSE(e) << name << " was accepted";
    }
}

TEST(envelope_json, notify_parsing_rfc3461) {
    struct row {
        const char* in;
        bool ok;
        dsn_notify want;
    };
    const row rows[] = {
        {"NEVER", true, {true, false, false, false}},
        {"never", true, {true, false, false, false}},
        {"SUCCESS", true, {true, true, false, false}},
        {"FAILURE,DELAY", true, {true, false, true, true}},
        {"delay,success,failure", true, {true, true, true, true}},
        {"", false, {}},
        {"NEVER,FAILURE", false, {}},
        {"FAILURE,", false, {}},
        {"FAILURE DELAY", false, {}},
        {"BOUNCE", false, {}},
    };
    for (const auto& r : rows) {
        auto n = parse_notify(r.in);
        EXPECT_EQ(n.has_value(), r.ok) << r.in;
        if (n && r.ok) {
            EXPECT_EQ(*n, r.want) << r.in;
            EXPECT_EQ(parse_notify(to_string(*n)), n) << r.in;
        }
    }
    EXPECT_TRUE(wants_failure_notice({}));
    EXPECT_TRUE(wants_delay_notice({}));
    EXPECT_FALSE(wants_failure_notice(*parse_notify("NEVER")));
    EXPECT_FALSE(wants_delay_notice(*parse_notify("FAILURE")));
    EXPECT_EQ(to_string(dsn_notify{}), "");
}
