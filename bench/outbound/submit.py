"""Submits MESSAGES messages of SIZE bytes over SESSIONS parallel implicit-TLS sessions (one
connection per session, AUTH PLAIN once when a user is given) and times them until SINK_DIR has
MESSAGES more files (used by bench/outbound/run).

usage: submit.py PORT MESSAGES SIZE SESSIONS SINK_DIR USER|- PASSWORD|- [TIMEOUT]
Prints one line of JSON: accept_s (until the last 250 to DATA), e2e_s (until the sink has them
all), delivered, errors. The clock starts right before the first connection.
"""
import json
import os
import smtplib
import ssl
import sys
import threading
import time

FROM = "demo@example.test"
TO = "sink@remote.test"


def count(d: str) -> int:
    with os.scandir(d) as it:
        return sum(1 for e in it if e.is_file())


def body(size: int, n: int) -> bytes:
    head = (f"From: Demo <{FROM}>\r\nTo: <{TO}>\r\nSubject: bench {n}\r\n"
            f"X-Bench-Id: {n}\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, bench line padding text.\r\n"
    out = bytearray(head)
    while len(out) < size:
        out += line
    return bytes(out[:size - 2]) + b"\r\n"


def main() -> None:
    port, msgs, size, sessions = (int(a) for a in sys.argv[1:5])
    sink, user, password = sys.argv[5:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 600.0
    base = count(sink)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    errors: list[str] = []
    share = [msgs // sessions + (1 if i < msgs % sessions else 0) for i in range(sessions)]

    def worker(i: int) -> None:
        try:
            with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=120) as s:
                s.ehlo("bench-client.test")
                if user != "-":
                    s.login(user, password)
                for k in range(share[i]):
                    s.sendmail(FROM, [TO], body(size, i * 100000 + k))
        except Exception as e:  # noqa: BLE001 (reported, the run fails)
            errors.append(f"session {i}: {e!r}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accept = time.monotonic() - t0
    e2e = None
    while time.monotonic() - t0 < timeout and not errors:
        if count(sink) - base >= msgs:
            e2e = time.monotonic() - t0
            break
        time.sleep(0.005)
    print(json.dumps({"accept_s": accept, "e2e_s": e2e, "delivered": count(sink) - base,
                      "errors": errors[:5]}))


if __name__ == "__main__":
    main()
