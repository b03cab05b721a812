"""Home offline: the relay keeps validating recipients from its cached set and keeps the mail.

Stop splitmail-home; send 50 messages: all get 250 (cached recipient set), an unknown recipient
still gets 550 5.1.1; restart the relay while home is still down and send 10 more (the cache is
on disk, not only in memory); nothing is delivered meanwhile and all 60 are queued. Start home
again: all 60 arrive, each exactly once, within a bounded time (retry.max is 2s here).
Then with retry.initial 1m / retry.max 1h: home goes away after a failed attempt and comes
back; the queue is flushed within seconds (home is probed every 1-5 s), not at the 1m retry.
Finally spool.message_lifetime 3s: a message queued for a home that stays down past it fails
with 4.4.7 (report Status 5.4.7, RFC 3464 2.3.4) in one report to its (local) sender.
"""
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def send_batch(relay: lib.Relay, prefix: str, n: int) -> None:
    codes = []
    for i in range(n):
        code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                      lib.make_message(f"{prefix}-{i}", size=2000))
        codes.append(code)
        if code != 250:
            lib.fail(f"message {prefix}-{i} not accepted while home is offline: {code} {text}")
    checks.eq(codes, [250] * n, f"{n} messages ({prefix}) accepted with home offline")


def main() -> None:
    _, home, relay = lib.start_pair("offline")
    # one message while everything is up, so the path is known to work
    code, _ = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                               lib.make_message("before"))
    checks.eq(code, 250, "message accepted while home is up")
    lib.wait_until(lambda: "before" in lib.ids_in_maildir(home), 20, "first message delivered")
    # ...and the relay has its LMTP 250 (the file appears in new/ just before home replies;
    # stopping home in between would leave the relay retrying a delivered message)
    lib.wait_until(lambda: not relay.queued(), 10, "relay to dequeue the first message")

    home.stop()
    checks.ok(not lib.port_answers("127.0.0.1", home.port), "home's LMTP port is closed")
    send_batch(relay, "offline", 50)
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@sender.test>")
        code, text = c.cmd("RCPT TO:<nobody@example.test>")
        checks.ok(code == 550 and text.startswith("5.1.1"),
                  "unknown recipient still 550 5.1.1 with home offline", f"{code} {text}")

    relay.stop()
    relay.start(wait_recipients=False)
    send_batch(relay, "offline-restarted", 10)

    # The relay tries (and must keep everything): wait until `queue list` shows a failed
    # attempt, so "nothing delivered" is not just "nothing tried yet". With home unreachable
    # the relay probes home instead of retrying every message (attempts stay at 0 or 1).
    lib.wait_attempts(relay.spool, 60, n=1, daemons=[relay.daemon], every=False)
    checks.eq(sorted(lib.ids_in_maildir(home)), ["before"], "nothing delivered while home is down")
    checks.eq(len(relay.queued()), 60, "60 messages queued in the relay's spool")

    t0 = time.monotonic()
    home.start()
    lib.wait_until(lambda: len(lib.ids_in_maildir(home)) >= 61, 20,
                   "all 60 queued messages delivered after home came back",
                   interval=0.1, daemons=[relay.daemon, home.daemon])
    lib.log(f"queue flushed {time.monotonic() - t0:.1f}s after home started")
    lib.wait_until(lambda: not relay.queued(), 10, "relay spool to drain")
    time.sleep(1)
    ids = lib.ids_in_maildir(home)
    expected = {"before"} | {f"offline-{i}" for i in range(50)} | \
        {f"offline-restarted-{i}" for i in range(10)}
    checks.eq(set(ids), expected, "exactly the 61 sent messages are in the Maildir")
    checks.eq({k: v for k, v in ids.items() if v != 1}, {}, "each exactly once")
    relay.stop()
    home.stop()
    prompt_flush_with_long_retry(home)
    lifetime_expiry_bounces()


def prompt_flush_with_long_retry(home: lib.Home) -> None:
    """docs/architecture.md: an unreachable home is probed every 1-5 s and the queue flushed
    the moment it answers, whatever the retry settings. With retry.initial 1m and retry.max
    1h, a relay that only retried on schedule would deliver a minute later; probing delivers
    within seconds."""
    home.start()
    relay = lib.Relay(home.root.parent / "relay-long", home,
                      extra={"retry.initial": '"1m"', "retry.max": '"1h"'}).start()
    send_batch(relay, "longretry", 5)
    lib.wait_until(lambda: len(lib.ids_in_maildir(home)) >= 66, 20,
                   "the 5 messages delivered while home is up", daemons=[relay.daemon])
    lib.wait_until(lambda: not relay.queued(), 10, "relay spool to drain")
    home.stop()
    send_batch(relay, "longretry-offline", 5)
    # the relay has tried and failed at least once, so the next scheduled retry is 1m away
    lib.wait_attempts(relay.spool, 5, n=1, daemons=[relay.daemon], every=False)
    t0 = time.monotonic()
    home.start()
    lib.wait_until(lambda: all(f"longretry-offline-{i}" in lib.ids_in_maildir(home)
                               for i in range(5)), 20,
                   "the 5 queued messages delivered soon after home returned (probe every "
                   "1-5 s, not the 1m retry)", interval=0.1, daemons=[relay.daemon, home.daemon])
    took = time.monotonic() - t0
    lib.log(f"delivered {took:.1f}s after home returned (retry.initial 1m)")
    checks.ok(took < 30, f"queue flushed {took:.1f}s after home returned, before the 1m retry")
    relay.stop()
    home.stop()


def lifetime_expiry_bounces() -> None:
    """spool.message_lifetime for home deliveries (docs/architecture.md 3.3-3.4): a message
    still queued for an unreachable home after its lifetime fails with 4.4.7, and its sender
    (a local user here, so the report lands in a Maildir) gets one RFC 3464 report."""
    sender = "second@example.test"
    d = lib.tmpdir("offline-lifetime")
    home = lib.Home(d / "home", users=[DEMO, sender]).start()
    relay = lib.Relay(d / "relay", home, extra={"spool.message_lifetime": '"3s"'}).start()
    relay.wait_accepts(sender)
    home.stop()
    code, text = lib.send_message(relay.port, sender, [DEMO], lib.make_message("expires"))
    checks.eq(code, 250, "accepted for a home that is down")
    lib.wait_attempts(relay.spool, 1, n=1, daemons=[relay.daemon])
    time.sleep(3.5)  # the lifetime runs out while home is down (a precondition, not a check)
    home.start()

    def reports() -> list[Path]:
        return [p for p in home.messages(sender)
                if b"Content-Type: multipart/report" in p.read_bytes()]

    lib.wait_until(lambda: reports(), 30, "a delivery status report to the sender",
                   daemons=[relay.daemon, home.daemon])
    lib.wait_until(lambda: not relay.queued(), 20, "relay spool to drain")
    dsn = [p.read_bytes() for p in reports()]
    checks.eq(len(dsn), 1, "exactly one report to the sender")
    # The recipient fails with 4.4.7 (delivery time expired, RFC 3463); the report's Status
    # field takes the class of its Action (RFC 3464 2.3.4, relay/bounce/dsn.cpp): 5.4.7.
    text = dsn[0].decode(errors="replace")
    checks.ok("Action: failed" in text and "Status: 5.4.7" in text
              and re.search(r"Diagnostic-Code: smtp; 554 4\.4\.7 message expired", text),
              "the report says Action: failed, Status: 5.4.7, Diagnostic-Code 554 4.4.7",
              text[-1500:])
    checks.ok("expires" not in lib.ids_in_maildir(home),
              "the expired message itself was not delivered late")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
