"""Issue 12 item 4: one user's stuck mailbox work does not hold up other users.

splitmail-home runs with a small LD_PRELOAD shim (built here with cc) whose fsync/fdatasync
wait while a "stall" file exists, but only for files below user A's Maildir. User A's
`APPEND` fsyncs the new message file (flag changes are not fsync'd since issue 15), so it
hangs in the kernel for as long as the test wants: a stand-in for a 25 MB FETCH, a cold SELECT of a huge folder or a slow disk.
While A's command is stuck (checked before and after: A has no answer yet), and without any
timing threshold, user B must get through:
  - NOOP and FETCH BODY[] on an open session, STORE, APPEND (fsyncs of B's own files);
  - a new connection: LOGIN, SELECT;
  - an LMTP delivery to B (250), which B's session then sees (EXISTS);
then the stall ends and A's APPEND completes OK.
With one io thread doing all mailbox work (before issue 12 item 4) B's first NOOP waits until
A's fsync returns: the test fails at "B: NOOP answered while A is stuck".
"""
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, DOMAIN, checks  # noqa: E402

BOB = f"bob@{DOMAIN}"
WAIT = 20 * lib.SLOW  # socket timeout for B: far longer than B needs, far shorter than the stall

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Waits while the stall file exists, if `fd` is below the stalled prefix (at most 90 s). */
static void stall(int fd) {
    const char* f = getenv("SPLITMAIL_TEST_FSYNC_STALL");
    const char* prefix = getenv("SPLITMAIL_TEST_FSYNC_STALL_PREFIX");
    if (!f || !prefix) return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    if (strncmp(path, prefix, strlen(prefix)) != 0) return;
    struct stat st;
    for (int i = 0; i < 1800 && stat(f, &st) == 0; ++i) usleep(50000);
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    stall(fd);
    return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    stall(fd);
    return real(fd);
}
"""


def build_shim(d: Path) -> Path:
    src, so = d / "stall_user_fsync.c", d / "stall_user_fsync.so"
    src.write_text(SHIM)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(so), str(src), "-ldl"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        lib.fail(f"cannot build the fsync shim: {r.stderr}")
    return so


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class Raw:
    """A bare IMAP connection over TLS: commands as bytes, replies read up to the tag."""

    def __init__(self, port: int, timeout: float = WAIT):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s = tls_ctx().wrap_socket(s)
        self.buf = b""
        self.read_line()  # greeting

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        end = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def tagged(self, tag: str) -> bytes:
        out = b""
        while True:
            line = self.read_line()
            out += line
            if line.startswith(tag.encode() + b" "):
                return out

    def send(self, tag: str, text: bytes) -> None:
        self.s.sendall(tag.encode() + b" " + text + b"\r\n")

    def cmd(self, tag: str, text: bytes) -> bytes:
        self.send(tag, text)
        return self.tagged(tag)

    def close(self) -> None:
        try:
            self.s.close()
        except OSError:
            pass


def deliver(port: int, rcpt: str, subject: str, body: str = "hello") -> dict:
    msg = (f"From: alice@sender.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
           f"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\n{body}\r\n")
    with smtplib.LMTP("127.0.0.1", port, timeout=WAIT) as s:
        return s.sendmail("alice@sender.test", [rcpt], msg.encode())


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imap-isolation")
    so = build_shim(d)
    stall = d / "stall"
    cert = lib.make_cert(d, "imap", "home.example.test")
    home = lib.Home(d / "home", users=[DEMO, BOB])
    imaps_port = lib.free_port()
    with open(home.config, "a") as f:
        f.write(f'[imaps]\nlisten = ["127.0.0.1:{imaps_port}"]\n'
                f'[imap]\ntls_cert = "{cert[0]}"\ntls_key = "{cert[1]}"\n')
    env = dict(os.environ)
    env["LD_PRELOAD"] = str(so)
    env["SPLITMAIL_TEST_FSYNC_STALL"] = str(stall)
    # Only A's Maildir (the trailing "/" keeps "demo" from matching a longer name).
    env["SPLITMAIL_TEST_FSYNC_STALL_PREFIX"] = str(home.mailbox(DEMO).resolve()) + "/"
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    home.daemon.env = env
    home.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", imaps_port), 10, "imaps port")

    for rcpt in (DEMO, BOB):
        deliver(home.port, rcpt, f"first for {rcpt}", "x" * 20000)

    a = Raw(imaps_port)
    checks.ok(b"a OK" in a.cmd("a", f"LOGIN {DEMO} {home.passwords[DEMO]}".encode()),
              "A logged in")
    checks.ok(b"1 EXISTS" in a.cmd("s", b"SELECT INBOX"), "A selected INBOX")
    b = Raw(imaps_port)
    checks.ok(b"b OK" in b.cmd("b", f"LOGIN {BOB} {home.passwords[BOB]}".encode()),
              "B logged in")
    checks.ok(b"1 EXISTS" in b.cmd("s", b"SELECT INBOX"), "B selected INBOX")

    # A's APPEND hangs in fsync of its message file for as long as the stall file exists
    # (LITERAL+: the whole command in one go).
    stall.touch()
    a.send("st", b"APPEND INBOX {12+}\r\nSubject: x\r\n")
    a.s.settimeout(1.0)
    try:
        early = a.read_line()
    except (socket.timeout, TimeoutError):
        early = b""
    checks.eq(early, b"", "A's APPEND is stuck in fsync (no answer while the stall file exists)")
    a.s.settimeout(WAIT)

    # Meanwhile B gets everything done.
    def step(what, fn):
        try:
            return fn()
        except (OSError, ConnectionError, smtplib.SMTPException) as e:
            lib.fail(f"B: {what} while A is stuck: {e!r} (old code: one io thread did all "
                     "mailbox work, so A's fsync held every user)")

    r = step("NOOP", lambda: b.cmd("n", b"NOOP"))
    checks.ok(b"n OK" in r, "B: NOOP answered while A is stuck", r.decode(errors="replace"))
    r = step("FETCH", lambda: b.cmd("f", b"FETCH 1 (BODY[])"))
    checks.ok(b"f OK" in r and b"x" * 20000 in r, "B: FETCH 1 BODY[] answered while A is stuck")
    r = step("STORE", lambda: b.cmd("t", b"STORE 1 +FLAGS (\\Answered)"))
    checks.ok(b"t OK" in r, "B: STORE answered while A is stuck", r.decode(errors="replace"))
    r = step("APPEND", lambda: b.cmd("p", b"APPEND Archive {12+}\r\nSubject: y\r\n"))
    checks.ok(b"p OK" in r, "B: APPEND (fsyncs of B's files) answered while A is stuck",
              r.decode(errors="replace"))
    b2 = step("connect", lambda: Raw(imaps_port))
    r = step("LOGIN", lambda: b2.cmd("l", f"LOGIN {BOB} {home.passwords[BOB]}".encode()))
    checks.ok(b"l OK" in r, "B: a new connection logs in while A is stuck", r.decode(errors="replace"))
    refused = step("LMTP", lambda: deliver(home.port, BOB, "while A is stuck"))
    checks.eq(refused, {}, "B: LMTP delivery to B answered 250 while A is stuck")
    r = step("SELECT", lambda: b2.cmd("s", b"SELECT INBOX"))
    checks.ok(b"2 EXISTS" in r, "B: the new session's SELECT sees the delivery",
              r.decode(errors="replace"))
    r = step("NOOP", lambda: b.cmd("m", b"NOOP"))
    checks.ok(b"2 EXISTS" in r, "B: the open session learns of the delivery", r.decode(errors="replace"))
    b2.close()

    # The order proof, no clock: A is still waiting after all of B's work.
    a.s.settimeout(0.2)
    try:
        late = a.read_line()
    except (socket.timeout, TimeoutError):
        late = b""
    checks.eq(late, b"", "A's APPEND was still stuck when B had finished")
    a.s.settimeout(WAIT)

    # A's own later work (a delivery to A: the link into A's new/ is fsync'd) waits behind
    # A's stuck command on A's strand; it completes once the stall ends.
    result: dict = {}

    def deliver_to_a():
        try:
            result["refused"] = deliver(home.port, DEMO, "for A after the stall")
        except (OSError, smtplib.SMTPException) as e:
            result["error"] = repr(e)

    t = threading.Thread(target=deliver_to_a)
    t.start()
    stall.unlink()
    r = a.tagged("st")
    checks.ok(b"st OK" in r, "A's APPEND completes once the fsync returns", r.decode(errors="replace"))
    t.join(WAIT)
    checks.ok(result.get("refused") == {}, "the delivery to A completes after the stall",
              repr(result))
    a.close()
    b.close()
    checks.eq(home.stop(), 0, "home stops cleanly")


if __name__ == "__main__":
    lib.run_main(main)
