"""Authenticated submission on the relay end to end (issue 3): swaks submits on the STARTTLS
port (587 role, `--tls`) and on the implicit-TLS port (465 role, `--tls-on-connect`) with AUTH
PLAIN and LOGIN; credentials are checked by splitmail-home (XAUTH over LMTP).

- A message to a remote domain (real unbound on loopback for MX, Postfix's smtp-sink as MX)
  arrives at the sink; both DKIM signatures (RSA-SHA256 and Ed25519-SHA256, keys from
  `splitmail dkim keygen`) verify with dkimpy and with OpenDKIM (`opendkim -t`), given the
  TXT records `splitmail dkim txt` prints; the relay added Date: and Message-ID:, and the
  Received: does not show the client.
- A message to the user's own address lands in their home Maildir, signed.
- Home offline: a credential home accepted is accepted from the relay's cache; other
  credentials get 454. After submission.auth_max_failures failures the IP gets 454.
- Wrong password -> 535; AUTH or MAIL without TLS -> 530; MAIL without AUTH -> 530; sending as
  someone else -> 553; relaying without AUTH from an untrusted IP on port 25 -> 554.
"""
from __future__ import annotations

import base64
import re
import subprocess

import dkim  # python3-dkim (Debian), only visible to /usr/bin/python3

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, tmpdir, wait_until
from outbound_lib import Sink, Unbound, outbound_relay_extra

DOMAIN = "example.test"
OTHER = "other@example.test"
SINK_TRACE = re.compile(rb"^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args)"
                        rb"[^\n]*\n", re.M)


def parse_records(text: str) -> dict[str, str]:
    records = {}
    for line in text.splitlines():
        m = re.fullmatch(r'(\S+)\. IN TXT ((?:"[^"]*" ?)+)', line)
        if m:
            records[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return records


def verify_all(msg: bytes, dns: dict[str, str]) -> list[tuple[str, bool]]:
    def dnsfunc(name, timeout=5):
        return dns.get(name.decode().rstrip("."), "").encode() or None
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in dkim.rfc822_parse(msg)[0] if k.lower() == b"dkim-signature"]
    out = []
    for i, sig in enumerate(sigs):
        alg = re.search(rb"\ba=([^;\s]+)", sig).group(1).decode()
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        out.append((alg, bool(ok)))
    return out


OPENDKIM = "/usr/sbin/opendkim"


def opendkim_results(msg: bytes, records: dict[str, str], work) -> dict[str, str]:
    """{selector: 'pass'|'fail'|...} from `opendkim -t` (verify mode, keys from a
    TestPublicKeys file holding the TXT records: no DNS)."""
    keyfile = work / "testkeys"
    keyfile.write_text("".join(f"{n} {v}\n" for n, v in records.items()))
    path = work / "msg.eml"
    path.write_bytes(msg if msg.endswith(b"\n") else msg + b"\r\n")
    conf = work / "opendkim.conf"
    conf.write_text(f"Mode v\nTestPublicKeys {keyfile}\nSyslog no\n")
    r = lib.run_tool([OPENDKIM, "-x", str(conf), "-vv", "-t", str(path)])
    text = (r.stdout + r.stderr).decode(errors="replace")
    return {m.group(2): m.group(1)
            for m in re.finditer(r"dkim=(\w+)[^;]*?header\.s=(\S+)", text)}


def swaks(port: int, *args: str, data: str, tls: str = "--tls") -> tuple[int, str]:
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), tls,
            "--helo", "laptop.private.lan", "--timeout", "30", "--data", "-", *args]
    r = subprocess.run(argv, input=data.encode(), capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def message(marker: str, to: str, sender: str = DEMO) -> str:
    # No Date:, no Message-ID: the relay adds them (RFC 6409 8.2, 8.3).
    return (f"From: Demo User <{sender}>\r\nTo: <{to}>\r\nSubject: submission {marker}\r\n"
            f"X-Test-Id: {marker}\r\n\r\nbody of {marker}\r\n\r\n")


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN, lib.Path(OPENDKIM))
    d = tmpdir("submission")
    keys = d / "dkim"
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                      "sub", "--dir", str(keys)])
    checks.eq(r.returncode, 0, f"dkim keygen ({r.stderr.decode().strip()})")
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "txt", "--domain", DOMAIN, "--dir", str(keys)])
    txt = parse_records(r.stdout.decode())
    checks.eq(len(txt), 2, "`splitmail dkim txt` prints two records")

    dns = Unbound(d / "dns", {"remote.test": ["remote.test. IN MX 10 mx.remote.test.",
                                              "mx.remote.test. IN A 127.0.0.1"]}).start()
    mx_port = lib.free_port()
    home = Home(d / "home", users=[DEMO, OTHER],
                aliases=f"info@{DOMAIN}: {DEMO}\n").start()
    password = home.passwords[DEMO]
    cert = lib.make_cert(d, "relay", "mx.example.test")
    sub_port, subs_port = lib.free_port(), lib.free_port()
    extra = outbound_relay_extra(dns, mx_port)
    extra["relay.trusted_networks"] = "[]"  # loopback is an untrusted client here
    extra["submission.listen"] = f'["127.0.0.1:{sub_port}"]'
    extra["submissions.listen"] = f'["127.0.0.1:{subs_port}"]'
    extra["submission.auth_failure_delay"] = '"1s"'
    extra["submission.auth_max_failures"] = "3"
    extra["dkim.dir"] = f'"{keys}"'
    relay = Relay(d / "relay", home, tls=cert, extra=extra).start()
    sink = Sink(d / "sink", mx_port).start()
    auth = ["--auth-user", DEMO, "--auth-password", password]

    # 1. STARTTLS port, AUTH PLAIN, to a remote domain.
    log("587-style: STARTTLS + AUTH PLAIN to remote.test")
    rc, out = swaks(sub_port, "--auth", "PLAIN", *auth, "--from", DEMO, "--to",
                    "alice@remote.test", data=message("SUB1", "alice@remote.test"))
    checks.ok(rc == 0 and "<~  235" in out and "<~  250 2.0.0 Ok: queued" in out,
              "submission with STARTTLS and AUTH PLAIN accepted", out)
    # 2. Implicit TLS port, AUTH LOGIN, from an alias.
    log("465-style: implicit TLS + AUTH LOGIN to remote.test, sender is an alias")
    rc, out = swaks(subs_port, "--auth", "LOGIN", *auth, "--from", f"info@{DOMAIN}", "--to",
                    "bob@remote.test", data=message("SUB2", "bob@remote.test", f"info@{DOMAIN}"),
                    tls="--tls-on-connect")
    checks.ok(rc == 0 and "<~  235" in out and "<~  250 2.0.0 Ok: queued" in out,
              "submission with implicit TLS and AUTH LOGIN accepted (alias as sender)", out)

    for marker in ("SUB1", "SUB2"):
        got = wait_until(lambda: sink.with_marker(marker), 30, f"{marker} at the remote MX",
                         daemons=[relay.daemon])
        msg = SINK_TRACE.sub(b"", got[0].replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        res = verify_all(msg, txt)
        checks.eq(sorted(a for a, _ in res), ["ed25519-sha256", "rsa-sha256"],
                  f"{marker}: two DKIM signatures (RSA and Ed25519)")
        checks.ok(res and all(ok for _, ok in res), f"{marker}: both signatures verify with dkimpy",
                  f"{res}\n{msg[:3000]!r}")
        od = opendkim_results(msg, txt, d)
        checks.eq(od, {"sub-rsa": "pass", "sub-ed25519": "pass"},
                  f"{marker}: both signatures verify with OpenDKIM (opendkim -t)")
        head = msg.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        checks.ok(re.search(r"(?m)^Date: ", head) is not None, f"{marker}: Date: added", head)
        checks.ok(re.search(r"(?m)^Message-ID: <[^>]+@mx\.example\.test>", head) is not None,
                  f"{marker}: Message-ID: added", head)
        ours = [f for f in re.findall(r"(?ms)^Received: .*?(?=^\S)", head + "\r\nX:")
                if "(splitmail)" in f]
        checks.ok(len(ours) == 1 and "127.0.0.1" not in ours[0]
                  and "laptop.private.lan" not in ours[0] and "ESMTPSA" in ours[0],
                  f"{marker}: Received: names neither client address nor HELO", head)

    # 3. To the user's own address: lands in the home Maildir, signed.
    log("to own address: home Maildir, signed")
    before = home.count(DEMO)
    rc, out = swaks(sub_port, "--auth", "PLAIN", *auth, "--from", DEMO, "--to", DEMO,
                    data=message("SUB3", DEMO))
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "submission to own address", out)
    wait_until(lambda: home.count(DEMO) > before, 30, "SUB3 in demo's Maildir",
               daemons=[relay.daemon, home.daemon])
    raw = [p.read_bytes() for p in home.messages(DEMO) if b"SUB3" in p.read_bytes()][0]
    res = verify_all(raw, txt)
    checks.ok(len(res) == 2 and all(ok for _, ok in res),
              "message in the Maildir carries two valid DKIM signatures", f"{res}")

    # 4. Refusals.
    log("wrong password")
    rc, out = swaks(sub_port, "--auth", "PLAIN", "--auth-user", DEMO, "--auth-password",
                    "wrong-" + password, "--from", DEMO, "--to", "x@remote.test",
                    data=message("SUB4", "x@remote.test"))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 535 5.7.8", out) is not None,
              "wrong password: 535 5.7.8", out)

    log("no TLS")
    cred = base64.b64encode(f"\0{DEMO}\0{password}".encode()).decode()
    with lib.SMTP(sub_port) as c:
        _, ehlo = c.ehlo()
        checks.ok("AUTH" not in ehlo and "STARTTLS" in ehlo,
                  "no AUTH offered before STARTTLS", ehlo)
        code, text = c.cmd(f"AUTH PLAIN {cred}")
        checks.eq(code, 530, f"AUTH before STARTTLS: 530 ({text})")
        code, text = c.cmd(f"MAIL FROM:<{DEMO}>")
        checks.eq(code, 530, f"MAIL before STARTTLS: 530 ({text})")

    log("MAIL without AUTH over TLS")
    rc, out = swaks(subs_port, "--from", DEMO, "--to", "x@remote.test",
                    data=message("SUB5", "x@remote.test"), tls="--tls-on-connect")
    checks.ok(rc != 0 and re.search(r"<[~*]\* 530 5.7.0 Authentication required", out) is not None,
              "MAIL without AUTH: 530 5.7.0", out)

    log("sending as someone else")
    rc, out = swaks(sub_port, "--auth", "PLAIN", *auth, "--from", OTHER, "--to",
                    "x@remote.test", data=message("SUB6", "x@remote.test", OTHER))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 553 5.7.1", out) is not None,
              "sending as another user: 553 5.7.1", out)

    log("relaying without AUTH on port 25 from an untrusted IP")
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{DEMO}>")
        code, text = c.cmd("RCPT TO:<zed@remote.test>")
    checks.eq(code, 554, f"relaying without AUTH: 554 ({text})")

    log("inbound mail on port 25 claiming our domain is not signed")
    before = home.count(DEMO)
    code, _ = lib.send_message(relay.port, "spoof@elsewhere.test", [DEMO],
                               message("SUB11", DEMO).encode())
    checks.eq(code, 250, "port 25 accepts mail for a local user")
    wait_until(lambda: home.count(DEMO) > before, 30, "SUB11 in demo's Maildir",
               daemons=[relay.daemon, home.daemon])
    raw = [p.read_bytes() for p in home.messages(DEMO) if b"SUB11" in p.read_bytes()][0]
    checks.ok(b"DKIM-Signature" not in raw and b"\r\nMessage-ID:" not in raw,
              "untrusted port-25 mail gets neither a signature nor added headers", raw[:600])

    log("trusted network (home tunnel peer) mail is signed without AUTH")
    extra2 = dict(extra)
    extra2["relay.trusted_networks"] = '["127.0.0.1/32"]'
    extra2["submission.listen"] = "[]"
    extra2["submissions.listen"] = "[]"
    r2 = Relay(d / "relay2", home, tls=cert, extra=extra2).start()
    code, _ = lib.send_message(r2.port, DEMO, ["dan@remote.test"],
                               message("SUB12", "dan@remote.test").encode())
    checks.eq(code, 250, "trusted client relays without AUTH")
    got = wait_until(lambda: sink.with_marker("SUB12"), 30, "SUB12 at the remote MX",
                     daemons=[r2.daemon])
    msg = SINK_TRACE.sub(b"", got[0].replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    res = verify_all(msg, txt)
    checks.ok(len(res) == 2 and all(ok for _, ok in res),
              "trusted-network mail carries two valid DKIM signatures", f"{res}")
    r2.stop()

    rl = relay.daemon.log_text()
    checks.ok(password not in rl and ("wrong-" + password) not in rl,
              "the relay log never contains a password")
    checks.ok("login failed" in rl and "AUTH ok" in rl, "AUTH outcomes are logged")
    checks.ok(not sink.with_marker("SUB4") and not sink.with_marker("SUB6"),
              "refused messages never reach the MX")

    # 5. Home offline: a credential home accepted before is accepted from the relay's cache
    #    (salted hash); anything else gets 454 (temporary), never 535.
    log("home offline: cached credential")
    home.stop()
    rc, out = swaks(sub_port, "--auth", "PLAIN", *auth, "--from", DEMO, "--to",
                    "carol@remote.test", data=message("SUB7", "carol@remote.test"))
    checks.ok(rc == 0 and "<~  235" in out and "<~  250 2.0.0 Ok: queued" in out,
              "home offline: the cached credential is accepted", out)
    wait_until(lambda: sink.with_marker("SUB7"), 30, "SUB7 at the remote MX",
               daemons=[relay.daemon])
    rc, out = swaks(sub_port, "--auth", "PLAIN", "--auth-user", DEMO, "--auth-password",
                    "other-" + password, "--from", DEMO, "--to", "x@remote.test",
                    data=message("SUB8", "x@remote.test"))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 454 4.7.0", out) is not None,
              "home offline: an uncached password gets 454 4.7.0", out)
    rc, out = swaks(sub_port, "--auth", "PLAIN", "--auth-user", OTHER, "--auth-password",
                    home.passwords[OTHER], "--from", OTHER, "--to", "x@remote.test",
                    data=message("SUB9", "x@remote.test", OTHER))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 454 4.7.0", out) is not None,
              "home offline: a user never checked before gets 454 4.7.0", out)
    checks.ok("accepted from cache" in relay.daemon.log_text(), "the relay logs cache use")
    home.start()

    # 6. Lockout (last: it locks the user out): submission.auth_max_failures = 3 failures
    #    (the deprecated key still sets auth.max_user_failures) -> 454 even for the right
    #    password.
    log("failed-AUTH lockout")
    for _ in range(3):
        rc, out = swaks(sub_port, "--auth", "PLAIN", "--auth-user", DEMO, "--auth-password",
                        "bad", "--from", DEMO, "--to", "x@remote.test",
                        data=message("SUBX", "x@remote.test"))
        # 535, or already 454: the offline failures above count too (one login brake).
        checks.ok(re.search(r"<[~*]\* (535 5.7.8|454 4.7.0)", out) is not None,
                  "another failure: 535 (or 454 once locked)", out)
    rc, out = swaks(sub_port, "--auth", "PLAIN", *auth, "--from", DEMO, "--to", "x@remote.test",
                    data=message("SUB10", "x@remote.test"))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 454 4.7.0", out) is not None,
              "after 3 failures the IP is locked out: 454 4.7.0 even with the right password",
              out)
    checks.ok("login refused" in relay.daemon.log_text(), "the lockout is logged")

    relay.stop()
    sink.stop()
    dns.stop()
    home.stop()


if __name__ == "__main__":
    run_main(main)
