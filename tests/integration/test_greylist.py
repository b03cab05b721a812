"""Greylisting and rate limits in splitmail-relay (issue 18), end to end.

The relay runs with greylist.enabled = true, greylist.delay = "3s", greylist.auto_allow = 100
(out of the way), limits.client_messages_per_hour = 20, limits.user_messages_per_hour = 3, a
submission port, and
relay.trusted_networks = ["127.0.0.9/32"] (the readiness probe comes from there, since every
other loopback client is greylisted).
- First attempt (127.0.0.1, sender@sender.test -> demo): RCPT 451 4.7.1 Greylisted, try again
  in 3 seconds, and an `info greylist ... deferred` log line; a retry before the delay: 451
  again; after it: 250 and the message reaches home; a later message of the same triplet:
  250 at once; the same sender to another recipient: 451 (its own triplet).
- The relay restarts: the state file (spool/greylist.db) keeps the passed triplet (250 at once)
  and the deferred one (still counted from its first attempt).
- Authenticated submission from the same address to a local user: never greylisted; with
  limits.user_messages_per_hour = 3 the user's 4th message gets 451 4.7.1 at MAIL.
- A burst of MAILs from 127.0.0.5 over limits.client_messages_per_hour gets 451 4.7.1 at MAIL;
  127.0.0.6 at the same time is unaffected.
- A damaged state file: the relay logs it, moves it aside, starts with an empty list.
- `--check-config` names bad greylist/limits values.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import time

import lib
from lib import DEMO, DOMAIN, Home, Relay, checks, log, require_binaries, run_main, tmpdir

OTHER = f"other@{DOMAIN}"
SENDER = "sender@sender.test"
DELAY = 3


class SourceSMTP(lib.SMTP):
    """lib.SMTP from a chosen loopback source address."""

    def __init__(self, port: int, source: str, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * lib.SLOW,
                                             source_address=(source, 0))
        self.buf = b""
        self.banner = self.reply()


def attempt(port: int, sender: str, rcpts: list[str], marker: str,
            source: str = "127.0.0.1") -> tuple[list[tuple[int, str]], tuple[int, str] | None]:
    """One transaction: the reply to each RCPT and, when one was accepted, the DATA reply."""
    with SourceSMTP(port, source) as c:
        c.ehlo()
        code, text = c.cmd(f"MAIL FROM:<{sender}>")
        if code != 250:
            lib.fail(f"MAIL refused: {code} {text}")
        replies = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        final = None
        if any(code == 250 for code, _ in replies):
            code, text = c.cmd("DATA")
            if code != 354:
                lib.fail(f"DATA: {code} {text}")
            c.send(lib.make_message(marker) + b".\r\n")
            final = c.reply()
        c.cmd("QUIT")
        return replies, final


def wait_ready(relay: Relay) -> None:
    """The recipient set has reached the relay: RCPT demo from the trusted 127.0.0.9 gets 250
    (lib's Relay.start probe comes from 127.0.0.1, which is greylisted here)."""
    def probe() -> bool:
        try:
            with SourceSMTP(relay.port, "127.0.0.9") as c:
                c.ehlo()
                c.cmd("MAIL FROM:<probe@sender.test>")
                code, _ = c.cmd(f"RCPT TO:<{DEMO}>")
                c.cmd("QUIT")
                return code == 250
        except OSError:
            return False
    lib.wait_until(probe, 20, "relay to accept RCPT demo from 127.0.0.9", interval=0.2,
                   daemons=[relay.daemon])


def start_relay(relay: Relay) -> None:
    relay.start(wait_recipients=False)
    wait_ready(relay)


def submit(port: int, user: str, password: str, to: str, marker: str) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0)) as s:
        s.ehlo("laptop.example")
        s.starttls(context=ctx)
        s.ehlo("laptop.example")
        s.login(user, password)
        code, text = s.mail(user)
        if code != 250:
            return code, text.decode()
        code, text = s.rcpt(to)
        if code != 250:
            return code, text.decode()
        msg = (f"From: <{user}>\r\nTo: <{to}>\r\nSubject: {marker}\r\nX-Test-Id: {marker}\r\n"
               f"\r\nbody\r\n").encode()
        code, text = s.data(msg)
        return code, text.decode()


def check_config(d, name: str, lines: str, want: str) -> None:
    cfg = d / f"{name}.toml"
    cfg.write_text('[relay]\nhostname = "mx.example.test"\ndomains = ["example.test"]\n'
                   f'[spool]\ndir = "{d / "spool-check"}"\n'
                   '[home]\nlmtp = "127.0.0.1:24"\n' + lines)
    r = subprocess.run([str(lib.RELAY_BIN), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    checks.ok(r.returncode != 0 and want in r.stderr,
              f"--check-config refuses {name}: names '{want}'",
              f"exit {r.returncode}: {r.stderr.strip()}")


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = tmpdir("greylist")
    home = Home(d / "home", users=[DEMO, OTHER]).start()
    cert = lib.make_cert(d, "relay", "mx.example.test")
    sub_port = lib.free_port()
    relay = Relay(d / "relay", home, tls=cert, extra={
        "greylist.enabled": "true",
        "greylist.delay": f'"{DELAY}s"',
        "greylist.auto_allow": "100",
        "limits.client_messages_per_hour": "20",
        "limits.user_messages_per_hour": "3",
        "relay.trusted_networks": '["127.0.0.9/32"]',
        "submission.listen": f'["127.0.0.1:{sub_port}"]',
    })
    start_relay(relay)

    log("first attempt of a new triplet")
    t_first = time.monotonic()
    replies, final = attempt(relay.port, SENDER, [DEMO], "GL1")
    code, text = replies[0]
    checks.eq(code, 451, f"first attempt: RCPT 451 ({text})")
    checks.ok(text.startswith("4.7.1 Greylisted, try again in ") and "seconds" in text,
              "first attempt: 4.7.1 Greylisted, try again in N seconds", text)
    checks.ok(final is None, "nothing sent after the only recipient was deferred")
    lib.wait_until(lambda: " greylist " in relay.daemon.log_text() and "deferred" in
                   relay.daemon.log_text(), 5, "the greylist log line")
    line = next((ln for ln in relay.daemon.log_text().splitlines()
                 if " greylist " in ln and "deferred" in ln), "")
    checks.ok("client=127.0.0.1" in line and f"from={SENDER}" in line and
              f"to={DEMO}" in line and "retry_after=" in line,
              "log: info greylist ID deferred client= from= to= retry_after=", line)

    log("retry before the delay")
    replies, _ = attempt(relay.port, SENDER, [DEMO], "GL1")
    checks.eq(replies[0][0], 451, f"retry before the delay: 451 ({replies[0][1]})")

    log("retry after the delay")
    time.sleep(max(0.0, DELAY + 0.5 - (time.monotonic() - t_first)))
    replies, final = attempt(relay.port, SENDER, [DEMO], "GL1")
    checks.eq(replies[0][0], 250, f"retry after the delay: RCPT 250 ({replies[0][1]})")
    checks.ok(final is not None and final[0] == 250, f"retry after the delay: queued ({final})")
    lib.wait_until(lambda: home.count(DEMO) >= 1, 20, "GL1 delivered to demo")
    checks.ok(any(" greylist " in ln and " passed" in ln
                  for ln in relay.daemon.log_text().splitlines()), "log: greylist passed")

    log("a later message of the same triplet")
    replies, final = attempt(relay.port, SENDER, [DEMO], "GL2")
    checks.eq(replies[0][0], 250, "same triplet later: RCPT 250 at once")
    checks.ok(final is not None and final[0] == 250, f"same triplet later: queued ({final})")

    log("another recipient: its own triplet")
    t_other = time.monotonic()
    replies, final = attempt(relay.port, SENDER, [DEMO, OTHER], "GL3")
    checks.eq([c for c, _ in replies], [250, 451],
              f"two recipients: demo accepted, other greylisted ({replies})")
    checks.ok(final is not None and final[0] == 250, "the accepted recipient gets the message")
    lib.wait_until(lambda: home.count(DEMO) >= 3, 20, "GL2, GL3 delivered to demo")
    checks.eq(home.count(OTHER), 0, "other got nothing yet")

    log("restart: the state survives")
    relay.stop()
    state = relay.spool / "greylist.db"
    checks.ok(state.is_file() and state.stat().st_size > 68,
              f"state file written at stop ({state})")
    start_relay(relay)
    replies, final = attempt(relay.port, SENDER, [DEMO], "GL4")
    checks.eq(replies[0][0], 250, "after restart: passed triplet still 250 at once")
    time.sleep(max(0.0, DELAY + 0.5 - (time.monotonic() - t_other)))
    replies, final = attempt(relay.port, SENDER, [OTHER], "GL5")
    checks.eq(replies[0][0], 250,
              "after restart: the deferred triplet passes, counted from its first attempt")
    lib.wait_until(lambda: home.count(OTHER) >= 1, 20, "GL5 delivered to other")

    log("authenticated submission is not greylisted")
    code, text = submit(sub_port, DEMO, home.passwords[DEMO], OTHER, "SUB1")
    checks.eq(code, 250, f"submission from a fresh triplet: 250 at once ({text})")

    log("rate limit per user: limits.user_messages_per_hour = 3")
    codes = [submit(sub_port, DEMO, home.passwords[DEMO], OTHER, f"SUB{i}") for i in (2, 3, 4)]
    checks.eq([c for c, _ in codes], [250, 250, 451],
              f"user limit: messages 2 and 3 accepted, the 4th gets 451 at MAIL ({codes[-1]})")
    checks.ok(codes[-1][1].startswith("4.7.1 Error: too many messages sent by you"),
              "user limit: 4.7.1 text", codes[-1][1])
    checks.ok(f"user={DEMO}" in relay.daemon.log_text() and "message rate limit" in
              relay.daemon.log_text(), "user limit: logged with the user name")

    log("rate limit: a burst from 127.0.0.5")
    codes = []
    with SourceSMTP(relay.port, "127.0.0.5") as c:
        c.ehlo()
        for i in range(22):
            code, text = c.cmd(f"MAIL FROM:<burst{i}@sender.test>")
            codes.append(code)
            if code == 250:
                c.cmd("RSET")
        last = (code, text)
    checks.eq(codes[:20], [250] * 20, "burst: the first 20 MAILs accepted")
    checks.eq(codes[20:], [451, 451], f"burst: MAIL 21 and 22 get 451 ({last})")
    checks.ok(last[1].startswith("4.7.1 "), "burst: 4.7.1", last[1])
    with SourceSMTP(relay.port, "127.0.0.6") as c:
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<calm@sender.test>")
    checks.eq(code, 250, f"another client address meanwhile: MAIL 250 ({text})")

    log("damaged state file")
    relay.stop()
    raw = bytearray(state.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    state.write_bytes(bytes(raw))
    start_relay(relay)
    checks.ok("greylist state file unusable" in relay.daemon.log_text(),
              "damaged state: logged as unusable")
    checks.ok((relay.spool / "greylist.db.corrupt").is_file(), "damaged state moved aside")
    replies, _ = attempt(relay.port, SENDER, [DEMO], "GL6")
    checks.eq(replies[0][0], 451, "damaged state: empty list, the triplet is new again")
    relay.stop()
    home.stop()

    log("settings errors")
    check_config(d, "delay0", '[greylist]\nenabled = true\ndelay = "0s"\n',
                 "greylist.delay: must be between 1s and 1d")
    check_config(d, "entries", "[greylist]\nmax_entries = 5\n",
                 "greylist.max_entries: must be between 100 and 10000000")
    check_config(d, "window", '[greylist]\ndelay = "1h"\nretry_window = "30m"\n',
                 "greylist.retry_window: must be longer than greylist.delay")
    check_config(d, "limits", "[limits]\nuser_messages_per_hour = -1\n",
                 "limits.user_messages_per_hour: must be between 0 and")
    check_config(d, "unknown", "[greylist]\nskip_spf_pass = true\n", "greylist.skip_spf_pass")
    check_config(d, "skiplist", '[greylist]\nskip_verified_senders = ["gmail.com", "not a domain"]\n',
                 'greylist.skip_verified_senders: "not a domain" is not a domain name')


if __name__ == "__main__":
    run_main(main)
