"""splitmail-home stopped with SIGTERM while the relay is delivering to it, three times.

Home drains on SIGTERM: it stops accepting, lets every LMTP transaction whose message is already
in finish its Maildir delivery and write its per-recipient replies, then exits (status 0). So
a message that landed in the Maildir is always acknowledged, and the relay never delivers it a
second time. Checks: smtp-source gets 250 for all 800 messages; after three SIGTERM/restart
cycles during the load, every Message-Id is in the Maildir exactly once, the relay's spool is
empty and no Maildir tmp/ file is left; home logged no "unacknowledged" warning; with the
relay's LMTP connections open but idle, home stops at once. The drain is capped: with a
client that never reads its replies, SIGTERM ends home after ~10 s with a warning.
"""
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

MESSAGES = 800
SESSIONS = 10
SIZE = 20000


def main() -> None:
    _, home, relay = lib.start_pair("homerestart")
    result = {}

    def load() -> None:
        result["r"] = lib.run_tool(
            ["smtp-source", "-s", str(SESSIONS), "-m", str(MESSAGES), "-l", str(SIZE),
             "-f", "load@sender.test", "-t", DEMO, "-M", "restart-client.test",
             f"127.0.0.1:{relay.port}"], timeout=300)

    t = threading.Thread(target=load)
    t.start()
    logs = []
    for cycle in range(3):
        lib.wait_until(lambda: home.count() >= (cycle + 1) * 120, 60,
                       f"deliveries flowing before stop {cycle + 1}", interval=0.02,
                       daemons=[relay.daemon, home.daemon])
        before = home.count()
        t0 = time.monotonic()
        rc = home.daemon.stop()
        checks.eq(rc, 0, f"stop {cycle + 1}: home exits 0 on SIGTERM (at {before} delivered)")
        checks.ok(time.monotonic() - t0 < 12 * lib.SLOW, f"stop {cycle + 1}: within the drain limit")
        logs.append(home.daemon.log_text())
        time.sleep(0.3)
        home.start()
    t.join()
    r = result.get("r")
    out = (r.stdout + r.stderr).decode(errors="replace") if r else "no result"
    checks.ok(r is not None and r.returncode == 0,
              f"smtp-source sent {MESSAGES} messages, all answered 250", out[-2000:])
    lib.wait_until(lambda: home.count() >= MESSAGES, 120,
                   f"{MESSAGES} messages in the Maildir", interval=0.2,
                   daemons=[relay.daemon, home.daemon])
    lib.wait_until(lambda: not relay.queued(), 60, "relay spool to drain")
    time.sleep(1.5)  # a late duplicate would show up now
    ids = lib.ids_in_maildir(home, "Message-Id")
    dups = {k: v for k, v in ids.items() if v > 1}
    checks.eq(len(ids), MESSAGES, "distinct Message-Ids delivered")
    checks.eq(dups, {}, "no message delivered twice across three home restarts")
    checks.eq(home.count(), MESSAGES, f"exactly {MESSAGES} files in new/+cur/")
    checks.eq(lib.tmp_left(home), [], "no file left in Maildir tmp/")
    joined = "\n".join(logs)
    checks.ok("unacknowledged" not in joined, "home never stopped with replies owed",
              joined[-2000:])
    # The relay keeps its LMTP connections open between messages: an idle home must not wait
    # for them (nothing is owed once the replies are written).
    t0 = time.monotonic()
    rc = home.daemon.stop()
    checks.eq(rc, 0, "idle home exits 0 on SIGTERM")
    checks.ok(time.monotonic() - t0 < 3 * lib.SLOW, "idle home stops at once (no drain wait)",
              f"{time.monotonic() - t0:.1f}s")
    checks.ok("unacknowledged" not in home.daemon.log_text(), "idle stop: nothing owed",
              home.daemon.log_text()[-1500:])
    relay.stop()
    drain_is_capped()


def drain_is_capped() -> None:
    """The drain waits at most 10 s (docs/operations.md): an LMTP client that pipelines 20
    transactions of 1000 recipients and never reads its replies leaves a transaction whose
    replies cannot be written; SIGTERM still ends home after about 10 s, status 0, with the
    "stopping with deliveries unacknowledged" warning."""
    d = lib.tmpdir("home-drain-cap")
    home = lib.Home(d / "home").start()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # the replies pile up at home
    s.connect(("127.0.0.1", home.port))
    rcpts = b"".join(b"RCPT TO:<demo+%s%d@example.test>\r\n" % (b"x" * 40, i)
                     for i in range(1000))
    tx = (b"MAIL FROM:<s@sender.test>\r\n" + rcpts +
          b"DATA\r\nSubject: never acknowledged\r\n\r\nbody\r\n.\r\n")
    threading.Thread(target=lambda: _send_quietly(s, b"LHLO x\r\n" + tx * 20),
                     daemon=True).start()
    seen = {"n": -1, "same": 0}

    def deliveries_stalled() -> bool:
        n = home.count()
        seen["same"] = seen["same"] + 1 if n == seen["n"] and n > 0 else 0
        seen["n"] = n
        return seen["same"] >= 5  # no new delivery for ~1.5 s: home is blocked on its replies

    lib.wait_until(deliveries_stalled, 60, "home's deliveries to stall on unread replies",
                   interval=0.3, daemons=[home.daemon])
    t0 = time.monotonic()
    home.daemon.stop(timeout=30)
    took = time.monotonic() - t0
    log = home.daemon.log_text()
    checks.ok("stopping with deliveries unacknowledged" in log,
              "replies were owed at SIGTERM (home warned it stopped without them)", log[-1500:])
    checks.ok(9.0 <= took <= 10 + 5 * lib.SLOW,
              f"SIGTERM drain waited for the owed replies and was cut at ~10 s ({took:.1f}s)")
    s.close()


def _send_quietly(s: socket.socket, data: bytes) -> None:
    try:
        s.sendall(data)
    except OSError:
        pass  # home went away mid-send: expected once it stops


if __name__ == "__main__":
    lib.run_main(main)
