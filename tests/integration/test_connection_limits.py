"""Connection-level limits of splitmail-relay on the wire.

- smtp.max_connections_per_ip = 3: three sessions from 127.0.0.1 are served, the fourth gets
  421 4.7.0 and is closed; once one closes, a new one is served again;
- smtp.idle_timeout = 2s: a silent client gets 421 4.4.2 and the connection is closed (RFC 5321
  4.5.3.2.7 asks for 5 minutes in production; the value is configurable for this test);
- SIGTERM with a session open: the relay says 421 4.3.2 or closes, and exits promptly;
- systemd readiness (Type=notify units): with NOTIFY_SOCKET set, relay and home send READY=1
  once at start (after binding their listeners), and STOPPING=1 on SIGTERM.
"""
import os
import socket
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


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("connlimits")
    home_sock, relay_sock = notify_socket(d / "home.notify"), notify_socket(d / "relay.notify")
    home = lib.Home(d / "home")
    home.daemon.env = dict(os.environ, NOTIFY_SOCKET=str(d / "home.notify"))
    home.start()
    relay = lib.Relay(d / "relay", home, extra={"smtp.max_connections_per_ip": "3",
                                                "smtp.idle_timeout": '"2s"'})
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
        fourth.sock.settimeout(5 * lib.SLOW)
        try:
            rest = fourth.sock.recv(100)
        except OSError:
            rest = b""
        checks.eq(rest, b"", "and the connection is closed")
    held.pop().close()
    time.sleep(0.3)
    with lib.SMTP(relay.port) as again:
        checks.eq(again.banner[0], 220, "a slot freed by QUIT/close is served again")
        again.cmd("QUIT")
    for c in held:
        c.close()
    time.sleep(0.3)

    # idle timeout
    c = lib.SMTP(relay.port)
    c.ehlo()
    t0 = time.monotonic()
    c.sock.settimeout(10 * lib.SLOW)
    code, text = c.reply()
    waited = time.monotonic() - t0
    checks.ok(code == 421 and text.startswith("4.4.2"), "silent client -> 421 4.4.2",
              f"got {code} {text!r}")
    checks.ok(1.5 <= waited <= 6 * lib.SLOW, f"after about the idle timeout ({waited:.1f}s)")
    try:
        rest = c.sock.recv(100)
    except OSError:
        rest = b""
    checks.eq(rest, b"", "connection closed after the timeout reply")
    c.close()

    # SIGTERM with a session open
    c = lib.SMTP(relay.port)
    c.ehlo()
    t0 = time.monotonic()
    rc = relay.daemon.stop()
    checks.ok(time.monotonic() - t0 < 10 * lib.SLOW, "relay exits promptly on SIGTERM")
    checks.eq(rc, 0, "relay exit status 0 after SIGTERM")
    checks.eq(notices(relay_sock), ["STOPPING=1"], "relay told systemd STOPPING=1")
    try:
        c.sock.settimeout(2)
        data = c.sock.recv(1000)
    except OSError:
        data = b""
    checks.ok(data == b"" or data.startswith(b"421"), "open session told 421 or closed",
              repr(data))
    c.close()
    checks.ok(not lib.port_answers("127.0.0.1", relay.port), "SMTP port closed after exit")
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
