"""IMAP extensions and limits on splitmail-home with python imaplib (raw commands through
imaplib's _simple_command / xatom where imaplib has no method), against the real binary.

- CAPABILITY lists IMAP4rev2, LITERAL+, LITERAL-, ESEARCH, SEARCHRES, LIST-EXTENDED,
  LIST-STATUS, APPENDLIMIT=<imap max message size>.
- ENABLE IMAP4rev2: SELECT without RECENT, FLAGS without \\Recent, SEARCH answered by ESEARCH.
- ESEARCH RETURN (MIN MAX COUNT ALL) and SAVE + "$" (RFC 4731, RFC 5182).
- LIST-EXTENDED selection/return options, several patterns, LIST-STATUS.
- A non-synchronizing literal (LITERAL+) APPEND over a raw TLS socket, and an APPEND over the
  APPENDLIMIT refused with NO [TOOBIG] without the client sending it.
- IMAP4rev2 UTF-8 mailbox names stored as modified UTF-7; a disconnect in the middle of an
  APPEND literal leaves nothing in the mailbox or its tmp/.
- imap.max_connections_per_user = 2: a third login is refused with NO [LIMIT]; after one
  session logs out a new login succeeds.
- IMAP4rev2 SELECT answers a LIST response for the mailbox (RFC 9051 6.3.2).
- MULTIAPPEND (RFC 3502): two messages in one APPEND over the raw socket.
- BINARY (RFC 3516): a base64 attachment with NUL octets delivered over LMTP comes back from
  BINARY.PEEK[2] byte for byte (as a literal8), BINARY.SIZE[2] gives its decoded size,
  BINARY[2]<partial> a slice of the decoded octets, and BINARY[2] sets \Seen.
"""
import email.policy
import os
import imaplib
import re
import smtplib
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
import socket
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def deliver(port: int, subject: str) -> None:
    msg = (f"From: Alice <alice@sender.test>\r\nTo: {DEMO}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@sender.test>\r\n\r\nHello.\r\n")
    with smtplib.LMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail("alice@sender.test", [DEMO], msg.encode())


def untagged(m: imaplib.IMAP4, name: str) -> list[bytes]:
    return [x for x in m.untagged_responses.pop(name, []) if x is not None]


def raw(m: imaplib.IMAP4, *args: str):
    """A command imaplib has no method for; returns (typ, data)."""
    name = args[0]
    if name not in imaplib.Commands:
        imaplib.Commands[name] = ("AUTH", "SELECTED")
    return m._simple_command(*args)


class Raw:
    """A line-level IMAP client on a TLS socket (for literals imaplib would not send)."""

    def __init__(self, port: int):
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * lib.SLOW)
        self.s = tls_ctx().wrap_socket(s)
        self.buf = b""
        self.line()  # greeting

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out + b"\r\n"

    def until_tag(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if not l or l.startswith(tag + b" "):
                return lines


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imapext")
    cert, key = lib.make_cert(d, "imap", "localhost")
    home = lib.Home(d / "home")
    imaps_port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
                f"max_connections_per_user = 2\n"
                f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    pw = home.passwords[DEMO]
    for i in range(1, 6):
        deliver(home.port, f"message {i}")

    a = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    caps = a.capabilities
    for cap in ("IMAP4REV2", "LITERAL+", "LITERAL-", "ESEARCH", "SEARCHRES", "LIST-EXTENDED",
                "LIST-STATUS", "SPECIAL-USE"):
        checks.ok(cap in caps, f"capability {cap}", str(caps))
    limit = [c for c in caps if c.startswith("APPENDLIMIT=")]
    checks.ok(len(limit) == 1 and int(limit[0].split("=")[1]) > 1000, "APPENDLIMIT=<n>", str(caps))
    a.login(DEMO, pw)

    # ---- ESEARCH and SEARCHRES (rev1 session)
    typ, data = a.select("INBOX")
    checks.eq(data[0], b"5", "SELECT INBOX: 5 messages")
    checks.ok(untagged(a, "RECENT") == [b"5"], "rev1: RECENT reported", str(a.untagged_responses))
    a.store("2,4", "+FLAGS", "(\\Flagged)")
    typ, data = raw(a, "SEARCH", "RETURN", "(MIN", "MAX", "COUNT", "ALL)", "FLAGGED")
    es = untagged(a, "ESEARCH")
    checks.ok(typ == "OK" and es and es[0].endswith(b"MIN 2 MAX 4 ALL 2,4 COUNT 2"),
              "SEARCH RETURN (MIN MAX COUNT ALL) gives one ESEARCH", str(es))
    typ, data = raw(a, "UID", "SEARCH", "RETURN", "(SAVE)", "SUBJECT", '"message 3"')
    checks.ok(typ == "OK" and not untagged(a, "ESEARCH"), "SEARCH RETURN (SAVE) answers no ESEARCH")
    typ, data = a.uid("FETCH", "$", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    checks.ok(typ == "OK" and b"message 3" in data[0][1], "FETCH $ uses the saved result",
              str(data))

    # ---- LIST-EXTENDED and LIST-STATUS
    a.create("Lists.ietf")
    a.create("Lists.other")
    a.subscribe("Lists.ietf")
    typ, data = raw(a, "LIST", "(SUBSCRIBED)", '""', "*")
    lst = b"\n".join(untagged(a, "LIST"))
    checks.ok(b'(\\HasNoChildren \\Subscribed) "." Lists.ietf' in lst and b"Lists.other" not in lst,
              "LIST (SUBSCRIBED) lists subscribed mailboxes with \\Subscribed", lst.decode())
    typ, data = raw(a, "LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
    lst = b"\n".join(untagged(a, "LIST"))
    checks.ok(b'Lists ("CHILDINFO" ("SUBSCRIBED"))' in lst,
              "RECURSIVEMATCH lists the parent with CHILDINFO", lst.decode())
    typ, data = raw(a, "LIST", "(SPECIAL-USE)", '""', "*", "RETURN", "(SPECIAL-USE)")
    lst = b"\n".join(untagged(a, "LIST"))
    checks.ok(b"\\Sent" in lst and b"INBOX" not in lst and b"Lists" not in lst,
              "LIST (SPECIAL-USE) lists only special-use mailboxes", lst.decode())
    typ, data = raw(a, "LIST", '""', "(INBOX Drafts)", "RETURN",
                    "(CHILDREN STATUS (MESSAGES UNSEEN SIZE))")
    st = b"\n".join(untagged(a, "STATUS"))
    lst = b"\n".join(untagged(a, "LIST"))
    checks.ok(typ == "OK" and b"INBOX (MESSAGES 5 UNSEEN 5 SIZE " in st and
              b"Drafts (MESSAGES 0 UNSEEN 0 SIZE 0)" in st and lst.count(b"\n") == 1,
              "LIST ... RETURN (STATUS ...) with two patterns", (lst + b"\n" + st).decode())
    typ, data = a.status("INBOX", "(MESSAGES DELETED APPENDLIMIT)")
    checks.ok(typ == "OK" and b"DELETED 0" in data[0] and b"APPENDLIMIT " in data[0],
              "STATUS DELETED and APPENDLIMIT", str(data))

    # ---- CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 4): a kept result follows another session
    checks.ok("CONTEXT=SEARCH" in caps and "CONTEXT=SORT" in caps, "capability CONTEXT=SEARCH/SORT",
              str(caps))
    typ, data = raw(a, "UID", "SEARCH", "RETURN", "(UPDATE)", "UNFLAGGED")
    es = untagged(a, "ESEARCH")
    checks.ok(typ == "OK" and es and es[0].endswith(b"UID ALL 1,3,5"),
              "SEARCH RETURN (UPDATE) answers the result first", str(es))
    typ, data = raw(a, "UID", "SORT", "RETURN", "(UPDATE", "PARTIAL", "1:2)", "(REVERSE", "ARRIVAL)",
                    "UTF-8", "UNFLAGGED")
    es = untagged(a, "ESEARCH")
    checks.ok(typ == "OK" and es and b"UID PARTIAL (1:2 " in es[0],
              "SORT RETURN (UPDATE PARTIAL 1:2) answers a window", str(es))
    r = Raw(imaps_port)
    r.send(f'r1 LOGIN "{DEMO}" "{pw}"\r\nr2 SELECT INBOX\r\nr3 STORE 1 +FLAGS (\\Flagged)\r\n'
           .encode())
    stored = r.until_tag(b"r3")
    checks.ok(stored[-1].startswith(b"r3 OK"), "second session flags message 1", str(stored))
    r.send(b"r4 LOGOUT\r\n")
    r.until_tag(b"r4")
    a.noop()
    es = untagged(a, "ESEARCH")
    checks.ok(any(b'UID REMOVEFROM (0 1)' in e for e in es),
              "the SEARCH context reports the change as REMOVEFROM", str(es))
    checks.ok(any(re.search(rb'UID REMOVEFROM \(\d+ 1\)', e) for e in es if b"REMOVEFROM (0 " not in e),
              "the SORT context reports it with its position", str(es))
    tags = sorted({m.group(1) for e in es for m in [re.search(rb'\(TAG "([^"]+)"\)', e)] if m})
    typ, data = raw(a, "CANCELUPDATE", *['"' + t.decode() + '"' for t in tags])
    checks.ok(typ == "OK" and len(tags) == 2, "CANCELUPDATE of both contexts", str(tags))
    a.store("1", "-FLAGS", "(\\Flagged)")
    a.noop()
    checks.ok(not untagged(a, "ESEARCH"), "no update after CANCELUPDATE", str(a.untagged_responses))
    a.logout()

    # ---- ENABLE IMAP4rev2
    b = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    b.login(DEMO, pw)
    typ, data = raw(b, "ENABLE", "IMAP4rev2")
    checks.ok(typ == "OK" and untagged(b, "ENABLED") == [b"IMAP4rev2"], "ENABLE IMAP4rev2",
              str(b.untagged_responses))
    deliver(home.port, "message 6")
    typ, data = b.select("INBOX")
    lst = untagged(b, "LIST")
    checks.ok(typ == "OK" and data[0] == b"6" and not untagged(b, "RECENT"),
              "rev2 SELECT: EXISTS without RECENT", str(b.untagged_responses))
    checks.ok(len(lst) == 1 and lst[0].endswith(b'"." INBOX') and b"\\HasNoChildren" in lst[0],
              "rev2 SELECT: a LIST response with the mailbox name", str(lst))
    typ, data = b.fetch("6", "(FLAGS)")
    checks.ok(b"\\Recent" not in data[0], "rev2 FETCH FLAGS without \\Recent", str(data))
    typ, data = raw(b, "SEARCH", "FLAGGED")
    es = untagged(b, "ESEARCH")
    checks.ok(typ == "OK" and es and es[0].endswith(b"ALL 2,4") and not untagged(b, "SEARCH"),
              "rev2 SEARCH answers with ESEARCH", str(es))

    # ---- per-user connection cap (b is one session; c the second; the third is refused)
    c = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    c.login(DEMO, pw)
    x = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    try:
        x.login(DEMO, pw)
        checks.ok(False, "third session of the user refused")
    except imaplib.IMAP4.error as e:
        checks.ok("[LIMIT]" in str(e), "third session of the user refused with NO [LIMIT]", str(e))
    c.logout()
    ok = False
    for _ in range(int(50 * lib.SLOW)):  # slot back once c is closed
        try:
            x.login(DEMO, pw)
            ok = True
            break
        except imaplib.IMAP4.error:
            time.sleep(0.1)
    checks.ok(ok, "after a logout the user can log in again")
    x.logout()
    b.logout()

    # ---- literals on the wire
    r = Raw(imaps_port)
    r.send(f"1 LOGIN {{{len(DEMO)}+}}\r\n{DEMO} {{{len(pw)}+}}\r\n{pw}\r\n".encode())
    checks.ok(r.until_tag(b"1")[-1].startswith(b"1 OK"), "LOGIN with non-synchronizing literals")
    msg = b"Subject: plus\r\n\r\nNon-synchronizing literal.\r\n"
    r.send(b"2 APPEND Drafts {%d+}\r\n%s\r\n" % (len(msg), msg))
    lines = r.until_tag(b"2")
    checks.ok(lines[-1].startswith(b"2 OK [APPENDUID") and
              not any(l.startswith(b"+") for l in lines),
              "APPEND with a LITERAL+ literal, no continuation", str(lines))
    big = int(limit[0].split("=")[1]) + 1
    r.send(b"3 APPEND Drafts {%d}\r\n" % big)
    line = r.line()
    checks.ok(line.startswith(b"3 NO [TOOBIG]"), "APPEND over APPENDLIMIT: NO [TOOBIG] before "
              "any octet", str(line))
    r.send(b"4 NOOP\r\n")
    checks.ok(r.until_tag(b"4")[-1].startswith(b"4 OK"), "the session goes on after [TOOBIG]")
    # IMAP4rev2 mailbox names are UTF-8 on the wire, modified UTF-7 on disk (as Dovecot's).
    r.send(b"5 ENABLE IMAP4rev2\r\n")
    r.until_tag(b"5")
    name = "Entwürfe".encode()
    r.send(b'6 CREATE "%s"\r\n' % name)
    checks.ok(r.until_tag(b"6")[-1].startswith(b"6 OK"), "rev2: CREATE with a UTF-8 name")
    checks.ok((home.mailbox() / ".Entw&APw-rfe" / "cur").is_dir(),
              "rev2: the folder is stored under its modified UTF-7 name")
    r.send(b'7 LIST "" "Entw*"\r\n')
    lines = b"".join(r.until_tag(b"7"))
    checks.ok(name in lines, "rev2: LIST shows the UTF-8 name", str(lines))
    # MULTIAPPEND (RFC 3502): two messages in one command, APPENDUID with both UIDs.
    m1, m2 = b"Subject: multi 1\r\n\r\none\r\n", b"Subject: multi 2\r\n\r\ntwo\r\n"
    r.send(b"7a APPEND Lists.other {%d+}\r\n%s (\\Seen) {%d+}\r\n%s\r\n"
           % (len(m1), m1, len(m2), m2))
    lines = r.until_tag(b"7a")
    checks.ok(lines[-1].startswith(b"7a OK [APPENDUID ") and b" 1:2]" in lines[-1],
              "MULTIAPPEND of two messages: APPENDUID with the UID set", str(lines))
    r.send(b"7b STATUS Lists.other (MESSAGES UNSEEN)\r\n")
    lines = b"".join(r.until_tag(b"7b"))
    checks.ok(b"MESSAGES 2 UNSEEN 1" in lines, "MULTIAPPEND: both stored, the second \\Seen",
              str(lines))
    # A client that disconnects in the middle of an APPEND leaves nothing behind.
    drafts = home.mailbox() / ".Drafts"
    before = sorted(p.name for p in (drafts / "cur").iterdir())
    r.send(b"8 APPEND Drafts {100000+}\r\nSubject: cut off\r\n\r\n" + b"x" * 5000)
    # Conditions, not sleeps: the server has read the partial literal before the cut, and has
    # closed its end (done with the session) before the Maildir is looked at.
    lib.wait_peer_read_all(r.s, 10, "home to read the partial APPEND literal")
    cport = r.s.getsockname()[1]
    r.s.close()
    lib.wait_server_closed(cport, imaps_port, 10, "home to close the cut-off APPEND session")
    after = sorted(p.name for p in (drafts / "cur").iterdir())
    checks.eq(after, before, "disconnect mid-APPEND: no message added")
    checks.eq(list((drafts / "tmp").iterdir()), [], "disconnect mid-APPEND: nothing left in tmp/")
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    m.login(DEMO, pw)
    typ, data = m.status("Drafts", "(MESSAGES)")
    checks.ok(b"MESSAGES 1" in data[0], "Drafts still has just the LITERAL+ message", str(data))

    # ---- BINARY (RFC 3516): a base64 attachment decoded by the server
    checks.ok("BINARY" in m.capabilities, "capability BINARY", str(m.capabilities))
    blob = bytes(range(256)) * 7 + os.urandom(1500) + b"\0\r\n\n\r"
    mm = MIMEMultipart()
    mm["From"] = "alice@sender.test"
    mm["To"] = DEMO
    mm["Subject"] = "binary attachment"
    mm.attach(MIMEText("See the attachment.\n"))
    mm.attach(MIMEApplication(blob, Name="blob.bin"))  # base64 by default
    raw_msg = mm.as_bytes(policy=email.policy.SMTP)
    checks.ok(b"Content-Transfer-Encoding: base64" in raw_msg, "the attachment is base64")
    with smtplib.LMTP("127.0.0.1", home.port, timeout=60) as s:
        s.sendmail("alice@sender.test", [DEMO], raw_msg)
    typ, data = m.select("INBOX")
    n = data[0].decode()
    typ, data = m.fetch(n, "(BINARY.SIZE[2] BINARY.PEEK[2])")
    got = next((x[1] for x in data if isinstance(x, tuple)), None)
    head = next((x[0] for x in data if isinstance(x, tuple)), b"")
    checks.ok(typ == "OK" and got == blob, "BINARY.PEEK[2] returns the attachment byte for byte",
              f"{len(got or b'')} octets, want {len(blob)}: {str(data)[:300]}")
    checks.ok(b"BINARY[2] ~{%d}" % len(blob) in head, "with NUL inside: a literal8", str(head))
    checks.ok(b"BINARY.SIZE[2] %d " % len(blob) in head, "BINARY.SIZE[2] is the decoded size",
              str(head))
    typ, data = m.fetch(n, "(FLAGS)")
    checks.ok(b"\\Seen" not in data[0], "BINARY.PEEK leaves \\Seen alone", str(data))
    typ, data = m.fetch(n, "(BINARY[2]<256.300>)")
    got = next((x[1] for x in data if isinstance(x, tuple)), None)
    checks.ok(typ == "OK" and got == blob[256:556], "BINARY[2]<256.300>: decoded octets 256..555",
              str(data)[:300])
    typ, data = m.fetch(n, "(FLAGS)")
    checks.ok(b"\\Seen" in data[0], "BINARY[2] sets \\Seen", str(data))
    m.logout()


lib.run_main(main)
