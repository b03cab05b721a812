#!/usr/bin/python3
"""The messages a new administrator met (issue 16 bug 9), each as the program prints it.

Files in a temp dir and short-lived processes on loopback only; no daemon keeps running.
1. Every `splitmail` command and subcommand answers `--help` and `-h`: exit 0, usage on stdout,
   nothing on stderr (`splitmail user --help` was "unknown option --help", exit 2).
2. A typo in site.toml: `check` names the key, the line and the key meant
   (was "fix: fix …/site.toml"); a bad value names key and line; a TOML syntax error the line.
3. `provision relay --public-ipv4 10.250.1.5` warns that the address is private (exit 0);
   a public address gets no warning.
4. Home: `check --only tls` on a self-signed IMAP certificate says what it means for mail
   clients, not "fine for MX traffic on port 25 (the TLSA record …)".
5. Home with its LMTP on a tunnel address this machine does not have (tunnel down):
   `check --only listeners` says the tunnel interface is not up and suggests
   `systemctl start wg-quick@IF`, never `systemctl restart splitmail-home`;
   splitmail-home itself fails to start with "Cannot assign requested address" explained
   (tunnel interface not up / address not configured).
"""
import re
import random
import subprocess

import lib
from lib import CLI_BIN, HOME_BIN, checks

TUNNEL_ADDR = "10.213.77.9"  # an address no interface of a test machine has


def cli(args, timeout=120):
    r = lib.run_tool([str(CLI_BIN), *args], timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def main():
    lib.require_binaries(CLI_BIN, HOME_BIN, lib.RELAY_BIN, lib.BIN / "ddns" / "splitmail-ddns")
    d = lib.tmpdir("cli-messages")

    # 1. --help everywhere
    commands = [["queue"], ["queue", "list"], ["queue", "show"], ["queue", "flush"],
                ["user"], ["user", "add"], ["user", "del"], ["user", "passwd"], ["user", "list"],
                ["alias"], ["alias", "add"], ["alias", "del"], ["alias", "list"],
                ["dkim"], ["dkim", "keygen"], ["dns"], ["dns", "plan"], ["dns", "apply"],
                ["dns", "export"], ["check"], ["provision"], ["provision", "relay"],
                ["provision", "home"], []]
    bad = []
    for c in commands:
        for flag in ("--help", "-h"):
            rc, out, err = cli(c + [flag])
            if rc != 0 or "usage" not in out.lower() or err:
                bad.append(f"splitmail {' '.join(c + [flag])}: exit {rc}, stdout {out[:60]!r}, "
                           f"stderr {err[:80]!r}")
    for prog in (lib.RELAY_BIN, HOME_BIN, lib.BIN / "ddns" / "splitmail-ddns"):
        for flag in ("--help", "-h"):
            r = subprocess.run([str(prog), flag], capture_output=True, text=True, timeout=30)
            if r.returncode != 0 or "usage" not in r.stdout.lower():
                bad.append(f"{prog.name} {flag}: exit {r.returncode}, stdout {r.stdout[:60]!r}")
    checks.ok(not bad, "every command (and the daemons) answers --help and -h (exit 0, usage "
              "on stdout)", "\n       ".join(bad))

    # 2. site.toml typos
    root = d / "relay"
    rc, out, err = cli(["provision", "relay", "--domain", "example.test", "--hostname",
                        "mx.example.test", "--public-ipv4", "93.184.216.34", "--root", str(root)])
    checks.eq(rc, 0, "provision relay --root (public address)")
    checks.ok("warning" not in err, "a public --public-ipv4 gets no warning", err)
    site = root / "etc/splitmail/site.toml"
    text = site.read_text()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("hostname = "))
    typo = d / "typo.toml"
    typo.write_text(text.replace("\nhostname = ", "\nhostnme = ", 1))
    rc, out, err = cli(["check", "--site", str(typo)])
    checks.ok(rc == 1 and "site.hostnme" in out and f"line {line}" in out and
              "did you mean site.hostname" in out and
              re.search(r"fix: correct site\.hostnme in .* at line %d" % line, out),
              "a misspelt key in site.toml: check names the key, the line and the key meant", out)
    ttl_line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("ttl = "))
    badval = d / "badval.toml"
    badval.write_text(re.sub(r"(?m)^ttl = .*$", "ttl = 5", text))
    rc, out, err = cli(["check", "--site", str(badval)])
    checks.ok(rc == 1 and "dns.ttl" in out and f"at line {ttl_line}" in out,
              "a bad value in site.toml: the fix names the key and its line", out)
    syntax = d / "syntax.toml"
    syntax.write_text(text.replace("\nhostname = \"", "\nhostname = \"\n", 1))
    rc, out, err = cli(["check", "--site", str(syntax)])
    checks.ok(rc == 1 and f"fix the TOML syntax at line {line}" in out,
              "a TOML syntax error: the fix names the line", out)

    # 3. private --public-ipv4
    rc, out, err = cli(["provision", "relay", "--domain", "example.test", "--hostname",
                        "mx.example.test", "--public-ipv4", "10.250.1.5",
                        "--root", str(d / "relay-private")])
    checks.ok(rc == 0 and "10.250.1.5" in err and "private" in err and "warning" in err,
              "provision relay --public-ipv4 10.250.1.5 warns that it is private", err)

    # 4. and 5. a home machine
    home = d / "home"
    home.mkdir()
    cert, key = lib.make_cert(home, "imap", "home.example.test")
    users = home / "users"
    users.write_text("")
    # The LMTP port on the foreign address is never bound: a port of the ephemeral range, where
    # some sandboxes' egress interception does not answer in place of the missing address.
    lmtp_port, imaps_port = random.randrange(33000, 60000), lib.free_port()
    cfg = home / "home.toml"
    cfg.write_text(f'[home]\ndomains = ["example.test"]\n'
                   f'[lmtp]\nlisten = ["{TUNNEL_ADDR}:{lmtp_port}"]\n'
                   f'[users]\nfile = "{users}"\n[maildir]\nroot = "{home / "mail"}"\n'
                   f'[imap]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
                   f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    hsite = home / "site.toml"
    hsite.write_text('[site]\ndomains = ["example.test"]\nhostname = "mx.example.test"\n'
                     f'imap_host = "home.example.test"\nrelay_config = ""\n'
                     f'home_config = "{cfg}"\n[wireguard]\ninterface = "wg-smhome"\n')
    rc, out, err = cli(["check", "--site", str(hsite), "--only", "tls"])
    self_signed = [l for l in out.splitlines() if "self-signed" in l]
    checks.ok(self_signed and all("port 25" not in l and "TLSA" not in l and
                                  "mail clients" in l for l in self_signed),
              "home: a self-signed IMAP certificate is explained for mail clients, not port 25",
              out)
    rc, out, err = cli(["check", "--site", str(hsite), "--only", "listeners"])
    lmtp = out.split(f"lmtp.listen {TUNNEL_ADDR}:{lmtp_port}", 1)[-1].split("\n\u2717", 1)[0]
    checks.ok(rc == 1 and "not an address of this machine" in lmtp and
              "tunnel interface wg-smhome" in lmtp and "systemctl start wg-quick@wg-smhome" in lmtp
              and "restart splitmail-home" not in lmtp,
              "home: LMTP on a missing tunnel address → 'tunnel not up', no restart suggestion",
              out)
    r = subprocess.run([str(HOME_BIN), "--config", str(cfg)], capture_output=True, text=True,
                       timeout=30 * lib.SLOW)
    log = r.stdout + r.stderr
    checks.ok(r.returncode != 0 and "Cannot assign requested address" in log and
              "tunnel interface is not up" in log and "wg-quick@wg-smhome" in log,
              "splitmail-home on a missing tunnel address explains the tunnel is not up",
              f"exit {r.returncode}\n{log[-800:]}")
    checks.ok(lib.sanitizer_report_in(log) == "", "no sanitizer report from splitmail-home", log)


lib.run_main(main)
