"""A real Postfix is the receiving MX (issue 3, "Must show"): a throwaway Postfix
(`postfix -c DIR`, never the system instance) listens on 127.0.0.1:PORT as mx.remote.test with
STARTTLS (self-signed cert) and delivers remote.test into Maildirs under the test's temp dir
(virtual(8)). unbound on loopback serves MX remote.test -> mx.remote.test -> 127.0.0.1; the
relay's outbound.smtp_port is Postfix's port.

A message submitted with AUTH on the implicit-TLS port (465 role) and on the STARTTLS port
(587 role) arrives in Postfix's Maildir; both DKIM signatures (RSA-SHA256, Ed25519-SHA256)
verify with dkimpy and with OpenDKIM (`opendkim -t`); Postfix's Received: and its log show the
relay's EHLO name (relay.hostname) and that the hop used TLS.
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import lib
from lib import DEMO, Home, Relay, checks, fail, log, require_binaries, run_main, tmpdir
from lib import wait_until
from outbound_lib import Unbound, outbound_relay_extra
from test_submission import OPENDKIM, message, opendkim_results, parse_records, swaks, verify_all

DOMAIN = "example.test"
RELAY_HOSTNAME = "mx.example.test"  # lib.Relay's relay.hostname: the EHLO name outbound
MX_NAME = "mx.remote.test"
POSTFIX = "/usr/sbin/postfix"
NOBODY = 65534

MASTER_CF = lib.POSTFIX_MASTER_CF


class Postfix:
    """A throwaway Postfix under `root` (own config, queue, data dir and log file); delivers
    `users` of `domain` to root/vmail/<local>/ (Maildir, owned by nobody)."""

    def __init__(self, root: Path, port: int, domain: str, users: list[str],
                 cert: tuple[Path, Path]):
        if not os.access(POSTFIX, os.X_OK):
            fail("postfix is not installed (package postfix, in scripts/deps)")
        self.root, self.port = root, port
        self.conf = root / "conf"
        self.queue = root / "queue"
        self.vmail = root / "vmail"
        self.logfile = root / "maillog"
        for p in (self.conf, self.queue, root / "data", self.vmail):
            p.mkdir(parents=True, exist_ok=True)
        os.chmod(root.parent, 0o755)
        os.chmod(root, 0o755)
        os.chown(root / "data", _uid("postfix"), -1)
        os.chown(self.vmail, NOBODY, NOBODY)
        (self.conf / "vmailbox").write_text(
            "".join(f"{u}@{domain} {u}/\n" for u in users))
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
config_directory = {self.conf}
queue_directory = {self.queue}
data_directory = {root / "data"}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = {MX_NAME}
mydomain = remote.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {self.logfile}
maillog_file_prefixes = {root}
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{self.conf / "vmailbox"}
virtual_mailbox_base = {self.vmail}
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
virtual_minimum_uid = 100
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert[0]}
smtpd_tls_key_file = {cert[1]}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_host_lookup = native
biff = no
alias_maps =
alias_database =
local_recipient_maps =
notify_classes =
""")
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=port))
        self._master: int | None = None
        # lib's cleanup (atexit and SIGTERM/SIGINT/SIGHUP) calls kill() on everything in
        # lib._procs before it removes the temp dir: Postfix is stopped on every exit path.
        lib._procs.insert(0, self)
        atexit.register(self.stop)
        # postfix prints its fatal errors to a terminal only (else syslog): give it one.
        r = self._postfix("check")
        if r.returncode != 0:
            fail(f"postfix check: {r.stdout}")

    def _postfix(self, cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["script", "-qec", f"{POSTFIX} -c {self.conf} {cmd}", "/dev/null"],
                              capture_output=True, text=True, timeout=60)

    def start(self) -> "Postfix":
        # `postfix start-fg`: the master runs in the foreground, a child of the test (through
        # lib.Daemon: output logged, killed with the test), instead of a daemon that detaches.
        self.daemon = _ForegroundPostfix(self)
        self.daemon.start()
        wait_until(lambda: lib.port_answers("127.0.0.1", self.port), 20,
                   f"Postfix smtpd on 127.0.0.1:{self.port}", daemons=[self.daemon])
        self._master = self.master_pid()
        kids = _children(self.daemon.pid)
        if self._master != self.daemon.pid and self._master not in kids:
            fail(f"Postfix master {self._master} is not the foreground child "
                 f"{self.daemon.pid} (or its child {kids}): start-fg did not keep it")
        return self

    def master_pid(self) -> int | None:
        if self._master:
            return self._master
        try:
            return int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """`postfix -c DIR stop`, then SIGKILL the master and its children if any remain."""
        master = self.master_pid()
        if master and not _alive(master):
            master = None
        kids = _children(master) if master else []
        if self.conf.exists():
            try:
                self._postfix("stop")
            except (OSError, subprocess.SubprocessError):
                pass
        if master:
            deadline = time.time() + 5
            while time.time() < deadline and _alive(master):
                time.sleep(0.1)
            for pid in [master] + kids + _children(master):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        d = getattr(self, "daemon", None)
        if d is not None and d.proc is not None:
            try:
                d.proc.wait(10)  # `postfix start-fg` returns once its master is gone
            except subprocess.TimeoutExpired:
                d.kill()
        self._master = None

    def kill(self) -> None:
        self.stop()

    def dump_tail(self, lines: int = 40) -> None:
        print(f"--- last {lines} lines of Postfix's maillog ---", flush=True)
        print("\n".join(self.log_text().splitlines()[-lines:]), flush=True)

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def maildir(self, user: str) -> list[bytes]:
        new = self.vmail / user / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir()) if p.is_file()]

    def with_marker(self, user: str, marker: str) -> list[bytes]:
        return [m for m in self.maildir(user) if f"X-Test-Id: {marker}".encode() in m]


class _ForegroundPostfix(lib.Daemon):
    """`postfix -c DIR start-fg` as a lib.Daemon. Stopping goes through `postfix stop` (the
    master's own shutdown), SIGKILL to the process group only when that does not work; the
    exit status is Postfix's business (check_status off)."""

    def __init__(self, pf: "Postfix"):
        super().__init__("postfix", [POSTFIX, "-c", str(pf.conf), "start-fg"],
                         pf.root / "start-fg.log", check_status=False)
        self.pf = pf

    def stop(self, timeout: float = 15.0, expect_status: int | None = None) -> int:
        if self.alive():
            self.pf.stop()
        return super().stop(timeout, expect_status=None)

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # own session: shell, master, kids
            except OSError:
                pass
        super().kill()


def _uid(name: str) -> int:
    import pwd
    return pwd.getpwnam(name).pw_uid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _children(ppid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out



def submit_ssl(port: int, password: str, rcpt: str, data: bytes, utf8: bool) -> tuple[int, str]:
    """AUTH PLAIN on the implicit-TLS port with Python's smtplib; SMTPUTF8 on MAIL when utf8."""
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as c:
        c.login(DEMO, password)
        opts = ["SMTPUTF8"] if utf8 else []
        code, text = c.mail(DEMO, opts)
        if code != 250:
            return code, text.decode()
        code, text = c.rcpt(rcpt)
        if code != 250:
            return code, text.decode()
        code, text = c.data(data)
        return code, text.decode()


def bounces_for(home: Home, marker: str) -> list[bytes]:
    out = []
    for p in home.messages(DEMO):
        b = p.read_bytes()
        if marker.encode() in b and b"delivery-status" in b:
            out.append(b)
    return out


def refusals_by_capabilities(postfix: "Postfix", home: Home, relay: Relay, port: int,
                             password: str) -> None:
    """RFC 6531 3.4 and RFC 1870 6: the relay must not hand a message to a peer that cannot take
    it. Postfix is reconfigured without SMTPUTF8 and with a 40 kB SIZE limit; a message that
    needs SMTPUTF8 (UTF-8 recipient) and one that is too big are returned to the sender (a DSN
    with 5.6.7 / 5.3.4 in the sender's home Maildir) and never reach Postfix."""
    log("Postfix without SMTPUTF8 and with SIZE 40000: the relay returns what it cannot take")
    for cmd in ("postconf -c {c} -e smtputf8_enable=no", "postconf -c {c} -e message_size_limit=40000"):
        r = subprocess.run(cmd.format(c=postfix.conf).split(), capture_output=True, text=True)
        checks.eq(r.returncode, 0, f"{cmd.split()[-1]} ({r.stderr.strip()})")
    r = postfix._postfix("reload")
    checks.eq(r.returncode, 0, f"postfix reload ({r.stdout.strip()})")
    def ehlo_text() -> str | None:
        with lib.SMTP(postfix.port) as c:
            text = c.ehlo()[1]
        return text if "SMTPUTF8" not in text and "SIZE 40000" in text else None
    wait_until(ehlo_text, 15, "Postfix offers SIZE 40000 and no SMTPUTF8", interval=0.5)
    utf8 = ("From: <" + DEMO + ">\r\nTo: <j\u00f6rg@remote.test>\r\nSubject: PFUTF8\r\n"
            "Message-ID: <pfutf8@example.test>\r\n\r\nPFUTF8 body\r\n").encode()
    code, text = submit_ssl(port, password, "j\u00f6rg@remote.test", utf8, utf8=True)
    checks.eq(code, 250, f"SMTPUTF8 submission accepted by the relay ({text})")
    big = ("From: <" + DEMO + ">\r\nTo: <bob@remote.test>\r\nSubject: PFBIG\r\n"
           "Message-ID: <pfbig@example.test>\r\n\r\n" + "PFBIG " * 12000 + "\r\n").encode()
    code, text = submit_ssl(port, password, "bob@remote.test", big, utf8=False)
    checks.eq(code, 250, f"72 kB submission accepted by the relay ({text})")
    for marker, status in (("PFUTF8", "5.6.7"), ("PFBIG", "5.3.4")):
        got = wait_until(lambda: bounces_for(home, marker), 40,
                         f"a DSN for {marker} in the sender's Maildir", daemons=[relay.daemon])
        checks.eq(len(got), 1, f"{marker}: exactly one DSN to the sender")
        dsn = got[0].decode("utf-8", "replace") if got else ""
        checks.ok(f"Status: {status}" in dsn and "Action: failed" in dsn,
                  f"{marker}: DSN says Action: failed, Status: {status}", dsn[:3000])
    checks.eq(postfix.with_marker("bob", "PFBIG"), [], "the oversized message never reached Postfix")
    plog = postfix.log_text()
    checks.ok("rg@remote.test" not in plog and "message size" not in plog.lower(),
              "Postfix's log shows no attempt to send either message", plog[-2000:])

def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN, Path(OPENDKIM), Path(POSTFIX))
    d = tmpdir("outbound-postfix")
    keys = d / "dkim"
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                      "pf", "--dir", str(keys)])
    checks.eq(r.returncode, 0, f"dkim keygen ({r.stderr.decode().strip()})")
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "txt", "--domain", DOMAIN, "--dir", str(keys)])
    txt = parse_records(r.stdout.decode())
    checks.eq(len(txt), 2, "`splitmail dkim txt` prints two records")

    dns = Unbound(d / "dns", {"remote.test": [f"remote.test. IN MX 10 {MX_NAME}.",
                                              f"{MX_NAME}. IN A 127.0.0.1"]}).start()
    mx_port = lib.free_port()
    postfix = Postfix(d / "postfix", mx_port, "remote.test", ["alice", "bob"],
                      lib.make_cert(d, "postfix", MX_NAME)).start()

    home = Home(d / "home", users=[DEMO]).start()
    password = home.passwords[DEMO]
    cert = lib.make_cert(d, "relay", RELAY_HOSTNAME)
    sub_port, subs_port = lib.free_port(), lib.free_port()
    extra = outbound_relay_extra(dns, mx_port)
    extra["relay.trusted_networks"] = "[]"
    extra["submission.listen"] = f'["127.0.0.1:{sub_port}"]'
    extra["submissions.listen"] = f'["127.0.0.1:{subs_port}"]'
    extra["dkim.dir"] = f'"{keys}"'
    relay = Relay(d / "relay", home, tls=cert, extra=extra).start()
    auth = ["--auth-user", DEMO, "--auth-password", password]

    log("465 role: implicit TLS + AUTH PLAIN to alice@remote.test")
    rc, out = swaks(subs_port, "--auth", "PLAIN", *auth, "--from", DEMO, "--to",
                    "alice@remote.test", data=message("PF465", "alice@remote.test"),
                    tls="--tls-on-connect")
    checks.ok(rc == 0 and "<~  235" in out and "<~  250 2.0.0 Ok: queued" in out,
              "implicit-TLS submission with AUTH accepted", out)
    log("587 role: STARTTLS + AUTH LOGIN to bob@remote.test")
    rc, out = swaks(sub_port, "--auth", "LOGIN", *auth, "--from", DEMO, "--to",
                    "bob@remote.test", data=message("PF587", "bob@remote.test"))
    checks.ok(rc == 0 and "<~  235" in out and "<~  250 2.0.0 Ok: queued" in out,
              "STARTTLS submission with AUTH accepted", out)

    for marker, user in (("PF465", "alice"), ("PF587", "bob")):
        got = wait_until(lambda: postfix.with_marker(user, marker), 30,
                         f"{marker} in Postfix's Maildir for {user}@remote.test",
                         daemons=[relay.daemon])
        checks.eq(len(got), 1, f"{marker}: exactly one copy in {user}'s Maildir")
        msg = got[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        res = verify_all(msg, txt)
        checks.eq(sorted(a for a, _ in res), ["ed25519-sha256", "rsa-sha256"],
                  f"{marker}: two DKIM signatures (RSA and Ed25519)")
        checks.ok(res and all(ok for _, ok in res),
                  f"{marker}: both signatures verify with dkimpy", f"{res}\n{msg[:3000]!r}")
        od = opendkim_results(msg, txt, d)
        checks.eq(od, {"pf-rsa": "pass", "pf-ed25519": "pass"},
                  f"{marker}: both signatures verify with OpenDKIM (opendkim -t)")
        head = msg.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        received = re.findall(r"(?ms)^Received: .*?(?=^\S)", head + "\r\nX:")
        theirs = [f for f in received if f"by {MX_NAME} (Postfix)" in f]
        checks.ok(len(theirs) == 1, f"{marker}: Postfix added one Received:", head)
        top = theirs[0] if theirs else ""
        checks.ok(re.search(rf"from {re.escape(RELAY_HOSTNAME)} \(", top) is not None,
                  f"{marker}: Postfix's Received: names the relay's EHLO ({RELAY_HOSTNAME})",
                  top)
        checks.ok("with ESMTPS" in top and re.search(r"using TLSv1\.[23]", top) is not None,
                  f"{marker}: Postfix's Received: shows the hop used STARTTLS (ESMTPS, TLS)",
                  top)

    plog = postfix.log_text()
    checks.ok(re.search(r"TLS connection established from \S*\[127\.0\.0\.1\]: TLSv1\.[23]",
                        plog) is not None,
              "Postfix's log shows a TLS connection from the relay", plog[-3000:])
    checks.ok(re.search(r"client=\S*\[127\.0\.0\.1\]", plog) is not None
              and len(re.findall(r"status=sent \(delivered to maildir\)", plog)) == 2,
              "Postfix's log shows both messages delivered to the Maildir", plog[-3000:])
    refusals_by_capabilities(postfix, home, relay, subs_port, password)
    relay.stop()
    home.stop()
    master = postfix.master_pid()
    checks.ok(master is not None and _alive(master), "Postfix master was running")
    postfix.stop()
    checks.ok(master is not None and not _alive(master), "Postfix master stopped")
    dns.stop()


if __name__ == "__main__":
    run_main(main)
