#!/usr/bin/python3
"""`splitmail cert` (common/acme) against Pebble, the ACME test server of the Let's Encrypt
team (Debian package `pebble`), with real http-01 validation: Pebble's VA resolves the test name
through pebble-challtestsrv (a DNS server on loopback answering 127.0.0.1) and fetches the key
authorization from our built-in responder on the port it validates (config httpPort).
Pebble rejects 20% of nonces here (PEBBLE_WFE_NONCEREJECT), so badNonce retries happen.
dns-01 goes through the fake deSEC (tests/fakes/desec); a thread publishes the fake's
_acme-challenge RRset to challtestsrv, the DNS server Pebble validates against and the one
`splitmail cert --dns-server` waits on.

Checks: a certificate is issued for the test name and verifies against Pebble's root (fetched
from its management endpoint); key files are 0600; the account is reused on a second run and the
certificate key too (TLSA "3 1 1" stays valid); `renew` with a fresh certificate does nothing;
a challenge the CA cannot reach fails with the CA's problem in the message and leaves the files
untouched; a CA that is down gives exit 75 and writes nothing; dns-01 for an apex and its
wildcard writes one RRset with both values at minimum_ttl in one request and removes it after,
with a token that may write only TXT at _acme-challenge; a running relay gets SIGHUP and presents the new certificate on STARTTLS.
Automatic renewal: obtain leaves a renewal file next to the certificate (its arguments, 0600);
`renew --all --dir` (what splitmail-cert.timer runs) renews what is due, reloads the relay,
records failures (75 with the CA down), backs off after them, and names a broken file."""
import json
import os
import threading
import time
import smtplib
import ssl
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes", "desec"))
from fake_desec import FakeDesec  # noqa: E402
from harness import make_ca  # noqa: E402
from lib import (CLI_BIN, Daemon, checks, fail, free_port, log, make_cert, port_answers,  # noqa: E402
                 require_binaries, run_main, start_pair, tmpdir, wait_until)

NAME = "mx.example.test"
PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
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


def main():
    require_binaries(CLI_BIN, Path(PEBBLE), Path(CHALLTESTSRV))
    d = tmpdir("acme-pebble")
    wfe_cert, wfe_key = make_cert(d, "pebble-wfe", "localhost")
    acme_port, mgmt_port, http_port, dns_port, dns_mgmt = (free_port() for _ in range(5))
    (d / "pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{mgmt_port}",
        "certificate": str(wfe_cert), "privateKey": str(wfe_key),
        "httpPort": http_port, "tlsPort": free_port(),
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
        # Short-lived certificates, so the test can wait for renewal to fall due (60 s).
        "certificateValidityPeriod": LIFETIME}}))
    dns = Daemon("pebble-challtestsrv", [CHALLTESTSRV, "-dns01", f"127.0.0.1:{dns_port}",
                                         "-http01", "", "-https01", "", "-tlsalpn01", "",
                                         "-management", f"127.0.0.1:{dns_mgmt}",
                                         "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
                 d / "challtestsrv.log").start()
    wait_until(lambda: port_answers("127.0.0.1", dns_mgmt), 15, "challtestsrv", daemons=[dns])
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="20")
    env.pop("PEBBLE_VA_ALWAYS_VALID", None)  # real validation
    pebble = Daemon("pebble", [PEBBLE, "-config", str(d / "pebble.json"), "-dnsserver",
                               f"127.0.0.1:{dns_port}"], d / "pebble.log", env=env).start()
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

    dns01(d, common, dns_port, dns_mgmt, account)

    log("a running relay reloads the new certificate on SIGHUP")
    _, _home, relay = start_pair("acme-relay", relay_kw={"tls": (cert, key)})
    ctx = ssl.create_default_context(cafile=str(d / "root.pem"))

    def presented_serial() -> str:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as s:
            s.ehlo("client.test")
            s._host = NAME  # server_hostname for certificate verification
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                           capture_output=True, text=True)
        return r.stdout.strip()

    checks.eq(presented_serial(), second.splitlines()[0], "relay presents the issued certificate, "
              "verified against Pebble's root")
    r = cli("obtain", *common, "--relay-spool", str(relay.spool))
    checks.ok(r.returncode == 0 and "sent SIGHUP" in r.stdout, "obtain signals the relay")
    third = leaf_info(cert).splitlines()[0]
    wait_until(lambda: presented_serial() == third, 15, "the relay to present the new certificate",
               interval=0.3, daemons=[relay.daemon])
    checks.ok(True, "relay presents the renewed certificate without a restart")

    log("renew --all (what splitmail-cert.timer runs) renews when a third of the lifetime is left")
    checks.eq(pairs(json.loads(renewal.read_text()).get("args", [])),
              pairs(common) | {("--challenge", "http-01"), ("--relay-spool", str(relay.spool))},
              "the last obtain's arguments (with the relay to reload) are in the renewal file")
    renew = ["--all", "--dir", str(out)]
    r = cli("renew", *renew)
    checks.ok(r.returncode == 0 and "not due" in r.stdout, "renew right after issuance does nothing")
    end = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-enddate"],
                         capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    due = ssl.cert_time_to_seconds(end) - LIFETIME / 3
    time.sleep(max(0.0, due - time.time()) + 1)
    r = cli("renew", *renew)
    checks.ok(r.returncode == 0 and "certificate written" in r.stdout and "sent SIGHUP" in r.stdout,
              "renew --all after two thirds of the lifetime renews and reloads the relay",
              r.stdout + r.stderr)
    fourth = leaf_info(cert)
    checks.ok(fourth.splitlines()[0] != third and fourth.split("-----BEGIN")[1] == first.split("-----BEGIN")[1],
              "a new certificate with the same key")
    wait_until(lambda: presented_serial() == fourth.splitlines()[0], 15,
               "the relay to present the renewed certificate", interval=0.3, daemons=[relay.daemon])
    checks.ok(True, "relay presents the renewed certificate")
    relay.stop()
    # 20% of nonces rejected over ~40 signed requests: no retry at all has odds of about
    # 1 in 7000; 7 rejections in a row for one request (which fails it) about 1 in 2000.
    checks.ok(sum(RETRIES) > 0, f"badNonce answers were retried (per run: {RETRIES})")


def dns01(d: Path, common: list[str], dns_port: int, dns_mgmt: int, account: Path) -> None:
    """dns-01 through the fake deSEC: the fake's zone is published to the DNS server Pebble
    validates against (challtestsrv), and `splitmail cert` waits until that server answers."""
    log("dns-01 through (fake) deSEC, apex + wildcard in one order")
    zone = "example.test"
    ca, server_cert, server_key = make_ca(str(d))
    fake = FakeDesec(server_cert, server_key)
    fake.add_domain(zone, "alice", 60)
    # The token may write only TXT at _acme-challenge (deSEC token policy; reads are allowed).
    fake.add_token("tok-acme", "alice", [
        {"domain": None, "subname": None, "type": None, "perm_write": False},
        {"domain": zone, "subname": "_acme-challenge", "type": "TXT", "perm_write": True}])
    fake.start()
    token = d / "desec.token"
    token.write_text("tok-acme\n")
    token.chmod(0o600)

    seen = {"ttl": [], "published": []}
    stop = threading.Event()

    def publish():  # the fake's zone -> the DNS server (what deSEC's anycast network does)
        last = None
        mgmt = f"http://127.0.0.1:{dns_mgmt}"
        while not stop.is_set():
            rr = fake.rrset(zone, "_acme-challenge", "TXT")
            values = sorted(v.strip('"') for v in rr["records"]) if rr else []
            if values != last:
                host = f"_acme-challenge.{zone}."
                urllib.request.urlopen(mgmt + "/clear-txt", json.dumps({"host": host}).encode())
                for v in values:
                    urllib.request.urlopen(mgmt + "/set-txt",
                                           json.dumps({"host": host, "value": v}).encode())
                if rr:
                    seen["ttl"].append(rr["ttl"])
                seen["published"].append(values)
                last = values
            time.sleep(0.3)

    t = threading.Thread(target=publish, daemon=True)
    t.start()
    cert, key = d / "out" / "wild.crt", d / "out" / "wild.key"
    args = [a for a in common]
    args[args.index("--cert") + 1] = str(cert)
    args[args.index("--key") + 1] = str(key)
    args[args.index("--name") + 1] = zone
    args += ["--name", f"*.{zone}", "--challenge", "dns-01", "--desec-domain", zone,
             "--desec-token-file", str(token), "--desec-api", fake.base_url,
             "--desec-ca-file", ca, "--dns-server", f"127.0.0.1:{dns_port}"]
    r = cli("obtain", *args)
    time.sleep(1)
    stop.set()
    t.join()
    checks.eq(r.returncode, 0, "dns-01 obtain exits 0")
    checks.ok("account reused" in r.stdout, "the same account is used")
    info = leaf_info(cert) if cert.exists() else ""
    checks.ok(f"DNS:{zone}" in info and f"DNS:*.{zone}" in info, "certificate for apex and wildcard", info)
    writes = [e for e in fake.requests(kind="write") if e["status"] < 300]
    checks.eq(len(writes), 2, "two deSEC writes: one bulk write of the records, one removal")
    checks.ok(any(len(p) == 2 for p in seen["published"]),
              "both values (apex and wildcard) in one RRset", str(seen["published"]))
    checks.ok(seen["ttl"] and set(seen["ttl"]) == {60}, "TTL at the domain's minimum_ttl",
              str(seen["ttl"]))
    checks.eq(fake.rrset(zone, "_acme-challenge", "TXT"), None, "the TXT record is removed afterwards")
    wild_renewal = Path(str(cert) + ".acme.json")
    kept = json.loads(wild_renewal.read_text()).get("args", []) if wild_renewal.is_file() else []
    checks.ok(kept[kept.index("--challenge") + 1:][:1] == ["dns-01"] if "--challenge" in kept
              else False, "the dns-01 renewal file keeps the challenge and deSEC options", str(kept))
    # The fake deSEC stops with this test part: renewing it later is not part of this test.
    wild_renewal.unlink(missing_ok=True)


run_main(main)
