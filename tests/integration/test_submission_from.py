"""The header From: of a submission is bound to the authenticated user (issue 11 item 4), on the
STARTTLS port (587 role, swaks --tls) and the implicit-TLS port (465 role, --tls-on-connect).

demo@example.test authenticates and uses its own MAIL FROM each time; only the header differs:
- another user's address in From:, a display name that is another address (quoted, or an RFC
  2047 encoded-word), two From: fields, `From: demo, other`, a Sender: of another user
  -> 550 5.7.1 naming the address, and nothing is queued or delivered;
- its own address and its alias info@ -> delivered to its home Maildir, signed with both DKIM
  keys of the domain; a message without From: gets one (the envelope sender);
- Received: names the authenticated user (submission.received_auth_user, default on), and does
  not when the setting is off.
"""
from __future__ import annotations

import re
import subprocess

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, tmpdir, wait_until

DOMAIN = "example.test"
OTHER = "other@example.test"
ALIAS = f"info@{DOMAIN}"


def swaks(port: int, *args: str, data: str, tls: str = "--tls") -> tuple[int, str]:
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), tls,
            "--helo", "laptop.private.lan", "--timeout", "30", "--data", "-", *args]
    r = subprocess.run(argv, input=data.encode(), capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def message(marker: str, headers: str) -> str:
    return (f"{headers}To: <{DEMO}>\r\nSubject: from-binding {marker}\r\n"
            f"X-Test-Id: {marker}\r\n\r\nbody of {marker}\r\nFrom: {OTHER} (body: ignored)\r\n")


def received_ours(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return [f for f in re.findall(r"(?ms)^Received: .*?(?=^\S)", head + "\r\nX:")
            if "(splitmail)" in f]


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    d = tmpdir("submission-from")
    keys = d / "dkim"
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                      "sub", "--dir", str(keys)])
    checks.eq(r.returncode, 0, f"dkim keygen ({r.stderr.decode().strip()})")
    home = Home(d / "home", users=[DEMO, OTHER], aliases=f"{ALIAS}: {DEMO}\n").start()
    password = home.passwords[DEMO]
    cert = lib.make_cert(d, "relay", "mx.example.test")
    sub_port, subs_port = lib.free_port(), lib.free_port()
    extra = {"relay.trusted_networks": "[]",
             "submission.listen": f'["127.0.0.1:{sub_port}"]',
             "submissions.listen": f'["127.0.0.1:{subs_port}"]',
             "dkim.dir": f'"{keys}"'}
    relay = Relay(d / "relay", home, tls=cert, extra=extra).start()
    auth = ["--auth", "PLAIN", "--auth-user", DEMO, "--auth-password", password,
            "--from", DEMO, "--to", DEMO]

    forged = [
        ("F1", f"From: Other <{OTHER}>\r\n", OTHER),
        ("F2", f'From: "{OTHER}" <{DEMO}>\r\n', OTHER),
        ("F3", f"From: =?utf-8?Q?other=40example.test?= <{DEMO}>\r\n", OTHER),
        ("F4", f"From: {DEMO}\r\nFrom: {OTHER}\r\n", "more than one From:"),
        ("F5", f"From: {DEMO}, {OTHER}\r\n", OTHER),
        ("F6", f"From: {DEMO}\r\nSender: {OTHER}\r\n", OTHER),
        ("F7", f"From: Demo\r\n <{OTHER}>\r\n", OTHER),  # folded
    ]
    for i, (marker, headers, names) in enumerate(forged):
        port, tls = (sub_port, "--tls") if i % 2 == 0 else (subs_port, "--tls-on-connect")
        log(f"forged {marker} on {'587' if tls == '--tls' else '465'}: {headers.strip()!r}")
        rc, out = swaks(port, *auth, data=message(marker, headers), tls=tls)
        m = re.search(r"<[~*]\* (550 5\.7\.1 [^\r\n]*)", out)
        checks.ok(rc != 0 and m is not None and names in m.group(1),
                  f"{marker}: 550 5.7.1 naming {names}", out[-1500:])
    checks.eq(relay.queued(), [], "nothing from the forged messages is queued")

    log("own address on 587, alias on 465, no From: at all on 587")
    rc, out = swaks(sub_port, *auth, data=message("OK1", f"From: Demo User <{DEMO}>\r\n"))
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "own address: accepted", out)
    rc, out = swaks(subs_port, "--auth", "LOGIN", "--auth-user", DEMO, "--auth-password",
                    password, "--from", ALIAS, "--to", DEMO,
                    data=message("OK2", f'From: "Info desk" <{ALIAS}>\r\n'),
                    tls="--tls-on-connect")
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "alias: accepted", out)
    rc, out = swaks(sub_port, *auth, data=message("OK3", ""))
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "no From: accepted", out)
    wait_until(lambda: {"OK1", "OK2", "OK3"} <= set(lib.ids_in_maildir(home)), 30,
               "OK1..OK3 in demo's Maildir", daemons=[relay.daemon, home.daemon])
    ids = lib.ids_in_maildir(home)
    checks.ok(not any(m in ids for m, _, _ in forged), "no forged message was delivered",
              f"{sorted(ids)}")
    for marker in ("OK1", "OK2", "OK3"):
        raw = [p.read_bytes() for p in home.messages(DEMO)
               if f"X-Test-Id: {marker}".encode() in p.read_bytes()][0]
        head = raw.split(b"\r\n\r\n", 1)[0]
        sigs = re.findall(rb"(?m)^DKIM-Signature:[^\r\n]*a=([a-z0-9-]+)", head)
        checks.eq(sorted(s.decode() for s in sigs), ["ed25519-sha256", "rsa-sha256"],
                  f"{marker}: signed with both keys of the domain")
        ours = received_ours(raw)
        checks.ok(len(ours) == 1 and f"(Authenticated sender: {DEMO})" in ours[0]
                  and "127.0.0.1" not in ours[0],
                  f"{marker}: Received: names the authenticated user", f"{ours}")
        if marker == "OK3":
            checks.ok(re.search(rb"(?m)^From: <demo@example\.test>\r$", head) is not None,
                      "OK3: the relay added From: <envelope sender>", head.decode())
    relay.stop()

    log("submission.received_auth_user = false: Received: does not name the user")
    extra2 = dict(extra)
    sub2 = lib.free_port()
    extra2["submission.listen"] = f'["127.0.0.1:{sub2}"]'
    extra2["submissions.listen"] = "[]"
    extra2["submission.received_auth_user"] = "false"
    relay2 = Relay(d / "relay2", home, tls=cert, extra=extra2).start()
    rc, out = swaks(sub2, *auth, data=message("OK4", f"From: {DEMO}\r\n"))
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "OK4 accepted", out)
    wait_until(lambda: "OK4" in lib.ids_in_maildir(home), 30, "OK4 in demo's Maildir",
               daemons=[relay2.daemon, home.daemon])
    raw = [p.read_bytes() for p in home.messages(DEMO) if b"X-Test-Id: OK4" in p.read_bytes()][0]
    ours = received_ours(raw)
    checks.ok(len(ours) == 1 and "Authenticated sender:" not in ours[0]
              and ours[0].startswith("Received: (authenticated sender)\r\n"),
              "OK4: Received: without the user name", f"{ours}")
    rc, out = swaks(sub2, *auth, data=message("F8", f"From: {OTHER}\r\n"))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 550 5\.7\.1", out) is not None,
              "the From: check does not depend on that setting", out[-800:])
    relay2.stop()
    home.stop()


if __name__ == "__main__":
    run_main(main)
