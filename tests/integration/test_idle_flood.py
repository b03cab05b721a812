"""Idle-connection floods against the MX port and IMAP (issue 11, item 7), on the real binaries.

Attackers are 25 loopback addresses (127.x.y.z are all loopback on Linux), each opening 20
connections that say nothing or trickle one byte per second (a per-read timeout never fires).
A legitimate client binds another 127.a.b.c.

SMTP (relay):
  1. production defaults (smtp.max_connections 500, per address 10), attackers in 25 /24s:
     the per-address cap holds them to 250 slots; a legitimate sender delivers within seconds
     (before issue 11 all 500 were admitted and everyone else got 421);
  2. attackers in 3 /24s: the per-network cap (50 per /24) bites, refusals are logged with
     client and reason, rate-limited;
  3. per address 20 (the old default) so the pre-auth pool fills, attackers reconnecting as soon
     as they are closed: the pool (4/5 of the total) and fair-share eviction still let the
     legitimate sender in within seconds, a client in relay.trusted_networks finds room in the
     reserve, and under overload the pre-EHLO deadline (smtp.overload_timeout) closes the
     trickling attackers with 421 4.4.2.
IMAP (home, imap.max_connections 500):
  4. a user logged in before the flood keeps working, and logs in anew during it;
  5. per address 20, pool full, attackers reconnecting: a new login still succeeds within
     seconds; trickling pre-login clients get `* BYE Login timeout` (imap.overload_timeout).
"""
import collections
import imaplib
import re
import resource
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

PER_ADDRESS = 20


class Flood:
    """Connections from many source addresses; a thread trickles a byte per `period` to each
    and, with `reconnect`, replaces every connection the server closes."""

    def __init__(self, port: int, addrs: list[str], per_addr: int = PER_ADDRESS,
                 period: float = 1.0, reconnect: bool = False):
        self.port, self.period, self.reconnect = port, period, reconnect
        self.first = collections.Counter()    # first line (code and reason) per connection
        self.closing = collections.Counter()  # what the server said when it closed one
        self.socks: list[tuple[str, socket.socket]] = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        for a in addrs:
            for _ in range(per_addr):
                s = self._open(a)
                if s:
                    self.socks.append((a, s))
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    @staticmethod
    def _kind(line: bytes) -> str:
        text = line.decode(errors="replace")
        if text.startswith("220") or text.startswith("* OK"):
            return "greeted"
        m = re.search(r"too many connections[^,\r\n]*", text)
        return m.group(0) if m else (text[:40] or "closed silently")

    def _open(self, addr: str) -> socket.socket | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5 * lib.SLOW)
        line = b""
        try:
            s.bind((addr, 0))
            s.connect(("127.0.0.1", self.port))
            while not line.endswith(b"\n"):  # the whole greeting line (IMAP's is long)
                chunk = s.recv(4096)
                if not chunk:
                    break
                line += chunk
        except OSError:
            pass
        kind = self._kind(line)
        with self.lock:
            self.first[kind] += 1
        if kind != "greeted":
            s.close()
            return None
        s.setblocking(False)
        return s

    def _trickle(self) -> None:
        while not self.stop_flag.wait(self.period):
            with self.lock:
                socks = list(self.socks)
            alive = []
            for a, s in socks:
                said = b""
                try:
                    said = s.recv(200)
                    closed = True  # anything read means the server gave up on us
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if not closed:
                    try:
                        s.send(b"N")
                    except OSError:
                        closed = True
                if closed:
                    with self.lock:
                        self.closing[self._kind(said) if said else "closed silently"] += 1
                    s.close()
                    if self.reconnect and not self.stop_flag.is_set():
                        n = self._open(a)
                        if n:
                            alive.append((a, n))
                else:
                    alive.append((a, s))
            with self.lock:
                self.socks = alive

    def held(self) -> int:
        with self.lock:
            return len(self.socks)

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(10)
        for _, s in self.socks:
            s.close()
        self.socks = []


class SMTPFrom(lib.SMTP):
    def __init__(self, port: int, src: str, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * lib.SLOW,
                                             source_address=(src, 0))
        self.buf = b""
        self.banner = self.reply()


def deliver_from(port: int, src: str, marker: str) -> tuple[int, str, float]:
    """One message from `src`; (reply code to DATA or the first refusal, text, seconds)."""
    t0 = time.monotonic()
    try:
        with SMTPFrom(port, src) as c:
            if c.banner[0] != 220:
                return c.banner[0], c.banner[1], time.monotonic() - t0
            c.ehlo()
            for line in (f"MAIL FROM:<sender@sender.test>", f"RCPT TO:<{DEMO}>", "DATA"):
                code, text = c.cmd(line)
                if code not in (250, 354):
                    return code, text, time.monotonic() - t0
            c.send(lib.make_message(marker) + b".\r\n")
            code, text = c.reply()
            c.cmd("QUIT")
            return code, text, time.monotonic() - t0
    except (OSError, ConnectionError) as e:
        return 0, str(e), time.monotonic() - t0


def relay_with(d: Path, home: lib.Home, name: str, smtp: dict[str, str],
               trusted: str = "") -> lib.Relay:
    extra = {f"smtp.{k}": v for k, v in smtp.items()}
    if trusted:
        extra["relay.trusted_networks"] = f'["{trusted}"]'
    relay = lib.Relay(d / name, home, extra=extra)
    # The harness sets generous caps for its own tests; here the relay's defaults apply unless
    # the scenario names a value.
    text = relay.config.read_text()
    for key, default in (("max_connections", None), ("max_connections_per_ip", None)):
        if key not in smtp:
            text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    relay.config.write_text(text)
    return relay.start()


def delivered(home: lib.Home, marker: str) -> bool:
    return lib.ids_in_maildir(home).get(marker, 0) == 1


def smtp_scenarios(d: Path, home: lib.Home) -> None:
    legit = "127.200.0.1"

    # 1. defaults, 25 attacker networks
    relay = relay_with(d, home, "relay1", {})
    flood = Flood(relay.port, [f"127.21.{n}.1" for n in range(25)])
    lib.log(f"scenario 1: {dict(flood.first)}")
    checks.eq(flood.first["greeted"], 250,
              "defaults: 10 of each attacker address's 20 connections admitted (250 of 500)")
    checks.eq(flood.first["too many connections from your address"], 250,
              "the rest refused: too many connections from your address")
    code, text, took = deliver_from(relay.port, legit, "flood-1")
    checks.ok(code == 250, "a sender from another address delivers during the flood",
              f"{code} {text}")
    checks.ok(took < 5 * lib.SLOW, f"within a few seconds ({took:.2f}s)")
    lib.wait_until(lambda: delivered(home, "flood-1"), 20, "flood-1 in the Maildir")
    flood.stop()
    relay.stop()

    # 2. three attacker /24s: the per-network cap bites
    relay = relay_with(d, home, "relay2", {})
    addrs = ([f"127.22.1.{i}" for i in range(1, 10)] + [f"127.22.2.{i}" for i in range(1, 9)] +
             [f"127.22.3.{i}" for i in range(1, 9)])
    flood = Flood(relay.port, addrs)
    lib.log(f"scenario 2: {dict(flood.first)}")
    checks.eq(flood.first["greeted"], 150, "three /24s: 50 connections each (150 of 500)")
    checks.ok(flood.first["too many connections from your network"] > 0,
              "refusals name the network", str(dict(flood.first)))
    code, text, took = deliver_from(relay.port, legit, "flood-2")
    checks.ok(code == 250 and took < 5 * lib.SLOW,
              f"a sender from another network delivers ({took:.2f}s)", f"{code} {text}")
    flood.stop()
    relay.stop()
    log = relay.daemon.log_text()
    refused = re.findall(r"connection refused client=(\S+) reason=", log)
    checks.ok(refused and "127.22.1.1" in refused,
              "refusals logged with client and reason (fail2ban)", log[-2000:])
    checks.ok(len(refused) <= 30,
              f"and rate-limited: {len(refused)} lines for 350 refusals")
    checks.ok("connection refusals not logged" in log or len(refused) < 350,
              "the lines left out are counted")

    # 3. generous per-address cap: pool + eviction + overload deadlines, attackers reconnect
    relay = relay_with(d, home, "relay3",
                       {"max_connections": "500", "max_connections_per_ip": "20",
                        "overload_timeout": '"3s"'}, trusted="127.99.0.0/16")
    flood = Flood(relay.port, [f"127.23.{n}.1" for n in range(25)], reconnect=True)
    lib.log(f"scenario 3: {dict(flood.first)}")
    code, text, took = deliver_from(relay.port, legit, "flood-3")
    checks.ok(code == 250, "pool full, attackers reconnecting: a sender still delivers",
              f"{code} {text}")
    checks.ok(took < 5 * lib.SLOW, f"within a few seconds ({took:.2f}s)")
    with SMTPFrom(relay.port, "127.99.0.1") as c:
        checks.eq(c.banner[0], 220, "a client in relay.trusted_networks finds room (reserve)")
        c.cmd("QUIT")
    time.sleep(5 * lib.SLOW)  # the overload deadline (3s) passes for the first attackers
    lib.log(f"scenario 3 closings: {dict(flood.closing)}")
    checks.ok(any(k.startswith("421 4.4.2") for k in flood.closing),
              "trickling attackers are cut by the pre-EHLO deadline under overload (421 4.4.2)",
              str(dict(flood.closing)))
    flood.stop()
    relay.stop()
    log = relay.daemon.log_text()
    checks.ok(re.search(r"timeout client=127\.23\.\d+\.1 phase=\"before EHLO\" overloaded=yes",
                        log) is not None, "the deadline is logged with client and phase")
    checks.ok("idle connection closed to make room" in log, "evictions are logged")


class IMAPFrom(imaplib.IMAP4_SSL):
    def __init__(self, port: int, src: str):
        self.src = src
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, ssl_context=ctx, timeout=20 * lib.SLOW)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imap_home(d: Path, name: str, imap: dict[str, str]) -> tuple[lib.Home, int, int]:
    cert = lib.make_cert(d, "imap", "home.example.test")
    home = lib.Home(d / name)
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    extra = "".join(f"{k} = {v}\n" for k, v in imap.items())
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\n{extra}'
                f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    return home, imap_port, imaps_port


def imap_scenarios(d: Path) -> None:
    legit = "127.201.0.1"

    # 4. imap.max_connections 500, other limits at their defaults
    home, imap_port, imaps_port = imap_home(d, "home4", {"max_connections": "500"})
    pw = home.passwords[DEMO]
    before = IMAPFrom(imaps_port, "127.202.0.1")
    checks.eq(before.login(DEMO, pw)[0], "OK", "a user logged in before the flood")
    flood = Flood(imap_port, [f"127.24.{n}.1" for n in range(25)])
    lib.log(f"scenario 4: {dict(flood.first)}")
    checks.eq(flood.first["greeted"], 250, "10 pre-login connections per attacker address")
    checks.eq(before.noop()[0], "OK", "the logged-in session keeps working during the flood")
    t0 = time.monotonic()
    try:
        m = IMAPFrom(imaps_port, legit)
        typ = m.login(DEMO, pw)[0]
        m.logout()
    except (OSError, imaplib.IMAP4.error) as e:
        typ = f"failed: {e}"
    took = time.monotonic() - t0
    checks.eq(typ, "OK", "the user logs in anew during the flood")
    checks.ok(took < 5 * lib.SLOW, f"within a few seconds ({took:.2f}s)")
    flood.stop()
    before.logout()
    home.stop()

    # 5. per address 20: the pre-login pool (half of 500) fills; eviction and the overload
    #    deadline keep room
    home, imap_port, imaps_port = imap_home(
        d, "home5", {"max_connections": "500", "max_connections_per_ip": "20",
                     "overload_timeout": '"3s"'})
    pw = home.passwords[DEMO]
    flood = Flood(imap_port, [f"127.25.{n}.1" for n in range(25)], reconnect=True)
    lib.log(f"scenario 5: {dict(flood.first)}")
    t0 = time.monotonic()
    try:
        m = IMAPFrom(imaps_port, legit)
        typ = m.login(DEMO, pw)[0]
        checks.eq(m.noop()[0], "OK", "the new session works")
    except (OSError, imaplib.IMAP4.error) as e:
        typ, m = f"failed: {e}", None
    took = time.monotonic() - t0
    checks.eq(typ, "OK", "pool full, attackers reconnecting: the user still logs in")
    checks.ok(took < 5 * lib.SLOW, f"within a few seconds ({took:.2f}s)")
    time.sleep(5 * lib.SLOW)
    lib.log(f"scenario 5 closings: {dict(flood.closing)}")
    checks.ok(any(k.startswith("* BYE Login timeout") for k in flood.closing),
              "trickling pre-login clients get * BYE Login timeout under overload",
              str(dict(flood.closing)))
    if m:
        checks.eq(m.noop()[0], "OK", "the logged-in session outlives the overload deadline")
        m.logout()
    flood.stop()
    home.stop()


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    # 500 sockets here and as many in the daemon (which inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    d = lib.tmpdir("idleflood")
    home = lib.Home(d / "home").start()
    smtp_scenarios(d, home)
    home.stop()
    imap_scenarios(d)


if __name__ == "__main__":
    lib.run_main(main)
