"""An authoritative DNS server on loopback for the integration tests (extends lib.py).

  - unbound_server() / auth_zone_conf(): the unbound.conf lines every test unbound shares (no
    daemon, no privilege drop, no chroot, 127.0.0.1 only) and those of an authoritative unbound
    serving one zone from a file with `auth-zone`; dane_lib's signed zone and AuthZone below
    both use them.
  - AuthZone: such an unbound on 127.0.0.1:PORT serving one unsigned zone. serve(text) writes a
    new zone file (write temp + rename) and has the running server load it
    (`unbound-control auth_zone_reload`, over a control socket in the test's directory), then
    waits until the server answers the new SOA serial: once serve() returns, every query sees
    exactly that zone.
  - answer_records(): the records of one type in drill's answer section.

Does not: recurse, listen outside 127.0.0.1, or sign anything (dane_lib.SignedZone does that).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lib import Daemon, fail, free_port, wait_until

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"


def unbound_server(root: Path, name: str, port: int) -> list[str]:
    """The `server:` clause of a test unbound named `name` on 127.0.0.1:port, files in root."""
    return ["server:", f"  interface: 127.0.0.1@{port}", f"  port: {port}",
            "  do-daemonize: no", '  username: ""', '  chroot: ""', f'  directory: "{root}"',
            f'  pidfile: "{root}/{name}.pid"', "  use-syslog: no", '  logfile: ""',
            "  verbosity: 1", "  do-ip6: no", "  access-control: 127.0.0.0/8 allow"]


def auth_zone_conf(root: Path, name: str, port: int, origin: str, zonefile: Path,
                   control: Path | None = None) -> list[str]:
    """A whole unbound.conf: authoritative for `origin` from `zonefile` (for-downstream, so it
    answers with the AA bit like a real primary); `control`: a unix socket for unbound-control
    (None: no remote control)."""
    lines = unbound_server(root, name, port) + [
        '  module-config: "iterator"',
        # unbound answers for test. itself (RFC 6761 special use) unless told not to
        '  local-zone: "test." nodefault',
        "auth-zone:", f'  name: "{origin.rstrip(".")}."', f'  zonefile: "{zonefile}"',
        "  for-downstream: yes", "  for-upstream: no"]
    if control is None:
        return lines + ["remote-control:", "  control-enable: no"]
    return lines + ["remote-control:", "  control-enable: yes",
                    f'  control-interface: "{control}"', "  control-use-cert: no"]


def answer_records(drill_out: str, rtype: str) -> list[tuple[int, str]]:
    """(TTL, rdata with single spaces) of each `rtype` record in drill's ANSWER SECTION."""
    ans = drill_out.split(";; ANSWER SECTION:", 1)[-1].split(";; AUTHORITY SECTION:", 1)[0]
    out = []
    for line in ans.splitlines():
        f = line.split(None, 4)
        if len(f) == 5 and f[3] == rtype and f[1].isdigit():
            out.append((int(f[1]), " ".join(f[4].split())))
    return out


def drill_rcode(drill_out: str) -> str:
    """The rcode drill reports (NOERROR, NXDOMAIN, ...), or "" if it reports none."""
    m = re.search(r"rcode: (\w+)", drill_out)
    return m.group(1) if m else ""


class AuthZone:
    """One unsigned zone served by an authoritative unbound on 127.0.0.1 (see the module's
    docstring). serve() may be called from any thread; calls are not meant to overlap."""

    def __init__(self, root: Path, origin: str, port: int | None = None):
        for tool in (UNBOUND, UNBOUND_CONTROL):
            if not os.access(tool, os.X_OK):
                fail(f"{tool} is missing (scripts/deps installs the `unbound` package)")
        if not shutil.which("drill"):
            fail("drill is missing (scripts/deps installs the `ldnsutils` package)")
        self.root, self.origin = root, origin.rstrip(".")
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.zonefile = root / f"{self.origin}.zone"
        self.conf = root / "unbound.conf"
        self.conf.write_text("\n".join(auth_zone_conf(root, "auth", self.port, self.origin,
                                                      self.zonefile, root / "control.sock"))
                             + "\n")
        self.daemon = Daemon(f"unbound({self.origin})", [UNBOUND, "-d", "-c", str(self.conf)],
                             root / "unbound.log")
        self.loads = 0  # zone versions served so far

    def start(self, text: str) -> "AuthZone":
        """Starts the server on the zone `text` (an RFC 1035 zone file with its SOA)."""
        self._write(text)
        r = subprocess.run(["unbound-checkconf", str(self.conf)], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"unbound-checkconf {self.conf}: {r.stdout}{r.stderr}")
        self.daemon.start()
        self._wait_serial(text, "the authoritative unbound to start")
        return self

    def serve(self, text: str) -> None:
        """Replaces the served zone by `text`; returns once the server answers its SOA."""
        self._write(text)
        r = subprocess.run([UNBOUND_CONTROL, "-c", str(self.conf), "auth_zone_reload",
                            self.origin], capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or r.stdout.strip() != "ok":
            fail(f"unbound-control auth_zone_reload {self.origin} (exit {r.returncode}): "
                 f"{r.stdout}{r.stderr}")
        self._wait_serial(text, "the authoritative unbound to load the new zone")

    def query(self, name: str, rtype: str) -> tuple[str, list[tuple[int, str]]]:
        """(rcode, [(TTL, rdata)] of the `rtype` answers) for `name` from this server."""
        r = subprocess.run(["drill", "-p", str(self.port), "@127.0.0.1", name, rtype],
                           capture_output=True, text=True, timeout=10)
        return drill_rcode(r.stdout) or r.stdout + r.stderr, answer_records(r.stdout, rtype)

    def stop(self) -> None:
        self.daemon.stop()

    def _write(self, text: str) -> None:
        tmp = self.zonefile.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.zonefile)  # the server never reads half a file

    def _wait_serial(self, text: str, what: str) -> None:
        m = re.search(r"\sIN\s+SOA\s+\S+\s+\S+\s+(\d+)\s", text)
        if not m:
            fail(f"zone text for {self.origin} has no SOA record:\n{text}")
        serial = m.group(1)

        def served() -> bool:
            rcode, soa = self.query(f"{self.origin}.", "SOA")
            return rcode == "NOERROR" and any(r.split()[2:3] == [serial] for _, r in soa)

        wait_until(served, 15, f"{what} (SOA serial {serial})", interval=0.05,
                   daemons=[self.daemon])
        self.loads += 1
