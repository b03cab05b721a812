"""What splitmail-relay must refuse, checked on the wire with raw sockets.

- unknown local recipient -> 550 5.1.1; foreign domain -> 554 5.7.1; the classic open-relay
  tricks (%-hack, source route, quoted local part with @, bang path) never get 250;
- SMTP smuggling (CVE-2023-51764): DATA with <LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF> or a bare CR,
  followed by a second "message" -> 550 5.5.2, one reply only, nothing delivered, the smuggled
  message never appears;
- a command line over 1000 octets -> 500 5.5.2 (a long DATA line is kept intact); SIZE over the limit -> 552 5.3.4 (declared and actual);
  the 101st recipient -> 452 4.5.3; bad syntax -> 501 5.5.4; VRFY -> 252;
- commands pipelined behind STARTTLS are discarded (CVE-2011-0411);
- no recipient cache and home unreachable -> 451 4.3.0 (never accept-and-bounce).
"""
import socket
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def rcpt_reply(relay: lib.Relay, rcpt: str) -> tuple[int, str]:
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<sender@sender.test>")
        if code != 250:
            lib.fail(f"MAIL FROM refused: {code} {text}")
        r = c.cmd(f"RCPT TO:{rcpt}")
        c.cmd("QUIT")
        return r


def expect(reply: tuple[int, str], code: int, enhanced: str, what: str) -> None:
    checks.ok(reply[0] == code and reply[1].startswith(enhanced),
              f"{what} -> {code} {enhanced}", f"got {reply[0]} {reply[1]!r}")


def drain_after_quit(c: lib.SMTP) -> list[int]:
    """Sends QUIT and returns the codes of every reply still to come, until the server closes.
    The close must come before the deadline: a timeout is a failure, not an empty list."""
    codes = []
    try:
        c.send(b"QUIT\r\n")
        c.sock.settimeout(5 * lib.SLOW)
        while True:
            codes.append(c.reply()[0])
            if codes[-1] == 221:
                break
    except (socket.timeout, TimeoutError):
        lib.fail(f"no 221 and no close within {5 * lib.SLOW:.0f}s of QUIT (replies {codes})")
    except ConnectionError:  # closed (EOF, reset or broken pipe) before a 221
        return codes
    rest = c.until_eof(5, "the connection to close after 221")
    if rest:
        lib.fail(f"bytes after the 221: {rest!r}")
    return codes


def smuggle(relay: lib.Relay, name: str, sep: bytes) -> None:
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@sender.test>")
        code, text = c.cmd(f"RCPT TO:<{DEMO}>")
        if code != 250:
            lib.fail(f"RCPT demo refused: {code} {text}")
        code, text = c.cmd("DATA")
        if code != 354:
            lib.fail(f"DATA: {code} {text}")
        payload = (b"From: <sender@sender.test>\r\nSubject: carrier " + name.encode() +
                   b"\r\nX-Test-Id: carrier-" + name.encode() + b"\r\n\r\nfirst part" + sep +
                   b"MAIL FROM:<evil@sender.test>\r\nRCPT TO:<" + DEMO.encode() + b">\r\n"
                   b"DATA\r\nSubject: smuggled\r\nX-Test-Id: smuggled-" + name.encode() +
                   b"\r\n\r\nsmuggled body\r\n.\r\n")
        c.send(payload)
        code, text = c.reply()
        checks.ok(code == 550 and text.startswith("5.5.2"),
                  f"smuggling {name}: end of DATA -> 550 5.5.2", f"got {code} {text!r}")
        rest = drain_after_quit(c)
        checks.ok(rest in ([221], []), f"smuggling {name}: no further replies (no 2nd message)",
                  f"replies after the 550: {rest}")


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("refusals")
    tls = lib.make_cert(d, "relay", "mx.example.test")
    home = lib.Home(d / "home").start()
    relay = lib.Relay(d / "relay", home, tls=tls, max_message_size="64k").start()

    # ---- recipients
    expect(rcpt_reply(relay, "<nobody@example.test>"), 550, "5.1.1", "unknown local recipient")
    expect(rcpt_reply(relay, "<user@foreign.test>"), 554, "5.7.1", "foreign domain")
    checks.eq(rcpt_reply(relay, "<Demo@Example.TEST>")[0], 250,
              "known recipient in mixed case accepted")
    # Each trick gets the reply docs/architecture.md (RCPT TO) and relay/smtp_in/session.cpp
    # give it, not just any 5xx: a routing local part (%-hack, bang path, quoted '@'; RFC 5321
    # 3.6.1 and Appendix C), a source route or a domain we do not serve is 554 5.7.1; an
    # address that does not parse is 501 5.1.3.
    relaying, syntax = (554, "5.7.1"), (501, "5.1.3")
    tricks = [
        ("<user%foreign.test@example.test>", relaying),
        ("<demo%foreign.test@example.test>", relaying),
        ("<@a.test:user@foreign.test>", relaying),
        ("<@example.test:user@foreign.test>", relaying),
        ('<"user@foreign.test"@example.test>', relaying),
        ('<"demo@foreign.test"@example.test>', relaying),
        ("<foreign.test!user@example.test>", relaying),
        ("<foreign.test!demo@example.test>", relaying),
        ("<user@foreign.test@example.test>", syntax),
        ("<user@foreign.test.>", syntax),
        ("<user@[127.0.0.1]>", relaying),
        ("<demo@example.test.foreign.test>", relaying),
    ]
    for t, (want, enhanced) in tricks:
        expect(rcpt_reply(relay, t), want, enhanced, f"relay trick RCPT TO:{t}")
    # A source route to a local mailbox is the local mailbox: the route is dropped (RFC 5321
    # 4.1.1.3 and Appendix C; common/include/splitmail/smtp/command.hpp, docs/architecture.md).
    for routed in ("<@a.test:demo@example.test>", "<@a.test,@b.test:demo@example.test>"):
        code, text = rcpt_reply(relay, routed)
        checks.ok(code == 250, f"source route {routed} to a local user -> 250 (route dropped)",
                  f"got {code} {text!r}")
    # ... and never a way to relay: the final domain decides.
    code, text = rcpt_reply(relay, "<@example.test:user@foreign.test>")
    checks.ok(code == 554 and text.startswith("5.7.1"),
              "source route via our domain to a foreign one -> 554 5.7.1", f"got {code} {text!r}")

    # ---- syntax, VRFY, HELP
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:sender@sender.test bogus"), 501, "5.5.4", "MAIL without <>")
        expect(c.cmd("MAIL FROM:<sender@sender.test"), 501, "5.5.4", "MAIL unterminated <")
        checks.eq(c.cmd(f"VRFY {DEMO}")[0], 252, "VRFY answered 252")
        checks.eq(c.cmd("HELP")[0] // 100, 2, "HELP answered 2xx")
        checks.eq(c.cmd("NOOP")[0], 250, "NOOP 250")
        expect(c.cmd("RCPT TO:<demo@example.test>"), 503, "5.5.1", "RCPT before MAIL")
        c.cmd("QUIT")

    # ---- line length (RFC 5321 4.5.3.1.4 / 4.5.3.1.6)
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<" + "a" * 1100 + "@sender.test>")
        expect(r, 500, "5.5.2", "command line of 1117 octets")
    # In DATA a text line over 998 octets (RFC 5321 4.5.3.1.6) is accepted and kept intact, as
    # Postfix and most MTAs do (common/include/splitmail/smtp/data_reader.hpp: "counted, not
    # refused"): refusing would bounce real mail, truncating would corrupt it.
    long_line = b"y" * 1200
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  b"Subject: long line\r\nX-Test-Id: longline\r\n\r\n" +
                                  long_line + b"\r\nend\r\n")
    checks.eq(code, 250, "DATA with a 1200-octet line accepted (see data_reader.hpp)")
    lib.wait_until(lambda: "longline" in lib.ids_in_maildir(home), 20, "long-line message")
    stored = [p for p in home.messages() if b"X-Test-Id: longline" in p.read_bytes()][0]
    _, body = lib.split_message(stored.read_bytes())
    checks.ok(body.replace(b"\r\n", b"\n") == long_line + b"\nend\n",
              "the 1200-octet line is delivered intact (not split, not truncated)",
              f"stored body starts {body[:80]!r}, {len(body)} octets")

    # ---- SIZE (RFC 1870): declared and actual
    with lib.SMTP(relay.port) as c:
        _, ehlo = c.ehlo()
        checks.ok("SIZE 65536" in ehlo, "EHLO advertises SIZE 65536", ehlo)
        expect(c.cmd("MAIL FROM:<sender@sender.test> SIZE=100000"), 552, "5.3.4",
               "MAIL SIZE=100000 over 64k")
        checks.eq(c.cmd("MAIL FROM:<sender@sender.test> SIZE=1000")[0], 250,
                  "MAIL SIZE=1000 accepted")
        c.cmd(f"RCPT TO:<{DEMO}>")
        c.cmd("DATA")
        big = b"Subject: too big\r\nX-Test-Id: toobig\r\n\r\n" + (b"z" * 76 + b"\r\n") * 1000
        c.send(big + b".\r\n")
        expect(c.reply(), 552, "5.3.4", "78 kB of DATA over a 64k limit")

    # ---- 101 recipients (RFC 5321 4.5.3.1.8)
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@sender.test>")
        codes = [c.cmd(f"RCPT TO:<demo+r{i}@example.test>")[0] for i in range(100)]
        checks.eq(codes, [250] * 100, "recipients 1..100 accepted")
        expect(c.cmd("RCPT TO:<demo+r100@example.test>"), 452, "4.5.3", "the 101st recipient")
        checks.eq(c.cmd("RSET")[0], 250, "RSET after the recipient limit")

    # ---- smuggling
    for name, sep in [("LF.LF", b"\n.\n"), ("LF.CRLF", b"\n.\r\n"), ("CRLF.LF", b"\r\n.\n"),
                      ("CR.CR", b"\r.\r"), ("CRLF.CR", b"\r\n.\r"),
                      ("bareCR", b"\r\nhalf\rline\r\n")]:
        smuggle(relay, name, sep)

    # ---- STARTTLS with a command pipelined in the same packet (CVE-2011-0411)
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nRSET\r\n")
        code, text = c.reply()
        checks.eq(code, 220, "STARTTLS -> 220")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.sock = ctx.wrap_socket(c.sock, server_hostname="mx.example.test")
        c.buf = b""
        code, text = c.cmd("EHLO client.sender.test")
        checks.ok(code == 250 and "PIPELINING" in text and "STARTTLS" not in text,
                  "first reply after the handshake answers EHLO (pipelined RSET discarded)",
                  f"got {code} {text!r}")
        c.cmd("QUIT")

    # ---- a control message goes through; nothing refused above was delivered
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("control-1"))
    checks.eq(code, 250, "control message accepted after all refusals")
    lib.wait_until(lambda: "control-1" in lib.ids_in_maildir(home), 20, "control message")
    lib.wait_until(lambda: not relay.queued(), 10, "relay spool to drain")
    time.sleep(1)
    ids = lib.ids_in_maildir(home)
    checks.eq(sorted(ids), ["control-1", "longline"],
              "only the control and long-line messages were ever delivered")
    checks.eq(relay.queued(), [], "nothing left queued")

    # ---- no cache + home unreachable -> 451 4.3.0
    dead = lib.free_port()
    r2 = lib.Relay(d / "relay-nocache", home, home_port=dead)
    r2.start(wait_recipients=False)
    time.sleep(0.5)
    expect(rcpt_reply(r2, f"<{DEMO}>"), 451, "4.3.0", "no recipient cache, home unreachable")
    expect(rcpt_reply(r2, "<user@foreign.test>"), 554, "5.7.1",
           "foreign domain still refused without cache")
    r2.stop()
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
