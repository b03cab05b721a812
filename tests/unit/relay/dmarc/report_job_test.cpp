// The DMARC report job (relay/dmarc/report_job.hpp) against a real spool: an ended period's
// records become one queued, readable report message per allowed rua= address; the period is
// marked sent; a second job (a restart) queues nothing; the current period is left alone.
#include "dmarc/report_job.hpp"

#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <ctime>
#include <thread>

namespace dmarc = splitmail::relay::dmarc;
namespace queue = splitmail::queue;
namespace test = splitmail::test;
namespace durable = splitmail::durable;

namespace {

const dmarc::suffix_list& psl() {
    static const dmarc::suffix_list l = dmarc::suffix_list::parse("com\ntest\n");
    return l;
}

dmarc::observation seen(std::int64_t t) {
    dmarc::observation o;
    o.time = t;
    o.source_ip = "192.0.2.1";
    o.header_from = o.envelope_from = o.policy_domain = o.spf_domain = "example.com";
    o.spf_result = "pass";
    o.spf_aligned = true;
    // Same organisation, another organisation (7.1: needs a lookup; no resolver here, so
    // never sent), and a size limit below any report.
    o.rua = {{"dmarc@example.com", 0}, {"third@party.test", 0}, {"tiny@example.com", 50}};
    return o;
}

struct fixture {
    test::temp_dir dir{"dmarc-job"};
    durable::committer committer;
    std::optional<queue::spool> spool;
    std::vector<queue::envelope> queued;
    fixture() { spool.emplace(*queue::spool::open(dir / "spool", committer)); }

    // Runs one job until its first pass is done (it then waits for the next period).
    void run_job() {
        boost::asio::io_context io;
        dmarc::job_config c;
        c.dir = dir / "dmarc";
        c.interval = std::chrono::seconds(3600);
        c.send_delay = std::chrono::seconds(0);
        c.receiver = "mx.example.net";
        c.org_name = "Org";
        c.from = "dmarc-noreply@example.net";
        c.psl = &psl();
        c.spool = &*spool;
        c.add = [this](queue::envelope e) { queued.push_back(std::move(e)); };
        c.is_ours = [](std::string_view d) { return d == "example.net"; };
        dmarc::report_job job(io, c);
        job.start();
        io.run_for(std::chrono::seconds(2));
        job.stop();
        io.run_for(std::chrono::milliseconds(100));
    }
};

} // namespace

TEST(dmarc_report_job, queues_once_per_period) {
    fixture f;
    auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (now % 3600 > 3590) { // the current period must not end while the jobs run
        std::this_thread::sleep_for(std::chrono::seconds(12));
        now = static_cast<std::int64_t>(std::time(nullptr));
    }
    {
        dmarc::recorder rec(f.dir / "dmarc", std::chrono::seconds(3600), 100);
        rec.record(seen(now - 7200)); // an ended period
        rec.record(seen(now - 7200));
        rec.record(seen(now)); // the current one: not yet
    }
    f.run_job();
    ASSERT_EQ(f.queued.size(), 1u) << "only dmarc@example.com may get the report";
    const auto& env = f.queued[0];
    EXPECT_EQ(env.sender, "dmarc-noreply@example.net");
    ASSERT_EQ(env.recipients.size(), 1u);
    EXPECT_EQ(env.recipients[0].address, "dmarc@example.com");
    EXPECT_EQ(env.recipients[0].route, queue::rcpt_route::remote);
    auto msg = f.spool->read_message(env.id);
    ASSERT_TRUE(msg);
    EXPECT_NE(msg->find("Subject: Report Domain: example.com Submitter: mx.example.net"),
              std::string::npos)
        << *msg;
    EXPECT_NE(msg->find("Content-Type: application/gzip"), std::string::npos);
    EXPECT_NE(msg->find("filename=\"mx.example.net!example.com!"), std::string::npos);
    auto periods = dmarc::list_periods(f.dir / "dmarc");
    ASSERT_EQ(periods.size(), 2u);
    EXPECT_TRUE(periods[0].sent);
    EXPECT_FALSE(periods[1].sent);
    // A restart: nothing is sent twice.
    f.queued.clear();
    f.run_job();
    EXPECT_TRUE(f.queued.empty());
    EXPECT_EQ(f.spool->list().envelopes.size(), 1u);
}
