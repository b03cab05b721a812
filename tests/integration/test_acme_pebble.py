#!/usr/bin/python3
"""`splitmail cert` (common/acme) against Pebble, the ACME test server of the Let's Encrypt
team (Debian package `pebble`), with real validation against a real DNS server: the fake deSEC
(tests/fakes/desec) holds the zone example.test, and an authoritative unbound on loopback
(dns_lib.AuthZone) serves it as deSEC's nameservers would: every change the fake makes (an API
write, a test's set-up) re-renders the zone file (fake.zone_text) and reloads unbound before the
next request is answered. Pebble's VA (`-dnsserver`) and `splitmail cert --dns-server` both ask
that unbound: http-01 resolves the test names from their A records in the fake's zone and fetches
the key authorization from our built-in responder on Pebble's httpPort; dns-01 finds the
_acme-challenge TXT RRset that `splitmail cert` wrote through the fake's API. Pebble rejects 10%
of nonces here (PEBBLE_WFE_NONCEREJECT), so badNonce retries happen. (Not more: Debian's Pebble
is built with Go 1.19, whose math/rand is seeded with 1 unless the program seeds it, so its rolls
may be the same sequence in every run: at 20% one request got 7 rejections in a row under ASan (1 in
80,000 if the rolls were independent), more than the client's 6 retries.)

Checks: the test names resolve through that unbound and a name the fake does not hold does not; a
certificate is issued for the test name and verifies against Pebble's root (fetched from its
management endpoint); key files are 0600; the account is reused on a second run, and the
still-valid authorization (Pebble hands it back), and the certificate key too (TLSA "3 1 1"
stays valid); `renew` with a fresh certificate does nothing;
a challenge the CA cannot reach fails with the CA's problem in the message and leaves the files
untouched; a CA that is down gives exit 75 and writes nothing; dns-01 for an apex and its
wildcard writes one RRset with both values at minimum_ttl in one request and removes it after,
with a token that may write only TXT at _acme-challenge, and the DNS server served both values in
one RRset and no longer serves the name afterwards.
Home: splitmail-home starts with a provisional self-signed IMAPS certificate (which does not
verify against Pebble's root); `obtain` by dns-01 for its IMAP name (a token that may write only
TXT at _acme-challenge.imap) with `--reload-unit splitmail-home` (a systemctl stub that sends
SIGHUP to home, as `systemctl reload` does) makes home present the issued certificate on IMAPS,
verified against Pebble's root with the hostname checked (python ssl and `openssl s_client
-verify_return_error -verify_hostname`; a wrong name fails both). The relay then holds port 80
itself (`http.listen` on Pebble's httpPort): obtain's own listener cannot bind it (a clear
error), `--http-webroot` with `--http-listen` is a usage error, and `obtain --http-webroot
<http.challenge_dir>` gets the certificate with the relay answering Pebble's requests (200 in
its log; the files are gone afterwards); the relay gets SIGHUP and presents the new certificate
on STARTTLS; the renewal file keeps the webroot, and the renewal below goes the same way.
Automatic renewal: obtain leaves a renewal file next to the certificate (its arguments, 0600);
`renew --all --dir` (what splitmail-cert.timer runs) renews what is due, records failures (75
with the CA down), backs off after them, and names a broken file. Once both short-lived
certificates are due, one `renew --all` renews both in place while an IMAP session idles on home
(TLS) and an SMTP session on the relay sits after EHLO + STARTTLS: it reloads the relay (SIGHUP)
and home (systemctl stub); new connections to both present the new serials (verified against
Pebble's root); the idling session still gets `* N EXISTS` for a message delivered through the
relay and ends IDLE with OK; the old SMTP session still completes MAIL/RCPT/DATA with 250; both
messages land in the Maildir."""
import imaplib
import json
import os
import shutil
import smtplib
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes", "desec"))
from dns_lib import AuthZone  # noqa: E402
from fake_desec import FakeDesec  # noqa: E402
from harness import make_ca  # noqa: E402
from lib import (CLI_BIN, DEMO, SLOW, SRC, Daemon, Home, Relay, checks, free_port,  # noqa: E402
                 ids_in_maildir, imap_lines_until, log, make_cert, make_message, port_answers,
                 require_binaries, run_main, send_message, tmpdir, wait_until)

ZONE = "example.test"  # held by the fake deSEC, served by the authoritative unbound
NAME = f"mx.{ZONE}"  # the relay's name (http-01)
HOME_NAME = f"imap.{ZONE}"  # home's IMAP name (dns-01, the challenge home uses)
PEBBLE = "/usr/bin/pebble"
LIFETIME = 90  # seconds


RETRIES: list[int] = []  # badNonce retries reported by every successful run


def cli(*args):
    r = subprocess.run([str(CLI_BIN), "cert", *args], capture_output=True, text=True, timeout=180)
    log(f"splitmail cert {args[0]} -> {r.returncode}\n{r.stdout}{r.stderr}")
    RETRIES.extend(int(line.split(";")[1].split()[0]) for line in r.stdout.splitlines()
                   if "badNonce retries" in line)
    return r


def pairs(args: list) -> set:
    """Option/value pairs of an argument list (the renewal file keeps them in canonical form:
    contacts as mailto: URIs, the challenge named)."""
    canon = {"postmaster@example.test": "mailto:postmaster@example.test"}
    return {(args[i], canon.get(args[i + 1], args[i + 1])) for i in range(0, len(args) - 1, 2)}


def leaf_info(cert: Path) -> str:
    r = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-serial", "-ext",
                        "subjectAltName", "-pubkey"], capture_output=True, text=True)
    return r.stdout


def serial_of(der: bytes) -> str:
    """"serial=..." of a DER certificate (openssl's spelling, as leaf_info's first line)."""
    r = subprocess.run(["openssl", "x509", "-noout", "-serial"],
                       input=ssl.DER_cert_to_PEM_cert(der), capture_output=True, text=True)
    return r.stdout.strip()


def due_at(cert: Path) -> float:
    """When `renew` takes the certificate as due: a third of its lifetime before notAfter."""
    end = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-enddate"],
                         capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    return ssl.cert_time_to_seconds(end) - LIFETIME / 3


def imaps_serial(port: int, ctx: ssl.SSLContext, name: str = HOME_NAME) -> str:
    """Serial of the certificate home presents on a new IMAPS connection, verified by `ctx`
    for `name`; "unverified: <why>" when the verification fails, "" on another error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as s:
                return serial_of(s.getpeercert(binary_form=True))
    except ssl.SSLCertVerificationError as e:
        return f"unverified: {e.verify_message}"
    except (ssl.SSLError, OSError):
        return ""


class VerifiedIMAPS(imaplib.IMAP4_SSL):
    """imaplib over TLS to 127.0.0.1 with the certificate checked for `name` (IMAP4_SSL would
    check it for the address it connects to)."""

    def __init__(self, port: int, name: str, ctx: ssl.SSLContext):
        self.tls_name = name
        super().__init__("127.0.0.1", port, ssl_context=ctx, timeout=30 * SLOW)

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.tls_name)


def s_client(port: int, root: Path, name: str) -> subprocess.CompletedProcess:
    """`openssl s_client` to 127.0.0.1:port (SNI `name`), failing on any verification error
    against `root` and on a certificate that is not for `name`."""
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                           name, "-CAfile", str(root), "-verify_return_error",
                           "-verify_hostname", name], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


def main():
    require_binaries(CLI_BIN, Path(PEBBLE))
    d = tmpdir("acme-pebble")
    wfe_cert, wfe_key = make_cert(d, "pebble-wfe", "localhost")

    log("the fake deSEC's zone, served by an authoritative unbound on loopback")
    ca, server_cert, server_key = make_ca(str(d))
    fake = FakeDesec(server_cert, server_key)
    fake.add_domain(ZONE, "alice", 60)
    # Where the names validated by http-01 point (the relay's, and one without a responder).
    for sub in ("mx", "other", "imap"):
        fake.set_rrset(ZONE, sub, "A", ["127.0.0.1"], 60)
    zone = AuthZone(d / "dns", ZONE).start(fake.zone_text(ZONE))
    published = []  # what the DNS server answers for the challenge names after each change

    def publish(domain: str) -> None:  # what deSEC's nameservers do after a write
        zone.serve(fake.zone_text(domain))
        published.append({n: zone.query(n, "TXT") for n in (f"_acme-challenge.{ZONE}.",
                                                             f"_acme-challenge.{HOME_NAME}.")})

    fake.on_change(publish)
    fake.start()
    checks.eq(zone.query(f"{NAME}.", "A"), ("NOERROR", [(60, "127.0.0.1")]),
              f"{NAME} resolves through the unbound serving the fake deSEC's zone")
    checks.eq(zone.query(f"nothere.{ZONE}.", "A")[0], "NXDOMAIN",
              "a name the fake does not hold does not resolve (no catch-all answer)")
    fake.set_rrset(ZONE, "probe", "TXT", ['"zone reload probe"'], 60)
    checks.eq(zone.query(f"probe.{ZONE}.", "TXT"), ("NOERROR", [(60, '"zone reload probe"')]),
              "a change of the fake's zone is served at once (zone file re-rendered, reloaded)")
    fake.set_rrset(ZONE, "probe", "TXT", [])
    checks.eq(zone.query(f"probe.{ZONE}.", "TXT")[0], "NXDOMAIN", "and so is its removal")

    acme_port, mgmt_port, http_port = (free_port() for _ in range(3))
    (d / "pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{mgmt_port}",
        "certificate": str(wfe_cert), "privateKey": str(wfe_key),
        "httpPort": http_port, "tlsPort": free_port(),
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
        # Short-lived certificates, so the test can wait for renewal to fall due (60 s).
        "certificateValidityPeriod": LIFETIME}}))
    # PEBBLE_AUTHZREUSE=100: an account's still-valid authorization is always handed back
    # (Pebble's default reuses half of them at random), so reuse is checked deterministically
    # and a step that must see a fresh validation uses an account of its own.
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="10",
               PEBBLE_AUTHZREUSE="100")
    env.pop("PEBBLE_VA_ALWAYS_VALID", None)  # real validation
    pebble = Daemon("pebble", [PEBBLE, "-config", str(d / "pebble.json"), "-dnsserver",
                               f"127.0.0.1:{zone.port}"], d / "pebble.log", env=env).start()
    wait_until(lambda: port_answers("127.0.0.1", acme_port), 15, "pebble", daemons=[pebble])
    directory = f"https://localhost:{acme_port}/dir"

    out = d / "out"
    out.mkdir()
    cert, key, account = out / "tls.crt", out / "tls.key", out / "account.key"
    common = ["--name", NAME, "--cert", str(cert), "--key", str(key), "--account-key",
              str(account), "--directory", directory, "--ca-file", str(wfe_cert),
              "--contact", "postmaster@example.test", "--http-listen", f"127.0.0.1:{http_port}"]

    for args in (["--help"], ["obtain", "-h"], ["renew", "--name", "x", "--help"]):
        r = cli(*args)
        checks.ok(r.returncode == 0 and "usage" in r.stdout and not r.stderr,
                  f"splitmail cert {' '.join(args)} prints the usage")
    r = cli("obtain", "--name", NAME)
    checks.ok(r.returncode == 2 and "--cert is required" in r.stderr, "missing options: usage error")

    log("the CA is down: exit 75 (try later), nothing written")
    down = [a for a in common]
    down[down.index("--directory") + 1] = f"https://localhost:{free_port()}/dir"
    r = cli("obtain", *down)
    checks.eq(r.returncode, 75, "obtain against an unreachable CA exits 75 (EX_TEMPFAIL)")
    checks.ok("network" in r.stderr and "old certificate stays" in r.stderr,
              "the message says the CA is unreachable and the old certificate stays", r.stderr)
    checks.ok(not cert.exists(), "no certificate file written")

    log("first run: new account, new key, http-01")
    r = cli("obtain", *common)
    checks.eq(r.returncode, 0, "obtain exits 0")
    checks.ok("account created" in r.stdout, "a new account was created")
    checks.ok(cert.exists() and key.exists(), "certificate and key written")
    checks.eq(stat.S_IMODE(account.stat().st_mode), 0o600, "account key file mode 0600")
    checks.eq(stat.S_IMODE(key.stat().st_mode), 0o600, "certificate key file mode 0600")
    renewal = Path(str(cert) + ".acme.json")
    checks.ok(renewal.is_file() and stat.S_IMODE(renewal.stat().st_mode) == 0o600,
              "obtain leaves a renewal file (0600) next to the certificate")
    saved = json.loads(renewal.read_text()) if renewal.is_file() else {}
    checks.eq(pairs(saved.get("args", [])), pairs(common) | {("--challenge", "http-01")},
              "the renewal file holds the arguments of obtain")
    checks.eq(saved.get("failures"), 0, "and no failure")
    checks.ok("automatic renewal" in r.stdout and "renew --all" in r.stdout,
              "obtain says how the certificate is renewed", r.stdout)
    first = leaf_info(cert)
    checks.ok(f"DNS:{NAME}" in first, "the certificate names the test host", first)
    checks.ok("id-ecPublicKey" in subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True,
        text=True).stdout, "the certificate key is ECDSA")

    # Pebble's root and intermediate (new for every Pebble start) from its management API.
    mctx = ssl.create_default_context(cafile=str(wfe_cert))
    root = urllib.request.urlopen(f"https://localhost:{mgmt_port}/roots/0", context=mctx).read()
    (d / "root.pem").write_bytes(root)
    v = subprocess.run(["openssl", "verify", "-CAfile", str(d / "root.pem"), "-untrusted",
                        str(cert), "-verify_hostname", NAME, str(cert)],
                       capture_output=True, text=True)
    checks.eq(v.returncode, 0, f"chain verifies against Pebble's root for {NAME}: {v.stdout}{v.stderr}")
    v = subprocess.run(["openssl", "verify", "-CAfile", str(wfe_cert), "-untrusted", str(cert),
                        str(cert)], capture_output=True, text=True)
    checks.ok(v.returncode != 0, "and does not verify against an unrelated CA (the check can fail)")

    log("second run: the account and the certificate key are reused")
    account_before, key_before = account.read_bytes(), key.read_bytes()
    os.chown(cert, 65534, 65534)  # as if provision had handed them to the relay's user
    os.chown(key, 65534, 65534)
    r = cli("obtain", *common)
    checks.eq(r.returncode, 0, "second obtain exits 0")
    checks.ok("account reused" in r.stdout, "the account was found again from its key")
    # RFC 8555 7.1.4 / Pebble: the first order's authorization is still valid, so the CA hands
    # it back and no challenge is answered again.
    checks.ok(f"authorization for {NAME} is valid already (reused)" in r.stdout,
              "the still-valid authorization is reused (no new challenge)", r.stdout)
    checks.eq(account.read_bytes(), account_before, "account key file unchanged")
    checks.eq(key.read_bytes(), key_before, "certificate key reused")
    checks.eq((cert.stat().st_uid, cert.stat().st_gid), (65534, 65534),
              "the new certificate file keeps its owner and group")
    second = leaf_info(cert)
    checks.ok(second != first and second.split("-----BEGIN")[1] == first.split("-----BEGIN")[1],
              "a new certificate (new serial) for the same public key")

    r = cli("renew", *common)
    checks.eq(r.returncode, 0, "renew exits 0")
    checks.ok("not due" in r.stdout, "renew of a fresh certificate does nothing")

    log("--key-type rsa2048: an RSA certificate for peers without ECDSA")
    rsa_cert, rsa_key = d / "rsa.crt", d / "rsa.key"
    rsa_args = [a for a in common]
    rsa_args[rsa_args.index("--cert") + 1] = str(rsa_cert)
    rsa_args[rsa_args.index("--key") + 1] = str(rsa_key)
    r = cli("obtain", *rsa_args, "--key-type", "rsa2048")
    checks.eq(r.returncode, 0, "obtain --key-type rsa2048 exits 0")
    text = subprocess.run(["openssl", "x509", "-in", str(rsa_cert), "-noout", "-text"],
                          capture_output=True, text=True).stdout
    checks.ok("rsaEncryption" in text and "(2048 bit)" in text,
              "the CA issued a certificate for an RSA-2048 key", text[:1500])
    checks.eq(stat.S_IMODE(rsa_key.stat().st_mode), 0o600, "the RSA key file is 0600")
    kept = json.loads(Path(str(rsa_cert) + ".acme.json").read_text())["args"]
    checks.ok(("--key-type", "rsa2048") in pairs(kept), "the renewal file keeps --key-type",
              str(kept))
    rsa_before = rsa_key.read_bytes()
    r = cli("obtain", *rsa_args)
    checks.eq(r.returncode, 0, "obtain again without --key-type exits 0")
    checks.eq(rsa_key.read_bytes(), rsa_before, "the RSA key is kept (the TLSA record pins it)")
    checks.ok("keeping the rsa2048 key" in r.stdout, "and it says so", r.stdout)
    checks.eq(leaf_info(cert), second, "certificate unchanged by renew")
    r = cli("status", "--cert", str(cert), "--name", NAME)
    checks.ok(r.returncode == 0 and NAME in r.stdout and "renewal due" in r.stdout
              and "automatic renewal: yes" in r.stdout,
              "status shows names, the renewal date and that renewal is automatic", r.stdout)
    r = cli("renew", "--all", "--dir", str(out))
    checks.ok(r.returncode == 0 and "not due" in r.stdout and str(cert) in r.stdout,
              "renew --all: the fresh certificate is not due", r.stdout + r.stderr)
    checks.eq(leaf_info(cert), second, "certificate unchanged by renew --all")
    r = cli("renew", "--all", "--dir", str(d / "nothing-here"))
    checks.ok(r.returncode == 0 and "no certificate to renew" in r.stdout,
              "renew --all without renewal files does nothing and says so", r.stdout)
    r = cli("renew", "--all", "--cert", str(cert))
    checks.eq(r.returncode, 2, "renew --all takes no certificate options")

    log("--reload-unit: after a new certificate the unit is reloaded (systemctl reload)")
    rdir = d / "reload"
    rdir.mkdir()
    calls = rdir / "calls.log"
    stub = rdir / "systemctl"
    stub.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n[ \"$2\" != broken ] || exit 5\n")
    stub.chmod(0o755)
    rargs = [{str(cert): str(rdir / "home.crt"), str(key): str(rdir / "home.key")}.get(a, a)
             for a in common]
    r = cli("obtain", *rargs, "--reload-unit", "splitmail-home", "--systemctl", str(stub))
    checks.ok(r.returncode == 0 and "reloaded splitmail-home" in r.stdout,
              "obtain with --reload-unit reloads the unit", r.stdout + r.stderr)
    checks.eq(calls.read_text() if calls.exists() else "", "reload splitmail-home\n",
              "systemctl reload splitmail-home was run once, after the certificate was written")
    kept = json.loads((rdir / "home.crt.acme.json").read_text())["args"]
    checks.ok(("--reload-unit", "splitmail-home") in pairs(kept),
              "the renewal file keeps the unit to reload", str(kept))
    r = cli("obtain", *rargs, "--reload-unit", "broken", "--systemctl", str(stub))
    checks.ok(r.returncode == 1 and "reload broken failed" in r.stderr
              and "new certificate is in place" in r.stderr,
              "a failing reload is an error that says the certificate is in place", r.stderr)

    log("renew --all after failures: the CA's answer is kept, the next attempt backs off")
    failing = d / "failing"
    failing.mkdir()
    down_args = [a for a in common]
    down_args[down_args.index("--directory") + 1] = f"https://localhost:{free_port()}/dir"
    down_args[down_args.index("--cert") + 1] = str(failing / "tls.crt")  # missing: due now
    down_args[down_args.index("--key") + 1] = str(failing / "tls.key")
    (failing / "tls.crt.acme.json").write_text(json.dumps({"args": down_args, "failures": 0}))
    r = cli("renew", "--all", "--dir", str(failing))
    checks.eq(r.returncode, 75, "renew --all with the CA down exits 75")
    st = json.loads((failing / "tls.crt.acme.json").read_text())
    checks.ok(st.get("failures") == 1 and "network" in st.get("last_error", "")
              and st.get("last_attempt", 0) > 0 and st.get("args") == down_args,
              "the failure is recorded in the renewal file, arguments kept", str(st))
    checks.ok("next attempt from" in r.stderr, "and the next attempt is named", r.stderr)
    r = cli("renew", "--all", "--dir", str(failing))
    checks.ok(r.returncode == 0 and "not yet" in r.stdout and "1 time(s)" in r.stdout,
              "right after a failure renew --all waits (backoff) instead of asking again",
              r.stdout + r.stderr)
    checks.eq(json.loads((failing / "tls.crt.acme.json").read_text()).get("failures"), 1,
              "a run that waits does not count as a failure")
    st["last_attempt"] -= 3600  # an hour later: 5 minutes of backoff are over
    (failing / "tls.crt.acme.json").write_text(json.dumps(st))
    r = cli("renew", "--all", "--dir", str(failing))
    checks.eq(r.returncode, 75, "after the backoff it tries again")
    checks.eq(json.loads((failing / "tls.crt.acme.json").read_text()).get("failures"), 2,
              "second failure in a row counted")
    (failing / "tls.crt.acme.json").write_text("{not json")
    r = cli("renew", "--all", "--dir", str(failing))
    checks.ok(r.returncode == 1 and "not a renewal file" in r.stderr,
              "a broken renewal file is an error that names it", r.stderr)

    log("a challenge the CA cannot reach: clear error, files untouched")
    # Another name, so Pebble cannot reuse the valid authorization of NAME.
    bad = [{f"127.0.0.1:{http_port}": f"127.0.0.1:{free_port()}", NAME: "other.example.test"}
           .get(a, a) for a in common]
    r = cli("obtain", *bad)
    checks.eq(r.returncode, 1, "obtain with an unreachable responder exits 1")
    checks.ok("validation" in r.stderr and "http-01" in r.stderr and "connection" in r.stderr.lower(),
              "the error names the validation and the CA's problem", r.stderr)
    checks.eq(leaf_info(cert), second, "old certificate kept")

    dns01(d, common, zone, fake, ca, published)

    # Home and relay on their certificates. Home starts on a provisional self-signed one (what
    # `provision home` writes) at the paths `splitmail cert` then fills, with the same key.
    pd = tmpdir("acme-pair")
    hcert, hkey = out / "home.crt", out / "home.key"
    prov_cert, prov_key = make_cert(pd, "provisional", HOME_NAME)
    shutil.copyfile(prov_cert, hcert)
    shutil.copyfile(prov_key, hkey)
    hkey.chmod(0o600)
    home = Home(pd / "home")
    imaps_port = home.add_imaps(pd, tls=(hcert, hkey))
    home.start()
    home.wait_imaps()
    # An SMTP session is held open across the renewal below: no idle cut-off in between.
    # The relay holds port 80 itself from here on (http.listen, on the port Pebble validates):
    # its obtains and renewals write the key authorizations into http.challenge_dir
    # (--http-webroot) and the relay answers the CA's requests.
    challenges = pd / "acme-challenge"
    challenges.mkdir()
    relay = Relay(pd / "relay", home, tls=(cert, key),
                  extra={"smtp.idle_timeout": '"600s"',
                         "http.listen": f'["127.0.0.1:{http_port}"]',
                         "http.challenge_dir": f'"{challenges}"'}).start()
    webroot = [a for a in common if a not in ("--http-listen", f"127.0.0.1:{http_port}")]
    webroot += ["--http-webroot", str(challenges)]
    # An account of its own: the first account's authorization for NAME is still valid and
    # would be reused, and this step must show the relay answering a real validation.
    webroot[webroot.index("--account-key") + 1] = str(out / "account-relay.key")
    ctx = ssl.create_default_context(cafile=str(d / "root.pem"))  # Pebble's root only

    log("home: its IMAP certificate by dns-01 through (fake) deSEC, reloaded by systemctl")
    calls, pidfile = pd / "systemctl.calls", pd / "home.pid"
    pidfile.write_text(f"{home.daemon.pid}\n")
    systemctl = pd / "systemctl"  # `systemctl reload splitmail-home` sends SIGHUP to home
    systemctl.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n"
                         f"[ \"$1\" = reload ] && [ \"$2\" = splitmail-home ] || exit 5\n"
                         f"kill -HUP \"$(cat {pidfile})\"\n")
    systemctl.chmod(0o755)
    got = imaps_serial(imaps_port, ctx)
    checks.ok(got.startswith("unverified:"),
              "the provisional self-signed certificate does not verify against Pebble's root", got)
    # Home's token may write only TXT at its own _acme-challenge name (deSEC token policy).
    fake.add_token("tok-home", "alice", [
        {"domain": None, "subname": None, "type": None, "perm_write": False},
        {"domain": ZONE, "subname": f"_acme-challenge.{HOME_NAME.split('.')[0]}", "type": "TXT",
         "perm_write": True}])
    htoken = d / "home-desec.token"
    htoken.write_text("tok-home\n")
    htoken.chmod(0o600)
    hargs = [{str(cert): str(hcert), str(key): str(hkey), NAME: HOME_NAME}.get(a, a)
             for a in common if a not in ("--http-listen", f"127.0.0.1:{http_port}")]
    hargs += ["--challenge", "dns-01", "--desec-domain", ZONE, "--desec-token-file", str(htoken),
              "--desec-api", fake.base_url, "--desec-ca-file", ca,
              "--dns-server", f"127.0.0.1:{zone.port}",
              "--reload-unit", "splitmail-home", "--systemctl", str(systemctl)]
    writes_before, seen_before = len(fake.requests(kind="write")), len(published)
    reloads_before = home.daemon.log_text().count("IMAP TLS certificate reloaded")
    r = cli("obtain", *hargs)
    checks.ok(r.returncode == 0 and "reloaded splitmail-home" in r.stdout,
              f"obtain by dns-01 for {HOME_NAME} exits 0 and reloads splitmail-home",
              r.stdout + r.stderr)
    checks.eq(calls.read_text() if calls.exists() else "", "reload splitmail-home\n",
              "systemctl reload splitmail-home ran once")
    checks.eq(prov_key.read_bytes(), hkey.read_bytes(), "the provisioned key is kept")
    home_first = leaf_info(hcert)
    checks.ok(f"DNS:{HOME_NAME}" in home_first, f"the certificate names {HOME_NAME}", home_first)
    hwrites = fake.requests(kind="write")[writes_before:]
    # The fake throttles as deSEC does (429 + Retry-After); a throttled write is waited out and
    # made again, so only the two that succeeded count.
    checks.ok(len([e for e in hwrites if e["status"] < 300]) == 2
              and all(e["status"] < 300 or e["status"] == 429 for e in hwrites),
              "two deSEC writes with home's token: the challenge record and its removal "
              "(a throttled one waited out and repeated)",
              str([(e["method"], e["path"], e["status"]) for e in hwrites]))
    served = [p[f"_acme-challenge.{HOME_NAME}."] for p in published[seen_before:]]
    checks.ok(any(rc == "NOERROR" and len(recs) == 1 for rc, recs in served)
              and served[-1][0] == "NXDOMAIN",
              "the DNS server Pebble asks served home's challenge, and removed it after",
              str(served))
    wait_until(lambda: imaps_serial(imaps_port, ctx) == home_first.splitlines()[0], 15,
               "home to present the issued certificate on IMAPS", interval=0.3,
               daemons=[home.daemon])
    checks.ok(True, "home presents the issued certificate on IMAPS, verified against Pebble's "
                    f"root for {HOME_NAME} (python ssl, check_hostname)")
    checks.eq(home.daemon.log_text().count("IMAP TLS certificate reloaded"), reloads_before + 1,
              "home logged one reload of its IMAP certificate")
    got = imaps_serial(imaps_port, ctx, name=f"wrong.{ZONE}")
    checks.ok(got.startswith("unverified:") and "mismatch" in got.lower(),
              "the same certificate does not verify for another name (the check can fail)", got)
    v = s_client(imaps_port, d / "root.pem", HOME_NAME)
    checks.ok(v.returncode == 0 and "Verify return code: 0 (ok)" in v.stdout,
              f"openssl s_client -verify_return_error -CAfile ROOT -verify_hostname {HOME_NAME}"
              " succeeds", v.stdout[-1500:] + v.stderr)
    v = s_client(imaps_port, d / "root.pem", f"wrong.{ZONE}")
    checks.ok(v.returncode != 0 and "hostname mismatch" in (v.stdout + v.stderr).lower(),
              "and fails with -verify_hostname of another name", v.stdout[-800:] + v.stderr)

    log("a running relay reloads the new certificate on SIGHUP")

    def presented_serial() -> str:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as s:
            s.ehlo("client.test")
            s._host = NAME  # server_hostname for certificate verification
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
        return serial_of(der)

    checks.eq(presented_serial(), second.splitlines()[0], "relay presents the issued certificate, "
              "verified against Pebble's root")
    r = cli("obtain", *common, "--relay-spool", str(relay.spool))
    checks.ok(r.returncode == 1 and "cannot listen" in r.stderr and str(http_port) in r.stderr,
              "with the relay on port 80, obtain's own listener cannot bind it: a clear error",
              r.stdout + r.stderr)
    r = cli("obtain", *common, "--http-webroot", str(challenges))
    checks.ok(r.returncode == 2 and "exclude each other" in r.stderr,
              "--http-listen with --http-webroot is a usage error", r.stderr)
    served = relay.daemon.log_text().count('request="GET /.well-known/acme-challenge/')
    r = cli("obtain", *webroot, "--relay-spool", str(relay.spool))
    checks.ok(r.returncode == 0 and "sent SIGHUP" in r.stdout,
              "obtain --http-webroot: the relay's port 80 answers the CA, obtain signals the relay",
              r.stdout + r.stderr)
    relay_log = relay.daemon.log_text()
    checks.ok(relay_log.count('request="GET /.well-known/acme-challenge/') > served
              and "status=200" in relay_log,
              "Pebble's validation requests were answered 200 by the relay (its log)",
              relay_log[-1500:])
    checks.eq(sorted(p.name for p in challenges.iterdir()), [],
              "the challenge files are removed after the order")
    third = leaf_info(cert).splitlines()[0]
    wait_until(lambda: presented_serial() == third, 15, "the relay to present the new certificate",
               interval=0.3, daemons=[relay.daemon])
    checks.ok(True, "relay presents the renewed certificate without a restart")

    log("renew --all (what splitmail-cert.timer runs) renews when a third of the lifetime is left")
    checks.eq(pairs(json.loads(renewal.read_text()).get("args", [])),
              pairs(webroot) | {("--challenge", "http-01"), ("--relay-spool", str(relay.spool))},
              "the last obtain's arguments (the relay's webroot, the relay to reload) are in the "
              "renewal file")
    hkept = json.loads(Path(str(hcert) + ".acme.json").read_text()).get("args", [])
    checks.ok({("--challenge", "dns-01"), ("--reload-unit", "splitmail-home"),
               ("--dns-server", f"127.0.0.1:{zone.port}")} <= pairs(hkept),
              "home's renewal file keeps dns-01, its DNS server and the unit to reload", str(hkept))
    # The command splitmail-cert.timer starts, as its service unit has it (the packaged file),
    # with this test's directory in place of /etc/splitmail/tls.
    unit = (SRC / "packaging" / "systemd" / "splitmail-cert.service").read_text()
    exec_start = [ln.split("=", 1)[1].split() for ln in unit.splitlines()
                  if ln.startswith("ExecStart=")]
    checks.ok(len(exec_start) == 1 and exec_start[0][:3] == ["/usr/bin/splitmail", "cert", "renew"],
              "splitmail-cert.service runs `splitmail cert renew`", str(exec_start))
    renew = [str(out) if a == "/etc/splitmail/tls" else a for a in exec_start[0][3:]]
    checks.eq(renew, ["--all", "--dir", str(out)], "the unit renews every certificate of a directory")
    r = cli("renew", *renew)
    checks.ok(r.returncode == 0 and f"not due: {cert} " in r.stdout
              and f"not due: {hcert} " in r.stdout,
              "renew right after issuance does nothing (relay and home)", r.stdout + r.stderr)
    time.sleep(max(0.0, max(due_at(cert), due_at(hcert)) - time.time()) + 1)

    log("both certificates are due: renew --all with an IMAP IDLE and an SMTP session open")
    home_old = home_first.splitlines()[0]
    imap = VerifiedIMAPS(imaps_port, HOME_NAME, ctx)
    checks.eq(serial_of(imap.sock.getpeercert(binary_form=True)), home_old,
              "the IMAP session runs on the certificate before the renewal")
    imap.login(DEMO, home.passwords[DEMO])
    typ, data = imap.select("INBOX")
    exists_before = int(data[0]) if typ == "OK" else -1
    imap.send(b"I1 IDLE\r\n")
    line = imap_lines_until(imap, b"+", 20)
    checks.ok(line.startswith(b"+"), "the IMAP session idles", str(line))
    smtp = smtplib.SMTP("127.0.0.1", relay.port, timeout=30 * SLOW)
    smtp.ehlo("client.test")
    smtp._host = NAME
    code, _ = smtp.starttls(context=ctx)
    smtp.ehlo("client.test")
    checks.ok(code == 220 and serial_of(smtp.sock.getpeercert(binary_form=True)) == third,
              "the SMTP session is in TLS on the certificate before the renewal (no transaction)")
    pid_home, pid_relay = home.daemon.pid, relay.daemon.pid
    reloads_before = home.daemon.log_text().count("IMAP TLS certificate reloaded")
    r = cli("renew", *renew)
    checks.ok(r.returncode == 0 and f"certificate written to {cert} " in r.stdout
              and f"certificate written to {hcert} " in r.stdout and "sent SIGHUP" in r.stdout
              and "reloaded splitmail-home" in r.stdout,
              "renew --all after two thirds of the lifetime renews both and reloads relay and home",
              r.stdout + r.stderr)
    fourth, home_new = leaf_info(cert), leaf_info(hcert)
    checks.ok(fourth.splitlines()[0] != third
              and fourth.split("-----BEGIN")[1] == first.split("-----BEGIN")[1],
              "a new relay certificate with the same key")
    checks.ok(home_new.splitlines()[0] != home_old
              and home_new.split("-----BEGIN")[1] == home_first.split("-----BEGIN")[1],
              "a new home certificate with the same key")
    wait_until(lambda: presented_serial() == fourth.splitlines()[0], 15,
               "the relay to present the renewed certificate", interval=0.3, daemons=[relay.daemon])
    checks.ok(True, "new SMTP connections get the renewed relay certificate (Pebble's root)")
    wait_until(lambda: imaps_serial(imaps_port, ctx) == home_new.splitlines()[0], 15,
               "home to present the renewed certificate", interval=0.3, daemons=[home.daemon])
    checks.ok(True, "new IMAPS connections get the renewed home certificate (Pebble's root)")
    checks.eq(home.daemon.log_text().count("IMAP TLS certificate reloaded"), reloads_before + 1,
              "home reloaded its IMAP certificate once")
    checks.eq((home.daemon.pid, relay.daemon.pid, home.daemon.alive(), relay.daemon.alive()),
              (pid_home, pid_relay, True, True), "in place: neither daemon was restarted")

    marker_idle, marker_old = f"idle-{os.getpid()}", f"old-smtp-{os.getpid()}"
    code, text = send_message(relay.port, "sender@sender.test", [DEMO], make_message(marker_idle))
    checks.eq(code, 250, "a message to the idling user goes in through the relay")
    seen = imap_lines_until(imap, b"EXISTS", 30)
    checks.ok(f"* {exists_before + 1} EXISTS".encode() in seen,
              "the IMAP session idling across the renewal gets the new message (EXISTS)", str(seen))
    imap.send(b"DONE\r\n")
    rest = imap_lines_until(imap, b"I1 ", 20)
    checks.ok(rest.splitlines()[-1].startswith(b"I1 OK"), "and ends IDLE with OK", str(rest))
    imap.sock.settimeout(30 * SLOW)
    typ, _ = imap.noop()
    checks.eq(typ, "OK", "the old IMAP session still answers commands")
    imap.logout()

    code, _ = smtp.mail("sender@sender.test")
    rcode, _ = smtp.rcpt(DEMO)
    dcode, dtext = smtp.data(make_message(marker_old))
    checks.eq((code, rcode, dcode), (250, 250, 250),
              "the SMTP session opened before the renewal completes MAIL/RCPT/DATA with 250")
    checks.eq(serial_of(smtp.sock.getpeercert(binary_form=True)), third,
              "(on the TLS session of the old certificate)")
    smtp.quit()
    wait_until(lambda: ids_in_maildir(home).get(marker_idle) == 1
               and ids_in_maildir(home).get(marker_old) == 1, 30,
               "both messages in the Maildir", daemons=[home.daemon, relay.daemon])
    checks.ok(True, "both messages delivered once")
    relay.stop()
    home.stop()
    checks.eq(fake.listener_errors, [], "every change of the fake's zone reached the DNS server")
    # 20% of nonces rejected over ~40 signed requests: no retry at all has odds of about
    # 1 in 7000; 7 rejections in a row for one request (which fails it) about 1 in 2000.
    checks.ok(sum(RETRIES) > 0, f"badNonce answers were retried (per run: {RETRIES})")


def dns01(d: Path, common: list[str], zone: AuthZone, fake: FakeDesec, ca: str,
          published: list) -> None:
    """dns-01 through the fake deSEC: `splitmail cert` writes the challenge RRset through the
    API, the authoritative unbound serves it (the fake's on_change), Pebble validates against
    that server and `splitmail cert --dns-server` waits until it answers."""
    log("dns-01 through (fake) deSEC, apex + wildcard in one order")
    # The token may write only TXT at _acme-challenge (deSEC token policy; reads are allowed).
    fake.add_token("tok-acme", "alice", [
        {"domain": None, "subname": None, "type": None, "perm_write": False},
        {"domain": ZONE, "subname": "_acme-challenge", "type": "TXT", "perm_write": True}])
    token = d / "desec.token"
    token.write_text("tok-acme\n")
    token.chmod(0o600)
    checks.eq(zone.query(f"_acme-challenge.{ZONE}.", "TXT")[0], "NXDOMAIN",
              "no challenge record is served before")

    seen_before = len(published)
    cert, key = d / "out" / "wild.crt", d / "out" / "wild.key"
    args = [a for a in common]
    args[args.index("--cert") + 1] = str(cert)
    args[args.index("--key") + 1] = str(key)
    args[args.index("--name") + 1] = ZONE
    args += ["--name", f"*.{ZONE}", "--challenge", "dns-01", "--desec-domain", ZONE,
             "--desec-token-file", str(token), "--desec-api", fake.base_url,
             "--desec-ca-file", ca, "--dns-server", f"127.0.0.1:{zone.port}"]
    r = cli("obtain", *args)
    checks.eq(r.returncode, 0, "dns-01 obtain exits 0")
    checks.ok("account reused" in r.stdout, "the same account is used")
    info = leaf_info(cert) if cert.exists() else ""
    checks.ok(f"DNS:{ZONE}" in info and f"DNS:*.{ZONE}" in info, "certificate for apex and wildcard",
              info)
    writes = [e for e in fake.requests(kind="write") if e["status"] < 300]
    checks.eq(len(writes), 2, "two deSEC writes: one bulk write of the records, one removal")
    served = [p[f"_acme-challenge.{ZONE}."] for p in published[seen_before:]]
    both = [recs for rc, recs in served if rc == "NOERROR" and len(recs) == 2]
    checks.ok(bool(both), "the DNS server Pebble asks served both values (apex and wildcard) in "
                          "one RRset", str(served))
    checks.ok(bool(both) and all(ttl == 60 for recs in both for ttl, _ in recs),
              "at the domain's minimum_ttl", str(both))
    checks.eq(fake.rrset(ZONE, "_acme-challenge", "TXT"), None,
              "the TXT record is removed afterwards")
    checks.eq(zone.query(f"_acme-challenge.{ZONE}.", "TXT")[0], "NXDOMAIN",
              "and the DNS server no longer serves it")
    wild_renewal = Path(str(cert) + ".acme.json")
    kept = json.loads(wild_renewal.read_text()).get("args", []) if wild_renewal.is_file() else []
    checks.ok(kept[kept.index("--challenge") + 1:][:1] == ["dns-01"] if "--challenge" in kept
              else False, "the dns-01 renewal file keeps the challenge and deSEC options", str(kept))
    # Only the certificates in service (relay, home) take part in the renewal below.
    wild_renewal.unlink(missing_ok=True)


run_main(main)
