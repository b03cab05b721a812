"""splitmail-home stopped with SIGTERM while the relay is delivering to it, three times.

Home drains on SIGTERM: it stops accepting, lets every LMTP transaction whose message is already
in finish its Maildir delivery and write its per-recipient replies, then exits (status 0). So
a message that landed in the Maildir is always acknowledged, and the relay never delivers it a
second time. Checks: smtp-source gets 250 for all 800 messages; after three SIGTERM/restart
cycles during the load, every Message-Id is in the Maildir exactly once, the relay's spool is
empty and no Maildir tmp/ file is left; home logged no "unacknowledged" warning; with the
relay's LMTP connections open but idle, home stops at once.
"""
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


if __name__ == "__main__":
    lib.run_main(main)
