"""Runs one smtp-source load and times it (used by bench/inbound/run).

usage: measure.py [--replay DIR] PORT MAILDIR MESSAGES SIZE SESSIONS [TIMEOUT]
Prints one line of JSON: accept_s (until smtp-source exited), e2e_s (until MESSAGES files are in
MAILDIR/new + MAILDIR/cur), delivered, and smtp-source's exit status. The clock starts right
before smtp-source is started. With --replay DIR (bench --auth) the client is replay.py sending
the prepared messages of DIR (MESSAGES must be their number; SIZE is not used), and its JSON
line is passed on as "client".
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
    av = sys.argv[1:]
    replay = None
    if av[:1] == ["--replay"]:
        replay, av = av[1], av[2:]
    port, maildir, msgs, size, sessions = av[0:5]
    timeout = float(av[5]) if len(av) > 5 else 600.0
    msgs_n = int(msgs)
    base = count(maildir)
    if replay:
        argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "replay.py"), port, replay, sessions]
    else:
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
    res = {"accept_s": accept, "e2e_s": e2e, "delivered": count(maildir) - base,
           "smtp_source_status": p.returncode, "smtp_source_output": out[-500:]}
    if replay:
        try:
            res["client"] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res["client"] = None
    print(json.dumps(res))


if __name__ == "__main__":
    main()
