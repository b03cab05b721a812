"""Harness pieces for the outbound tests (extends lib.py; loopback only).

  - Unbound: a real DNS server (Debian's `unbound`) on 127.0.0.1:PORT serving static zones for
    test domains (`local-zone` / `local-data`); everything else is refused, so it never
    queries the internet. The relay's libunbound forwards to it (outbound.resolver).
  - Sink: Postfix's `smtp-sink` as the receiving MX on 127.0.0.1:PORT, dumping every message
    to a file (-d), optionally answering 4xx (-r) or 5xx (-f) to chosen commands.
  - outbound_relay_extra(): relay.toml keys for a relay that trusts loopback clients
    (relay.trusted_networks), resolves through the test DNS and delivers to the sink's port
    with short retry times.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import lib
from lib import Daemon, fail, free_port, port_answers, wait_until

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class Unbound:
    """unbound on 127.0.0.1:port; zones = {"remote.test": ["remote.test. MX 10 mx.remote.test.",
    ...]} (each zone is a static local-zone: names not listed get NXDOMAIN / NODATA)."""

    def __init__(self, root: Path, zones: dict[str, list[str]], port: int | None = None):
        if not os.access(UNBOUND, os.X_OK):
            fail("unbound is not installed (scripts/deps installs the `unbound` package)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = root / "unbound.conf"
        lines = [
            "server:",
            f"  interface: 127.0.0.1@{self.port}",
            f"  port: {self.port}",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{root}"',
            f'  pidfile: "{root}/unbound.pid"',
            "  use-syslog: no",
            '  logfile: ""',
            "  verbosity: 1",
            "  do-ip6: no",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            # Never recurse to the internet: only the test zones answer.
            '  local-zone: "." refuse',
        ]
        for zone, records in zones.items():
            lines.append(f'  local-zone: "{zone}." static')
            for r in records:
                lines.append(f'  local-data: "{r}"')
        lines += ["remote-control:", "  control-enable: no"]
        self.config.write_text("\n".join(lines) + "\n")
        r = subprocess.run(["unbound-checkconf", str(self.config)], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"unbound-checkconf: {r.stdout} {r.stderr}")
        self.daemon = Daemon("unbound", [UNBOUND, "-d", "-c", str(self.config)],
                             root / "unbound.log")

    def start(self) -> "Unbound":
        self.daemon.start()
        wait_until(self.answers, 15, f"unbound on 127.0.0.1:{self.port}",
                   daemons=[self.daemon])
        return self

    def answers(self) -> bool:
        """A DNS query over UDP gets a response (any rcode)."""
        import socket
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
             b"\x04test\x00\x00\x01\x00\x01")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                data, _ = s.recvfrom(512)
                return data[:2] == b"\x12\x34"
            except OSError:
                return False

    def stop(self) -> None:
        self.daemon.stop()


class Sink:
    """smtp-sink on host:port; every message it accepts is dumped to a file in `dumps`."""

    def __init__(self, root: Path, port: int, host: str = "127.0.0.1", hard: str = "",
                 soft: str = "", name: str = "mx.remote.test"):
        if not os.access(SMTP_SINK, os.X_OK):
            fail("smtp-sink is not installed (package postfix, in scripts/deps)")
        self.root, self.port, self.host = root, port, host
        root.mkdir(parents=True, exist_ok=True)
        self.dumps = root / "dumps"
        self.dumps.mkdir(exist_ok=True)
        # smtp-sink drops to `nobody` after binding: it must reach and write the dump dir
        # (the test's temp dir is 0700 from mkdtemp).
        os.chmod(root.parent, 0o755)
        os.chmod(root, 0o755)
        os.chmod(self.dumps, 0o777)
        argv = [SMTP_SINK, "-u", "nobody", "-h", name, "-d", str(self.dumps) + "/%H%M%S."]
        if hard:
            argv += ["-f", hard]
        if soft:
            argv += ["-r", soft]
        addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        argv += [addr, "64"]
        self.daemon = Daemon(f"smtp-sink({hard or soft or 'ok'})", argv,
                             root / f"sink-{int(time.time() * 1000)}.log")

    def start(self) -> "Sink":
        self.daemon.start()
        wait_until(lambda: port_answers(self.host, self.port), 15,
                   f"smtp-sink on {self.host}:{self.port}", daemons=[self.daemon])
        return self

    def stop(self) -> None:
        self.daemon.stop()

    def messages(self) -> list[bytes]:
        out = []
        for p in sorted(self.dumps.iterdir()):
            if p.is_file():
                out.append(p.read_bytes())
        return out

    def with_marker(self, marker: str) -> list[bytes]:
        return [m for m in self.messages() if marker.encode() in m]


def outbound_relay_extra(dns: Unbound, mx_port: int) -> dict[str, str]:
    return {
        "relay.trusted_networks": '["127.0.0.1/32", "::1/128"]',
        "outbound.resolver": f'"127.0.0.1:{dns.port}"',
        "outbound.smtp_port": str(mx_port),
        "outbound.retry_initial": '"1s"',
        "outbound.retry_max": '"2s"',
        "outbound.starttls": "true",
    }


def queue_list(relay: lib.Relay) -> str:
    r = subprocess.run([str(lib.CLI_BIN), "queue", "list", "--spool", str(relay.spool)],
                       capture_output=True, text=True)
    return r.stdout + r.stderr


class FakeMx:
    """A minimal SMTP server on host:port (127.0.0.1 unless told; made inside a
    netns_lib.Namespace.entered() block it listens in that namespace), for what smtp-sink
    cannot show. With
    broken_tls it offers STARTTLS and breaks the handshake (answers 220, then sends bytes that
    are not TLS and closes); otherwise it offers no STARTTLS. Each connection is recorded as
    {"starttls": bool, "mail": int (transactions), "rset": int}; `max_open` is the most
    connections open at once; `data_delay` seconds pass before the reply to the end of DATA
    (so that queued jobs overlap). Delivered messages land in `messages`."""

    def __init__(self, port: int, broken_tls: bool = False, data_delay: float = 0.0,
                 host: str = "127.0.0.1"):
        import socket
        import threading
        self.port, self.broken_tls, self.data_delay = port, broken_tls, data_delay
        self.connections: list[dict] = []
        self.messages: list[bytes] = []
        self.open_now = 0
        self.max_open = 0
        self.lock = threading.Lock()
        self.srv = socket.create_server((host, port))
        self.srv.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import threading
        while not self.stopping.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _session(self, c) -> None:
        rec = {"starttls": False, "mail": 0, "rset": 0}
        with self.lock:
            self.connections.append(rec)
            self.open_now += 1
            self.max_open = max(self.max_open, self.open_now)
        f = c.makefile("rb")
        try:
            c.settimeout(60)
            c.sendall(b"220 mx.fake.test ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb in (b"EHLO", b"HELO"):
                    c.sendall(b"250-mx.fake.test\r\n" +
                              (b"250-STARTTLS\r\n" if self.broken_tls else b"") +
                              b"250 8BITMIME\r\n")
                elif verb == b"STARTTLS" and self.broken_tls:
                    rec["starttls"] = True
                    c.sendall(b"220 2.0.0 go ahead\r\n")
                    c.sendall(b"this is not a TLS ServerHello\r\n")
                    return
                elif verb == b"MAIL":
                    rec["mail"] += 1
                    c.sendall(b"250 2.1.0 ok\r\n")
                elif verb == b"RSET":
                    rec["rset"] += 1
                    c.sendall(b"250 2.0.0 ok\r\n")
                elif verb == b"DATA":
                    c.sendall(b"354 go on\r\n")
                    body = b""
                    while True:
                        l2 = f.readline()
                        if not l2 or l2 == b".\r\n":
                            break
                        body += l2
                    if self.data_delay:
                        import time as _t
                        _t.sleep(self.data_delay)
                    with self.lock:
                        self.messages.append(body)
                    c.sendall(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 ok\r\n")
        except OSError:
            return
        finally:
            with self.lock:
                self.open_now -= 1
            f.close()
            c.close()

    def stop(self) -> None:
        self.stopping.set()
        self.srv.close()
        self.thread.join(5)
