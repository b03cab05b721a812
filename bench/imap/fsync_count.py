"""bench/imap/fsync_count.py: fsync/fdatasync calls of splitmail-home per IMAP command kind.

Issue 15 ("cut fsyncs per STORE/APPEND to what durability needs"): starts splitmail-home from
SPLITMAIL_BIN (default build/) with one user whose INBOX holds 100 messages and Archive 50,
logs in over TLS, selects INBOX, then for each command kind of bench/imap workload (5) runs it
N times (default 40) while `strace -f -e trace=fsync,fdatasync` is attached, and prints the
calls per command. "mixed" runs the kinds in workload (5)'s proportions, one after the other,
so fsyncs one command leaves for the next (a deferred index record) are counted too.
Run as root (strace attaches to the server):

  SPLITMAIL_BIN=build /usr/bin/python3 bench/imap/fsync_count.py [-n 40]
"""
import argparse
import imaplib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import lib  # noqa: E402
from lib import DEMO  # noqa: E402

WEIGHTS = {"SELECT": 5, "FETCH FLAGS": 12, "FETCH ENVELOPE": 18, "FETCH BODY[]": 20,
           "STORE": 18, "EXPUNGE": 4, "APPEND": 6, "STATUS": 8, "LIST": 5}


def body(i: int, size: int) -> bytes:
    return (f"From: a@sender.test\r\nTo: {DEMO}\r\nSubject: message {i}\r\n"
            f"Message-ID: <{i}.{time.time()}@sender.test>\r\n\r\n").encode() + b"y" * size + b"\r\n"


class Client:
    def __init__(self, m: imaplib.IMAP4):
        self.m = m
        self.folder = "INBOX"
        self.m.select(self.folder)
        self.rnd = random.Random(1)
        self.n = 1000

    def run(self, kind: str, count: int) -> None:
        m, rnd = self.m, self.rnd
        other = "Archive" if self.folder == "INBOX" else "INBOX"
        if kind == "SELECT":
            m.select(other)
            self.folder = other
        elif kind == "FETCH FLAGS":
            m.fetch("1:*", "(UID FLAGS)")
        elif kind == "FETCH ENVELOPE":
            a = rnd.randint(1, max(1, count - 9))
            m.fetch(f"{a}:{a + 9}", "(UID ENVELOPE)")
        elif kind == "FETCH BODY[]":
            m.fetch(str(rnd.randint(1, count)), "(UID BODY.PEEK[])")
        elif kind == "STORE":
            flag = rnd.choice(["\\Flagged", "\\Seen", "\\Answered", "kw1", "kw2", "kw3"])
            m.store(str(rnd.randint(1, count)), rnd.choice("+-") + "FLAGS", f"({flag})")
        elif kind == "EXPUNGE":
            m.store(str(rnd.randint(1, count)), "+FLAGS.SILENT", "(\\Deleted)")
            m.expunge()
        elif kind == "APPEND":
            self.n += 1
            m.append(rnd.choice(["INBOX", "Archive"]), None, None,
                     body(self.n, rnd.randint(2000, 20000)))
        elif kind == "STATUS":
            m.status(other, "(MESSAGES UNSEEN UIDNEXT)")
        elif kind == "LIST":
            m.list('""', "*")


def counted(pid: int, out: Path, work) -> int:
    """fsync + fdatasync calls of `pid` (all threads) while work() runs."""
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o",
                               str(out), "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached to every thread
    work()
    time.sleep(0.3)  # a completion on another thread after the reply
    tracer.send_signal(signal.SIGINT)
    tracer.wait()
    text = out.read_text() if out.exists() else ""
    return sum(1 for line in text.splitlines() if "fsync(" in line or "fdatasync(" in line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=40, help="commands per kind")
    args = ap.parse_args()
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("fsync-count")
    home = lib.Home(d / "home")
    home.add_imaps(d)
    home.start()
    home.wait_imaps()
    c = Client(home.imaps())
    for i in range(100):
        c.m.append("INBOX", None, None, body(i, 3000))
    c.m.create("Archive")
    for i in range(50):
        c.m.append("Archive", None, None, body(100 + i, 3000))
    c.m.select("INBOX")
    time.sleep(1.2)  # directory mtimes settle
    count = 40  # messages addressed: below what either folder keeps after the EXPUNGEs
    print(f"splitmail-home {lib.HOME_BIN}: fsync+fdatasync calls per command, {args.n} each")
    for kind in WEIGHTS:
        def work(kind=kind):
            for _ in range(args.n):
                c.run(kind, count)
        n = counted(home.daemon.pid, d / "strace.out", work)
        print(f"  {kind:16} {n / args.n:5.2f}")
    kinds = [k for k, w in WEIGHTS.items() for _ in range(w)]
    rnd = random.Random(2)
    total = args.n * 4

    def mixed():
        for _ in range(total):
            c.run(rnd.choice(kinds), count)
    n = counted(home.daemon.pid, d / "strace.out", mixed)
    print(f"  {'mixed (5)':16} {n / total:5.2f}  ({total} commands in (5)'s proportions)")
    c.m.logout()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
