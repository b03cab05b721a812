#!/usr/bin/env python3
"""Debian packages: build, lintian, install, upgrade with mail queued, remove, purge.

Builds splitmail-common, splitmail-relay and splitmail-home with scripts/package (debhelper;
`--prebuilt $SPLITMAIL_BIN`, so the programs this suite tests are the ones packaged and nothing
is compiled again) in two versions, runs lintian on them (no error or warning may remain), and
checks that every shared library the programs load comes from a package in their Depends
(what makes `apt install ./splitmail-relay_*.deb` pull every runtime dependency).

Then it installs them for real, maintainer scripts and all, into a throwaway root: an overlay
mount whose lower layer is this machine's own / (a Debian 12 system) and whose upper layer is a
temp dir, in a private mount namespace with its own network namespace; dpkg runs chrooted into
it. The host's files, users and dpkg database are never written: everything lands in the upper
layer, and the mounts vanish with the namespace. No systemd runs there (as in a container), so
the units' enable/start snippets only record state; the daemons are started by the test as
the unit would (user splitmail, the packaged binaries and paths).

What it checks:
  install   system users splitmail and splitmail-ddns (system uids, nologin), the spool, the
            mail store and the ddns state dir with their owners and modes, the unit files in
            /lib/systemd/system and none of them enabled, the "next:" hint;
  upgrade   a message the relay queued while home was down survives `dpkg -i` of the next
            version (users, uids, modes and the configuration untouched) and the new relay
            delivers it into the Maildir;
  remove    binaries and unit files go, configuration, spool (a message queued in it), mail
            store and users stay;
  purge     the configuration splitmail wrote goes (also provision's unit overrides and
            enable links), the users and aliases files, the spool with its message, the mail
            store and the system users stay; installing again and starting the relay delivers
            the message that waited in the spool through the purge.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import pkgroot_lib  # noqa: E402
from lib import checks, log, fail  # noqa: E402
from pkgroot_lib import PACKAGES, Root, build_packages, deb_field, package_out  # noqa: E402

INNER = "--inner"


# ---------------------------------------------------------------- outside: build and inspect

def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def restamp(deb: Path, old: str, new: str, dest: Path) -> Path:
    """The same package as version `new` (the upgrade's second version), made from `deb` with
    dpkg-deb: Version and the = dependencies on splitmail-common change, nothing else."""
    dest.mkdir(exist_ok=True)
    tree = dest / ("tree-" + deb.name)
    run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    text = re.sub(r"^Version: .*$", f"Version: {new}", text, flags=re.M)
    text = text.replace(f"(= {old})", f"(= {new})")
    control.write_text(text)
    out = dest / deb.name.replace(f"_{old}_", f"_{new}_")
    r = run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", str(tree), str(out)])
    if r.returncode != 0:
        fail(f"dpkg-deb -b {out.name} failed: {r.stderr}")
    shutil.rmtree(tree)
    checks.eq(deb_field(out, "Version"), new, f"{out.name} is version {new}")
    return out


def depends_names(deb: Path) -> set[str]:
    names = set()
    for alt in deb_field(deb, "Depends").split(","):
        for choice in alt.split("|"):
            n = choice.strip().split(" ")[0].split(":")[0]
            if n:
                names.add(n)
    return names


def library_packages(elf: Path) -> dict[str, str]:
    """soname -> the package that ships it on this machine, for every DT_NEEDED of elf."""
    dyn = run(["readelf", "-d", str(elf)]).stdout
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    cache = run(["ldconfig", "-p"]).stdout
    out = {}
    for so in sonames:
        m = re.search(rf"^\s*{re.escape(so)} \(libc6,x86-64[^)]*\) => (\S+)$", cache, re.M)
        if not m:
            fail(f"{elf.name} needs {so}, which ldconfig does not know")
        path = m.group(1)
        pkg = ""
        for p in {path, os.path.realpath(path)} | ({"/usr" + path} if not path.startswith("/usr")
                                                    else set()):
            r = run(["dpkg", "-S", p])
            if r.returncode == 0:
                pkg = r.stdout.split(":")[0].strip()
                break
        if not pkg:
            fail(f"{elf.name} needs {so} ({path}), which no installed package ships")
        out[so] = pkg
    return out


def check_runtime_depends(debs: list[Path], work: Path) -> None:
    for deb in debs:
        x = work / ("x-" + deb.name)
        run(["dpkg-deb", "-x", str(deb), str(x)], check=True)
        deps = depends_names(deb)
        for elf in sorted((x / "usr" / "bin").iterdir()):
            libs = library_packages(elf)
            missing = {so: p for so, p in libs.items() if p not in deps}
            checks.ok(not missing and len(libs) > 3,
                      f"{deb.name.split('_')[0]}: each of the {len(libs)} libraries "
                      f"{elf.name} loads comes from a package in Depends",
                      f"not in Depends ({', '.join(sorted(deps))}): {missing}")
        shutil.rmtree(x)


def lintian(debs: list[Path]) -> None:
    r = run(["lintian", "--fail-on", "error,warning", *map(str, debs)], timeout=600)
    tags = [line for line in r.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    for line in r.stdout.splitlines():
        print(f"  lintian | {line}")
    checks.ok(r.returncode == 0 and not tags,
              "lintian (default profile): no error and no warning",
              f"exit {r.returncode}:\n" + "\n".join(tags) + r.stderr[-1000:])


def outer() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN,
                         lib.BIN / "ddns" / "splitmail-ddns")
    pkgroot_lib.require_tools("lintian")
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="splitmail-packages-"))
    try:
        v1 = build_packages(package_out())
        version = deb_field(v1[0], "Version")
        (work / "v1").mkdir()
        v1 = [Path(shutil.copy2(d, work / "v1")) for d in v1]
        v2 = [restamp(d, version, version + "+upgradetest", work / "v2") for d in v1]
        lintian(v1)
        check_runtime_depends(v1, work)
        for deb in v1:
            if deb.name.startswith(("splitmail-relay", "splitmail-home")):
                checks.ok(f"splitmail-common (= {version})" in deb_field(deb, "Depends"),
                          f"{deb.name.split('_')[0]} depends on splitmail-common of its version")

        log("installing into a throwaway root (overlay on /, private mount + network namespace)")
        r = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private",
                            "/usr/bin/python3", __file__, INNER, str(work), version],
                           timeout=900)
        passed = work / "inner-passed"
        if passed.exists():
            checks.passed += int(passed.read_text())
        if r.returncode != 0:
            fail(f"the install/upgrade/remove/purge part failed (exit {r.returncode}, above)")
        log(f"wall time {time.monotonic() - t0:.0f}s")
    finally:
        # The overlay and every mount below work/ lived in the inner mount namespace only.
        if os.environ.get("KEEP"):
            print(f"(KEEP set: {work} left)")
        else:
            shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- inside: the throwaway root

def passwd_entry(root: Root, name: str) -> list[str] | None:
    r = root.run(["getent", "passwd", name])
    return r.stdout.strip().split(":") if r.returncode == 0 else None


def mode_owner(root: Root, path: str) -> tuple[str, str, str] | None:
    try:
        st = os.stat(root.p(path))
    except FileNotFoundError:
        return None
    owner = root.run(["stat", "-c", "%U:%G", path]).stdout.strip()
    return (stat.S_ISDIR(st.st_mode) and "dir" or "file", f"{stat.S_IMODE(st.st_mode):04o}", owner)


def queue_list(root: Root) -> str:
    r = root.run(["splitmail", "queue", "list", "--spool", "/var/spool/splitmail"], check=True)
    return r.stdout


def spool_envelopes(root: Root) -> list[str]:
    out = []
    for q in ("incoming", "deferred", "hold"):
        d = root.p(f"/var/spool/splitmail/{q}")
        if d.is_dir():
            out += sorted(f"{q}/{p.name}" for p in d.iterdir() if p.name.endswith(".json"))
    return out


def maildir_has(root: Root, marker: str) -> bool:
    box = root.p("/var/lib/splitmail/mail/example.test/demo")
    for sub in ("new", "cur"):
        d = box / sub
        if d.is_dir():
            for f in d.iterdir():
                if marker.encode() in f.read_bytes():
                    return True
    return False


def dpkg(root: Root, *args: str) -> str:
    r = root.run(["dpkg", *args])
    if r.returncode != 0:
        fail(f"dpkg {' '.join(args)} failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


class Site:
    """relay.toml and home.toml in /etc/splitmail of the root, on loopback of the namespace."""

    def __init__(self, root: Root, logs: Path):
        self.root, self.logs = root, logs
        self.smtp, self.lmtp = lib.free_port(), lib.free_port()

    def write(self) -> None:
        etc = self.root.p("/etc/splitmail")
        (etc / "relay.toml").write_text(
            "[relay]\nhostname = \"mx.example.test\"\ndomains = [\"example.test\"]\n"
            f"[smtp]\nlisten = [\"127.0.0.1:{self.smtp}\"]\n"
            "[spool]\ndir = \"/var/spool/splitmail\"\n"
            f"[home]\nlmtp = \"127.0.0.1:{self.lmtp}\"\ntransport = \"plain\"\n"
            "recipient_refresh = \"2s\"\n[retry]\ninitial = \"1s\"\nmax = \"2s\"\n")
        (etc / "home.toml").write_text(
            "[home]\ndomains = [\"example.test\"]\n"
            f"[lmtp]\nlisten = [\"127.0.0.1:{self.lmtp}\"]\ntransport = \"plain\"\n"
            "[users]\nfile = \"/etc/splitmail/users\"\naliases = \"/etc/splitmail/aliases\"\n"
            "[maildir]\nroot = \"/var/lib/splitmail/mail\"\n")

    def relay(self) -> lib.Daemon:
        return self.root.daemon("splitmail-relay", ["/usr/bin/splitmail-relay", "--config",
                                                    "/etc/splitmail/relay.toml"],
                                self.logs / "relay.log")

    def home(self) -> lib.Daemon:
        return self.root.daemon("splitmail-home", ["/usr/bin/splitmail-home", "--config",
                                                   "/etc/splitmail/home.toml"],
                                self.logs / "home.log")

    def start(self, d: lib.Daemon, port: int) -> lib.Daemon:
        d.start()
        lib.wait_until(lambda: lib.port_answers("127.0.0.1", port), 15,
                       f"{d.name} on 127.0.0.1:{port}", daemons=[d])
        return d

    def wait_accepts(self, relay: lib.Daemon) -> None:
        def probe() -> bool:
            try:
                with lib.SMTP(self.smtp) as c:
                    c.ehlo()
                    c.cmd("MAIL FROM:<probe@sender.test>")
                    code, _ = c.cmd(f"RCPT TO:<{lib.DEMO}>")
                    return code == 250
            except OSError:
                return False
        lib.wait_until(probe, 20, "the relay to know demo@example.test", interval=0.2,
                       daemons=[relay])

    def queue_one(self, relay: lib.Daemon, marker: str) -> None:
        code, text = lib.send_message(self.smtp, "sender@sender.test", [lib.DEMO],
                                      lib.make_message(marker))
        checks.eq(code, 250, f"the relay accepts a message ({marker}) while home is down")

        def attempted() -> bool:
            q = queue_list(self.root)
            return bool(re.search(r"attempts [1-9]", q))
        lib.wait_until(attempted, 30, "a delivery attempt of the queued message",
                       interval=0.3, daemons=[relay])


def inner(work: Path, version: str) -> None:
    root = Root.here(work)
    logs = work / "logs"
    logs.mkdir()
    v2 = version + "+upgradetest"
    debs1 = sorted(f"/tmp/debs/v1/{p.name}" for p in (work / "v1").iterdir())
    debs2 = sorted(f"/tmp/debs/v2/{p.name}" for p in (work / "v2").iterdir())
    shutil.copytree(work / "v1", root.p("/tmp/debs/v1"))
    shutil.copytree(work / "v2", root.p("/tmp/debs/v2"))

    root.make_fresh()

    # ---- install
    out = dpkg(root, "-i", *debs1)
    for pkg in PACKAGES:
        checks.eq(root.status(pkg), f"ii {version}", f"{pkg} {version} installed")
    checks.ok("next: splitmail setup relay" in out and "next: splitmail setup home" in out,
              "the first install says what to run next", out[-1500:])
    users = {}
    for u, home in (("splitmail", "/var/lib/splitmail"),
                    ("splitmail-ddns", "/var/lib/splitmail-ddns")):
        e = passwd_entry(root, u)
        checks.ok(e is not None, f"system user {u} created")
        checks.ok(0 < int(e[2]) < 1000 and e[5] == home and e[6] == "/usr/sbin/nologin",
                  f"{u}: system uid, home {home}, shell nologin", str(e))
        users[u] = e[2]
    want = {
        "/etc/splitmail": ("dir", "0755", "root:root"),
        "/var/spool/splitmail": ("dir", "0750", "splitmail:splitmail"),
        "/var/lib/splitmail": ("dir", "0750", "splitmail:splitmail"),
        "/var/lib/splitmail/mail": ("dir", "0700", "splitmail:splitmail"),
        "/var/lib/splitmail-ddns": ("dir", "0700", "splitmail-ddns:splitmail-ddns"),
    }
    for path, w in want.items():
        checks.eq(mode_owner(root, path), w, f"{path} {w[1]} {w[2]}")
    units = ["splitmail-relay.service", "splitmail-home.service", "splitmail-ddns.service"]
    for u in units:
        checks.ok(root.p(f"/lib/systemd/system/{u}").is_file(), f"unit {u} installed")
        r = subprocess.run(["systemctl", f"--root={root.path}", "is-enabled", u],
                           capture_output=True, text=True)
        checks.eq(r.stdout.strip(), "disabled", f"{u} is disabled until configured")
    # Certificate renewal (splitmail-common): installed disabled too; `splitmail cert obtain`
    # enables the timer once there is a certificate to renew.
    for u in ("splitmail-cert.service", "splitmail-cert.timer"):
        checks.ok(root.p(f"/lib/systemd/system/{u}").is_file(), f"unit {u} installed")
        r = subprocess.run(["systemctl", f"--root={root.path}", "is-enabled", u],
                           capture_output=True, text=True)
        checks.ok(r.stdout.strip() in ("disabled", "static"), f"{u} is not enabled",
                  r.stdout + r.stderr)
    checks.eq(sorted(str(p) for p in root.p("/etc/systemd/system").glob("*.wants/splitmail*")),
              [], "no enable link for any splitmail unit")

    # ---- configure, queue a message with home down
    site = Site(root, logs)
    site.write()
    for f in ("users", "aliases"):  # as provision makes them: root:splitmail 0640
        root.p(f"/etc/splitmail/{f}").write_text("")
        root.run(["chown", "root:splitmail", f"/etc/splitmail/{f}"], check=True)
        os.chmod(root.p(f"/etc/splitmail/{f}"), 0o640)
    root.run(["splitmail", "user", "add", lib.DEMO, "--config", "/etc/splitmail/home.toml"],
             input="correct horse battery staple\n", check=True)
    root.run(["splitmail-relay", "--config", "/etc/splitmail/relay.toml", "--check-config"],
             check=True)
    home = site.start(site.home(), site.lmtp)
    relay = site.start(site.relay(), site.smtp)
    site.wait_accepts(relay)
    home.stop()
    site.queue_one(relay, "queued-across-upgrade")
    relay.stop()
    queued = spool_envelopes(root)
    checks.eq(len(queued), 1, "one message waits in the spool before the upgrade")
    relay_toml = root.p("/etc/splitmail/relay.toml").read_bytes()

    # ---- upgrade
    out = dpkg(root, "-i", *debs2)
    for pkg in PACKAGES:
        checks.eq(root.status(pkg), f"ii {v2}", f"{pkg} upgraded to {v2}")
    checks.ok("next:" not in out, "an upgrade prints no first-install hint", out[-1500:])
    checks.eq(spool_envelopes(root), queued, "the queued message is still in the spool")
    checks.ok("attempts" in queue_list(root), "splitmail queue list (new CLI) shows it")
    for u, uid in users.items():
        checks.eq(passwd_entry(root, u)[2], uid, f"{u} keeps its uid")
    for path, w in want.items():
        checks.eq(mode_owner(root, path), w, f"after the upgrade: {path} {w[1]} {w[2]}")
    checks.eq(root.p("/etc/splitmail/relay.toml").read_bytes(), relay_toml,
              "relay.toml untouched by the upgrade")
    home = site.start(site.home(), site.lmtp)
    relay = site.start(site.relay(), site.smtp)
    lib.wait_until(lambda: maildir_has(root, "queued-across-upgrade"), 30,
                   "the upgraded relay to deliver the queued message", daemons=[relay, home])
    checks.ok(True, "the message queued across the upgrade reached the Maildir")
    lib.wait_until(lambda: not spool_envelopes(root), 10, "the spool to empty", daemons=[relay])

    # ---- remove (a message waits in the spool again)
    home.stop()
    site.queue_one(relay, "queued-across-purge")
    relay.stop()
    queued = spool_envelopes(root)
    checks.eq(len(queued), 1, "one message waits in the spool before remove and purge")
    # What `splitmail provision` writes besides the configs: unit overrides, keys, wg configs,
    # and the enable links of `systemctl enable` (stand-ins here: their content is not read).
    provisioned = ["/etc/systemd/system/splitmail-relay.service",
                   "/etc/systemd/system/splitmail-home.service",
                   "/etc/systemd/system/splitmail-ddns.service",
                   "/etc/splitmail/site.toml", "/etc/splitmail/ddns.toml",
                   "/etc/splitmail/lmtp-secret", "/etc/splitmail/desec.token",
                   "/etc/splitmail/pairing-home.toml",
                   "/etc/splitmail/tls/relay.crt", "/etc/splitmail/tls/relay.key",
                   "/etc/splitmail/tls/home.crt", "/etc/splitmail/tls/home.key",
                   "/etc/splitmail/dkim/example.test/sm1-rsa.key",
                   "/etc/wireguard/wg-smrelay.conf", "/etc/wireguard/wg-smhome.conf"]
    for f in provisioned:
        root.p(f).parent.mkdir(parents=True, exist_ok=True)
        root.p(f).write_text("# stand-in\n")
    wants = root.p("/etc/systemd/system/multi-user.target.wants")
    wants.mkdir(parents=True, exist_ok=True)
    for u in units:
        (wants / u).symlink_to(f"/etc/systemd/system/{u}")

    dpkg(root, "-r", *PACKAGES)
    for pkg in PACKAGES:
        checks.eq(root.status(pkg), f"rc {v2}", f"{pkg} removed, its configuration kept")
    for b in ("splitmail", "splitmail-relay", "splitmail-home", "splitmail-ddns"):
        checks.ok(not root.p(f"/usr/bin/{b}").exists(), f"remove: /usr/bin/{b} gone")
    for u in [*units, "splitmail-cert.service", "splitmail-cert.timer"]:
        checks.ok(not root.p(f"/lib/systemd/system/{u}").exists(), f"remove: unit {u} gone")
    for f in ["/etc/splitmail/relay.toml", "/etc/splitmail/home.toml", "/etc/splitmail/users",
              *provisioned]:
        checks.ok(root.p(f).exists(), f"remove keeps {f}")
    checks.eq(spool_envelopes(root), queued, "remove keeps the queued message")
    checks.ok(maildir_has(root, "queued-across-upgrade"), "remove keeps the Maildir")
    for u, uid in users.items():
        checks.eq((passwd_entry(root, u) or ["", "", "?"])[2], uid, f"remove keeps user {u}")

    # ---- purge
    dpkg(root, "-P", *PACKAGES)
    for pkg in PACKAGES:
        checks.ok(root.status(pkg) in ("unknown", f"pn {v2}", "pn"),
                  f"{pkg} purged", root.status(pkg))
    for f in ["/etc/splitmail/relay.toml", "/etc/splitmail/home.toml", *provisioned]:
        checks.ok(not os.path.lexists(root.p(f)), f"purge removes {f}")
    checks.eq(sorted(str(p.relative_to(root.path)) for p in root.p("/etc").rglob("*.wants/splitmail*")),
              [], "purge removes the enable links")
    checks.eq(sorted(p.name for p in root.p("/etc/splitmail").iterdir()), ["aliases", "users"],
              "purge keeps only the users and aliases files in /etc/splitmail")
    checks.eq(spool_envelopes(root), queued, "purge keeps the spool and its queued message")
    checks.eq(mode_owner(root, "/var/spool/splitmail"), want["/var/spool/splitmail"],
              "purge keeps the spool's owner and mode")
    checks.ok(maildir_has(root, "queued-across-upgrade"), "purge keeps the Maildir")
    checks.ok(not root.p("/var/lib/splitmail-ddns").exists(), "purge removes the ddns state")
    for u, uid in users.items():
        checks.eq((passwd_entry(root, u) or ["", "", "?"])[2], uid,
                  f"purge keeps system user {u} (it owns the mail and the spool)")

    # ---- install again: the message that waited through the purge is delivered
    dpkg(root, "-i", *debs2)
    checks.eq(mode_owner(root, "/var/lib/splitmail-ddns"), want["/var/lib/splitmail-ddns"],
              "a new install makes the ddns state dir again")
    site.write()
    home = site.start(site.home(), site.lmtp)
    relay = site.start(site.relay(), site.smtp)
    lib.wait_until(lambda: maildir_has(root, "queued-across-purge"), 30,
                   "the reinstalled relay to deliver the message kept through the purge",
                   daemons=[relay, home])
    checks.ok(True, "the message kept in the spool through remove and purge was delivered")
    relay.stop()
    home.stop()


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == INNER:
        work = Path(sys.argv[2])
        try:
            inner(work, sys.argv[3])
        finally:
            (work / "inner-passed").write_text(str(checks.passed))
            for d in list(lib._procs):  # before the namespace (and its mounts) goes away
                d.kill()
        return
    outer()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == INNER:
        checks.name = "test_packages (throwaway root)"
        try:
            main()
        except lib.TestFailure as e:
            print(f"\nFAIL {checks.name}: {e}", flush=True)
            lib._dump_logs()
            sys.exit(1)
        lib.check_daemons()
        sys.exit(0)
    lib.run_main(main)
