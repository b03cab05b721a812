"""Outbound delivery end to end: real unbound on loopback serves MX/A/AAAA for test domains,
Postfix's smtp-sink is the receiving MX, splitmail-home receives the bounces.

Cases (issue 3, delivery queue): a trusted client's message to two recipients of one domain
arrives at the MX in one transaction with its content intact; implicit MX (A only); null MX
bounces at once into the sender's home Maildir with 5.1.10; the null sender never gets a
bounce; an MX answering 5xx produces a bounce through the inbound path; an MX answering 4xx
is retried (visible in `splitmail queue list` with next attempt and last error) and the
message is delivered when it recovers; MX fallback when the preferred host (IPv6) is down;
an MX that answers 4xx until the lifetime ends gives exactly one delay notice, then one
failure notice that says the message expired. NXDOMAIN bounces at once with 5.1.2; a dead
resolver is 4.4.3, retried (two attempts in `queue list`) and never bounced; an MX whose
STARTTLS handshake fails gets the message in one plaintext retry; with
outbound.connections_per_domain 2, ten messages to one domain use at most two connections at
once and reuse them (RSET between transactions).
"""
from __future__ import annotations

import re
import time

import lib
from lib import DEMO, Home, Relay, checks, log, require_binaries, run_main, send_message, tmpdir, \
    wait_until
from outbound_lib import FakeMx, Sink, Unbound, outbound_relay_extra, queue_list


def message(marker: str, to: str, sender: str = DEMO, extra: str = "") -> bytes:
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: outbound {marker}\r\n"
            f"Message-ID: <{marker}@example.test>\r\nX-Test-Id: {marker}\r\n{extra}\r\n"
            f".leading dot line of {marker}\r\nbody of {marker}\r\n").encode()


def bounces_with(home: Home, marker: str) -> list[bytes]:
    out = []
    for p in home.messages(DEMO):
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            continue
        if marker.encode() in raw and b"multipart/report" in raw:
            out.append(raw)
    return out


def main() -> None:
    require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    d = tmpdir("outbound")
    dns = Unbound(d / "dns", {
        "remote.test": ["remote.test. IN MX 10 mx.remote.test.",
                        "mx.remote.test. IN A 127.0.0.1"],
        "implicit.test": ["implicit.test. IN A 127.0.0.1"],
        "nullmx.test": ["nullmx.test. IN MX 0 ."],
        # Preferred host only on IPv6 [::1], where nothing listens: fall back to mx2.
        "fallback.test": ["fallback.test. IN MX 10 mx1.fallback.test.",
                          "fallback.test. IN MX 20 mx2.fallback.test.",
                          "mx1.fallback.test. IN AAAA ::1",
                          "mx2.fallback.test. IN A 127.0.0.1"],
    }).start()
    mx_port = lib.free_port()
    home = Home(d / "home").start()
    relay = Relay(d / "relay", home, extra=outbound_relay_extra(dns, mx_port)).start()
    sink = Sink(d / "sink", mx_port).start()

    # 1. Two recipients at one domain: one transaction, content intact.
    log("delivery to remote.test through the MX")
    code, text = send_message(relay.port, DEMO, ["alice@remote.test", "bob@remote.test"],
                              message("OUT1", "alice@remote.test"))
    checks.eq(code, 250, "trusted client may send to a foreign domain without AUTH")
    got = wait_until(lambda: sink.with_marker("OUT1"), 30, "OUT1 at the receiving MX",
                     daemons=[relay.daemon])
    checks.eq(len(got), 1, "one transaction carries both recipients of remote.test")
    dump = got[0].decode("utf-8", "replace")
    rcpts = re.findall(r"(?m)^X-Rcpt-Args: (?:TO:)?<([^>]+)>", dump)
    checks.eq(sorted(rcpts), ["alice@remote.test", "bob@remote.test"],
              "both recipients in the envelope at the MX")
    checks.ok(re.search(r"(?m)^X-Mail-Args: (?:FROM:)?<demo@example\.test>", dump) is not None,
              "envelope sender kept", dump[:400])
    checks.ok("\n.leading dot line of OUT1" in dump.replace("\r\n", "\n"),
              "dot-stuffing undone by the MX (line starting with '.' intact)", dump)
    checks.ok("Subject: outbound OUT1" in dump and "body of OUT1" in dump,
              "header and body arrive unchanged")
    checks.ok(re.search(r"(?m)^X-Helo-Args: mx\.example\.test", dump) is not None,
              "EHLO with relay.hostname", dump[:400])
    wait_until(lambda: not relay.queued(), 20, "spool empty after delivery")

    # 2. Implicit MX: no MX record, the domain's A record.
    log("implicit MX")
    code, _ = send_message(relay.port, DEMO, ["carol@implicit.test"],
                           message("OUT2", "carol@implicit.test"))
    checks.eq(code, 250, "accepted for implicit.test")
    wait_until(lambda: sink.with_marker("OUT2"), 30, "OUT2 (implicit MX) at the MX")
    checks.ok(True, "implicit MX (A record only) delivered")

    # 3. Null MX: immediate bounce into the sender's home Maildir.
    log("null MX")
    t0 = time.monotonic()
    code, _ = send_message(relay.port, DEMO, ["x@nullmx.test"], message("OUT3", "x@nullmx.test"))
    checks.eq(code, 250, "accepted for nullmx.test")
    b = wait_until(lambda: bounces_with(home, "OUT3"), 30, "null MX bounce in demo's Maildir",
                   daemons=[relay.daemon, home.daemon])
    checks.ok(time.monotonic() - t0 < 15, "null MX bounces at once (no retries)")
    raw = b[0].decode("utf-8", "replace")
    checks.ok("Status: 5.1.10" in raw, "bounce says Status: 5.1.10 (RFC 7505)", raw[:1500])
    checks.ok("Final-Recipient: rfc822; x@nullmx.test" in raw, "bounce names the recipient")
    checks.ok("Action: failed" in raw and "message/delivery-status" in raw,
              "RFC 3464 report")
    checks.ok(not sink.with_marker("OUT3"), "nothing sent to any MX for a null MX domain")

    # 3b. NXDOMAIN: the recipient's domain does not exist -> bounce with 5.1.2, no retries
    # (docs/architecture.md: "NXDOMAIN -> 5.1.2; DNS trouble -> 4.4.3 and retry").
    log("NXDOMAIN")
    t0 = time.monotonic()
    code, _ = send_message(relay.port, DEMO, ["x@nosuch.remote.test"],
                           message("OUTNX", "x@nosuch.remote.test"))
    checks.eq(code, 250, "accepted for nosuch.remote.test")
    b = wait_until(lambda: bounces_with(home, "OUTNX"), 30, "NXDOMAIN bounce in demo's Maildir",
                   daemons=[relay.daemon, home.daemon])
    checks.ok(time.monotonic() - t0 < 15, "NXDOMAIN bounces at once (no retries)")
    raw = b[0].decode("utf-8", "replace")
    checks.ok("Status: 5.1.2" in raw and "Action: failed" in raw,
              "NXDOMAIN bounce says Action: failed, Status: 5.1.2", raw[:1500])
    checks.ok(not sink.with_marker("OUTNX"), "nothing sent to any MX for a missing domain")
    wait_until(lambda: not relay.queued(), 20, "spool empty after the NXDOMAIN bounce")

    # 3c. A dead resolver is DNS trouble, not an answer: 4.4.3, retried, never bounced.
    log("dead resolver")
    dead_dns = type("DeadResolver", (), {"port": lib.free_port()})()  # nothing listens there
    r_dead = Relay(d / "relay-deadns", home, extra=outbound_relay_extra(dead_dns, mx_port)).start()
    before_bounces = len([p for p in home.messages(DEMO) if b"multipart/report" in p.read_bytes()])
    code, _ = send_message(r_dead.port, DEMO, ["alice@remote.test"],
                           message("OUTDNS", "alice@remote.test"))
    checks.eq(code, 250, "accepted with the resolver down")
    lib.wait_attempts(r_dead.spool, 1, n=2, timeout=60, daemons=[r_dead.daemon])
    listing = queue_list(r_dead)
    checks.ok("4.4.3" in listing, "queue list shows the 4.4.3 DNS failure as the last error",
              listing)
    checks.eq(len([p for p in home.messages(DEMO) if b"multipart/report" in p.read_bytes()]),
              before_bounces, "no bounce for a message that failed on DNS trouble")
    checks.ok(not sink.with_marker("OUTDNS"), "nothing sent while DNS is down")
    r_dead.stop()

    # 3d. STARTTLS offered but the handshake fails: one retry in plaintext delivers
    # (docs/architecture.md: "a failed handshake is retried once in plaintext").
    log("broken STARTTLS at the MX")
    broken_port = lib.free_port()
    broken = FakeMx(broken_port, broken_tls=True)
    r_tls = Relay(d / "relay-brokentls", home,
                  extra=outbound_relay_extra(dns, broken_port)).start()
    code, _ = send_message(r_tls.port, DEMO, ["alice@remote.test"],
                           message("OUTTLS", "alice@remote.test"))
    checks.eq(code, 250, "accepted for an MX with broken STARTTLS")
    wait_until(lambda: any(b"OUTTLS" in m for m in broken.messages), 30,
               "OUTTLS delivered in plaintext after the failed handshake", daemons=[r_tls.daemon])
    wait_until(lambda: not r_tls.queued(), 20, "spool empty after the plaintext retry")
    with broken.lock:
        conns = [dict(c) for c in broken.connections]
    tried = [c for c in conns if c["starttls"]]
    plain = [c for c in conns if not c["starttls"] and c["mail"] > 0]
    in_order = len(tried) == 1 and len(plain) == 1 and conns.index(tried[0]) < conns.index(plain[0])
    checks.ok(in_order, "one STARTTLS attempt, then exactly one plaintext delivery", str(conns))
    checks.eq(sum(b"OUTTLS" in m for m in broken.messages), 1, "delivered exactly once")
    r_tls.stop()
    broken.stop()

    # 3e. Per-destination cap and connection reuse (docs/architecture.md: workers per domain,
    # outbound.connections_per_domain, keep their connection and run the next job after RSET).
    log("per-destination cap and connection reuse")
    slow_port = lib.free_port()
    slow = FakeMx(slow_port, data_delay=0.3)
    extra = outbound_relay_extra(dns, slow_port)
    extra["outbound.connections_per_domain"] = "2"
    r_cap = Relay(d / "relay-cap", home, extra=extra).start()
    n = 10
    for i in range(n):
        code, _ = send_message(r_cap.port, DEMO, [f"u{i}@remote.test"],
                               message(f"OUTCAP{i}", f"u{i}@remote.test"))
        if code != 250:
            lib.fail(f"OUTCAP{i} not accepted: {code}")
    wait_until(lambda: all(any(f"OUTCAP{i}".encode() in m for m in slow.messages)
                           for i in range(n)), 60, f"all {n} OUTCAP messages at the MX",
               daemons=[r_cap.daemon])
    with slow.lock:
        conns = [dict(c) for c in slow.connections]
        max_open = slow.max_open
    checks.ok(max_open <= 2, f"at most 2 connections at once to remote.test (saw {max_open})")
    checks.ok(len(conns) < n and sum(c["mail"] for c in conns) == n,
              f"{n} transactions over {len(conns)} connections (reused)", str(conns))
    checks.ok(any(c["mail"] >= 2 and c["rset"] >= 1 for c in conns),
              "a reused connection saw RSET between transactions", str(conns))
    r_cap.stop()
    slow.stop()

    # 4. The null sender never gets a bounce.
    log("null sender to null MX")
    before = home.count(DEMO)
    code, _ = send_message(relay.port, "", ["y@nullmx.test"], message("OUT4", "y@nullmx.test"))
    checks.eq(code, 250, "bounce-like message (MAIL FROM:<>) accepted")
    wait_until(lambda: "OUT4" not in relay.queued_text()
               and not relay.queued(), 20, "OUT4 settled and removed from the queue")
    time.sleep(1.5)
    checks.eq(home.count(DEMO), before, "no bounce for the null sender")
    checks.ok("no notice sent" in relay.daemon.log_text(), "relay logs that no notice was sent")

    # 5. 5xx at RCPT: bounce through the inbound path to home.
    log("MX answering 5xx")
    sink.stop()
    sink = Sink(d / "sink", mx_port, hard="RCPT").start()
    code, _ = send_message(relay.port, DEMO, ["dave@remote.test"], message("OUT5", "dave@remote.test"))
    checks.eq(code, 250, "accepted for dave@remote.test")
    b = wait_until(lambda: bounces_with(home, "OUT5"), 30, "5xx bounce in demo's Maildir",
                   daemons=[relay.daemon, home.daemon])
    raw = b[0].decode("utf-8", "replace")
    checks.ok(re.search(r"Status: 5\.\d+\.\d+", raw) is not None, "bounce carries a 5.x.x status",
              raw[:1500])
    checks.ok(re.search(r"Diagnostic-Code: smtp; 5\d\d", raw) is not None,
              "bounce quotes the MX's 5xx reply", raw[:2000])
    checks.ok("mx.remote.test[127.0.0.1]" in raw, "bounce names the remote MX host")
    checks.ok(re.search(r"(?m)^Auto-Submitted: auto-replied", raw) is not None,
              "bounce is Auto-Submitted")
    wait_until(lambda: not relay.queued(), 20, "spool empty after the bounce")

    # 6. 4xx: retried, visible in the queue, delivered when the MX recovers.
    log("MX answering 4xx, then recovering")
    sink.stop()
    sink = Sink(d / "sink", mx_port, soft="RCPT").start()
    code, _ = send_message(relay.port, DEMO, ["erin@remote.test"], message("OUT6", "erin@remote.test"))
    checks.eq(code, 250, "accepted for erin@remote.test")

    def deferred_twice() -> str:
        out = queue_list(relay)
        m = re.search(r"attempts (\d+)", out)
        return out if m and int(m.group(1)) >= 2 else ""

    listing = wait_until(deferred_twice, 30, "two failed attempts in `splitmail queue list`")
    checks.ok("next " in listing, "queue list shows the next attempt", listing)
    checks.ok(re.search(r"4\d\d", listing) is not None and "mx.remote.test" in listing,
              "queue list shows the last error (the MX's 4xx)", listing)
    checks.ok(not bounces_with(home, "OUT6"), "no bounce for a temporary failure")
    sink.stop()
    sink = Sink(d / "sink", mx_port).start()
    wait_until(lambda: sink.with_marker("OUT6"), 30, "OUT6 delivered after the MX recovered",
               daemons=[relay.daemon])
    checks.ok(True, "4xx retried, then delivered")
    wait_until(lambda: not relay.queued(), 20, "spool empty after the retry")

    # 7. Fallback: preferred MX (IPv6 ::1) refuses connections, the next one takes it.
    log("MX fallback")
    code, _ = send_message(relay.port, DEMO, ["frank@fallback.test"],
                           message("OUT7", "frank@fallback.test"))
    checks.eq(code, 250, "accepted for fallback.test")
    wait_until(lambda: sink.with_marker("OUT7"), 30, "OUT7 at the second MX",
               daemons=[relay.daemon])
    rl = relay.daemon.log_text()
    checks.ok("mx1.fallback.test[::1]" in rl, "the preferred host (IPv6) was tried first")
    checks.ok(re.search(r"delivered .*frank@fallback\.test.*mx2\.fallback\.test", rl) is not None,
              "delivered through mx2", rl[-2000:])

    # 8. Without trust, relaying stays refused (a fresh relay with no trusted networks).
    log("untrusted client")
    extra = outbound_relay_extra(dns, mx_port)
    extra["relay.trusted_networks"] = "[]"
    r2 = Relay(d / "relay2", home, extra=extra).start()
    with lib.SMTP(r2.port) as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{DEMO}>")
        code, text = c.cmd("RCPT TO:<zed@remote.test>")
    checks.eq(code, 554, "untrusted client: relaying refused (554 5.7.1)")
    r2.stop()

    # 9. Delay notice, then expiry (RFC 3464, RFC 5321 4.5.4.1): a relay with a 2 s delay
    # warning and a 6 s lifetime against an MX that always answers 4xx.
    log("MX answering 4xx until the lifetime ends: one delay notice, then one failure")
    soft_port = lib.free_port()
    soft = Sink(d / "sink-soft", soft_port, soft="RCPT").start()
    extra = outbound_relay_extra(dns, soft_port)
    extra["outbound.delay_warning"] = '"2s"'
    extra["outbound.message_lifetime"] = '"6s"'
    r3 = Relay(d / "relay3", home, extra=extra).start()
    code, _ = send_message(r3.port, DEMO, ["gina@remote.test"], message("OUT9", "gina@remote.test"))
    checks.eq(code, 250, "accepted for gina@remote.test")

    def notices(action: str) -> list[str]:
        return [b.decode("utf-8", "replace") for b in bounces_with(home, "OUT9")
                if f"Action: {action}".encode() in b]

    delayed = wait_until(lambda: notices("delayed"), 20, "a delay notice for OUT9",
                         daemons=[r3.daemon])
    checks.ok(len(delayed) == 1 and re.search(r"Status: 4\.\d+\.\d+", delayed[0]) is not None,
              "one delay notice with a 4.x.x status", delayed[0][:2000] if delayed else "")
    checks.ok("will keep trying" in (delayed[0] if delayed else ""),
              "the delay notice says the relay keeps trying")
    failed = wait_until(lambda: notices("failed"), 30, "the expiry bounce for OUT9",
                        daemons=[r3.daemon])
    checks.eq(len(failed), 1, "one failure notice after the lifetime")
    checks.ok("expired after 6 seconds" in (failed[0] if failed else ""),
              "the failure notice says the message expired (and after how long)",
              failed[0][:2000] if failed else "")
    wait_until(lambda: not r3.queued(), 20, "relay3's spool empty after the expiry")
    time.sleep(1.5 * lib.SLOW)
    checks.eq(len(notices("delayed")), 1, "still exactly one delay notice")
    checks.eq(soft.with_marker("OUT9"), [], "the 4xx MX never took OUT9")
    r3.stop()
    soft.stop()

    relay.stop()
    sink.stop()
    dns.stop()
    home.stop()


if __name__ == "__main__":
    run_main(main)
