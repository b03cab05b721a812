#!/usr/bin/python3
"""`splitmail check` with a resolver that never answers (issue 16 bug 6).

Before: nothing was printed for 198 s (libunbound retrying every lookup), then everything at
once, and the dns lines said only "make sure resolver … answers".
Fixture: `splitmail provision relay --root R` (two domains, so some 30 lookups are planned);
the resolver is a UDP socket on 127.0.0.1 that reads and drops every packet.
Shows: check finishes within 30 s (per lookup 3 s, the resolver given up after two silent
lookups, the rest "not asked"); its first finding is on stdout within 15 s, while the program
still runs or right before it ends (stdout is a pipe: lines must be flushed as checks finish);
the dns/spf/dkim/tlsa/ptr failures say the resolver did not answer and every fix line names
`--resolver`; exit status 1. The socket did receive queries (the test is not vacuous).
"""
import os
import select
import socket
import subprocess
import threading
import time

import lib
from lib import CLI_BIN, checks

DNS_CHECKS = ("dns", "spf", "dkim", "tlsa", "ptr")


def main():
    lib.require_binaries(CLI_BIN)
    d = lib.tmpdir("check-dead-resolver")
    root = d / "root"
    r = lib.run_tool([str(CLI_BIN), "provision", "relay", "--domain", "example.test",
                      "--domain", "second.test", "--hostname", "mx.example.test",
                      "--public-ipv4", "203.0.113.5", "--root", str(root)], timeout=120)
    checks.eq(r.returncode, 0, "provision relay --root writes the relay tree")
    site = root / "etc/splitmail/site.toml"

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    received = []
    stop = threading.Event()

    def drop():
        while not stop.is_set():
            if select.select([sink], [], [], 0.2)[0]:
                received.append(sink.recvfrom(4096)[0])
    t = threading.Thread(target=drop, daemon=True)
    t.start()

    t0 = time.monotonic()
    p = subprocess.Popen([str(CLI_BIN), "check", "--site", str(site), "--resolver",
                          f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []  # (seconds since start, line)
    deadline = t0 + 60 * lib.SLOW
    os.set_blocking(p.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        ready = select.select([p.stdout], [], [], 0.2)[0]
        if ready:
            chunk = p.stdout.read()
            if chunk:
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    lines.append((time.monotonic() - t0, line.decode(errors="replace")))
                continue
        if p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
        p.wait()
        stop.set()
        lib.fail("splitmail check with a silent resolver still ran after 60 s; first output "
                 f"at {lines[0][0] if lines else None} s")
    total = time.monotonic() - t0
    rest = p.stdout.read() or b""
    buf += rest
    for line in buf.decode(errors="replace").splitlines():
        lines.append((total, line))
    err = p.stderr.read().decode(errors="replace")
    stop.set()
    t.join()
    text = "\n".join(l for _, l in lines)
    lib.log(f"check took {total:.1f} s; first line after {lines[0][0] if lines else -1:.1f} s")
    checks.ok(total < 30 * lib.SLOW, "check with a silent resolver ends within 30 s",
              f"{total:.1f} s\n{text}")
    checks.ok(bool(lines) and lines[0][0] < 15 * lib.SLOW,
              "its first finding is printed within 15 s", f"{lines[:1]}")
    checks.eq(p.returncode, 1, "exit status 1 (problems found)")
    checks.ok(len(received) >= 2, "the resolver socket received the lookups",
              f"{len(received)} packets")
    checks.ok(lib.sanitizer_report_in(text + err) == "", "no sanitizer report", err)

    # The findings of the DNS checks and their fix lines.
    marks = [l for _, l in lines if l[:1] in ("\u2713", "!", "\u2717")]
    dns_lines = [l for l in marks if l.split()[1] in DNS_CHECKS]
    checks.ok(dns_lines and all(l.startswith("\u2717") for l in dns_lines),
              "every dns/spf/dkim/tlsa/ptr finding fails", "\n".join(dns_lines))
    checks.ok(any("did not answer" in l for l in dns_lines) and
              any("not asked" in l or "not looked up" in l for l in dns_lines),
              "they say the resolver did not answer and the rest was not asked", text)
    fixes = []
    for i, (_, l) in enumerate(lines):
        if l[:1] == "\u2717" and l.split()[1] in DNS_CHECKS:
            nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
            fixes.append(nxt.strip())
    checks.ok(fixes and all(f.startswith("fix:") and "--resolver" in f and str(port) in f
                            for f in fixes),
              "every DNS fix line names the resolver asked and --resolver", "\n".join(fixes))
    checks.ok(len(dns_lines) <= 15,
              "a dead resolver is not one failure per planned record", f"{len(dns_lines)} lines")


lib.run_main(main)
