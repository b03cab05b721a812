"""The relay's IMAP pass-through (issue 16, "mail clients from anywhere, even behind CGNAT"):
relay and home on loopback; the relay forwards imap_proxy.listen to home's PROXY-expecting
listener (imaps.proxy_listen, accepted only from imap.proxy_from = the relay's address
127.0.0.1). Clients connect from other loopback addresses (127.0.N.x), so "the real client"
differs from the relay's address.

- python imaplib (IMAP4_SSL, no certificate verification) through the relay's port logs in
  and fetches a message delivered through the relay's SMTP; home's log names the client's
  real address (127.0.1.2), the relay logs one line with bytes each way and the duration.
- A forged PROXY header sent directly to home's listener from an untrusted address
  (127.0.0.3) is refused: closed without a byte, logged; the trusted address without a header
  (a plain TLS ClientHello) is refused too.
- The login brake is keyed on the real address: 3 failures from 127.0.2.x lock that /24, so
  the right password from there gets NO, while a client from 127.0.3.x through the same relay
  logs in. (If home saw the relay's address, both would share one network.)
"""
from __future__ import annotations

import imaplib
import re
import socket
import ssl
import struct
import time

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, tmpdir

BOB = "bob@" + DEMO.split("@")[1]
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def tls_ctx() -> ssl.SSLContext:
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class IMAPSFrom(imaplib.IMAP4_SSL):
    """IMAP4_SSL from a chosen loopback source address."""

    def __init__(self, src: str, port: int):
        self.src = src
        super().__init__("127.0.0.1", port, ssl_context=tls_ctx(), timeout=30)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def login(src: str, port: int, user: str, password: str) -> str:
    try:
        m = IMAPSFrom(src, port)
    except (OSError, imaplib.IMAP4.error) as e:
        return f"connect failed: {e}"
    try:
        m.login(user, password)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def proxy_header(src: str, sport: int, dst: str, dport: int) -> bytes:
    """A PROXY v2 header written here from the spec (independent of the C++ encoder)."""
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = tmpdir("imap_pass_through")
    cert = lib.make_cert(d, "home", "imap.example.test")
    proxy_port = lib.free_port()  # home's PROXY-expecting listener (the "tunnel" side)
    imaps_port = lib.free_port()  # home's ordinary IMAPS listener, shared mode
    extra = {
        "imaps.proxy_listen": f'["127.0.0.1:{proxy_port}"]',
        "imap.proxy_from": '["127.0.0.1/32"]',
        "imaps.listen": f'["127.0.0.1:{imaps_port}"]',
        "imap.tls_cert": f'"{cert[0]}"', "imap.tls_key": f'"{cert[1]}"',
        # The brake by network: 3 failures lock a /24 (users are not locked here).
        "auth.max_user_failures": "100", "auth.max_network_failures": "3",
        "auth.failure_delay": '"1s"', "auth.max_failure_delay": '"1s"',
    }
    home = Home(d / "home", users=[DEMO, BOB], extra=extra).start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", proxy_port), 10, "home proxy port")
    pw = home.passwords
    pass_port = lib.free_port()
    relay = Relay(d / "relay", home, extra={
        "imap_proxy.listen": f'["127.0.0.1:{pass_port}"]',
        "imap_proxy.home": f'"127.0.0.1:{proxy_port}"',
        "imap_proxy.idle_timeout": '"60s"',
    }).start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", pass_port), 10, "relay imap_proxy port")

    # ---- a message arrives through the relay, a client fetches it through the relay.
    marker = "pass-through-" + str(time.time_ns())
    code, text = lib.send_message(relay.port, "sender@remote.test", [DEMO],
                                  lib.make_message(marker, subject="via the relay"))
    checks.eq(code, 250, "message accepted by the relay")
    lib.wait_until(lambda: home.count() == 1, 20, "delivery to home", daemons=[relay.daemon])

    log("imaplib through the relay from 127.0.1.2")
    m = IMAPSFrom("127.0.1.2", pass_port)
    typ, _ = m.login(DEMO, pw[DEMO])
    checks.eq(typ, "OK", "LOGIN through the pass-through")
    typ, data = m.select("INBOX")
    checks.eq((typ, data[0]), ("OK", b"1"), "SELECT INBOX: 1 message")
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    body = data[0][1] if typ == "OK" and data and isinstance(data[0], tuple) else b""
    checks.ok(marker.encode() in body, "FETCH returns the delivered message", repr(body[:200]))
    m.logout()

    lib.wait_until(lambda: "imap-proxy" in relay.daemon.log_text() and
                   re.search(r"imap-proxy .*connection .*client=127\.0\.1\.2",
                             relay.daemon.log_text()) is not None,
                   10, "the relay's per-connection line")
    hl = home.daemon.log_text()
    checks.ok(re.search(r"imap .*connect .*client=127\.0\.1\.2\b", hl) is not None,
              "home's IMAP log names the real client 127.0.1.2")
    checks.ok(re.search(r"auth .*login service=imap client=127\.0\.1\.2 user=" + re.escape(DEMO),
                        hl) is not None, "home's login line names the real client 127.0.1.2")
    rl = re.search(r".*imap-proxy .*connection .*client=127\.0\.1\.2.*", relay.daemon.log_text())
    line = rl.group(0) if rl else ""
    bi = re.search(r"bytes_in=(\d+)", line)
    bo = re.search(r"bytes_out=(\d+)", line)
    checks.ok(bool(bi and bo and int(bi.group(1)) > 0 and int(bo.group(1)) > len(marker)) and
              "duration_ms=" in line, "relay logs client, bytes each way and duration", line)

    # ---- home refuses PROXY headers from anyone but the relay's address.
    log("forged header from 127.0.0.3 straight to home")
    s = socket.create_connection(("127.0.0.1", proxy_port), 10, source_address=("127.0.0.3", 0))
    s.sendall(proxy_header("198.51.100.7", 40000, "127.0.0.1", proxy_port))
    got = lib.read_until_eof(s, 10, "home to close a forged PROXY header")
    s.close()
    checks.eq(got, b"", "untrusted source with a forged header: closed without a byte")
    lib.wait_until(lambda: re.search(r"connection refused .*client=127\.0\.0\.3 .*not a trusted "
                                     r"PROXY protocol source", home.daemon.log_text()) is not None,
                   5, "home logs the refusal of 127.0.0.3")
    checks.ok("198.51.100.7" not in home.daemon.log_text(),
              "the forged client address appears nowhere in home's log")
    r = login("127.0.0.3", proxy_port, DEMO, pw[DEMO])
    checks.ok(r != "OK", "an ordinary IMAPS client from 127.0.0.3 gets no session there", r)
    log("the relay's own address without a header")
    r = login("127.0.0.1", proxy_port, DEMO, pw[DEMO])
    checks.ok(r != "OK", "trusted source without a PROXY header: refused", r)
    lib.wait_until(lambda: re.search(r"connection refused .*client=127\.0\.0\.1 .*PROXY header "
                                     r"refused", home.daemon.log_text()) is not None,
                   5, "home logs the missing header")

    # ---- shared mode: on imaps.listen only imap.proxy_from must send a header.
    log("imaps.listen with imap.proxy_from")
    checks.eq(login("127.0.0.4", imaps_port, DEMO, pw[DEMO]), "OK",
              "an ordinary client on imaps.listen is served as usual")
    r = login("127.0.0.1", imaps_port, DEMO, pw[DEMO])
    checks.ok(r != "OK", "the relay's address on imaps.listen without a header: refused", r)

    # ---- the login brake sees the real networks.
    log("login brake keyed on the real client network")
    t0 = time.monotonic()
    for i in range(3):
        r = login("127.0.2.2", pass_port, BOB, f"wrong{i}")
        checks.ok("AUTHENTICATIONFAILED" in r, f"wrong password {i + 1} via the relay: NO", r)
    checks.ok(time.monotonic() - t0 >= 2.5, "each failure was delayed by the brake")
    r = login("127.0.2.3", pass_port, DEMO, pw[DEMO])
    checks.ok("AUTHENTICATIONFAILED" in r,
              "127.0.2.0/24 is locked: the right password from there gets NO", r)
    checks.eq(login("127.0.3.2", pass_port, DEMO, pw[DEMO]), "OK",
              "a client from 127.0.3.0/24 through the same relay still logs in")

    relay.stop()
    home.stop()
    checks.summary()


if __name__ == "__main__":
    run_main(main)
