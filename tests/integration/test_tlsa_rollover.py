"""A TLSA key rollover walked through end to end (issue 19, RFC 7671 8.1 "3 1 1 current + next").

Fixture: `splitmail provision relay --root R` for example.test (self-signed certificate), the
site's [desec] pointed at the fake deSEC (tests/fakes/desec, minimum_ttl 60), splitmail-relay
running from R's relay.toml (in a network namespace, see below), and Debian's unbound serving,
at every step, the zone exactly as the fake holds it (test_check.Zone); `splitmail check --only
tlsa` asks it.

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

A real DANE client at every step (RFC 7672): the relay runs in a network namespace the test
creates (sm<pid>-dane), listening on 0.0.0.0:25 there, with 203.0.113.5 (the relay's provisioned
public IPv4, its A record) on the namespace's loopback, so the TLSA name Postfix looks up is the
real one, _25._tcp.mx.example.test, and no copy of the record at another port is needed. At each
step the zone exactly as deSEC holds it (plus SOA and NS) is signed with ldns-signzone (KSK + ZSK
from ldns-keygen, made once) and served inside the namespace by an authoritative unbound
(auth-zone, 127.0.0.1:5300) behind a validating unbound (127.0.0.1:53, module-config "validator
iterator", the KSK's DS as trust anchor, stub-zone to the authoritative one); both restart at
every step, so no cache holds an older TLSA RRset. drill shows the validated answer (AD) is the
set deSEC holds. A throwaway Postfix (`postfix -c DIR start-fg` in the namespace, whose
/etc/resolv.conf is /etc/netns/sm<pid>-dane/resolv.conf: the validating unbound, trust-ad) with
`smtp_tls_security_level = dane` and `smtp_dns_support_level = dnssec` sends one message per step
to postmaster@example.test by MX; its log must show "Verified TLS connection established to
mx.example.test[203.0.113.5]:25" for that delivery and status=sent, and the message must be in
the relay's spool (home is not running: the relay keeps it; its recipient list is seeded as the
on-disk copy it keeps of home's list). "Verified" also rules out a silent fallback: without a
validated (AD) TLSA RRset Postfix's `dane` level would send with unauthenticated TLS.
Postfix runs with max_use = 1: its smtp(8) processes cache TLSA RRsets for their TTL, and step 3
moves the rollover's clock back instead of waiting twice the TTL, so a long-lived process would
still hold step 0's RRset (current key only) and rightly refuse the new key (the first run of
this test showed exactly that: "no matching DANE TLSA records" at step 3). In real time the
wait of step 2 is what lets such caches expire.
Negative control, after step 4: the zone served with the TLSA digest altered (still validly
signed, AD): Postfix defers the message ("Server certificate not verified", after "no matching
DANE TLSA records") and it never reaches the relay; with the zone as deSEC holds it again, a
flush delivers it, verified.
`splitmail check --only tlsa` asks a plain (unsigned) copy on the host's loopback, as before.
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
import netns_lib  # noqa: E402
import dane_lib  # noqa: E402
from lib import checks  # noqa: E402
from test_check import Zone, cli, run_check, find  # noqa: E402

sys.path.insert(0, str(lib.SRC / "tests/fakes/desec"))
import harness  # noqa: E402
from fake_desec import FakeDesec  # noqa: E402

DOMAIN = "example.test"
HOST = "mx.example.test"
V4 = "203.0.113.5"
TOKEN = "tok-rollover-Kd82mQ"
RCPT = f"postmaster@{DOMAIN}"
SENDER = "dane@sender.test"


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


def presented(ns: netns_lib.Namespace) -> str:
    """The key the relay presents on STARTTLS on port 25 inside the namespace."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with ns.entered():
        with smtplib.SMTP(V4, 25, timeout=10 * lib.SLOW) as s:
            s.ehlo("rollover.test")
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
    return spki_tlsa(der, "DER")


def seed_recipients(spool: Path) -> None:
    """The relay's on-disk copy of home's recipient list (relay/recipients/directory.hpp): home
    is not running in this test, and the relay validates RCPT against that copy."""
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "recipients.json").write_text(json.dumps({
        "version": "rollover-seed", "delimiter": "+", "fetched_at": int(time.time()),
        "domains": [DOMAIN], "catchall": [], "recipients": [RCPT]}) + "\n")


def in_spool(spool: Path, marker: str) -> list[Path]:
    """Message files of the relay's spool that hold `marker`."""
    out = []
    for f in spool.rglob("*"):
        if f.is_file() and f.name != "recipients.json":
            try:
                if marker.encode() in f.read_bytes():
                    out.append(f)
            except OSError:
                pass
    return out


def main() -> None:
    lib.require_binaries(lib.CLI_BIN, lib.RELAY_BIN)
    dane_lib.require_tools()
    if os.geteuid() != 0:
        lib.fail("the DANE part needs a network namespace: run the test as root")
    netns_lib.sweep_stale()
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

    # The relay in its own namespace, on the real port 25 of its public address (on the
    # namespace's loopback), where Postfix finds it by MX and A.
    ns = netns_lib.Namespace("dane")
    ns.ip("addr", "add", f"{V4}/32", "dev", "lo")
    dane_lib.resolv_conf(ns)
    text = relay_toml.read_text()
    text, n = re.subn(r'(?m)^listen = \["0\.0\.0\.0:25".*$', 'listen = ["0.0.0.0:25"]', text)
    checks.ok(n == 1, "relay.toml listens on 0.0.0.0:25")
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:(587|465)".*$',
                  lambda m: f'listen = ["127.0.0.1:{m.group(1)}"]', text)
    text = re.sub(r'(?m)^lmtp = .*$', 'lmtp = "127.0.0.1:24"', text)  # home: not running
    relay_toml.write_text(text)
    spool = Path(re.search(r'(?m)^dir = "([^"]*spool[^"]*)"', text).group(1))
    seed_recipients(spool)
    relay = ns.daemon("splitmail-relay", [str(lib.RELAY_BIN), "--config", str(relay_toml)],
                      d / "relay.log").start()
    lib.wait_until(lambda: ns.tcp_connects(V4, 25), 20 * lib.SLOW,
                   f"splitmail-relay on {V4}:25 in {ns.name}", daemons=[relay])

    signed = dane_lib.SignedZone(ns, d / "dnssec", DOMAIN)
    postfix = dane_lib.DaneSender(ns, d / "postfix", 10025, f"ns:{DOMAIN}")

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

    def serve_signed(tag: str, tlsa: list[str] | None = None) -> None:
        """The signed zone as deSEC holds it (or with `tlsa` as the TLSA RRset instead)."""
        lines = []
        for (sub, rtype), rr in fake.rrsets_of(DOMAIN).items():
            name = f"{sub}.{DOMAIN}." if sub else f"{DOMAIN}."
            recs = tlsa if (tlsa is not None and (sub, rtype) == ("_25._tcp.mx", "TLSA")) \
                else rr["records"]
            lines += [f"{name} {rr['ttl']} IN {rtype} {rec}" for rec in recs]
        signed.serve(lines, tag)
        want = sorted(tlsa if tlsa is not None else published())
        rcode, ad, got = signed.query(f"_25._tcp.{HOST}.", "TLSA")
        checks.ok(rcode == "NOERROR" and ad and sorted(got) == want,
                  f"{tag}: the validating resolver answers the TLSA RRset with AD, as served",
                  f"rcode {rcode} ad {ad} got {got} want {want}")
        for name, rtype in ((f"{DOMAIN}.", "MX"), (f"{HOST}.", "A")):
            rcode, ad, got = signed.query(name, rtype)
            checks.ok(rcode == "NOERROR" and ad and got, f"{tag}: {rtype} {name} validates (AD)",
                      f"rcode {rcode} ad {ad} got {got}")

    sent = [0]

    def deliver(tag: str) -> tuple[str, str, str, str]:
        """One message through Postfix: (marker, status, its status line, its TLS line)."""
        sent[0] += 1
        marker = f"DANE{sent[0]}-{os.getpid()}"
        qid = postfix.submit(SENDER, RCPT, marker)
        got = lib.wait_until(lambda: postfix.outcome(qid), 60,
                             f"{tag}: Postfix's first delivery attempt of {qid}",
                             daemons=[postfix.daemon, relay])
        return (marker, *got)

    def dane_ok(what: str) -> None:
        key_now = presented(ns)
        checks.ok(key_now in published(), f"{what}: the presented key has a TLSA record at deSEC",
                  f"presented {key_now}, published {published()}")
        serve_signed(what)
        marker, status, line, tls = deliver(what)
        checks.ok(status == "sent" and f"relay={HOST}[{V4}]:25" in line,
                  f"{what}: Postfix (dane) delivered to {HOST}[{V4}]:25", line
                  + "\n" + postfix.log_text()[-3000:])
        checks.ok(f"Verified TLS connection established to {HOST}[{V4}]:25" in tls,
                  f"{what}: over a DANE-verified TLS connection", f"{tls!r}\n{line}")
        checks.ok(len(in_spool(spool, marker)) >= 1, f"{what}: the relay holds the message",
                  str(sorted(p.name for p in spool.rglob('*'))))

    def apply() -> str:
        r = cli(["dns", "apply", "--site", str(site), "--yes"])
        checks.ok(r.returncode == 0, "dns apply", r.stdout + r.stderr)
        return r.stdout

    def rollover() -> subprocess.CompletedProcess:
        return cli(["cert", "rollover", "--config", str(relay_toml)])

    postfix.start()

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
    lib.wait_until(lambda: presented(ns) == nxt, 10 * lib.SLOW,
                   "the relay presents the new key (reloaded)", daemons=[relay])
    checks.ok(relay.proc.poll() is None, "3: the relay reloaded in place (still running)")
    tlsa_check("3", "warn", r"step 3 of 3 retires it")
    dane_ok("3")

    # ---- 4
    apply()
    checks.eq(published(), [nxt], "4: deSEC holds the new key's record only")
    tlsa_check("4", "ok", r"matches the certificate \(3 1 1 ")
    dane_ok("4")

    # ---- negative control: a TLSA RRset that matches no key the relay has (still signed)
    wrong = [r[:-1] + ("0" if r[-1] != "0" else "1") for r in published()]
    serve_signed("wrong digest", tlsa=wrong)
    marker, status, line, tls = deliver("wrong digest")
    since = postfix.log_text()
    pid = re.search(r"postfix/smtp\[(\d+)\]", line).group(1)
    checks.ok(status == "deferred" and "Server certificate not verified" in line,
              "wrong digest: Postfix defers (Server certificate not verified)",
              line + "\n" + since[-3000:])
    checks.ok(f"postfix/smtp[{pid}]: server certificate verification failed for {HOST}[{V4}]:25: "
              "num=65:no matching DANE TLSA records" in since,
              "wrong digest: because no DANE TLSA record matches", since[-3000:])
    checks.ok("Verified TLS connection" not in tls, "wrong digest: no verified connection", tls)
    checks.eq(in_spool(spool, marker), [], "wrong digest: the message never reached the relay")
    serve_signed("restored")
    r = postfix.postfix("flush")
    checks.eq(r.returncode, 0, f"postfix flush ({r.stdout.strip()})")
    lib.wait_until(lambda: in_spool(spool, marker), 60,
                   "the deferred message delivered once deSEC's TLSA RRset is served again",
                   daemons=[postfix.daemon, relay])
    checks.ok(re.search(rf"Verified TLS connection established to {re.escape(HOST)}",
                        postfix.log_text()[len(since):]) is not None,
              "restored: the retry is DANE-verified", postfix.log_text()[-2000:])

    postfix.stop()
    signed.stop()
    for z in zones:
        z.stop()
    checks.eq(relay.stop(), 0, "splitmail-relay exits 0")
    fake.stop()
    ns.delete()


if __name__ == "__main__":
    lib.run_main(main)
