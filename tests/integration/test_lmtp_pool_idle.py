"""The relay's pooled LMTP connection after home closed it for idleness (issue 12 item 5).

Home closes an LMTP connection that has been idle for lmtp.idle_timeout (5 min by default;
1 s here). The relay keeps its connections to home open between messages; before this fix the
next message went out on the dead socket, failed, was logged as "home unreachable", waited for
the probe and arrived seconds late. Checks: with one pooled connection and home's idle timeout
at 1 s, a second message sent after the pool went idle is delivered, and the relay never
considered home unreachable (no such log line).
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def main() -> None:
    _, home, relay = lib.start_pair(
        "lmtppool", relay_kw={"extra": {"home.connections": "1"}},
        home_kw={"extra": {"lmtp.idle_timeout": '"1s"'}})
    for round_ in range(3):
        before = home.count()
        code, text = lib.send_message(relay.port, "a@sender.test", [DEMO],
                                      lib.make_message(f"pool-{round_}"))
        checks.eq(code, 250, f"message {round_ + 1} accepted ({text})")
        lib.wait_until(lambda: home.count() > before, 30 * lib.SLOW,
                       f"message {round_ + 1} delivered", daemons=[relay.daemon, home.daemon])
        # Let home's idle timeout close the pooled connection (1 s) with margin.
        time.sleep(2.5 * lib.SLOW)
    log = relay.daemon.log_text()
    checks.ok("home unreachable" not in log,
              "the relay replaced the connection home closed while idle instead of failing on it",
              log[-2500:])
    checks.eq(home.count(), 3, "three messages in the Maildir")
    rc = relay.daemon.stop()
    checks.eq(rc, 0, "relay exits 0")
    rc = home.daemon.stop()
    checks.eq(rc, 0, "home exits 0")


if __name__ == "__main__":
    lib.run_main(main)
