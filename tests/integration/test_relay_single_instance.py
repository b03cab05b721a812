"""A second splitmail-relay on the same spool stops before touching it (issue 16 bug 5).

Before: the second relay wrote its own pid into relay.pid, failed to listen ("Address already
in use"), removed relay.pid on the way out, and `splitmail queue flush` then said no relay was
running; worse, its start-up recovery could move the running relay's in-flight files aside.
Checks: the second relay exits 75 naming the running relay's pid; relay.pid still names the
first; `splitmail queue flush` still reaches it; mail still flows through the first.
"""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def main() -> None:
    _, home, relay = lib.start_pair("singlerelay")
    first_pid = relay.daemon.pid
    pid_file = relay.spool / "relay.pid"
    checks.eq(pid_file.read_text().strip(), str(first_pid), "relay.pid names the running relay")
    r = subprocess.run([str(lib.RELAY_BIN), "--config", str(relay.config)],
                       capture_output=True, text=True, timeout=30 * lib.SLOW)
    out = r.stdout + r.stderr
    checks.eq(r.returncode, 75, "the second relay exits 75 (EX_TEMPFAIL)")
    checks.ok("in use by another splitmail-relay" in out and f"pid {first_pid}" in out,
              "its error names the running relay", out[-800:])
    checks.eq(pid_file.read_text().strip() if pid_file.exists() else "(missing)",
              str(first_pid), "relay.pid still names the first relay")
    f = subprocess.run([str(lib.CLI_BIN), "queue", "flush", "--spool", str(relay.spool)],
                       capture_output=True, text=True, timeout=30)
    checks.ok(f.returncode == 0 and str(first_pid) in f.stdout + f.stderr,
              "`splitmail queue flush` still reaches the running relay", f.stdout + f.stderr)
    before = home.count()
    code, text = lib.send_message(relay.port, "a@sender.test", [DEMO], lib.make_message("single"))
    checks.eq(code, 250, f"the first relay still accepts mail ({text})")
    lib.wait_until(lambda: home.count() > before, 30 * lib.SLOW, "message delivered",
                   daemons=[relay.daemon, home.daemon])
    checks.eq(relay.daemon.stop(), 0, "relay exits 0")
    checks.eq(home.daemon.stop(), 0, "home exits 0")


if __name__ == "__main__":
    lib.run_main(main)
