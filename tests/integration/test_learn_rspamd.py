"""Spam/ham learning from IMAP moves (issue 18): a real rspamd 3.4 (Bayes in a throwaway redis)
with a controller password, splitmail-relay scanning with it, splitmail-home with
learn.rspamd_controller and learn.rspamd_password_file, a real IMAP client (python imaplib over
implicit TLS).

Checks:
- MOVE of a delivered message from INBOX into Junk: IMAP answers at once, home logs
  "learned ... as=spam", rspamd's Bayes counts one spam learn (its counters in redis);
- MOVE from Junk back into INBOX: learned as ham (the ham counter goes to one);
- COPY into Junk learns spam too; MOVE from Junk into Trash learns nothing; a MOVE between two
  other folders learns nothing;
- the password file is what authorises it: rspamd trusts no address here (secure_ip), and a
  home with a wrong password gets "rspamd refused to learn" in its log, nothing counted;
- rspamd stopped: the MOVE still completes at once, home logs "rspamd unreachable" once and
  keeps the request; when rspamd is back, it is learned.
"""
from __future__ import annotations

import imaplib
import re
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filter_lib  # noqa: E402
import lib  # noqa: E402
from lib import DEMO, checks, log, wait_until  # noqa: E402

SENDER = "news@sender.test"
PASSWORD = "learn-secret-" + "z" * 20
WORDS = ("apple banana cherry dolphin eagle falcon guitar harbor island jungle kettle lantern "
         "meadow nugget orchard pepper quartz river saddle tundra umbrella velvet walnut "
         "xylophone yonder zephyr").split()


def message(marker: str, n: int) -> bytes:
    # Enough distinct words for rspamd's tokenizer (min_tokens) and a text of its own each.
    text = " ".join(WORDS[(n + i) % len(WORDS)] + str(i % 7) for i in range(60))
    return (f"From: Someone <{SENDER}>\r\nTo: <{DEMO}>\r\nSubject: learn {marker}\r\n"
            f"Date: Sun, 06 Dec 2026 01:00:00 +0000\r\nMessage-ID: <{marker}@sender.test>\r\n"
            f"X-Test-Id: {marker}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n").encode()


def imap(port: int, password: str) -> imaplib.IMAP4_SSL:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
    m.login(DEMO, password)
    return m


def uid_of(m: imaplib.IMAP4_SSL, folder: str, marker: str) -> str | None:
    typ, _ = m.select(folder)
    checks.eq(typ, "OK", f"SELECT {folder}")
    typ, data = m.uid("SEARCH", "HEADER", "X-Test-Id", marker)
    uids = data[0].split() if data and data[0] else []
    return uids[0].decode() if uids else None


def timed(what: str, fn) -> tuple:
    t0 = time.monotonic()
    r = fn()
    took = time.monotonic() - t0
    checks.ok(took < 5 * lib.SLOW, f"{what}: answered at once ({took:.2f}s)")
    return r


def log_count(home: lib.Home, pattern: str) -> int:
    return len(re.findall(pattern, home.daemon.log_text()))


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("learn-rspamd")
    redis = filter_lib.Redis(d / "redis").start()
    rspamd = filter_lib.Rspamd(d / "rspamd", redis=redis.address, password=PASSWORD).start()
    pwfile = d / "controller.password"
    pwfile.write_text(PASSWORD + "\n")
    pwfile.chmod(0o600)
    cert = lib.make_cert(d, "imap", "home.example.test")
    imaps_port = lib.free_port()
    home = lib.Home(d / "home", extra={
        "learn.rspamd_controller": f'"127.0.0.1:{rspamd.controller_port}"',
        "learn.rspamd_password_file": f'"{pwfile}"',
        "learn.timeout": '"3s"',
        "imaps.listen": f'["127.0.0.1:{imaps_port}"]',
        "imap.tls_cert": f'"{cert[0]}"', "imap.tls_key": f'"{cert[1]}"'})
    home.start()
    relay = lib.Relay(d / "relay", home, extra={
        "rspamd.enabled": "true", "rspamd.address": f'"{rspamd.address}"'}).start()
    wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 15, "imaps port",
               daemons=[home.daemon])

    markers = ["L1", "L2", "L3", "L4"]
    for i, mk in enumerate(markers):
        code, text = lib.send_message(relay.port, SENDER, [DEMO], message(mk, i * 5))
        checks.eq(code, 250, f"{mk}: accepted {text}")
    for mk in markers:
        filter_lib.delivered_with(home, mk)
    checks.eq((redis.learns("spam"), redis.learns("ham")), (0, 0),
              "nothing learned yet")

    m = imap(imaps_port, home.passwords[DEMO])
    for box in ("Work", "Archive2"):
        m.create(box)

    log("MOVE INBOX -> Junk: learned as spam")
    uid = uid_of(m, "INBOX", "L1")
    typ, _ = timed("MOVE into Junk", lambda: m.uid("MOVE", uid, "Junk"))
    checks.eq(typ, "OK", "MOVE into Junk")
    wait_until(lambda: redis.learns("spam") == 1, 20 * lib.SLOW,
               "rspamd's Bayes counts one spam learn", daemons=[home.daemon])
    wait_until(lambda: log_count(home, r"info learn - learned user=\S+ as=spam") == 1, 10,
               "home logs the spam learn", daemons=[home.daemon])

    log("MOVE Junk -> INBOX: learned as ham")
    uid = uid_of(m, "Junk", "L1")
    typ, _ = timed("MOVE out of Junk", lambda: m.uid("MOVE", uid, "INBOX"))
    checks.eq(typ, "OK", "MOVE out of Junk")
    wait_until(lambda: redis.learns("ham") == 1, 20 * lib.SLOW,
               "rspamd's Bayes counts one ham learn", daemons=[home.daemon])
    wait_until(lambda: log_count(home, r"info learn - learned user=\S+ as=ham") == 1, 10,
               "home logs the ham learn", daemons=[home.daemon])

    log("COPY INBOX -> Junk: learned as spam; Junk -> Trash and Work -> Archive2: nothing")
    uid = uid_of(m, "INBOX", "L2")
    typ, _ = m.uid("COPY", uid, "Junk")
    checks.eq(typ, "OK", "COPY into Junk")
    wait_until(lambda: log_count(home, r"info learn - learned user=\S+ as=spam") == 2, 20,
               "home logs the second spam learn", daemons=[home.daemon])
    spam_before = redis.learns("spam")
    ham_before = redis.learns("ham")
    uid = uid_of(m, "Junk", "L2")
    checks.eq(m.uid("MOVE", uid, "Trash")[0], "OK", "MOVE Junk -> Trash")
    uid = uid_of(m, "INBOX", "L3")
    checks.eq(m.uid("MOVE", uid, "Work")[0], "OK", "MOVE INBOX -> Work")
    uid = uid_of(m, "Work", "L3")
    checks.eq(m.uid("MOVE", uid, "Archive2")[0], "OK", "MOVE Work -> Archive2")
    time.sleep(2)
    checks.ok(log_count(home, r"info learn - ") == 3, "no learn for Trash or other folders",
              "\n".join(l for l in home.daemon.log_text().splitlines() if " learn " in l))
    checks.eq((redis.learns("spam"), redis.learns("ham")),
              (spam_before, ham_before), "rspamd counted nothing more")
    m.logout()
    home.stop()

    log("a wrong password: rspamd refuses, nothing is counted")
    pwfile.write_text("not-the-password\n")
    home.start()
    wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 15, "imaps port",
               daemons=[home.daemon])
    m = imap(imaps_port, home.passwords[DEMO])
    spam_before = redis.learns("spam")
    uid = uid_of(m, "INBOX", "L4")
    checks.eq(m.uid("MOVE", uid, "Junk")[0], "OK", "MOVE into Junk (wrong password)")
    wait_until(lambda: log_count(home, r"warn learn - rspamd refused to learn") >= 1, 20,
               "home logs the refusal", daemons=[home.daemon])
    checks.eq(redis.learns("spam"), spam_before, "nothing learned without the password")

    log("rspamd stopped: MOVE completes at once, home logs that rspamd is unreachable")
    rspamd.stop()
    uid = uid_of(m, "Junk", "L4")
    typ, _ = timed("MOVE with rspamd down", lambda: m.uid("MOVE", uid, "INBOX"))
    checks.eq(typ, "OK", "MOVE with rspamd down")
    wait_until(lambda: log_count(home, r"warn learn - rspamd unreachable") >= 1, 20,
               "home logs that rspamd is unreachable", daemons=[home.daemon])
    typ, _ = m.noop()
    checks.eq(typ, "OK", "the IMAP session goes on")
    checks.eq(log_count(home, r"rspamd unreachable"), 1,
              "one warning for the outage, not one per message")

    log("rspamd back: the request that waited is sent (nothing lost to the outage)")
    refused_ham = log_count(home, r"rspamd refused to learn user=\S+ as=ham")
    rspamd.start()
    wait_until(lambda: log_count(home, r"info learn - rspamd answers again") >= 1, 60,
               "home resumes learning", daemons=[home.daemon])
    # home still has the wrong password of the step above: rspamd's answer to the request
    # that waited through the outage is its refusal, which proves the request reached it.
    wait_until(lambda: log_count(home, r"rspamd refused to learn user=\S+ as=ham") > refused_ham,
               30, "the waiting ham request answered by rspamd", daemons=[home.daemon])
    m.logout()
    relay.stop()
    home.stop()
    redis.stop()


if __name__ == "__main__":
    lib.run_main(main)
