"""IMAP on splitmail-home with python imaplib, against the real binary on loopback.

- LOGINDISABLED before STARTTLS; LOGIN after STARTTLS and over implicit TLS; a wrong password
  is refused after the configured delay.
- A message delivered over LMTP (smtplib.LMTP) is listed, fetched (FLAGS, UID, BODY.PEEK[],
  BODY[HEADER.FIELDS], ENVELOPE, BODYSTRUCTURE) with its bytes intact.
- STORE, SEARCH, COPY (COPYUID), MOVE, EXPUNGE, APPEND (APPENDUID), special-use LIST.
- IDLE: an LMTP delivery shows up as EXISTS while idling (no speed claim: that is bench/'s).
- Two sessions: flags stored in one and an expunge in one are reported in the other.
"""
import imaplib
import os
import signal
import smtplib
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


def deliver(port: int, subject: str, body: str = "Hello over LMTP.") -> None:
    msg = (f"From: Alice Example <alice@sender.test>\r\nTo: {DEMO}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@sender.test>\r\n"
           f"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\n{body}\r\n")
    with smtplib.LMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail("alice@sender.test", [DEMO], msg.encode())


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imap")
    cert = lib.make_cert(d, "imap", "home.example.test")
    home = lib.Home(d / "home")
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\nlogin_failure_delay = "1s"\n'
                f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    pw = home.passwords[DEMO]

    # Password hashes are checked in worker processes (users/hash_worker.hpp): children
    # `splitmail-home --hash-worker` at nice +10, started on first use; every thread of the
    # daemon itself runs at nice 0.
    def nice_of(stat: Path) -> int:
        return int(stat.read_text().rsplit(")", 1)[1].split()[16])  # field 19 of proc(5)

    def hash_workers() -> dict[int, int]:
        out = {}
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                stat = (p / "stat").read_text()
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == home.daemon.pid and b"--hash-worker" in cmd:
                out[int(p.name)] = nice_of(p / "stat")
        return out

    def imaps_login(password: str) -> bool:
        c = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
        try:
            c.login(DEMO, password)
            return True
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                c.logout()
            except Exception:
                pass

    checks.ok(imaps_login(pw), "a login (the hash checked by a worker process)")
    workers = hash_workers()
    checks.ok(len(workers) >= 1 and all(n == 10 for n in workers.values()),
              "password-hash workers run as child processes at nice 10", str(workers))
    names = {Path(f"/proc/{p}/comm").read_text().strip() for p in workers}
    checks.eq(names, {"splitmail-hash"}, "the workers are named splitmail-hash in ps/top")
    # The daemon's threads at nice 0, but for the mailbox threads of heavy users
    # (users/executors.hpp): as many as imap.store_threads (4), 10 levels lower.
    threads = [((t / "comm").read_text().strip(), nice_of(t / "stat"))
               for t in Path(f"/proc/{home.daemon.pid}/task").iterdir()]
    heavy = [n for name, n in threads if name == "home-heavy"]
    checks.ok(len(heavy) == 4 and all(n == 10 for n in heavy),
              "four background mailbox threads (home-heavy) at nice 10", str(threads))
    checks.ok(sum(1 for name, _ in threads if name == "home-mailbox") == 4,
              "four mailbox threads (home-mailbox)", str(threads))
    checks.ok(all(n == 0 for name, n in threads if name != "home-heavy"),
              "every other thread of the daemon at nice 0", str(threads))
    checks.ok(not imaps_login(pw + "x"), "a wrong password fails (the worker's answer is used)")
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    # A wrong password is never answered from the cache of verified logins: the hash is
    # checked, so a worker must be used (and replaced) for it.
    checks.ok(not imaps_login(pw + "y"), "after the workers were killed a wrong password fails")
    checks.ok(imaps_login(pw), "after the workers were killed a login still works")
    fresh = hash_workers()
    checks.ok(fresh and not set(fresh) & set(workers),
              "new workers replaced the killed ones", f"{workers} -> {fresh}")
    checks.ok("password-hash worker failed" not in home.daemon.log_text(),
              "a dead worker is replaced before the check, not counted as a failure",
              home.daemon.log_text()[-1500:])

    # --- STARTTLS port: LOGINDISABLED before TLS
    m = imaplib.IMAP4("127.0.0.1", imap_port)
    caps = m.capabilities
    checks.ok("LOGINDISABLED" in caps and "STARTTLS" in caps,
              "before STARTTLS: LOGINDISABLED and STARTTLS advertised", str(caps))
    try:
        m.login(DEMO, pw)
        checks.ok(False, "LOGIN before STARTTLS is refused")
    except imaplib.IMAP4.error:
        checks.ok(True, "LOGIN before STARTTLS is refused")
    m.starttls(ssl_context=tls_ctx())
    t0 = time.monotonic()
    try:
        m.login(DEMO, "wrong-password")
        checks.ok(False, "wrong password refused")
    except imaplib.IMAP4.error as e:
        checks.ok("AUTHENTICATIONFAILED" in str(e), "wrong password refused", str(e))
    checks.ok(time.monotonic() - t0 >= 0.9, "failed login answered after the delay")
    typ, _ = m.login(DEMO, pw)
    checks.eq(typ, "OK", "LOGIN after STARTTLS")
    typ, lst = m.list()
    names = b"\n".join(lst).decode()
    for box, attr in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"),
                      ("Junk", "\\Junk"), ("Archive", "\\Archive")):
        checks.ok(attr in names and box in names, f"special-use {box} listed with {attr}", names)
    m.logout()

    # --- implicit TLS, fetch an LMTP delivery
    deliver(home.port, "first message", "Line one.\r\nLine two.")
    a = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    a.login(DEMO, pw)
    typ, data = a.select("INBOX")
    checks.eq((typ, data[0]), ("OK", b"1"), "SELECT INBOX over implicit TLS: 1 EXISTS")
    uidvalidity = a.response("UIDVALIDITY")[1][0]
    checks.ok(uidvalidity and int(uidvalidity) > 0, "UIDVALIDITY reported", str(uidvalidity))
    on_disk = home.messages()[0].read_bytes()
    typ, data = a.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    checks.eq(data[0][1], on_disk, "BODY.PEEK[] is the file byte for byte")
    checks.ok(b"UID 1" in data[0][0] and b"\\Seen" not in data[0][0], "UID 1, not \\Seen after PEEK",
              str(data[0][0]))
    typ, data = a.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] ENVELOPE BODYSTRUCTURE RFC822.SIZE)")
    head = data[0][0].decode()
    checks.ok(data[0][1] == b"From: Alice Example <alice@sender.test>\r\nSubject: first message\r\n\r\n",
              "HEADER.FIELDS returns the two fields and the blank line", repr(data[0][1]))
    rest = data[1].decode() if isinstance(data[1], bytes) else str(data[1])
    whole = head + rest
    checks.ok('("Alice Example" NIL "alice" "sender.test")' in whole, "ENVELOPE From address", whole)
    checks.ok('("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT"' in whole,
              "BODYSTRUCTURE text/plain", whole)
    checks.ok(f"RFC822.SIZE {len(on_disk)}" in whole, "RFC822.SIZE is the file size", whole)
    typ, data = a.fetch("1", "(BODY[TEXT]<0.8>)")
    checks.eq(data[0][1], b"Line one", "partial BODY[TEXT]<0.8>")
    typ, data = a.fetch("1", "(FLAGS)")
    checks.ok(b"\\Seen" in data[0], "BODY[] without PEEK set \\Seen", str(data))

    # --- STORE and SEARCH
    typ, data = a.store("1", "+FLAGS", "(\\Flagged)")
    checks.ok(b"\\Flagged" in data[0], "STORE +FLAGS returns the new flags", str(data))
    checks.eq(a.search(None, "FLAGGED")[1][0], b"1", "SEARCH FLAGGED")
    checks.eq(a.search(None, "UNSEEN")[1][0], b"", "SEARCH UNSEEN (none)")
    checks.eq(a.search(None, 'SUBJECT "first"')[1][0], b"1", "SEARCH SUBJECT")
    checks.eq(a.search(None, 'NOT FROM "alice"')[1][0], b"", "SEARCH NOT FROM")
    checks.eq(a.uid("SEARCH", "OR", "DELETED", "SINCE", "1-Jan-2020")[1][0], b"1",
              "UID SEARCH OR DELETED SINCE")

    # --- APPEND with flags and date
    msg = b"From: me@example.test\r\nSubject: appended\r\n\r\nbody\r\n"
    typ, data = a.append("Drafts", "(\\Draft \\Seen)", imaplib.Time2Internaldate(1700000000), msg)
    checks.ok(typ == "OK" and b"APPENDUID" in data[0], "APPEND to Drafts with APPENDUID", str(data))
    typ, data = a.status("Drafts", "(MESSAGES UNSEEN UIDNEXT)")
    checks.ok(b"MESSAGES 1" in data[0] and b"UNSEEN 0" in data[0], "STATUS Drafts", str(data))
    typ, data = a.append("NoSuchBox", None, None, msg)
    checks.ok(typ == "NO" and b"TRYCREATE" in data[0], "APPEND to a missing mailbox: TRYCREATE",
              str(data))

    # --- COPY / MOVE
    typ, data = a.copy("1", "Archive")
    checks.ok(typ == "OK" and b"COPYUID" in data[0], "COPY with COPYUID", str(data))
    b = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    b.login(DEMO, pw)
    b.select("Archive")
    typ, data = b.fetch("1", "(FLAGS BODY.PEEK[])")
    checks.ok(data[0][1] == on_disk and b"\\Flagged" in data[1], "copy has the content and flags",
              str(data))
    b.close()
    # --- two sessions on INBOX
    deliver(home.port, "second message")
    b.select("INBOX")
    a.noop()
    checks.eq(b.search(None, "ALL")[1][0], b"1 2", "second session sees both messages")
    b.store("2", "+FLAGS", "(\\Answered)")
    typ, data = a.noop()
    fetches = [x for x in a.untagged_responses.get("FETCH", [])]
    checks.ok(any(b"\\Answered" in x for x in fetches), "flag set in session B reported to A by NOOP",
              str(a.untagged_responses))
    a.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = a.expunge()
    checks.eq(data[0], b"1", "EXPUNGE in A reports message 1")
    typ, data = b.noop()
    checks.ok(b"1" in b.untagged_responses.get("EXPUNGE", [b""]),
              "the expunge is reported to B", str(b.untagged_responses))
    checks.eq(b.search(None, "ALL")[1][0], b"1", "B now has one message, numbered 1")
    typ, data = b.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    checks.ok(b"second message" in data[0][1], "B's message 1 is the second message", str(data))
    typ, data = a.uid("MOVE", "2", "Trash")
    checks.ok(typ == "OK", "UID MOVE to Trash", str(data))
    checks.eq(a.search(None, "ALL")[1][0], b"", "INBOX empty after MOVE in A")
    b.noop()
    checks.eq(b.search(None, "ALL")[1][0], b"", "INBOX empty in B too")
    st = b.status("Trash", "(MESSAGES)")[1][0]
    checks.ok(b"MESSAGES 1" in st, "Trash has the moved message", str(st))

    # --- IDLE sees an LMTP delivery (pushed while idling, before DONE)
    b.logout()
    a.send(b"I1 IDLE\r\n")
    line = a.readline()
    checks.ok(line.startswith(b"+"), "IDLE continuation", str(line))
    t0 = time.monotonic()
    deliver(home.port, "while idling")
    # No speed claim here (a loaded CI machine, the sanitizer pass): the EXISTS must come
    # unasked during IDLE, within a generous deadline (a latency figure belongs in bench/).
    seen = lib.imap_lines_until(a, b"EXISTS", 20)
    checks.ok(b"* 1 EXISTS" in seen,
              f"EXISTS pushed during IDLE ({time.monotonic() - t0:.2f}s)", str(seen))
    a.send(b"DONE\r\n")
    rest = lib.imap_lines_until(a, b"I1 ", 20)
    checks.ok(rest.splitlines()[-1].startswith(b"I1 OK"), "IDLE terminated by DONE", str(rest))
    a.sock.settimeout(None)
    a.logout()

    # --- Maildir layout and UID persistence across a restart
    box = home.mailbox()
    checks.ok((box / "splitmail-uidlist").is_file() and (box / ".Sent" / "cur").is_dir(),
              "UID index and Maildir++ folders on disk")
    home.stop()
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    c = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    c.login(DEMO, pw)
    c.select("INBOX")
    checks.eq(c.response("UIDVALIDITY")[1][0], uidvalidity, "UIDVALIDITY unchanged after restart")
    typ, data = c.uid("FETCH", "1:*", "(UID)")
    checks.ok(b"UID 3" in data[0], "UID of the IDLE delivery kept after restart", str(data))
    typ, data = c.select("../../etc")
    checks.eq(typ, "NO", "a mailbox name with .. is refused")
    c.logout()


lib.run_main(main)
