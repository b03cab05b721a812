"""Relay -> home over mutual TLS (home.transport = "mtls") with pinned certificates.

- Correct pins both ways: the recipient list is fetched and mail is delivered.
- Home's LMTP port gives nothing to a client without TLS or without the pinned client cert.
- The relay pins a certificate home does not have (wrong home.pin_sha256): no delivery, the
  message stays queued (not bounced); with the right pin again it is delivered.
- The relay presents a client certificate home does not pin: same, no delivery, kept queued.
"""
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402


def lmtp_rcpt_possible(port: int, use_tls: bool, cert=None) -> str:
    """Tries LHLO/MAIL/RCPT on home's port; returns "" if refused, else what was accepted."""
    try:
        import socket
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if use_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(str(cert[0]), str(cert[1]))
            s = ctx.wrap_socket(s, server_hostname="home.example.test")
        c = lib.SMTP.__new__(lib.SMTP)
        c.sock, c.buf = s, b""
        c.sock.settimeout(5)
        code, _ = c.reply()
        if code != 220:
            return ""
        if c.cmd("LHLO probe.test")[0] != 250:
            return ""
        if c.cmd("MAIL FROM:<probe@sender.test>")[0] != 250:
            return ""
        code, text = c.cmd(f"RCPT TO:<{DEMO}>")
        c.close()
        return f"RCPT {code} {text}" if code == 250 else ""
    except (OSError, ConnectionError, ssl.SSLError):
        return ""


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("mtls")
    home_cert = lib.make_cert(d, "home", "home.example.test")
    relay_cert = lib.make_cert(d, "relay-client", "mx.example.test")
    other_cert = lib.make_cert(d, "other", "other.example.test")
    home_pin, relay_pin, other_pin = (lib.cert_sha256(c[0])
                                      for c in (home_cert, relay_cert, other_cert))

    home = lib.Home(d / "home", transport="mtls", tls=home_cert, client_pin=relay_pin).start()
    relay = lib.Relay(d / "relay", home, transport="mtls", client_tls=relay_cert, pin=home_pin)
    relay.start()  # waits until RCPT demo is accepted: the directory came over mTLS
    checks.ok(True, "relay fetched the recipient list from home over mTLS")

    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("mtls-ok"))
    checks.eq(code, 250, "message accepted")
    lib.wait_until(lambda: "mtls-ok" in lib.ids_in_maildir(home), 20,
                   "delivery over mTLS", daemons=[relay.daemon, home.daemon])
    checks.ok(True, "delivered over mutual TLS")
    lib.wait_until(lambda: not relay.queued(), 10, "relay to dequeue the delivered message")

    checks.eq(lmtp_rcpt_possible(home.port, use_tls=False), "",
              "plain LMTP client gets no service from the mTLS home")
    checks.eq(lmtp_rcpt_possible(home.port, use_tls=True), "",
              "TLS client without a client certificate gets no service")
    checks.eq(lmtp_rcpt_possible(home.port, use_tls=True, cert=other_cert), "",
              "TLS client with an unpinned client certificate gets no service")
    checks.ok(lmtp_rcpt_possible(home.port, use_tls=True, cert=relay_cert) != "",
              "TLS client with the pinned client certificate is served (control)")

    def stays_queued(marker: str, why: str) -> None:
        code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                      lib.make_message(marker))
        checks.eq(code, 250, f"{why}: accepted from the cached recipient list")
        # a failed attempt, as `queue list` shows it (a fixed sleep would pass when no attempt
        # was made at all); home then counts as unreachable and is probed, so attempts stay 1
        lib.wait_attempts(relay.spool, 1, n=1, daemons=[relay.daemon, home.daemon])
        checks.ok(marker not in lib.ids_in_maildir(home), f"{why}: not delivered")
        checks.eq(len(relay.queued()), 1, f"{why}: message kept in the relay's queue")
        checks.ok(relay.daemon.alive() and home.daemon.alive(), f"{why}: both still running")

    def fix_and_deliver(marker: str, why: str) -> None:
        relay.stop()
        relay.pin, relay.client_tls = home_pin, relay_cert
        relay.write_config()
        relay.start(wait_recipients=False)
        lib.wait_until(lambda: marker in lib.ids_in_maildir(home), 20,
                       f"{why}: delivery once the configuration is right",
                       daemons=[relay.daemon, home.daemon])
        lib.wait_until(lambda: not relay.queued(), 10, "queue empty")
        checks.eq(lib.ids_in_maildir(home).get(marker), 1, f"{why}: delivered once when fixed")

    # wrong pin for home's certificate
    relay.stop()
    relay.pin = other_pin
    relay.write_config()
    relay.start(wait_recipients=False)
    stays_queued("wrong-pin", "wrong home pin")
    log = relay.daemon.log_text().lower()
    checks.ok("pin" in log or "certificate" in log, "relay log says why (pin/certificate)",
              log[-1500:])
    fix_and_deliver("wrong-pin", "wrong home pin")

    # client certificate home does not pin
    relay.stop()
    relay.client_tls = other_cert
    relay.write_config()
    relay.start(wait_recipients=False)
    stays_queued("wrong-client", "unpinned client certificate")
    fix_and_deliver("wrong-client", "unpinned client certificate")

    checks.eq(lib.ids_in_maildir(home), {"mtls-ok": 1, "wrong-client": 1, "wrong-pin": 1},
              "exactly the three messages delivered, once each")
    relay.stop()
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
