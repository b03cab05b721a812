"""Memory load for bench/inbound --memory: N SMTP sessions, all in DATA at once, each sending one
SIZE-byte message, while the memory of the receiving processes is sampled.

usage: memory.py --port P --maildir DIR --sessions N --size BYTES
                 [--hwm NAME=PID ...] [--tree NAME=MASTER_PID[:COMM] ...]
                 [--interval 0.05] [--timeout 1800]

Each session: EHLO, MAIL FROM (with SIZE=), RCPT TO, DATA; once every session has its 354, all
send their bodies together (a threading.Barrier), so the N transactions are open at the same
moment. Lines are 78 octets + CRLF and never start with a dot (no stuffing needed).

Memory, from the moment the sessions connect until MAILDIR holds N more messages:
  --hwm NAME=PID      VmHWM of PID (/proc/PID/status, the kernel's own peak RSS) read at the end,
                      and its VmRSS sampled like the trees below (shows what sampling misses);
  --tree NAME=PID[:COMM]  the sum of VmRSS over the direct children of PID (plus PID itself),
                      only those whose comm is COMM when given, sampled every --interval seconds
                      in a separate process; the peak of the sum is reported. Sampling can miss
                      peaks shorter than the interval, and summed RSS counts shared pages (libc,
                      mapped maps) once per process;
  every --pss-every samples also the summed PSS (/proc/PID/smaps_rollup), shared pages divided
  among their processes.
Prints one line of JSON.
"""
import argparse
import json
import multiprocessing as mp
import os
import socket
import threading
import time

from measure import count  # messages in a Maildir (new/ + cur/)

PAGE = os.sysconf("SC_PAGE_SIZE")


def status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0  # exited between listing and reading


def pss_bytes(pid: int) -> int:
    # Proportional set size: each shared page divided among the processes mapping it, so a sum
    # over processes counts shared libraries once (the kernel walks the page tables: costlier).
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def children(pid: int) -> list[int]:
    # CONFIG_PROC_CHILDREN: the direct children, one read (Postfix's and Dovecot's daemons are all
    # direct children of their master).
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def sampler(specs, interval, pss_every, stop, out):
    """specs: list of (name, pid, comm or None, with_children). Peak of each sum, sample stats;
    every pss_every-th sample also the summed PSS."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # root: fewer missed samples when loaded
    except PermissionError:
        pass
    peak_pss = {s[0]: 0 for s in specs}
    peak = {s[0]: 0 for s in specs}
    peak_n = {s[0]: 0 for s in specs}
    peak_t = {s[0]: 0.0 for s in specs}
    t0 = time.monotonic()
    samples = 0
    max_gap = 0.0
    last = t0
    while not stop.is_set():
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        for name, pid, want, tree in specs:
            pids = ([pid] if want is None else []) + (children(pid) if tree else [])
            if want is not None:
                pids = [p for p in pids if comm(p) == want]
            total = sum(rss_bytes(p) for p in pids)
            if total > peak[name]:
                peak[name], peak_n[name], peak_t[name] = total, len(pids), now - t0
            if samples % pss_every == 0:
                peak_pss[name] = max(peak_pss[name], sum(pss_bytes(p) for p in pids))
        samples += 1
        stop.wait(max(0.0, interval - (time.monotonic() - now)))
    dur = time.monotonic() - t0
    out.put({"peak_bytes": peak, "peak_pss_bytes": peak_pss, "pss_every": pss_every, "procs_at_peak": peak_n, "peak_at_s": peak_t,
             "samples": samples, "mean_interval_s": dur / max(samples, 1), "max_gap_s": max_gap})


class Session(threading.Thread):
    def __init__(self, i, port, size, body, barrier, deadline):
        super().__init__(daemon=True)
        self.i, self.port, self.size, self.body = i, port, size, body
        self.barrier, self.deadline = barrier, deadline
        self.error = None
        self.done_at = None
        self.buf = b""

    def reply(self, s):
        # one (possibly multi-line) reply: returns its code
        while True:
            while b"\r\n" not in self.buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), line.decode(errors="replace")

    def expect(self, s, code, what):
        got, line = self.reply(s)
        if got != code:
            raise RuntimeError(f"{what}: {line}")

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=self.deadline)
            self.expect(s, 220, "banner")
            s.sendall(b"EHLO bench-client.test\r\n")
            self.expect(s, 250, "EHLO")
            s.sendall(b"MAIL FROM:<bench@sender.test> SIZE=%d\r\n" % (self.size + 256))
            self.expect(s, 250, "MAIL")
            s.sendall(b"RCPT TO:<demo@example.test>\r\n")
            self.expect(s, 250, "RCPT")
            s.sendall(b"DATA\r\n")
            self.expect(s, 354, "DATA")
            self.barrier.wait()  # every session is in DATA now
            head = (b"From: bench@sender.test\r\nTo: demo@example.test\r\n"
                    b"Subject: memory bench %d\r\nMessage-ID: <mem-%d-%d@bench-client.test>\r\n\r\n"
                    % (self.i, self.i, os.getpid()))
            s.sendall(head)
            s.sendall(self.body)
            s.sendall(b".\r\n")
            self.expect(s, 250, "end of DATA")
            self.done_at = time.monotonic()
            s.sendall(b"QUIT\r\n")
            s.close()
        except threading.BrokenBarrierError:
            self.error = self.error or "barrier broken (another session failed before DATA)"
        except Exception as e:  # noqa: BLE001 - reported, the run is then invalid
            self.error = f"{type(e).__name__}: {e}"
            self.barrier.abort()


def body_of(size: int) -> bytes:
    line = b"x" * 78 + b"\r\n"
    n = max(1, size // len(line))
    return line * n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--size", type=int, default=20 << 20)
    ap.add_argument("--hwm", action="append", default=[])
    ap.add_argument("--tree", action="append", default=[])
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--pss-every", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1800)
    a = ap.parse_args()

    specs, hwm = [], {}
    for h in a.hwm:
        name, pid = h.split("=")
        hwm[name] = int(pid)
        specs.append((name + " (sampled)", int(pid), None, False))
    for t in a.tree:
        name, rest = t.split("=")
        pid, _, want = rest.partition(":")
        specs.append((name, int(pid), want or None, True))

    body = body_of(a.size)
    base = count(a.maildir)
    stop = mp.Event()
    out = mp.Queue()
    sp = mp.Process(target=sampler, args=(specs, a.interval, a.pss_every, stop, out))
    sp.start()
    time.sleep(3 * a.interval)  # a few idle samples first

    barrier = threading.Barrier(a.sessions, timeout=a.timeout)
    t0 = time.monotonic()
    sessions = [Session(i, a.port, len(body), body, barrier, a.timeout) for i in range(a.sessions)]
    for s in sessions:
        s.start()
    for s in sessions:
        s.join()
    accept = time.monotonic() - t0
    errors = [s.error for s in sessions if s.error]
    done = sorted(s.done_at - t0 for s in sessions if s.done_at)
    e2e = None
    if not errors:
        while time.monotonic() - t0 < a.timeout:
            if count(a.maildir) - base >= a.sessions:
                e2e = time.monotonic() - t0
                break
            time.sleep(0.05)
    stop.set()
    res = out.get()
    sp.join()
    print(json.dumps({
        "sessions": a.sessions, "message_bytes": len(body), "accept_s": accept, "e2e_s": e2e,
        "first_250_s": done[0] if done else None, "last_250_s": done[-1] if done else None,
        "accepted": len(done), "delivered": count(a.maildir) - base,
        "errors": errors[:5], "error_count": len(errors),
        "vmhwm_bytes": {n: (status_kib(p, "VmHWM") or 0) * 1024 for n, p in hwm.items()},
        **res}))


if __name__ == "__main__":
    main()
