"""kill -9 of the relay in the middle of a 2000-message load loses no acknowledged message.

20 client threads send messages with a unique X-Test-Id each and log every id that got 250 (the
client log is the reference). When about 700 have been acknowledged the relay is killed with
SIGKILL and restarted on the same spool half a second later; the clients reconnect and finish
the 2000. Every acknowledged id, before and after the kill, must be delivered. Messages that were not acknowledged may or may not arrive (their
250 may have been lost with the connection). Duplicates can only come from deliveries that were
in flight to home when the relay died (LMTP said 250, the relay had not yet removed the message);
the test prints their number and bounds it by the number of LMTP connections times a small
factor. After the restart the relay accepts and delivers new mail.
"""
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

TOTAL = 2000
THREADS = 20
KILL_AT = 700
LMTP_CONNECTIONS = 4  # Relay() default home.connections


class Load:
    def __init__(self, port: int):
        self.port = port
        self.next = 0
        self.lock = threading.Lock()
        self.acked: list[tuple[str, float]] = []   # (id, time of the 250)
        self.unacked: list[str] = []               # sent, no 250 seen (error or cut off)
        self.cut_at: list[float] = []              # when each of those sessions broke
        self.refused: list[str] = []               # explicit non-250 reply

    def take(self) -> int | None:
        with self.lock:
            if self.next >= TOTAL:
                return None
            self.next += 1
            return self.next - 1

    def connect(self) -> "lib.SMTP | None":
        """Connects, retrying while the relay is down (it is restarted by the test)."""
        deadline = time.monotonic() + 60 * lib.SLOW
        while time.monotonic() < deadline:
            try:
                c = lib.SMTP(self.port, timeout=20)
                c.ehlo()
                return c
            except Exception:
                time.sleep(0.1)
        return None

    def worker(self) -> None:
        c = self.connect()
        while c is not None:
            i = self.take()
            if i is None:
                break
            mid = f"crash-{i}"
            try:
                code, _ = c.cmd("MAIL FROM:<load@sender.test>")
                if code == 250:
                    code, _ = c.cmd(f"RCPT TO:<{DEMO}>")
                if code == 250:
                    code, _ = c.cmd("DATA")
                if code == 354:
                    c.send(lib.make_message(mid, size=3000) + b".\r\n")
                    code, _ = c.reply()
            except Exception:
                with self.lock:
                    self.unacked.append(mid)
                    self.cut_at.append(time.monotonic())
                c.close()
                c = self.connect()
                continue
            with self.lock:
                if code == 250:
                    self.acked.append((mid, time.monotonic()))
                else:
                    self.refused.append(mid)
        if c is not None:
            c.close()


def main() -> None:
    _, home, relay = lib.start_pair("crash")
    load = Load(relay.port)
    threads = [threading.Thread(target=load.worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    lib.wait_until(lambda: len(load.acked) >= KILL_AT, 120, f"{KILL_AT} acknowledged messages",
                   interval=0.01, daemons=[relay.daemon])
    relay.daemon.kill9()
    killed_at = time.monotonic()
    with load.lock:
        acked_before_kill = len(load.acked)
        delivered_before = len(lib.ids_in_maildir(home))
    time.sleep(0.5)
    relay.start(wait_recipients=False)  # the clients reconnect and finish the load
    restarted_at = time.monotonic()
    for t in threads:
        t.join(120 * lib.SLOW)
    checks.ok(not any(t.is_alive() for t in threads), "load clients finished")
    with load.lock:
        acked = {m for m, _ in load.acked}
        ack_time = dict(load.acked)
    lib.log(f"killed the relay after {acked_before_kill} acknowledgements "
            f"({delivered_before} delivered by then); {len(load.unacked)} in flight without "
            f"250; {len(acked)} acknowledged in all; {len(load.refused)} refused")
    checks.eq(load.refused, [], "no message refused")
    checks.ok(KILL_AT <= acked_before_kill < TOTAL,
              f"the kill happened mid-load ({acked_before_kill} of {TOTAL} acknowledged)")
    checks.eq(len(acked) + len(load.unacked), TOTAL, "every message was either acked or cut")
    # The sum above holds by construction; what proves the restart clean is how many were cut:
    # at most one per session open at the kill, and none once the restarted relay was up (a
    # relay that drops connections after the restart fails here).
    checks.ok(len(load.unacked) <= THREADS,
              f"at most one message cut per open session ({len(load.unacked)} <= {THREADS})",
              str(load.unacked[:30]))
    late = [m for m, t in zip(load.unacked, load.cut_at) if t > restarted_at]
    checks.eq(late, [], "no session cut after the restarted relay was up")

    lib.wait_until(lambda: acked <= set(lib.ids_in_maildir(home)), 120,
                   "every acknowledged message in the Maildir after the restart",
                   interval=0.2, daemons=[relay.daemon, home.daemon])
    lib.wait_until(lambda: not relay.queued(), 30, "relay spool to drain after the restart")
    # Issue 11 item 10: routine crash leftovers (unfinished commits, removals cut short) are
    # cleaned up by the restart's recovery; corrupt/ is for what cannot be accounted for.
    corrupt = sorted(p.name for p in (relay.spool / "corrupt").iterdir())
    checks.eq(corrupt, [], "no routine crash leftover moved to corrupt/")
    time.sleep(1)
    ids = lib.ids_in_maildir(home)
    missing = acked - set(ids)
    checks.eq(sorted(missing), [], "no acknowledged message lost")
    extra = set(ids) - acked
    dups = {k: v for k, v in ids.items() if v > 1}
    ages = sorted(killed_at - ack_time[k] for k in dups if k in ack_time)
    lib.log(f"delivered {len(ids)} distinct; {len(extra)} delivered without a 250 seen by the "
            f"client (connection cut after commit); {len(dups)} duplicated "
            f"(acknowledged {', '.join(f'{a:.2f}s' for a in ages) or '-'} before the kill)")
    checks.ok(extra <= set(load.unacked),
              "messages delivered without a 250 were all in flight at the kill",
              f"unexpected: {sorted(extra - set(load.unacked))[:10]}")
    checks.ok(len(dups) <= 4 * LMTP_CONNECTIONS,
              f"duplicates ({len(dups)}) limited to deliveries in flight at the kill "
              f"(<= {4 * LMTP_CONNECTIONS})", str(dups))

    # the restarted relay takes new mail
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("after-restart"))
    checks.eq(code, 250, "restarted relay accepts new mail")
    lib.wait_until(lambda: "after-restart" in lib.ids_in_maildir(home), 20,
                   "message sent after the restart delivered")
    checks.eq(lib.tmp_left(home), [], "no file left in Maildir tmp/")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
