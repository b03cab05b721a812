"""Throwaway rspamd and clamd for the content-filter tests (issue 18): real daemons from the
Debian packages, each with a test configuration in the test's temp dir, on loopback ports or a
socket in the temp dir. Never the system services, never a download (no freshclam: clamd loads
a signature database the test writes).

GTUBE and EICAR are the standard probes: GTUBE (rspamd's `enable_test_patterns`) gives the
`reject` action, its Y variant `add header`; EICAR is matched by the test's own .ndb signature.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import lib
from lib import Daemon, fail, free_port, log, wait_until

# The GTUBE test strings (rspamd docs, "GTUBE-like test patterns"): X -> reject,
# Y -> add header; honoured with options.enable_test_patterns = true.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "Y" + GTUBE[1:]
# The EICAR anti-virus test file (eicar.org); harmless by design.
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Splitmail.Test.EICAR"


_groups: list[Daemon] = []


@atexit.register
def _stop_groups() -> None:
    """rspamd forks workers: on any exit, end the whole process group of each scanner daemon
    (each runs in a session of its own), not only the main process lib kills."""
    for d in _groups:
        if d.proc is not None:
            try:
                os.killpg(d.proc.pid, signal.SIGKILL)
            except OSError:
                pass


class Rspamd:
    """rspamd 3.4 with /etc/rspamd/rspamd.conf and a LOCAL_CONFDIR of the test's own: normal
    worker and controller on free loopback ports, proxy worker off, DNS pointed at a dead
    loopback port (network rules fail fast instead of waiting), thresholds high enough that a
    plain test message gets `no action`, test patterns on. Run as root with -i (no privilege
    drop: the temp dir belongs to root)."""

    def __init__(self, root: Path, redis: str | None = None, password: str | None = None,
                 controller_extra: str = "", milter: bool = False):
        """`redis` ("127.0.0.1:PORT"): Bayes statistics there (learning works, min_learns 1);
        `password`: the controller's password for privileged commands (learning), and no
        address is trusted without it (secure_ip names none of ours); `controller_extra`:
        more controller lines (a provisioned password hash); `milter`: the proxy worker as a
        self-scanning milter on `milter_port`."""
        self.root = root
        self.password = password
        self.port = free_port()
        self.controller_port = free_port()
        conf = root / "conf"
        for sub in ("local.d", "override.d"):
            (conf / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("db", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (conf / "override.d" / "worker-normal.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n')
        controller = f'bind_socket = "127.0.0.1:{self.controller_port}";\ncount = 1;\n'
        if password is not None:
            controller += (f'password = "{password}";\nenable_password = "{password}";\n'
                           'secure_ip = ["192.0.2.254"];\n')
        # controller_extra: more lines for the controller (e.g. a provisioned password hash).
        (conf / "override.d" / "worker-controller.inc").write_text(controller + controller_extra)
        if redis is not None:
            (conf / "local.d" / "classifier-bayes.conf").write_text(
                f'backend = "redis";\nservers = "{redis}";\nmin_learns = 1;\nmin_tokens = 5;\n'
                "autolearn = false;\n")
        # milter: the proxy worker as a milter that scans itself (what Postfix users run,
        # bench/inbound --filters); otherwise off.
        self.milter_port = free_port() if milter else 0
        (conf / "override.d" / "worker-proxy.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.milter_port}";\nmilter = yes;\ncount = 1;\n'
            'timeout = 120s;\nupstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
            if milter else "enabled = false;\n")
        (conf / "override.d" / "logging.inc").write_text(
            f'type = "file";\nfilename = "{root}/log/rspamd.log";\nlevel = "info";\n')
        dead_dns = free_port()
        (conf / "local.d" / "options.inc").write_text(
            f'dns {{ nameserver = ["127.0.0.1:{dead_dns}"]; timeout = 0.3s; retransmits = 1; }}\n'
            "enable_test_patterns = true;\n")
        # milter_headers: rspamd then asks for X-Spamd-Bar in milter.add_headers (the relay
        # applies it) and for removing X-Spam (logged, not applied).
        (conf / "local.d" / "milter_headers.conf").write_text(
            'use = ["x-spamd-bar"];\nskip_local = false;\nskip_authenticated = false;\n')
        (conf / "local.d" / "actions.conf").write_text(
            "add_header = 50;\nrewrite_subject = null;\ngreylist = null;\nreject = 100;\n")
        self.address = f"127.0.0.1:{self.port}"
        self.daemon = Daemon(
            "rspamd",
            ["rspamd", "-f", "-i", "-c", "/etc/rspamd/rspamd.conf",
             "--var", f"LOCAL_CONFDIR={conf}", "--var", f"DBDIR={root}/db",
             "--var", f"RUNDIR={root}/run", "--var", f"LOGDIR={root}/log"],
            root / "rspamd.out", check_status=False)
        _groups.append(self.daemon)

    def check(self, message: bytes) -> dict:
        req = urllib.request.Request(f"http://{self.address}/checkv2", data=message,
                                     headers={"IP": "192.0.2.7", "From": "<probe@sender.test>"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def history(self) -> list[dict]:
        """The controller's scan history (newest first; rspamd keeps it in memory, no redis)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.controller_port}/history",
                                     headers={"Password": self.password} if self.password else {})
        with urllib.request.urlopen(req, timeout=10) as r:
            rows = json.loads(r.read())
        return rows.get("rows", []) if isinstance(rows, dict) else rows

    def stat(self) -> dict:
        """The controller's /stat (learned counts per statfile)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.controller_port}/stat",
                                     headers={"Password": self.password} if self.password else {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def start(self) -> "Rspamd":
        self.daemon.start()
        probe = (f"From: <probe@sender.test>\r\nSubject: probe\r\n\r\nprobe text\r\n{GTUBE}\r\n"
                 "more text\r\n").encode()
        last = [""]

        def ready() -> bool:
            try:
                a = self.check(probe)
                last[0] = a.get("action", "")
                return last[0] == "reject"
            except OSError as e:
                last[0] = str(e)
                return False

        # First start compiles its hyperscan database: allow for it.
        wait_until(ready, 120, f"rspamd to answer GTUBE with reject (last: {last[0]})",
                   interval=0.5, daemons=[self.daemon])
        log(f"rspamd ready on {self.address}")
        return self

    def stop(self) -> None:
        self.daemon.stop(expect_status=None)


class Redis:
    """A throwaway redis-server on a loopback port (rspamd's Bayes statistics), nothing saved."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.daemon = Daemon(
            "redis-server",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(root), "--daemonize", "no"],
            root / "redis.out", check_status=False)
        _groups.append(self.daemon)

    def learns(self, kind: str) -> int:
        """How many messages rspamd's Bayes learned as `kind` ("spam" / "ham"): the counters
        rspamd keeps in its redis hash RS (its /stat statfiles lag behind by minutes)."""
        r = subprocess.run(["redis-cli", "-p", str(self.port), "HGET", "RS", f"learns_{kind}"],
                           capture_output=True, text=True, timeout=10)
        out = r.stdout.strip()
        return int(out) if out.isdigit() else 0

    def start(self) -> "Redis":
        self.daemon.start()
        wait_until(lambda: lib.port_answers("127.0.0.1", self.port), 15,
                   f"redis-server on {self.address}", daemons=[self.daemon])
        return self

    def stop(self) -> None:
        self.daemon.stop(expect_status=None)


class Clamd:
    """clamd with a temp clamd.conf: a unix LocalSocket in the temp dir (or a TCPSocket on a
    loopback port), DatabaseDirectory holding only the test's signature for the EICAR string
    (an .ndb body signature; no freshclam, no distribution database), foreground."""

    def __init__(self, root: Path, tcp: bool = False, stream_max: str = "25M"):
        self.root = root
        db = root / "db"
        db.mkdir(parents=True, exist_ok=True)
        # .ndb: Name:TargetType:Offset:HexSignature (0 = any file type, * = anywhere).
        (db / "splitmail-test.ndb").write_text(
            f"{EICAR_SIGNATURE}:0:*:{EICAR.encode().hex()}\n")
        self.socket = root / "clamd.sock"
        self.port = free_port() if tcp else 0
        conf = root / "clamd.conf"
        lines = [f"DatabaseDirectory {db}", "Foreground yes", f"LogFile {root}/clamd.log",
                 f"PidFile {root}/clamd.pid", f"TemporaryDirectory {root}",
                 f"StreamMaxLength {stream_max}", "User root", "LogVerbose yes"]
        if tcp:
            lines += ["TCPSocket %d" % self.port, "TCPAddr 127.0.0.1"]
            self.address = f"127.0.0.1:{self.port}"
        else:
            lines += [f"LocalSocket {self.socket}", "LocalSocketMode 660"]
            self.address = str(self.socket)
        conf.write_text("\n".join(lines) + "\n")
        self.daemon = Daemon("clamd", ["clamd", "--foreground", "-c", str(conf)],
                             root / "clamd.out", check_status=False)
        _groups.append(self.daemon)

    def _ping(self) -> bool:
        try:
            if self.port:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            else:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                s.connect(str(self.socket))
            with s:
                s.sendall(b"zPING\0")
                return s.recv(64).startswith(b"PONG")
        except OSError:
            return False

    def start(self) -> "Clamd":
        self.daemon.start()
        wait_until(self._ping, 60, f"clamd to answer PING on {self.address}", interval=0.3,
                   daemons=[self.daemon])
        log(f"clamd ready on {self.address}")
        return self

    def stop(self) -> None:
        self.daemon.stop(expect_status=None)


def data_reply(port: int, sender: str, rcpt: str, data: bytes) -> tuple[int, str]:
    """The reply to the end of DATA (or the first refusal before it)."""
    return lib.send_message(port, sender, [rcpt], data)


def spool_tmp_files(relay: lib.Relay) -> list[Path]:
    d = relay.spool / "tmp"
    return sorted(d.iterdir()) if d.is_dir() else []


def delivered_with(home: lib.Home, marker: str, timeout: float = 20,
                   folder: str = "INBOX") -> bytes:
    def find():
        hits = [p for p in home.messages(folder=folder)
                if f"X-Test-Id: {marker}".encode() in p.read_bytes()]
        return hits or None
    hits = wait_until(find, timeout, f"message {marker} in demo's {folder}")
    if len(hits) != 1:
        fail(f"{marker}: {len(hits)} copies delivered")
    return hits[0].read_bytes()


class HungScanner:
    """A loopback TCP listener that accepts, reads everything and never answers: a scanner that
    hangs. Counts the connections it took and the octets it read."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.octets = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c: socket.socket) -> None:
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                self.octets += len(b)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for c in self._held:
            c.close()
