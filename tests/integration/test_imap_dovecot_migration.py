"""A Maildir written by a real Dovecot opens in splitmail-home with the same UIDVALIDITY, UIDs,
flags, keywords, folders and subscriptions, so IMAP clients need not download anything again.

- A throwaway Dovecot (`dovecot -F -c CONFIG`: own base_dir, loopback ports, passwd-file passdb,
  static userdb, mail_location=maildir:<root>/%d/%n; never the system instance) receives five
  messages over its LMTP; imaplib against Dovecot sets \\Seen, \\Flagged, \\Answered and the
  keywords $Forwarded, work, project-x, expunges one message (UIDs no longer contiguous),
  creates Sent (APPEND with \\Seen and a keyword) and Lists.dev, subscribes both.
- Dovecot is stopped; splitmail-home serves the same directory. UIDVALIDITY and
  `UID FETCH 1:* (FLAGS)` of INBOX and Sent equal what Dovecot reported; LSUB lists the
  subscriptions; the next delivery gets Dovecot's UIDNEXT; a keyword stored by splitmail is
  written to dovecot-keywords in Dovecot's format; dovecot-uidlist is not modified.
"""
import imaplib
import os
import pwd
import re
import smtplib
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

DOVECOT = "/usr/sbin/dovecot"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def message(subject: str) -> bytes:
    return (f"From: Alice <alice@sender.test>\r\nTo: {DEMO}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@sender.test>\r\n"
            f"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\nBody of {subject}.\r\n").encode()


def flags_by_uid(m: imaplib.IMAP4) -> dict[int, frozenset]:
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    if typ != "OK":
        lib.fail(f"UID FETCH failed: {data}")
    out = {}
    for line in data:
        if not isinstance(line, bytes):
            continue
        text = line.decode()
        u = re.search(r"UID (\d+)", text)
        f = re.search(r"FLAGS \(([^)]*)\)", text)
        if u and f:
            out[int(u.group(1))] = frozenset(x for x in f.group(1).split() if x != "\\Recent")
    return out


def uidvalidity(m: imaplib.IMAP4) -> int:
    return int(m.response("UIDVALIDITY")[1][0])


def write_dovecot_config(d: Path, mail: Path, imap_port: int, lmtp_port: int,
                         password: str) -> Path:
    (d / "run").mkdir()
    (d / "state").mkdir()
    passwd = d / "passwd"
    passwd.write_text(f"{DEMO}:{{PLAIN}}{password}\n")
    conf = d / "dovecot.conf"
    conf.write_text(f"""
base_dir = {d}/run
state_dir = {d}/state
instance_name = splitmail-migration-{imap_port}
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:{mail}/%d/%n
namespace inbox {{
  inbox = yes
  separator = .
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@example.test
}}
""")
    return conf


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    if not os.access(DOVECOT, os.X_OK):
        lib.fail(f"{DOVECOT} missing: scripts/deps installs dovecot-imapd and dovecot-lmtpd")
    d = lib.tmpdir("dovecot-migration")
    os.chmod(d, 0o755)  # Dovecot's mail processes run as nobody
    mail = d / "mail"
    mail.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    dv_imap, dv_lmtp = lib.free_port(), lib.free_port()
    dv_password = "dovecot-test-password"
    (d / "dovecot").mkdir()
    conf = write_dovecot_config(d / "dovecot", mail, dv_imap, dv_lmtp, dv_password)
    dovecot = lib.Daemon("dovecot", [DOVECOT, "-F", "-c", str(conf)], d / "dovecot-stdout.log")
    dovecot.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", dv_imap) and
                   lib.port_answers("127.0.0.1", dv_lmtp), 15, "Dovecot IMAP and LMTP",
                   daemons=[dovecot])

    # --- Dovecot delivers and flags
    for i in range(1, 6):
        with smtplib.LMTP("127.0.0.1", dv_lmtp, timeout=60) as s:
            s.sendmail("alice@sender.test", [DEMO], message(f"message {i}"))
    m = imaplib.IMAP4("127.0.0.1", dv_imap)
    m.login(DEMO, dv_password)
    typ, data = m.select("INBOX")
    checks.eq(data[0], b"5", "Dovecot: 5 messages delivered over its LMTP")
    m.store("1", "+FLAGS", "(\\Seen)")
    m.store("2", "+FLAGS", "(\\Flagged $Forwarded work)")
    m.store("3", "+FLAGS", "(\\Deleted)")
    m.store("4", "+FLAGS", "(\\Answered \\Seen project-x)")
    m.expunge()
    dv_inbox_uv = uidvalidity(m)
    dv_inbox = flags_by_uid(m)
    checks.eq(sorted(dv_inbox), [1, 2, 4, 5], "Dovecot: UIDs after the expunge")
    checks.ok("work" in dv_inbox[2] and "$Forwarded" in dv_inbox[2] and "project-x" in dv_inbox[4],
              "Dovecot: keywords set", str(dv_inbox))
    m.create("Sent")
    m.create("Lists.dev")
    m.subscribe("Sent")
    m.subscribe("Lists.dev")
    m.append("Sent", "(\\Seen sent-by-me)", None, message("sent one"))
    m.append("Sent", "()", None, message("sent two"))
    m.select("Sent")
    dv_sent_uv = uidvalidity(m)
    dv_sent = flags_by_uid(m)
    m.close()
    m.logout()
    dovecot.stop()
    box = mail / "example.test" / "demo"
    checks.ok((box / "dovecot-uidlist").is_file() and (box / "dovecot-keywords").is_file() and
              (box / "subscriptions").is_file() and (box / ".Sent" / "cur").is_dir(),
              "Dovecot wrote dovecot-uidlist, dovecot-keywords, subscriptions and .Sent",
              str(sorted(p.name for p in box.iterdir())))
    lib.log("subscriptions as Dovecot wrote them: %r" % (box / "subscriptions").read_text())
    dv_uidlist = (box / "dovecot-uidlist").read_text()

    # --- the same Maildir served by splitmail-home
    cert = lib.make_cert(d, "imap", "home.example.test")
    home = lib.Home(d / "home", maildir=mail)
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\n[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    c = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    c.login(DEMO, home.passwords[DEMO])
    typ, data = c.select("INBOX")
    checks.eq(data[0], b"4", "splitmail: INBOX has the 4 messages")
    checks.eq(uidvalidity(c), dv_inbox_uv, "INBOX UIDVALIDITY kept")
    sp_inbox = flags_by_uid(c)
    checks.eq(sp_inbox, dv_inbox, "INBOX UID FETCH 1:* (FLAGS) equals Dovecot's, keywords included")
    typ, data = c.select("Sent")
    checks.eq(uidvalidity(c), dv_sent_uv, "Sent UIDVALIDITY kept")
    checks.eq(flags_by_uid(c), dv_sent, "Sent UID FETCH 1:* (FLAGS) equals Dovecot's")
    typ, data = c.lsub('""', "*")
    subs = b"\n".join(x for x in data if isinstance(x, bytes)).decode()
    checks.ok('"." Sent' in subs and "Lists.dev" in subs, "Dovecot's subscriptions listed by LSUB",
              subs)
    typ, data = c.list('""', "*")
    names = b"\n".join(x for x in data if isinstance(x, bytes)).decode()
    checks.ok("Lists.dev" in names, "Dovecot's folder Lists.dev listed", names)

    # New mail continues Dovecot's numbering; keywords stay in Dovecot's format.
    with smtplib.LMTP("127.0.0.1", home.port, timeout=60) as s:
        s.sendmail("alice@sender.test", [DEMO], message("after migration"))
    c.select("INBOX")
    typ, data = c.uid("SEARCH", "ALL")
    checks.eq(data[0], b"1 2 4 5 6", "the next delivery gets Dovecot's UIDNEXT (6)")
    typ, data = c.uid("STORE", "6", "+FLAGS", "(newtag)")
    checks.ok(typ == "OK" and b"newtag" in data[0], "STORE of a new keyword", str(data))
    kw = (box / "dovecot-keywords").read_text()
    checks.ok(re.search(r"^\d+ newtag$", kw, re.M) is not None and "work" in kw,
              "dovecot-keywords extended in Dovecot's format", kw)
    typ, data = c.uid("SEARCH", "KEYWORD", "work")
    checks.eq(data[0], b"2", "SEARCH KEYWORD on a keyword Dovecot set")
    c.logout()
    home.stop()

    checks.eq((box / "dovecot-uidlist").read_text(), dv_uidlist,
              "dovecot-uidlist left as Dovecot wrote it (read once, never written)")


lib.run_main(main)
