"""Network namespaces, veth pairs and userspace WireGuard for the integration tests (root only).

What it gives a test (on top of lib.py):
  - Namespace: `ip netns add` under a name unique to this test process (`sm<pid>-<role>`), loopback
    up; run a command or start a lib.Daemon inside it (`ip netns exec`); per-namespace sysctl;
  - veth_pair(): a veth pair created directly between two of these namespaces (the host's own
    network namespace is never touched), with addresses, up;
  - WireGuard: `wg-quick up/down` of a wg-quick config inside a namespace with wireguard-go
    (there is no kernel module here), under an interface name unique to this process, plus
    `wg show` helpers (handshake, endpoint).

Cleanup, also on failure, Ctrl-C, SIGTERM: every WireGuard interface is brought down, every
process left inside our namespaces is killed (SIGTERM, then SIGKILL) and the namespaces are
deleted (which deletes their veth ends). A test process killed with SIGKILL (ctest timeout)
cannot clean up: the next run removes namespaces and wireguard-go sockets whose `sm<pid>-`
owner is no longer alive.

Why unique interface names: wireguard-go's control socket is /var/run/wireguard/NAME.sock, one
file system for all network namespaces, so two runs (or a real wg-smrelay on the same machine)
would collide on the provisioned names. The provisioned config file is used byte for byte; only
the file name wg-quick sees (which sets the interface name) differs.

Does not: touch any address outside the namespaces it created, or load kernel modules.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402

PREFIX = f"sm{os.getpid()}"
WG_SOCK_DIR = Path("/var/run/wireguard")
WG_ENV = {
    "WG_QUICK_USERSPACE_IMPLEMENTATION": "wireguard-go",
    "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1",
    "LOG_LEVEL": "verbose",
}

CLONE_NEWNET = 0x40000000
_CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_namespaces: list["Namespace"] = []
_wireguards: list["WireGuard"] = []
_cleaned = False


def _run(argv: list[str], timeout: float = 30, check: bool = True,
         **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * lib.SLOW, **kw)
    if check and r.returncode != 0:
        lib.fail(f"`{' '.join(argv)}` failed (exit {r.returncode}): "
                 f"{(r.stderr or r.stdout).strip()}")
    return r


def require_root_tools() -> None:
    """Fails with what to install or how to run when the test cannot work here."""
    if os.geteuid() != 0:
        lib.fail("network namespaces need root: run the test as root")
    missing = [t for t in ("ip", "wg", "wg-quick", "wireguard-go") if not shutil.which(t)]
    if missing:
        lib.fail(f"missing tools {missing}: run scripts/deps (iproute2 wireguard-tools "
                 f"wireguard-go)")
    if not Path("/dev/net/tun").exists():
        lib.fail("/dev/net/tun is missing: wireguard-go needs the tun device")


# ---------------------------------------------------------------- namespaces

def _ns_pids(name: str) -> list[int]:
    """Processes inside namespace `name`, never this test process itself."""
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split() if x.isdigit() and int(x) != os.getpid()]


def _kill_ns_processes(name: str, grace: float = 2.0) -> None:
    """SIGTERM every process inside namespace `name`, then SIGKILL what is left."""
    pids = _ns_pids(name)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = _ns_pids(name)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while _ns_pids(name) and time.monotonic() < deadline:
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep_stale() -> None:
    """Removes namespaces and wireguard-go sockets left by an earlier run that was SIGKILLed."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^sm(\d+)-[a-z]+$", name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            lib.log(f"removing stale namespace {name} of a dead test run")
            _kill_ns_processes(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if WG_SOCK_DIR.is_dir():
        for s in WG_SOCK_DIR.glob("sm*.sock"):
            m = re.match(r"^sm[a-z](\d+)\.sock$", s.name)
            if m and not _pid_alive(int(m.group(1))):
                s.unlink(missing_ok=True)


class Namespace:
    """One network namespace `sm<pid>-<role>` with loopback up, deleted at exit."""

    def __init__(self, role: str):
        if not re.fullmatch(r"[a-z]{1,8}", role):
            lib.fail(f"namespace role {role!r}: 1-8 lower-case letters")
        self.role = role
        self.name = f"{PREFIX}-{role}"
        _run(["ip", "netns", "add", self.name])
        _namespaces.append(self)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> str:
        """`ip -n NS ARGS`; fails the test on error; returns stdout."""
        return _run(["ip", "-n", self.name, *args]).stdout

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], timeout: float = 30, check: bool = False,
            input: str | bytes | None = None, env: dict | None = None,
            text: bool = True) -> subprocess.CompletedProcess:
        """Runs argv inside the namespace and waits (timeout scaled under sanitizers)."""
        full_env = dict(os.environ, **env) if env else None
        r = subprocess.run(self.argv(argv), capture_output=True, text=text, input=input,
                           env=full_env, timeout=timeout * lib.SLOW)
        if check and r.returncode != 0:
            lib.fail(f"in {self.name}: `{' '.join(argv)}` failed (exit {r.returncode}): "
                     f"{r.stderr}{r.stdout}")
        return r

    def daemon(self, name: str, argv: list[str], logfile: Path,
               env: dict | None = None) -> lib.Daemon:
        """A lib.Daemon running argv inside the namespace (`ip netns exec` execs the program,
        so the daemon's pid is the program's: stop/kill/signal reach it directly)."""
        full_env = dict(os.environ, **env) if env else None
        return lib.Daemon(name, self.argv(argv), logfile, env=full_env)

    @contextlib.contextmanager
    def entered(self):
        """Runs the block with the calling thread inside the namespace (setns(2)): sockets made
        in the block stay in the namespace afterwards, so lib.SMTP & co. work unchanged. Start
        no subprocess inside the block (use run()/daemon() for that)."""
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        # No signal handler may run while this thread is in the namespace (cleanup would then
        # find the test itself among the namespace's processes): block them until we are back.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _CLEANUP_SIGNALS)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                lib.fail(f"setns({self.name}): {os.strerror(ctypes.get_errno())}")
            try:
                yield self
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    # never go on in the wrong namespace
                    print(f"setns back to the test's namespace failed: "
                          f"{os.strerror(ctypes.get_errno())}", flush=True)
                    os._exit(2)
        finally:
            os.close(own)
            os.close(target)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    def sysctl(self, key: str, value: str) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"], check=True)

    def pids(self) -> list[int]:
        return _ns_pids(self.name)

    def tcp_connects(self, host: str, port: int, timeout: float = 1.0) -> bool:
        """Whether a TCP connection from inside the namespace to host:port succeeds."""
        with self.entered():
            try:
                socket.create_connection((host, port), timeout=timeout).close()
                return True
            except OSError:
                return False

    def delete(self) -> None:
        _kill_ns_processes(self.name)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        if self in _namespaces:
            _namespaces.remove(self)


def veth_pair(a: Namespace, a_addr: str, b: Namespace, b_addr: str) -> tuple[str, str]:
    """Veth pair between namespaces a and b (created inside them, never in the host's), with
    addresses in CIDR form ("192.0.2.25/24"); returns the two interface names."""
    name_a, name_b = f"v{a.role[:3]}{b.role[:3]}", f"v{b.role[:3]}{a.role[:3]}"
    a.ip("link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", b.name)
    a.ip("addr", "add", a_addr, "dev", name_a)
    b.ip("addr", "add", b_addr, "dev", name_b)
    a.ip("link", "set", name_a, "up")
    b.ip("link", "set", name_b, "up")
    return name_a, name_b


# The addresses of the usual test topology: a relay VPS and a home box, each with a public
# address on a link to an "internet" namespace that routes between them.
RELAY_PUBLIC, INET_TO_RELAY = "192.0.2.25", "192.0.2.1"
HOME_PUBLIC, INET_TO_HOME = "198.51.100.2", "198.51.100.1"


def internet_relay_home() -> tuple[Namespace, Namespace, Namespace]:
    """Namespaces "inet", "relay" and "home": relay and home each joined to inet by a veth pair
    (RELAY_PUBLIC / HOME_PUBLIC on their side), inet forwarding, both routing through it."""
    inet, relay_ns, home_ns = Namespace("inet"), Namespace("relay"), Namespace("home")
    veth_pair(inet, f"{INET_TO_RELAY}/24", relay_ns, f"{RELAY_PUBLIC}/24")
    veth_pair(inet, f"{INET_TO_HOME}/24", home_ns, f"{HOME_PUBLIC}/24")
    inet.sysctl("net.ipv4.ip_forward", "1")
    relay_ns.ip("route", "add", "default", "via", INET_TO_RELAY)
    home_ns.ip("route", "add", "default", "via", INET_TO_HOME)
    return inet, relay_ns, home_ns


# ---------------------------------------------------------------- WireGuard (userspace)

class WireGuard:
    """A wg-quick config brought up inside `ns` with wireguard-go, as interface `ifname`
    (default `sm<letter><pid>`). The config's content is used unchanged."""

    def __init__(self, ns: Namespace, conf: Path, workdir: Path, letter: str,
                 ifname: str | None = None):
        self.ns = ns
        self.source = conf
        self.ifname = ifname or f"sm{letter}{os.getpid()}"
        if len(self.ifname) > 15:
            lib.fail(f"interface name {self.ifname} longer than 15 characters")
        self.dir = workdir
        self.conf = workdir / f"{self.ifname}.conf"
        self.log = workdir / f"{self.ifname}.log"
        self.is_up = False

    def up(self) -> "WireGuard":
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.source, self.conf)
        os.chmod(self.conf, 0o600)
        if self not in _wireguards:
            _wireguards.append(self)
        # wireguard-go daemonizes and keeps wg-quick's stdout/stderr: a file, never a pipe
        # (a pipe would never see EOF while the daemon runs).
        with open(self.log, "ab") as out:
            r = subprocess.run(self.ns.argv(["wg-quick", "up", str(self.conf)]),
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=dict(os.environ, **WG_ENV), timeout=30 * lib.SLOW)
        if r.returncode != 0:
            lib.fail(f"wg-quick up {self.conf} in {self.ns.name} failed (exit {r.returncode}):\n"
                     + self.log.read_text(errors="replace")[-3000:])
        self.is_up = True
        return self

    def down(self) -> None:
        if not self.is_up:
            return
        self.is_up = False
        if self.conf.exists():
            with open(self.log, "ab") as out:
                subprocess.run(self.ns.argv(["wg-quick", "down", str(self.conf)]),
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=dict(os.environ, **WG_ENV), timeout=30 * lib.SLOW)
        # whatever wg-quick left (or when the temp dir is already gone)
        subprocess.run(["ip", "-n", self.ns.name, "link", "del", self.ifname],
                       capture_output=True)
        sock = WG_SOCK_DIR / f"{self.ifname}.sock"
        deadline = time.monotonic() + 3
        while sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def show(self, field: str) -> str:
        """`wg show IF FIELD` (peers, endpoints, latest-handshakes, transfer, ...)."""
        return self.ns.run(["wg", "show", self.ifname, field], check=True).stdout

    def handshake_done(self) -> bool:
        """True once every peer has completed a handshake (latest-handshakes > 0)."""
        out = self.show("latest-handshakes").split()
        stamps = [int(x) for x in out[1::2]] if out else []
        return bool(stamps) and all(s > 0 for s in stamps)


# ---------------------------------------------------------------- cleanup

def cleanup() -> None:
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    # Daemons started through lib first (they may sit inside our namespaces)...
    for d in list(lib._procs):
        try:
            d.kill()
        except Exception:
            pass
    # ...then the tunnels (wireguard-go), then everything still inside, then the namespaces.
    for w in reversed(_wireguards):
        try:
            w.down()
        except Exception as e:
            print(f"(cleanup: wg down {w.ifname}: {e})", flush=True)
    for ns in reversed(list(_namespaces)):
        try:
            ns.delete()
        except Exception as e:
            print(f"(cleanup: netns del {ns.name}: {e})", flush=True)


def _on_signal(signum, frame):
    cleanup()
    lib._cleanup()
    sys.exit(128 + signum)


# atexit runs last-registered first: this runs before lib's cleanup removes the temp dirs.
atexit.register(cleanup)
for _sig in _CLEANUP_SIGNALS:
    signal.signal(_sig, _on_signal)
