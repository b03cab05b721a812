#!/usr/bin/python3
"""splitmail-ddns when deSEC or the network push back, and when the configuration is wrong.

Sub-checks: 429 + Retry-After obeyed (no API request before it has passed); 5xx then recovery
with backoff; 401/403/404 end with their exit codes and a clear message and no hot loop;
CGNAT, private and loopback addresses are never published; a group-readable token file is
refused; TLS is verified (a wrong CA fails); a flapping address is damped; the write limits
hold while the address changes every second."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("SPLITMAIL_SRC", "."), "tests/fakes/desec"))
import harness  # noqa: E402
from harness import DOMAIN, IP4_A, IP4_B, IP6_A, check  # noqa: E402

checks = harness.Checks()


def with_env(fn, **kw):
    def run():
        env = harness.Env(**kw)
        try:
            fn(env)
        finally:
            env.close()
    return run


def throttle_obeyed(env):
    env.config()
    env.fake.inject(429, count=1, kinds=("write",), retry_after=3)
    env.start_daemon()
    env.wait_for(lambda: env.writes(200), 20, "a successful write")
    w = env.writes()
    check([e["status"] for e in w] == [429, 200], w)
    t429 = w[0]["t"]
    after = [e for e in env.api_requests() if e["t"] > t429]
    check(after, "no request after the 429")
    gap = after[0]["t"] - t429
    check(gap >= 3.0, "next API request %.2fs after the 429, Retry-After was 3" % gap)
    check("Retry-After" in env.log_text(), 'expected: "Retry-After" in env.log_text()')
    # The pending Retry-After survives a restart: --once right after a 429 must wait too.
    env.stop_daemon()
    env.fake.checkip["v4"] = IP4_B
    env.fake.inject(429, count=1, kinds=("write",), retry_after=30)
    rc, out = env.run_once()
    check(rc == 75, (rc, out))
    n = len(env.api_requests())
    rc, out = env.run_once()
    check(rc == 75, (rc, out))
    check(len(env.api_requests()) == n, "API contacted during Retry-After")


def server_error_recovery(env):
    env.config()
    env.fake.inject(503, count=2, kinds=("write",))
    env.start_daemon()
    env.wait_for(lambda: env.writes(200), 30, "recovery")
    w = env.writes()
    check([e["status"] for e in w] == [503, 503, 200], [e["status"] for e in w])
    # retry_initial is 1s: equal jitter keeps each retry at least 0.5s after the failure, and
    # the RRsets are read again before retrying a failed write.
    for a, b in zip(w, w[1:]):
        check(b["t"] - a["t"] >= 0.5, b["t"] - a["t"])
    reads_between = [e for e in env.fake.requests("read") if w[0]["t"] < e["t"] < w[1]["t"]]
    check(reads_between, "no re-read after a failed write")
    check(env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_A],
          'expected: env.fake.rrset(DOMAIN, "", "A")["records"] == [IP4_A]')


def bad_token(env):
    env.write_token("not-the-token")
    env.config()
    rc, out = env.run_once()
    check(rc == 10, (rc, out))
    check("rejected the API token" in out and env.token_file in out, out)
    check(out.count("rejected the API token") == 1, "fatal error logged once (issue 16 bug 9)")
    check("not-the-token" not in out, "token leaked into the log")
    env.start_daemon()
    env.daemon.wait(10)
    check(env.daemon.returncode == 10, env.daemon.returncode)
    check(len(env.api_requests()) == 2, env.api_requests())  # one per run: no hot loop
    env.stop_daemon(expect=10)


def forbidden_scope(env):
    env.config(names=("@",))
    rc, out = env.run_once()
    check(rc == 11, (rc, out))
    check("not allowed" in out, out)
    check(out.count("is not allowed to do this") == 1, "fatal error logged once")
    check(env.fake.rrset(DOMAIN, "", "A") is None,
          'expected: env.fake.rrset(DOMAIN, "", "A") is None')


def unknown_domain(env):
    env.config(domain="other.example")  # exists, but belongs to another account
    rc, out = env.run_once()
    check(rc == 12, (rc, out))
    check("does not know the domain other.example" in out, out)
    check(out.count("does not know the domain other.example") == 1, "fatal error logged once")


def refused_addresses(env):
    for ip, words in (("100.64.1.2", ["CGNAT", "WireGuard"]), ("192.168.1.10", ["private"]),
                      ("192.0.2.7", ["documentation"])):
        env.fake.checkip["v4"] = ip
        env.config(families="ipv4")
        rc, out = env.run_once()
        check(rc == 13, (ip, rc, out))
        for w in words:
            check(w in out, (ip, out))
    env.config(families="ipv4", v4="interface:lo")
    rc, out = env.run_once()
    check(rc == 13 and "loopback" in out, out)
    # IPv6: link-local and unique local.
    for ip, word in (("fe80::1", "link-local"), ("fd00::5", "unique local")):
        env.fake.checkip["v6"] = ip
        env.config(families="ipv6")
        rc, out = env.run_once()
        check(rc == 13 and word in out, (ip, rc, out))
    check(env.writes() == [], env.writes())
    # With both families, the good one is still published and the bad one left alone.
    env.fake.checkip["v4"] = "100.64.1.2"
    env.fake.checkip["v6"] = IP6_A
    env.config(families="both")
    rc, out = env.run_once()
    check(rc == 13, (rc, out))
    check([(i["type"]) for i in env.writes()[0]["body"]] == ["AAAA"],
          'expected: [(i["type"]) for i in env.writes()[0]["body"]] == ["AAAA"]')
    check(env.fake.rrset(DOMAIN, "", "A") is None,
          'expected: env.fake.rrset(DOMAIN, "", "A") is None')


def token_file_permissions(env):
    env.write_token(harness.TOKEN, 0o644)
    env.config()
    rc, out = env.run_once()
    check(rc == 78, (rc, out))
    check("accessible by group or others" in out and "0644" in out, out)
    check(env.api_requests() == [], 'expected: env.api_requests() == []')


def tls_verified(env):
    other = os.path.join(env.dir, "other")
    os.mkdir(other)
    other_ca, _, _ = harness.make_ca(other)
    env.config(ca=other_ca)
    rc, out = env.run_once()
    check(rc == 75, (rc, out))
    check("TLS verification failed" in out, out)
    check(env.fake.log == [], "an HTTP request got through a failed TLS verification")


def flapping_damped(env):
    env.config(extra='damping_half_life = "1h"')
    seq = {"n": 0}

    def next_ip():  # a different address on every check
        seq["n"] += 1
        return [IP4_A, IP4_B][seq["n"] % 2]
    env.fake.checkip["v4"] = next_ip
    env.start_daemon()
    env.wait_for(lambda: seq["n"] >= 12, 30, "12 checks")
    n = len(env.writes())
    check(n == 4, "%d writes while flapping, damping should stop at 4" % n)
    check("flapping" in env.log_text(), 'expected: "flapping" in env.log_text()')


def write_limits_hold(env):
    # Damping off: only the limiter stands between a changing IP and deSEC's limits. The fake
    # enforces deSEC's real limits (2/s, 15/min, ...) and would answer 429.
    env.config(extra="damping = false")
    stop = threading.Event()

    def flap():
        i = 0
        while not stop.is_set():
            i += 1
            env.fake.checkip["v4"] = "81.2.70.%d" % (i % 250 + 1)
            time.sleep(0.3)
    t = threading.Thread(target=flap)
    t.start()
    env.start_daemon()
    try:
        # Poll for the limiter to engage (no fixed sleep: a loaded machine is slower), then
        # keep the address changing a little longer so a limiter that lets writes through
        # would show it.
        env.wait_for(lambda: len(env.writes()) >= 10 and "write limit reached" in env.log_text(),
                     90, "10 writes and the write limiter engaging")
        time.sleep(3)
    finally:
        stop.set()
        t.join()
    w = env.writes()
    check(all(e["status"] == 200 for e in w), [e["status"] for e in w])
    for i, a in enumerate(w):  # deSEC's 15/min: no 60 s window holds more than 15 writes
        in_window = [b for b in w[i:] if b["t"] - a["t"] < 60.0]
        check(len(in_window) <= 15, "%d writes within 60 s" % len(in_window))
    for a, b in zip(w, w[2:]):
        check(b["t"] - a["t"] >= 1.0, "3 writes within a second")
    check("write limit reached" in env.log_text(),
          'expected: "write limit reached" in env.log_text()')


checks.run("throttle_429_retry_after_obeyed", with_env(throttle_obeyed))
checks.run("server_error_then_recovery", with_env(server_error_recovery))
checks.run("bad_token_exit_10", with_env(bad_token))
checks.run("forbidden_token_scope_exit_11", with_env(
    forbidden_scope, token_policies=[{"domain": None, "subname": None, "type": None,
                                      "perm_write": False},
                                     {"domain": DOMAIN, "subname": "www", "type": "A",
                                      "perm_write": True}]))
checks.run("unknown_domain_exit_12", with_env(unknown_domain))
checks.run("cgnat_private_loopback_refused", with_env(refused_addresses))
checks.run("token_file_group_readable_refused", with_env(token_file_permissions))
checks.run("tls_verification_always_on", with_env(tls_verified))
checks.run("flapping_address_damped", with_env(flapping_damped))
checks.run("write_limits_hold_under_constant_change", with_env(write_limits_hold))
checks.finish()
