"""Full disk on either side: a 4xx answer, never a 250 for what is not stored, nothing lost.

A. The relay's spool on a 2 MB tmpfs, home stopped so nothing drains: 100 KB messages get 250
   until the spool is full, then 452 4.3.1 (never a 250 the relay cannot keep). The relay stays
   up; when home returns every acknowledged message is delivered, the space comes back and new
   mail is accepted again. A read-only spool (EROFS, an error other than a full disk) gives
   451 4.3.0, and 250 again once it is writable.
B. Home's Maildir root on a 1 MB tmpfs: LMTP deliveries until it is full, then a delivery to two
   recipients gets 452 4.2.2 for each recipient (RFC 2033 4.2: one reply per recipient), with
   nothing half-written in new/ and nothing left in tmp/. A message sent through the relay is
   then kept in the relay's queue (not bounced) and delivered once the tmpfs is enlarged.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

SECOND = "second@example.test"


def lmtp_deliver(home: lib.Home, rcpts: list[str], data: bytes) -> list[tuple[int, str]]:
    """One LMTP transaction straight to home; returns the per-recipient replies after DATA."""
    with lib.SMTP(home.port) as c:
        c.lhlo()
        code, text = c.cmd("MAIL FROM:<sender@sender.test>")
        if code != 250:
            lib.fail(f"LMTP MAIL: {code} {text}")
        for r in rcpts:
            code, text = c.cmd(f"RCPT TO:<{r}>")
            if code != 250:
                lib.fail(f"LMTP RCPT {r}: {code} {text}")
        code, text = c.cmd("DATA")
        if code != 354:
            lib.fail(f"LMTP DATA: {code} {text}")
        c.send(data + b".\r\n")
        replies = [c.reply() for _ in rcpts]
        c.cmd("QUIT")
        return replies


def relay_spool_full(d: Path) -> None:
    spool = d / "relay-a" / "spool"
    lib.mount_tmpfs(spool, "2m")
    home = lib.Home(d / "home-a").start()
    relay = lib.Relay(d / "relay-a", home, spool=spool).start()
    home.stop()

    acked: list[str] = []
    refusal = None
    for i in range(60):
        mid = f"spool-{i}"
        code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                      lib.make_message(mid, size=100_000))
        if code == 250:
            acked.append(mid)
            continue
        refusal = (code, text)
        break
    lib.log(f"relay spool full after {len(acked)} messages of 100 KB: {refusal}")
    checks.ok(refusal is not None, "the 2 MB spool fills up within 60 messages of 100 KB")
    checks.ok(refusal[0] == 452 and refusal[1].startswith("4.3.1"),
              "full spool -> 452 4.3.1", f"got {refusal}")
    checks.ok(len(acked) >= 5, f"{len(acked)} messages were accepted before the spool filled")
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("spool-again", size=100_000))
    checks.ok(code == 452, "still full -> 452 again (no 250)", f"got {code} {text}")
    checks.ok(relay.daemon.alive(), "relay still running with a full spool")
    # a small message may still fit; whatever the answer, it must not be a lie: 250 means kept
    code, _ = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                               lib.make_message("spool-small"))
    if code == 250:
        acked.append("spool-small")
    checks.ok(code in (250, 452), "small message on a full spool: 250 or 452", str(code))

    home.start()
    lib.wait_until(lambda: set(acked) <= set(lib.ids_in_maildir(home)), 30,
                   "every message acknowledged before the spool filled delivered",
                   interval=0.2, daemons=[relay.daemon, home.daemon])
    lib.wait_until(lambda: not relay.queued(), 20, "relay spool to drain")
    ids = lib.ids_in_maildir(home)
    checks.eq(sorted(k for k in ids if k not in acked), [],
              "nothing delivered that was refused")
    checks.eq({k: v for k, v in ids.items() if v != 1}, {}, "each delivered exactly once")
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("spool-after", size=100_000))
    checks.eq(code, 250, "space freed by delivery: the relay accepts again")
    lib.wait_until(lambda: "spool-after" in lib.ids_in_maildir(home), 20, "spool-after delivered")

    # A spool error other than a full disk (here EROFS: the spool's file system turned
    # read-only) is 451 4.3.0, never a 250 (docs/architecture.md, end of DATA).
    lib.wait_until(lambda: not relay.queued(), 20, "relay spool to drain before the remount")
    lib.remount_tmpfs(spool, "ro")
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("spool-readonly"))
    checks.ok(code == 451 and text.startswith("4.3.0"),
              "read-only spool (EROFS) -> 451 4.3.0", f"got {code} {text!r}")
    checks.ok(relay.daemon.alive(), "relay still running with a read-only spool")
    lib.remount_tmpfs(spool, "rw")
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("spool-writable"))
    checks.eq(code, 250, "spool writable again: accepted")
    lib.wait_until(lambda: "spool-writable" in lib.ids_in_maildir(home), 20,
                   "spool-writable delivered")
    checks.ok("spool-readonly" not in lib.ids_in_maildir(home),
              "the message refused with 451 was not delivered")
    relay.stop()
    home.stop()


def home_maildir_full(d: Path) -> None:
    maildir = d / "home-b" / "mail"
    lib.mount_tmpfs(maildir, "1m")
    home = lib.Home(d / "home-b", maildir=maildir, users=[DEMO, SECOND]).start()

    stored = 0
    replies = None
    for i in range(30):
        replies = lmtp_deliver(home, [DEMO], lib.make_message(f"fill-{i}", size=100_000))
        if replies[0][0] != 250:
            break
        stored += 1
    lib.log(f"home Maildir full after {stored} messages of 100 KB: {replies}")
    checks.ok(replies[0][0] == 452 and replies[0][1].startswith("4.2.2"),
              "LMTP on a full Maildir -> 452 4.2.2", f"got {replies}")
    replies = lmtp_deliver(home, [DEMO, SECOND], lib.make_message("two-rcpts", size=300_000))
    checks.eq(len(replies), 2, "one LMTP reply per recipient")
    checks.ok(all(c == 452 and t.startswith("4.2.2") for c, t in replies),
              "both recipients get 452 4.2.2", str(replies))
    ids = lib.ids_in_maildir(home)
    checks.eq(sorted(ids), sorted(f"fill-{i}" for i in range(stored)),
              "new/ holds exactly the messages that got 250")
    sizes = sorted({p.stat().st_size for p in home.messages()})
    checks.ok(all(s > 100_000 for s in sizes), "no truncated file in new/", str(sizes))
    checks.eq(lib.tmp_left(home), [], "nothing left in tmp/ after the failed deliveries")
    checks.ok(home.daemon.alive(), "home still running with a full disk")

    relay = lib.Relay(d / "relay-b", home).start()
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("via-relay", size=100_000))
    checks.eq(code, 250, "relay accepts while home's disk is full")
    # at least two failed delivery attempts, as `queue list` shows them
    lib.wait_attempts(relay.spool, 1, daemons=[relay.daemon, home.daemon])
    checks.ok("via-relay" not in lib.ids_in_maildir(home), "not delivered while the disk is full")
    checks.eq(len(relay.queued()), 1, "the message stays queued on the relay (452 is temporary)")
    checks.eq(lib.tmp_left(home), [], "still nothing in tmp/")

    lib.resize_tmpfs(maildir, "16m")
    t0 = time.monotonic()
    lib.wait_until(lambda: "via-relay" in lib.ids_in_maildir(home), 20,
                   "queued message delivered after space was freed",
                   interval=0.1, daemons=[relay.daemon, home.daemon])
    lib.log(f"delivered {time.monotonic() - t0:.1f}s after the tmpfs was enlarged")
    lib.wait_until(lambda: not relay.queued(), 10, "relay queue empty")
    checks.eq(lib.ids_in_maildir(home).get("via-relay"), 1, "delivered exactly once")
    relay.stop()
    home.stop()


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("fulldisk")
    relay_spool_full(d)
    home_maildir_full(d)


if __name__ == "__main__":
    lib.run_main(main)
