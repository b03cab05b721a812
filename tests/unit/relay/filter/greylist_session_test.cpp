// Greylisting and rate limits in the SMTP session (issue 18): the per-recipient 451 4.7.1, a
// retry after the delay, trusted clients never asked, auto-allow after queued messages, and
// the message / recipient limits at MAIL and RCPT, through the real connection_policy.
#include <gtest/gtest.h>

#include "filter/greylist.hpp"
#include "filter/rate_limit.hpp"
#include "smtp_in/policy.hpp"
#include "smtp_in/session.hpp"

using namespace splitmail;
using namespace splitmail::relay;
using namespace std::chrono_literals;

namespace {

class all_local : public recipient_checker {
public:
    rcpt_verdict check_recipient(const address::mailbox& m) override {
        return m.domain == "example.test" ? rcpt_verdict::local_ok : rcpt_verdict::not_local;
    }
};

struct world {
    filter::greylist grey{[] {
        filter::greylist_policy p;
        p.delay = 300s;
        p.auto_allow = 2;
        return p;
    }()};
    filter::rate_limiter clients{{0, 0, 100, 3600s}};
    std::chrono::system_clock::time_point now =
        std::chrono::system_clock::from_time_t(1'700'000'000);
    all_local checker;
};

// One connection: feeds each line alone and returns the reply codes and texts.
class conn {
public:
    conn(world& w, std::string ip, bool trusted = false, bool greylisting = true)
        : policy_(make_ctx(w, greylisting), ip, "TEST") {
        session_config c;
        c.hostname = "mx.example.test";
        c.relay_allowed = trusted;
        c.policy = &policy_;
        sess_.emplace(c, w.checker, peer_info{ip, ""}, sink_);
        sess_->greet();
    }
    std::string cmd(const std::string& line) {
        std::string out;
        for (auto& a : sess_->feed(line + "\r\n")) {
            if (a.type == action::kind::send) out += a.reply.format();
            if (a.type == action::kind::deliver) {
                sink_.delivered();
                policy_.delivered();
                for (auto& b : sess_->delivery_result(smtp::make_reply(250, "2.0.0", "Ok")))
                    if (b.type == action::kind::send) out += b.reply.format();
            }
        }
        return out;
    }

private:
    static policy_context make_ctx(world& w, bool greylisting) {
        policy_context p;
        p.greylist = greylisting ? &w.grey : nullptr;
        p.clients = &w.clients;
        p.now = [&w] { return w.now; };
        return p;
    }
    memory_sink sink_;
    connection_policy policy_;
    std::optional<smtp_session> sess_;
};

bool send_one(conn& c, const std::string& from, const std::string& to) {
    c.cmd("MAIL FROM:<" + from + ">");
    if (!c.cmd("RCPT TO:<" + to + ">").starts_with("250")) {
        c.cmd("RSET");
        return false;
    }
    c.cmd("DATA");
    return c.cmd("Subject: x\r\n\r\nbody\r\n.").starts_with("250");
}

} // namespace

TEST(GreylistSession, FirstAttemptDeferredPerRecipientThenAcceptedAfterDelay) {
    world w;
    {
        conn c(w, "192.0.2.7");
        c.cmd("EHLO client.example.net");
        EXPECT_EQ(c.cmd("MAIL FROM:<Alice@Sender.example>"), "250 2.1.0 Ok\r\n");
        EXPECT_EQ(c.cmd("RCPT TO:<bob@example.test>"),
                  "451 4.7.1 Greylisted, try again in 300 seconds\r\n");
        EXPECT_EQ(c.cmd("RCPT TO:<carol@example.test>"),
                  "451 4.7.1 Greylisted, try again in 300 seconds\r\n");
        EXPECT_TRUE(c.cmd("DATA").starts_with("554 5.5.1")); // no valid recipients
    }
    w.now += 100s;
    {
        conn c(w, "192.0.2.99"); // same /24, sender in another case
        c.cmd("EHLO client.example.net");
        c.cmd("MAIL FROM:<alice@sender.example>");
        EXPECT_EQ(c.cmd("RCPT TO:<BOB@example.test>"),
                  "451 4.7.1 Greylisted, try again in 200 seconds\r\n");
    }
    w.now += 200s;
    {
        conn c(w, "192.0.2.7");
        c.cmd("EHLO client.example.net");
        c.cmd("MAIL FROM:<alice@sender.example>");
        EXPECT_EQ(c.cmd("RCPT TO:<bob@example.test>"), "250 2.1.5 Ok\r\n");
        // Another recipient in the same transaction is judged on its own triplet.
        EXPECT_EQ(c.cmd("RCPT TO:<dave@example.test>"),
                  "451 4.7.1 Greylisted, try again in 300 seconds\r\n");
        EXPECT_EQ(c.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n");
        EXPECT_TRUE(c.cmd("Subject: x\r\n\r\nbody\r\n.").starts_with("250"));
    }
}

TEST(GreylistSession, TrustedClientsAndGreylistingOffAreNotDeferred) {
    world w;
    conn trusted(w, "10.0.0.2", true);
    trusted.cmd("EHLO home");
    trusted.cmd("MAIL FROM:<me@example.test>");
    EXPECT_EQ(trusted.cmd("RCPT TO:<bob@example.test>"), "250 2.1.5 Ok\r\n");
    conn off(w, "192.0.2.7", false, false);
    off.cmd("EHLO client.example.net");
    off.cmd("MAIL FROM:<x@sender.example>");
    EXPECT_EQ(off.cmd("RCPT TO:<bob@example.test>"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(w.grey.size(), 0u);
}

TEST(GreylistSession, NetworkAutoAllowedAfterQueuedMessages) {
    world w; // auto_allow = 2
    for (int i = 0; i < 2; ++i) {
        const std::string from = "s" + std::to_string(i) + "@sender.example";
        conn a(w, "198.51.100.5");
        a.cmd("EHLO c");
        EXPECT_FALSE(send_one(a, from, "bob@example.test"));
        w.now += 301s;
        conn b(w, "198.51.100.5");
        b.cmd("EHLO c");
        EXPECT_TRUE(send_one(b, from, "bob@example.test"));
    }
    conn c(w, "198.51.100.200");
    c.cmd("EHLO c");
    c.cmd("MAIL FROM:<never-seen@other.example>");
    EXPECT_EQ(c.cmd("RCPT TO:<zed@example.test>"), "250 2.1.5 Ok\r\n");
    // Another network is still greylisted.
    conn d(w, "198.51.101.1");
    d.cmd("EHLO c");
    d.cmd("MAIL FROM:<never-seen@other.example>");
    EXPECT_TRUE(d.cmd("RCPT TO:<zed@example.test>").starts_with("451 4.7.1 Greylisted"));
}

TEST(RateLimitSession, MessagesAndRecipientsPerClientIp) {
    world w;
    w.clients = filter::rate_limiter({2, 3, 100, 3600s});
    conn c(w, "203.0.113.9", false, false);
    c.cmd("EHLO c");
    EXPECT_EQ(c.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(c.cmd("RCPT TO:<r1@example.test>"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(c.cmd("RCPT TO:<r2@example.test>"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(c.cmd("RCPT TO:<r3@example.test>"), "250 2.1.5 Ok\r\n");
    EXPECT_TRUE(
        c.cmd("RCPT TO:<r4@example.test>").starts_with("451 4.7.1 Error: too many recipients"));
    c.cmd("RSET");
    EXPECT_EQ(c.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
    c.cmd("RSET");
    EXPECT_TRUE(
        c.cmd("MAIL FROM:<a@sender.example>").starts_with("451 4.7.1 Error: too many messages"));
    // The session goes on; another client address is not affected.
    EXPECT_EQ(c.cmd("NOOP"), "250 2.0.0 Ok\r\n");
    conn other(w, "203.0.113.10", false, false);
    other.cmd("EHLO c");
    EXPECT_EQ(other.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
}

TEST(RateLimitSession, IPv6ClientsCountByTheirSlash64) {
    world w;
    w.clients = filter::rate_limiter({1, 0, 100, 3600s});
    conn a(w, "2001:db8:5:6::1", false, false);
    a.cmd("EHLO c");
    EXPECT_EQ(a.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
    // Another address of the same /64: the same count.
    conn b(w, "2001:db8:5:6:ffff::2", false, false);
    b.cmd("EHLO c");
    EXPECT_TRUE(b.cmd("MAIL FROM:<a@sender.example>").starts_with("451 4.7.1"));
    // The next /64 and two IPv4 addresses of one /24 count apart.
    conn c(w, "2001:db8:5:7::1", false, false);
    c.cmd("EHLO c");
    EXPECT_EQ(c.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
    conn d(w, "192.0.2.1", false, false);
    d.cmd("EHLO c");
    EXPECT_EQ(d.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
    conn e(w, "192.0.2.2", false, false);
    e.cmd("EHLO c");
    EXPECT_EQ(e.cmd("MAIL FROM:<a@sender.example>"), "250 2.1.0 Ok\r\n");
}

// greylist.skip_verified_senders: a sender of a listed domain is accepted at RCPT and judged at
// the end of DATA on what the message proved (SPF pass of the envelope domain, DKIM d=).
TEST(GreylistSkipVerified, ListedDomainMatchesItselfAndSubdomainsOnly) {
    const std::vector<std::string> list{"gmail.com", "outlook.com"};
    EXPECT_EQ(listed_domain("gmail.com", list), "gmail.com");
    EXPECT_EQ(listed_domain("Bounce.GMAIL.com.", list), "gmail.com");
    EXPECT_EQ(listed_domain("notgmail.com", list), "");
    EXPECT_EQ(listed_domain("gmail.com.evil.example", list), "");
    EXPECT_EQ(listed_domain("com", list), "");
    EXPECT_EQ(listed_domain("", list), "");
}

TEST(GreylistSkipVerified, DecidedAtTheEndOfDataOnTheProof) {
    filter::greylist_policy gp;
    gp.delay = 300s;
    filter::greylist grey(gp);
    const std::vector<std::string> list{"gmail.com"};
    auto now = std::chrono::system_clock::from_time_t(1'700'000'000);
    policy_context ctx;
    ctx.greylist = &grey;
    ctx.now = [&now] { return now; };
    ctx.skip_verified = &list;
    connection_policy p(ctx, "192.0.2.7", "TEST");

    // Listed sender: RCPT accepted, the message waits for its proof.
    EXPECT_FALSE(p.mail("", "someone@gmail.com"));
    EXPECT_FALSE(p.rcpt("", "someone@gmail.com", "bob@example.test"));
    EXPECT_FALSE(p.end_of_data({"gmail.com"})) << "SPF pass of the envelope domain";
    // DKIM of a subdomain of the listed domain proves it too; another domain's pass does not.
    EXPECT_FALSE(p.mail("", "someone@gmail.com"));
    EXPECT_FALSE(p.rcpt("", "someone@gmail.com", "carol@example.test"));
    EXPECT_FALSE(p.end_of_data({"other.example", "mail.gmail.com"}));
    EXPECT_FALSE(p.mail("", "someone@gmail.com"));
    EXPECT_FALSE(p.rcpt("", "someone@gmail.com", "dave@example.test"));
    auto r = p.end_of_data({"other.example", "gmail.com.evil.example"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->format(), "451 4.7.1 Greylisted, try again in 300 seconds\r\n");
    // The triplet was recorded at RCPT: after the delay the unproven sender passes as usual.
    now += 301s;
    EXPECT_FALSE(p.mail("", "someone@gmail.com"));
    EXPECT_FALSE(p.rcpt("", "someone@gmail.com", "dave@example.test"));
    EXPECT_FALSE(p.end_of_data({}));

    // An unlisted sender is deferred at RCPT as before; nothing waits for the end of DATA.
    EXPECT_FALSE(p.mail("", "someone@sender.example"));
    auto at_rcpt = p.rcpt("", "someone@sender.example", "bob@example.test");
    ASSERT_TRUE(at_rcpt);
    EXPECT_EQ(at_rcpt->code, 451);
    EXPECT_FALSE(p.end_of_data({}));
    // A new transaction forgets what waited in the last one.
    EXPECT_FALSE(p.mail("", "x@gmail.com"));
    EXPECT_FALSE(p.rcpt("", "x@gmail.com", "erin@example.test"));
    EXPECT_FALSE(p.mail("", "someone@sender.example"));
    EXPECT_FALSE(p.end_of_data({}));
}
