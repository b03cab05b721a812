#!/usr/bin/python3
"""splitmail-ddns against the fake deSEC: what it writes, and when it must not write.

Sub-checks: first run writes both families for all names in one bulk PATCH; unchanged IP gives
zero writes over many daemon cycles; an IPv4 change gives exactly one write (A only); a restart
does not rewrite; --dry-run writes nothing; TTL is raised to minimum_ttl; RRset lists are read
through cursor pagination."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("SPLITMAIL_SRC", "."), "tests/fakes/desec"))
import harness  # noqa: E402
from harness import DOMAIN, IP4_A, IP4_B, IP6_A, check  # noqa: E402

checks = harness.Checks()
env = harness.Env(minimum_ttl=60)


def first_run_one_bulk_patch():
    env.config(names=("@", "mail"))
    rc, out = env.run_once()
    check(rc == 0, out)
    w = env.writes()
    check(len(w) == 1, w)
    check(w[0]["method"] == "PATCH" and w[0]["status"] == 200, w[0])
    items = {(i["subname"], i["type"]): i for i in w[0]["body"]}
    check(set(items) == {("", "A"), ("", "AAAA"), ("mail", "A"), ("mail", "AAAA")}, items)
    check(items[("", "A")]["records"] == [IP4_A],
          'expected: items[("", "A")]["records"] == [IP4_A]')
    check(items[("mail", "AAAA")]["records"] == [IP6_A],
          'expected: items[("mail", "AAAA")]["records"] == [IP6_A]')
    check(all(i["ttl"] == 60 for i in items.values()), items)
    check(env.fake.rrset(DOMAIN, "mail", "A")["records"] == [IP4_A],
          'expected: env.fake.rrset(DOMAIN, "mail", "A")["records"] == [IP4_A]')
    check("old=(none) new=" + IP4_A in out, out)


def unchanged_ip_zero_writes():
    before_writes = len(env.writes())
    before_checkip = len(env.fake.requests("checkip"))
    reads_before = len(env.fake.requests("read"))
    env.start_daemon()
    # Ten cycles (each asks checkip for both families).
    env.wait_for(lambda: len(env.fake.requests("checkip")) >= before_checkip + 20, 30,
                 "ten cycles")
    check(len(env.writes()) == before_writes, env.writes())
    # Reads only at start: domain + A list + AAAA list.
    check(len(env.fake.requests("read")) - reads_before == 3, env.fake.requests("read"))


def ipv4_change_one_write():
    before = len(env.writes())
    env.fake.checkip["v4"] = IP4_B
    env.wait_for(lambda: len(env.writes()) > before, 15, "the write")
    n_checkip = len(env.fake.requests("checkip"))
    env.wait_for(lambda: len(env.fake.requests("checkip")) >= n_checkip + 10, 20, "5 more cycles")
    w = env.writes()[before:]
    check(len(w) == 1, w)
    check(sorted((i["subname"], i["type"]) for i in w[0]["body"]) == [("", "A"), ("mail", "A")],
          "one write with the A RRsets of @ and mail")
    check(env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_B],
          'expected: env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_B]')
    check(env.fake.rrset(DOMAIN, "", "AAAA")["records"] == [IP6_A],
          'expected: env.fake.rrset(DOMAIN, "", "AAAA")["records"] == [IP6_A]')
    log = env.log_text()
    check("old=" + IP4_A + " new=" + IP4_B in log, log)


def restart_does_not_rewrite():
    rc = env.stop_daemon()
    check(rc == 0, rc)
    check(os.path.exists(env.state_file), 'expected: os.path.exists(env.state_file)')
    before = len(env.writes())
    n = len(env.fake.requests("checkip"))
    env.start_daemon()
    env.wait_for(lambda: len(env.fake.requests("checkip")) >= n + 10, 20, "5 cycles")
    check(len(env.writes()) == before, env.writes()[before:])
    check(env.stop_daemon() == 0, 'expected: env.stop_daemon() == 0')
    rc, out = env.run_once()
    check(rc == 0 and "records are current" in out, out)
    check(len(env.writes()) == before, 'expected: len(env.writes()) == before')


def dry_run_writes_nothing():
    env.fake.checkip["v4"] = IP4_A
    before = len(env.writes())
    state_before = open(env.state_file).read()
    rc, out = env.run_once("--dry-run")
    check(rc == 0, out)
    check("would change" in out and "new=" + IP4_A in out, out)
    check(len(env.writes()) == before, 'expected: len(env.writes()) == before')
    check(open(env.state_file).read() == state_before,
          'expected: open(env.state_file).read() == state_before')
    check(env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_B],
          'expected: env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_B]')


def ttl_raised_to_minimum():
    e = harness.Env(minimum_ttl=300)
    try:
        e.config(extra="ttl = 30")
        rc, out = e.run_once()
        check(rc == 0, out)
        check(e.fake.rrset(DOMAIN, "", "A")["ttl"] == 300,
              'expected: e.fake.rrset(DOMAIN, "", "A")["ttl"] == 300')
        check("minimum_ttl" in out, out)
    finally:
        e.close()


def pagination_followed():
    e = harness.Env(page_size=2)
    try:
        names = ("@", "a", "b", "c", "d")
        for n in names:
            e.fake.set_rrset(DOMAIN, "" if n == "@" else n, "A", [IP4_A], 60)
            e.fake.set_rrset(DOMAIN, "" if n == "@" else n, "AAAA", [IP6_A], 60)
        e.config(names=names)
        rc, out = e.run_once()
        check(rc == 0, out)
        check(e.writes() == [], e.writes())  # everything matched: all pages were seen
        a_pages = [r for r in e.fake.requests("read") if "type=A" in r["query"]
                   and "AAAA" not in r["query"]]
        check(len(a_pages) == 3, a_pages)  # 5 RRsets in pages of 2
        check(all("cursor=" in r["query"] for r in a_pages),
              'expected: all("cursor=" in r["query"] for r in a_pages)')
    finally:
        e.close()


def systemd_notify_ready_and_stopping():
    """Type=notify (docs/operations.md): READY=1 once the daemon runs, STOPPING=1 on SIGTERM,
    sent to $NOTIFY_SOCKET; `--once` sends neither."""
    e = harness.Env()
    sock_path = os.path.join(e.dir, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    try:
        e.config()
        r = subprocess.run([harness.binary(), "--config", e.config_file, "--once"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, NOTIFY_SOCKET=sock_path))
        check(r.returncode == 0, r.stdout + r.stderr)
        harness.check_no_sanitizer_report(r.stdout + r.stderr, "splitmail-ddns --once")
        s.settimeout(0.5)
        try:
            got = s.recv(512)
        except socket.timeout:
            got = b""
        check(got == b"", "--once sent %r to NOTIFY_SOCKET" % got)
        e.start_daemon(env={"NOTIFY_SOCKET": sock_path})
        s.settimeout(20)
        first = s.recv(512).decode()
        check(first.startswith("READY=1"), "first notification %r, expected READY=1" % first)
        check(e.stop_daemon() == 0, "splitmail-ddns exits 0 on SIGTERM")
        s.settimeout(5)
        rest = []
        try:
            while True:
                rest.append(s.recv(512).decode())
        except socket.timeout:
            pass
        check(rest == ["STOPPING=1"], "after SIGTERM: %r, expected ['STOPPING=1']" % rest)
    finally:
        s.close()
        e.close()


try:
    checks.run("systemd_notify_ready_and_stopping", systemd_notify_ready_and_stopping)
    checks.run("first_run_one_bulk_patch_both_families", first_run_one_bulk_patch)
    checks.run("unchanged_ip_zero_writes_over_ten_cycles", unchanged_ip_zero_writes)
    checks.run("ipv4_change_exactly_one_write", ipv4_change_one_write)
    checks.run("restart_does_not_rewrite", restart_does_not_rewrite)
    checks.run("dry_run_writes_nothing", dry_run_writes_nothing)
    checks.run("ttl_raised_to_minimum_ttl", ttl_raised_to_minimum)
    checks.run("rrset_pagination_followed", pagination_followed)
finally:
    env.close()
checks.finish()
