"""One login brake for every login path (issue 11 items 2, 3, 5, 6, 9), with real clients:
swaks and python smtplib for submission (online and with home offline), python imaplib for
IMAP, a raw socket for home's LMTP. Clients connect from different loopback networks
(127.0.N.x: one /24 each), so "another network" and "the owner's network" are real source
addresses. Limits are small: 3 failures lock a user, delays 1 s doubling to 2 s.

- IMAP (item 3): failures across connections lock the user, also for the right password from
  the attacker's and any new network; the owner's known network still logs in.
- Spellings (item 5): "  carol@dom" and "CAROL@dom" share carol's counter and lookup.
- Cross-protocol (item 3): failures on submission (padded, upper-case, plain spellings) lock
  the user on IMAP too (home counts XAUTH with the client's address, CLIENT=).
- Parallel AUTH (item 6): 19 wrong AUTH PLAIN in flight, then the right one: not 235.
- Offline cache (item 2): with home down, wrong passwords on one connection are delayed and
  lock the user; then the right password (any spelling) gets 454, not 235; the owner's known
  network still gets 235 from the cache.
- LMTP (item 9): without the pairing secret XDIRECTORY, XAUTH and MAIL get 530; a wrong
  XSECRET closes the connection; the relay (with the secret) works; XAUTH for an unknown user
  takes about as long as for a known one (dummy hash verification).
"""
from __future__ import annotations

import base64
import os
import imaplib
import re
import smtplib
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, tmpdir

DOMAIN = "example.test"
BOB, CAROL, DAVE, ERIN, FRANK = (f"{n}@{DOMAIN}" for n in ("bob", "carol", "dave", "erin",
                                                               "frank"))
SECRET = "s3cr3t-pairing-" + "x" * 40
BRAKE = {"auth.max_user_failures": "3", "auth.max_network_failures": "200",
         "auth.failure_delay": '"1s"', "auth.max_failure_delay": '"2s"',
         "auth.lockout": '"10m"', "auth.failure_window": '"10m"'}
RELAY_BRAKE = dict(BRAKE)
# LEGACY_CONFIG=1 (with CONTINUE=1) runs these checks against binaries from before the login
# brake: only the settings they know, no pairing secret. Every item must then fail.
if os.environ.get("LEGACY_CONFIG"):
    SECRET = ""
    BRAKE = {}
    RELAY_BRAKE = {"submission.auth_max_failures": "3", "submission.auth_failure_delay": '"1s"'}


def tls_ctx() -> ssl.SSLContext:
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class IMAPFrom(imaplib.IMAP4):
    """imaplib from a chosen loopback source address (plaintext: loopback login allowed)."""

    def __init__(self, src: str, port: int):
        self.src = src
        super().__init__("127.0.0.1", port, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))


def imap_login(src: str, port: int, user: str, password: str) -> str:
    """'OK' or the NO text. `user` is sent as given (quoted when it has spaces)."""
    m = IMAPFrom(src, port)
    try:
        u = f'"{user}"' if " " in user else user
        typ, data = m._simple_command("LOGIN", u, m._quote(password))
        if typ == "OK":
            return "OK"
        return typ + " " + b" ".join(x for x in data if isinstance(x, bytes)).decode()
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def swaks(src: str, port: int, user: str, password: str, marker: str) -> tuple[int, str]:
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--tls",
            "--local-interface", src, "--helo", "laptop.private.lan", "--timeout", "60",
            "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
            "--from", DEMO, "--to", DEMO, "--data", "-"]
    msg = f"From: <{DEMO}>\r\nTo: <{DEMO}>\r\nSubject: {marker}\r\n\r\nbody\r\n"
    r = subprocess.run(argv, input=msg.encode(), capture_output=True, timeout=180)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def auth_code(out: str) -> int:
    """The reply code swaks got to AUTH (235, 535, 454 ...), 0 if none."""
    for line in out.splitlines():
        mm = re.match(r"^<[~*]\*?\s+(235|535|454|530)\b", line)
        if mm:
            return int(mm.group(1))
    return 0


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def smtp_from(src: str, port: int) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=60)
    s.ehlo("laptop.private.lan")
    s.starttls(context=tls_ctx())
    s.ehlo("laptop.private.lan")
    return s


class LMTP:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")
        self.reply()

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            try:
                line = self.f.readline()
            except TimeoutError:
                return 0, "timeout"
            if not line:
                return 0, "closed"
            lines.append(line.decode().rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line: str) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    d = tmpdir("login_brake")
    cert = lib.make_cert(d, "mx", "mx.example.test")
    imap_port = lib.free_port()
    extra = dict(BRAKE)
    extra.update({"imap.listen": f'["127.0.0.1:{imap_port}"]', "imap.tls_cert": f'"{cert[0]}"',
                  "imap.tls_key": f'"{cert[1]}"', "imap.plaintext_login_on_loopback": "true"})
    home = Home(d / "home", users=[DEMO, BOB, CAROL, DAVE, ERIN, FRANK], secret=SECRET,
                extra=extra).start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imap_port), 10, "imap port")
    pw = home.passwords
    sub_port = lib.free_port()
    rextra = dict(RELAY_BRAKE)
    rextra.update({"relay.trusted_networks": "[]",
                   "submission.listen": f'["127.0.0.1:{sub_port}"]'})
    relay = Relay(d / "relay", home, tls=cert, extra=rextra).start()
    checks.ok(True, "relay with the pairing secret reads home's directory (RCPT accepted)")

    # ---- item 3: IMAP lockout across connections; the owner's known network is spared.
    log("IMAP lockout")
    checks.eq(imap_login("127.0.1.10", imap_port, BOB, pw[BOB]), "OK", "bob logs in (owner)")
    t0 = time.monotonic()
    for i in range(3):
        r = imap_login("127.0.2.10", imap_port, BOB, f"guess{i}")
        checks.ok("AUTHENTICATIONFAILED" in r, f"wrong IMAP password {i + 1}: NO", r)
    spent = time.monotonic() - t0
    checks.ok(spent >= 3.0, f"3 failures cost growing delays (1+2+2 s): {spent:.1f}s")
    r = imap_login("127.0.2.10", imap_port, BOB, pw[BOB])
    checks.ok("AUTHENTICATIONFAILED" in r,
              "locked: the right password from the attacker's IP gets the same NO", r)
    r = imap_login("127.0.4.10", imap_port, BOB, pw[BOB])
    checks.ok("AUTHENTICATIONFAILED" in r, "locked: the right password from a new network: NO", r)
    m = IMAPFrom("127.0.4.11", imap_port)
    try:
        m.authenticate("PLAIN", lambda _: f"\0{BOB}\0{pw[BOB]}".encode())
        r = "OK"
    except imaplib.IMAP4.error as e:
        r = str(e)
    m.shutdown()
    checks.ok("AUTHENTICATIONFAILED" in r, "locked: AUTHENTICATE PLAIN with the right password: NO",
              r)
    checks.eq(imap_login("127.0.1.11", imap_port, BOB, pw[BOB]), "OK",
              "the owner's known network still logs in")

    # ---- item 5: every spelling is one user, for the lockout and for the lookup.
    log("spellings")
    for i in range(3):
        imap_login("127.0.2.20", imap_port, CAROL, f"guess{i}")
    for spelling in ("  " + CAROL, CAROL.upper(), f" {CAROL} "):
        r = imap_login("127.0.5.20", imap_port, spelling, pw[CAROL])
        checks.ok("AUTHENTICATIONFAILED" in r,
                  f"carol locked: {spelling!r} with the right password from elsewhere: NO", r)
    checks.eq(imap_login("127.0.5.21", imap_port, "  " + DEMO.upper(), pw[DEMO]), "OK",
              "an unlocked user logs in with a padded, upper-case spelling (one normalisation)")

    # ---- item 3: cross-protocol. dave's owner device is known from IMAP; failures on
    #      submission (three spellings) lock dave on IMAP too.
    log("cross-protocol")
    checks.eq(imap_login("127.0.1.30", imap_port, DAVE, pw[DAVE]), "OK", "dave logs in (owner)")
    t0 = time.monotonic()
    for i, spelling in enumerate((" " + DAVE, DAVE.upper(), DAVE)):
        rc, out = swaks("127.0.2.30", sub_port, spelling, f"guess{i}", "X")
        checks.eq(auth_code(out), 535, f"submission: wrong password as {spelling!r}: 535")
    spent = time.monotonic() - t0
    checks.ok(spent >= 3.0, f"submission failures are delayed (1+2+2 s): {spent:.1f}s")
    rc, out = swaks("127.0.2.30", sub_port, DAVE, pw[DAVE], "X")
    checks.eq(auth_code(out), 454, "submission: locked, the right password gets 454 4.7.0")
    r = imap_login("127.0.6.30", imap_port, DAVE, pw[DAVE])
    checks.ok("AUTHENTICATIONFAILED" in r, "locked on submission => locked on IMAP", r)
    checks.eq(imap_login("127.0.1.31", imap_port, DAVE, pw[DAVE]), "OK",
              "the owner's known network still logs in to IMAP")

    # ---- item 6: 19 wrong AUTH in flight, then the right one.
    log("parallel AUTH")
    results: dict[int, int] = {}

    def one(i: int, password: str) -> None:
        rc, out = swaks(f"127.0.7.{i + 1}", sub_port, ERIN, password, "P")
        results[i] = auth_code(out)

    threads = [threading.Thread(target=one, args=(i, f"wrong{i}")) for i in range(19)]
    for t in threads:
        t.start()
    time.sleep(0.7)  # the wrong ones are in flight (home + delays take seconds)
    right = threading.Thread(target=one, args=(19, pw[ERIN]))
    right.start()
    for t in threads + [right]:
        t.join(180)
    codes = [results.get(i, 0) for i in range(20)]
    checks.ok(results.get(19) != 235,
              "19 wrong AUTH in flight, then the right one: not 235", str(codes))
    checks.ok(codes[:19].count(535) <= 3 and all(c in (535, 454) for c in codes[:19]),
              "at most max_user_failures wrong attempts are checked, the rest get 454",
              str(codes))

    # ---- item 2: the offline cache is braked like the online path.
    log("offline cache")
    rc, out = swaks("127.0.1.40", sub_port, FRANK, pw[FRANK], "F1")
    checks.eq(auth_code(out), 235, "frank authenticates online (cached, network known)")
    home.stop()
    s = smtp_from("127.0.8.40", sub_port)
    t0 = time.monotonic()
    codes = []
    for i in range(3):
        code, _ = s.docmd("AUTH", "PLAIN " + plain(FRANK, f"guess{i}"))
        codes.append(code)
    spent = time.monotonic() - t0
    checks.eq(codes, [454, 454, 454], "home offline: wrong passwords get 454")
    checks.ok(spent >= 3.0, f"home offline: failures are delayed (1+2+2 s): {spent:.1f}s")
    code, _ = s.docmd("AUTH", "PLAIN " + plain(FRANK, pw[FRANK]))
    checks.eq(code, 454, "home offline, locked: the right password on the same connection: 454")
    s.close()
    for spelling in (" " + FRANK, FRANK.upper(), FRANK):
        rc, out = swaks("127.0.9.40", sub_port, spelling, pw[FRANK], "F2")
        checks.eq(auth_code(out), 454, f"home offline, locked: {spelling!r} right password: 454")
    rc, out = swaks("127.0.1.41", sub_port, FRANK, pw[FRANK], "F3")
    checks.eq(auth_code(out), 235, "home offline: the owner's known network gets 235 (cache)")
    rl = relay.daemon.log_text()
    checks.ok(re.search(r"login failed.*client=127\.0\.8\.40.*user=frank@example\.test", rl)
              is not None or ("login failed" in rl and "127.0.8.40" in rl),
              "failures are logged with client and user")
    checks.ok("login refused" in rl, "refusals are logged")
    checks.ok(all(p not in rl for p in pw.values()), "the relay log never has a password")
    home.start()

    # ---- item 9: LMTP without the pairing secret.
    log("LMTP pairing secret")
    c = LMTP(home.port)
    c.cmd("LHLO attacker.local")
    code, _ = c.cmd("XDIRECTORY")
    checks.eq(code, 530, "XDIRECTORY without the pairing secret: 530")
    code, _ = c.cmd("XAUTH " + base64.b64encode(f"{DEMO}\0x".encode()).decode())
    checks.eq(code, 530, "XAUTH without the pairing secret: 530")
    code, _ = c.cmd("MAIL FROM:<forged@example.test>")
    checks.eq(code, 530, "MAIL without the pairing secret: 530")
    code, _ = c.cmd("XSECRET wrong-" + SECRET)
    checks.eq(code, 535, "a wrong XSECRET: 535")
    checks.eq(c.reply()[0], 421, "... and the connection is closed")
    c.close()
    hl = home.daemon.log_text()
    checks.ok(all(p not in hl for p in pw.values()), "the home log never has a password")
    checks.ok(re.search(r"login failed.*service=submission", hl) is not None,
              "home logs submission failures (XAUTH) with the service")

    # Timing of unknown vs known users, on a home without brake delays.
    log("XAUTH timing")
    nodelay = {} if os.environ.get("LEGACY_CONFIG") else dict(BRAKE)
    if nodelay:
        nodelay.update({"auth.failure_delay": '"0s"', "auth.max_failure_delay": '"0s"',
                        "auth.max_user_failures": "100"})
    h2 = Home(d / "home2", users=[DEMO, BOB], secret=SECRET, extra=nodelay).start()

    def home_cpu() -> float:
        """CPU seconds splitmail-home has used: all its threads and its live children, the
        password-hash workers (/proc/PID/stat utime + stime + cutime + cstime of each)."""
        pid = h2.daemon.pid
        pids = [pid]
        for t in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (t / "children").read_text().split()]
        ticks = 0
        for p in pids:
            try:
                f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a worker that just ended (its time moves into cutime)
            ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        return ticks / os.sysconf("SC_CLK_TCK")

    def xauth_cost(user: str, client: str) -> tuple[float, float]:
        """(CPU seconds home spent, wall seconds) on one failed XAUTH of `user`."""
        c = LMTP(h2.port)
        c.cmd("LHLO relay.test")
        if SECRET:
            c.cmd("XSECRET " + SECRET)
        cpu, t = home_cpu(), time.monotonic()
        line = "XAUTH " + base64.b64encode(f"{user}\0wrong".encode()).decode()
        if not os.environ.get("LEGACY_CONFIG"):  # old homes do not know CLIENT=
            line += f" CLIENT={client}"
        code, _ = c.cmd(line)
        wall, used = time.monotonic() - t, home_cpu() - cpu
        c.close()
        checks.eq(code, 535, f"XAUTH {user}: 535")
        return used, wall

    # Compared by the CPU time home spends, not by the wall clock: an unknown user must cost a
    # hash like a known one (else the answer time tells which users exist), and CPU seconds do
    # not stretch when a loaded 2-core CI machine delays one of the six requests.
    unknown = [xauth_cost(f"nobody{i}@{DOMAIN}", f"127.0.{20 + i}.1") for i in range(3)]
    known = [xauth_cost(BOB, f"127.0.{30 + i}.1") for i in range(3)]
    u_cpu = statistics.median(c for c, _ in unknown)
    k_cpu = statistics.median(c for c, _ in known)
    checks.ok(k_cpu > 0 and u_cpu >= 0.5 * k_cpu,
              f"unknown users cost about as much as known ones: {u_cpu:.3f} vs {k_cpu:.3f} CPU s "
              f"(wall {statistics.median(w for _, w in unknown):.3f} vs "
              f"{statistics.median(w for _, w in known):.3f} s)")
    h2.stop()

    relay.stop()
    home.stop()


if __name__ == "__main__":
    run_main(main)
