"""Runs one smtp-source load and times it (used by bench/inbound/run).

usage: measure.py PORT MAILDIR MESSAGES SIZE SESSIONS [TIMEOUT]
Prints one line of JSON: accept_s (until smtp-source exited), e2e_s (until MESSAGES files are in
MAILDIR/new + MAILDIR/cur), delivered, and smtp-source's exit status. The clock starts right
before smtp-source is started.
"""
import json
import os
import subprocess
import sys
import time


def count(maildir: str) -> int:
    n = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(maildir, sub)) as it:
                n += sum(1 for e in it if e.is_file())
        except FileNotFoundError:
            pass
    return n


def main() -> None:
    port, maildir, msgs, size, sessions = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 600.0
    msgs_n = int(msgs)
    base = count(maildir)
    argv = ["smtp-source", "-s", sessions, "-m", msgs, "-l", size, "-f", "bench@sender.test",
            "-t", "demo@example.test", "-M", "bench-client.test", f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    accept = None
    e2e = None
    while True:
        now = time.monotonic()
        if accept is None and p.poll() is not None:
            accept = now - t0
        if e2e is None and count(maildir) - base >= msgs_n:
            e2e = now - t0
        if accept is not None and e2e is not None:
            break
        if now - t0 > timeout:
            break
        time.sleep(0.005)
    if accept is None:
        p.kill()
    out = p.communicate()[0].decode(errors="replace")
    print(json.dumps({"accept_s": accept, "e2e_s": e2e, "delivered": count(maildir) - base,
                      "smtp_source_status": p.returncode, "smtp_source_output": out[-500:]}))


if __name__ == "__main__":
    main()
