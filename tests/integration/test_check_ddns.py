#!/usr/bin/python3
"""`splitmail check` on the home looks at the DDNS records (issue 16 bug 7).

Before: on a home machine check ignored the names splitmail-ddns keeps current. Fixture:
`splitmail provision relay --root R` for example.test, then `splitmail provision home --root H`
with its pairing file: H holds home.toml and, next to it, ddns.toml (zone example.test, name
"home", both families, state file H/var/lib/splitmail-ddns/state.json). Debian's unbound serves
the zone (test_check.Zone); `check --only ddns --resolver` asks it.
1. No state file (the agent never ran): ✗ ddns "not published yet" naming
   `systemctl enable --now splitmail-ddns`, exit 1.
2. The state says the agent published A 203.0.113.7 and the zone has it: ✓ for A; AAAA was never
   published (no IPv6 at home) → ! with the ddns.families fix; exit 0.
3. The zone answers another address: ✗ "resolves to 198.51.100.9, but splitmail-ddns last
   published 203.0.113.7" with `journalctl -u splitmail-ddns`, exit 1; the last error the state
   records is named.
4. ddns.toml with an unknown key: ✗ config naming the key and the line; the text output of a
   whole home check lists a ddns line.
"""
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402
from test_check import DOMAIN, Zone, cli, find, run_check  # noqa: E402

HOME = f"home.{DOMAIN}"
PUBLISHED, OTHER = "203.0.113.7", "198.51.100.9"


def main() -> None:
    lib.require_binaries(lib.CLI_BIN)
    d = lib.tmpdir("check-ddns")
    relay_root, home_root = d / "relay", d / "home"
    r = cli(["provision", "relay", "--domain", DOMAIN, "--hostname", f"mx.{DOMAIN}",
             "--public-ipv4", "203.0.113.5", "--root", str(relay_root)])
    checks.ok(r.returncode == 0, "splitmail provision relay", r.stdout + r.stderr)
    r = cli(["provision", "home", "--pairing",
             str(relay_root / "etc/splitmail/pairing-home.toml"), "--root", str(home_root)])
    checks.ok(r.returncode == 0, "splitmail provision home", r.stdout + r.stderr)
    site = home_root / "etc/splitmail/site.toml"
    ddns_toml = home_root / "etc/splitmail/ddns.toml"
    text = ddns_toml.read_text()
    checks.ok(f'domain = "{DOMAIN}"' in text and 'names = ["home"]' in text,
              "ddns.toml keeps home.example.test current", text)
    state = Path(re.search(r'(?m)^state_file = "(.*)"$', text).group(1))
    checks.ok(not state.exists(), "no state file yet")

    def ddns(zone: Zone):
        rc, doc, raw = run_check(site, "--only", "ddns", "--resolver", f"127.0.0.1:{zone.port}")
        return rc, doc["findings"], raw

    # 1. the agent never ran
    zone = Zone(d / "dns-none", [], [])
    rc, f, raw = ddns(zone)
    a = find(f, "ddns", rf"^A {re.escape(HOME)}")
    checks.ok(rc == 1 and len(a) == 1 and a[0]["status"] == "fail" and
              "not published yet" in a[0]["detail"] and
              "systemctl enable --now splitmail-ddns" in a[0]["fix"],
              "no state: ✗ ddns not published yet, with how to start the agent", raw)
    zone.stop()

    # 2. the agent published A; the zone has it
    state.write_text(json.dumps({"version": 1, "domain": DOMAIN,
                                 "published": {"home/A": [PUBLISHED]}}))
    zone = Zone(d / "dns-good", [f"{HOME}. 60 IN A {PUBLISHED}"], [])
    rc, f, raw = ddns(zone)
    a, aaaa = find(f, "ddns", r"^A "), find(f, "ddns", r"^AAAA ")
    checks.ok(rc == 0 and len(a) == 1 and a[0]["status"] == "ok" and
              f"{HOME} is {PUBLISHED}, as splitmail-ddns last published" in a[0]["detail"],
              "✓ ddns: A record as last published", raw)
    checks.ok(len(aaaa) == 1 and aaaa[0]["status"] == "warn" and
              'ddns.families = "ipv4"' in aaaa[0]["fix"],
              "! ddns: AAAA never published, fix names ddns.families", raw)
    zone.stop()

    # 3. DNS answers another address; the agent's last error is in its state
    state.write_text(json.dumps({"version": 1, "domain": DOMAIN,
                                 "published": {"home/A": [PUBLISHED]},
                                 "last_error": "updating the records failed: HTTP 503",
                                 "last_error_ms": int(time.time() - 120) * 1000}))
    zone = Zone(d / "dns-stale", [f"{HOME}. 60 IN A {OTHER}"], [])
    rc, f, raw = ddns(zone)
    a = find(f, "ddns", r"^A ")
    checks.ok(rc == 1 and len(a) == 1 and a[0]["status"] == "fail" and
              f"resolves to {OTHER}, but splitmail-ddns last published {PUBLISHED}"
              in a[0]["detail"] and "journalctl -u splitmail-ddns" in a[0]["fix"],
              "✗ ddns: another address, fix names the agent's journal", raw)
    checks.ok("last error (2 min ago): updating the records failed: HTTP 503" in a[0]["detail"],
              "✗ ddns: the agent's last error from its state file is named", raw)
    r = cli(["check", "--site", str(site), "--resolver", f"127.0.0.1:{zone.port}"])
    checks.ok("\u2717 ddns" in r.stdout and "fix: " in r.stdout,
              "text mode of a whole home check has a ✗ ddns line with its fix", r.stdout)

    # 4. a ddns.toml the agent would refuse is a config finding naming key and line
    checks.ok("[ddns]\n" in text, "ddns.toml has a [ddns] table")
    ddns_toml.write_text(text.replace("[ddns]\n", "[ddns]\nnmaes = []\n"))
    rc, doc, raw = run_check(site, "--only", "ddns", "--resolver", f"127.0.0.1:{zone.port}")
    cfg = find(doc["findings"], "config", r"ddns\.nmaes")
    line = text.splitlines().index("[ddns]") + 2
    checks.ok(rc == 1 and len(cfg) == 1 and str(ddns_toml) in cfg[0]["detail"] and
              f"correct ddns.nmaes in {ddns_toml} at line {line}" in cfg[0]["fix"] and
              not find(doc["findings"], "ddns"),
              "a bad ddns.toml: ✗ config naming the file, key and line", raw)
    ddns_toml.write_text(text)
    zone.stop()


if __name__ == "__main__":
    lib.run_main(main)
