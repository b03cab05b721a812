"""Postfix's smtp-source pushes 2000 messages of 5 KB at concurrency 20 through relay -> home.

Checks: smtp-source gets 250 for every message (it aborts on anything else); exactly 2000 files
arrive in the Maildir; every Message-Id smtp-source generated (unique per message) is there exactly
once; the relay's spool is empty afterwards and no Maildir tmp/ file is left behind.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

MESSAGES = 2000
SESSIONS = 20
SIZE = 5120


def main() -> None:
    _, home, relay = lib.start_pair("load")
    t0 = time.monotonic()
    r = lib.run_tool(["smtp-source", "-s", str(SESSIONS), "-m", str(MESSAGES), "-l", str(SIZE),
                      "-f", "load@sender.test", "-t", DEMO, "-M", "load-client.test",
                      f"127.0.0.1:{relay.port}"], timeout=300)
    accepted_s = time.monotonic() - t0
    out = (r.stdout + r.stderr).decode(errors="replace")
    checks.ok(r.returncode == 0, f"smtp-source sent {MESSAGES} messages, all answered 250",
              f"exit {r.returncode}: {out[-2000:]}")
    lib.log(f"accepted {MESSAGES} in {accepted_s:.1f}s ({MESSAGES / accepted_s:.0f} msg/s)")

    lib.wait_until(lambda: home.count() >= MESSAGES, 180,
                   f"{MESSAGES} messages in the Maildir (have {home.count()})",
                   interval=0.2, daemons=[relay.daemon, home.daemon])
    e2e_s = time.monotonic() - t0
    lib.log(f"delivered {MESSAGES} in {e2e_s:.1f}s ({MESSAGES / e2e_s:.0f} msg/s)")
    lib.wait_until(lambda: not relay.queued(), 30, "relay spool to drain")
    time.sleep(1)  # a late duplicate would show up now
    checks.eq(home.count(), MESSAGES, f"exactly {MESSAGES} files in new/+cur/")

    ids = lib.ids_in_maildir(home, "Message-Id")
    dups = {k: v for k, v in ids.items() if v > 1}
    checks.eq(len(ids), MESSAGES, "distinct Message-Ids delivered")
    checks.eq(dups, {}, "no message delivered twice")
    checks.eq(lib.tmp_left(home), [], "no file left in Maildir tmp/")
    sizes = {p.stat().st_size for p in home.messages()}
    checks.ok(min(sizes) > SIZE, "every delivered file holds the 5 KB body",
              f"smallest file {min(sizes)} octets")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
