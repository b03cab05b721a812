"""Real IMAP clients against splitmail-home: mbsync (isync) and fetchmail, on loopback.

- Messages delivered over LMTP are pulled by `mbsync` over STARTTLS (CertificateFile = the
  test certificate) into a local Maildir, byte for byte (modulo line endings).
- Both ways: a message appended locally, also in a new nested folder, appears on the server;
  a flag set locally (file name info) and a local deletion propagate to the server; a new LMTP
  delivery, a flag set and an expunge made by another IMAP client arrive locally; a second run
  changes nothing.
- A second mbsync channel pulls the same mailbox over implicit TLS (993 style).
- `fetchmail` fetches every message over implicit TLS (sslcertck with the test certificate)
  keeping them, then over STARTTLS (fingerprint pinned) without keep, which empties INBOX;
  every message handed to the MDA is the server's copy byte for byte (modulo line endings).
"""
import hashlib
import imaplib
import os
import smtplib
import ssl
import subprocess
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


def norm(b: bytes) -> bytes:
    """Line endings normalised to LF (Maildir clients store LF, IMAP sends CRLF)."""
    return b.replace(b"\r\n", b"\n")


def strip_tuid(b: bytes) -> bytes:
    """mbsync marks messages it uploads with an X-TUID header (to find their UID)."""
    return b"".join(l for l in b.splitlines(keepends=True) if not l.startswith(b"X-TUID: "))


def deliver(port: int, subject: str, body: str) -> bytes:
    msg = (f"From: Alice Example <alice@sender.test>\r\nTo: {DEMO}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@sender.test>\r\n"
           f"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
           f"\r\n{body}\r\n").encode()
    with smtplib.LMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail("alice@sender.test", [DEMO], msg)
    return msg


def server_messages(port: int, pw: str, box: str = "INBOX") -> dict[bytes, tuple[bytes, bytes]]:
    """Message-ID -> (flags, content) of every message of `box`, read over IMAPS."""
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls_ctx())
    m.login(DEMO, pw)
    typ, data = m.select(box, readonly=True)
    out = {}
    if typ == "OK" and data[0] != b"0":
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
        # FLAGS may come before or after the literal: look in the text around it.
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            after = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
            text = item[0] + b" " + after
            flags = text[text.find(b"FLAGS (") + 7:] if b"FLAGS (" in text else b"?"
            out[message_id(item[1])] = (flags[:flags.find(b")")], item[1])
    m.logout()
    return out


def message_id(content: bytes) -> bytes:
    for line in content.splitlines():
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
        if not line.strip():
            break
    return b""


def local_messages(box: Path) -> dict[bytes, Path]:
    out = {}
    for sub in ("cur", "new"):
        d = box / sub
        if d.is_dir():
            for p in d.iterdir():
                out[message_id(p.read_bytes())] = p
    return out


def local_flags(p: Path) -> str:
    return p.name.split(":2,", 1)[1] if ":2," in p.name else ""


def run(argv: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, timeout=120 * lib.SLOW, env=env)
    out = (r.stdout + r.stderr).decode(errors="replace")
    checks.ok(r.returncode == 0, what, f"exit {r.returncode}:\n{out[-3000:]}")
    if argv[0] == "mbsync":  # mbsync goes on after many server complaints: none allowed
        bad = [l for l in out.splitlines() if "Warning" in l or "Error" in l or "IMAP error" in l]
        checks.eq(bad, [], what + ": no warnings or errors")
    return r


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    for tool in ("mbsync", "fetchmail"):
        if not any(Path(p, tool).exists() for p in os.environ["PATH"].split(":")):
            lib.fail(f"{tool} is not installed: run scripts/deps (packages isync, fetchmail)")
    d = lib.tmpdir("imapclients")
    # mbsync checks the host name against DNS names only: the certificate is for "localhost".
    cert, key = lib.make_cert(d, "imap", "localhost")
    home = lib.Home(d / "home")
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert}"\n'
                f'tls_key = "{key}"\n[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    pw = home.passwords[DEMO]
    env = dict(os.environ, HOME=str(d), FETCHMAILHOME=str(d))

    sent = {}
    for i, body in enumerate(["Plain ASCII body.\r\nSecond line.",
                              "UTF-8 body: Grüße, ½ € — ok.",
                              "\r\n".join(f"line {n} " + "x" * 70 for n in range(3000))]):
        raw = deliver(home.port, f"msg {i}", body)
        sent[message_id(raw)] = raw

    # ---------------------------------------------------------------- mbsync
    local = d / "local"
    local.mkdir()
    local2 = d / "local2"
    local2.mkdir()
    rc = d / "mbsyncrc"
    rc.write_text(f"""IMAPAccount starttls
Host localhost
Port {imap_port}
User {DEMO}
Pass {pw}
SSLType STARTTLS
SystemCertificates no
CertificateFile {cert}

IMAPAccount imaps
Host localhost
Port {imaps_port}
User {DEMO}
Pass {pw}
SSLType IMAPS
SystemCertificates no
CertificateFile {cert}

IMAPStore remote
Account starttls

IMAPStore remote2
Account imaps

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

MaildirStore local2
Path {local2}/
Inbox {local2}/INBOX
SubFolders Verbatim

Channel demo
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Sync All
SyncState *

Channel pull
Far :remote2:
Near :local2:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    rc.chmod(0o600)
    mbsync = ["mbsync", "-c", str(rc)]
    run(mbsync + ["demo"], env, "mbsync: first sync over STARTTLS")
    loc = local_messages(local / "INBOX")
    checks.eq(sorted(loc), sorted(sent), "mbsync: every delivered message is in the local INBOX")
    srv = server_messages(imaps_port, pw)
    for mid, p in loc.items():
        checks.ok(norm(strip_tuid(p.read_bytes())) == norm(srv[mid][1]),
                  f"mbsync: local copy of {mid.decode()} is the server's byte for byte",
                  f"{len(p.read_bytes())} vs {len(srv[mid][1])} octets")
    for box in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
        checks.ok((local / box / "cur").is_dir(), f"mbsync: folder {box} created locally")

    # local -> server: a new message, a flag, a deletion
    new_local = (b"From: Demo <demo@example.test>\nTo: bob@example.test\nSubject: written locally\n"
                 b"Message-ID: <local-1@example.test>\nDate: Tue, 5 Mar 2024 09:00:00 +0000\n\n"
                 b"Appended by mbsync.\n")
    (local / "INBOX" / "new" / "1709629200.local1.host").write_bytes(new_local)
    ids = sorted(loc)
    flagged, deleted = ids[0], ids[1]
    p = loc[flagged]
    base = p.name.split(":2,")[0]
    p.rename(p.parent / (base + ":2,FS"))
    loc[deleted].unlink()
    (local / "Archive" / "new" / "1709629201.local2.host").write_bytes(
        new_local.replace(b"local-1", b"local-2").replace(b"written locally", b"archived"))
    # A new local folder two levels deep: mbsync creates "Projects.2024" on the server (its
    # delimiter is ".") and uploads the message.
    for sub in ("cur", "new", "tmp"):
        (local / "Projects" / "2024" / sub).mkdir(parents=True)
    (local / "Projects" / "2024" / "cur" / "1709629202.local3.host:2,S").write_bytes(
        new_local.replace(b"local-1", b"local-3"))
    run(mbsync + ["demo"], env, "mbsync: second sync (local changes)")
    srv = server_messages(imaps_port, pw)
    checks.ok(b"<local-1@example.test>" in srv, "mbsync: locally written message is on the server",
              str(list(srv)))
    if b"<local-1@example.test>" in srv:
        checks.eq(norm(strip_tuid(srv[b"<local-1@example.test>"][1])), new_local,
                  "mbsync: uploaded message is byte for byte what was written locally")
    checks.ok(b"\\Flagged" in srv[flagged][0] and b"\\Seen" in srv[flagged][0],
              "mbsync: local flags F and S are set on the server", str(srv[flagged][0]))
    checks.ok(deleted not in srv, "mbsync: a local deletion removes the message on the server",
              str(list(srv)))
    arch = server_messages(imaps_port, pw, "Archive")
    checks.ok(b"<local-2@example.test>" in arch, "mbsync: a message in a local subfolder arrives "
              "in the server's Archive", str(list(arch)))

    proj = server_messages(imaps_port, pw, "Projects.2024")
    checks.ok(b"<local-3@example.test>" in proj and b"\\Seen" in proj[b"<local-3@example.test>"][0],
              "mbsync: a new local subfolder is created on the server with its message",
              str(proj))

    # server -> local: a delivery, a flag, an expunge by another client
    raw = deliver(home.port, "msg late", "Delivered after the first sync.")
    sent[message_id(raw)] = raw
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=tls_ctx())
    m.login(DEMO, pw)
    m.select("INBOX")
    typ, data = m.search(None, "HEADER", "Message-ID", ids[2].decode())
    checks.ok(typ == "OK" and data[0].strip() != b"", "imaplib: the third message is found",
              str(data))
    third = data[0].split()[0]
    m.store(third, "+FLAGS", "(\\Answered)")
    typ, data = m.search(None, "HEADER", "Message-ID", "<local-1@example.test>")
    m.store(data[0].split()[0], "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    run(mbsync + ["demo"], env, "mbsync: third sync (server changes)")
    loc = local_messages(local / "INBOX")
    checks.ok(message_id(raw) in loc, "mbsync: a new server message arrives locally",
              str(list(loc)))
    if message_id(raw) in loc:
        late = norm(strip_tuid(loc[message_id(raw)].read_bytes()))
        checks.ok(late.endswith(norm(raw)) and late.startswith(b"Return-Path: "),
                  "mbsync: the late delivery is the LMTP message after Return-Path/Delivered-To",
                  repr(late[:400]))
    checks.ok("R" in local_flags(loc.get(ids[2], Path("x"))),
              "mbsync: \\Answered set on the server shows as R locally",
              str(loc.get(ids[2])))
    checks.ok(b"<local-1@example.test>" not in loc,
              "mbsync: a message expunged on the server is gone locally", str(list(loc)))
    checks.ok("F" in local_flags(loc[flagged]) and "S" in local_flags(loc[flagged]),
              "mbsync: locally set flags stay", loc[flagged].name)
    before = sorted(p.name for p in (local / "INBOX" / "cur").iterdir())
    run(mbsync + ["demo"], env, "mbsync: fourth sync (nothing to do)")
    after = sorted(p.name for p in (local / "INBOX" / "cur").iterdir())
    checks.eq(after, before, "mbsync: a sync without changes changes nothing locally")

    run(mbsync + ["pull"], env, "mbsync: pull over implicit TLS")
    srv = server_messages(imaps_port, pw)
    loc2 = local_messages(local2 / "INBOX")
    checks.eq(sorted(loc2), sorted(srv), "mbsync (IMAPS): every server message pulled")
    for mid, p in loc2.items():
        checks.ok(norm(strip_tuid(p.read_bytes())) == norm(srv[mid][1]),
                  f"mbsync (IMAPS): {mid.decode()} byte for byte")

    # ---------------------------------------------------------------- fetchmail
    out = d / "fetched"
    out.mkdir()
    mda = d / "mda.py"
    mda.write_text("import os, sys, time\n"
                   f"p = os.path.join({str(out)!r}, '%d.%d' % (time.time_ns(), os.getpid()))\n"
                   "open(p, 'wb').write(sys.stdin.buffer.read())\n")
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    md5 = hashlib.md5(der).hexdigest().upper()
    fp = ":".join(md5[i:i + 2] for i in range(0, len(md5), 2))

    def fetchmail(name: str, port: int, tls_opts: str, keep: str) -> subprocess.CompletedProcess:
        frc = d / f"fetchmailrc-{name}"
        frc.write_text(
            f"set no syslog\nset invisible\n"
            f"poll 127.0.0.1 with proto IMAP service {port} timeout 60\n"
            f'  user "{DEMO}" there with password "{pw}" is "{os.environ.get("USER", "root")}" '
            f"here\n"
            f"  {tls_opts}\n  {keep} fetchall norewrite no dropstatus no dropdelivered\n"
            f'  mda "/usr/bin/python3 {mda}"\n')
        frc.chmod(0o600)
        return run(["fetchmail", "--fetchmailrc", str(frc), "--pidfile", str(d / "fm.pid"),
                    "--idfile", str(d / f"fetchids-{name}"), "-v", "--nodetach"], env,
                   f"fetchmail: {name}")

    srv = server_messages(imaps_port, pw)
    fetchmail("imaps, keep", imaps_port,
              f'ssl sslcertck sslcertfile "{cert}" sslcommonname "localhost"', "keep")
    got = {message_id(p.read_bytes()): p.read_bytes() for p in out.iterdir()}
    checks.eq(sorted(got), sorted(srv), "fetchmail (IMAPS, keep): every message fetched")
    for mid, content in got.items():
        checks.ok(norm(content) == norm(srv[mid][1]),
                  f"fetchmail: {mid.decode()} handed to the MDA byte for byte",
                  f"{content[:300]!r}\nvs\n{srv[mid][1][:300]!r}")
    checks.eq(sorted(server_messages(imaps_port, pw)), sorted(srv),
              "fetchmail keep: the messages stay on the server")
    for p in out.iterdir():
        p.unlink()
    fetchmail("starttls, no keep", imap_port,
              f'sslproto "tls1.2+" sslfingerprint "{fp}" sslcertck sslcertfile "{cert}" '
              f'sslcommonname "localhost"', "nokeep")
    got = {message_id(p.read_bytes()): p.read_bytes() for p in out.iterdir()}
    checks.eq(sorted(got), sorted(srv), "fetchmail (STARTTLS, nokeep): every message fetched")
    for mid, content in got.items():
        checks.ok(norm(content) == norm(srv[mid][1]),
                  f"fetchmail (STARTTLS): {mid.decode()} byte for byte")
    checks.eq(server_messages(imaps_port, pw), {}, "fetchmail nokeep: INBOX is empty afterwards")


lib.run_main(main)
