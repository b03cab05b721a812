"""Connection-level limits of splitmail-relay on the wire.

- smtp.max_connections_per_ip = 3: three sessions from 127.0.0.1 are served, the fourth gets
  421 4.7.0 and is closed; once one closes, a new one is served again;
- smtp.idle_timeout = 2s: a silent client gets 421 4.4.2 and the connection is closed (RFC 5321
  4.5.3.2.7 asks for 5 minutes in production; the value is configurable for this test);
- deadlines a trickle cannot extend (issue 11): a client sending one byte every 0.5 s (a
  per-read timeout of 2 s never fires) is cut with 421 4.4.2 before EHLO (smtp.helo_timeout
  3s), while completing a command (the 2 s smtp.idle_timeout counts from our last reply) and
  in DATA (smtp.min_data_rate 1000 bytes/s); on IMAP (imap.login_timeout 3s) a trickling
  client gets `* BYE Login timeout`, while a logged-in session stays past that time;
- SIGTERM with a session open: the relay says 421 4.3.2 or closes, and exits promptly;
- systemd readiness (Type=notify units): with NOTIFY_SOCKET set, relay and home send READY=1
  once at start (after binding their listeners), and STOPPING=1 on SIGTERM;
- smtp.max_connections = 3 (global cap, trusted clients so no per-IP limit applies): the
  fourth session gets 421 4.7.0 and is closed; imap.max_connections = 3: the fourth IMAP
  connection gets `* BYE` and is closed.
"""
import imaplib
import os
import socket
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402


def notify_socket(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0)
    return s


def notices(s: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(s.recv(512).decode())
        except BlockingIOError:
            return out


def trickle_until_closed(sock: socket.socket, limit: float, byte: bytes = b"N",
                         every: float = 0.5) -> tuple[bytes, float]:
    """Sends `byte` every `every` seconds until the server says something or closes;
    returns (what it said, seconds), or (b"", limit) if it was still open after `limit`."""
    t0 = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - t0 < limit:
        try:
            data = sock.recv(1000)
            return data, time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return b"", time.monotonic() - t0
        try:
            sock.send(byte)
        except OSError:
            return b"", time.monotonic() - t0
    return b"(still open)", limit


def trickle_checks(relay_port: int, imap_port: int, home: lib.Home) -> None:
    limit = 8 * lib.SLOW
    # before EHLO: smtp.helo_timeout counts from the connect
    c = lib.SMTP(relay_port)
    said, took = trickle_until_closed(c.sock, limit)
    checks.ok(said.startswith(b"421 4.4.2"), "trickle before EHLO -> 421 4.4.2",
              f"got {said!r} after {took:.1f}s")
    checks.ok(2.5 <= took < limit, f"at the EHLO deadline, not extended by bytes ({took:.1f}s)")
    c.close()
    # a command line trickled one byte at a time: the idle timeout counts from our reply
    c = lib.SMTP(relay_port)
    c.ehlo()
    t0 = time.monotonic()
    sent = b""
    c.sock.settimeout(0.4)
    said = b""
    for b in b"NOOP\r\n":
        try:
            said = c.sock.recv(1000)
            break
        except socket.timeout:
            pass
        c.sock.send(bytes([b]))
        sent += bytes([b])
    if not said:
        c.sock.settimeout(5 * lib.SLOW)
        try:
            said = c.sock.recv(1000)
        except OSError:
            said = b""
    checks.ok(said.startswith(b"421 4.4.2"),
              "a command trickled over more than smtp.idle_timeout -> 421 4.4.2",
              f"got {said!r} after sending {sent!r} in {time.monotonic() - t0:.1f}s")
    c.close()
    # DATA below smtp.min_data_rate
    c = lib.SMTP(relay_port)
    c.ehlo()
    c.cmd("MAIL FROM:<slow@sender.test>")
    c.cmd(f"RCPT TO:<{lib.DEMO}>")
    code, _ = c.cmd("DATA")
    checks.eq(code, 354, "DATA accepted")
    said, took = trickle_until_closed(c.sock, limit, b"x")
    checks.ok(said.startswith(b"421 4.4.2"), "DATA trickled below the minimum rate -> 421 4.4.2",
              f"got {said!r} after {took:.1f}s")
    c.close()
    # IMAP before login
    s = socket.create_connection(("127.0.0.1", imap_port), timeout=5)
    greeting = s.recv(1000)
    checks.ok(greeting.startswith(b"* OK"), "IMAP greeting", repr(greeting))
    said, took = trickle_until_closed(s, limit, b"a")
    checks.ok(said.startswith(b"* BYE Login timeout"), "IMAP trickle before login -> * BYE",
              f"got {said!r} after {took:.1f}s")
    checks.ok(2.5 <= took < limit, f"at the login deadline ({took:.1f}s)")
    s.close()
    # ... and a logged-in session is not bound by it
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    m = imaplib.IMAP4("127.0.0.1", imap_port)
    m.starttls(ssl_context=ctx)
    m.login(lib.DEMO, home.passwords[lib.DEMO])
    time.sleep(4)
    checks.eq(m.noop()[0], "OK", "a logged-in session outlives imap.login_timeout")
    m.logout()


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("connlimits")
    home_sock, relay_sock = notify_socket(d / "home.notify"), notify_socket(d / "relay.notify")
    home = lib.Home(d / "home")
    home.daemon.env = dict(os.environ, NOTIFY_SOCKET=str(d / "home.notify"))
    cert = lib.make_cert(d, "imap", "home.example.test")
    imap_port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\nlogin_timeout = "3s"\n')
    home.start()
    relay = lib.Relay(d / "relay", home, extra={"smtp.max_connections_per_ip": "3",
                                                "smtp.idle_timeout": '"2s"',
                                                "smtp.helo_timeout": '"3s"',
                                                "smtp.min_data_rate": "1000"})
    relay.daemon.env = dict(os.environ, NOTIFY_SOCKET=str(d / "relay.notify"))
    relay.start()
    for name, sock in (("home", home_sock), ("relay", relay_sock)):
        got = lib.wait_until(lambda: notices(sock), 10, f"{name}'s sd_notify message")
        checks.ok(len(got) == 1 and got[0].startswith("READY=1"),
                  f"{name} told systemd READY=1 exactly once", repr(got))

    held = [lib.SMTP(relay.port) for _ in range(3)]
    checks.eq([c.banner[0] for c in held], [220, 220, 220], "three sessions greeted with 220")
    with lib.SMTP(relay.port) as fourth:
        code, text = fourth.banner
        checks.ok(code == 421 and text.startswith("4.7.0"),
                  "fourth session from the same IP -> 421 4.7.0", f"got {code} {text!r}")
        rest = fourth.until_eof(5, "the refused fourth session to be closed")
        checks.eq(rest, b"", "and the connection is closed (EOF before the deadline)")
    held.pop().close()

    def served_again() -> bool:
        """A new session is greeted with 220 (a refused probe is closed by the server)."""
        try:
            with lib.SMTP(relay.port) as again:
                if again.banner[0] != 220:
                    return False
                again.cmd("QUIT")
                return True
        except OSError:
            return False

    # The server notices the close asynchronously: poll instead of a fixed sleep.
    lib.wait_until(served_again, 10, "a slot freed by close to be served again")
    checks.ok(True, "a slot freed by close is served again")
    for c in held:
        c.close()
    lib.wait_until(served_again, 10, "the slots of the closed sessions to be free again")

    # idle timeout
    c = lib.SMTP(relay.port)
    c.ehlo()
    t0 = time.monotonic()
    c.sock.settimeout(10 * lib.SLOW)
    code, text = c.reply()
    waited = time.monotonic() - t0
    checks.ok(code == 421 and text.startswith("4.4.2"), "silent client -> 421 4.4.2",
              f"got {code} {text!r}")
    checks.ok(waited >= 1.5, f"not before the idle timeout ({waited:.1f}s)")
    rest = c.until_eof(5, "the connection to close after 421 4.4.2")
    checks.eq(rest, b"", "connection closed after the timeout reply (EOF before the deadline)")
    c.close()

    trickle_checks(relay.port, imap_port, home)

    # SIGTERM with a session open
    c = lib.SMTP(relay.port)
    c.ehlo()
    t0 = time.monotonic()
    rc = relay.daemon.stop()
    checks.ok(time.monotonic() - t0 < 10 * lib.SLOW, "relay exits promptly on SIGTERM")
    checks.eq(rc, 0, "relay exit status 0 after SIGTERM")
    checks.eq(notices(relay_sock), ["STOPPING=1"], "relay told systemd STOPPING=1")
    data = c.until_eof(5, "the open session to be closed by the relay's SIGTERM")
    checks.ok(data == b"" or data.startswith(b"421"), "open session told 421 and closed",
              repr(data))
    c.close()
    checks.ok(not lib.port_answers("127.0.0.1", relay.port), "SMTP port closed after exit")

    # smtp.max_connections, the global cap (docs/configuration.md): the clients are trusted,
    # so neither the per-IP nor the unauthenticated pool applies; the fourth of 3 is refused.
    relay2 = lib.Relay(d / "relay2", home, extra={"smtp.max_connections": "3",
                                                  "relay.trusted_networks": '["127.0.0.0/8"]'})
    relay2.start()
    held = [lib.SMTP(relay2.port) for _ in range(3)]
    checks.eq([c.banner[0] for c in held], [220, 220, 220],
              "global cap 3: three trusted sessions greeted with 220")
    with lib.SMTP(relay2.port) as fourth:
        code, text = fourth.banner
        checks.ok(code == 421 and text.startswith("4.7.0"),
                  "smtp.max_connections reached -> 421 4.7.0", f"got {code} {text!r}")
        rest = fourth.until_eof(5, "the session over the global cap to be closed")
        checks.eq(rest, b"", "and the connection over the global cap is closed")
    for c in held:
        c.close()
    relay2.stop()

    home.stop()
    checks.eq(notices(home_sock), ["STOPPING=1"], "home told systemd STOPPING=1 on SIGTERM")
    imap_global_cap(d, cert)


def imap_global_cap(d: Path, cert: tuple[Path, Path]) -> None:
    """imap.max_connections (docs/configuration.md): over the global cap a client gets `* BYE`
    and is closed. One logged-in session and two greeted ones fill a cap of 3, so neither the
    per-address limit nor the not-logged-in pool (also 3) is what refuses the fourth."""
    home = lib.Home(d / "home-imapcap")
    imap_port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{cert[0]}"\n'
                f'tls_key = "{cert[1]}"\nmax_connections = 3\nmax_unauthenticated = 3\n'
                f'max_connections_per_ip = 100\nmax_connections_per_network = 100\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imap_port), 10, "IMAP port")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

    def greeted() -> socket.socket | None:
        s = socket.create_connection(("127.0.0.1", imap_port), timeout=5 * lib.SLOW)
        if s.recv(1000).startswith(b"* OK"):
            return s
        s.close()
        return None

    def login() -> imaplib.IMAP4 | None:
        try:
            m = imaplib.IMAP4("127.0.0.1", imap_port)
        except (OSError, imaplib.IMAP4.error):
            return None
        m.starttls(ssl_context=ctx)
        m.login(lib.DEMO, home.passwords[lib.DEMO])
        return m

    m = lib.wait_until(login, 10, "a logged-in IMAP session")
    held = [greeted() for _ in range(2)]
    checks.ok(all(h is not None for h in held), "cap 3: a logged-in and two greeted sessions")
    s = socket.create_connection(("127.0.0.1", imap_port), timeout=5 * lib.SLOW)
    said = lib.read_until_eof(s, 5, "the IMAP connection over the global cap to be closed")
    s.close()
    checks.ok(said.startswith(b"* BYE"), "imap.max_connections reached -> * BYE, then closed",
              repr(said))
    checks.eq(m.noop()[0], "OK", "the logged-in session is unaffected")
    m.logout()
    for h in held:
        h.close()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
