// What home reads of the relay's verdict (relay_marks.hpp): only the fields above the relay's
// own Received:, whatever the chunking.
#include <gtest/gtest.h>

#include <string>

#include "splitmail/smtp/relay_marks.hpp"

using namespace splitmail::smtp;

namespace {

// The verdict for `msg` fed whole, and fed in every split into two chunks and byte by byte:
// all must agree (the LMTP chunks fall anywhere).
std::string verdict(const std::string& msg) {
    relay_marks whole;
    whole.feed(msg);
    for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
        relay_marks two;
        two.feed(std::string_view(msg).substr(0, cut));
        two.feed(std::string_view(msg).substr(cut));
        EXPECT_EQ(two.reason(), whole.reason()) << "split at " << cut;
    }
    relay_marks bytes;
    for (char c : msg) bytes.feed(std::string_view(&c, 1));
    EXPECT_EQ(bytes.reason(), whole.reason()) << "byte by byte";
    return whole.reason();
}

const std::string received = "Received: from mx.sender.test (mx.sender.test [192.0.2.1])\r\n"
                             "\tby mx.example.test with ESMTPS id abc; Sun, 6 Dec 2026\r\n";
const std::string tail = "From: a@sender.test\r\nSubject: hi\r\n\r\nbody\r\nX-Spam: Yes\r\n";

} // namespace

TEST(RelayMarks, SpamFieldAboveTheRelaysReceivedIsJunk) {
    EXPECT_EQ(verdict("X-Spam: Yes\r\nX-Spam-Status: Yes, score=50.00\r\n" + received + tail),
              "spam");
    EXPECT_EQ(verdict("x-spam:   yes  \r\n" + received + tail), "spam") << "any case, padding";
    EXPECT_EQ(verdict("X-Spam : Yes\r\n" + received + tail), "spam") << "obsolete space";
    EXPECT_EQ(verdict("X-Spam: Yes\n" + std::string("Received: x\n") + "\nbody\n"), "spam")
        << "LF line ends";
}

TEST(RelayMarks, FieldsBelowTheRelaysReceivedAreTheSendersAndIgnored) {
    EXPECT_EQ(verdict("X-Spam-Status: No, score=1.00\r\n" + received +
                      "X-Spam: Yes\r\nAuthentication-Results: x; dmarc=fail "
                      "policy.dmarc=quarantine\r\n" +
                      tail),
              "");
    EXPECT_EQ(verdict(received + "X-Spam: Yes\r\n" + tail), "");
}

TEST(RelayMarks, OtherValuesAndFieldsAreNotJunk) {
    EXPECT_EQ(verdict("X-Spam: No\r\n" + received + tail), "");
    EXPECT_EQ(verdict("X-Spam-Status: Yes, score=9\r\n" + received + tail), "") << "not X-Spam";
    EXPECT_EQ(verdict("X-Spam: Yes please\r\n" + received + tail), "");
    EXPECT_EQ(verdict("X-Spamx: Yes\r\n" + received + tail), "");
    EXPECT_EQ(verdict(""), "");
    EXPECT_EQ(verdict("\r\n" + tail), "") << "an empty header";
}

TEST(RelayMarks, DmarcQuarantineInTheRelaysAuthenticationResults) {
    const std::string ar = "Authentication-Results: mx.example.test;\r\n"
                           "\tspf=fail smtp.mailfrom=a@quar.test;\r\n"
                           "\tdmarc=fail header.from=quar.test\r\n"
                           "\tpolicy.dmarc=quarantine\r\n";
    EXPECT_EQ(verdict(ar + "Received-SPF: fail\r\n" + received + tail), "dmarc quarantine")
        << "folded over several lines";
    EXPECT_EQ(verdict("Authentication-Results: mx; dmarc=fail header.from=x policy.dmarc=none\r\n" +
                      received + tail),
              "");
    EXPECT_EQ(verdict("Authentication-Results: mx; dmarc=pass header.from=x "
                      "policy.dmarc=quarantine\r\n" +
                      received + tail),
              "");
}

TEST(RelayMarks, DecidedAtTheRelaysReceivedOrTheEndOfTheHeader) {
    relay_marks m;
    m.feed("X-Spam: Yes\r\n");
    EXPECT_FALSE(m.decided()) << "a folded continuation may still follow";
    m.feed("Received: from");
    EXPECT_FALSE(m.decided()) << "a line is read whole";
    m.feed(" mx.sender.test\r\n");
    EXPECT_TRUE(m.decided());
    EXPECT_TRUE(m.junk());
    relay_marks e;
    e.feed("Subject: x\r\n\r\n");
    EXPECT_TRUE(e.decided());
    EXPECT_FALSE(e.junk());
}

TEST(RelayMarks, ScanIsCappedAndDecidesOnWhatItSaw) {
    std::string huge = "X-Spam: Yes\r\nX-Long: " + std::string(relay_marks::max_scan, 'a');
    relay_marks m;
    m.feed(huge);
    EXPECT_TRUE(m.decided()) << "a line over the cap ends the scan";
    EXPECT_TRUE(m.junk());
    m.feed("\r\n" + received);
    EXPECT_TRUE(m.junk());
    relay_marks n;
    for (int i = 0; i < 10000; ++i) n.feed("X-Other: " + std::to_string(i) + "\r\n");
    n.feed("X-Spam: Yes\r\n" + received);
    EXPECT_TRUE(n.decided());
    EXPECT_FALSE(n.junk()) << "past the first max_scan bytes nothing counts";
}
