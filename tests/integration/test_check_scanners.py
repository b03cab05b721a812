"""`splitmail check --only scanners` (issue 18) against a REAL rspamd and a REAL clamd.

Fixture: `splitmail provision relay --root R`; relay.toml gets [rspamd] and [clamav] sections
pointing at the scanners of filter_lib (rspamd's normal worker on a loopback port, clamd on a
unix socket in the temp dir). Nothing else of `check` runs (--only scanners), so no DNS, no
relay daemon.

1. Both answer: exit 0; rspamd ✓ "rspamd <version> answers on ADDR"; clamd answers with its
   engine version. The test's clamd loads only a local .ndb signature, so its VERSION carries no
   daily database version or date ("ClamAV 1.4.6"): check reports that as a warning saying
   almost no virus is recognised and how to install the signatures (still exit 0).
2. A fake clamd (python) answering VERSION with a database 10 days old → ! "10 days old" with
   the freshclam fix; 2 days old → ✓ "signatures N of DATE (2 days old)".
3. clamd stopped → ✗ "clamd does not answer" with `systemctl start clamav-daemon`, the
   consequence of clamav.on_failure (accept: accepted unscanned; tempfail: 451), exit 1.
4. rspamd.address on a port nothing listens on → ✗ with `systemctl start rspamd`.
5. A scanner that accepts and never answers (filter_lib.HungScanner) as rspamd and as clamd →
   ✗ "no answer within 5 s", and check returns in < 15 s.
6. rspamd.address pointed at a clamd TCP port / clamav at rspamd: ✗ (not what we expect).
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filter_lib  # noqa: E402
import lib  # noqa: E402
from lib import checks  # noqa: E402


def cli(argv, timeout=60):
    return subprocess.run([str(lib.CLI_BIN), *argv], capture_output=True, text=True,
                          timeout=timeout * lib.SLOW)


def run_scanners(site: Path, relay_toml: Path, base: str, rspamd: str | None,
                 clamav: str | None, rspamd_fail="accept", clamav_fail="accept"):
    """Writes relay.toml = base + scanner sections; runs check --only scanners in text and JSON.
    Returns (exit status, findings, text output, seconds taken by the text run)."""
    text = base
    if rspamd is not None:
        text += (f'\n[rspamd]\nenabled = true\naddress = "{rspamd}"\n'
                 f'on_failure = "{rspamd_fail}"\n')
    if clamav is not None:
        text += (f'\n[clamav]\nenabled = true\naddress = "{clamav}"\n'
                 f'on_failure = "{clamav_fail}"\n')
    relay_toml.write_text(text)
    t0 = time.monotonic()
    r = cli(["check", "--site", str(site), "--only", "scanners"])
    took = time.monotonic() - t0
    j = cli(["check", "--site", str(site), "--only", "scanners", "--json"])
    try:
        doc = json.loads(j.stdout)
    except json.JSONDecodeError:
        lib.fail(f"check --json printed no JSON (exit {j.returncode}):\n{j.stdout}{j.stderr}")
    checks.eq(j.returncode, r.returncode, "text and --json runs exit alike")
    return r.returncode, doc["findings"], r.stdout + r.stderr, took


def one(findings, pattern):
    hits = [f for f in findings if f["check"] == "scanners" and re.search(pattern, f["detail"])]
    return hits[0] if len(hits) == 1 else None


class FakeClamd:
    """Answers every connection's zVERSION with `answer` + NUL (a clamd with a daily database
    of a chosen date, which the test cannot make the real clamd load)."""

    def __init__(self, answer: str):
        self.answer = answer.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.commands: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\0" not in data:
                        b = c.recv(64)
                        if not b:
                            break
                        data += b
                    self.commands.append(data)
                    c.sendall(self.answer + b"\0")
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def main() -> None:
    lib.require_binaries(lib.CLI_BIN)
    d = lib.tmpdir("check_scanners")
    root = d / "relay"
    r = cli(["provision", "relay", "--domain", "example.test", "--hostname", "mx.example.test",
             "--public-ipv4", "203.0.113.5", "--root", str(root)])
    checks.ok(r.returncode == 0, "provision relay --root writes the fixture", r.stdout + r.stderr)
    site = root / "etc/splitmail/site.toml"
    relay_toml = root / "etc/splitmail/relay.toml"
    base = relay_toml.read_text()

    rspamd = filter_lib.Rspamd(d / "rspamd").start()
    clamd = filter_lib.Clamd(d / "clamd").start()

    lib.log("1. both scanners answer")
    rc, f, out, _ = run_scanners(site, relay_toml, base, rspamd.address, clamd.address)
    print(out, end="", flush=True)
    checks.eq(rc, 0, "check --only scanners exits 0 with both scanners up")
    rs = one(f, r"^rspamd .*answers on " + re.escape(rspamd.address))
    checks.ok(rs is not None and rs["status"] == "ok", "rspamd: ✓ answers on its address", out)
    checks.ok(re.search(r"✓ scanners +rspamd( [0-9][^ ]*)? answers on " +
                        re.escape(rspamd.address), out) is not None,
              "the text output has the ✓ rspamd line", out)
    cl = one(f, r"^clamd [0-9.]+ answers on " + re.escape(clamd.address))
    checks.ok(cl is not None, "clamd: answers, with its engine version", out)
    # The test database is one local .ndb: clamd reports no daily version, which we flag.
    checks.ok(cl is not None and cl["status"] == "warn" and
              "no signature database version" in cl["detail"] and "freshclam" in cl["fix"],
              "clamd with only local signatures: ! with how to install the signatures", out)
    checks.ok(len(f) == 2 and {x["check"] for x in f} == {"scanners"},
              "--only scanners reports exactly the two scanners", json.dumps(f))

    lib.log("2. clamd's database date (a fake clamd)")
    now = time.time()
    for days, status in ((10, "warn"), (2, "ok")):
        stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(now - days * 86400 - 600))
        fake = FakeClamd(f"ClamAV 1.0.7/27480/{stamp}")
        rc, f, out, _ = run_scanners(site, relay_toml, base, None, fake.address)
        fake.close()
        x = one(f, r"^clamd 1\.0\.7 ")
        checks.ok(fake.commands[:1] == [b"zVERSION\0"], "check sends zVERSION\\0 to clamd",
                  repr(fake.commands))
        checks.ok(x is not None and x["status"] == status and
                  f"signatures 27480 of " in x["detail"] and f"{days} days old" in x["detail"],
                  f"a database {days} days old: {status}", out)
        if status == "warn":
            checks.ok("systemctl status clamav-freshclam" in x["fix"] and rc == 0,
                      "the stale database's fix names clamav-freshclam; a warning exits 0", out)
        else:
            checks.ok(rc == 0 and "✓ scanners" in out, "a fresh database: ✓, exit 0", out)

    lib.log("3. clamd stopped")
    clamd.stop()
    for policy, consequence in (("accept", "accepted unscanned meanwhile"),
                                ("tempfail", "refused with 451 4.7.1 meanwhile")):
        rc, f, out, _ = run_scanners(site, relay_toml, base, rspamd.address, clamd.address,
                                     clamav_fail=policy)
        checks.eq(rc, 1, f"clamd stopped (on_failure = {policy}): exit 1")
        x = one(f, r"^clamd does not answer on " + re.escape(clamd.address))
        checks.ok(x is not None and x["status"] == "fail" and consequence in x["detail"] and
                  f"clamav.on_failure = {policy}" in x["detail"] and
                  "systemctl start clamav-daemon" in x["fix"],
                  f"clamd stopped: ✗ with its consequence ({policy}) and the fix", out)
        checks.ok("✗ scanners" in out and "fix: start it (systemctl start clamav-daemon" in out,
                  "the text output shows ✗ and the fix line", out)
        checks.ok(one(f, r"^rspamd ") is not None and one(f, r"^rspamd ")["status"] == "ok",
                  "rspamd is still ✓", out)

    lib.log("4. rspamd on a port nothing listens on")
    dead = f"127.0.0.1:{lib.free_port()}"
    rc, f, out, _ = run_scanners(site, relay_toml, base, dead, None)
    x = one(f, r"^rspamd does not answer on " + re.escape(dead))
    checks.ok(rc == 1 and x is not None and x["status"] == "fail" and
              "accepted unchecked meanwhile" in x["detail"] and
              "rspamd.on_failure = accept" in x["detail"] and
              "systemctl start rspamd" in x["fix"] and "rspamd.address" in x["fix"],
              "rspamd unreachable: ✗ with the consequence and the fix, exit 1", out)

    lib.log("5. scanners that accept and never answer")
    hung = filter_lib.HungScanner()
    try:
        for which in ("rspamd", "clamd"):
            rc, f, out, took = run_scanners(site, relay_toml, base,
                                            hung.address if which == "rspamd" else None,
                                            hung.address if which == "clamd" else None,
                                            rspamd_fail="tempfail", clamav_fail="tempfail")
            x = one(f, rf"^{which} does not answer on " + re.escape(hung.address))
            checks.ok(rc == 1 and x is not None and "no answer within 5 s" in x["detail"] and
                      "451 4.7.1" in x["detail"],
                      f"a hung {which}: ✗ no answer within 5 s (tempfail consequence)", out)
            checks.ok(took < 15, f"a hung {which} does not hang check ({took:.1f} s < 15 s)")
        checks.ok(hung.connections >= 4, "the hung scanner was really connected to",
                  str(hung.connections))
    finally:
        hung.close()

    lib.log("6. the wrong daemon on the address")
    rc, f, out, _ = run_scanners(site, relay_toml, base, None, rspamd.address)
    print(out, end="", flush=True)
    x = one(f, r"^clamd does not answer on ")
    checks.ok(rc == 1 and x is not None, "clamav.address naming rspamd: ✗", out)

    rspamd.stop()
    checks.summary()


if __name__ == "__main__":
    lib.run_main(main)
