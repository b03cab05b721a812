"""swaks -> splitmail-relay -> LMTP -> splitmail-home -> Maildir, plain and STARTTLS.

Checks: the message lands in the user's Maildir new/ exactly once; the body is byte-identical to
what swaks sent (dots, tabs, trailing spaces, 8-bit text, a 998-octet line); Return-Path,
Delivered-To and the relay's Received: (naming the TLS version when STARTTLS was used) are added;
plus-addressing and an alias with two members are delivered through the same path.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

BODY_LINES = [
    "First line of the test body.",
    ".a line starting with one dot",
    "..and one with two",
    ".",
    "tab\there and trailing spaces   ",
    "",
    "8-bit: Grüße aus Köln, ça va? \u2603",
    "x" * 998,
    "From the start of a line (mbox would mangle this)",
    "last line",
]


def swaks_send(relay: lib.Relay, marker: str, tls: bool, to: str = DEMO) -> tuple[bytes, str]:
    body = "\r\n".join(BODY_LINES + [f"marker {marker}"]) + "\r\n"
    msg = (f"From: Sender <sender@sender.test>\r\nTo: <{to}>\r\nSubject: swaks {marker}\r\n"
           f"Message-ID: <{marker}@sender.test>\r\nX-Test-Id: {marker}\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n" + body).encode()
    f = relay.root / f"{marker}.eml"
    # swaks always appends CRLF "." to --data, so the file leaves out the message's final CRLF
    f.write_bytes(msg[:-2])
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(relay.port), "--from",
            "sender@sender.test", "--to", to, "--ehlo", "client.sender.test",
            "--data", f"@{f}"]
    if tls:
        argv += ["--tls"]
    r = lib.run_tool(argv, timeout=60)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    checks.ok(r.returncode == 0, f"swaks ({'STARTTLS' if tls else 'plain'}) to {to} accepted",
              f"swaks exit {r.returncode}:\n{out[-2000:]}")
    return body.encode(), out


def delivered(home: lib.Home, marker: str, address: str = DEMO) -> Path:
    def find():
        hits = [p for p in home.messages(address) if marker.encode() in p.read_bytes()]
        return hits or None
    hits = lib.wait_until(find, 20, f"message {marker} in {home.mailbox(address)}")
    checks.eq(len(hits), 1, f"{marker}: exactly one copy in {address}'s Maildir")
    return hits[0]


def check_body(path: Path, sent_body: bytes, marker: str) -> None:
    raw = path.read_bytes()
    _, body = lib.split_message(raw)
    # A Maildir file is either CRLF throughout or LF throughout; compare in the file's style.
    if b"\r\n" in raw:
        expected = sent_body
    else:
        expected = sent_body.replace(b"\r\n", b"\n")
    if body != expected:
        import difflib
        diff = "\n".join(difflib.unified_diff(
            expected.decode(errors="replace").splitlines(),
            body.decode(errors="replace").splitlines(), "sent", "stored", lineterm=""))
        checks.ok(False, f"{marker}: body byte-identical", diff[:3000])
    checks.ok(True, f"{marker}: body byte-identical ({len(body)} octets)")
    bare_cr = raw.replace(b"\r\n", b"").count(b"\r")
    checks.eq(bare_cr, 0, f"{marker}: no stray CR in the stored file")


def check_trace(path: Path, marker: str, tls: bool, rcpt: str = DEMO) -> None:
    h = lib.headers_of(path.read_bytes())
    rp = h.get_all("Return-Path", [])
    checks.eq([str(x).strip() for x in rp], ["<sender@sender.test>"],
              f"{marker}: one Return-Path with the envelope sender")
    dt = [str(x).strip().lower() for x in h.get_all("Delivered-To", [])]
    checks.ok(rcpt.lower() in dt, f"{marker}: Delivered-To names {rcpt}", f"Delivered-To: {dt}")
    rec = [" ".join(str(x).split()) for x in h.get_all("Received", [])]
    ours = [r for r in rec if "mx.example.test" in r]
    checks.ok(len(ours) >= 1, f"{marker}: relay added a Received: header",
              f"Received headers: {rec}")
    r0 = ours[0]
    checks.ok("client.sender.test" in r0 and "127.0.0.1" in r0,
              f"{marker}: Received names the client's EHLO and address", r0)
    if tls:
        checks.ok("TLSv1.2" in r0 or "TLSv1.3" in r0,
                  f"{marker}: Received records the TLS version", r0)
    else:
        checks.ok("TLSv1" not in r0, f"{marker}: plain Received claims no TLS", r0)
    names = [k.lower() for k in h.keys()]
    checks.ok(names.index("return-path") < names.index("subject"),
              f"{marker}: trace headers are prepended, not appended", str(names))


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("swaks")
    tls = lib.make_cert(d, "relay", "mx.example.test")
    home = lib.Home(d / "home", users=[DEMO, "second@example.test"],
                    aliases="team@example.test: demo@example.test, second@example.test\n")
    home.start()
    relay = lib.Relay(d / "relay", home, tls=tls).start()

    # EHLO advertises what the issue asks for
    with lib.SMTP(relay.port) as c:
        _, ehlo = c.ehlo()
        exts = {line.split()[0].upper() for line in ehlo.splitlines()[1:] if line.strip()}
        for ext in ("STARTTLS", "PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "DSN"):
            checks.ok(ext in exts, f"EHLO advertises {ext}", f"EHLO reply: {ehlo!r}")

    body, _ = swaks_send(relay, "plain-1", tls=False)
    p = delivered(home, "plain-1")
    checks.ok(p.parent.name == "new", "plain-1: file is in new/", str(p))
    check_body(p, body, "plain-1")
    check_trace(p, "plain-1", tls=False)

    body, out = swaks_send(relay, "tls-1", tls=True)
    checks.ok("STARTTLS" in out and "TLS started" in out, "swaks negotiated STARTTLS",
              out[-1500:])
    p = delivered(home, "tls-1")
    check_body(p, body, "tls-1")
    check_trace(p, "tls-1", tls=True)

    # plus-addressing: demo+news@ goes to demo's Maildir
    body, _ = swaks_send(relay, "plus-1", tls=False, to="demo+news@example.test")
    p = delivered(home, "plus-1")
    check_body(p, body, "plus-1")

    # alias with two members: one copy each
    body, _ = swaks_send(relay, "alias-1", tls=True, to="team@example.test")
    for member in (DEMO, "second@example.test"):
        p = delivered(home, "alias-1", member)
        check_body(p, body, f"alias-1 -> {member}")

    checks.eq(home.count(DEMO), 4, "demo's Maildir holds exactly the 4 messages sent to it")
    checks.eq(lib.tmp_left(home), [], "nothing left in Maildir tmp/")
    lib.wait_until(lambda: not relay.queued(), 10, "relay spool to be empty after delivery")
    checks.ok(True, "relay spool empty after delivery")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
