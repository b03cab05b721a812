#!/usr/bin/python3
"""The relay's port 80 for ACME http-01 (relay/http/challenges.hpp, `http.listen` and
`http.challenge_dir`): what `splitmail cert obtain --http-webroot DIR` writes is served while
the relay holds the port, and nothing else is.

Checks: GET and HEAD of /.well-known/acme-challenge/<token> answer 200 with the file's key
authorization (also in absolute form), a missing token, another path, a symlink, a
non-base64url name or a file over 4 KiB 404, POST 405, garbage 400; a head longer than 8 KiB
is answered 431 and closed; a client that sends half a head and stops is closed within the
5-second head deadline (EOF, not our timeout); each answer is one log line; the relay refuses
a bad http.listen at start with the key named; it stops cleanly (exit 0, no sanitizer report).
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (RELAY_BIN, SLOW, checks, free_port, log, run_main, start_pair,  # noqa: E402
                 wait_until)

PREFIX = "/.well-known/acme-challenge/"


def request(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW) as s:
        s.sendall(raw)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    raw = request(port, f"{method} {path} HTTP/1.1\r\nHost: mx.example.test\r\n\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


def main():
    port = free_port()
    import lib
    d = lib.tmpdir("relay-http")
    challenges = d / "acme-challenge"
    challenges.mkdir()
    _, _home, relay = start_pair("relay-http", relay_kw={"extra": {
        "http.listen": f'["127.0.0.1:{port}"]',
        "http.challenge_dir": f'"{challenges}"'}})
    wait_until(lambda: lib.port_answers("127.0.0.1", port), 15, "the relay's http listener",
               daemons=[relay.daemon])

    (challenges / "Tok_en-1").write_text("Tok_en-1.thumbprint\n")
    status, body = get(port, PREFIX + "Tok_en-1")
    checks.eq((status, body), (200, b"Tok_en-1.thumbprint"),
              "GET of a challenge file: 200 with the key authorization")
    status, body = get(port, PREFIX + "Tok_en-1", "HEAD")
    checks.eq((status, body), (200, b""), "HEAD: 200, no body")
    status, body = get(port, "http://mx.example.test" + PREFIX + "Tok_en-1")
    checks.eq(status, 200, "absolute-form request target")
    (challenges / "big").write_text("x" * 5000)
    os.symlink("/etc/passwd", challenges / "link")
    (challenges / "sub").mkdir()
    for path in (PREFIX + "missing", "/", "/etc/passwd", PREFIX + "link", PREFIX + "big",
                 PREFIX + "sub", PREFIX + "..%2f..%2fetc%2fpasswd", PREFIX + "../relay.toml",
                 PREFIX):
        checks.eq(get(port, path)[0], 404, f"GET {path}: 404")
    checks.eq(get(port, PREFIX + "Tok_en-1", "POST")[0], 405, "POST: 405")
    checks.ok(request(port, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n").startswith(b"HTTP/1.1 400"),
              "a TLS hello or other garbage: 400")
    big = b"GET " + PREFIX.encode() + b"Tok_en-1 HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000
    answer = request(port, big)
    checks.ok(answer.startswith(b"HTTP/1.1 431 ") and answer.endswith(b"head too large\n"),
              "a head of more than 8 KiB: 431 (RFC 6585), then closed", answer[:200])

    log("a client that sends half a head and stops is closed by the head deadline")
    with socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW) as s:
        s.sendall(b"GET " + PREFIX.encode() + b"Tok_en-1 HTTP/1.1\r\n")
        t0 = time.monotonic()
        try:
            data = s.recv(100)
            closed = data == b""
        except socket.timeout:
            closed = False
        waited = time.monotonic() - t0
    checks.ok(closed, "the connection ended with EOF (closed by the relay), not a client timeout")
    checks.ok(waited < 20 * SLOW, f"within the 5 s head deadline (took {waited:.1f}s)")

    log_text = (relay.root / "relay.log").read_text(errors="replace")
    checks.ok(log_text.count('"status":"200"') >= 3 or log_text.count("status=200") >= 3,
              "each answer is logged with its status", log_text[-2000:])
    relay.stop()

    log("a bad http.listen is refused at start, the key named")
    relay.extra["http.listen"] = '["127.0.0.1"]'
    relay.write_config()
    r = subprocess.run([str(RELAY_BIN), "--config", str(relay.config), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    checks.ok(r.returncode != 0 and "http.listen" in (r.stdout + r.stderr),
              "--check-config names http.listen", r.stdout + r.stderr)


if __name__ == "__main__":
    run_main(main)
