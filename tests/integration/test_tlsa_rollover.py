"""A TLSA key rollover walked through end to end (issue 19, RFC 7671 8.1 "3 1 1 current + next").

Fixture: `splitmail provision relay --root R` for example.test (self-signed certificate), the
site's [desec] pointed at the fake deSEC (tests/fakes/desec, minimum_ttl 60), splitmail-relay
running from R's relay.toml on loopback ports, and Debian's unbound serving, at every step, the
zone exactly as the fake holds it (test_check.Zone); `splitmail check --only tlsa` asks it.

Steps, and at every one of them the key the running relay presents on STARTTLS (port 25) is
among the TLSA records deSEC holds, which is what a DANE-verifying sender requires:
  0. dns apply publishes the current key's record; check ✓.
  1. `cert rollover --config` makes tls.key.next (0600), nothing else changes; check warns
     "step 1 of 3"; a second run refuses (75) until dns apply has published it.
  2. dns apply publishes both records and records when (tls.key.next.json, TTL 60); check ✓
     "step 2 of 3: switch from"; `cert rollover` refuses (75) before twice the TTL.
  3. Twice the TTL later (the recorded publication moved back 121 s): `cert rollover` switches:
     tls.key is the next key, the certificate is for it, the relay reloads (SIGHUP through its
     pid file) and presents it, the .next files are gone; check warns "step 3 of 3" about the
     old record.
  4. dns apply retires the old record: deSEC holds the new key's record only; check ✓ without
     warnings.
Not here: a DNSSEC-signed zone and a DANE-verifying MTA (Postfix `dane`) as the client; the key
comparison above is what such a client does after validation.
"""
import hashlib
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402
from test_check import Zone, cli, run_check, find  # noqa: E402

sys.path.insert(0, str(lib.SRC / "tests/fakes/desec"))
import harness  # noqa: E402
from fake_desec import FakeDesec  # noqa: E402

DOMAIN = "example.test"
HOST = "mx.example.test"
V4 = "203.0.113.5"
TOKEN = "tok-rollover-Kd82mQ"


def spki_tlsa(der_or_pem: bytes, form: str) -> str:
    """ "3 1 1 <sha256 of the SPKI>" of a certificate (DER or PEM) or a private key (KEY)."""
    if form == "KEY":
        cmd = ["openssl", "pkey", "-pubout", "-outform", "DER"]
    else:
        pub = subprocess.run(["openssl", "x509", "-inform", form, "-pubkey", "-noout"],
                             input=der_or_pem, check=True, capture_output=True).stdout
        der_or_pem = pub
        cmd = ["openssl", "pkey", "-pubin", "-outform", "DER"]
    der = subprocess.run(cmd, input=der_or_pem, check=True, capture_output=True).stdout
    return "3 1 1 " + hashlib.sha256(der).hexdigest()


def presented(port: int) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=10 * lib.SLOW) as s:
        s.ehlo("rollover.test")
        s.starttls(context=ctx)
        der = s.sock.getpeercert(binary_form=True)
    return spki_tlsa(der, "DER")


def main() -> None:
    lib.require_binaries(lib.CLI_BIN, lib.RELAY_BIN)
    d = lib.tmpdir("rollover")
    root = d / "R"
    r = cli(["provision", "relay", "--domain", DOMAIN, "--hostname", HOST, "--public-ipv4", V4,
             "--root", str(root)])
    checks.ok(r.returncode == 0, "provision relay", r.stdout + r.stderr)
    site = root / "etc/splitmail/site.toml"
    relay_toml = root / "etc/splitmail/relay.toml"
    key = root / "etc/splitmail/tls/relay.key"
    cert = root / "etc/splitmail/tls/relay.crt"
    next_key, next_state = Path(str(key) + ".next"), Path(str(key) + ".next.json")
    token_file = root / "etc/splitmail/desec.token"

    ca, server_cert, server_key = harness.make_ca(str(d))
    fake = FakeDesec(server_cert, server_key)
    fake.add_domain(DOMAIN, "alice", minimum_ttl=60)
    fake.add_token(TOKEN, "alice")
    fake.start()
    text = site.read_text()
    for k, v in (("api_url", fake.base_url), ("ca_file", ca), ("token_file", str(token_file)),
                 ("ttl", 60)):
        text, n = re.subn(rf"(?m)^{k} = .*$", f"{k} = {json.dumps(v)}", text)
        checks.ok(n == 1, f"site.toml has {k} once")
    site.write_text(text)
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o600)

    port = lib.free_port()
    text = relay_toml.read_text()
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:25".*$', f'listen = ["127.0.0.1:{port}"]', text)
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:(587|465)".*$',
                  lambda m: f'listen = ["127.0.0.1:{lib.free_port()}"]', text)
    text = re.sub(r'(?m)^lmtp = .*$', f'lmtp = "127.0.0.1:{lib.free_port()}"', text)
    relay_toml.write_text(text)
    relay = lib.Daemon("splitmail-relay", [str(lib.RELAY_BIN), "--config", str(relay_toml)],
                       d / "relay.log").start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", port), 20 * lib.SLOW,
                   "splitmail-relay on port 25's stand-in", daemons=[relay])

    zones = []

    def published() -> list[str]:
        rr = fake.rrsets_of(DOMAIN).get(("_25._tcp.mx", "TLSA"))
        return sorted(rr["records"]) if rr else []

    def serve_zone() -> Zone:
        """unbound answering with what the fake holds now."""
        if zones:
            zones.pop().stop()
        lines = []
        for (sub, rtype), rr in fake.rrsets_of(DOMAIN).items():
            name = f"{sub}.{DOMAIN}." if sub else f"{DOMAIN}."
            for rec in rr["records"]:
                lines.append(f"{name} {rr['ttl']} IN {rtype} {rec}")
        z = Zone(d / f"dns-{len(lines)}-{time.monotonic_ns()}", lines, [])
        zones.append(z)
        return z

    def tlsa_check(what: str, status: str, pattern: str) -> None:
        z = serve_zone()
        rc, doc, raw = run_check(site, "--resolver", f"127.0.0.1:{z.port}", "--only", "tlsa")
        f = find(doc["findings"], "tlsa")
        checks.ok(len(f) == 1 and f[0]["status"] == status and re.search(pattern, f[0]["detail"]),
                  f"{what}: check tlsa is {status} /{pattern}/", raw)
        checks.eq(rc, 0, f"{what}: check exits 0")

    def dane_ok(what: str) -> None:
        key_now = presented(port)
        checks.ok(key_now in published(), f"{what}: the presented key has a TLSA record at deSEC",
                  f"presented {key_now}, published {published()}")

    def apply() -> str:
        r = cli(["dns", "apply", "--site", str(site), "--yes"])
        checks.ok(r.returncode == 0, "dns apply", r.stdout + r.stderr)
        return r.stdout

    def rollover() -> subprocess.CompletedProcess:
        return cli(["cert", "rollover", "--config", str(relay_toml)])

    # ---- 0
    apply()
    current = spki_tlsa(cert.read_bytes(), "PEM")
    checks.eq(published(), [current], "0: deSEC holds the current key's record")
    tlsa_check("0", "ok", r"matches the certificate \(3 1 1 ")
    dane_ok("0")

    # ---- 1
    r = rollover()
    checks.ok(r.returncode == 0 and "step 1 of 3" in r.stdout, "1: cert rollover makes the next key",
              r.stdout + r.stderr)
    checks.eq(oct(next_key.stat().st_mode & 0o777), "0o600", "1: tls.key.next is 0600")
    nxt = spki_tlsa(next_key.read_bytes(), "KEY")
    checks.ok(nxt != current, "1: the next key is another key")
    checks.ok(not next_state.exists(), "1: nothing recorded as published yet")
    tlsa_check("1", "warn", r"step 1 of 3: the next key .* has no TLSA record yet")
    r = rollover()
    checks.ok(r.returncode == 75 and "dns apply" in r.stderr,
              "1: a second rollover waits for dns apply (75)", r.stdout + r.stderr)
    dane_ok("1")

    # ---- 2
    out = apply()
    checks.eq(published(), sorted([current, nxt]), "2: deSEC holds both records")
    checks.ok("key rollover: deSEC holds the TLSA record of the next key" in out,
              "2: dns apply says the next key is published and from when to switch", out)
    state = json.loads(next_state.read_text())
    checks.ok(state["ttl"] == 60 and abs(state["published_at"] - time.time()) < 120,
              "2: publication time and TTL recorded", str(state))
    tlsa_check("2", "ok", r"step 2 of 3: switch from ")
    r = rollover()
    checks.ok(r.returncode == 75 and "switch from" in r.stderr,
              "2: cert rollover refuses before twice the TTL (75)", r.stdout + r.stderr)
    checks.eq(spki_tlsa(cert.read_bytes(), "PEM"), current, "2: the certificate is unchanged")
    dane_ok("2")

    # ---- 3: twice the TTL later
    state["published_at"] -= 121
    next_state.write_text(json.dumps(state))
    tlsa_check("3 (ready)", "ok", r"step 2 of 3: published for twice the TTL, switch now")
    r = rollover()
    checks.ok(r.returncode == 0 and "step 3 of 3" in r.stdout, "3: cert rollover switches",
              r.stdout + r.stderr)
    checks.eq(spki_tlsa(key.read_bytes(), "KEY"), nxt, "3: tls.key is the next key")
    checks.eq(spki_tlsa(cert.read_bytes(), "PEM"), nxt, "3: the certificate is for it")
    checks.ok(not next_key.exists() and not next_state.exists(), "3: the .next files are gone")
    lib.wait_until(lambda: presented(port) == nxt, 10 * lib.SLOW,
                   "the relay presents the new key (reloaded)", daemons=[relay])
    checks.ok(relay.proc.poll() is None, "3: the relay reloaded in place (still running)")
    tlsa_check("3", "warn", r"step 3 of 3 retires it")
    dane_ok("3")

    # ---- 4
    apply()
    checks.eq(published(), [nxt], "4: deSEC holds the new key's record only")
    tlsa_check("4", "ok", r"matches the certificate \(3 1 1 ")
    dane_ok("4")

    for z in zones:
        z.stop()
    checks.eq(relay.stop(), 0, "splitmail-relay exits 0")
    fake.stop()


if __name__ == "__main__":
    lib.run_main(main)
