"""Shared harness for the integration tests: real splitmail binaries on loopback, real peers.

What it gives a test:
  - a temp dir per test, removed at exit; every process started through it is killed and every
    tmpfs it mounted is unmounted at exit, also when the test fails or is interrupted;
  - free loopback ports, self-signed certificates (openssl), relay.toml / home.toml written
    from docs/internal/contracts.md, a users file with real argon2id hashes;
  - splitmail-home and splitmail-relay started and waited for (port answers, recipient cache
    filled), stopped cleanly, or killed with SIGKILL;
  - exit statuses and sanitizer reports checked: stop() of a splitmail program fails on a
    non-zero exit status; at the end of run_main() every program still running is stopped the
    same way, and the test fails if any daemon log holds an AddressSanitizer, LeakSanitizer or
    UBSan (`runtime error:`) report, or if any process the test started (a CLI tool run with
    plain subprocess.run too) left a report in SANITIZER_DIR (see check_daemons());
  - a raw SMTP/LMTP client (bytes on a socket, for smuggling and limit tests), Maildir helpers;
  - check()/fail() that print what was expected and what happened, and a summary line.

It only talks to 127.0.0.1 / ::1. Run a test by hand with
  SPLITMAIL_BIN=build /usr/bin/python3 tests/integration/test_X.py
(KEEP=1 keeps the temp dir; CONTINUE=1 goes on after a failed check and lists them all at the end)
"""
from __future__ import annotations

import atexit
import email.parser
import email.policy
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(os.environ.get("SPLITMAIL_SRC", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("SPLITMAIL_BIN", SRC / "build"))
RELAY_BIN = BIN / "relay" / "splitmail-relay"
HOME_BIN = BIN / "homeserver" / "splitmail-home"
CLI_BIN = BIN / "provision" / "splitmail"

DOMAIN = "example.test"
DEMO = "demo@example.test"

# Sanitizer builds are several times slower; scale waits rather than flake.
SLOW = 3.0 if os.environ.get("ASAN_OPTIONS") else 1.0

# Where every AddressSanitizer/LeakSanitizer report of every process this test starts goes
# (sanitized builds only): "<dir>/report.<pid>" (log_path) instead of stderr. A daemon's log is
# searched too, but a report from a tool the test runs with plain subprocess.run() (a CLI
# command expected to fail, say) would otherwise be seen by nobody; check_daemons() fails on any
# file here. (UBSan's runtime in GCC's combined ASan+UBSan build ignores log_path and keeps
# writing to stderr: its reports stay in the daemon logs searched below and, as scripts/test
# halts on them, turn into a non-zero exit status of the tool.) Set up once per test run: a test that re-runs itself as a child (in a namespace,
# say) finds SPLITMAIL_SANITIZER_DIR set and reports into its parent's directory. Inside a
# mount namespace without this directory a report makes the sanitizer die with "Can't open
# file" on stderr and a non-zero status, which the caller's checks see as well.
SANITIZER_DIR: Path | None = None
_sanitizer_dir_owned = False  # made by this process (removed at exit), not inherited


def _sanitizer_dir_setup() -> None:
    global SANITIZER_DIR, _sanitizer_dir_owned
    if not (os.environ.get("ASAN_OPTIONS") or os.environ.get("UBSAN_OPTIONS")):
        return
    inherited = os.environ.get("SPLITMAIL_SANITIZER_DIR")
    if inherited and Path(inherited).is_dir():
        SANITIZER_DIR = Path(inherited)
        return
    SANITIZER_DIR = Path(tempfile.mkdtemp(prefix="splitmail-sanitizer-"))
    _sanitizer_dir_owned = True
    os.chmod(SANITIZER_DIR, 0o1777)  # daemons that drop privileges report here too
    os.environ["SPLITMAIL_SANITIZER_DIR"] = str(SANITIZER_DIR)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        # the last log_path wins: ours, even when the options already name one
        os.environ[var] = ":".join(x for x in (os.environ.get(var, ""),
                                               f"log_path={SANITIZER_DIR}/report") if x)


_sanitizer_dir_setup()


def sanitizer_files(pids=None) -> list[tuple[Path, str]]:
    """(file, text) of each report in SANITIZER_DIR, of the given pids only when `pids` is
    given; none outside sanitized runs."""
    if SANITIZER_DIR is None:
        return []
    out = []
    for f in sorted(SANITIZER_DIR.glob("report.*")):
        if pids is not None and f.suffix[1:] not in {str(p) for p in pids}:
            continue
        try:
            out.append((f, f.read_text(errors="replace")))
        except OSError:
            continue
    return out


# ---------------------------------------------------------------- results and failure

class Checks:
    """Counts checks; a failed check prints expected/actual and ends the test (exit 1)."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.name = Path(sys.argv[0]).stem

    def ok(self, cond: bool, what: str, detail: str = "") -> None:
        if cond:
            self.passed += 1
            print(f"  ok   {what}", flush=True)
            return
        msg = what + (f"\n       {detail}" if detail else "")
        if os.environ.get("CONTINUE"):  # for a developer who wants every failure at once
            self.failed.append(what)
            print(f"  FAIL {msg}", flush=True)
            return
        fail(msg)

    def eq(self, actual, expected, what: str) -> None:
        self.ok(actual == expected, what, f"expected {expected!r}, got {actual!r}")

    def summary(self) -> None:
        print(f"{self.name}: {self.passed} passed, {len(self.failed)} failed", flush=True)


checks = Checks()


class TestFailure(Exception):
    pass


def fail(msg: str) -> None:
    raise TestFailure(msg)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_main(main) -> None:
    """Runs a test's main(); prints a loud FAIL with daemon log tails on any error."""
    try:
        main()
    except TestFailure as e:
        print(f"\nFAIL {checks.name}: {e}", flush=True)
        _dump_logs()
        print(f"{checks.name}: {checks.passed} passed, {len(checks.failed) + 1} failed",
              flush=True)
        sys.exit(1)
    except Exception as e:  # a crash of the test itself is a failure too
        import traceback
        traceback.print_exc()
        print(f"\nFAIL {checks.name}: {type(e).__name__}: {e}", flush=True)
        _dump_logs()
        print(f"{checks.name}: {checks.passed} passed, {len(checks.failed) + 1} failed",
              flush=True)
        sys.exit(1)
    try:
        check_daemons()
    except TestFailure as e:
        print(f"\nFAIL {checks.name}: {e}", flush=True)
        _dump_logs()
        print(f"{checks.name}: {checks.passed} passed, {len(checks.failed) + 1} failed",
              flush=True)
        sys.exit(1)
    checks.summary()
    if checks.failed:
        print("failed checks:\n  " + "\n  ".join(checks.failed), flush=True)
        _dump_logs()
    sys.exit(1 if checks.failed else 0)


# ---------------------------------------------------------------- cleanup registry

_procs: list["Daemon"] = []
_mounts: list[Path] = []
_tmpdirs: list[Path] = []
_cleaned = False


def _cleanup() -> None:
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    for d in list(_procs):
        try:
            d.kill()
        except Exception:
            pass
    for m in reversed(_mounts):
        subprocess.run(["umount", "-l", str(m)], stderr=subprocess.DEVNULL)
    if os.environ.get("KEEP"):
        for t in _tmpdirs:
            print(f"(KEEP set: temp dir left at {t})", flush=True)
        return
    for t in _tmpdirs:
        shutil.rmtree(t, ignore_errors=True)
    if _sanitizer_dir_owned and SANITIZER_DIR is not None:
        shutil.rmtree(SANITIZER_DIR, ignore_errors=True)


def _on_signal(signum, frame):
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def _dump_logs() -> None:
    for d in _procs:
        d.dump_tail()
    for d in _procs:
        rep = d.sanitizer_report() if isinstance(d, Daemon) else ""
        if rep:
            print(f"---- sanitizer report of {d.name} (log {d.logfile}):\n{rep}", flush=True)
    for f, text in sanitizer_files():
        print(f"---- sanitizer report {f}:\n{sanitizer_report_in(text) or text[:2000]}",
              flush=True)


# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print (ASan: "ERROR:
# AddressSanitizer: heap-use-after-free", LSan: "ERROR: LeakSanitizer: detected memory leaks",
# UBSan: "file.cpp:12:5: runtime error: signed integer overflow").
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def sanitizer_report_in(text: str, context: int = 12) -> str:
    """The first sanitizer report in `text` (the marker line and a few lines after it), or ''."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return "\n".join("  | " + x for x in lines[i:i + context])
    return ""


def check_daemons() -> None:
    """End-of-test sweep over every daemon the test started: each one still running is stopped
    with SIGTERM and its exit status checked (a leak or use-after-free at shutdown shows up
    there under ASan), then every log is searched for a sanitizer report. Fails on the first
    problem; run_main() calls it after a passing main()."""
    # (_procs may also hold a test's own process wrapper with just kill()/dump_tail(), such
    # as test_outbound_postfix's Postfix: those are the test's to stop.)
    daemons = [d for d in _procs if isinstance(d, Daemon)]
    for d in daemons:
        if d.alive():
            d.stop()
    for d in daemons:
        rep = d.sanitizer_report()
        if rep:
            fail(f"sanitizer report of {d.name} (log {d.logfile}):\n{rep}")
    # Reports of any other process the test ran (a CLI tool through subprocess.run, ...).
    for f, text in sanitizer_files():
        fail(f"sanitizer report {f} (of a process this test started):\n"
             f"{sanitizer_report_in(text) or text[:2000]}")


def require_binaries(*paths: Path) -> None:
    missing = [str(p) for p in paths if not os.access(p, os.X_OK)]
    if missing:
        fail("binaries not built (SPLITMAIL_BIN=%s): %s" % (BIN, ", ".join(missing)))


OWNER_FILE = ".splitmail-test-pid"  # in each temp dir: the pid of the test that made it


def tmpdir(name: str) -> Path:
    t = Path(tempfile.mkdtemp(prefix=f"splitmail-{name}-"))
    (t / OWNER_FILE).write_text(f"{os.getpid()}\n")
    _tmpdirs.append(t)
    return t


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def sweep_stale_mounts() -> None:
    """Unmounts tmpfs mounts left below the temp dir of a test that died without cleaning up
    (SIGKILL, e.g. a ctest timeout: its atexit never ran) and removes that temp dir. A temp dir
    is stale when the pid in its OWNER_FILE is gone; dirs without the file are left alone."""
    base = Path(tempfile.gettempdir()).resolve()
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    stale: set[Path] = set()
    for line in mounts:
        f = line.split()
        if len(f) < 3 or f[2] != "tmpfs":
            continue
        mnt = Path(f[1].replace("\\040", " "))
        if mnt.parent == mnt or not mnt.is_relative_to(base):
            continue
        rel = mnt.relative_to(base).parts
        if not rel or not rel[0].startswith("splitmail-"):
            continue
        top = base / rel[0]
        try:
            owner = int((top / OWNER_FILE).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if owner != os.getpid() and not _pid_alive(owner):
            log(f"unmounting stale tmpfs {mnt} of a dead test run (pid {owner})")
            subprocess.run(["umount", "-l", str(mnt)], stderr=subprocess.DEVNULL)
            stale.add(top)
    for top in stale:
        shutil.rmtree(top, ignore_errors=True)


def mount_tmpfs(path: Path, size: str) -> None:
    """A small tmpfs (root needed), unmounted at exit; for the disk-full tests. Mounts left by
    an earlier run that was killed are swept first (sweep_stale_mounts)."""
    sweep_stale_mounts()
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"mount tmpfs on {path} failed (the test needs root): {r.stderr.strip()}")
    _mounts.append(path)


def remount_tmpfs(path: Path, mode: str) -> None:
    """Remounts a tmpfs made by mount_tmpfs read-only ("ro") or writable ("rw")."""
    r = subprocess.run(["mount", "-o", f"remount,{mode}", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"remount {path} {mode} failed: {r.stderr.strip()}")


def resize_tmpfs(path: Path, size: str) -> None:
    r = subprocess.run(["mount", "-o", f"remount,size={size}", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"remount {path} size={size} failed: {r.stderr.strip()}")


# ---------------------------------------------------------------- ports, certificates, users

_given_ports: set[int] = set()
_port_claims: list[int] = []  # open, flock()ed claim files: held until this process ends
# Below Linux's ephemeral range (ip_local_port_range 32768-60999): neither bind(0) nor an
# outgoing connection of any process ever takes one of these on its own.
PORT_RANGE = (20000, 32000)
PORT_CLAIMS = Path(tempfile.gettempdir()) / "splitmail-ports"


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on and no other test process has: integration tests run
    side by side, and a port only probed with bind(0) could be handed to the next test (or
    used for an outgoing connection) before this test's daemon binds it. Each port is claimed
    by an flock()ed file in PORT_CLAIMS, held until this process exits (the kernel drops the
    lock even after SIGKILL, so a dead test's ports come free without any sweeping)."""
    import fcntl
    import random
    PORT_CLAIMS.mkdir(mode=0o755, exist_ok=True)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lo, hi = PORT_RANGE
    start = random.randrange(lo, hi)
    for i in range(hi - lo):
        p = lo + (start - lo + i) % (hi - lo)
        if p in _given_ports:
            continue
        fd = os.open(PORT_CLAIMS / str(p), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # another live test holds it
            continue
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, p))
            except OSError:
                os.close(fd)  # something outside the tests listens there
                continue
        _port_claims.append(fd)
        _given_ports.add(p)
        return p
    fail("no free port")
    return 0


def make_cert(d: Path, name: str, cn: str) -> tuple[Path, Path]:
    """Self-signed EC certificate + key (PEM) under d; returns (cert, key)."""
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    if not cert.exists():
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "30", "-subj", f"/CN={cn}", "-addext",
             f"subjectAltName=DNS:{cn},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"openssl req failed: {r.stderr}")
    return cert, key


def cert_sha256(cert: Path) -> str:
    """Lower-case hex SHA-256 of the DER certificate (what home.pin_sha256 holds)."""
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return hashlib.sha256(der).hexdigest()


def argon2id_hash(password: str) -> str:
    """`{ARGON2ID}$argon2id$...` for the users file.

    Only used when `splitmail user` is not built: Dovecot's `doveadm pw` writes the same
    scheme string (dovecot-core is in scripts/deps)."""
    r = subprocess.run(["doveadm", "pw", "-s", "ARGON2ID", "-p", password],
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("{ARGON2ID}$argon2id$"):
        fail(f"doveadm pw failed: {r.stdout} {r.stderr}")
    return r.stdout.strip()


_cli_user: bool | None = None


def cli_supports_user_add() -> bool:
    """True when `splitmail user` is built (it then writes the users file for the tests)."""
    global _cli_user
    if _cli_user is None:
        _cli_user = False
        if os.access(CLI_BIN, os.X_OK):
            with tempfile.NamedTemporaryFile() as f:
                r = subprocess.run([str(CLI_BIN), "user", "list", "--users", f.name],
                                   capture_output=True, text=True)
                _cli_user = r.returncode == 0
    return _cli_user


# ---------------------------------------------------------------- processes

def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies (even by SIGKILL, e.g. a
    ctest timeout), so no daemon outlives its test. Linux prctl(PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _is_ours(argv: list[str]) -> bool:
    """True when argv runs a splitmail program (directly or through `ip netns exec`)."""
    ours = {str(RELAY_BIN), str(HOME_BIN), str(CLI_BIN), str(BIN / "ddns" / "splitmail-ddns")}
    return any(a in ours for a in argv)


class Daemon:
    """One started program: output to a log file, killed at exit.

    `check_status`: stop() fails unless the program exits with status 0 after SIGTERM (default:
    on for splitmail programs, off for third-party peers such as unbound or smtp-sink, whose
    status on SIGTERM is theirs to choose). Sanitizer reports are searched for in every log."""

    def __init__(self, name: str, argv: list[str], logfile: Path, env: dict | None = None,
                 check_status: bool | None = None):
        self.name, self.argv, self.logfile = name, argv, logfile
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.check_status = _is_ours(argv) if check_status is None else check_status
        # Set when the test kills the program on purpose (kill9): its status is then not ours
        # to judge, but its log still is.
        self.killed = False
        self.pids: list[int] = []  # of every start: whose SANITIZER_DIR reports are ours

    def start(self) -> "Daemon":
        if self.proc and self.proc.poll() is None:
            fail(f"{self.name} already running")
        self._out = open(self.logfile, "ab")
        self._out.write(f"==== start {' '.join(self.argv)}\n".encode())
        self._out.flush()
        self.killed = False
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.pids.append(self.proc.pid)
        if self not in _procs:
            _procs.append(self)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            fail(f"{self.name} was never started")
        return self.proc.pid

    def stop(self, timeout: float = 15.0, expect_status: int | None = 0) -> int:
        """SIGTERM and wait; returns the exit status. A failure: no exit in time, a sanitizer
        report in the log, or (check_status) a status other than `expect_status` — also when
        the program had already exited by itself. expect_status=None accepts any status."""
        if self.proc is None:
            return 0
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed = True
                fail(f"{self.name} did not exit within {timeout * SLOW:.0f}s of SIGTERM")
        rc = self.proc.returncode
        rep = self.sanitizer_report()
        if rep:
            fail(f"sanitizer report of {self.name} (log {self.logfile}):\n{rep}")
        if (self.check_status and not self.killed and expect_status is not None
                and rc != expect_status):
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            fail(f"{self.name} ended with {how}, expected status {expect_status} "
                 f"(log {self.logfile})")
        return rc

    def kill9(self) -> None:
        if self.alive():
            self.killed = True
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        if self.alive():
            self.killed = True
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def sanitizer_report(self) -> str:
        """The first AddressSanitizer/LeakSanitizer/UBSan report of this program, or '': in
        its log, or in SANITIZER_DIR under one of its pids."""
        rep = sanitizer_report_in(self.log_text())
        if rep:
            return rep
        for f, text in sanitizer_files(self.pids):
            return f"  ({f})\n" + (sanitizer_report_in(text) or text[:2000])
        return ""

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def dump_tail(self, lines: int = 40) -> None:
        t = self.log_text().splitlines()[-lines:]
        print(f"---- last {len(t)} lines of {self.name} log ({self.logfile}):")
        for line in t:
            print(f"  | {line}")

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)


def wait_until(cond, timeout: float, what: str, interval: float = 0.05, daemons=()):
    """Polls cond() until true; fails naming `what` after timeout (scaled under sanitizers)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = cond()
        if v:
            return v
        for d in daemons:
            if not d.alive():
                fail(f"{d.name} exited (status {d.proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout * SLOW:.0f}s waiting for {what}")
        time.sleep(interval)


def imap_raw(m, line: str) -> tuple[str, list[bytes]]:
    """Sends one IMAP command as written on an imaplib session; returns the tagged status line
    and every untagged line (for what imaplib does not parse: modifiers, CONDSTORE)."""
    tag = m._new_tag().decode()
    m.send(f"{tag} {line}\r\n".encode())
    untagged = []
    while True:
        resp = m._get_line()
        if resp.startswith(tag.encode() + b" "):
            return resp.decode(), untagged
        untagged.append(resp)


def imap_lines_until(m, marker: bytes, timeout: float) -> bytes:
    """Lines an IMAP server sends on an imaplib session (IDLE updates, a tagged reply) until
    one holds `marker`; fails at EOF (imaplib's readline then returns b"" for ever) or when
    the deadline passes (scaled under sanitizers)."""
    deadline = time.monotonic() + timeout * SLOW
    seen = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out after {timeout * SLOW:.0f}s waiting for {marker!r} "
                     f"(got {seen!r})")
        m.sock.settimeout(left)
        try:
            line = m.readline()
        except (socket.timeout, TimeoutError):
            continue  # the deadline check above reports it
        if not line:
            fail(f"server closed the connection while waiting for {marker!r} (got {seen!r})")
        seen += line
        if marker in line:
            return seen


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- home and relay

class Home:
    """splitmail-home with its config, users file and Maildir root under `root`."""

    def __init__(self, root: Path, port: int | None = None, maildir: Path | None = None,
                 transport: str = "plain", tls: tuple[Path, Path] | None = None,
                 client_pin: str = "", users: list[str] = (DEMO,), aliases: str = "",
                 secret: str = "", extra: dict[str, str] | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.maildir = maildir or (root / "mail")
        self.maildir.mkdir(parents=True, exist_ok=True)
        self.users_file = root / "users"
        self.aliases_file = root / "aliases"
        self.config = root / "home.toml"
        self.transport, self.tls, self.client_pin = transport, tls, client_pin
        # Pairing secret (lmtp.relay_secret_file / the relay's home.lmtp_secret_file): a Relay
        # built for this home presents it. Empty: none (raw LMTP tests talk to home directly).
        self.secret = secret
        self.secret_file = root / "lmtp-secret" if secret else None
        if self.secret_file:
            self.secret_file.write_text(secret + "\n")
        self.extra = extra or {}
        self.passwords: dict[str, str] = {}
        self.users_file.touch()
        self.aliases_file.write_text("")
        # Before the users: `splitmail user add --users FILE` checks against the home.toml next
        # to FILE (home.domains), and refuses to write without one (issue 16 bug 4).
        self.write_config()
        for u in users:
            self.add_user(u)
        self.aliases_file.write_text(aliases)
        self.write_config()
        self.daemon = Daemon("splitmail-home", [str(HOME_BIN), "--config", str(self.config)],
                             root / "home.log")

    def add_user(self, address: str, password: str | None = None) -> str:
        password = password or hashlib.sha256(os.urandom(16)).hexdigest()[:16]
        if cli_supports_user_add():
            r = subprocess.run([str(CLI_BIN), "user", "add", address, "--users",
                                str(self.users_file), "--aliases", str(self.aliases_file)],
                               input=password + "\n", capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"splitmail user add {address} failed: {r.stdout} {r.stderr}")
        else:
            with open(self.users_file, "a") as f:
                f.write(f"{address}:{argon2id_hash(password)}\n")
        self.passwords[address] = password
        return password

    def write_config(self) -> None:
        lines = [
            "[home]",
            f'domains = ["{DOMAIN}"]',
            "[lmtp]",
            f'listen = ["127.0.0.1:{self.port}"]',
            f'transport = "{self.transport}"',
        ]
        if self.tls:
            lines += [f'tls_cert = "{self.tls[0]}"', f'tls_key = "{self.tls[1]}"']
        if self.client_pin:
            lines += [f'client_pin_sha256 = "{self.client_pin}"']
        if self.secret_file:
            lines += [f'relay_secret_file = "{self.secret_file}"']
        sections: dict[str, list[str]] = {}
        for k, v in self.extra.items():  # "section.key": value (TOML text)
            sec, key = k.split(".", 1)
            if sec == "lmtp":
                lines.append(f"{key} = {v}")
            else:
                sections.setdefault(sec, []).append(f"{key} = {v}")
        for sec, kv in sections.items():
            lines += [f"[{sec}]"] + kv
        lines += [
            "[users]",
            f'file = "{self.users_file}"',
            f'aliases = "{self.aliases_file}"',
            "[maildir]",
            f'root = "{self.maildir}"',
            "[log]",
            'level = "info"',
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> "Home":
        self.daemon.start()
        wait_until(lambda: port_answers("127.0.0.1", self.port), 15,
                   f"splitmail-home LMTP on 127.0.0.1:{self.port}", daemons=[self.daemon])
        return self

    def stop(self, expect_status: int | None = 0) -> int:
        """SIGTERM; fails on a status other than expect_status or a sanitizer report."""
        return self.daemon.stop(expect_status=expect_status)

    def add_imaps(self, d: Path, tls: tuple[Path, Path] | None = None) -> int:
        """Before start(): an implicit-TLS IMAP listener on a free loopback port, with the
        certificate and key `tls` (imap.tls_cert/tls_key; default: a self-signed one made in
        `d`); returns the port (start() waits for LMTP only: wait_imaps() after it)."""
        cert, key = tls or make_cert(d, "imap", "home.example.test")
        self.imaps_port = free_port()
        with open(self.config, "a") as f:
            f.write(f'[imaps]\nlisten = ["127.0.0.1:{self.imaps_port}"]\n'
                    f'[imap]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
        return self.imaps_port

    def wait_imaps(self) -> None:
        wait_until(lambda: port_answers("127.0.0.1", self.imaps_port), 10, "imaps port",
                   daemons=[self.daemon])

    def imaps(self, address: str = DEMO):
        """A logged-in imaplib session over the add_imaps() listener (certificate unchecked)."""
        import imaplib
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=ctx)
        m.login(address, self.passwords[address])
        return m

    def mailbox(self, address: str = DEMO) -> Path:
        local, dom = address.split("@")
        return self.maildir / dom / local

    def messages(self, address: str = DEMO, folder: str = "INBOX") -> list[Path]:
        """Files in new/ and cur/ of the user's INBOX or of one folder (Maildir++ ".NAME", e.g.
        "Junk"); nothing from tmp/."""
        box = self.mailbox(address)
        if folder != "INBOX":
            box = box / f".{folder}"
        out: list[Path] = []
        for sub in ("new", "cur"):
            d = box / sub
            if d.is_dir():
                out += sorted(p for p in d.iterdir() if p.is_file())
        return out

    def count(self, address: str = DEMO) -> int:
        return len(self.messages(address))

    def tmp_files(self, address: str = DEMO) -> list[Path]:
        d = self.mailbox(address) / "tmp"
        return sorted(d.iterdir()) if d.is_dir() else []


class Relay:
    """splitmail-relay with config and spool under `root`, delivering to `home`."""

    def __init__(self, root: Path, home: Home, port: int | None = None,
                 spool: Path | None = None, tls: tuple[Path, Path] | None = None,
                 max_message_size: str = "10M", transport: str = "plain",
                 client_tls: tuple[Path, Path] | None = None, pin: str = "",
                 home_port: int | None = None, extra: dict[str, str] | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.spool = spool or (root / "spool")
        self.config = root / "relay.toml"
        self.home = home
        self.home_port = home_port or home.port
        self.tls, self.max_message_size = tls, max_message_size
        self.transport, self.client_tls, self.pin = transport, client_tls, pin
        self.extra = extra or {}
        self.write_config()
        self.daemon = Daemon("splitmail-relay", [str(RELAY_BIN), "--config", str(self.config)],
                             root / "relay.log")

    def write_config(self) -> None:
        sec: dict[str, dict[str, str]] = {
            "relay": {"hostname": '"mx.example.test"', "domains": f'["{DOMAIN}"]'},
            "smtp": {"listen": f'["127.0.0.1:{self.port}"]',
                     "max_message_size": f'"{self.max_message_size}"',
                     "max_recipients": "100", "max_connections": "200",
                     "max_connections_per_ip": "100", "idle_timeout": '"60s"'},
            "spool": {"dir": f'"{self.spool}"'},
            "home": {"lmtp": f'"127.0.0.1:{self.home_port}"', "transport": f'"{self.transport}"',
                     "connections": "4", "recipient_refresh": '"2s"'},
            "retry": {"initial": '"1s"', "max": '"2s"'},
            "log": {"level": '"info"'},
        }
        if self.tls:
            sec["tls"] = {"cert": f'"{self.tls[0]}"', "key": f'"{self.tls[1]}"'}
        if self.client_tls:
            sec["home"]["tls_cert"] = f'"{self.client_tls[0]}"'
            sec["home"]["tls_key"] = f'"{self.client_tls[1]}"'
        if self.pin:
            sec["home"]["pin_sha256"] = f'"{self.pin}"'
        if getattr(self.home, "secret_file", None):
            sec["home"]["lmtp_secret_file"] = f'"{self.home.secret_file}"'
        for k, v in self.extra.items():
            s, key = k.split(".", 1)
            sec.setdefault(s, {})[key] = v
        text = ""
        for s, kv in sec.items():
            text += f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items())
        self.config.write_text(text)

    def start(self, wait_recipients: bool = True) -> "Relay":
        self.daemon.start()
        wait_until(lambda: port_answers("127.0.0.1", self.port), 15,
                   f"splitmail-relay SMTP on 127.0.0.1:{self.port}", daemons=[self.daemon])
        if wait_recipients:
            self.wait_accepts(DEMO)
        return self

    def wait_accepts(self, rcpt: str, timeout: float = 20) -> None:
        """Until RCPT TO:<rcpt> gets 250 (the recipient set has reached the relay)."""
        last = [""]

        def probe() -> bool:
            try:
                with SMTP(self.port) as c:
                    c.ehlo()
                    c.cmd("MAIL FROM:<probe@sender.test>")
                    code, text = c.cmd(f"RCPT TO:<{rcpt}>")
                    last[0] = f"{code} {text}"
                    c.cmd("QUIT")
                    return code == 250
            except OSError as e:
                last[0] = str(e)
                return False

        wait_until(probe, timeout, f"relay to accept RCPT {rcpt} (last answer: {last[0]})",
                   interval=0.2, daemons=[self.daemon])

    def stop(self, expect_status: int | None = 0) -> int:
        """SIGTERM; fails on a status other than expect_status or a sanitizer report."""
        return self.daemon.stop(expect_status=expect_status)

    def queued(self) -> list[Path]:
        """Envelopes waiting in the spool (incoming/, deferred/, hold/)."""
        out: list[Path] = []
        for q in ("incoming", "deferred", "hold"):
            d = self.spool / q
            if d.is_dir():
                out += [p for p in d.iterdir() if p.name.endswith(".json")]
        return out

    def queued_text(self) -> str:
        """The envelopes waiting in the spool, concatenated; one removed between listing and
        reading (delivered meanwhile) is left out."""
        parts = []
        for p in self.queued():
            try:
                parts.append(p.read_text())
            except FileNotFoundError:
                pass
        return "".join(parts)


def queue_attempts(spool: Path) -> list[int]:
    """Delivery attempts of each queued message, as `splitmail queue list --spool` shows them
    (what an operator sees)."""
    r = run_tool([str(CLI_BIN), "queue", "list", "--spool", str(spool)], timeout=30)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        fail(f"splitmail queue list failed (exit {r.returncode}): {out}{r.stderr.decode()}")
    return [int(n) for n in re.findall(r"\(\w+, attempts (\d+)", out)]


def wait_attempts(spool: Path, count: int, n: int = 2, timeout: float = 30,
                  daemons=(), every: bool = True) -> list[int]:
    """Until `count` messages are queued and each (every=False: at least one) shows at least
    `n` delivery attempts: a "stays queued" check after a fixed sleep passes when no attempt
    was ever made. (every=False is for an unreachable home: the relay then probes it instead
    of retrying each message, see relay/delivery/runner.cpp.)"""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        got = queue_attempts(spool)
        if len(got) == count and (all(a >= n for a in got) if every
                                  else any(a >= n for a in got)):
            return got
        for d in daemons:
            if not d.alive():
                fail(f"{d.name} exited (status {d.proc.returncode}) while waiting for attempts")
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout * SLOW:.0f}s waiting for {count} queued messages "
                 f"with >= {n} delivery attempts ({'each' if every else 'one at least'}; "
                 f"queue list attempts: {got})")
        time.sleep(0.2)


def start_pair(name: str, relay_kw: dict | None = None, home_kw: dict | None = None):
    """Temp dir + home + relay, both started and ready; returns (dir, home, relay)."""
    require_binaries(RELAY_BIN, HOME_BIN)
    d = tmpdir(name)
    home = Home(d / "home", **(home_kw or {})).start()
    relay = Relay(d / "relay", home, **(relay_kw or {})).start()
    return d, home, relay


# ---------------------------------------------------------------- raw SMTP / LMTP client

class SMTP:
    """Line-level client: send exact bytes, read replies as (code, text of all lines)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0,
                 source: str | None = None):
        """`source`: connect from this local address (another loopback client, 127.0.0.9)."""
        self.sock = socket.create_connection((host, port), timeout=timeout * SLOW,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.banner = self.reply()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection; partial: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self._line().decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit():
                raise ConnectionError(f"malformed reply line {line!r}")
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_eof(self, timeout: float, what: str = "the server to close the connection") -> bytes:
        """Everything the server still sends (after what reply() consumed) up to its close.
        A connection still open at the deadline is a failure: "closed" must not pass on a
        timeout. A reset counts as closed (timeout scaled under sanitizers)."""
        return read_until_eof(self.sock, timeout, what, self.buf)

    def cmd(self, line: str | bytes) -> tuple[int, str]:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def ehlo(self, name: str = "client.sender.test") -> tuple[int, str]:
        code, text = self.cmd(f"EHLO {name}")
        if code != 250:
            fail(f"EHLO refused: {code} {text}")
        return code, text

    def lhlo(self, name: str = "relay.test") -> tuple[int, str]:
        code, text = self.cmd(f"LHLO {name}")
        if code != 250:
            fail(f"LHLO refused: {code} {text}")
        return code, text


def read_until_eof(sock: socket.socket, timeout: float, what: str, already: bytes = b"") -> bytes:
    """Reads until EOF (or a reset) and returns the bytes before it; fails naming `what` if the
    peer has not closed within `timeout` seconds (scaled under sanitizers)."""
    deadline = time.monotonic() + timeout * SLOW
    data = already
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out after {timeout * SLOW:.0f}s waiting for {what} "
                 f"(connection still open; got {data[-200:]!r})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            continue  # the deadline check above reports it
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# /proc/net/tcp state codes (include/net/tcp_states.h)
TCP_ESTABLISHED, TCP_CLOSE_WAIT = 0x01, 0x08


def tcp_sockets(local_port: int, remote_port: int) -> list[tuple[int, int, int]]:
    """(state, tx_queue, rx_queue) of each IPv4 TCP socket of this network namespace bound to
    local_port and connected to remote_port (/proc/net/tcp). For loopback peers both ends are
    listed, each from its own side: (server port, client port) is the server's socket."""
    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) < 5:
            continue
        if (int(f[1].split(":")[1], 16) == local_port
                and int(f[2].split(":")[1], 16) == remote_port):
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            out.append((int(f[3], 16), tx, rx))
    return out


def wait_peer_read_all(sock: socket.socket, timeout: float, what: str) -> None:
    """Until the server at the other end of the loopback connection `sock` has read every byte
    sent on it: our send queue and the server socket's receive queue are both empty (instead of
    a fixed sleep before acting on "the server has seen this")."""
    me, peer = sock.getsockname()[1], sock.getpeername()[1]

    def drained() -> bool:
        mine, theirs = tcp_sockets(me, peer), tcp_sockets(peer, me)
        return (bool(mine) and bool(theirs) and all(tx == 0 for _, tx, _ in mine)
                and all(rx == 0 for _, _, rx in theirs))

    wait_until(drained, timeout, what)


def wait_server_closed(client_port: int, server_port: int, timeout: float, what: str) -> None:
    """Until the server's end of a loopback connection (from client_port) is closed: no socket
    on server_port towards client_port is still ESTABLISHED or in CLOSE_WAIT (peer closed,
    server not yet). A server that finished with the connection has closed its socket."""
    wait_until(lambda: not any(st in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)
                               for st, _, _ in tcp_sockets(server_port, client_port)),
               timeout, what)


def send_message(port: int, sender: str, rcpts: list[str], data: bytes) -> tuple[int, str]:
    """One transaction; `data` is the message with CRLF lines, not dot-stuffed.
    Returns the reply to the end of DATA (or the first refusal)."""
    with SMTP(port) as c:
        c.ehlo()
        code, text = c.cmd(f"MAIL FROM:<{sender}>")
        if code != 250:
            return code, text
        for r in rcpts:
            code, text = c.cmd(f"RCPT TO:<{r}>")
            if code != 250:
                return code, text
        code, text = c.cmd("DATA")
        if code != 354:
            return code, text
        body = re.sub(rb"(?m)^\.", b"..", data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        c.send(body + b".\r\n")
        code, text = c.reply()
        c.cmd("QUIT")
        return code, text


def make_message(marker: str, size: int = 0, subject: str = "test") -> bytes:
    """A small RFC 5322 message with CRLF lines and a unique X-Test-Id header."""
    head = (f"From: <sender@sender.test>\r\nTo: <{DEMO}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{marker}@sender.test>\r\nX-Test-Id: {marker}\r\n\r\n")
    body = f"body of {marker}\r\n"
    line = ("x" * 76 + "\r\n")
    while len(body) < size:
        body += line
    return (head + body).encode()


# ---------------------------------------------------------------- reading delivered messages

def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) at the first empty line, CRLF or LF style (whichever comes first)."""
    cands = [(i, n) for i, n in ((raw.find(b"\r\n\r\n"), 4), (raw.find(b"\n\n"), 2)) if i >= 0]
    if not cands:
        return raw, b""
    pos, n = min(cands)
    return raw[:pos], raw[pos + n:]


def headers_of(raw: bytes):
    head, _ = split_message(raw)
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        head.replace(b"\r\n", b"\n") + b"\n\n")


def header_values(path: Path, name: str) -> list[str]:
    return [str(v) for v in headers_of(path.read_bytes()).get_all(name, [])]


def ids_in_maildir(home: Home, header: str = "X-Test-Id", address: str = DEMO) -> dict[str, int]:
    """How many times each value of `header` occurs among the delivered messages."""
    seen: dict[str, int] = {}
    for p in home.messages(address):
        try:
            raw = p.read_bytes()
        except FileNotFoundError:  # moved new/ -> cur/ meanwhile
            continue
        head, _ = split_message(raw)
        m = re.search(rb"(?im)^" + header.encode() + rb":[ \t]*(\S+)", head)
        if m:
            v = m.group(1).decode()
            seen[v] = seen.get(v, 0) + 1
    return seen


def run_tool(argv: list[str], timeout: float = 120, input: bytes | None = None):
    """Runs a tool to completion; a sanitizer report in a splitmail tool's output fails."""
    r = subprocess.run(argv, capture_output=True, timeout=timeout * SLOW, input=input)
    if _is_ours(argv):
        rep = sanitizer_report_in((r.stdout + r.stderr).decode(errors="replace"))
        if rep:
            fail(f"sanitizer report from `{' '.join(argv)}`:\n{rep}")
    return r


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def inc(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


def tmp_left(home: Home) -> list[str]:
    """Files left in any user's Maildir tmp/ (a finished delivery leaves none)."""
    return sorted(str(p) for p in home.maildir.glob("*/*/tmp/*"))


# master.cf of a throwaway Postfix (`postfix -c DIR`) listening on 127.0.0.1:{port}; used by the
# tests that run Postfix as a peer (test_outbound_postfix, dane_lib).
POSTFIX_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
