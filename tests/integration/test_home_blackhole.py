"""Home unreachable without a refusal (tunnel down, packets dropped): the relay notices within
its connect timeout, not after the 120 s transaction timeout (issue 16 bug 8).

A dropped tunnel does not refuse connections, it swallows the SYNs. To get that on loopback
alone, home is stopped and its port taken by a listener whose accept queue is full and never
drained: Linux then drops further SYNs, so a connect hangs exactly as it does into a dead tunnel.
Checks: the relay logs "home unreachable" (naming a timeout) well before 120 s after the message
was queued, keeps the message queued, and delivers it once home is back.
"""
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def black_hole(port: int) -> list[socket.socket]:
    """A listener on 127.0.0.1:port whose accept queue is full: later SYNs are dropped."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(0)
    held = [srv]
    for _ in range(4):  # fill the queue; the last ones hang, which is the point
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        held.append(c)
    time.sleep(0.5)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(("127.0.0.1", port))
        lib.fail("black hole not established: a connect still completed")
    except (socket.timeout, TimeoutError):
        pass
    finally:
        probe.close()
    return held


def main() -> None:
    _, home, relay = lib.start_pair("blackhole")  # the relay has cached the recipient list
    checks.eq(home.daemon.stop(), 0, "home stopped")
    held = black_hole(home.port)
    t0 = time.monotonic()
    code, text = lib.send_message(relay.port, "a@sender.test", [DEMO], lib.make_message("bh"))
    checks.eq(code, 250, f"message queued while home is unreachable ({text})")
    lib.wait_until(lambda: "home unreachable" in relay.daemon.log_text(), 40 * lib.SLOW,
                   "the relay to log home unreachable", daemons=[relay.daemon], interval=0.2)
    took = time.monotonic() - t0
    lines = [l for l in relay.daemon.log_text().splitlines() if "home unreachable" in l]
    checks.ok(took < 40 * lib.SLOW,
              f"home unreachable noticed after {took:.1f}s (connect timeout, not 120 s)")
    checks.ok(any("time" in l.lower() for l in lines), "the log line names the timeout",
              "\n".join(lines))
    checks.ok(relay.queued() != [], "the message stays queued")
    for s in held:
        s.close()
    home.start()
    lib.wait_until(lambda: home.count() >= 1, 60 * lib.SLOW, "delivery once home is back",
                   daemons=[relay.daemon, home.daemon], interval=0.2)
    checks.eq(relay.daemon.stop(), 0, "relay exits 0")
    checks.eq(home.daemon.stop(), 0, "home exits 0")


if __name__ == "__main__":
    lib.run_main(main)
