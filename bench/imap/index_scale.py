#!/usr/bin/python3
"""SELECT and `UID FETCH 1:* (FLAGS)` on a large Maildir folder served by splitmail-home.

Makes N message files in INBOX/cur (default 100,000; flags and a keyword on some), starts
splitmail-home on loopback and times, over a raw TLS socket (no client-side parsing cost):

  index build   first SELECT ever: no index yet (readdir, UIDs assigned, index written; no
                stat: sizes from the ",S=" of the names, INTERNALDATE read when asked for)
  cold SELECT   fresh process, index on disk, page cache warm (unless --drop-caches)
  warm SELECT   second SELECT in a new connection of the same process
  UID FETCH     `UID FETCH 1:* (FLAGS)` after the warm SELECT (response bytes counted)
  after STORE   NOOP and SELECT after a STORE changed one flag (cur/ mtime moved; the
                folder's inotify watch shows it was our own rename, so no readdir)

Usage: SPLITMAIL_BIN=build-release /usr/bin/python3 bench/imap/index_scale.py [-n 100000]
       [--drop-caches] [--keep]
Use a Release build for figures; see README.md in this directory for measured ones.
"""
import argparse
import os
import shutil
import socket
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import lib  # noqa: E402
from lib import DEMO  # noqa: E402


class Raw:
    """Minimal IMAP client: one command at a time, reads up to the tagged completion."""

    def __init__(self, port: int):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        self.buf = bytearray()
        self.n = 0
        self._until(b"* OK")

    def _until(self, marker: bytes) -> bytes:
        """Reads through the first line that starts with `marker`."""
        start = 0
        while True:
            if self.buf.startswith(marker):
                i = 0
            else:
                i = self.buf.find(b"\n" + marker, start)
                i = i + 1 if i >= 0 else -1
            if i >= 0:
                j = self.buf.find(b"\r\n", i)
                if j >= 0:
                    out = bytes(self.buf[:j + 2])
                    del self.buf[:j + 2]
                    return out
                start = max(0, i - 1)
            else:
                start = max(0, len(self.buf) - len(marker) - 1)
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk

    def cmd(self, text: str) -> tuple[float, bytes]:
        self.n += 1
        tag = f"T{self.n}".encode()
        t0 = time.perf_counter()
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        out = self._until(tag + b" ")
        dt = time.perf_counter() - t0
        last = out[out.rfind(b"\n" + tag + b" ") + 1:] if out.find(b"\n" + tag + b" ") >= 0 else out
        if not last.startswith(tag + b" OK"):
            raise RuntimeError(f"{text}: {last!r}")
        return dt, out

    def close(self) -> None:
        try:
            self.cmd("LOGOUT")
        except Exception:
            pass
        self.s.close()


def cpu_ns(pid: int) -> int:
    """CPU time used so far by all threads of `pid` (ns, from /proc/<pid>/task/*/schedstat)."""
    total = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((t / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def make_messages(cur: Path, n: int) -> None:
    body = (b"From: bench@example.test\r\nTo: demo@example.test\r\nSubject: bench\r\n"
            b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\nA small message.\r\n")
    flags = ["S", "S", "FS", "", "RS", "Sa"]
    for i in range(n):
        name = f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(body)}:2,{flags[i % len(flags)]}"
        with open(cur / name, "wb") as f:
            f.write(body)


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--drop-caches", action="store_true", help="cold page cache before cold SELECT")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imap-bench")
    home = lib.Home(d / "home")
    box = home.mailbox()
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_messages(box / "cur", a.n)
    print(f"{a.n} messages written in {time.perf_counter() - t0:.1f}s")
    cert = lib.make_cert(d, "imap", "home.example.test")
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\n[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    pw = home.passwords[DEMO]
    time.sleep(1.1)  # let the directory mtimes age past the trust margin

    def session() -> Raw:
        c = Raw(imaps_port)
        c.cmd(f'LOGIN "{DEMO}" "{pw}"')
        return c

    def start():
        home.start()
        lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")

    results = []

    class Timed:
        """Runs commands on `c`, recording wall time and splitmail-home's CPU time."""

        def __init__(self, c: Raw):
            self.c = c

        def cmd(self, what: str, text: str) -> bytes:
            before = cpu_ns(home.daemon.pid)
            dt, out = self.c.cmd(text)
            results.append((what, dt, (cpu_ns(home.daemon.pid) - before) / 1e9))
            return out

    start()
    c = session()
    Timed(c).cmd("index build (first SELECT, no index)", "SELECT INBOX")
    c.close()
    home.stop()
    time.sleep(0.1)
    if a.drop_caches:
        drop_caches()
    start()
    c = session()
    Timed(c).cmd("cold SELECT (new process, index on disk)", "SELECT INBOX")
    c.close()
    c = session()
    t = Timed(c)
    t.cmd("warm SELECT", "SELECT INBOX")
    out = t.cmd("UID FETCH 1:* (FLAGS)", "UID FETCH 1:* (FLAGS)")
    t.cmd(f"UID FETCH 1:* (FLAGS) again ({len(out) / 1e6:.1f} MB)", "UID FETCH 1:* (FLAGS)")
    t.cmd("UID STORE one message (fsync of the index)", "UID STORE 5 +FLAGS (\\Flagged)")
    time.sleep(0.1)
    t.cmd("NOOP after the STORE (own rename: no re-read)", "NOOP")
    c.close()
    c = session()
    Timed(c).cmd("SELECT after that", "SELECT INBOX")
    c.close()
    home.stop()
    size = (box / "splitmail-uidlist").stat().st_size
    print(f"splitmail-home {lib.HOME_BIN}, {a.n} messages, index {size / 1e6:.1f} MB")
    print(f"  {'':48s} {'wall':>8s}    {'server CPU':>10s}")
    for what, dt, cpu in results:
        print(f"  {what:48s} {dt * 1000:8.1f} ms {cpu * 1000:8.1f} ms")
    if a.keep:
        print(f"kept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
