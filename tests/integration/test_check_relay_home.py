#!/usr/bin/python3
"""`splitmail check` on the relay notices home (issue 16 bug 7).

Before: with splitmail-home stopped and mail queued, check on the relay said all good.
Fixture: lib's relay + home on loopback (home.lmtp = home's LMTP port, plain transport with the
pairing secret), a site file whose relay_config is that relay.toml.
1. Home runs: `check --only lmtp` → ✓ lmtp "answers LHLO", exit 0.
2. Home stopped, one message accepted for demo@ (recipient cache) and attempted: ✗ lmtp
   "cannot connect … stays queued" with a fix naming splitmail-home (exit 1), and the queue
   finding is a warning carrying the oldest message's last attempt error.
3. A listener that is not LMTP (a socket that greets "554 no") → ✗ lmtp naming the greeting.
"""
import json
import socket
import threading

import lib
from lib import CLI_BIN, DEMO, checks


def check(site, only):
    r = lib.run_tool([str(CLI_BIN), "check", "--site", str(site), "--only", only, "--json"],
                     timeout=60)
    out = r.stdout.decode(errors="replace")
    try:
        doc = json.loads(out)
    except ValueError:  # e.g. "unknown check" from a binary without it
        return r.returncode, [], out + r.stderr.decode(errors="replace")
    return r.returncode, doc["findings"], out


def main():
    lib.require_binaries(CLI_BIN)
    d, home, relay = lib.start_pair("check-relay-home", home_kw={"secret": "s" * 64})
    site = d / "site.toml"
    site.write_text('[site]\ndomains = ["example.test"]\nhostname = "mx.example.test"\n'
                    f'relay_config = "{relay.config}"\n')

    # 1. home runs
    rc, f, out = check(site, "lmtp")
    lm = [x for x in f if x["check"] == "lmtp"]
    checks.ok(rc == 0 and len(lm) == 1 and lm[0]["status"] == "ok" and
              "answers LHLO" in lm[0]["detail"] and f"127.0.0.1:{home.port}" in lm[0]["detail"],
              "home running: ✓ lmtp answers LHLO", out)

    # 2. home stopped, mail queued
    home.stop()
    code, text = lib.send_message(relay.port, "sender@sender.test", [DEMO],
                                  lib.make_message("while-home-is-down"))
    checks.eq(code, 250, "the relay accepts for demo@ while home is down (recipient cache)")
    lib.wait_attempts(relay.spool, 1, n=1, daemons=[relay.daemon], every=False)
    rc, f, out = check(site, "queue")
    q = [x for x in f if x["check"] == "queue"]
    checks.ok(len(q) == 1 and q[0]["status"] == "warn" and "last attempt" in q[0]["detail"] and
              "failed:" in q[0]["detail"],
              "home stopped: ! queue names the oldest message's last attempt error", out)
    rc, f, out = check(site, "lmtp")
    lm = [x for x in f if x["check"] == "lmtp"]
    checks.ok(rc == 1 and len(lm) == 1 and lm[0]["status"] == "fail" and
              "cannot connect" in lm[0]["detail"] and "splitmail-home" in lm[0]["fix"],
              "home stopped: ✗ lmtp with a fix naming splitmail-home", out)

    # 3. something that is not LMTP on the port
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", home.port))
    srv.listen(4)

    def serve():
        # Every connection, not just the first: the running relay's queue retries to home may
        # take one before `check` connects (seen under ASan: check then waited for a greeting).
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return  # srv closed
            try:
                c.sendall(b"554 no service here\r\n")
            except OSError:
                pass
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    rc, f, out = check(site, "lmtp")
    try:
        srv.shutdown(socket.SHUT_RDWR)  # wakes the accept() above (Linux)
    except OSError:
        pass
    srv.close()
    t.join(5)
    lm = [x for x in f if x["check"] == "lmtp"]
    checks.ok(rc == 1 and lm and lm[0]["status"] == "fail" and "554 no service here" in
              lm[0]["detail"], "a non-LMTP greeting: ✗ lmtp quoting it", out)


lib.run_main(main)
