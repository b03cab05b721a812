#!/usr/bin/python3
"""What README.md and docs/ must tell a new administrator, checked against the code
(issue 16 bugs 1 and 10). No daemons; `provision relay --root` in a temp dir.

1. README names the deSEC token file of both machines (relay: `dns apply`; home:
   splitmail-ddns) with its path, owner and mode, and what happens without it.
2. One name for the API URL: site.toml and ddns.toml both have `desec.api_url` (from the
   programs' own tables, `--print-config-doc`); the docs use no other name except to call
   `desec.api` deprecated.
3. The spool mode the docs give is the mode `provision relay` makes.
4. After a new certificate: relay `reload` (SIGHUP re-reads it), home `restart` (its SIGHUP
   reloads only users) — in the docs, and in the code of both SIGHUP handlers.
5. `_imaps._tcp` is described as published only with `site.imap_host` / `--imap-host`.
6. How mail clients reach IMAP at home: port 993, the router's port forward, the name
   splitmail-ddns keeps, client settings.
"""
import os
import re
import stat
import subprocess

import lib
from lib import BIN, CLI_BIN, SRC, checks


def main():
    lib.require_binaries(CLI_BIN, BIN / "ddns" / "splitmail-ddns")
    readme = (SRC / "README.md").read_text()
    ops = (SRC / "docs" / "operations.md").read_text()
    docs = readme + ops + (SRC / "docs" / "ddns.md").read_text()

    # 1. token files
    token = "/etc/splitmail/desec.token"
    checks.ok(token in readme and "dns apply" in readme and "splitmail-ddns" in readme,
              "README names the token file and both of its users (dns apply, splitmail-ddns)")
    table = [l for l in readme.splitlines() if l.startswith("| relay") or l.startswith("| home")]
    checks.ok(any("dns apply" in l and "root" in l for l in table) and
              any("splitmail-ddns" in l for l in table) and "0600" in readme,
              "README gives owner (root / splitmail-ddns) and mode 0600 per machine",
              "\n".join(table))
    checks.ok("No such file or directory" in readme and "78" in readme,
              "README says what happens without the token (dns apply error, ddns exit 78)")

    # 2. the API URL key
    site_doc = subprocess.run([str(CLI_BIN), "--print-config-doc"], capture_output=True,
                              text=True).stdout
    ddns_doc = subprocess.run([str(BIN / "ddns" / "splitmail-ddns"), "--print-config-doc"],
                              capture_output=True, text=True).stdout
    checks.ok("`desec.api_url`" in site_doc and "`desec.api_url`" in ddns_doc,
              "site.toml and ddns.toml both name the API URL desec.api_url")
    old = [l for l in (docs + site_doc).splitlines()
           if re.search(r"desec\.api\b(?!_url)", l) and "eprecated" not in l
           and "old name" not in l]
    checks.ok(not old, "no doc calls it desec.api (except as the deprecated name)",
              "\n".join(old))

    # 3. spool mode
    d = lib.tmpdir("docs")
    r = lib.run_tool([str(CLI_BIN), "provision", "relay", "--domain", "example.test",
                      "--hostname", "mx.example.test", "--public-ipv4", "93.184.216.34",
                      "--root", str(d / "root")])
    checks.eq(r.returncode, 0, "provision relay --root")
    mode = "%04o" % stat.S_IMODE(os.stat(d / "root/var/spool/splitmail").st_mode)
    said = re.findall(r"spool `/var/spool/splitmail` \(owner\s+`splitmail`,\s+(?:mode\s+)?(0\d{3})",
                      ops)
    checks.ok(said and all(m == mode for m in said),
              f"operations.md gives the spool mode provision makes ({mode})", f"{said}")

    # 4. reload vs restart, docs and code
    relay_svc = (SRC / "relay/service.cpp").read_text()
    home_svc = (SRC / "homeserver/service.cpp").read_text()
    hup_relay = relay_svc[relay_svc.find("arm_hup"):][:1500]
    hup_home = home_svc[home_svc.find("arm_hup = "):][:600]
    hup_home = home_svc[home_svc.find("arm_hup = "):][:1500]
    checks.ok("make_server_tls" in hup_relay and "make_server_tls" in hup_home,
              "code: relay's and home's SIGHUP re-read the certificate")
    checks.ok("systemctl reload splitmail-relay" in ops and
              re.search(r"IMAP certificate, home \| `systemctl reload splitmail-home`", ops)
              and not re.search(r"IMAP certificate.*systemctl restart splitmail-home", ops),
              "docs: reload (not restart) the relay and home after a new certificate")

    # 5. _imaps._tcp only with imap_host
    checks.ok(re.search(r"_imaps\._tcp`[^.]*(only )?(when|with)[^.]*imap.host", readme + ops)
              or re.search(r"when `site\.imap_host` is set[^.]*`_imaps\._tcp`", ops),
              "docs: _imaps._tcp is published only with site.imap_host")

    # 6. IMAP at home for mail clients
    checks.ok("993" in readme and re.search(r"forward (TCP )?993", readme) and
              "splitmail-ddns keeps" in readme and "SSL/TLS" in readme,
              "README: how mail clients reach IMAP at home (993, port forward, ddns name)")


lib.run_main(main)
