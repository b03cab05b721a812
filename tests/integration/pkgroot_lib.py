"""Throwaway roots to install the Debian packages into, for the package tests (root only).

What it gives a test:
  - build_packages(): the .debs of splitmail-common/-relay/-home made by scripts/package
    `--prebuilt $SPLITMAIL_BIN` (the programs the suite tests are the ones packaged; nothing is
    compiled again), into SPLITMAIL_PACKAGE_OUT or $SPLITMAIL_BIN/package-test (kept between
    runs, so the next build only repackages);
  - Root: a fresh machine made from this one. An overlay mount whose lower layer is this
    machine's own / (a Debian 12 system) and whose upper layer is a temp dir, with its own
    proc, a tmpfs /run, /tmp and /dev (device nodes bound one by one, the host's /dev is not
    exposed whole), entered with chroot. Two ways to have one:
      Root.here(work)          mounts it in the calling process, which must already be in a
                               private mount namespace (test_packages re-runs itself under
                               `unshare --mount --net` for that);
      Root.in_namespace(work, ns)  a keeper process in network namespace `ns` (netns_lib) and
                               a private mount namespace of its own mounts it and waits; the
                               test enters both namespaces for each command (nsenter) and
                               reads the root's files through /proc/KEEPER/root. Two of these
                               are two machines that share nothing but the veth links.
    Either way: run() a command chrooted into it, daemon() a program as user splitmail,
    p() the path of a file of the root as this process sees it, make_fresh() to remove what an
    earlier test left on this host (splitmail users, /etc/splitmail, spool, mail store).

Guarantees: the host's files, users and dpkg database are never written (everything lands in
the upper layer); the mounts exist only in the private mount namespace and vanish with its
last process: the inner test process (here) or the keeper and what runs inside its network
namespace, which netns_lib kills at exit and after a SIGKILLed run (sweep_stale).

Does not: start systemd (there is none in a namespace; tests/fakes/systemctl stands in), or
reach any network outside the namespaces the test made.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks, fail, log  # noqa: E402

PACKAGES = ["splitmail-common", "splitmail-relay", "splitmail-home"]
ROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_KEEP = "--keep-root"  # argv[1] of the keeper process (this file run as a program)


# ---------------------------------------------------------------- building

def package_out() -> Path:
    return Path(os.environ.get("SPLITMAIL_PACKAGE_OUT") or lib.BIN / "package-test")


def build_packages(out: Path, version: str | None = None) -> list[Path]:
    """scripts/package --prebuilt $SPLITMAIL_BIN into `out` (no lintian: a test runs it on
    the result when it wants); checks that the three packages came out; returns their paths.
    One build at a time per `out` (flock on out/.package.lock): the build directory there is
    reused, and the lock's descriptor is inherited by dpkg-buildpackage & co., so the build of
    a test run killed meanwhile holds it until that build ends."""
    out.mkdir(parents=True, exist_ok=True)
    argv = ["flock", str(out / ".package.lock"), str(lib.SRC / "scripts" / "package"),
            "--out", str(out), "--prebuilt", str(lib.BIN), "--no-lintian"]
    if version:
        argv += ["--version", version]
    t = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        fail(f"scripts/package {' '.join(argv[3:])} failed (exit {r.returncode}):\n"
             f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
    debs = [Path(x) for x in r.stdout.split() if x.endswith(".deb")]
    log(f"built {len(debs)} packages{' ' + version if version else ''} in "
        f"{time.monotonic() - t:.0f}s")
    checks.eq(sorted(d.name.split("_")[0] for d in debs), sorted(PACKAGES),
              f"scripts/package made the three packages{' (' + version + ')' if version else ''}")
    return debs


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True,
                          text=True).stdout.strip()


def require_tools(*tools: str) -> None:
    for tool in ("dpkg-buildpackage", "dh", "unshare", "chroot", *tools):
        if not shutil.which(tool):
            fail(f"{tool} is missing: run scripts/deps (it installs debhelper, lintian)")


# ---------------------------------------------------------------- the root

def _sh(argv) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"`{' '.join(argv)}` failed: {r.stderr}")


def _mount(work: Path, tun: bool) -> Path:
    """The overlay root below work/root, in the calling process's (private) mount namespace."""
    root = work / "root"
    for d in ("upper", "ovlwork", "root"):
        (work / d).mkdir(exist_ok=True)
    _sh(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir=/,upperdir={work / 'upper'},workdir={work / 'ovlwork'}", str(root)])
    _sh(["mount", "-t", "proc", "proc", str(root / "proc")])
    for d in ("run", "tmp", "dev"):
        _sh(["mount", "-t", "tmpfs", "-o", "mode=0755" if d != "tmp" else "mode=1777",
             "tmpfs", str(root / d)])
    # Device nodes one by one (bind mounts of files): the host's /dev is not exposed whole.
    # /dev/net/tun for wireguard-go (there is no WireGuard kernel module here).
    devs = ["null", "zero", "full", "random", "urandom"] + (["net/tun"] if tun else [])
    for dev in devs:
        (root / "dev" / dev).parent.mkdir(exist_ok=True)
        (root / "dev" / dev).touch()
        _sh(["mount", "--bind", f"/dev/{dev}", str(root / "dev" / dev)])
    (root / "dev" / "fd").symlink_to("/proc/self/fd")
    return root


class Root:
    """One throwaway root (see the module comment). `path` is the root in its own mount
    namespace, `enter` the argv prefix that enters its namespaces ([] when the calling process
    is in them), `view` where the calling process sees its files."""

    def __init__(self, path: Path, enter: list[str], view: Path, name: str = "root"):
        self.path, self.enter, self.view, self.name = path, enter, view, name

    @classmethod
    def here(cls, work: Path, tun: bool = False) -> "Root":
        """Mounts the root in the calling process, which must be in a private mount namespace
        (`unshare --mount`) and, to reach nothing outside, a network namespace of its own."""
        _sh(["ip", "link", "set", "lo", "up"])
        path = _mount(work, tun)
        return cls(path, [], path)

    @classmethod
    def in_namespace(cls, work: Path, ns, tun: bool = True) -> "Root":
        """A root in network namespace `ns` (a netns_lib.Namespace) and a private mount
        namespace of its own, held by a keeper process that lives until the test ends (netns_lib
        kills every process of its namespaces at exit)."""
        work.mkdir(parents=True, exist_ok=True)
        ready = work / "mounted"
        keeper = lib.Daemon(
            f"{ns.role} root", ns.argv(["unshare", "--mount", "--propagation", "private",
                                        "/usr/bin/python3", str(Path(__file__).resolve()), _KEEP,
                                        str(work), "tun" if tun else "no-tun"]),
            work / "keeper.log", check_status=False).start()
        lib.wait_until(ready.exists, 30, f"the {ns.role} root to be mounted", interval=0.1,
                       daemons=[keeper])
        # `ip netns exec` and `unshare` exec the next program: the keeper's pid is python's.
        pid = keeper.pid
        path = work / "root"
        return cls(path, ["nsenter", "-t", str(pid), "--mount", "--net"],
                   Path(f"/proc/{pid}/root") / str(path).lstrip("/"), name=ns.role)

    def p(self, abs_path: str) -> Path:
        """A path inside the root, as the calling process sees it."""
        return self.view / abs_path.lstrip("/")

    def argv(self, argv: list[str], userspec: str | None = None) -> list[str]:
        user = [f"--userspec={userspec}"] if userspec else []
        return [*self.enter, "/usr/sbin/chroot", *user, str(self.path), *argv]

    def run(self, argv: list[str], input: str | None = None, check: bool = False,
            env: dict | None = None, timeout: float = 300,
            cwd: str = "/") -> subprocess.CompletedProcess:
        """argv chrooted into the root, in directory `cwd` of the root, with a plain root
        environment plus `env`."""
        if cwd != "/":
            argv = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]
        r = subprocess.run(self.argv(argv), capture_output=True, text=True, input=input,
                           env={"PATH": ROOT_PATH, "LANG": "C.UTF-8", "HOME": "/root",
                                "DEBIAN_FRONTEND": "noninteractive", **(env or {})},
                           timeout=timeout * lib.SLOW)
        if check and r.returncode != 0:
            fail(f"`{' '.join(argv)}` in the {self.name} root failed (exit {r.returncode}):\n"
                 f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
        return r

    def daemon(self, name: str, argv: list[str], logfile: Path) -> lib.Daemon:
        """A splitmail program of the root as user splitmail (as its unit runs it)."""
        return lib.Daemon(name, self.argv(argv, "splitmail:splitmail"), logfile,
                          env={"PATH": "/usr/bin:/bin"}, check_status=True)

    def make_fresh(self) -> None:
        """A fresh machine: whatever an earlier test left on this host (users, directories)
        is removed in the overlay only; checks that no splitmail package is installed."""
        for u in ("splitmail-ddns", "splitmail"):
            if self.run(["getent", "passwd", u]).returncode == 0:
                self.run(["userdel", u], check=True)
            self.run(["groupdel", u])
        for d in ("/etc/splitmail", "/var/spool/splitmail", "/var/lib/splitmail",
                  "/var/lib/splitmail-ddns", "/etc/wireguard"):
            shutil.rmtree(self.p(d), ignore_errors=True)
        for pkg in PACKAGES:
            checks.eq(self.status(pkg), "unknown", f"{pkg} is not installed in the fresh "
                      f"{self.name}")

    def status(self, pkg: str) -> str:
        """dpkg's status abbreviation and version ("ii 0.1.0"), or "unknown"."""
        r = self.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", pkg])
        return r.stdout.strip() if r.returncode == 0 else "unknown"


def sweep_stale_work(name: str) -> None:
    """Removes the temp dirs (lib.tmpdir(name)) of earlier runs that were SIGKILLed: their
    roots' upper layers. Call it after netns_lib.sweep_stale(), which ends their keepers."""
    for t in Path(tempfile.gettempdir()).glob(f"splitmail-{name}-*"):
        owner = _dead_owner(t)
        if owner:
            log(f"removing {t} of a dead test run (pid {owner})")
            shutil.rmtree(t, ignore_errors=True)


def _dead_owner(top: Path) -> int | None:
    """The pid of the test that made temp dir `top` (its lib.OWNER_FILE) when that test is
    gone, else None (it runs, or the dir has no owner file: not one of ours to judge)."""
    try:
        owner = int((top / lib.OWNER_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None if owner == os.getpid() or lib._pid_alive(owner) else owner


def stale_leftovers(name: str) -> list[str]:
    """What is still there of test runs that died, after netns_lib.sweep_stale() and
    sweep_stale_work(name): namespaces sm<pid>-* and wireguard-go sockets sm<letter><pid>.sock
    of a dead pid, processes that still see an overlay root whose upper layer is in a temp dir
    splitmail-<name>-* of a dead run (or of a removed one), and such temp dirs. [] when clean."""
    left = []
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for ns in (ln.split()[0] for ln in r.stdout.splitlines() if ln.split()):
        m = re.fullmatch(r"sm(\d+)-[a-z]+", ns)
        if m and int(m.group(1)) != os.getpid() and not lib._pid_alive(int(m.group(1))):
            left.append(f"namespace {ns}")
    for s in Path("/var/run/wireguard").glob("sm*.sock"):
        m = re.fullmatch(r"sm[a-z](\d+)\.sock", s.name)
        if m and not lib._pid_alive(int(m.group(1))):
            left.append(f"wireguard-go socket {s}")
    base = Path(tempfile.gettempdir()).resolve()
    upper = re.compile(r"upperdir=(" + re.escape(str(base / f"splitmail-{name}-")) + r"[^/,]+)")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            mounts = (proc / "mountinfo").read_text()
        except OSError:
            continue  # gone meanwhile
        for top in {Path(m.group(1)) for m in upper.finditer(mounts)}:
            if not top.exists() or _dead_owner(top):
                left.append(f"process {proc.name} with the overlay root of {top}")
    for t in base.glob(f"splitmail-{name}-*"):
        if _dead_owner(t):
            left.append(f"temp dir {t} (pid {_dead_owner(t)})")
    return left


def _keep(work: Path, tun: bool) -> None:
    """The keeper (in its own mount namespace): mount, say so, wait to be killed."""
    _mount(work, tun)
    (work / "mounted").write_text(f"{os.getpid()}\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == _KEEP:
    try:
        _keep(Path(sys.argv[2]), sys.argv[3] == "tun")
    except lib.TestFailure as e:
        print(f"keeper: {e}", flush=True)
        sys.exit(1)
