// What the end of DATA leaves for the DMARC aggregate reports (issue 17): the disposition we
// report for each DMARC outcome and dmarc.on_reject, and the observation built from the SPF,
// DKIM and DMARC results and the envelope.
#include "sender_auth/inbound.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay;
using sender_auth::config;

namespace {
dmarc::outcome fail_with(dmarc::policy applied) {
    dmarc::outcome o;
    o.code = dmarc::result::fail;
    o.applied = applied;
    return o;
}
} // namespace

TEST(dmarc_observe, disposition) {
    using ra = config::reject_action;
    using dmarc::policy;
    dmarc::outcome pass;
    pass.code = dmarc::result::pass;
    EXPECT_EQ(sender_auth::reported_disposition(pass, false, ra::reject), policy::none);
    EXPECT_EQ(sender_auth::reported_disposition(fail_with(policy::reject), true, ra::reject),
              policy::reject);
    EXPECT_EQ(sender_auth::reported_disposition(fail_with(policy::reject), false, ra::quarantine),
              policy::quarantine);
    EXPECT_EQ(sender_auth::reported_disposition(fail_with(policy::reject), false, ra::none),
              policy::none);
    EXPECT_EQ(sender_auth::reported_disposition(fail_with(policy::quarantine), false, ra::reject),
              policy::quarantine);
    EXPECT_EQ(sender_auth::reported_disposition(fail_with(policy::none), false, ra::reject),
              policy::none);
}

TEST(dmarc_observe, fields) {
    auto rec = dmarc::parse_record("v=DMARC1; p=quarantine; sp=none; pct=30; adkim=s; fo=1; "
                                   "rua=mailto:r@example.com!1m");
    ASSERT_TRUE(rec);
    dmarc::outcome dm;
    dm.code = dmarc::result::fail;
    dm.applied = dm.published = dmarc::policy::quarantine;
    dm.from_domain = "news.example.com";
    dm.policy_domain = "example.com";
    dm.rec = *rec;
    splitmail::queue::envelope env;
    env.client_ip = "2001:db8::7";
    env.client_helo = "helo.sender.test";
    env.sender = "bounce@Mail.Sender.TEST";
    inbound_spf spf;
    spf.ev.code = splitmail::spf::result::softfail;
    spf.ev.domain = "mail.sender.test";
    auto o = sender_auth::observe(dm, dmarc::policy::quarantine, spf, env, nullptr, 1234);
    EXPECT_EQ(o.time, 1234);
    EXPECT_EQ(o.source_ip, "2001:db8::7");
    EXPECT_EQ(o.header_from, "news.example.com");
    EXPECT_EQ(o.policy_domain, "example.com");
    EXPECT_EQ(o.envelope_from, "mail.sender.test");
    EXPECT_EQ(o.spf_domain, "mail.sender.test");
    EXPECT_FALSE(o.spf_helo);
    EXPECT_EQ(o.spf_result, "softfail");
    EXPECT_EQ(o.disposition, dmarc::policy::quarantine);
    EXPECT_EQ(o.reason, splitmail::dmarc::override_reason::none);
    EXPECT_EQ(o.p, dmarc::policy::quarantine);
    EXPECT_EQ(o.sp, dmarc::policy::none);
    EXPECT_EQ(o.pct, 30);
    EXPECT_TRUE(o.adkim_strict);
    EXPECT_EQ(o.fo, "1");
    ASSERT_EQ(o.rua.size(), 1u);
    EXPECT_EQ(o.rua[0].max_size, 1u << 20);
    EXPECT_TRUE(o.dkim.empty());
    // It is a line the store can hold.
    auto back = splitmail::dmarc::decode(splitmail::dmarc::encode(o));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, o);
    // The null sender: the HELO name is the envelope identity, SPF not checked -> none.
    env.sender.clear();
    auto n = sender_auth::observe(dm, dmarc::policy::quarantine, std::nullopt, env, nullptr, 1);
    EXPECT_EQ(n.envelope_from, "helo.sender.test");
    EXPECT_TRUE(n.spf_helo);
    EXPECT_EQ(n.spf_result, "none");
}

// RFC 7489 Appendix C PolicyOverrideReason: why the disposition is not the published policy.
TEST(dmarc_observe, override_reason) {
    using dmarc::policy;
    using reason = splitmail::dmarc::override_reason;
    using ra = config::reject_action;
    splitmail::queue::envelope env;
    env.client_ip = "192.0.2.9";
    env.sender = "a@sender.test";
    auto reason_of = [&](dmarc::result code, policy published, policy applied, bool refused,
                         ra on_reject) {
        dmarc::outcome dm;
        dm.code = code;
        dm.published = published;
        dm.applied = applied;
        const auto disp = sender_auth::reported_disposition(dm, refused, on_reject);
        auto o = sender_auth::observe(dm, disp, std::nullopt, env, nullptr, 1);
        return std::pair{o.disposition, o.reason};
    };
    // p=reject applied: refused, nothing overridden.
    EXPECT_EQ(reason_of(dmarc::result::fail, policy::reject, policy::reject, true, ra::reject),
              std::pair(policy::reject, reason::none));
    // p=reject, pct= sampled it out to quarantine: what was done is what was asked.
    EXPECT_EQ(reason_of(dmarc::result::fail, policy::reject, policy::quarantine, false, ra::reject),
              std::pair(policy::quarantine, reason::sampled_out));
    // p=quarantine sampled out to none.
    EXPECT_EQ(reason_of(dmarc::result::fail, policy::quarantine, policy::none, false, ra::reject),
              std::pair(policy::none, reason::sampled_out));
    // p=reject but dmarc.on_reject = quarantine / none: our local policy.
    EXPECT_EQ(reason_of(dmarc::result::fail, policy::reject, policy::reject, false, ra::quarantine),
              std::pair(policy::quarantine, reason::local_policy));
    EXPECT_EQ(reason_of(dmarc::result::fail, policy::reject, policy::reject, false, ra::none),
              std::pair(policy::none, reason::local_policy));
    // A pass is never overridden.
    EXPECT_EQ(reason_of(dmarc::result::pass, policy::reject, policy::none, false, ra::reject),
              std::pair(policy::none, reason::none));
}
