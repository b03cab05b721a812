"""CONDSTORE / QRESYNC (RFC 7162) and keywords on splitmail-home with python imaplib.

- CAPABILITY lists CONDSTORE and QRESYNC; SELECT reports HIGHESTMODSEQ, PERMANENTFLAGS with \\*.
- STORE of keywords; FLAGS lists them; SEARCH KEYWORD.
- FETCH (MODSEQ), UID FETCH (FLAGS) (CHANGEDSINCE n), STORE (UNCHANGEDSINCE n) with
  [MODIFIED], SEARCH MODSEQ, STATUS (HIGHESTMODSEQ).
- A client that remembers (UIDVALIDITY, HIGHESTMODSEQ) resyncs after a restart of
  splitmail-home with ENABLE QRESYNC + SELECT (QRESYNC (...)): VANISHED (EARLIER) lists the
  expunged UID, FETCH lists only the changed message; MODSEQs survive the restart.
"""
import imaplib
import re
import smtplib
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks, imap_raw as raw  # noqa: E402


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def number(pattern: str, text: str) -> int:
    r = re.search(pattern, text)
    if not r:
        lib.fail(f"{pattern!r} not in {text!r}")
    return int(r.group(1))


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imap-condstore")
    cert = lib.make_cert(d, "imap", "home.example.test")
    home = lib.Home(d / "home")
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\n[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    for i in range(1, 5):
        with smtplib.LMTP("127.0.0.1", home.port, timeout=60) as s:
            s.sendmail("a@sender.test", [DEMO],
                       f"From: a@sender.test\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode())

    m = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    m.login(DEMO, home.passwords[DEMO])
    checks.ok("CONDSTORE" in m.capabilities and "QRESYNC" in m.capabilities,
              "CONDSTORE and QRESYNC advertised", str(m.capabilities))
    status, lines = raw(m, "SELECT INBOX (CONDSTORE)")
    m.state = "SELECTED"  # imaplib did not see the SELECT go by
    text = b"\n".join(lines).decode()
    hms = number(r"\[HIGHESTMODSEQ (\d+)\]", text)
    uidvalidity = number(r"\[UIDVALIDITY (\d+)\]", text)
    checks.ok("\\*)" in text, "PERMANENTFLAGS allows new keywords (\\*)", text)

    # keywords
    typ, data = m.store("1", "+FLAGS", "($Forwarded Later)")
    checks.ok(typ == "OK" and b"$Forwarded" in data[0] and b"Later" in data[0] and
              b"MODSEQ" in data[0], "STORE keywords, reply with MODSEQ", str(data))
    typ, data = m.search(None, "KEYWORD", "later")
    checks.eq(data[0], b"1", "SEARCH KEYWORD (case-insensitive)")
    typ, data = m.uid("SEARCH", "UNKEYWORD", "Later")
    checks.eq(data[0], b"2 3 4", "SEARCH UNKEYWORD")

    # CONDSTORE
    after_kw = hms + 1
    typ, data = m.fetch("1:*", "(MODSEQ)")
    checks.ok(f"1 (MODSEQ ({after_kw}))".encode() in data[0], "FETCH MODSEQ of the changed message",
              str(data))
    status, lines = raw(m, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})")
    text = b"\n".join(lines).decode()
    checks.ok(status.split()[1] == "OK" and len(lines) == 1 and "UID 1 " in text and
              f"MODSEQ ({after_kw})" in text, "CHANGEDSINCE returns only message 1", text)
    status, lines = raw(m, f"UID STORE 1:2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Seen)")
    checks.ok("[MODIFIED 1]" in status, "UNCHANGEDSINCE refuses the changed message", status)
    text = b"\n".join(lines).decode()
    checks.ok("UID 2 " in text and "\\Seen" in text and "UID 1 " not in text,
              "UNCHANGEDSINCE stores the unchanged message", text)
    status, lines = raw(m, f"SEARCH MODSEQ {after_kw}")
    checks.ok(lines and re.match(rb"\* SEARCH 1 2 \(MODSEQ \d+\)", lines[0]) is not None,
              "SEARCH MODSEQ with the highest MODSEQ of the matches", str(lines))
    typ, data = m.status("INBOX", "(HIGHESTMODSEQ)")
    top = number(r"HIGHESTMODSEQ (\d+)", data[0].decode())
    checks.eq(top, hms + 2, "STATUS HIGHESTMODSEQ counts both changes")
    m.store("3", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.store("3", "+FLAGS", "(\\Flagged)")  # UID 4 is now sequence number 3
    m.logout()

    # restart: MODSEQs persist; QRESYNC resync from the remembered state
    home.stop()
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    m.login(DEMO, home.passwords[DEMO])
    status, lines = raw(m, "ENABLE QRESYNC")
    checks.ok(any(b"ENABLED QRESYNC" in x for x in lines), "ENABLE QRESYNC", str(lines))
    status, lines = raw(m, f"SELECT INBOX (QRESYNC ({uidvalidity} {top}))")
    text = b"\n".join(lines).decode()
    checks.ok("* VANISHED (EARLIER) 3" in text, "VANISHED (EARLIER) lists the expunged UID", text)
    fetches = [x.decode() for x in lines if b" FETCH " in x]
    checks.ok(len(fetches) == 1 and "UID 4 " in fetches[0] and "\\Flagged" in fetches[0],
              "only the message changed since then is sent", str(fetches))
    checks.ok(number(r"\[HIGHESTMODSEQ (\d+)\]", text) == top + 3,  # \\Deleted, expunge, \\Flagged
              "HIGHESTMODSEQ kept across the restart", text)
    m.logout()


lib.run_main(main)
