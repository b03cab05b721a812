"""DKIM verification of inbound mail at the relay (issue 17) and the Authentication-Results
field it writes (RFC 8601), against signers and a parser we did not write.

A real unbound serves signer.test: DKIM key records for an RSA-2048 key (selector rsa), an
Ed25519 key (selector ed, RFC 8463) and, under selector wrong, the public half of ANOTHER RSA
key; and an SPF record passing 127.0.0.1. Messages are signed by dkimpy (python3-dkim) and by
OpenDKIM (opendkim-testmsg), sent to the relay over SMTP, delivered to home, and the
Authentication-Results field of the delivered message is parsed with python3-authres:

- dkimpy rsa-sha256 relaxed/simple, ed25519-sha256, both on one message, simple/simple with
  l= and text appended after signing: each signature dkim=pass (l= noted in reason=);
- a body changed after signing, a signature whose selector publishes another key, and an x=
  in the past: dkim=fail with the reason (reason=, RFC 8601 2.2);
- OpenDKIM's rsa-sha256 signature (opendkim -t in signing mode): dkim=pass; opendkim-testmsg's
  rsa-sha1 signature (its only algorithm): dkim=fail (RFC 8301 3.1);
- an unsigned message: dkim=none; spf=pass smtp.mailfrom on every message;
- an incoming Authentication-Results claiming our authserv-id is gone from the delivered
  message (RFC 8601 5), one from another authserv-id is kept, and exactly one of ours is there;
- header.d / header.s / header.a / header.b of each result match the signature;
- iprev=pass policy.iprev=127.0.0.1 on every message (unbound's default localhost zones give
  127.0.0.1 the PTR name localhost, which resolves back);
- DMARC (RFC 7489): a From: domain with p=reject, SPF failing and no aligned DKIM pass is
  refused at the end of DATA with 550 5.7.1 and neither queued nor delivered (also for a
  subdomain, through the Organizational Domain's record); the same domain with an aligned DKIM
  signature gets dmarc=pass; p=quarantine gives dmarc=fail policy.dmarc=quarantine; p=none
  with an aligned SPF pass dmarc=pass; header.from each time.
"""
import base64
import imaplib
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402
from outbound_lib import Unbound  # noqa: E402

import authres  # python3-authres (Debian), only visible to /usr/bin/python3
import dkim  # python3-dkim
import nacl.signing  # python3-nacl (dkimpy's Ed25519)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DOMAIN = "signer.test"
AUTHSERV = "mx.example.test"
OPENDKIM = "/usr/sbin/opendkim"
OPENDKIM_TESTMSG = "/usr/sbin/opendkim-testmsg"


def rsa_key():
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(spki).decode()


def txt_record(name: str, value: str) -> str:
    """TXT presentation with the value cut into <=255-octet strings (RFC 1035 3.3.14)."""
    parts = " ".join(f'"{value[i:i + 200]}"' for i in range(0, len(value), 200))
    return f"{name}. TXT {parts}"


def message(marker: str, extra_headers: str = "", author: str = f"a@{DOMAIN}") -> bytes:
    return (f"{extra_headers}From: Sender <{author}>\r\nTo: <{DEMO}>\r\n"
            f"Subject: {marker}\r\nDate: Sun, 06 Dec 2026 01:00:00 +0000\r\n"
            f"Message-ID: <{marker}@{DOMAIN}>\r\n\r\nmarker {marker}\r\n"
            "A second line,  with   spaces\t \r\n\r\n").encode()


def sign(msg: bytes, selector: str, key: bytes, domain: str = DOMAIN, **kw) -> bytes:
    return dkim.sign(msg, selector.encode(), domain.encode(), key,
                     include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                     **kw) + msg


def sign_expired(msg: bytes, key: bytes) -> bytes:
    """dkimpy has no x= option: sign an hour in the past with x= half an hour ago."""
    orig_gen, orig_time = dkim.DKIM.gen_header, time.time
    past = int(orig_time()) - 3600

    def gen_header(self, fields, *a, **kw):
        fields.insert(len(fields) - 2, (b"x", str(past + 1800).encode()))
        return orig_gen(self, fields, *a, **kw)

    dkim.DKIM.gen_header = gen_header
    time.time = lambda: past
    try:
        return sign(msg, "rsa", key)
    finally:
        dkim.DKIM.gen_header, time.time = orig_gen, orig_time


def opendkim_sign(msg: bytes, keyfile: Path, work: Path) -> bytes:
    """OpenDKIM 2.11 in signing mode (`opendkim -t`, a throwaway config, rsa-sha256,
    relaxed/simple): the DKIM-Signature it would insert (printed with -vv) goes on top."""
    src = work / "opendkim-in.eml"
    src.write_bytes(msg)
    conf = work / "opendkim-sign.conf"
    conf.write_text(f"Mode s\nDomain {DOMAIN}\nSelector rsa\nKeyFile {keyfile}\n"
                    "SignatureAlgorithm rsa-sha256\nCanonicalization relaxed/simple\n"
                    "RequireSafeKeys no\nSyslog no\n")
    r = subprocess.run([OPENDKIM, "-x", str(conf), "-vv", "-t", str(src)], capture_output=True,
                       timeout=60)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    m = re.search(r"INSHEADER: idx=\d+ hname='DKIM-Signature' hvalue='([^']*)'", out)
    if not m:
        lib.fail(f"opendkim -t did not sign: {out[-2000:]}")
    value = m.group(1).replace("\r\n", "\n").replace("\n", "\r\n")
    return b"DKIM-Signature: " + value.encode() + b"\r\n" + msg


def opendkim_testmsg_sign(msg: bytes, keyfile: Path) -> bytes:
    """opendkim-testmsg signs with libopendkim's default, rsa-sha1 (it has no option)."""
    r = subprocess.run([OPENDKIM_TESTMSG, "-C", "-d", DOMAIN, "-s", "rsa", "-k", str(keyfile)],
                       input=msg, capture_output=True, timeout=60)
    if r.returncode != 0 or b"DKIM-Signature" not in r.stdout:
        lib.fail(f"opendkim-testmsg failed: {r.returncode} {r.stderr.decode(errors='replace')}")
    return r.stdout


def read_results(path: Path):
    """(our parsed A-R header or None, number of ours, raw values of all A-R fields)."""
    h = lib.headers_of(path.read_bytes())
    values = [" ".join(str(v).split()) for v in h.get_all("Authentication-Results", [])]
    ours = []
    for v in values:
        parsed = authres.core.AuthenticationResultsHeader.parse_value(authres.all_features(), v)
        if parsed.authserv_id == AUTHSERV:
            ours.append(parsed)
    return (ours[0] if ours else None), len(ours), values


def dmarc_result(path: Path):
    ar, _, _ = read_results(path)
    got = [x for x in ar.results if x.method == "dmarc"] if ar else []
    if len(got) != 1:
        return None, {}
    return got[0].result, {f"{p.type}.{p.name}": p.value for p in got[0].properties}


def dmarc_part(relay, home, rsa_pem: bytes) -> None:
    """RFC 7489 at the relay: p=reject without an aligned pass is refused with 550 5.7.1 and
    nothing is queued or delivered; an aligned DKIM pass gets through; a subdomain falls under
    the organisational record; p=quarantine is accepted and recorded; p=none passes."""
    before = len(home.messages(DEMO))
    for marker, author in (("dm-reject", "a@strict.test"), ("dm-subdomain", "a@news.strict.test")):
        code, text = lib.send_message(relay.port, author, [DEMO], message(marker, author=author))
        checks.eq(code, 550, f"{marker}: DMARC p=reject failure refused at DATA")
        checks.ok("5.7.1" in text and "DMARC" in text, f"{marker}: 5.7.1 names DMARC", text)
    signed = sign(message("dm-aligned", author="a@strict.test"), "rsa", rsa_pem,
                  domain="strict.test")
    code, text = lib.send_message(relay.port, "a@strict.test", [DEMO], signed)
    checks.eq(code, 250, f"dm-aligned: an aligned DKIM pass passes DMARC although SPF fails {text}")
    code, text = lib.send_message(relay.port, "a@quar.test", [DEMO],
                                  message("dm-quarantine", author="b@quar.test"))
    checks.eq(code, 250, f"dm-quarantine: p=quarantine is accepted {text}")
    want = {"dm-aligned": ("pass", "strict.test", None),
            "dm-quarantine": ("fail", "quar.test", "quarantine"),
            "dk-rsa": ("pass", DOMAIN, None),
            "dk-unsigned": ("pass", DOMAIN, None)}  # aligned SPF pass, p=none
    for marker, (result, domain, pol) in want.items():
        # p=quarantine: home files the message into Junk (the relay's A-R says so).
        folder = "Junk" if pol == "quarantine" else "INBOX"

        def find(marker=marker, folder=folder):
            hits = [p for p in home.messages(DEMO, folder)
                    if f"marker {marker}".encode() in p.read_bytes()]
            return hits or None
        path = lib.wait_until(find, 30, f"message {marker} delivered")[0]
        got, props = dmarc_result(path)
        checks.eq(got, result, f"{marker}: dmarc={result}")
        checks.eq(props.get("header.from"), domain, f"{marker}: header.from")
        if pol:
            checks.eq(props.get("policy.dmarc"), pol, f"{marker}: policy.dmarc")
    checks.ok(not any(b"marker dm-quarantine" in p.read_bytes() for p in home.messages(DEMO)),
              "dm-quarantine: in Junk, not in the INBOX")
    # What the user sees: a mail client finds it in Junk (SPECIAL-USE \Junk), not in INBOX.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", home.imaps_port, ssl_context=ctx, timeout=30)
    m.login(DEMO, home.passwords[DEMO])
    typ, listed = m.list('""', "Junk")
    checks.ok(typ == "OK" and listed and listed[0] and b"\\Junk" in listed[0],
              "IMAP: LIST shows Junk with \\Junk", str(listed))
    for folder, want in (("Junk", 1), ("INBOX", 0)):
        typ, _ = m.select(folder, readonly=True)
        checks.eq(typ, "OK", f"IMAP: SELECT {folder}")
        typ, data = m.search(None, "SUBJECT", "dm-quarantine")
        found = data[0].split() if typ == "OK" and data and data[0] else []
        checks.eq(len(found), want, f"IMAP: dm-quarantine found {want} time(s) in {folder}")
    m.logout()
    delivered = [p.read_bytes() for p in home.messages(DEMO) + home.messages(DEMO, "Junk")]
    checks.ok(not any(b"marker dm-reject" in m or b"marker dm-subdomain" in m for m in delivered),
              "refused messages were never delivered")
    checks.eq(len(delivered), before + 2, "exactly the two accepted DMARC messages arrived")
    spooled = [p for p in relay.spool.rglob("*") if p.is_file()]
    checks.ok(not any(b"marker dm-reject" in p.read_bytes() for p in spooled),
              "nothing of a refused message is left in the spool", str(spooled))


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, Path(OPENDKIM), Path(OPENDKIM_TESTMSG))
    d = lib.tmpdir("dkim-inbound")
    rsa_pem, rsa_pub = rsa_key()
    _, other_pub = rsa_key()
    ed = nacl.signing.SigningKey.generate()
    ed_priv = base64.b64encode(bytes(ed))
    ed_pub = base64.b64encode(bytes(ed.verify_key)).decode()
    keyfile = d / "rsa.pem"
    keyfile.write_bytes(rsa_pem)

    records = [
        f'{DOMAIN}. TXT "v=spf1 ip4:127.0.0.0/8 -all"',
        txt_record(f"rsa._domainkey.{DOMAIN}", f"v=DKIM1; k=rsa; p={rsa_pub}"),
        txt_record(f"ed._domainkey.{DOMAIN}", f"v=DKIM1; k=ed25519; p={ed_pub}"),
        txt_record(f"wrong._domainkey.{DOMAIN}", f"v=DKIM1; k=rsa; p={other_pub}"),
    ]
    records.append(f'_dmarc.{DOMAIN}. TXT "v=DMARC1; p=none"')
    dmarc_zones = {
        # p=reject, SPF fails from 127.0.0.1: only an aligned DKIM pass gets a message in.
        "strict.test": ['strict.test. TXT "v=spf1 ip4:192.0.2.1 -all"',
                        '_dmarc.strict.test. TXT "v=DMARC1; p=reject; rua=mailto:r@strict.test"',
                        txt_record("rsa._domainkey.strict.test", f"v=DKIM1; k=rsa; p={rsa_pub}")],
        "quar.test": ['quar.test. TXT "v=spf1 -all"',
                      '_dmarc.quar.test. TXT "v=DMARC1; p=quarantine"'],
    }
    dns = Unbound(d / "dns", {DOMAIN: [], **{z: [] for z in dmarc_zones}})
    conf = dns.config.read_text()
    for zone, recs in [(DOMAIN, records), *dmarc_zones.items()]:
        anchor = f'  local-zone: "{zone}." static\n'
        conf = conf.replace(anchor, anchor + "".join(f"  local-data: '{r}'\n" for r in recs))
    dns.config.write_text(conf)
    r = subprocess.run(["unbound-checkconf", str(dns.config)], capture_output=True, text=True)
    if r.returncode != 0:
        lib.fail(f"unbound-checkconf: {r.stdout} {r.stderr}")
    dns.start()

    cert = lib.make_cert(d, "imap", "home.example.test")
    imaps_port = lib.free_port()
    home = lib.Home(d / "home", users=[DEMO], extra={
        "imaps.listen": f'["127.0.0.1:{imaps_port}"]',
        "imap.tls_cert": f'"{cert[0]}"', "imap.tls_key": f'"{cert[1]}"'})
    home.imaps_port = imaps_port
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 15, "home's IMAPS port",
                   daemons=[home.daemon])
    relay = lib.Relay(d / "relay", home, extra={
        "outbound.resolver": f'"127.0.0.1:{dns.port}"', "dkim_verify.timeout": '"10s"'}).start()

    both = sign(sign(message("dk-both"), "ed", ed_priv, signature_algorithm=b"ed25519-sha256"),
                "rsa", rsa_pem)
    limited = sign(message("dk-limited"), "rsa", rsa_pem,
                   canonicalize=(b"simple", b"simple"), length=True)
    limited += b"Appended after signing: not covered by l=\r\n"
    tampered = sign(message("dk-tampered"), "rsa", rsa_pem).replace(b"second line", b"2nd line")
    forged = (f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=bank.test\r\n"
              f"Authentication-Results: other.example; spf=pass smtp.mailfrom=x@other.test\r\n")
    cases = [  # marker, message, [(result, selector, algorithm)], reason= must contain
        ("dk-rsa", sign(message("dk-rsa"), "rsa", rsa_pem), [("pass", "rsa", "rsa-sha256")], ""),
        ("dk-ed", sign(message("dk-ed"), "ed", ed_priv, signature_algorithm=b"ed25519-sha256"),
         [("pass", "ed", "ed25519-sha256")], ""),
        ("dk-both", both, [("pass", "rsa", "rsa-sha256"), ("pass", "ed", "ed25519-sha256")], ""),
        ("dk-limited", limited, [("pass", "rsa", "rsa-sha256")], "l="),
        ("dk-tampered", tampered, [("fail", "rsa", "rsa-sha256")], "body hash"),
        ("dk-wrongkey", sign(message("dk-wrongkey"), "wrong", rsa_pem),
         [("fail", "wrong", "rsa-sha256")], "signature did not verify"),
        ("dk-expired", sign_expired(message("dk-expired"), rsa_pem),
         [("fail", "rsa", "rsa-sha256")], "expired"),
        ("dk-opendkim", opendkim_sign(message("dk-opendkim"), keyfile, d),
         [("pass", "rsa", "rsa-sha256")], ""),
        ("dk-sha1", opendkim_testmsg_sign(message("dk-sha1"), keyfile),
         [("fail", "rsa", "rsa-sha1")], "rsa-sha1"),
        ("dk-unsigned", message("dk-unsigned"), [("none", None, None)], ""),
        ("dk-forged", sign(message("dk-forged", forged), "rsa", rsa_pem),
         [("pass", "rsa", "rsa-sha256")], ""),
    ]
    # Controls: dkimpy itself agrees with the expected verdicts (the test data is right).
    keys = {f"rsa._domainkey.{DOMAIN}.".encode(): f"v=DKIM1; k=rsa; p={rsa_pub}".encode(),
            f"wrong._domainkey.{DOMAIN}.".encode(): f"v=DKIM1; k=rsa; p={other_pub}".encode()}
    dnsfunc = lambda name, timeout=5: keys.get(name)  # noqa: E731
    checks.ok(dkim.verify(cases[0][1], dnsfunc=dnsfunc), "control: dkimpy verifies dk-rsa")
    checks.ok(not dkim.verify(tampered, dnsfunc=dnsfunc), "control: dkimpy fails dk-tampered")

    for marker, msg, _, _ in cases:
        code, text = lib.send_message(relay.port, f"a@{DOMAIN}", [DEMO], msg)
        checks.eq(code, 250, f"{marker}: accepted (DKIM never refuses on its own) {text}")

    for marker, _, want, note in cases:
        def find(marker=marker):
            hits = [p for p in home.messages(DEMO) if f"marker {marker}".encode() in p.read_bytes()]
            return hits or None
        path = lib.wait_until(find, 30, f"message {marker} delivered")[0]
        ar, n_ours, values = read_results(path)
        checks.eq(n_ours, 1, f"{marker}: exactly one Authentication-Results of {AUTHSERV}")
        if ar is None:
            continue
        spf = [x for x in ar.results if x.method == "spf"]
        checks.ok(len(spf) == 1 and spf[0].result == "pass" and
                  any(p.type == "smtp" and p.name == "mailfrom" and p.value == f"a@{DOMAIN}"
                      for p in spf[0].properties), f"{marker}: spf=pass smtp.mailfrom", str(ar))
        # RFC 8601 3: unbound's default zones map 127.0.0.1 to localhost and back.
        iprev = [x for x in ar.results if x.method == "iprev"]
        checks.ok(len(iprev) == 1 and iprev[0].result == "pass" and
                  any(p.type == "policy" and p.name == "iprev" and p.value == "127.0.0.1"
                      for p in iprev[0].properties), f"{marker}: iprev=pass policy.iprev", str(ar))
        got = [x for x in ar.results if x.method == "dkim"]
        checks.eq(len(got), len(want), f"{marker}: one dkim result per signature ({ar})")
        for res, (result, sel, alg) in zip(got, want):
            checks.eq(res.result, result, f"{marker}: dkim={result} ({ar})")
            if sel is None:
                continue
            props = {f"{p.type}.{p.name}": p.value for p in res.properties}
            checks.eq(props.get("header.d"), DOMAIN, f"{marker}: header.d")
            checks.eq(props.get("header.s"), sel, f"{marker}: header.s")
            checks.eq(props.get("header.a"), alg, f"{marker}: header.a")
            checks.eq(len(props.get("header.b", "")), 8, f"{marker}: header.b is 8 characters")
            if note:
                checks.ok(note in str(res.reason or ""), f"{marker}: reason= says {note!r}",
                          str(res.reason))
        if marker == "dk-forged":
            checks.ok(not any("bank.test" in v for v in values),
                      "dk-forged: the forged field claiming our authserv-id was removed", str(values))
            checks.ok(any(v.startswith("other.example;") for v in values),
                      "dk-forged: another authserv-id's field is kept", str(values))
        # Home adds Return-Path and Delivered-To on top at delivery; ours comes next.
        names = [k.lower() for k in lib.headers_of(path.read_bytes()).keys()
                 if k.lower() not in ("return-path", "delivered-to")]
        checks.ok(names[0] == "authentication-results",
                  f"{marker}: Authentication-Results is the relay's topmost field", str(names[:4]))
    dmarc_part(relay, home, rsa_pem)
    log = relay.daemon.log_text()
    checks.ok(re.search(r" dkim \S+ verified result=pass domain=signer.test selector=ed ", log)
              and re.search(r" dkim \S+ verified result=fail .*body hash", log),
              "results are logged", log[-2000:])
    checks.ok("removed Authentication-Results" in log, "the removal is logged", log[-2000:])
    relay.stop()
    home.stop()
    checks.summary()


if __name__ == "__main__":
    lib.run_main(main)
