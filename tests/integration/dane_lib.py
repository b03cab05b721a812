"""DNSSEC and a DANE-verifying sender inside a network namespace (root only; extends lib.py and
netns_lib.py). Used by test_tlsa_rollover.

  - SignedZone: a zone signed with ldns-signzone (a KSK and a ZSK made once with ldns-keygen,
    ECDSA P-256), served by an authoritative unbound (`auth-zone`, 127.0.0.1:5300 inside the
    namespace) and resolved by a DNSSEC-validating unbound (module-config "validator iterator",
    the KSK's DS as its only trust anchor, a stub-zone to the authoritative one) on
    127.0.0.1:53 inside the namespace. serve() re-signs and restarts both, so what a client
    sees is exactly the records given (the validator's cache starts empty every time).
  - resolv_conf(): /etc/netns/NAME/resolv.conf pointing at that resolver ("options trust-ad":
    glibc passes the AD bit on only with it), which `ip netns exec` bind-mounts over
    /etc/resolv.conf for what runs in the namespace; the host's resolv.conf is never touched.
  - DaneSender: a throwaway Postfix (`postfix -c DIR start-fg`, never the system instance)
    inside the namespace, smtpd on 127.0.0.1:PORT for the test to submit to, its smtp client
    with `smtp_tls_security_level = dane` and `smtp_dns_support_level = dnssec`.

Does not: listen anywhere outside the namespace, or query anything but its own servers (the
validating unbound refuses every name outside the signed zone).
"""
from __future__ import annotations

import os
import re
import shutil
import smtplib
import subprocess
import time
from pathlib import Path

import dns_lib
import lib
import netns_lib
from lib import fail, wait_until

UNBOUND = dns_lib.UNBOUND
POSTFIX = "/usr/sbin/postfix"
AUTH_PORT = 5300
NOBODY = 65534


def require_tools() -> None:
    missing = [t for t in ("ldns-keygen", "ldns-signzone", "drill") if not shutil.which(t)]
    if missing:
        fail(f"missing {missing}: run scripts/deps (package ldnsutils)")
    for p in (UNBOUND, POSTFIX):
        if not os.access(p, os.X_OK):
            fail(f"{p} is missing: run scripts/deps (packages unbound, postfix)")


def _run(argv: list[str], cwd: Path | None = None) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60)
    if r.returncode != 0:
        fail(f"`{' '.join(argv)}` failed (exit {r.returncode}): {r.stderr}{r.stdout}")
    return r.stdout


# ---------------------------------------------------------------- resolv.conf of the namespace

def resolv_conf(ns: netns_lib.Namespace) -> Path:
    """/etc/netns/<ns>/resolv.conf -> the validating unbound; removed at exit (and stale ones of
    dead test runs now)."""
    base = Path("/etc/netns")
    if base.is_dir():
        for d in base.iterdir():
            m = re.match(r"^sm(\d+)-[a-z]+$", d.name)
            if m and not netns_lib._pid_alive(int(m.group(1))):
                shutil.rmtree(d, ignore_errors=True)
    d = base / ns.name
    d.mkdir(parents=True, exist_ok=True)
    (d / "resolv.conf").write_text("nameserver 127.0.0.1\noptions trust-ad\n")
    import atexit

    def remove() -> None:
        shutil.rmtree(d, ignore_errors=True)
        try:
            base.rmdir()  # only when empty: it may be someone else's too
        except OSError:
            pass
    atexit.register(remove)
    return d


# ---------------------------------------------------------------- DNSSEC

class SignedZone:
    """`origin` signed and served inside `ns` (see the module's docstring)."""

    def __init__(self, ns: netns_lib.Namespace, root: Path, origin: str):
        self.ns, self.root, self.origin = ns, root, origin.rstrip(".")
        root.mkdir(parents=True, exist_ok=True)
        alg = "ECDSAP256SHA256"
        self.zsk = _run(["ldns-keygen", "-a", alg, self.origin], cwd=root).strip()
        self.ksk = _run(["ldns-keygen", "-a", alg, "-k", self.origin], cwd=root).strip()
        self.serial = int(time.time())
        self.auth: lib.Daemon | None = None
        self.validator: lib.Daemon | None = None
        self.signed = root / f"{self.origin}.signed"
        self._write_configs()

    def _write_configs(self) -> None:
        auth = dns_lib.auth_zone_conf(self.root, "auth", AUTH_PORT, self.origin, self.signed)
        val = dns_lib.unbound_server(self.root, "validator", 53) + [
            '  module-config: "validator iterator"',
            "  do-not-query-localhost: no",
            f'  trust-anchor-file: "{self.root / (self.ksk + ".ds")}"',
            "  val-log-level: 2",
            # only the signed zone resolves; nothing ever leaves the namespace
            '  local-zone: "." refuse',
            f'  local-zone: "{self.origin}." transparent',
            "stub-zone:", f'  name: "{self.origin}."', f"  stub-addr: 127.0.0.1@{AUTH_PORT}",
            "remote-control:", "  control-enable: no"]
        self.auth_conf, self.val_conf = self.root / "auth.conf", self.root / "validator.conf"
        self.auth_conf.write_text("\n".join(auth) + "\n")
        self.val_conf.write_text("\n".join(val) + "\n")

    def serve(self, records: list[str], tag: str) -> None:
        """Signs SOA + NS + `records` ("name ttl IN TYPE rdata", absolute names) and (re)starts
        both servers on it; returns once the validator answers the SOA with AD set."""
        self.stop()
        self.serial += 1
        o = self.origin
        zone = [f"{o}. 60 IN SOA ns.{o}. hostmaster.{o}. {self.serial} 3600 600 86400 60",
                f"{o}. 60 IN NS ns.{o}.", f"ns.{o}. 60 IN A 127.0.0.1"]
        zone += [r for r in records if not re.match(rf"^{re.escape(o)}\.\s+\d+\s+IN\s+(SOA|NS)\s",
                                                    r)]
        unsigned = self.root / f"{o}.zone"
        unsigned.write_text("\n".join(zone) + "\n")
        _run(["ldns-signzone", "-o", f"{o}.", "-f", str(self.signed), str(unsigned), self.zsk,
              self.ksk], cwd=self.root)
        for conf in (self.auth_conf, self.val_conf):
            r = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"unbound-checkconf {conf}: {r.stdout}{r.stderr}")
        self.auth = self.ns.daemon(f"unbound-auth({tag})", [UNBOUND, "-d", "-c",
                                                           str(self.auth_conf)],
                                   self.root / f"auth-{tag}.log").start()
        wait_until(lambda: self.query(f"{o}.", "SOA", port=AUTH_PORT)[0] == "NOERROR", 15,
                   f"authoritative unbound ({tag})", daemons=[self.auth])
        self.validator = self.ns.daemon(f"unbound-validator({tag})",
                                        [UNBOUND, "-d", "-c", str(self.val_conf)],
                                        self.root / f"validator-{tag}.log").start()
        wait_until(lambda: self.query(f"{o}.", "SOA") == ("NOERROR", True, [f"ns.{o}. "
                                                                              f"hostmaster.{o}. "
                                                                              f"{self.serial} "
                                                                              "3600 600 86400 60"]),
                   15, f"validating unbound answers the signed SOA with AD ({tag})",
                   daemons=[self.validator, self.auth])

    def query(self, name: str, rtype: str, port: int = 53) -> tuple[str, bool, list[str]]:
        """drill inside the namespace: (rcode, AD flag, rdata of the answer's `rtype` records)."""
        r = self.ns.run(["drill", "-D", "-p", str(port), "@127.0.0.1", name, rtype], timeout=10)
        flags = re.search(r";; flags: ([^;]*);", r.stdout)
        return (dns_lib.drill_rcode(r.stdout) or r.stdout + r.stderr,
                bool(flags) and "ad" in flags.group(1).split(),
                [rdata for _, rdata in dns_lib.answer_records(r.stdout, rtype)])

    def stop(self) -> None:
        for d in (self.validator, self.auth):
            if d is not None and d.alive():
                d.stop()
        self.validator = self.auth = None


# ---------------------------------------------------------------- Postfix as a DANE client

MASTER_CF = lib.POSTFIX_MASTER_CF


class DaneSender:
    """A throwaway Postfix inside `ns` that sends everything by MX with DANE required when the
    destination publishes TLSA (RFC 7672 2.2), resolving through /etc/resolv.conf of the
    namespace (the validating unbound)."""

    def __init__(self, ns: netns_lib.Namespace, root: Path, port: int, probe: str):
        import pwd
        self.ns, self.root, self.port = ns, root, port
        self.conf, self.queue, self.data = root / "conf", root / "queue", root / "data"
        self.logfile = root / "maillog"
        for p in (self.conf, self.queue, self.data):
            p.mkdir(parents=True, exist_ok=True)
        os.chmod(root.parent, 0o755)
        os.chmod(root, 0o755)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, -1)
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
config_directory = {self.conf}
queue_directory = {self.queue}
data_directory = {self.data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.test
mydomain = sender.test
myorigin = $mydomain
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {self.logfile}
maillog_file_prefixes = {root}
# RFC 7672: TLSA of the MX host, verified after DNSSEC validation; no TLSA or no DNSSEC would
# mean "may", which the test rules out by requiring "Verified TLS" in the log
smtp_tls_security_level = dane
smtp_dns_support_level = dnssec
# the resolver validates this name (the default probe, NS of the root, is refused here)
dnssec_probe = {probe}
smtp_tls_loglevel = 1
smtp_host_lookup = dns
# every message on a fresh connection with a fresh handshake: each step's TLSA is checked
smtp_connection_cache_on_demand = no
smtp_tls_session_cache_database =
# ...by a fresh smtp(8) process: it caches TLSA RRsets for their TTL (tls_dane.c), and the
# test moves the rollover's clock (2 x TTL) instead of waiting, which a cache would show
max_use = 1
smtpd_peername_lookup = no
minimal_backoff_time = 300s
maximal_backoff_time = 600s
queue_run_delay = 300s
biff = no
alias_maps =
alias_database =
local_recipient_maps =
notify_classes =
""")
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=port))
        self.daemon: lib.Daemon | None = None
        r = self.postfix("check")
        if r.returncode != 0:
            fail(f"postfix check: {r.stdout}{r.stderr}")

    def postfix(self, cmd: str) -> subprocess.CompletedProcess:
        # postfix prints its fatal errors to a terminal only (else syslog): give it one.
        return self.ns.run(["script", "-qec", f"{POSTFIX} -c {self.conf} {cmd}", "/dev/null"],
                           timeout=60)

    def start(self) -> "DaneSender":
        self.daemon = self.ns.daemon("postfix(dane)", [POSTFIX, "-c", str(self.conf),
                                                       "start-fg"], self.root / "start-fg.log")
        self.daemon.check_status = False
        self.daemon.start()
        wait_until(lambda: self.ns.tcp_connects("127.0.0.1", self.port), 20,
                   f"Postfix smtpd on 127.0.0.1:{self.port} in {self.ns.name}",
                   daemons=[self.daemon])
        return self

    def stop(self) -> None:
        if self.daemon is None:
            return
        if self.daemon.alive():
            self.postfix("stop")
            try:
                self.daemon.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.daemon.kill()
        self.daemon = None

    def submit(self, sender: str, rcpt: str, marker: str) -> str:
        """Hands a message to Postfix's smtpd; returns Postfix's queue id."""
        msg = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {marker}\r\n"
               f"Message-ID: <{marker}@sender.test>\r\nX-Test-Id: {marker}\r\n\r\n"
               f"{marker} body\r\n")
        with self.ns.entered():
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30 * lib.SLOW) as s:
                s.ehlo("client.sender.test")
                code, text = s.mail(sender)
                if code == 250:
                    code, text = s.rcpt(rcpt)
                if code == 250:
                    code, text = s.data(msg.encode())
        m = re.search(r"queued as (\w+)", text.decode(errors="replace"))
        if code != 250 or not m:
            fail(f"Postfix did not take {marker}: {code} {text!r}")
        return m.group(1)

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def outcome(self, qid: str) -> tuple[str, str, str] | None:
        """(status, the smtp line with the status, the TLS line of the same smtp process before
        it) of the first delivery attempt of `qid`, or None while there is none."""
        lines = self.log_text().splitlines()
        for i, line in enumerate(lines):
            m = re.search(rf"postfix/smtp\[(\d+)\]: {qid}: to=<.*status=(\w+)", line)
            if not m:
                continue
            pid = m.group(1)
            tls = ""
            for prev in reversed(lines[:i]):
                if f"postfix/smtp[{pid}]:" in prev and "TLS connection established" in prev:
                    tls = prev
                    break
                if f"postfix/smtp[{pid}]:" in prev and re.search(r": \w+: to=<", prev):
                    break  # an earlier delivery of this process: no handshake for ours
            return m.group(2), line, tls
        return None

    def log_since(self, qid: str) -> str:
        """Postfix's log from the submission of `qid` on."""
        text = self.log_text()
        i = text.find(f"{qid}: client=")
        return text[i:] if i >= 0 else text
