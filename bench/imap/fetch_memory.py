#!/usr/bin/python3
"""Issue 12: what one large FETCH costs splitmail-home in memory.

A folder of N messages of S MB each (written into the Maildir directly), one client over TLS
sends `FETCH 1:* (BODY.PEEK[])` and reads the answer at full speed; the figure is the growth of
the process's resident memory (VmRSS, sampled every 5 ms) during that FETCH over its value
before (VmHWM is no use: the argon2id login already peaks at 64 MiB). Before the bounded FETCH the whole
answer (N x S MB) was built in one string before the first byte went out; now one step holds at
most 256 KiB plus one message. A benchmark, not a test: run it against two builds to compare.

    SPLITMAIL_BIN=build /usr/bin/python3 bench/imap/fetch_memory.py [--messages 40] [--size-mb 2]
"""
import argparse
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import lib  # noqa: E402
from lib import DEMO  # noqa: E402


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=40)
    ap.add_argument("--size-mb", type=float, default=2.0)
    a = ap.parse_args()
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("fetchmem")
    cert, key = lib.make_cert(d, "imap", "localhost")
    home = lib.Home(d / "home")
    port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
                f'[imaps]\nlisten = ["127.0.0.1:{port}"]\n')
    # The user's Maildir, with N messages of S MB in cur/ (seen), before the server starts.
    user_dir = home.maildir / DEMO.split("@")[1] / DEMO.split("@")[0]
    for sub in ("cur", "new", "tmp"):
        (user_dir / sub).mkdir(parents=True, exist_ok=True)
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 x\r\n"
    body = line * int(a.size_mb * 1024 * 1024 / len(line))
    for i in range(a.messages):
        head = f"From: a@example.test\r\nTo: {DEMO}\r\nSubject: big {i}\r\n\r\n".encode()
        (user_dir / "cur" / f"{1700000000 + i}.M{i}P1Q{i}.host:2,S").write_bytes(head + body)
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", port), 10, "imaps port")
    pid = home.daemon.proc.pid
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60))

    def until(tag: bytes) -> int:
        buf, total = b"", 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed")
            total += len(chunk)
            buf = (buf + chunk)[-4096:]
            if b"\r\n" + tag + b" " in buf or buf.startswith(tag + b" "):
                if buf.endswith(b"\r\n"):
                    return total

    s.recv(4096)
    pw = home.passwords[DEMO]
    s.sendall(f'a LOGIN "{DEMO}" "{pw}"\r\nb SELECT INBOX\r\n'.encode())
    until(b"b")
    s.sendall(b"w FETCH 1 (BODY.PEEK[])\r\n")  # warm-up: one message through every buffer
    until(b"w")
    time.sleep(0.5)
    before = status_kb(pid, "VmRSS")
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], status_kb(pid, "VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    s.sendall(b"f FETCH 1:* (BODY.PEEK[])\r\n")
    got = until(b"f")
    secs = time.monotonic() - t0
    done.set()
    sampler.join()
    after = peak[0]
    s.sendall(b"z LOGOUT\r\n")
    s.close()
    home.stop()
    answer_mb = got / 1048576
    print(f"binary: {lib.HOME_BIN}")
    print(f"FETCH 1:* BODY.PEEK[] of {a.messages} x {a.size_mb:g} MB: {answer_mb:.1f} MB answered "
          f"in {secs:.2f} s ({answer_mb / secs:.0f} MB/s)")
    print(f"RSS {before / 1024:.1f} MB before, at most {after / 1024:.1f} MB during: "
          f"growth {(after - before) / 1024:.1f} MB for a {answer_mb:.1f} MB answer")


if __name__ == "__main__":
    main()
