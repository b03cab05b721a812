"""`splitmail provision relay|home` for the real system (as root, no --root), in a private mount
namespace: /etc is a bind-mounted copy and /var/spool, /var/lib are tmpfs, so the host is never
touched and everything disappears with the namespace.

Shows: the system users `splitmail` (relay) and `splitmail`, `splitmail-ddns` (home) are
created; spool, Maildir root, DKIM keys, TLS keys, users files get the owners and modes the
services need; the service user `splitmail` (setpriv, no capabilities) can run
`splitmail-relay --check-config` / `splitmail-home --check-config` on the generated configs,
while `nobody` cannot (the keys are not world-readable); `splitmail user add` as root keeps the
users file readable for the service; a second run prints only "unchanged" lines.
"""
from __future__ import annotations

import os
import pwd
import grp
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402

THIS = Path(__file__).resolve()


def run(argv, input: bytes | None = None):
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=120 * lib.SLOW,
                       input=input)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def private_system(work: Path, role: str) -> None:
    """Inside the new mount namespace: our own /etc, /var/spool, /var/lib, and an empty
    /run/wireguard. The last matters: provision without --root syncs the keys of a running
    interface of the provisioned name (wg syncconf through /run/wireguard/NAME.sock), and
    wireguard-go's sockets are shared by every network namespace, so another test's
    wg-smrelay (test_setup_guided, running at the same time) would get this test's keys."""
    etc = work / f"etc-{role}"
    subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
    subprocess.run(["mount", "--bind", str(etc), "/etc"], check=True)
    os.makedirs("/run/wireguard", exist_ok=True)
    for d in ("/var/spool", "/var/lib", "/run/wireguard"):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", d],
                       check=True)


def owner_mode(path: str) -> tuple[str, str, str]:
    st = os.stat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            "%04o" % (st.st_mode & 0o7777))


def expect_owners(table) -> None:
    for path, want in table:
        checks.eq(owner_mode(path), want, f"{path} owner, group, mode")


def as_user(user: str, argv):
    return run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                "--inh-caps=-all", *argv])


def second_run_unchanged(argv, what: str) -> None:
    rc, out, err = run(argv)
    checks.eq(rc, 0, f"{what}: second run exits 0")
    other = [l for l in out.splitlines()
             if not l.startswith("unchanged ") and not l.startswith("nothing to do")]
    checks.eq(other, [], f"{what}: second run prints only 'unchanged' lines")
    checks.ok("nothing to do" in out, f"{what}: second run says there is nothing to do", out)


def inside_relay(work: Path) -> None:
    private_system(work, "relay")
    argv = [lib.CLI_BIN, "provision", "relay", "--domain", "example.test", "--hostname",
            "mx.example.test", "--public-ipv4", "192.0.2.1", "--bindir", lib.RELAY_BIN.parent]
    rc, out, err = run(argv)
    print(out, end="")
    checks.eq(rc, 0, "provision relay as root exits 0")
    checks.ok("--root given" not in out, "no --root note for the real system")
    checks.ok("created user splitmail" in out or "unchanged user splitmail" in out,
              "the system user splitmail is reported", out)
    pw = pwd.getpwnam("splitmail")
    checks.ok(pw.pw_uid < 1000 and pw.pw_shell == "/usr/sbin/nologin",
              "splitmail is a system user without a login shell", str(pw))
    expect_owners([
        ("/var/spool/splitmail", ("splitmail", "splitmail", "0750")),
        ("/etc/splitmail/dkim/example.test", ("splitmail", "splitmail", "0700")),
        ("/etc/splitmail/dkim/example.test/sm1-rsa.key", ("splitmail", "splitmail", "0600")),
        ("/etc/splitmail/dkim/example.test/sm1-ed25519.key", ("splitmail", "splitmail", "0600")),
        ("/etc/splitmail/tls/relay.key", ("root", "splitmail", "0640")),
        ("/etc/splitmail/tls/relay.crt", ("root", "root", "0644")),
        ("/etc/splitmail/relay.toml", ("root", "root", "0644")),
        ("/etc/splitmail/pairing-home.toml", ("root", "root", "0600")),
        ("/etc/wireguard/wg-smrelay.conf", ("root", "root", "0600")),
    ])
    cfg = "/etc/splitmail/relay.toml"
    rc, out, err = as_user("splitmail", [lib.RELAY_BIN, "--config", cfg, "--check-config"])
    checks.eq(rc, 0, "splitmail-relay --check-config as user splitmail (reads TLS and DKIM keys)")
    rc, out, err = as_user("splitmail", ["touch", "/var/spool/splitmail/probe"])
    checks.eq(rc, 0, "user splitmail can write the spool")
    rc, out, err = as_user("nobody", [lib.RELAY_BIN, "--config", cfg, "--check-config"])
    checks.ok(rc != 0, "user nobody cannot read the relay's keys (check-config fails)", err)
    os.unlink("/var/spool/splitmail/probe")
    second_run_unchanged(argv, "provision relay")
    shutil.copy("/etc/splitmail/pairing-home.toml", work / "pairing-home.toml")


def inside_home(work: Path) -> None:
    private_system(work, "home")
    argv = [lib.CLI_BIN, "provision", "home", "--pairing", work / "pairing-home.toml",
            "--bindir", lib.HOME_BIN.parent]
    rc, out, err = run(argv)
    print(out, end="")
    checks.eq(rc, 0, "provision home as root exits 0")
    for user in ("splitmail", "splitmail-ddns"):
        checks.ok(f"created user {user}" in out or f"unchanged user {user}" in out,
                  f"the system user {user} is reported", out)
        pwd.getpwnam(user)
    expect_owners([
        ("/var/lib/splitmail", ("splitmail", "splitmail", "0750")),
        ("/var/lib/splitmail/mail", ("splitmail", "splitmail", "0700")),
        ("/var/lib/splitmail-ddns", ("splitmail-ddns", "splitmail-ddns", "0700")),
        ("/etc/splitmail/users", ("root", "splitmail", "0640")),
        ("/etc/splitmail/aliases", ("root", "splitmail", "0640")),
        ("/etc/splitmail/tls/home.key", ("root", "splitmail", "0640")),
        ("/etc/wireguard/wg-smhome.conf", ("root", "root", "0600")),
    ])
    cfg = "/etc/splitmail/home.toml"
    rc, out, err = run([lib.CLI_BIN, "user", "add", "alice@example.test", "--config", cfg],
                       input=b"correct horse battery\n")
    checks.eq(rc, 0, "splitmail user add --config home.toml (as root)")
    expect_owners([("/etc/splitmail/users", ("root", "splitmail", "0640"))])
    rc, out, err = as_user("splitmail", [lib.HOME_BIN, "--config", cfg, "--check-config"])
    checks.eq(rc, 0, "splitmail-home --check-config as user splitmail (users, TLS key, Maildir)")
    rc, out, err = as_user("nobody", [lib.HOME_BIN, "--config", cfg, "--check-config"])
    checks.ok(rc != 0, "user nobody cannot read home's users and keys", err)
    second_run_unchanged(argv, "provision home")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--inside":
        (inside_relay if sys.argv[2] == "relay" else inside_home)(Path(sys.argv[3]))
        return
    if os.geteuid() != 0:
        # A skip that ctest counts as a pass hides that nothing was checked: fail instead,
        # like every other root-only test (scripts/test runs as root).
        lib.fail("test_provision_system needs root (private mount namespace); run as root")
    lib.require_binaries(lib.CLI_BIN, lib.RELAY_BIN, lib.HOME_BIN)
    def host_state():
        try:
            pwd.getpwnam("splitmail")
            user = True
        except KeyError:
            user = False
        return Path("/etc/splitmail").exists(), Path("/var/spool/splitmail").exists(), user

    before = host_state()
    work = lib.tmpdir("provision-system")
    os.chmod(work, 0o755)
    for role in ("relay", "home"):
        lib.log(f"provision {role} in a private mount namespace")
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                            str(THIS), "--inside", role, str(work)],
                           timeout=300 * lib.SLOW)
        checks.eq(r.returncode, 0, f"provision {role} checks inside the namespace")
    checks.eq(host_state(), before, "the host's /etc/splitmail, spool and users are untouched")


if __name__ == "__main__":
    lib.run_main(main)
