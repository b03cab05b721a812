"""Recipient harvesting and chatty clients on port 25 (issue 11 items 7 and 8).

The relay runs with small limits: smtp.rcpt_error_delay_after = 3, smtp.rcpt_error_delay = 1s,
smtp.rcpt_error_limit = 6, smtp.network_rcpt_error_limit = 10 (window 1 h).
- A harvester on 127.0.0.1 pipelines 100 unknown RCPTs: it gets 6 answers (550 5.1.1), the last
  three each after a 1 s tarpit, then 421 4.7.0 and the connection closes.
- Its next connection gets 4 more 550s (network total 10) and then 421 for the whole network
  /24 (127.0.0.0/24), even for a valid user; further connections learn nothing: over the run
  the harvester learns at most 10 answers however many probes it sends, and the probes that were
  answered took at least 3 s (the tarpit) in the first connection.
- Another network (source address 127.0.1.1, another /24) still delivers a message to demo.
- 101 NOOPs (smtp.junk_command_limit default 100) -> 421 4.7.0 after the 100th.
"""
from __future__ import annotations

import socket
import time

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, tmpdir, wait_until


class SourceSMTP(lib.SMTP):
    """lib.SMTP from a chosen loopback source address (another client network)."""

    def __init__(self, port: int, source: str, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * lib.SLOW,
                                             source_address=(source, 0))
        self.buf = b""
        self.banner = self.reply()


def replies_until_close(c: lib.SMTP) -> list[tuple[int, str]]:
    out = []
    try:
        while True:
            out.append(c.reply())
    except (ConnectionError, OSError):
        pass
    return out


def probe(port: int, n: int, source: str = "127.0.0.1") -> tuple[list[tuple[int, str]], float]:
    """One connection: EHLO, MAIL, then `n` unknown RCPTs pipelined; the replies to the RCPTs
    until the server closes, and the seconds that took."""
    with SourceSMTP(port, source) as c:
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<harvester@spam.test>")
        if code != 250:
            lib.fail(f"MAIL refused: {code} {text}")
        start = time.monotonic()
        c.send(b"".join(b"RCPT TO:<probe%d@example.test>\r\n" % i for i in range(n)))
        got = replies_until_close(c)
        return got, time.monotonic() - start


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = tmpdir("harvest")
    home = Home(d / "home").start()
    extra = {"smtp.rcpt_error_delay_after": "3", "smtp.rcpt_error_delay": '"1s"',
             "smtp.rcpt_error_limit": "6", "smtp.network_rcpt_error_limit": "10",
             "smtp.network_rcpt_error_window": '"1h"', "relay.trusted_networks": "[]"}
    relay = Relay(d / "relay", home, extra=extra).start()

    log("harvester, first connection: 100 pipelined unknown RCPTs")
    got, took = probe(relay.port, 100)
    codes = [c for c, _ in got]
    checks.eq(codes, [550] * 6 + [421], "6 x 550 5.1.1, then 421 and close")
    checks.ok(got[-1][1].startswith("4.7.0"), "the 421 carries 4.7.0", f"{got[-1]}")
    checks.ok(took >= 2.5, f"the tarpit slowed the answers ({took:.1f}s >= 3 x 1s)")

    log("harvester, second connection: the network reaches its limit")
    got, _ = probe(relay.port, 100)
    codes = [c for c, _ in got]
    checks.eq(codes, [550] * 4 + [421], "4 more 550 (network total 10), then 421")
    checks.ok("from your network" in got[-1][1], "the 421 names the network limit", f"{got[-1]}")

    log("harvester, more connections: nothing more to learn, even for a valid user")
    learned = 0
    for _ in range(5):
        got, _ = probe(relay.port, 50)
        learned += sum(1 for c, _ in got if c == 550)
        checks.eq([c for c, _ in got], [421], "first RCPT of a blocked network: 421")
    checks.eq(learned, 0, "no further answers for the blocked network")
    with lib.SMTP(relay.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<someone@sender.test>")
        code, text = c.cmd(f"RCPT TO:<{DEMO}>")
    checks.ok(code == 421 and text.startswith("4.7.0"),
              "a valid recipient from the blocked network: 421 4.7.0 (temporary)", f"{code} {text}")

    log("another network (127.0.1.1) still delivers")
    before = home.count(DEMO)
    with SourceSMTP(relay.port, "127.0.1.1") as c:
        c.ehlo()
        checks.eq(c.cmd("MAIL FROM:<friend@sender.test>")[0], 250, "MAIL from another network")
        checks.eq(c.cmd("RCPT TO:<typo@example.test>")[0], 550, "a typo: 550")
        checks.eq(c.cmd(f"RCPT TO:<{DEMO}>")[0], 250, "the real recipient: 250")
        checks.eq(c.cmd("DATA")[0], 354, "DATA")
        c.send(lib.make_message("HARVEST-OK") + b".\r\n")
        code, text = c.reply()
        checks.eq(code, 250, f"message from another network queued ({text})")
    wait_until(lambda: home.count(DEMO) > before, 30, "message in demo's Maildir",
               daemons=[relay.daemon, home.daemon])
    checks.ok("over the refused-recipient limit" in relay.daemon.log_text(),
              "the relay logs the blocked network")

    log("101 NOOPs from a third network: 421 after the 100th")
    with SourceSMTP(relay.port, "127.0.2.1") as c:
        c.ehlo()
        c.send(b"NOOP\r\n" * 101)
        got = replies_until_close(c)
    codes = [c for c, _ in got]
    checks.eq(codes, [250] * 100 + [421], "100 x 250, then 421 4.7.0 and close")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    run_main(main)
