"""Issue 15 compliance items with python imaplib against the real splitmail-home over TLS.

- item 2: "[" is an ATOM-CHAR: CREATE / SELECT / LIST with the unquoted name a[b work
  (RFC 3501 9), SELECT of a missing a[c is NO, not BAD.
- item 4: ESEARCH MIN alone / MAX alone with a CONDSTORE MODSEQ key carry that message's
  mod-sequence, MIN MAX together the highest (RFC 4731 3.2, RFC 7162 3.1.5).
- item 9: a subscription outlives DELETE (LSUB \\Noselect, LIST (SUBSCRIBED) \\NonExistent);
  LSUB "" t.% lists the level above a subscription as \\Noselect; LIST (SUBSCRIBED
  RECURSIVEMATCH) gives CHILDINFO (RFC 3501 6.3.6, 6.3.9; RFC 5258 3.5).
- item 11: STORE +FLAGS ($new1) with a new keyword answers "* FLAGS" and "* OK
  [PERMANENTFLAGS" before the FETCH, in the storing session and (NOOP) in another one on the
  mailbox (two raw TLS sessions: imaplib does not keep the order of untagged responses).
- item 16: a repeated LOGIN with the same password is answered from the verified-credential
  cache (home.log `cache=hit`, and much faster than the first, which ran argon2id); a wrong
  password is still refused after the brake's delay and is never a hit; after SIGHUP the
  next login verifies the hash again; with users.auth_cache_ttl = "0s" there are no hits.
- item 13: SORT / UID SORT / SORT=DISPLAY / ESORT / THREAD with imaplib on APPENDed messages: subject
  (Re:, [list], (fwd) removed), REVERSE DATE with a message without Date: sorted by its
  INTERNALDATE, DISPLAYFROM, ESORT MIN/MAX/COUNT/ALL in sorted order.
- item 10: DELETE + CREATE three times in a row: UIDVALIDITY strictly grows, also across a
  restart of splitmail-home (RFC 3501 2.3.1.1).
"""
import imaplib
import signal
import smtplib
import statistics
import time
import socket
import ssl
import sys
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


def raw(m: imaplib.IMAP4, *args: str):
    """A command imaplib has no method for (or would quote differently); (typ, data)."""
    name = args[0]
    if name not in imaplib.Commands:
        imaplib.Commands[name] = ("AUTH", "SELECTED")
    return m._simple_command(*args)


def listing(m: imaplib.IMAP4, *args: str):
    """LIST with arguments as given (selection options, patterns); (typ, LIST lines)."""
    typ, dat = raw(m, "LIST", *args)
    return m._untagged_response(typ, dat, "LIST")


def untagged(m: imaplib.IMAP4, name: str) -> list[bytes]:
    return [x for x in m.untagged_responses.pop(name, []) if x is not None]


def connect(port: int, pw: str) -> imaplib.IMAP4_SSL:
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_ctx())
    m.login(DEMO, pw)
    return m


class Raw:
    """A line-level IMAP client on a TLS socket: responses in the order the server sent them."""

    def __init__(self, port: int):
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * lib.SLOW)
        self.s = tls_ctx().wrap_socket(s)
        self.buf = b""
        self.n = 0
        self.line()  # greeting

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                lib.fail(f"connection closed, buffered {self.buf!r}")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def cmd(self, text: str) -> list[bytes]:
        """Sends one command; returns every line up to and including its tagged reply."""
        self.n += 1
        tag = f"r{self.n}".encode()
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln.startswith(tag + b" "):
                return lines

    def close(self) -> None:
        self.s.close()


def timed_login(port: int, pw: str) -> tuple[str, float]:
    """(LOGIN result, seconds the LOGIN command took; the TLS handshake not counted)."""
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_ctx())
    t0 = time.monotonic()
    try:
        typ = m.login(DEMO, pw)[0]
    except imaplib.IMAP4.error:
        typ = "NO"
    took = time.monotonic() - t0
    try:
        m.logout()
    except (imaplib.IMAP4.abort, OSError):
        pass
    return typ, took


def hits(home) -> int:
    return (home.root / "home.log").read_text(errors="replace").count("cache=hit")


def uidvalidity(m: imaplib.IMAP4, box: str) -> int:
    typ, data = m.status(box, "(UIDVALIDITY)")
    checks.eq(typ, "OK", f"STATUS {box} (UIDVALIDITY)")
    return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imapcompliance")
    cert, key = lib.make_cert(d, "imap", "localhost")
    home = lib.Home(d / "home")
    imaps_port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
                f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    pw = home.passwords[DEMO]
    for i in range(1, 4):
        deliver(home.port, f"message {i}")
    a = connect(imaps_port, pw)

    # ---- item 2: "[" in an atom
    typ, data = raw(a, "SELECT", "a[c")
    checks.eq(typ, "NO", "SELECT a[c (missing): NO, not BAD")
    typ, _ = raw(a, "CREATE", "a[b")
    checks.eq(typ, "OK", "CREATE a[b")
    typ, data = listing(a, '""', "a[b")
    checks.ok(typ == "OK" and any(x and x.endswith(b' "." a[b') for x in data),
              "LIST \"\" a[b lists a[b", str(data))
    typ, _ = raw(a, "SELECT", "a[b")
    checks.eq(typ, "OK", "SELECT a[b")

    # ---- item 4: ESEARCH MIN/MAX with MODSEQ (MODSEQs in the order 1, 3, 2)
    typ, _ = a.select("INBOX")
    checks.eq(typ, "OK", "SELECT INBOX")
    for n in ("1", "3", "2"):
        a.store(n, "+FLAGS.SILENT", "(\\Seen)")
    typ, data = a.fetch("1:3", "(MODSEQ)")
    ms = {}
    for x in data:
        num, _, rest = x.partition(b" ")
        ms[int(num)] = int(rest.split(b"MODSEQ (")[1].rstrip(b"))"))
    checks.ok(ms[1] < ms[3] < ms[2], "MODSEQs ascend as 1, 3, 2", str(ms))
    key = ("1:3", "MODSEQ", '"/flags/\\\\seen"', "all", "1")
    for ret, want in (("(MIN)", f"MIN 1 MODSEQ {ms[1]}"), ("(MAX)", f"MAX 3 MODSEQ {ms[3]}"),
                      ("(MIN MAX)", f"MIN 1 MAX 3 MODSEQ {ms[2]}")):
        typ, _ = raw(a, "SEARCH", "RETURN", ret, *key)
        es = untagged(a, "ESEARCH")
        checks.ok(typ == "OK" and len(es) == 1 and es[0].endswith(want.encode()),
                  f"SEARCH RETURN {ret} ... MODSEQ: {want}", str(es))
    a.close()

    # ---- item 11: a new keyword is announced before the FETCH that carries it
    r1, r2 = Raw(imaps_port), Raw(imaps_port)
    for r in (r1, r2):
        r.cmd(f"LOGIN {DEMO} {pw}")
        r.cmd("SELECT INBOX")
    for who, lines in (("storing session", r1.cmd("STORE 1 +FLAGS ($new1)")),
                       ("other session (NOOP)", r2.cmd("NOOP"))):
        kinds = [ln.split(b" ")[1] if not ln.startswith(b"* OK [PERMANENTFLAGS") else b"PERM"
                 for ln in lines if ln.startswith(b"* ")]
        fl = [ln for ln in lines if ln.startswith(b"* FLAGS")]
        checks.ok(kinds[:3] == [b"FLAGS", b"PERM", b"1"] and fl and b"$new1" in fl[0]
                  and b"$new1" in lines[2], f"{who}: FLAGS, PERMANENTFLAGS, then FETCH", str(lines))
    lines = r1.cmd("STORE 2 +FLAGS ($new1)")
    checks.ok(not any(ln.startswith(b"* FLAGS") for ln in lines),
              "a known keyword is not announced again", str(lines))
    r1.close()
    r2.close()

    # ---- item 9: subscriptions outlive mailboxes
    for box in ("t.test", "t.test2", "t.test2.test", "t.gone"):
        checks.eq(a.create(box)[0], "OK", f"CREATE {box}")
    for box in ("t.test", "t.test2.test", "t.gone"):
        checks.eq(a.subscribe(box)[0], "OK", f"SUBSCRIBE {box}")
    checks.eq(a.delete("t.gone")[0], "OK", "DELETE t.gone")
    typ, data = a.lsub('""', "t.*")
    checks.ok(b'(\\Noselect) "." t.gone' in data, "LSUB after DELETE: t.gone \\Noselect", str(data))
    typ, data = listing(a, "(SUBSCRIBED)", '""', "t.*")
    checks.ok(any(x and b"\\NonExistent" in x and x.endswith(b" t.gone") for x in data),
              "LIST (SUBSCRIBED) after DELETE: t.gone \\NonExistent", str(data))
    typ, data = a.lsub('""', "t.%")
    checks.ok(b'() "." t.test' in data and b'(\\Noselect) "." t.test2' in data,
              "LSUB \"\" t.%: t.test, and t.test2 \\Noselect (its child is subscribed)", str(data))
    typ, data = listing(a, "(SUBSCRIBED RECURSIVEMATCH)", '""', "t.test2%")
    checks.ok(any(x and x.endswith(b' t.test2 ("CHILDINFO" ("SUBSCRIBED"))') for x in data),
              "LIST (SUBSCRIBED RECURSIVEMATCH): t.test2 with CHILDINFO", str(data))

    # ---- item 16: verified-credential cache
    home.daemon.proc.send_signal(signal.SIGHUP)  # empties it: the next login verifies
    lib.wait_until(lambda: "SIGHUP: reloading" in (home.root / "home.log").read_text(), 10,
                   "SIGHUP handled")
    h1 = hits(home)
    cold = timed_login(imaps_port, pw)
    checks.ok(cold[0] == "OK" and hits(home) == h1, "after SIGHUP: LOGIN verifies the hash",
              f"{cold} hits {h1} -> {hits(home)}")
    warm = [timed_login(imaps_port, pw) for _ in range(5)]
    checks.ok(all(t == "OK" for t, _ in warm) and hits(home) == h1 + 5,
              "5 repeated LOGINs answered from the cache (cache=hit)",
              f"{warm} hits {h1} -> {hits(home)}")
    med = statistics.median(x for _, x in warm)
    lib.log(f"LOGIN with argon2id {cold[1] * 1000:.1f} ms, cached median {med * 1000:.1f} ms")
    checks.ok(med * 3 < cold[1], "a cached LOGIN takes under a third of a verified one",
              f"cold {cold[1]:.4f}s, warm median {med:.4f}s")
    h2 = hits(home)
    bad = timed_login(imaps_port, pw + "x")
    checks.ok(bad[0] == "NO" and hits(home) == h2, "a wrong password: NO, never a cache hit",
              str(bad))
    checks.ok(bad[1] >= 0.9, "the brake's failure delay still applies (auth.failure_delay 1s)",
              f"{bad[1]:.3f}s")

    # ---- item 13: SORT, SORT=DISPLAY, ESORT
    caps = a.capabilities
    for cap in ("SORT", "SORT=DISPLAY", "ESORT"):
        checks.ok(cap in caps, f"capability {cap}", str(caps))
    checks.eq(a.create("sortbox")[0], "OK", "CREATE sortbox")
    msgs = [  # (Date, Subject, From, INTERNALDATE)
        ("Mon, 2 Jan 2023 10:00:00 +0000", "Re: apple", "Aaron Zed <zed@x.test>", "01-May-2024"),
        ("1 Jan 2023 09:00:00 -0500", "[list] Banana", "alice@x.test", "01-Apr-2024"),
        (None, "=?utf-8?q?cherry?=", "Bob <bob@x.test>", "01-Jan-2020"),
        ("Tue, 3 Jan 2023 08:00:00 GMT", "Fwd: apple (fwd)", "carol@x.test", "01-Jun-2024"),
    ]
    for date, subj, frm, idate in msgs:
        text = (f"Date: {date}\r\n" if date else "") + \
            f"Subject: {subj}\r\nFrom: {frm}\r\nTo: {DEMO}\r\n\r\nbody\r\n"
        typ, _ = a.append("sortbox", None, f'"{idate} 12:00:00 +0000"', text.encode())
        checks.eq(typ, "OK", f"APPEND {subj}")
    a.select("sortbox")
    typ, data = a.sort("(SUBJECT)", "UTF-8", "ALL")
    checks.eq((typ, data), ("OK", [b"1 4 2 3"]), "SORT (SUBJECT): APPLE APPLE BANANA CHERRY")
    typ, data = a.uid("SORT", "(REVERSE DATE)", "UTF-8", "ALL")
    checks.eq((typ, data), ("OK", [b"4 1 2 3"]),
              "UID SORT (REVERSE DATE): no Date: sorts by INTERNALDATE (2020)")
    typ, data = a.sort("(DISPLAYFROM)", "UTF-8", "ALL")
    checks.eq((typ, data), ("OK", [b"1 2 3 4"]), "SORT (DISPLAYFROM): AARON ZED, ALICE@, BOB, CAROL@")
    typ, data = a.sort("(ARRIVAL)", "US-ASCII", "NOT", "FROM", "bob")
    checks.eq((typ, data), ("OK", [b"2 1 4"]), "SORT (ARRIVAL) with search keys")
    typ, data = a.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    checks.eq((typ, data), ("OK", [b"(3)(2)(1 4)"]),
              "THREAD ORDEREDSUBJECT: threads by the date of their first message")
    typ, data = a.thread("REFERENCES", "UTF-8", "ALL")
    checks.eq((typ, data), ("OK", [b"(3)(2)((1)(4))"]),
              "THREAD REFERENCES: Re: apple and Fwd: apple, both replies, under one dummy")
    typ, _ = raw(a, "SORT", "RETURN", "(MIN", "MAX", "COUNT", "ALL)", "(SUBJECT)", "UTF-8", "ALL")
    es = untagged(a, "ESEARCH")
    checks.ok(typ == "OK" and len(es) == 1 and es[0].startswith(b"(TAG ")
              and es[0].endswith(b") MIN 1 MAX 3 ALL 1,4,2:3 COUNT 4"),
              "ESORT: MIN/MAX in sorted order, ALL in sorted order", str(es))
    a.close()

    # ---- item 10: UIDVALIDITY after DELETE + CREATE
    seen = []
    for _ in range(3):
        checks.eq(a.create("again")[0], "OK", "CREATE again")
        seen.append(uidvalidity(a, "again"))
        checks.eq(a.delete("again")[0], "OK", "DELETE again")
    checks.ok(seen[0] < seen[1] < seen[2], "UIDVALIDITY strictly grows over 3 DELETE + CREATE",
              str(seen))
    a.logout()
    home.stop()
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    b = connect(imaps_port, pw)
    checks.eq(b.create("again")[0], "OK", "CREATE again after a restart")
    v = uidvalidity(b, "again")
    checks.ok(v > seen[2], "UIDVALIDITY after a restart above the last one", f"{v} vs {seen}")
    typ, data = b.lsub('""', "t.gone")
    checks.ok(b'(\\Noselect) "." t.gone' in data, "the subscription survived the restart",
              str(data))
    b.logout()

    # users.auth_cache_ttl = "0s": no cache
    home.stop()
    text = home.config.read_text().replace("[users]\n", '[users]\nauth_cache_ttl = "0s"\n', 1)
    home.config.write_text(text)
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    h3 = hits(home)
    res = [timed_login(imaps_port, pw) for _ in range(3)]
    checks.ok(all(t == "OK" for t, _ in res) and hits(home) == h3,
              "auth_cache_ttl = 0s: every LOGIN verifies (no cache=hit)", f"{res}")
    checks.summary()


lib.run_main(main)
