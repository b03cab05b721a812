"""TLS policy of the listeners, checked with `openssl s_client` against the real binaries.

Ciphers (issue 11, item 13): with TLS 1.2 only AEAD suites are offered by default (Mozilla
"intermediate"): a client offering only a CBC suite (ECDHE-RSA-AES128-SHA against the relay's
RSA certificate, ECDHE-ECDSA-AES128-SHA against home's EC certificate) fails the handshake, an
AEAD suite works, TLS 1.3 works; on the relay's port 25 (STARTTLS), 465 (implicit TLS) and
home's 993. `tls.ciphers` changes the list (a relay configured with a CBC suite accepts it).

Over-limit clients on implicit-TLS ports (item 14): with two connections held from one
address (max per address 2), a third to 465 or 993 is closed without a plaintext byte (no
`421`, no `* BYE` where the client expects a TLS handshake), and so is a connection over
lmtp.max_connections on home's LMTP port in mtls mode; the STARTTLS ports still answer in
plaintext, as their protocol wants (587: `421 4.7.0`, 143: `* BYE`).

TLS 1.1 is refused on 25, 465 and 993 (a protocol_version alert to a client willing to use it);
the relay and home present a replaced certificate after SIGHUP (home: a session already in
TLS goes on; a broken file keeps the certificate in service).
"""
import hashlib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402


def rsa_cert(d: Path) -> tuple[Path, Path]:
    cert, key = d / "relay-rsa.crt", d / "relay-rsa.key"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=mx.example.test", "-keyout", str(key), "-out", str(cert)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        lib.fail(f"openssl req (RSA) failed: {r.stderr}")
    return cert, key


def handshake(port: int, args: list[str], starttls: str = "") -> tuple[bool, str]:
    """(handshake succeeded, negotiated suite or the error) for one s_client run."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"] + args
    if starttls:
        argv += ["-starttls", starttls]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30 * lib.SLOW)
    out = r.stdout + r.stderr
    suite = ""
    for line in out.splitlines():
        if line.startswith("Ciphersuite:"):
            suite = line.split(":", 1)[1].strip()
    return (r.returncode == 0 and bool(suite)), (suite or out.strip()[-300:])


def cipher_checks(name: str, port: int, cbc: str, aead: str, starttls: str = "") -> None:
    ok, what = handshake(port, ["-tls1_2", "-cipher", cbc], starttls)
    checks.ok(not ok, f"{name}: TLS 1.2 with only {cbc} (CBC) is refused", what)
    ok, what = handshake(port, ["-tls1_2", "-cipher", aead], starttls)
    checks.ok(ok and what == aead, f"{name}: TLS 1.2 with {aead} works", what)
    ok, what = handshake(port, ["-tls1_3"], starttls)
    checks.ok(ok and what.startswith("TLS_"), f"{name}: TLS 1.3 works ({what})", what)


def tls_client(port: int, src: str) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * lib.SLOW,
                                 source_address=(src, 0))
    return ctx.wrap_socket(s, server_hostname="x.test")


def first_bytes(port: int, src: str) -> bytes:
    """What the server sends before it closes the connection; the close must come within
    10 s (a connection left open is not "closed without a byte")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * lib.SLOW,
                                 source_address=(src, 0))
    try:
        return lib.read_until_eof(s, 10, f"port {port} to close the over-limit connection")
    finally:
        s.close()


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("tlspolicy")
    ec = lib.make_cert(d, "home", "home.example.test")
    home = lib.Home(d / "home")
    imap_port, imaps_port = lib.free_port(), lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\ntls_cert = "{ec[0]}"\n'
                f'tls_key = "{ec[1]}"\nmax_connections_per_ip = 2\n'
                f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n')
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")
    rsa = rsa_cert(d)
    sub_port, subs_port = lib.free_port(), lib.free_port()
    relay = lib.Relay(d / "relay", home, tls=rsa, extra={
        "submission.listen": f'["127.0.0.1:{sub_port}"]',
        "submissions.listen": f'["127.0.0.1:{subs_port}"]',
        "smtp.max_connections_per_ip": "2"}).start()

    # --- item 13: AEAD only with TLS 1.2
    cipher_checks("relay port 25 (STARTTLS)", relay.port, "ECDHE-RSA-AES128-SHA",
                  "ECDHE-RSA-AES128-GCM-SHA256", starttls="smtp")
    cipher_checks("relay port 465", subs_port, "ECDHE-RSA-AES256-SHA384",
                  "ECDHE-RSA-CHACHA20-POLY1305")
    cipher_checks("home port 993", imaps_port, "ECDHE-ECDSA-AES128-SHA",
                  "ECDHE-ECDSA-AES256-GCM-SHA384")

    # --- item 14: over the limit on implicit-TLS ports: closed, never a plaintext line
    held = [tls_client(subs_port, "127.31.0.1") for _ in range(2)]
    for h in held:
        h.settimeout(10 * lib.SLOW)
        checks.ok(h.recv(100).startswith(b"220"), "465: a held connection is greeted in TLS")
    data = first_bytes(subs_port, "127.31.0.1")
    checks.eq(data, b"", "465: the third connection from the address is closed without a byte")
    data = first_bytes(sub_port, "127.31.0.1")
    checks.ok(data.startswith(b"421 4.7.0"),
              "587 shares the count with 465 and, being STARTTLS, refuses with 421 in plaintext",
              repr(data))
    for h in held:
        h.close()

    held = [tls_client(imaps_port, "127.31.1.1") for _ in range(2)]
    for h in held:
        h.settimeout(10 * lib.SLOW)
        checks.ok(h.recv(100).startswith(b"* OK"), "993: a held connection is greeted in TLS")
    data = first_bytes(imaps_port, "127.31.1.1")
    checks.eq(data, b"", "993: the third connection from the address is closed without a byte")
    data = first_bytes(imap_port, "127.31.1.1")
    checks.ok(data.startswith(b"* BYE"), "143 (STARTTLS) still answers * BYE in plaintext",
              repr(data))
    for h in held:
        h.close()

    # --- TLS 1.1 is refused (TLS 1.2 is the floor, docs/architecture.md). The client is told
    # to allow it (SECLEVEL=0), so a refusal is the server's: a protocol_version alert.
    for name, port, starttls in (("relay port 25 (STARTTLS)", relay.port, "smtp"),
                                 ("relay port 465", subs_port, ""),
                                 ("home port 993", imaps_port, "")):
        ok, what = handshake(port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], starttls)
        checks.ok(not ok and "protocol version" in what, f"{name}: TLS 1.1 refused", what)

    # --- certificate reload on SIGHUP (`systemctl reload splitmail-relay`, docs/operations.md):
    # new files in place, SIGHUP, and new handshakes present the new certificate.
    def served_cert() -> str:
        with tls_client(subs_port, "127.31.3.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    checks.eq(served_cert(), lib.cert_sha256(rsa[0]), "465 presents the configured certificate")
    fresh = rsa_cert(lib.tmpdir("tlspolicy-new"))
    shutil.copyfile(fresh[0], rsa[0])
    shutil.copyfile(fresh[1], rsa[1])
    relay.daemon.signal(signal.SIGHUP)
    lib.wait_until(lambda: served_cert() == lib.cert_sha256(fresh[0]), 10,
                   "the relay to present the new certificate after SIGHUP",
                   daemons=[relay.daemon])
    checks.ok(True, "after SIGHUP new TLS handshakes present the replaced certificate")
    ok, what = handshake(relay.port, ["-tls1_3"], "smtp")
    checks.ok(ok, "port 25 STARTTLS still works after the reload", what)
    relay.stop()

    # --- home reloads its IMAP certificate on SIGHUP too (a renewal by `splitmail cert`): a
    # session already in TLS goes on with the old one, new handshakes get the new one, and a
    # broken certificate file leaves the one in service.
    def home_cert(port: int = imaps_port, src: str = "127.31.4.1") -> str:
        with tls_client(port, src) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    checks.eq(home_cert(), lib.cert_sha256(ec[0]), "993 presents the configured certificate")
    before = tls_client(imaps_port, "127.31.4.2")
    before.settimeout(10 * lib.SLOW)
    checks.ok(before.recv(100).startswith(b"* OK"), "a session open before the renewal")
    renewed = lib.make_cert(lib.tmpdir("tlspolicy-home-new"), "home", "home.example.test")
    shutil.copyfile(renewed[0], ec[0])
    shutil.copyfile(renewed[1], ec[1])
    home.daemon.signal(signal.SIGHUP)
    lib.wait_until(lambda: home_cert() == lib.cert_sha256(renewed[0]), 10,
                   "home to present the new IMAP certificate after SIGHUP", daemons=[home.daemon])
    checks.ok(True, "after SIGHUP new IMAPS handshakes present the renewed certificate")
    before.sendall(b"a NOOP\r\n")
    answer = b""
    deadline = time.monotonic() + 10 * lib.SLOW
    while b"a OK" not in answer and time.monotonic() < deadline:
        chunk = before.recv(4096)
        if not chunk:
            break
        answer += chunk
    checks.ok(b"a OK" in answer, "the session opened before the reload goes on", repr(answer))
    before.close()
    ec[0].write_text("not a certificate\n")
    home.daemon.signal(signal.SIGHUP)
    lib.wait_until(lambda: "IMAP TLS reload failed" in home.daemon.log_text(), 10,
                   "home to log the failed reload", daemons=[home.daemon])
    checks.eq(home_cert(), lib.cert_sha256(renewed[0]),
              "a certificate file that does not load leaves the renewed one in service")
    shutil.copyfile(renewed[0], ec[0])  # the mtls home below uses these files

    # LMTP in mtls mode is implicit TLS too: an over-limit relay connection is just closed.
    mhome = lib.Home(d / "home-mtls", transport="mtls", tls=ec, client_pin="0" * 64)
    text = mhome.config.read_text().replace('transport = "mtls"\n',
                                            'transport = "mtls"\nmax_connections = 1\n')
    mhome.config.write_text(text)
    mhome.start()
    time.sleep(0.5)  # the start-up probe's connection is gone
    held = socket.create_connection(("127.0.0.1", mhome.port), source_address=("127.31.2.1", 0))
    data = first_bytes(mhome.port, "127.31.2.2")
    checks.eq(data, b"", "LMTP (mtls) over lmtp.max_connections: closed without a plaintext 421")
    held.close()
    mhome.stop()

    # --- tls.ciphers is a setting: a relay configured with a CBC suite offers it
    relay2 = lib.Relay(d / "relay2", home, tls=rsa,
                       extra={"tls.ciphers": '"ECDHE-RSA-AES128-SHA"'}).start()
    ok, what = handshake(relay2.port, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], "smtp")
    checks.ok(ok and what == "ECDHE-RSA-AES128-SHA",
              "tls.ciphers = ECDHE-RSA-AES128-SHA: that suite is offered", what)
    relay2.stop()
    bad = lib.Relay(d / "relay3", home, tls=rsa, extra={"tls.ciphers": '"NO-SUCH-SUITE"'})
    r = subprocess.run([str(lib.RELAY_BIN), "--config", str(bad.config), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    checks.ok(r.returncode != 0 and "tls.ciphers" in out and "NO-SUCH-SUITE" in out,
              "a bad tls.ciphers is a start-up error naming the key and the list", out[-400:])
    home.stop()


if __name__ == "__main__":
    lib.run_main(main)
