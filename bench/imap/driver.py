#!/usr/bin/python3
"""bench/imap driver: the same IMAP workloads against splitmail-home and a throwaway Dovecot.

Started by bench/imap/run (as root, ulimit -n raised); see README.md in this directory.
Both servers get the same users file line (same password hash: the same scheme, parameters and
salt), the same Maildir contents and plain IMAP on 127.0.0.1 with plaintext LOGIN allowed on
loopback. The client is python asyncio on raw sockets: it only looks for the tagged completion
line, it never parses responses (its own CPU share is printed next to each throughput figure).

  (1) cycles   10 clients: connect, LOGIN, SELECT INBOX, UID FETCH 1:* (UID FLAGS), LOGOUT
  (2) session  10 logged-in clients: FETCH n BODY.PEEK[] of random n, then APPEND to INBOX
  (3) idle     N connections logged in, INBOX selected, in IDLE: PSS of all server processes
               (Dovecot also with imap_hibernate_timeout)
  (4) index    SELECT and UID FETCH 1:* (FLAGS) on a 100,000-message INBOX, cold and warm
  (6) sort     SORT (DATE), SORT (SUBJECT) and THREAD REFERENCES on a 100,000-message INBOX of
               threaded mail: first after a restart (no cached header fields), warm, and after
               a second restart
  (5) mixed    N clients over TLS on 10 users' shared folders, a random mix of SELECT, FETCH
               (FLAGS, ENVELOPE, BODY[]), STORE, EXPUNGE, APPEND, STATUS, LIST for 60 s, each
               session's view checked (mixed.py); --fsync-delay-ms slows every fsync
  (7) isolation  users B..K (10 sessions) NOOP and FETCH, LMTP delivers to them: latency
               p50/p99 alone, then while user A repeatedly FETCHes a 25 MB message and SELECTs
               a 100,000-message folder just changed by another writer (issue 12 item 4)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import lib  # noqa: E402  (temp dirs, ports, certificates, Daemon, cleanup at exit)
import mixed  # noqa: E402  (workload 5)

USER = "demo@example.test"
BIG = "big@example.test"
SORTER = "sort@example.test"  # (6)
HEAVY = "heavy@example.test"  # (7) user A
LIGHT = [f"u{i}@example.test" for i in range(1, 11)]  # (7) users B..K
# (7) --a-users N: N-1 more heavy users, each with a folder Big of EXTRA_BIG messages
EXTRA_HEAVY = [f"heavy{i}@example.test" for i in range(2, 9)]
EXTRA_BIG = 20000
ALL_USERS = [USER, BIG, SORTER, HEAVY] + EXTRA_HEAVY + LIGHT + mixed.MIX_USERS
PASSWORD = "bench-password-1"
MAIL_UID = 8  # Debian's "mail" user: Dovecot's mail processes run as it

# ---------------------------------------------------------------- IMAP client


class Imap:
    """One IMAP connection. cmd() sends a tagged command and returns the whole response once the
    tagged line is in; it raises unless that line says OK. Tags cannot occur in message bodies
    (`Zq` + number at the start of a line)."""

    def __init__(self, r: asyncio.StreamReader, w: asyncio.StreamWriter):
        self.r, self.w = r, w
        self.buf = bytearray()
        self.n = 0

    @classmethod
    async def connect(cls, port: int) -> "Imap":
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        c = cls(r, w)
        await c._line_starting(b"* OK")
        return c

    async def _fill(self) -> None:
        chunk = await self.r.read(1 << 18)
        if not chunk:
            raise ConnectionError("server closed the connection: " + bytes(self.buf[-200:]).decode(
                "latin-1"))
        self.buf += chunk

    async def _line_starting(self, prefix: bytes) -> bytes:
        """Consumes lines up to and including the first one starting with prefix."""
        start = 0
        while True:
            i = 0 if self.buf.startswith(prefix) else self.buf.find(b"\r\n" + prefix, start)
            if i > 0:
                i += 2
            if i >= 0 and (self.buf.startswith(prefix) or i > 0):
                j = self.buf.find(b"\r\n", i)
                if j >= 0:
                    out = bytes(self.buf[:j + 2])
                    del self.buf[:j + 2]
                    return out
                start = max(0, i - 2)
            else:
                start = max(0, len(self.buf) - len(prefix) - 2)
            await self._fill()

    def _tag(self) -> bytes:
        self.n += 1
        return b"Zq%d" % self.n

    @staticmethod
    def _check(tag: bytes, out: bytes, what: str) -> bytes:
        k = out.rfind(b"\r\n" + tag + b" ")
        last = out[k + 2:] if k >= 0 else out
        if not last.startswith(tag + b" OK"):
            raise RuntimeError(f"{what}: {last[:200]!r}")
        return out

    async def cmd(self, text: str) -> bytes:
        tag = self._tag()
        self.w.write(tag + b" " + text.encode() + b"\r\n")
        out = await self._line_starting(tag + b" ")
        return self._check(tag, out, text)

    async def append(self, box: str, msg: bytes) -> bytes:
        tag = self._tag()
        self.w.write(tag + b" APPEND " + box.encode() + b" {%d}\r\n" % len(msg))
        await self._line_starting(b"+")  # synchronizing literal, the same for both servers
        self.w.write(msg + b"\r\n")
        out = await self._line_starting(tag + b" ")
        return self._check(tag, out, "APPEND")

    async def idle(self) -> None:
        tag = self._tag()
        self.w.write(tag + b" IDLE\r\n")
        line = await self._line_starting(b"+")
        if not line.startswith(b"+"):
            raise RuntimeError(f"IDLE: {line!r}")

    async def login(self, user: str, pw: str) -> None:
        await self.cmd(f'LOGIN "{user}" "{pw}"')

    async def logout(self) -> None:
        try:
            await self.cmd("LOGOUT")
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.w.close()
        except Exception:
            pass


def exists_of(select_response: bytes) -> int:
    m = re.search(rb"\* (\d+) EXISTS", select_response)
    if not m:
        raise RuntimeError(f"no EXISTS in SELECT response {select_response[:300]!r}")
    return int(m.group(1))


# ---------------------------------------------------------------- messages


def message(i: int, size: int) -> bytes:
    head = (f"From: Sender {i % 97} <sender{i % 97}@sender.test>\r\nTo: {USER}\r\n"
            f"Subject: bench message {i}\r\nMessage-ID: <bench-{i}@sender.test>\r\n"
            f"Date: Mon, 4 Mar 2024 10:{i % 60:02d}:00 +0000\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod temp\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def message_set(n: int) -> list[tuple[str, bytes]]:
    """n (name, bytes) pairs, the same every run: sizes 1-40 KB (median about 5 KB), flags as a
    mailbox that is mostly read."""
    rnd = random.Random(6)
    flags = ["S", "S", "S", "RS", "FS", "", "S", ""]
    out = []
    for i in range(n):
        size = int(min(40000, max(1000, rnd.lognormvariate(8.5, 0.8))))
        data = message(i, size)
        name = f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(data)}:2,{flags[i % len(flags)]}"
        out.append((name, data))
    return out


def small_message_set(n: int) -> list[tuple[str, bytes]]:
    """imapstore's bench/imap/index_scale.py messages: tiny, flags and a keyword on some."""
    body = (b"From: bench@example.test\r\nTo: demo@example.test\r\nSubject: bench\r\n"
            b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\nA small message.\r\n")
    flags = ["S", "S", "FS", "", "RS", "Sa"]
    return [(f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(body)}:2,{flags[i % len(flags)]}", body)
            for i in range(n)]


def threaded_message_set(n: int) -> list[tuple[str, bytes]]:
    """(6): n messages in threads of 1-12 (References chains, "Re:" subjects, dates spread over a
    year, 500 senders), stored in arrival order, the same every run."""
    rnd = random.Random(13)
    out: list[tuple[str, bytes]] = []
    t = 0
    while len(out) < n:
        size = min(n - len(out), rnd.randint(1, 12))
        refs: list[str] = []
        for k in range(size):
            i = len(out)
            mid = f"<t{t}-{k}@lists.test>"
            day = 1 + rnd.randrange(28)
            month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                     "Nov", "Dec"][rnd.randrange(12)]
            head = (f"From: Person {rnd.randrange(500)} <p{rnd.randrange(500)}@people.test>\r\n"
                    f"To: {SORTER}\r\n"
                    f"Subject: {'Re: ' if k else ''}topic number {t}\r\n"
                    f"Date: {day} {month} 2024 {rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00"
                    f" +0100\r\nMessage-ID: {mid}\r\n"
                    + (f"References: {' '.join(refs[-10:])}\r\nIn-Reply-To: {refs[-1]}\r\n"
                       if refs else "") + "\r\n").encode()
            data = head + b"A message in a thread.\r\n" * rnd.randint(1, 30)
            out.append((f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(data)}:2,S", data))
            refs.append(mid)
        t += 1
    return out


def write_maildir(box: Path, msgs, owner: int | None, keyword_file: bool) -> None:
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for name, data in msgs:
        p = box / "cur" / name
        with open(p, "wb") as f:
            f.write(data)
        if owner is not None:
            os.chown(p, owner, owner)
    if keyword_file:  # keyword letter a = $Forwarded, in the format both servers read
        (box / "dovecot-keywords").write_text("0 $Forwarded\n")
    if owner is not None:
        for p in [box] + [box / s for s in ("cur", "new", "tmp")] + list(box.glob("dovecot-*")):
            os.chown(p, owner, owner)


# ---------------------------------------------------------------- process measurements


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def memory_of(pids: list[int]) -> tuple[int, int, dict[str, int]]:
    """(sum of Pss, sum of Rss, {process name: count}) in KB over pids (smaps_rollup)."""
    pss = rss = 0
    names: dict[str, int] = {}
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        m1 = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        m2 = re.search(r"^Rss:\s+(\d+) kB", text, re.M)
        if m1 and m2:
            pss += int(m1.group(1))
            rss += int(m2.group(1))
            n = comm(p)
            names[n] = names.get(n, 0) + 1
    return pss, rss, names


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread (tid:name) of pid."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            st = Path(f"/proc/{pid}/task/{t}/stat").read_text()
        except OSError:
            continue
        name = st[st.find("(") + 1:st.rfind(")")]
        f = st[st.rfind(")") + 2:].split()
        label = "main/io thread" if t == str(pid) else f"thread {t}"
        out[f"{label} ({name})"] = (int(f[11]) + int(f[12])) / tck
    return out


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------- the two servers


class Splitmail:
    name = "splitmail"

    def __init__(self, d: Path, build: Path, hash_line: str, tls: bool = False,
                 preload: Path | None = None):
        self.d = d
        d.mkdir(parents=True)
        self.root = d / "mail"
        self.port = lib.free_port()
        self.tls_port = lib.free_port() if tls else None  # (5): implicit TLS
        cert = lib.make_cert(d, "imap", "home.example.test")
        imaps = f'[imaps]\nlisten = ["127.0.0.1:{self.tls_port}"]\n' if tls else ""
        (d / "users").write_text("".join(f"{u}:{hash_line}\n" for u in ALL_USERS))
        self.lmtp_port = lib.free_port()
        (d / "aliases").write_text("")
        (d / "home.toml").write_text(f"""[home]
domains = ["example.test"]
[lmtp]
listen = ["127.0.0.1:{self.lmtp_port}"]
transport = "plain"
[users]
file = "{d}/users"
aliases = "{d}/aliases"
auth_cache_ttl = "0s"
[maildir]
root = "{self.root}"
[imap]
listen = ["127.0.0.1:{self.port}"]
tls_cert = "{cert[0]}"
tls_key = "{cert[1]}"
plaintext_login_on_loopback = true
max_connections = 5000
max_connections_per_ip = 5000
max_connections_per_network = 5000
max_unauthenticated = 5000
login_timeout = "5m"
max_connections_per_user = 5000
{imaps}[log]
level = "warn"
""")
        env = dict(os.environ, LD_PRELOAD=str(preload)) if preload else None
        self.daemon = lib.Daemon("splitmail-home",
                                 [str(build / "homeserver" / "splitmail-home"), "--config",
                                  str(d / "home.toml")], d / "home.log", env=env)

    def box(self, user: str) -> Path:
        local, dom = user.split("@")
        return self.root / dom / local

    def owner(self) -> int | None:
        return None

    def start(self) -> None:
        self.daemon.start()
        lib.wait_until(lambda: lib.port_answers("127.0.0.1", self.port), 15,
                       f"splitmail-home IMAP on {self.port}", daemons=[self.daemon])

    def stop(self) -> None:
        self.daemon.stop()

    def pids(self) -> list[int]:
        # The daemon first, then its password-hash worker processes (users/hash_worker.hpp).
        return [self.daemon.pid] + [p for p in descendants(self.daemon.pid)
                                    if p != self.daemon.pid]

    def drop_index(self, box: Path) -> list[str]:
        return []  # splitmail-uidlist is also the UID record: nothing that is only a cache

    def index_files(self, box: Path) -> list[Path]:
        return [box / "splitmail-uidlist"]

    def drop_all_indexes(self, box: Path) -> None:
        for p in box.glob("splitmail-*"):
            p.unlink()


class Dovecot:
    name = "dovecot"

    def __init__(self, d: Path, hash_line: str, hibernate: str = "0",
                 cert: tuple[Path, Path] | None = None, preload: Path | None = None):
        self.d = d
        self.cert, self.preload = cert, preload
        self.tls_port = lib.free_port() if cert else None  # (5): implicit TLS
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chown(d / "mail", MAIL_UID, MAIL_UID)
        self.port = lib.free_port()
        self.conf = d / "dovecot.conf"
        self.hibernate = hibernate
        self.lmtp_port = lib.free_port()
        lines = []
        for u in ALL_USERS:
            lines.append(f"{u}:{hash_line}:{MAIL_UID}:{MAIL_UID}::{self.box(u)}::")
        (d / "users").write_text("\n".join(lines) + "\n")
        self.write_conf()

    def write_conf(self) -> None:
        d = self.d
        # (5): the same certificate as splitmail's on an imaps listener; plain IMAP stays
        ssl = (f"ssl = yes\nssl_cert = <{self.cert[0]}\nssl_key = <{self.cert[1]}\n"
               if self.cert else "ssl = no\n")
        imaps = (f"address = 127.0.0.1\n    port = {self.tls_port}" if self.cert else "port = 0")
        # the master passes only imported variables to its children
        env = ("import_environment = TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID LISTEN_FDS "
               f"LD_PRELOAD={self.preload}\n" if self.preload else "")
        self.conf.write_text(f"""base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = /dev/null
protocols = imap lmtp
listen = 127.0.0.1
{ssl}{env}disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {MAIL_UID}
last_valid_uid = {MAIL_UID}
mail_location = maildir:~/
default_internal_user = dovecot
default_login_user = dovenull
default_process_limit = 2000
default_client_limit = 10000
protocol imap {{
  mail_max_userip_connections = 5000
}}
imap_hibernate_timeout = {self.hibernate}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service imap {{
  process_limit = 2000
  unix_listener imap-master {{
    mode = 0666
  }}
}}
service imap-hibernate {{
  unix_listener imap-hibernate {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
""")

    def box(self, user: str) -> Path:
        local, dom = user.split("@")
        return self.d / "mail" / dom / local

    def owner(self) -> int | None:
        return MAIL_UID

    def master_pid(self) -> int | None:
        try:
            return int((self.d / "run" / "master.pid").read_text())
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        # not capture_output: the daemon keeps the pipes open and run() would never return
        with open(self.d / "start.log", "ab") as out:
            r = subprocess.run(["dovecot", "-c", str(self.conf)], stdout=out, stderr=out,
                               stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            lib.fail(f"dovecot -c {self.conf} failed: "
                     f"{(self.d / 'start.log').read_text(errors='replace')}")
        lib.wait_until(lambda: lib.port_answers("127.0.0.1", self.port), 15,
                       f"dovecot IMAP on {self.port}")

    def stop(self) -> None:
        pid = self.master_pid()
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True)
        if pid:
            lib.wait_until(lambda: not Path(f"/proc/{pid}").exists(), 20, "dovecot to exit")

    def pids(self) -> list[int]:
        pid = self.master_pid()
        return descendants(pid) if pid else []

    def drop_index(self, box: Path) -> list[str]:
        gone = []
        for p in list(box.glob("dovecot.index*")) + list(box.glob("dovecot.list.index*")):
            p.unlink()
            gone.append(p.name)
        return gone

    def index_files(self, box: Path) -> list[Path]:
        return sorted(box.glob("dovecot.index*")) + [box / "dovecot-uidlist"]

    def drop_all_indexes(self, box: Path) -> None:  # dovecot-keywords is data: it stays
        for p in list(box.glob("dovecot.*index*")) + [box / "dovecot-uidlist"]:
            p.unlink(missing_ok=True)


# ---------------------------------------------------------------- workloads


async def timed_loop(clients: int, seconds: float, one, setup=None):
    """Runs `setup(k)` for each client (logins, not timed), then `one(state)` in `clients`
    concurrent loops until `seconds` have passed; returns (count, wall s, client CPU share,
    errors, states). A loop finishes the operation it is in, so wall is slightly over seconds."""
    if setup:
        states = await asyncio.gather(*(setup(k) for k in range(clients)))
    else:
        states = [None] * clients
    count = [0]
    errors: list[str] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds

    async def worker(state):
        while time.perf_counter() < deadline:
            try:
                await one(state)
                count[0] += 1
            except Exception as e:  # noqa: BLE001 -- counted and reported
                errors.append(f"{type(e).__name__}: {e}")
                if len(errors) > 20:
                    return

    await asyncio.gather(*(worker(st) for st in states))
    wall = time.perf_counter() - t0
    cpu = (time.process_time() - cpu0) / wall
    return count[0], wall, cpu, errors, states


async def cycles(port: int, clients: int, seconds: float, probe: list | None = None):
    """(1). With `probe` (a list): one more session, logged in before, sends NOOP every 20 ms
    while the others cycle and appends each NOOP's latency: shows whether a login stalls
    the sessions that are already open (a password hash checked on an io thread does)."""
    stop = [False]

    async def prober(c: Imap):
        while not stop[0]:
            t0 = time.perf_counter()
            await c.cmd("NOOP")
            probe.append(time.perf_counter() - t0)
            await asyncio.sleep(0.02)
        await c.logout()

    async def one(_):
        c = await Imap.connect(port)
        try:
            await c.login(USER, PASSWORD)
            await c.cmd("SELECT INBOX")
            await c.cmd("UID FETCH 1:* (UID FLAGS)")
            await c.logout()
        finally:
            c.close()

    if probe is None:
        return await timed_loop(clients, seconds, one)
    pc = await Imap.connect(port)
    await pc.login(USER, PASSWORD)
    await pc.cmd("SELECT INBOX")
    task = asyncio.create_task(prober(pc))
    res = await timed_loop(clients, seconds, one)
    stop[0] = True
    await task
    return res


async def sessions(port: int, clients: int, seconds: float, what: str):
    rnd = random.Random(7)
    appended = message(999999, 5000)

    async def setup(k):
        c = await Imap.connect(port)
        await c.login(USER, PASSWORD)
        if what == "append" and k == 0:
            try:
                await c.cmd("CREATE Bench")
            except RuntimeError:
                pass  # exists from an earlier round
        n = exists_of(await c.cmd("SELECT INBOX"))
        return (c, n)

    async def fetch(state):
        c, n = state
        await c.cmd(f"FETCH {rnd.randint(1, n)} BODY.PEEK[]")

    async def append(state):  # to a folder of its own, so that INBOX stays the same for (3)
        await state[0].append("Bench", appended)

    res = await timed_loop(clients, seconds, fetch if what == "fetch" else append, setup)
    for st in res[4]:
        if st:
            await st[0].logout()
    return res


async def idle_conns(port: int, n: int, concurrency: int = 10):
    conns: list[Imap] = []
    sem = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(k):
        async with sem:
            try:
                c = await Imap.connect(port)
                await c.login(USER, PASSWORD)
                await c.cmd("SELECT INBOX")
                await c.idle()
                conns.append(c)
            except Exception as e:  # noqa: BLE001
                errors.append(f"{type(e).__name__}: {e}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(n)))
    return conns, errors, time.perf_counter() - t0


# ---------------------------------------------------------------- phases


class Bench:
    def __init__(self, a):
        self.a = a
        self.rows: list[tuple[str, float, float, str]] = []  # what, splitmail, dovecot, better
        self.notes: list[str] = []

    def row(self, what: str, s: float, d: float, better: str) -> None:
        self.rows.append((what, s, d, better))

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {text}", flush=True)


def client_note(b: "Bench", phase: str, server: str, cpu: float) -> None:
    if cpu > 0.8:
        b.notes.append(f"{phase} {server}: the client used {cpu * 100:.0f}% of a core: it may be "
                       f"the bottleneck, treat this figure as a lower bound")


def phase_cycles(b: Bench, servers, loop) -> None:
    res = {}
    noop = {}
    for s in servers:
        # one warm-up cycle (first SELECT assigns UIDs, page cache)
        loop.run_until_complete(cycles(s.port, 1, 0.01))
        cpu0 = thread_cpu(s.pids()[0]) if s.name == "splitmail" else {}
        probe: list[float] = []
        n, wall, ccpu, errs, _ = loop.run_until_complete(
            cycles(s.port, b.a.clients, b.a.seconds, probe))
        if errs:
            lib.fail(f"(1) {s.name}: {len(errs)} errors, first: {errs[0]}")
        res[s.name] = n / wall
        client_note(b, "(1)", s.name, ccpu)
        extra = ""
        if s.name == "splitmail":
            cpu1 = thread_cpu(s.pids()[0])
            use = sorted(((cpu1.get(k, 0) - cpu0.get(k, 0)) / wall, k) for k in cpu1)[::-1]
            busy = ", ".join(f"{k} {u * 100:.0f}%" for u, k in use[:3])
            extra = "; busiest threads: " + busy
            b.notes.append(f"(1) splitmail-home CPU per thread while cycling: {busy}")
        if s.name == "dovecot":
            procs = memory_of(s.pids())[2]
            extra = "; processes after: " + ", ".join(f"{k} x{v}" for k, v in sorted(procs.items()))
        probe.sort()
        med, worst = probe[len(probe) // 2] * 1e3, probe[-1] * 1e3
        p99 = probe[int(len(probe) * 0.99)] * 1e3
        b.say(f"(1) {s.name}: {n} cycles in {wall:.1f}s = {n / wall:.1f}/s "
              f"(client CPU {ccpu * 100:.0f}%{extra})")
        b.say(f"(1) {s.name}: NOOP on an open session meanwhile: median {med:.1f} ms, "
              f"99% {p99:.0f} ms, max {worst:.0f} ms ({len(probe)} NOOPs)")
        noop[s.name] = (med, p99)
    b.row(f"(1) login+SELECT+FETCH+LOGOUT/s, {b.a.clients} clients", res["splitmail"],
          res["dovecot"], "higher")
    b.row("(1) ms NOOP on another open session meanwhile, median", noop["splitmail"][0],
          noop["dovecot"][0], "lower")
    b.row("(1) ms NOOP on another open session meanwhile, 99th pct", noop["splitmail"][1],
          noop["dovecot"][1], "lower")


def phase_sessions(b: Bench, servers, loop) -> None:
    for what in ("fetch", "append"):
        res = {}
        for s in servers:
            n, wall, ccpu, errs, _ = loop.run_until_complete(
                sessions(s.port, b.a.clients, b.a.seconds, what))
            if errs:
                lib.fail(f"(2) {what} {s.name}: {len(errs)} errors, first: {errs[0]}")
            res[s.name] = n / wall
            client_note(b, f"(2) {what}", s.name, ccpu)
            b.say(f"(2) {what} {s.name}: {n} in {wall:.1f}s = {n / wall:.1f}/s "
                  f"(client CPU {ccpu * 100:.0f}%)")
        label = ("FETCH n BODY.PEEK[]/s (random n)" if what == "fetch"
                 else "APPEND/s (5 KB message)")
        b.row(f"(2) {label}, {b.a.clients} sessions", res["splitmail"], res["dovecot"], "higher")


def measure_idle(b: Bench, s, loop, label: str, hibernating: bool = False) -> float:
    # a fresh server (what (1) and (2) left in its heap would blur "before"), one login cycle
    # so that the auth process and the mailbox index exist, then "before"
    s.stop()
    s.start()
    loop.run_until_complete(cycles(s.port, 1, 0.01))
    time.sleep(1)
    base_pss, _, _ = memory_of(s.pids())
    conns, errs, took = loop.run_until_complete(idle_conns(s.port, b.a.idle))
    if errs:
        lib.fail(f"(3) {label}: {len(errs)} of {b.a.idle} connections failed, first: {errs[0]}")
    if hibernating:  # until the imap processes have handed their clients to imap-hibernate
        def few_imap() -> bool:
            return memory_of(s.pids())[2].get("imap", 0) <= b.a.idle // 50
        lib.wait_until(few_imap, 120, "Dovecot to hibernate the IDLE connections", interval=0.5)
    time.sleep(3)
    pss, rss, names = memory_of(s.pids())
    # all still connected?
    loop.run_until_complete(asyncio.sleep(0.1))
    alive = sum(1 for c in conns if not c.r.at_eof())
    for c in conns:
        c.close()
    loop.run_until_complete(asyncio.sleep(0.5))
    per = pss / b.a.idle
    added = (pss - base_pss) / b.a.idle
    procs = ", ".join(f"{k} x{v}" for k, v in sorted(names.items(), key=lambda kv: -kv[1]))
    b.say(f"(3) {label}: {b.a.idle} IDLE connections (logged in {took:.0f}s, {alive} open at the "
          f"end): PSS {pss / 1024:.1f} MB (RSS {rss / 1024:.1f} MB) = {per:.0f} KB/connection; "
          f"before: PSS {base_pss / 1024:.1f} MB, so {(pss - base_pss) / b.a.idle:.0f} KB/conn "
          f"added; processes: {procs}")
    b.notes.append(f"(3) {label}: processes measured: {procs}")
    if alive < b.a.idle:
        lib.fail(f"(3) {label}: only {alive} of {b.a.idle} connections still open")
    return per, added


def raise_inotify_instances(b: Bench, need: int) -> None:
    """Dovecot's imap processes (all uid mail) take one inotify instance each for IDLE; past
    fs.inotify.max_user_instances (128 by default) they fall back to polling and cannot
    hibernate. Raised for the run, the old value put back at exit."""
    p = Path("/proc/sys/fs/inotify/max_user_instances")
    old = int(p.read_text())
    if old >= need:
        return
    import atexit
    p.write_text(f"{need}\n")
    atexit.register(lambda: p.write_text(f"{old}\n"))
    b.say(f"(3) fs.inotify.max_user_instances {old} -> {need} for this run (restored at exit)")


def phase_idle(b: Bench, servers, loop, dovecot_hib) -> None:
    raise_inotify_instances(b, b.a.idle + 200)
    res = {}
    for s in servers:
        res[s.name] = measure_idle(b, s, loop, s.name)
    S, D = res["splitmail"], res["dovecot"]
    b.row(f"(3) KB PSS per IDLE conn, {b.a.idle} conns: all server procs / n", S[0], D[0], "lower")
    b.row("(3) KB PSS per IDLE conn: (with - before) / n", S[1], D[1], "lower")
    if dovecot_hib:
        H = measure_idle(b, dovecot_hib, loop, f"dovecot, imap_hibernate_timeout = "
                         f"{dovecot_hib.hibernate}", hibernating=True)
        dovecot_hib.stop()
        b.row(f"(3) all procs / n, Dovecot hibernating ({dovecot_hib.hibernate})", S[0], H[0],
              "lower")
        b.row("(3) (with - before) / n, Dovecot hibernating", S[1], H[1], "lower")


LAST_RESPONSES: list[bytes] = []  # of the last one_command() call, for comparisons


async def one_command(port: int, user: str, cmds: list[str]) -> list[tuple[float, int]]:
    c = await Imap.connect(port)
    await c.login(user, PASSWORD)
    out = []
    LAST_RESPONSES.clear()
    for cmd in cmds:
        t0 = time.perf_counter()
        resp = await c.cmd(cmd)
        out.append((time.perf_counter() - t0, len(resp)))
        LAST_RESPONSES.append(resp)
    await c.logout()
    return out


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def index_round(b: Bench, s, loop, box: Path) -> dict[str, float]:
    r: dict[str, float] = {}
    if b.a.drop_caches:
        drop_caches()
    (t, _), = loop.run_until_complete(one_command(s.port, BIG, ["SELECT INBOX"]))
    r["first"] = t
    s.stop()
    gone = s.drop_index(box)
    if b.a.drop_caches:
        drop_caches()
    s.start()
    (t, _), = loop.run_until_complete(one_command(s.port, BIG, ["SELECT INBOX"]))
    r["cold_dropped"] = t
    s.stop()
    if b.a.drop_caches:
        drop_caches()
    s.start()
    (t, _), = loop.run_until_complete(one_command(s.port, BIG, ["SELECT INBOX"]))
    r["cold_kept"] = t
    warm = loop.run_until_complete(one_command(
        s.port, BIG, ["SELECT INBOX", "UID FETCH 1:* (FLAGS)", "UID FETCH 1:* (FLAGS)"]))
    r["warm"] = warm[0][0]
    r["fetch"] = warm[1][0]
    r["fetch2"] = warm[2][0]
    size = sum(p.stat().st_size for p in s.index_files(box) if p.exists())
    b.say(f"(4) {s.name}: first {r['first'] * 1000:.0f} ms, cold (restart"
          f"{', removed ' + ' '.join(gone) if gone else ''}) {r['cold_dropped'] * 1000:.0f} ms,"
          f" cold (restart, index kept) {r['cold_kept'] * 1000:.0f} ms, warm SELECT "
          f"{r['warm'] * 1000:.1f} ms, UID FETCH 1:* (FLAGS) {r['fetch'] * 1000:.0f} ms / "
          f"{r['fetch2'] * 1000:.0f} ms ({warm[1][1] / 1e6:.1f} MB); index files "
          f"{size / 1e6:.1f} MB")
    return r


def phase_index(b: Bench, servers, loop) -> None:
    n = b.a.big
    msgs = small_message_set(n)
    res: dict[str, dict[str, float]] = {}
    for s in servers:
        box = s.box(BIG)
        t0 = time.perf_counter()
        write_maildir(box, msgs, s.owner(), keyword_file=True)
        b.say(f"(4) {s.name}: {n} messages written in {time.perf_counter() - t0:.1f}s")
    time.sleep(1.1)  # directory mtimes older than splitmail's trust margin (as index_scale.py)
    for s in servers:
        rounds: list[dict[str, float]] = []
        for rnd in range(b.a.runs):
            box = s.box(BIG)
            if rnd > 0:  # back to "never opened": every index file goes, messages stay
                s.stop()
                s.drop_all_indexes(box)
                s.start()
            rounds.append(index_round(b, s, loop, box))
        r = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
        if b.a.runs > 1:
            b.say(f"(4) {s.name}: median of {b.a.runs} rounds: first {r['first'] * 1000:.0f} ms, "
                  f"cold (index caches removed) {r['cold_dropped'] * 1000:.0f} ms, cold (kept) "
                  f"{r['cold_kept'] * 1000:.0f} ms, warm SELECT {r['warm'] * 1000:.1f} ms, "
                  f"UID FETCH {r['fetch'] * 1000:.0f} ms")
        res[s.name] = r
    S, D = res["splitmail"], res["dovecot"]
    k = f"{n // 1000}k" if n >= 1000 else str(n)
    b.row(f"(4) ms first SELECT, {k} msgs, no index at all", S["first"] * 1e3, D["first"] * 1e3,
          "lower")
    b.row("(4) ms cold SELECT: restart, Dovecot's dovecot.index* removed", S["cold_dropped"] * 1e3,
          D["cold_dropped"] * 1e3, "lower")
    b.row("(4) ms cold SELECT: restart, index files kept", S["cold_kept"] * 1e3,
          D["cold_kept"] * 1e3, "lower")
    b.row("(4) ms warm SELECT", S["warm"] * 1e3, D["warm"] * 1e3, "lower")
    b.row("(4) ms UID FETCH 1:* (FLAGS), warm", S["fetch"] * 1e3, D["fetch"] * 1e3, "lower")


def phase_sort(b: Bench, servers, loop) -> None:
    n = b.a.big
    msgs = threaded_message_set(n)
    for s in servers:
        box = s.box(SORTER)
        t0 = time.perf_counter()
        write_maildir(box, msgs, s.owner(), keyword_file=False)
        b.say(f"(6) {s.name}: {n} threaded messages written in {time.perf_counter() - t0:.1f}s")
    time.sleep(1.1)
    cmds = ["SELECT INBOX", "SORT (DATE) UTF-8 ALL", "SORT (DATE) UTF-8 ALL",
            "THREAD REFERENCES UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
            "SORT (SUBJECT) UTF-8 ALL"]
    res: dict[str, dict[str, float]] = {}
    answers: dict[str, list[bytes]] = {}
    for s in servers:
        loop.run_until_complete(one_command(s.port, SORTER, ["SELECT INBOX"]))  # index built
        s.stop()
        s.start()
        r = loop.run_until_complete(one_command(s.port, SORTER, cmds))
        answers[s.name] = [re.sub(rb"\r\n\S+ OK [^\r]*\r\n$", b"", x)
                           for x in LAST_RESPONSES[1:]]
        s.stop()
        s.start()
        r2 = loop.run_until_complete(one_command(s.port, SORTER, cmds[:2] + cmds[3:4]))
        res[s.name] = {"sort_cold": r[1][0], "sort_warm": r[2][0], "thread_first": r[3][0],
                       "thread_warm": r[4][0], "subject_warm": r[5][0],
                       "sort_restart": r2[1][0], "thread_restart": r2[2][0]}
        b.say(f"(6) {s.name}: SORT (DATE) first {r[1][0] * 1000:.0f} ms, warm "
              f"{r[2][0] * 1000:.0f} ms; THREAD REFERENCES first {r[3][0] * 1000:.0f} ms, warm "
              f"{r[4][0] * 1000:.0f} ms; SORT (SUBJECT) {r[5][0] * 1000:.0f} ms; after a restart"
              f" SORT (DATE) {r2[1][0] * 1000:.0f} ms, THREAD {r2[2][0] * 1000:.0f} ms "
              f"(response {r[1][1] / 1e3:.0f} kB / {r[3][1] / 1e3:.0f} kB)")
    for i, what in ((0, "SORT (DATE)"), (2, "THREAD REFERENCES"), (4, "SORT (SUBJECT)")):
        same = answers["splitmail"][i] == answers["dovecot"][i]
        b.say(f"(6) {what}: the answers of both servers are "
              f"{'identical' if same else 'DIFFERENT'}")
        if not same:
            b.notes.append(f"(6) {what}: splitmail and Dovecot answer differently")
    S, D = res["splitmail"], res["dovecot"]
    k = f"{n // 1000}k" if n >= 1000 else str(n)
    b.row(f"(6) ms SORT (DATE), {k} msgs, first (no header cache)", S["sort_cold"] * 1e3,
          D["sort_cold"] * 1e3, "lower")
    b.row("(6) ms SORT (DATE), warm", S["sort_warm"] * 1e3, D["sort_warm"] * 1e3, "lower")
    b.row("(6) ms THREAD REFERENCES, first", S["thread_first"] * 1e3, D["thread_first"] * 1e3,
          "lower")
    b.row("(6) ms THREAD REFERENCES, warm", S["thread_warm"] * 1e3, D["thread_warm"] * 1e3,
          "lower")
    b.row("(6) ms SORT (SUBJECT), warm", S["subject_warm"] * 1e3, D["subject_warm"] * 1e3, "lower")
    b.row("(6) ms SORT (DATE) after a restart", S["sort_restart"] * 1e3, D["sort_restart"] * 1e3,
          "lower")
    b.row("(6) ms THREAD REFERENCES after a restart", S["thread_restart"] * 1e3,
          D["thread_restart"] * 1e3, "lower")


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- (7) isolation


async def lmtp_deliver(port: int, rcpt: str, data: bytes) -> None:
    """One LMTP transaction (RFC 2033); raises unless every reply is 2xx/3xx as expected."""
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def reply(expect: bytes) -> None:
        while True:
            line = await r.readline()
            if not line:
                raise ConnectionError("LMTP server closed the connection")
            if line[3:4] != b"-":
                if not line.startswith(expect):
                    raise RuntimeError(f"LMTP: {line!r}")
                return

    try:
        await reply(b"220")
        w.write(b"LHLO bench.test\r\n")
        await reply(b"250")
        w.write(b"MAIL FROM:<bench@sender.test>\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n")
        await reply(b"250")
        await reply(b"250")
        await reply(b"354")
        w.write(data + b".\r\n")
        await reply(b"250")  # one reply per recipient: one recipient
        w.write(b"QUIT\r\n")
    finally:
        w.close()


async def light_load(port: int, lmtp_port: int, seconds: float):
    """Users B..K: one session each, INBOX selected, NOOP then FETCH of a random message every
    50 ms; one LMTP delivery to a random one of them every 100 ms. Returns the latencies (s)
    of their commands and of the deliveries, and the errors."""
    rnd = random.Random(71)
    cmd_lat: list[float] = []
    dlv_lat: list[float] = []
    errors: list[str] = []
    conns = []
    for u in LIGHT:
        c = await Imap.connect(port)
        await c.login(u, PASSWORD)
        n = exists_of(await c.cmd("SELECT INBOX"))
        conns.append((c, n))
    deadline = time.perf_counter() + seconds
    msg = message(424242, 4000)

    async def user(c: Imap, n: int):
        while time.perf_counter() < deadline:
            try:
                for cmd in ("NOOP", f"FETCH {rnd.randint(1, n)} BODY.PEEK[]"):
                    t0 = time.perf_counter()
                    await c.cmd(cmd)
                    cmd_lat.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001 -- reported
                errors.append(f"{type(e).__name__}: {e}")
                return
            await asyncio.sleep(0.05)

    async def deliveries():
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await lmtp_deliver(lmtp_port, rnd.choice(LIGHT), msg)
                dlv_lat.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                errors.append(f"LMTP {type(e).__name__}: {e}")
            await asyncio.sleep(0.1)

    await asyncio.gather(*(user(c, n) for c, n in conns), deliveries())
    for c, _ in conns:
        await c.logout()
    return cmd_lat, dlv_lat, errors


def heavy_loop(port: int, big_cur: Path, owner: int | None, stop, done: dict,
               pace: float = 0.0, work: str = "both", user: str = HEAVY) -> None:
    """User A, in a process of its own with blocking sockets (the 25 MB responses are not parsed,
    only their end is looked for): FETCH 1 BODY.PEEK[] of the 25 MB INBOX message on one
    session; then, on a new connection, a file dropped into Big/cur (as another writer would:
    both servers must read the 100,000-name directory again) and SELECT Big."""
    import socket as so

    def connect():
        s = so.create_connection(("127.0.0.1", port), timeout=120)
        s.recv(4096)
        return s

    def cmd(s, tag: bytes, text: bytes) -> None:
        s.sendall(tag + b" " + text + b"\r\n")
        tail = b"\r\n"  # the tagged line may be the first one
        end = b"\r\n" + tag + b" "
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            tail = (tail + chunk)[-4096:]
            k = tail.rfind(end)
            if k >= 0 and tail.find(b"\r\n", k + 2) >= 0:
                if tail[k + 2:].startswith(tag + b" OK"):
                    return
                raise RuntimeError(tail[k + 2:][:200])

    n = 0
    body = (b"From: other@sender.test\r\nSubject: dropped in\r\n\r\nA message another "
            b"program wrote into cur/.\r\n")
    fetcher = None
    try:
        if work != "select":
            fetcher = connect()
            cmd(fetcher, b"a", f'LOGIN "{user}" "{PASSWORD}"'.encode())
            cmd(fetcher, b"b", b"SELECT INBOX")
        while not stop.is_set():
            cycle = time.perf_counter()
            t0 = cycle
            if work != "select":
                cmd(fetcher, b"f%d" % n, b"FETCH 1 BODY.PEEK[]")
                done["fetch"].append(time.perf_counter() - t0)
            if stop.is_set():
                break
            if work == "fetch":
                n += 1
                rest = pace - (time.perf_counter() - cycle)
                if rest > 0:
                    stop.wait(rest)
                continue
            name = f"{1800000000 + n}.M{n}P2Q{n}.other,S={len(body)}:2,S"
            p = big_cur / name
            p.write_bytes(body)
            if owner is not None:
                os.chown(p, owner, owner)
            t0 = time.perf_counter()
            c = connect()
            cmd(c, b"l", f'LOGIN "{user}" "{PASSWORD}"'.encode())
            cmd(c, b"s", b"SELECT Big")
            cmd(c, b"o", b"LOGOUT")
            c.close()
            done["select"].append(time.perf_counter() - t0)
            n += 1
            # --a-pace: one FETCH + SELECT cycle per `pace` seconds at most (the same offered
            # load for both servers, instead of as much as each server gets done).
            rest = pace - (time.perf_counter() - cycle)
            if rest > 0:
                stop.wait(rest)
    except Exception as e:  # noqa: BLE001
        done["errors"].append(f"{type(e).__name__}: {e}")
    if fetcher:
        fetcher.close()


def heavy_process(port: int, big_cur: Path, owner: int | None, stop, out,
                  pace: float, work: str, user: str = HEAVY) -> None:
    """heavy_loop in a process of its own: user A's client must not share the measuring
    client's interpreter lock (a thread receiving 25 MB answers holds it for milliseconds at a
    time, which showed up as B..K latency of whichever server answered A faster)."""
    os.nice(10)  # the load generator must not take the CPU from the measuring client
    done: dict = {"fetch": [], "select": [], "errors": []}
    heavy_loop(port, big_cur, owner, stop, done, pace, work, user)
    out.put(done)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3 if xs else float("nan")


def phase_isolation(b: Bench, servers, loop) -> None:
    import multiprocessing
    n = b.a.big
    seconds = min(b.a.seconds, 15.0)
    big_msg = message(0, 25 * 1024 * 1024)
    light = message_set(50)
    small = small_message_set(max(n, EXTRA_BIG))
    extra = EXTRA_HEAVY[:max(0, b.a.a_users - 1)]
    for s in servers:
        t0 = time.perf_counter()
        write_maildir(s.box(HEAVY), [(f"1700000000.M0P1Q0.bench,S={len(big_msg)}:2,S", big_msg)],
                      s.owner(), keyword_file=False)
        write_maildir(s.box(HEAVY) / ".Big", small[:n], s.owner(), keyword_file=True)
        for u in LIGHT:
            write_maildir(s.box(u), light, s.owner(), keyword_file=False)
        for u in extra:
            write_maildir(s.box(u) / ".Big", small[:EXTRA_BIG], s.owner(), keyword_file=True)
        b.say(f"(7) {s.name}: user A: INBOX with one {len(big_msg) / 1e6:.1f} MB message, Big "
              f"with {n} messages; users B..K: 50 messages each; written in "
              f"{time.perf_counter() - t0:.1f}s")
    time.sleep(1.1)
    res = {}
    for s in servers:
        # Big opened once (both servers build their index), so "loaded" measures the re-read
        # after a change, not the one-time first index build.
        loop.run_until_complete(one_command(s.port, HEAVY, ["SELECT Big"]))
        for u in extra:
            loop.run_until_complete(one_command(s.port, u, ["SELECT Big"]))
        # Written back before measuring: otherwise the first server's runs pay for the
        # writeback of both servers' 200,000 new files (every fsync of a delivery waits for
        # the journal), and the second server's do not.
        os.sync()
        cmd0, dlv0, err0 = loop.run_until_complete(light_load(s.port, s.lmtp_port, seconds))
        mp = multiprocessing.get_context("fork")
        stop = mp.Event()
        out = mp.SimpleQueue()
        t = mp.Process(target=heavy_process,
                       args=(s.port, s.box(HEAVY) / ".Big" / "cur", s.owner(), stop, out,
                             b.a.a_pace, b.a.a_work))
        t.start()
        # --a-users: the other heavy users only LOGIN + SELECT their own Big over and over.
        others = [(mp.Process(target=heavy_process,
                              args=(s.port, s.box(u) / ".Big" / "cur", s.owner(), stop, out,
                                    b.a.a_pace, "select", u)), u) for u in extra]
        for p, _ in others:
            p.start()
        time.sleep(1.0)  # A is busy before B..K start measuring
        cmd1, dlv1, err1 = loop.run_until_complete(light_load(s.port, s.lmtp_port, seconds))
        stop.set()
        results = [out.get() for _ in range(1 + len(others))]
        t.join()
        for p, _ in others:
            p.join()
        # A's own figures: the one that FETCHed (the others only SELECT)
        done = next(r for r in results if r["fetch"]) if any(r["fetch"] for r in results) \
            else results[0]
        extra_selects = sum(len(r["select"]) for r in results if r is not done)
        errs = err0 + err1 + [e for r in results for e in r["errors"]]
        if errs:
            lib.fail(f"(7) {s.name}: {len(errs)} errors, first: {errs[0]}")
        r = {"cmd50": (pct(cmd0, .5), pct(cmd1, .5)), "cmd99": (pct(cmd0, .99), pct(cmd1, .99)),
             "dlv50": (pct(dlv0, .5), pct(dlv1, .5)), "dlv99": (pct(dlv0, .99), pct(dlv1, .99))}
        res[s.name] = r
        b.say(f"(7) {s.name}: B..K commands {len(cmd0)} alone / {len(cmd1)} loaded: p50 "
              f"{r['cmd50'][0]:.1f} / {r['cmd50'][1]:.1f} ms, p99 {r['cmd99'][0]:.1f} / "
              f"{r['cmd99'][1]:.1f} ms; deliveries {len(dlv0)} / {len(dlv1)}: p50 "
              f"{r['dlv50'][0]:.1f} / {r['dlv50'][1]:.1f} ms, p99 {r['dlv99'][0]:.1f} / "
              f"{r['dlv99'][1]:.1f} ms")
        b.say(f"(7) {s.name}: user A meanwhile: {len(done['fetch'])} FETCHes of 25 MB (median "
              f"{pct(done['fetch'], .5):.0f} ms), {len(done['select'])} connect+LOGIN+SELECT of "
              f"Big after a change in cur/ (median {pct(done['select'], .5):.0f} ms)")
        b.notes.append(f"(7) {s.name}: user A did {len(done['fetch'])} 25 MB FETCHes and "
                       f"{len(done['select'])} SELECTs of {n} messages during the loaded run"
                       + (f"; {len(extra)} more heavy users {extra_selects} LOGIN+SELECTs of "
                          f"{EXTRA_BIG} messages" if extra else ""))
    S, D = res["splitmail"], res["dovecot"]
    k = f"{n // 1000}k" if n >= 1000 else str(n)
    for key, what in (("cmd50", "B..K NOOP/FETCH p50"), ("cmd99", "B..K NOOP/FETCH p99"),
                      ("dlv50", "LMTP to B..K p50"), ("dlv99", "LMTP to B..K p99")):
        b.row(f"(7) ms {what}, alone", S[key][0], D[key][0], "lower")
        b.row(f"(7) ms {what}, A busy (25 MB FETCH, {k} SELECT)", S[key][1], D[key][1], "lower")


def server_cpu(s) -> float:
    """CPU seconds the server has used so far: splitmail-home's process (all threads) and its
    password-hash workers (their reaped predecessors too: cutime/cstime); for
    Dovecot its live processes plus what the master has reaped (cutime/cstime), so imap
    processes that ended are still counted."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    pids = s.pids()
    for i, p in enumerate(pids):
        try:
            st = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        f = st[st.rfind(")") + 2:].split()
        total += int(f[11]) + int(f[12])
        if i == 0:
            total += int(f[13]) + int(f[14])
    return total / tck


def phase_mixed(b: Bench, servers) -> None:
    """(5): mixed.py's workload against each server in turn, back to back; with --mix-rounds 2
    (default) in the order splitmail, Dovecot, Dovecot, splitmail, so that a change in the
    machine's load during the run weighs on both alike. Figures are summed over the rounds."""
    a = b.a
    res: dict[str, dict] = {}
    cpus: dict[str, float] = {}
    order = []
    for k in range(a.mix_rounds):
        order += servers if k % 2 == 0 else servers[::-1]
    for s in order:
        if a.shim:  # Dovecot: its children (auth, config, log, ...) show the import worked
            pids = s.pids() if s.name == "splitmail" else s.pids()[1:]
            if not any(mixed.shim_loaded(p, a.shim) for p in pids):
                lib.fail(f"(5) the fsync shim is not loaded in {s.name}")
        b.say(f"(5) {s.name}: {a.clients} clients over TLS on {a.mix_users} users, "
              f"{a.mix_seconds:.0f} s{f', fsync +{a.fsync_delay_ms} ms' if a.shim else ''}")
        cpu0 = server_cpu(s)
        r = mixed.run_mix(s.tls_port, PASSWORD, a.clients, a.mix_seconds, a.client_procs,
                          a.mix_users)
        time.sleep(1)  # Dovecot: the logged-out imap processes are reaped
        r["server_cpu"] = server_cpu(s) - cpu0  # logins and logouts included
        res[s.name] = mixed.merge([res[s.name], r], sum_wall=True) if s.name in res else r
        total = sum(k[0] for k in r["kinds"].values())
        cpus[s.name] = cpus.get(s.name, 0.0) + r["server_cpu"]
        b.say(f"(5) {s.name}: server CPU {r['server_cpu']:.1f} s "
              f"({r['server_cpu'] / max(1, total) * 1e6:.0f} us per command, logins included)")
        b.say(f"(5) {s.name}: {total} commands in {r['wall']:.1f}s = {total / r['wall']:.1f}/s; "
              f"client CPU {r['cpu'] * 100:.0f}% over {a.client_procs} processes "
              f"(busiest {r['cpu_max'] * 100:.0f}%)")
        for kind in mixed.KINDS:
            n, t, bad = r["kinds"].get(kind, [0, 0.0, 0])
            b.say(f"(5) {s.name}:   {kind:15s} {n:7d} = {n / r['wall']:8.1f}/s, mean "
                  f"{(t / n * 1e3) if n else 0:7.2f} ms{f', {bad} not OK' if bad else ''}")
        viol = r["violations"]
        b.say(f"(5) {s.name}: consistency violations: "
              + (", ".join(f"{k} {v}" for k, v in viol.items()) if viol else "none")
              + f"; APPENDs to the selected folder without an EXISTS before OK: "
                f"{r['append_no_exists']}")
        for e in r["examples"]:
            b.say(f"(5) {s.name}:   {e}")
        for e in (r["errors"][:5] + r["exceptions"][:5]):
            b.say(f"(5) {s.name}:   error: {e}")
        if r["exceptions"]:
            b.notes.append(f"(5) {s.name}: {len(r['exceptions'])} sessions ended early "
                           f"(first: {r['exceptions'][0]}): figures are low")
        if r["errors"]:
            b.notes.append(f"(5) {s.name}: {len(r['errors'])} commands not OK "
                           f"(first: {r['errors'][0]})")
        if r["cpu_max"] > 0.8:
            b.notes.append(f"(5) {s.name}: a client process used {r['cpu_max'] * 100:.0f}% of a "
                           f"core: the client may be the bottleneck (lower bound)")
    S, D = res["splitmail"], res["dovecot"]
    tag = f"{a.clients} clients" + (f", fsync +{a.fsync_delay_ms} ms" if a.shim else "")
    for kind in mixed.KINDS:
        b.row(f"(5) {kind}/s, {tag}", S["kinds"].get(kind, [0])[0] / S["wall"],
              D["kinds"].get(kind, [0])[0] / D["wall"], "higher")
    b.row(f"(5) all commands/s, {tag}", sum(k[0] for k in S["kinds"].values()) / S["wall"],
          sum(k[0] for k in D["kinds"].values()) / D["wall"], "higher")
    b.row(f"(5) server CPU us per command, {tag}",
          cpus["splitmail"] / max(1, sum(k[0] for k in S["kinds"].values())) * 1e6,
          cpus["dovecot"] / max(1, sum(k[0] for k in D["kinds"].values())) * 1e6, "lower")
    for kind in mixed.KINDS:
        sk, dk = S["kinds"].get(kind, [0, 0.0]), D["kinds"].get(kind, [0, 0.0])
        b.row(f"(5) ms mean {kind}, {tag}", sk[1] / sk[0] * 1e3 if sk[0] else float("nan"),
              dk[1] / dk[0] * 1e3 if dk[0] else float("nan"), "lower")
    for s, r in (("splitmail", S), ("Dovecot", D)):
        v = r["violations"]
        b.notes.append(f"(5) {s}: consistency violations: "
                       + (", ".join(f"{k} {n}" for k, n in v.items()) if v else "none")
                       + f"; APPEND to the selected folder without EXISTS: {r['append_no_exists']}")


def hash_for(scheme: str) -> str:
    r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", PASSWORD], capture_output=True,
                       text=True)
    if r.returncode != 0:
        lib.fail(f"doveadm pw -s {scheme} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def verify_ms(h: str) -> float:
    """Median wall time of `doveadm pw -t` with this hash minus the same for a {PLAIN} one."""
    def t(hh: str) -> float:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(["doveadm", "pw", "-t", hh, "-p", PASSWORD], capture_output=True)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)
    return max(0.0, t(h) - t("{PLAIN}" + PASSWORD)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--only", default="1,2,3,4")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scheme", default="ARGON2ID")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--idle", type=int)
    ap.add_argument("--messages", type=int, help="INBOX size for (1)-(3)")
    ap.add_argument("--big", type=int, help="mailbox size for (4)")
    ap.add_argument("--hibernate", default="1s",
                    help="Dovecot imap_hibernate_timeout for the second (3) run; 0 = skip it")
    ap.add_argument("--runs", type=int, help="(4): rounds, median reported (default 3)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="(4): drop the page cache before each first/cold SELECT")
    ap.add_argument("--fsync-delay-ms", type=int, default=0,
                    help="both servers: an LD_PRELOAD shim sleeps this long in fsync/fdatasync")
    ap.add_argument("--client-procs", type=int, default=2, help="(5): client processes")
    ap.add_argument("--mix-rounds", type=int, default=2, help="(5): rounds per server, alternating")
    ap.add_argument("--mix-users", type=int, default=10, help="(5): users the clients share")
    ap.add_argument("--a-pace", type=float, default=0.0,
                    help="(7): user A starts a FETCH+SELECT cycle at most every S seconds "
                    "(default 0: back to back, as fast as the server answers)")
    ap.add_argument("--a-users", type=int, default=1,
                    help="(7): heavy users in all (A plus up to 7 that LOGIN + SELECT a "
                         f"{EXTRA_BIG}-message folder in a loop)")
    ap.add_argument("--a-work", default="both", choices=("both", "fetch", "select"),
                    help="(7): what user A repeats: the 25 MB FETCH, the LOGIN+SELECT of the "
                    "big folder, or both (default)")
    a = ap.parse_args()
    a.mix_seconds = a.seconds or (10.0 if a.quick else 60.0)
    a.mix_users = max(1, min(len(mixed.MIX_USERS), a.mix_users))
    a.seconds = a.seconds or (3.0 if a.quick else 20.0)
    a.idle = a.idle or (50 if a.quick else 1000)
    a.messages = a.messages or (200 if a.quick else 1000)
    a.big = a.big or (5000 if a.quick else 100_000)
    a.runs = a.runs or (1 if a.quick else 3)
    only = {int(x) for x in a.only.split(",") if x}
    build = Path(a.build).resolve()
    lib.require_binaries(build / "homeserver" / "splitmail-home")

    base = Path(os.environ.get("BENCH_DIR", "/var/tmp"))
    data = Path(subprocess.check_output(["mktemp", "-d", f"{base}/splitmail-imapbench.XXXXXX"],
                                        text=True).strip())
    lib._tmpdirs.append(data)
    os.chmod(data, 0o755)
    h = hash_for(a.scheme)
    vm = verify_ms(h)
    a.shim = mixed.build_shim(data, a.fsync_delay_ms) if a.fsync_delay_ms > 0 else None
    b = Bench(a)
    b.say(f"password hash scheme for both: {h.split('$')[0]} "
          f"{'$'.join(h.split('$')[1:4]) if '$' in h else ''} (one verification about {vm:.0f} ms"
          f" in doveadm pw -t); same users-file hash on both servers; data in {data}")
    sm = Splitmail(data / "splitmail", build, h, tls=5 in only, preload=a.shim)
    dv = Dovecot(data / "dovecot", h, cert=lib.make_cert(data / "splitmail", "imap",
                                                         "home.example.test") if 5 in only else None,
                 preload=a.shim)
    dvh = None
    if 3 in only and a.hibernate not in ("0", "0s", ""):
        dvh = Dovecot(data / "dovecot-hib", h, hibernate=a.hibernate)
    servers = [sm, dv]

    msgs = message_set(a.messages)
    for s in servers + ([dvh] if dvh else []):
        write_maildir(s.box(USER), msgs, s.owner(), keyword_file=False)
    if 5 in only:
        mix_msgs, mix_archive = (60, 20) if a.quick else (300, 100)
        for s in servers:
            for u in mixed.MIX_USERS:
                mixed.seed(s.box(u), s.owner(), u, mix_msgs, mix_archive)
        b.say(f"(5): {len(mixed.MIX_USERS)} users, INBOX {mix_msgs} and Archive {mix_archive} "
              f"messages each (1-40 KB), the same files on both servers")
    import atexit

    def stop_dovecots():  # registered after lib's cleanup, so it runs before the rm -rf
        for s in (dv, dvh):
            if s and s.master_pid() and Path(f"/proc/{s.master_pid()}").exists():
                subprocess.run(["doveadm", "-c", str(s.conf), "stop"], capture_output=True)
    atexit.register(stop_dovecots)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _f: sys.exit(128 + signum))
    for s in servers:
        s.start()

    total = sum(len(m[1]) for m in msgs)
    b.say(f"INBOX of {USER}: {len(msgs)} messages, {total / 1e6:.1f} MB; plain IMAP on 127.0.0.1; "
          f"splitmail-home {build}; {subprocess.check_output(['dovecot', '--version'], text=True).strip()}")
    loop = asyncio.new_event_loop()
    if 1 in only:
        phase_cycles(b, servers, loop)
    if 2 in only:
        phase_sessions(b, servers, loop)
    if 3 in only:
        phase_idle(b, servers, loop, dvh)
    if 4 in only:
        phase_index(b, servers, loop)
    if 5 in only:
        phase_mixed(b, servers)
    if 6 in only:
        phase_sort(b, servers, loop)
    if 7 in only:
        phase_isolation(b, servers, loop)
    for s in servers:
        s.stop()

    print()
    print(f"== splitmail-home vs Dovecot {subprocess.check_output(['dovecot', '--version'], text=True).split()[0]}"
          f" (same Maildir, {a.scheme} hash on both, plain IMAP on loopback; (5) over TLS"
          f"{f'; fsync +{a.fsync_delay_ms} ms on both' if a.shim else ''}; load {loadavg()})")
    print(f"{'':62s} {'splitmail':>10s} {'Dovecot':>10s} {'ratio s/D':>10s}")
    for what, s, d, better in b.rows:
        ratio = s / d if d else float("nan")
        adv = ratio if better == "higher" else (1 / ratio if ratio else float("nan"))
        print(f"{what:62s} {s:10.1f} {d:10.1f} {ratio:9.2f}x  ({better} is better: splitmail "
              f"{adv:.2f}x {'better' if adv >= 1 else 'worse'})")
    for note in b.notes:
        print("  " + note)


if __name__ == "__main__":
    try:
        main()
    except lib.TestFailure as e:
        print(f"bench/imap: FAILED: {e}", flush=True)
        lib._dump_logs()
        sys.exit(1)
