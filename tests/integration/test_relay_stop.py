"""splitmail-relay stopped with SIGTERM answers the DATA it is queueing (issue 12 item 7).

Before: SIGTERM stopped the event loop at once. A message whose spool commit was in flight
became durable (the committer finishes in its destructor) but its 250 was never written, so
the client, seeing the connection drop, sent it again: delivered twice.

To hold a commit in flight for as long as the test needs, the relay runs with a small
LD_PRELOAD shim (built here with cc) whose fsync/fdatasync wait while a "stall" file exists.
Checks:
  A. a client ends DATA, fsync is stalled, SIGTERM arrives; once the stall ends the client
     gets its 250, the relay exits 0, the message reaches the Maildir exactly once after a
     restart (a client that got no 250 sends it again, as an MTA would), and no warning;
  B. an idle session does not hold a stopping relay up: exit within 3 s, the client sees EOF;
  C. the drain is capped: with fsync stalled for good, SIGTERM ends the relay after ~10 s
     with a warning naming the unsent reply, status 0;
  D. a silent name server (an outgoing message in its MX lookup) does not delay the stop;
  E. a delivery home has taken but not yet answered (home's fsync stalled by the shim) is
     waited for: the relay stays up, gets home's 250, removes the message and exits 0; a
     restart does not deliver it again. Before, the relay exited at once and the restarted
     one delivered the message a second time (seen in test_filter_clamd);
  F. the same for a remote MX, with a message for two domains and one outbound connection:
     the first domain's transaction is waiting for the MX's reply when SIGTERM comes, the
     second is not started. The relay waits for the reply, writes the attempt and exits; after
     the restart the MX has exactly one transaction per domain (before: the first domain got
     the message twice, since the attempt ended only when both jobs had).
"""
import json
import os
import select
import socket
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import outbound_lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void stall(void) {
    const char* f = getenv("SPLITMAIL_TEST_FSYNC_STALL");
    struct stat st;
    if (!f) return;
    for (int i = 0; i < 1200 && stat(f, &st) == 0; ++i) usleep(50000); /* at most 60 s */
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    stall();
    return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    stall();
    return real(fd);
}
"""


def build_shim(d: Path) -> Path:
    src, so = d / "stall_fsync.c", d / "stall_fsync.so"
    src.write_text(SHIM)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(so), str(src), "-ldl"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        lib.fail(f"cannot build the fsync shim: {r.stderr}")
    return so


def end_data(relay: lib.Relay, marker: str) -> lib.SMTP:
    """A transaction up to and including the final '.', reply not yet read."""
    c = lib.SMTP(relay.port)
    c.ehlo()
    checks.eq(c.cmd("MAIL FROM:<stop@sender.test>")[0], 250, f"{marker}: MAIL")
    checks.eq(c.cmd(f"RCPT TO:<{DEMO}>")[0], 250, f"{marker}: RCPT")
    checks.eq(c.cmd("DATA")[0], 354, f"{marker}: DATA")
    c.send(lib.make_message(marker) + b".\r\n")
    return c


def reply_or_eof(c: lib.SMTP) -> tuple[int, str]:
    try:
        return c.reply()
    except (OSError, lib.TestFailure) as e:
        return 0, f"no reply ({e})"


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("relaystop")
    so = build_shim(d)
    stall = d / "stall"
    home = lib.Home(d / "home").start()
    relay = lib.Relay(d / "relay", home)
    env = dict(os.environ)
    env["LD_PRELOAD"] = str(so)
    env["SPLITMAIL_TEST_FSYNC_STALL"] = str(stall)
    # The shim is loaded before a dynamically linked sanitizer runtime (ASan+UBSan pass).
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    relay.daemon.env = env
    relay.start()

    # A. SIGTERM while a commit is in flight: the reply is still written.
    stall.touch()
    c = end_data(relay, "stop-a")
    time.sleep(0.5)  # the relay has read the '.', its commit waits in fsync
    relay.daemon.signal(signal.SIGTERM)
    time.sleep(0.5)
    checks.ok(relay.daemon.alive(), "A: the relay waits for the commit in flight")
    stall.unlink()
    code, text = reply_or_eof(c)
    c.close()
    checks.eq(code, 250, f"A: the DATA being queued at SIGTERM is answered 250 ({text})")
    # It exits by itself once nothing is owed (stop() only collects the status).
    lib.wait_until(lambda: not relay.daemon.alive(), 5 * lib.SLOW, "the relay to exit after the drain")
    checks.eq(relay.daemon.stop(), 0, "A: relay exits 0 after the drain")
    log = relay.daemon.log_text()
    checks.ok("replies unsent" not in log, "A: no reply left unsent", log[-1500:])
    relay.start()
    if code != 250:  # what any MTA does with a transaction that got no answer
        lib.send_message(relay.port, "stop@sender.test", [DEMO], lib.make_message("stop-a"))
    lib.wait_until(lambda: lib.ids_in_maildir(home).get("stop-a", 0) >= 1, 30 * lib.SLOW,
                   "stop-a delivered", daemons=[relay.daemon, home.daemon])
    lib.wait_until(lambda: not relay.queued(), 30 * lib.SLOW, "relay spool empty",
                   daemons=[relay.daemon, home.daemon])
    checks.eq(lib.ids_in_maildir(home).get("stop-a", 0), 1, "A: delivered exactly once")

    # B. Idle sessions do not delay the stop.
    idle = lib.SMTP(relay.port)
    idle.ehlo()
    t0 = time.monotonic()
    rc = relay.daemon.stop()
    took = time.monotonic() - t0
    checks.eq(rc, 0, "B: relay with an idle session exits 0")
    checks.ok(took < 3 * lib.SLOW, f"B: idle session does not delay the stop ({took:.1f}s)")
    idle.until_eof(5, "the stopped relay to close the idle session")  # fails the test if not
    idle.close()

    # C. The drain is capped at 10 s.
    relay.start()
    stall.touch()
    c = end_data(relay, "stop-c")
    time.sleep(0.5)
    t0 = time.monotonic()
    relay.daemon.signal(signal.SIGTERM)
    lib.wait_until(lambda: "replies unsent" in relay.daemon.log_text(), 20 * lib.SLOW,
                   "the relay to give up the drain", daemons=[])
    took = time.monotonic() - t0
    checks.ok(9 <= took < 14 * lib.SLOW, f"C: the drain gives up after ~10 s ({took:.1f}s)")
    stall.unlink()  # the committer still finishes what it started before the process ends
    lib.wait_until(lambda: not relay.daemon.alive(), 10 * lib.SLOW, "the relay to exit")
    rc = relay.daemon.stop()
    checks.eq(rc, 0, "C: relay exits 0 after a capped drain")
    code, _ = reply_or_eof(c)
    c.close()
    checks.ok(code != 250, "C: no 250 after the relay gave up (the client will retry)")

    # D. A silent name server does not hold the stop up: an outgoing message waits in its MX
    # lookup (the resolver is a UDP socket that never answers) when SIGTERM comes. Before,
    # the relay logged "stopped" and then sat ~16 s in libunbound's retries.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    quiet = lib.Relay(d / "relay-d", home, extra={
        "outbound.resolver": f'"127.0.0.1:{silent.getsockname()[1]}"',
        "relay.trusted_networks": '["127.0.0.1/32"]'}).start()
    code, text = lib.send_message(quiet.port, DEMO, ["someone@remote.example"],
                                  lib.make_message("stop-d"))
    checks.eq(code, 250, f"D: the outgoing message is queued ({text})")
    lib.wait_until(lambda: silent.recv(4096, socket.MSG_DONTWAIT) if select.select(
        [silent], [], [], 0.2)[0] else None, 10 * lib.SLOW, "the MX query at the silent server")
    t0 = time.monotonic()
    rc = quiet.daemon.stop()
    took = time.monotonic() - t0
    checks.eq(rc, 0, "D: relay exits 0 with a lookup in flight")
    checks.ok(took < 3 * lib.SLOW, f"D: a silent resolver does not delay the stop ({took:.1f}s)")
    checks.eq(len(quiet.queued()), 1, "D: the message stays queued for the next start")
    silent.close()
    checks.eq(home.daemon.stop(), 0, "home exits 0")

    # E. SIGTERM while home holds its reply to a message it was sent whole.
    home_stall = d / "stall-home"
    slow_home = lib.Home(d / "home-e")
    home_env = dict(env)
    home_env["SPLITMAIL_TEST_FSYNC_STALL"] = str(home_stall)
    slow_home.daemon.env = home_env
    slow_home.start()
    relay_e = lib.Relay(d / "relay-e", slow_home).start()
    # A first message makes the directories (their creation is fsync'd too).
    lib.send_message(relay_e.port, "stop@sender.test", [DEMO], lib.make_message("stop-e0"))
    lib.wait_until(lambda: not relay_e.queued(), 10 * lib.SLOW, "stop-e0 delivered",
                   daemons=[relay_e.daemon, slow_home.daemon])
    home_stall.touch()
    code, text = lib.send_message(relay_e.port, "stop@sender.test", [DEMO],
                                  lib.make_message("stop-e"))
    checks.eq(code, 250, f"E: queued ({text})")
    # Home streams the message into a staged file below <maildir>/.lmtp-tmp and fsyncs it
    # (stalled) before it answers; the message is small, so a non-empty staged file means the
    # relay has sent it whole.
    staged = slow_home.maildir / ".lmtp-tmp"
    lib.wait_until(lambda: staged.is_dir() and any(f.stat().st_size > 0 for f in staged.iterdir()),
                   10 * lib.SLOW, "home to stage stop-e", daemons=[relay_e.daemon, slow_home.daemon])
    time.sleep(0.3)
    relay_e.daemon.signal(signal.SIGTERM)
    time.sleep(1)
    checks.ok(relay_e.daemon.alive(), "E: the relay waits for home's reply to a sent message")
    home_stall.unlink()
    lib.wait_until(lambda: not relay_e.daemon.alive(), 10 * lib.SLOW,
                   "the relay to exit after home answered", daemons=[slow_home.daemon])
    checks.eq(relay_e.daemon.stop(), 0, "E: relay exits 0")
    checks.eq(relay_e.queued(), [], "E: the delivered message left the spool before the exit")
    elog = relay_e.daemon.log_text()
    checks.ok("deliveries in flight" not in elog, "E: no delivery cut off", elog[-1500:])
    relay_e.start()
    lib.wait_until(lambda: lib.ids_in_maildir(slow_home).get("stop-e", 0) >= 1, 10 * lib.SLOW,
                   "stop-e delivered", daemons=[relay_e.daemon, slow_home.daemon])
    time.sleep(1)
    checks.eq(lib.ids_in_maildir(slow_home).get("stop-e", 0), 1,
              "E: delivered exactly once after the restart")
    checks.eq(relay_e.daemon.stop(), 0, "E: restarted relay exits 0")
    checks.eq(slow_home.daemon.stop(), 0, "E: home exits 0")

    # F. SIGTERM while a remote MX holds its reply to the end of DATA.
    dns = outbound_lib.Unbound(d / "dns", {
        "one.test": ["one.test. IN MX 10 mx.one.test.", "mx.one.test. IN A 127.0.0.1"],
        "two.test": ["two.test. IN MX 10 mx.two.test.", "mx.two.test. IN A 127.0.0.1"],
    }).start()
    mx_port = lib.free_port()
    mx = outbound_lib.FakeMx(mx_port, data_delay=3)
    home_f = lib.Home(d / "home-f").start()
    extra = outbound_lib.outbound_relay_extra(dns, mx_port)
    extra["outbound.max_connections"] = "1"
    relay_f = lib.Relay(d / "relay-f", home_f, extra=extra).start()
    code, text = lib.send_message(relay_f.port, DEMO, ["a@one.test", "b@two.test"],
                                  lib.make_message("stop-f"))
    checks.eq(code, 250, f"F: queued ({text})")

    def in_data() -> bool:
        with mx.lock:
            return len(mx.connections) == 1 and mx.connections[0]["mail"] == 1
    lib.wait_until(in_data, 20 * lib.SLOW, "the first transaction at the MX",
                   daemons=[relay_f.daemon])
    time.sleep(0.5)  # the small message is sent; the MX sits on its reply for 3 s
    relay_f.daemon.signal(signal.SIGTERM)
    time.sleep(1)
    checks.ok(relay_f.daemon.alive(), "F: the relay waits for the MX's reply")
    lib.wait_until(lambda: not relay_f.daemon.alive(), 12 * lib.SLOW,
                   "the relay to exit after the MX answered", daemons=[])
    checks.eq(relay_f.daemon.stop(), 0, "F: relay exits 0")
    flog = relay_f.daemon.log_text()
    checks.ok("deliveries in flight" not in flog, "F: no delivery cut off", flog[-1500:])
    with mx.lock:
        first = len(mx.messages)
    checks.eq(first, 1, "F: one domain got the message before the stop")
    # What the stop wrote: the domain that answered is delivered; the one never tried is not
    # charged an attempt and is due at once (not a retry interval after the restart).
    envs = relay_f.queued()
    checks.eq(len(envs), 1, "F: the message stays queued for the untried domain")
    if envs:
        env_json = json.loads(envs[0].read_text())
        states = sorted(r["state"] for r in env_json["recipients"])
        checks.ok(states.count("delivered") == 1 and len(states) == 2,
                  "F: the answered domain is recorded delivered, the other open", str(states))
        checks.eq(env_json["attempts"], 0, "F: the untried domain was not charged an attempt")
        checks.ok(env_json["next_attempt"] <= time.time(), "F: due at once after the restart",
                  f"next_attempt {env_json['next_attempt']} now {time.time():.0f}")
    mx.data_delay = 0
    relay_f.start()
    lib.wait_until(lambda: not relay_f.queued(), 30 * lib.SLOW, "relay-f spool empty",
                   daemons=[relay_f.daemon])
    with mx.lock:
        total = sum(c["mail"] for c in mx.connections)
        got = len(mx.messages)
    checks.eq((got, total), (2, 2), "F: one transaction per domain in all (none repeated)")
    checks.eq(relay_f.daemon.stop(), 0, "F: restarted relay exits 0")
    mx.stop()
    dns.stop()
    checks.eq(home_f.daemon.stop(), 0, "F: home exits 0")


if __name__ == "__main__":
    lib.run_main(main)
