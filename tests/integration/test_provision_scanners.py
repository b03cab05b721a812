"""`splitmail provision relay --scanners on` wires rspamd and clamd (issue 18), and a real
rspamd accepts what it wrote:

  - relay.toml gets [rspamd] (the normal worker on 127.0.0.1:11333) and [clamav] (clamd's
    LocalSocket read from clamd.conf) and passes --check-config;
  - /etc/rspamd/local.d/: the normal worker on loopback only, the controller on loopback and
    the tunnel address with a password hash (rspamadm pw), redis for Bayes; a systemd drop-in
    orders rspamd after the tunnel;
  - the pairing file carries the controller address and the plain password; `provision home`
    writes [learn] and the password file, and home.toml passes --check-config;
  - a real rspamd started with the provisioned controller lines learns a message as spam when
    asked with the password from home's file (the counter in redis goes up) and refuses a wrong
    password;
  - a second run changes nothing; `--scanners off` writes no scanner wiring.
"""
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filter_lib  # noqa: E402
import lib  # noqa: E402
from lib import checks, log  # noqa: E402

CLI = lib.CLI_BIN


def provision(args: list[str]) -> str:
    r = subprocess.run([str(CLI), "provision"] + args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        lib.fail(f"splitmail provision {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


def learn(port: int, password: str, message: bytes) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/learnspam", data=message,
                                 headers={"Password": password})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def main() -> None:
    lib.require_binaries(CLI, lib.RELAY_BIN, lib.HOME_BIN)
    if shutil.which("rspamadm") is None:
        lib.fail("rspamadm is not installed (scripts/deps installs rspamd)")
    d = lib.tmpdir("provscan")
    relay_root, home_root = d / "relay", d / "home"
    (relay_root / "etc/clamav").mkdir(parents=True)
    (relay_root / "etc/clamav/clamd.conf").write_text(
        "# clamd.conf\nLocalSocket /run/clamav/test-clamd.ctl\nFixStaleSocket true\n")
    base = ["--root", str(relay_root), "--domain", "example.com", "--hostname", "mx.example.com",
            "--public-ipv4", "198.51.100.25"]
    provision(["relay"] + base + ["--scanners", "on"])

    log("relay.toml and rspamd's local.d")
    toml = (relay_root / "etc/splitmail/relay.toml").read_text()
    checks.ok('[rspamd]\nenabled = true\naddress = "127.0.0.1:11333"' in toml,
              "relay.toml: [rspamd] on, the normal worker on loopback", toml[-400:])
    checks.ok('[clamav]\nenabled = true\naddress = "/run/clamav/test-clamd.ctl"' in toml,
              "relay.toml: [clamav] on clamd.conf's LocalSocket", toml[-400:])
    r = subprocess.run([str(lib.RELAY_BIN), "--config", str(relay_root / "etc/splitmail/relay.toml"),
                        "--check-config"], capture_output=True, text=True, timeout=30)
    checks.eq(r.returncode, 0, f"relay.toml passes --check-config ({r.stderr.strip()})")
    local = relay_root / "etc/rspamd/local.d"
    checks.eq((local / "worker-normal.inc").read_text().count('bind_socket = "127.0.0.1:11333";'), 1,
              "worker-normal: loopback only")
    ctl = (local / "worker-controller.inc").read_text()
    binds = re.findall(r'^bind_socket = "([^"]+)";$', ctl, re.M)
    checks.eq(binds, ["127.0.0.1:11334", "10.8.0.1:11334"], "controller: loopback and the tunnel")
    hashes = re.findall(r'^(?:enable_)?password = "(\$2\$[^"]+)";$', ctl, re.M)
    checks.ok(len(hashes) == 2 and hashes[0] == hashes[1], "controller: one password hash, twice",
              ctl)
    checks.ok('servers = "127.0.0.1";' in (local / "redis.conf").read_text(), "redis.conf")
    dropin = (relay_root / "etc/systemd/system/rspamd.service.d/splitmail.conf").read_text()
    checks.ok("After=wg-quick@wg-smrelay.service" in dropin, "rspamd starts after the tunnel")
    pw_file = relay_root / "etc/splitmail/rspamd-controller.password"
    checks.eq(oct(pw_file.stat().st_mode & 0o777), "0o600", "relay's password file is 0600")
    password = pw_file.read_text().strip()
    checks.ok(password not in ctl, "the plain password is not in rspamd's file")
    pairing = (relay_root / "etc/splitmail/pairing-home.toml").read_text()
    checks.ok(f'rspamd_controller = "10.8.0.1:11334"\nrspamd_password = "{password}"' in pairing,
              "the pairing file carries the controller and its password")

    log("a second run changes nothing")
    again = provision(["relay"] + base + ["--scanners", "on"])
    checks.ok("nothing to do" in again, "second run: nothing to do", again[-600:])

    log("provision home: [learn] and the password file")
    provision(["home", "--root", str(home_root), "--pairing",
               str(relay_root / "etc/splitmail/pairing-home.toml")])
    home_toml = home_root / "etc/splitmail/home.toml"
    text = home_toml.read_text()
    checks.ok('[learn]\nrspamd_controller = "10.8.0.1:11334"\nrspamd_password_file = "' in text,
              "home.toml: [learn] names the controller and the password file", text[-400:])
    home_pw = home_root / "etc/splitmail/rspamd-controller.password"
    checks.eq(home_pw.read_text().strip(), password, "home's password file holds the password")
    r = subprocess.run([str(lib.HOME_BIN), "--config", str(home_toml), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    checks.eq(r.returncode, 0, f"home.toml passes --check-config ({r.stderr.strip()})")

    log("a real rspamd with the provisioned controller lines")
    redis = filter_lib.Redis(d / "redis").start()
    # The test binds its own ports (the tunnel address does not exist here); everything else
    # of the controller file is used as written, and no address is trusted without a password.
    extra = "".join(ln + "\n" for ln in ctl.splitlines()
                    if ln.startswith(("password", "enable_password")))
    extra += 'secure_ip = ["192.0.2.254"];\n'
    rspamd = filter_lib.Rspamd(d / "rspamd", redis=redis.address, controller_extra=extra).start()
    msg = (b"From: <x@sender.test>\r\nSubject: offer\r\n\r\n" +
           b"cheap pills buy now limited offer click here " * 20 + b"\r\n")
    code, body = learn(rspamd.controller_port, "wrong-password-123456", msg)
    checks.ok(code in (401, 403), f"a wrong password is refused ({code} {body[:120]})")
    before = redis.learns("spam")
    code, body = learn(rspamd.controller_port, home_pw.read_text().strip(), msg)
    checks.eq(code, 200, f"home's password learns spam ({body[:120]})")
    lib.wait_until(lambda: redis.learns("spam") > before or None, 20, "the learn counted in redis")
    rspamd.stop()
    redis.stop()

    log("--scanners off writes no scanner wiring")
    off_root = d / "off"
    provision(["relay", "--root", str(off_root), "--domain", "example.com", "--hostname",
               "mx.example.com", "--public-ipv4", "198.51.100.25", "--scanners", "off"])
    off = (off_root / "etc/splitmail/relay.toml").read_text()
    checks.ok("[rspamd]" not in off and "[clamav]" not in off, "off: no [rspamd]/[clamav]")
    checks.ok(not (off_root / "etc/rspamd").exists(), "off: no rspamd files")
    checks.ok("rspamd_" not in (off_root / "etc/splitmail/pairing-home.toml").read_text(),
              "off: the pairing file has no controller")


if __name__ == "__main__":
    lib.run_main(main)
