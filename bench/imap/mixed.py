"""bench/imap workload (5): a mixed IMAP workload on shared mailboxes, with state checking.

Imported by driver.py (`--only 5`). N clients over implicit TLS, spread round-robin over 10
users (so at 10 clients each user has one session, at 50 five sessions share a mailbox), each
logged in once (not timed) and then, for `--seconds` (60 by default for this workload), running
a weighted random mix of commands one at a time:

  SELECT        switch between INBOX and Archive
  FETCH FLAGS   FETCH 1:* (UID FLAGS)                  (a client's flag resync)
  FETCH ENV     FETCH a:a+9 (UID ENVELOPE)             (a message list page)
  FETCH BODY    FETCH n (UID BODY.PEEK[])              (opening a message)
  STORE         STORE n +FLAGS/-FLAGS (\\Flagged | \\Seen | \\Answered | one of 8 keywords)
  EXPUNGE       STORE n +FLAGS.SILENT (\\Deleted), then EXPUNGE (both counted, each in its kind)
  APPEND        a 2-20 KB message to INBOX or Archive (synchronizing literal)
  STATUS        the folder not selected (MESSAGES UIDNEXT UNSEEN)
  LIST          LIST "" "*"

What is not measured: logins, IDLE, SEARCH, COPY/MOVE. Sequence numbers are always taken from
the session's own view, which the server must honour.

Each session keeps its view of the selected mailbox from the untagged responses (every response
is parsed, literals included) and counts violations of it, which are reported, never hidden:

  keyword      a FETCH carries a keyword not announced in the latest FLAGS or PERMANENTFLAGS
               (RFC 3501 7.2.6 / 7.1: clients rely on FLAGS to know keywords)
  fetch-seq    a FETCH for a sequence number above the session's message count (an expunged
               or never-announced message; RFC 3501 7.4.2)
  expunge-seq  an EXPUNGE for a sequence number the session does not have
  exists-down  EXISTS below the count the session holds after the EXPUNGEs it was sent
               (RFC 3501 7.3.1: the count only shrinks by EXPUNGE)
  expunge-during  an EXPUNGE sent while a FETCH, STORE or SEARCH (non-UID) was running
               (RFC 3501 7.4.1: not allowed, sequence numbers would shift under the client)
  uid-changed  a FETCH gives a sequence number a UID other than the one it had, or UIDs that
               do not ascend with sequence numbers (RFC 3501 2.3.1.1)
  uidvalidity  two sessions (or one, later) see a different UIDVALIDITY for the same folder
  rejected     the server answers NO/BAD to a command using a sequence number in the view
               (RFC 2180 4.2 allows NO for a message another session expunged and the server
               has not yet reported: this one can count a legitimate answer)
Counted apart, not a violation: APPEND to the selected folder answered without an EXISTS that
shows it (RFC 3501 6.3.11 says SHOULD).

The clients run in --client-procs processes (default 2: one Python process cannot parse TLS
for 50 sessions without becoming the bottleneck); their CPU share is printed.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import re
import ssl
import subprocess
import time
from pathlib import Path

MIX_USERS = [f"w{i}@example.test" for i in range(1, 11)]
FOLDERS = ["INBOX", "Archive"]
KEYWORDS = ["$Work", "$Todo", "$Later", "kw1", "kw2", "kw3", "kw4", "kw5"]
SYSTEM = ["\\Flagged", "\\Seen", "\\Answered"]
KINDS = ["SELECT", "FETCH FLAGS", "FETCH ENVELOPE", "FETCH BODY[]", "STORE", "EXPUNGE", "APPEND",
         "STATUS", "LIST"]
# weights of the operations a client picks (EXPUNGE: one STORE \Deleted + one EXPUNGE; APPENDs
# outnumber expunges so the folders do not run dry in a long run)
OPS = [("select", 5), ("flags", 12), ("envelope", 18), ("body", 20), ("store", 18),
       ("expunge", 4), ("append", 6), ("status", 8), ("list", 5)]
VIOLATIONS = ["keyword", "fetch-seq", "expunge-seq", "exists-down", "expunge-during",
              "uid-changed", "uidvalidity", "rejected"]


# ---------------------------------------------------------------- seeding


def mix_message(i: int, size: int, user: str) -> bytes:
    head = (f"From: Sender {i % 53} <sender{i % 53}@sender.test>\r\nTo: {user}\r\n"
            f"Cc: Other {i % 7} <other{i % 7}@cc.test>\r\n"
            f"Subject: mixed workload message {i}\r\nMessage-ID: <mix-{i}@sender.test>\r\n"
            f"Date: Tue, 5 Mar 2024 11:{i % 60:02d}:00 +0000\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def seed(box: Path, owner: int | None, user: str, inbox: int, archive: int) -> int:
    """INBOX with `inbox` messages and .Archive with `archive` (Maildir++), 1-40 KB each, the
    same files for both servers. Returns the bytes written."""
    rnd = random.Random(sum(map(ord, user)))
    flags = ["S", "S", "S", "RS", "FS", "", "S", ""]
    total = 0
    for folder, n in ((box, inbox), (box / ".Archive", archive)):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            size = int(min(40000, max(1000, rnd.lognormvariate(8.5, 0.8))))
            data = mix_message(i, size, user)
            name = f"{1700000000 + i}.M{i}P2Q{i}.mix,S={len(data)}:2,{flags[i % len(flags)]}"
            (folder / "cur" / name).write_bytes(data)
            total += len(data)
            if owner is not None:
                os.chown(folder / "cur" / name, owner, owner)
        if owner is not None:
            for p in [folder] + [folder / s for s in ("cur", "new", "tmp")]:
                os.chown(p, owner, owner)
    if owner is not None:
        os.chown(box, owner, owner)
    return total


# ---------------------------------------------------------------- fsync delay shim

SHIM_C = r"""
/* bench/imap: LD_PRELOAD shim, adds a fixed delay to every fsync/fdatasync (a slower disk). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
#include <errno.h>

static void delay(void) {
    struct timespec ts = {DELAY_MS / 1000, (DELAY_MS % 1000) * 1000000L};
    int saved = errno;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    errno = saved;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    delay();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    delay();
    return real(fd);
}
"""


def build_shim(d: Path, delay_ms: int) -> Path:
    src, so = d / "fsync_delay.c", d / "fsync_delay.so"
    src.write_text(SHIM_C)
    r = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", f"-DDELAY_MS={delay_ms}", "-o", str(so),
                        str(src), "-ldl"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"gcc for the fsync shim failed: {r.stderr}")
    os.chmod(so, 0o755)
    return so


def shim_loaded(pid: int, so: Path) -> bool:
    try:
        return str(so) in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


# ---------------------------------------------------------------- client with state


_LIT = re.compile(rb"\{(\d+)\+?\}\r\n$")
_QUOTED = re.compile(rb'"(?:[^"\\]|\\.)*"')
_UNTAGGED_NUM = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE|RECENT|FETCH)\b", re.I)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.I)
_PERM = re.compile(rb"\[PERMANENTFLAGS \(([^)]*)\)\]", re.I)
_UID = re.compile(rb"\bUID (\d+)", re.I)
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)


class Session:
    """One persistent TLS session of one user, with its view of the selected folder."""

    def __init__(self, r, w, user: str, stats: dict, uidvalidity: dict):
        self.r, self.w, self.user = r, w, user
        self.buf = bytearray()
        self.tag_n = 0
        self.stats = stats  # shared by the process's sessions
        self.uidvalidity = uidvalidity  # (user, folder) -> value, shared within the process
        self.folder: str | None = None
        self.n = 0
        self.uids: list[int | None] = []
        self.flags_announced: set[bytes] = set()
        self.perm_announced: set[bytes] = set()
        self.current: bytes = b""  # command being run, for expunge-during
        self.exists_grew = False  # an EXISTS raised the count during the current command
        self.keyword_examples: list[str] = []

    # -- reading responses, literals included

    async def _fill(self) -> None:
        chunk = await self.r.read(1 << 18)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    async def _response(self) -> bytes:
        """One whole response (continuation lines through literals joined; a literal's octets are
        replaced by a placeholder so that message text is never parsed)."""
        parts: list[bytes] = []
        while True:
            j = self.buf.find(b"\r\n")
            while j < 0:
                await self._fill()
                j = self.buf.find(b"\r\n")
            line = bytes(self.buf[:j + 2])
            del self.buf[:j + 2]
            m = _LIT.search(line)
            if not m:
                parts.append(line[:-2])
                return b"".join(parts)
            n = int(m.group(1))
            parts.append(line[:m.start()] + b"<literal>")
            while len(self.buf) < n:
                await self._fill()
            del self.buf[:n]

    def violation(self, kind: str, detail: str) -> None:
        v = self.stats["violations"]
        v[kind] = v.get(kind, 0) + 1
        ex = self.stats["examples"]
        if len(ex) < 12 and sum(1 for e in ex if e.startswith(kind)) < 3:
            ex.append(f"{kind}: {self.user} {self.folder}: {detail}")

    def _untagged(self, text: bytes) -> None:
        if self.folder is None:
            return
        t = _QUOTED.sub(b'""', text)
        m = _UNTAGGED_NUM.match(t)
        if m:
            num, what = int(m.group(1)), m.group(2).upper()
            if what == b"EXISTS":
                if num < self.n:
                    self.violation("exists-down", f"EXISTS {num} while the session holds "
                                   f"{self.n} (during {self.current[:40]!r})")
                    del self.uids[num:]
                else:
                    self.uids.extend([None] * (num - self.n))
                    if num > self.n:
                        self.exists_grew = True
                self.n = num
            elif what == b"EXPUNGE":
                verb = self.current.split(b" ", 1)[0].upper()
                if verb in (b"FETCH", b"STORE", b"SEARCH"):
                    self.violation("expunge-during", f"EXPUNGE {num} during {self.current[:40]!r}")
                if num < 1 or num > self.n:
                    self.violation("expunge-seq", f"EXPUNGE {num} with {self.n} messages")
                else:
                    del self.uids[num - 1]
                    self.n -= 1
            elif what == b"FETCH":
                self._fetch(num, t)
            return
        if t.upper().startswith(b"* FLAGS ("):
            fm = _FLAGS.search(t)
            if fm:
                self.flags_announced = set(fm.group(1).split())
            return
        pm = _PERM.search(t)
        if pm:
            self.perm_announced = set(pm.group(1).split())
        vm = _UIDVALIDITY.search(t)
        if vm:
            key = (self.user, self.folder)
            old = self.uidvalidity.setdefault(key, int(vm.group(1)))
            if old != int(vm.group(1)):
                self.violation("uidvalidity", f"{old} then {vm.group(1).decode()}")

    def _fetch(self, seq: int, t: bytes) -> None:
        if seq < 1 or seq > self.n:
            self.violation("fetch-seq", f"FETCH {seq} with {self.n} messages "
                           f"(during {self.current[:40]!r})")
            return
        fm = _FLAGS.search(t)
        if fm:
            for f in fm.group(1).split():
                if f.startswith(b"\\"):
                    continue
                if f not in self.flags_announced and f not in self.perm_announced:
                    self.violation("keyword", f"FETCH {seq} FLAGS has {f.decode()} not in FLAGS "
                                   f"or PERMANENTFLAGS (during {self.current[:40]!r})")
        um = _UID.search(t)
        if um:
            uid = int(um.group(1))
            known = self.uids[seq - 1]
            if known is not None and known != uid:
                self.violation("uid-changed", f"seq {seq} was UID {known}, now {uid}")
                return
            self.uids[seq - 1] = uid
            before = next((u for u in reversed(self.uids[:seq - 1]) if u is not None), None)
            after = next((u for u in self.uids[seq:] if u is not None), None)
            if (before is not None and before >= uid) or (after is not None and after <= uid):
                self.violation("uid-changed", f"seq {seq} UID {uid} does not ascend "
                               f"(before {before}, after {after})")

    async def command(self, text: bytes, literal: bytes | None = None) -> tuple[bool, bytes]:
        """Sends one command; returns (tagged OK?, tagged line). Every untagged response on the
        way updates the view."""
        self.tag_n += 1
        tag = b"m%d" % self.tag_n
        self.current = text
        self.exists_grew = False
        if literal is None:
            self.w.write(tag + b" " + text + b"\r\n")
        else:
            self.w.write(tag + b" " + text + b" {%d}\r\n" % len(literal))
        sent_literal = literal is None
        while True:
            resp = await self._response()
            if resp.startswith(b"+") and not sent_literal:
                self.w.write(literal + b"\r\n")
                sent_literal = True
                continue
            if resp.startswith(b"* "):
                self._untagged(resp)
                continue
            if resp.startswith(tag + b" "):
                self.current = b""
                return resp[len(tag) + 1:].upper().startswith(b"OK"), resp
            if resp.startswith(b"+"):
                continue
            raise RuntimeError(f"unexpected line {resp[:120]!r}")

    async def select(self, folder: str) -> None:
        self.folder, self.n, self.uids = folder, 0, []
        self.flags_announced, self.perm_announced = set(), set()
        ok, line = await self.command(b"SELECT " + folder.encode())
        if not ok:
            raise RuntimeError(f"SELECT {folder}: {line[:200]!r}")


async def open_session(port: int, user: str, password: str, stats, uidvalidity) -> Session:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, limit=1 << 22)
    s = Session(r, w, user, stats, uidvalidity)
    greeting = await s._response()
    if not greeting.startswith(b"* OK"):
        raise RuntimeError(f"greeting {greeting[:100]!r}")
    ok, line = await s.command(f'LOGIN "{user}" "{password}"'.encode())
    if not ok:
        raise RuntimeError(f"LOGIN {user}: {line[:200]!r}")
    await s.select("INBOX")
    return s


async def one_op(s: Session, rnd: random.Random, op: str, stats) -> None:
    def count(kind: str, dt: float, ok: bool) -> None:
        k = stats["kinds"].setdefault(kind, [0, 0.0, 0])
        k[0] += 1
        k[1] += dt
        if not ok:
            k[2] += 1

    async def run(kind: str, text: bytes, literal: bytes | None = None,
                  uses_seq: bool = False) -> bool:
        t0 = time.perf_counter()
        ok, line = await s.command(text, literal)
        count(kind, time.perf_counter() - t0, ok)
        if not ok and uses_seq:
            s.violation("rejected", f"{text[:50]!r} -> {line[:100]!r}")
        elif not ok:
            stats["errors"].append(f"{text[:50]!r} -> {line[:100]!r}")
        return ok

    if op in ("flags", "envelope", "body", "store", "expunge") and s.n == 0:
        op = "append"
    if op == "select":
        other = FOLDERS[1 - FOLDERS.index(s.folder)] if s.folder in FOLDERS else "INBOX"
        t0 = time.perf_counter()
        await s.select(other)
        count("SELECT", time.perf_counter() - t0, True)
    elif op == "flags":
        await run("FETCH FLAGS", b"FETCH 1:* (UID FLAGS)", uses_seq=True)
    elif op == "envelope":
        a = rnd.randint(1, s.n)
        b = min(s.n, a + 9)
        await run("FETCH ENVELOPE", b"FETCH %d:%d (UID ENVELOPE)" % (a, b), uses_seq=True)
    elif op == "body":
        await run("FETCH BODY[]", b"FETCH %d (UID BODY.PEEK[])" % rnd.randint(1, s.n),
                  uses_seq=True)
    elif op == "store":
        flag = rnd.choice(SYSTEM + KEYWORDS + KEYWORDS)
        sign = rnd.choice("+-")
        await run("STORE", b"STORE %d %sFLAGS (%s)" % (rnd.randint(1, s.n), sign.encode(),
                                                       flag.encode()), uses_seq=True)
    elif op == "expunge":
        if await run("STORE", b"STORE %d +FLAGS.SILENT (\\Deleted)" % rnd.randint(1, s.n),
                     uses_seq=True):
            await run("EXPUNGE", b"EXPUNGE")
    elif op == "append":
        folder = rnd.choice(FOLDERS)
        i = rnd.randrange(1 << 30)
        msg = mix_message(i, rnd.randint(2000, 20000), s.user)
        ok = await run("APPEND", b"APPEND " + folder.encode() + b" ()", msg)
        if ok and folder == s.folder and not s.exists_grew:
            stats["append_no_exists"] += 1
    elif op == "status":
        other = FOLDERS[1 - FOLDERS.index(s.folder)] if s.folder in FOLDERS else "Archive"
        await run("STATUS", b"STATUS " + other.encode() + b" (MESSAGES UIDNEXT UNSEEN)")
    elif op == "list":
        await run("LIST", b'LIST "" "*"')


def selftest() -> None:
    """The checker must see planted violations (a check that cannot fail is no check)."""
    stats = {"violations": {}, "examples": []}
    s = Session(None, None, "t@example.test", stats, {})
    s.folder = "INBOX"
    for line in [b"* 3 EXISTS", b"* FLAGS (\\Seen $Work)",
                 b"* OK [PERMANENTFLAGS (\\Seen $Work kw1 \\*)] ok",
                 b"* OK [UIDVALIDITY 7] ok",
                 b'* 1 FETCH (UID 10 FLAGS (\\Seen $Work kw1) ENVELOPE ("FLAGS (kw9)" NIL))',
                 b"* 2 FETCH (UID 11 FLAGS (kw2))",  # keyword
                 b"* 4 FETCH (FLAGS ())",  # fetch-seq
                 b"* 1 FETCH (UID 12)",  # uid-changed
                 b"* 3 FETCH (UID 5)",  # uid-changed (not ascending)
                 b"* 2 EXISTS",  # exists-down
                 b"* 5 EXPUNGE",  # expunge-seq
                 b"* OK [UIDVALIDITY 8] ok"]:  # uidvalidity
        s._untagged(line)
    s.current = b"FETCH 1 (FLAGS)"
    s._untagged(b"* 1 EXPUNGE")  # expunge-during
    want = {"keyword": 1, "fetch-seq": 1, "uid-changed": 2, "exists-down": 1, "expunge-seq": 1,
            "uidvalidity": 1, "expunge-during": 1}
    if stats["violations"] != want:
        raise RuntimeError(f"mixed.py self-test: checker found {stats['violations']}, "
                           f"planted {want}")


def _client_proc(k: int, clients: list[int], port: int, password: str, seconds: float,
                 barrier, out, users: int) -> None:
    stats = {"kinds": {}, "violations": {}, "examples": [], "errors": [], "append_no_exists": 0,
             "exceptions": []}
    uidvalidity: dict = {}

    async def main():
        sessions = []
        for c in clients:
            sessions.append(await open_session(port, MIX_USERS[c % users], password,
                                               stats, uidvalidity))
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        cpu0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        ops = [o for o, _ in OPS]
        weights = [w for _, w in OPS]

        async def worker(s: Session, c: int):
            rnd = random.Random(1000 + c)
            while time.perf_counter() < deadline:
                try:
                    await one_op(s, rnd, rnd.choices(ops, weights)[0], stats)
                except Exception as e:  # noqa: BLE001 -- reported
                    stats["exceptions"].append(f"{s.user}: {type(e).__name__}: {e}")
                    return

        await asyncio.gather(*(worker(s, c) for s, c in zip(sessions, clients)))
        wall = time.perf_counter() - t0
        stats["wall"] = wall
        stats["cpu"] = (time.process_time() - cpu0) / wall
        for s in sessions:
            try:
                await asyncio.wait_for(s.command(b"LOGOUT"), 10)
            except Exception:  # noqa: BLE001
                pass
            s.w.close()

    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001
        stats["exceptions"].append(f"process {k}: {type(e).__name__}: {e}")
        stats.setdefault("wall", seconds)
        stats.setdefault("cpu", 0.0)
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    out.put(stats)


def run_mix(port: int, password: str, clients: int, seconds: float, procs: int,
            users: int = len(MIX_USERS)) -> dict:
    """Runs the workload against one server; returns merged stats."""
    selftest()
    procs = max(1, min(procs, clients))
    groups = [list(range(k, clients, procs)) for k in range(procs)]
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    ps = [ctx.Process(target=_client_proc, args=(k, g, port, password, seconds, barrier, out, users))
          for k, g in enumerate(groups)]
    for p in ps:
        p.start()
    try:
        barrier.wait(timeout=600)  # all logged in: the clock starts now
    except Exception:  # noqa: BLE001 -- a process failed to log in; its stats say why
        pass
    results = [out.get(timeout=seconds + 900) for _ in ps]
    for p in ps:
        p.join(30)
    return merge(results, sum_wall=False)


def merge(results: list[dict], sum_wall: bool) -> dict:
    """Client processes of one run (same wall clock: the longest wall, CPU shares added) or
    rounds of one server (walls added, CPU the busiest)."""
    walls = [r["wall"] for r in results]
    merged = {"kinds": {}, "violations": {}, "examples": [], "errors": [], "append_no_exists": 0,
              "exceptions": [], "wall": sum(walls) if sum_wall else max(walls),
              "cpu": max(r["cpu"] for r in results) if sum_wall else sum(r["cpu"] for r in results),
              "cpu_max": max(r.get("cpu_max", r["cpu"]) for r in results)}
    for r in results:
        for kind, (n, t, bad) in r["kinds"].items():
            m = merged["kinds"].setdefault(kind, [0, 0.0, 0])
            m[0] += n
            m[1] += t
            m[2] += bad
        for v, n in r["violations"].items():
            merged["violations"][v] = merged["violations"].get(v, 0) + n
        merged["examples"] += r["examples"]
        merged["errors"] += r["errors"]
        merged["exceptions"] += r["exceptions"]
        merged["append_no_exists"] += r["append_no_exists"]
    return merged
