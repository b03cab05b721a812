// The "lmtp" check (relay machine): does home's LMTP answer through the tunnel? A TCP connect,
// the 220 greeting and LHLO (RFC 2033 4.1), then QUIT: what the relay's delivery does first.
// Issue 16 bug 7: with splitmail-home stopped, `check` on the relay said all good.
// Guarantees: bounded by context::connect_timeout per step; never sends MAIL or XSECRET (no
// secret needed for LHLO); with transport "mtls" only the TCP connection is tried (the TLS
// handshake needs the relay's client key).
#include "check/checks.hpp"
#include "check/line_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace splitmail::provision::check {

findings check_lmtp(context& c) {
    if (!c.relay) return {};
    const auto& r = *c.relay;
    const std::string where =
        "home's LMTP (home.lmtp " + r.home_lmtp + " in " + r.file.string() + ")";
    const std::string home_side =
        "on home: systemctl status splitmail-home (journalctl -u splitmail-home says why); "
        "if the tunnel is down, see the tunnel check";
    if (r.home_lmtp.empty())
        return {fail("lmtp", "home.lmtp is not set in " + r.file.string(),
                     "set home.lmtp to home's tunnel address and LMTP port (e.g. 10.8.0.2:24)")};
    const auto limit = std::max(c.connect_timeout, std::chrono::milliseconds(3000));
    line_client k(limit);
    if (auto why = k.open(r.home_lmtp); !why.empty())
        return {
            fail("lmtp",
                 where + ": cannot connect: " + why + "; mail for home stays queued on the relay",
                 home_side)};
    if (r.home_transport == "mtls")
        return {ok("lmtp", where + " accepts TCP connections (transport mtls: LHLO not tried "
                                   "without the relay's TLS client key)")};
    auto greeting = k.reply();
    if (!greeting || !greeting->starts_with("220"))
        return {fail("lmtp",
                     where + ": no LMTP greeting" +
                         (greeting ? " (got \"" + *greeting + "\")"
                                   : " within " + std::to_string(limit.count()) + " ms"),
                     home_side)};
    if (!k.send("LHLO " + c.s.hostname + "\r\n"))
        return {fail("lmtp", where + ": the connection broke before LHLO", home_side)};
    auto lhlo = k.reply();
    if (!lhlo || !lhlo->starts_with("250"))
        return {fail("lmtp",
                     where + ": LHLO was not accepted" +
                         (lhlo ? " (\"" + *lhlo + "\")" : " (no reply)"),
                     home_side)};
    k.send("QUIT\r\n");
    return {ok("lmtp", where + " answers LHLO")};
}

} // namespace splitmail::provision::check
