"""clamd at SMTP time (issue 18): a real clamd started by the test with a signature database
the test writes (an .ndb body signature for the EICAR test string; no freshclam, no download),
splitmail-relay with clamav.enabled, splitmail-home behind it.

Checks:
- unix socket (LocalSocket): an EICAR attachment gets 554 5.7.1 naming the test signature,
  nothing queued, no spool temp file left, nothing delivered, the refusal logged;
- a clean attachment of 300 KB (several zINSTREAM chunks) passes: 250, delivered once,
  byte-identical body, X-Virus-Status: Clean;
- EICAR beyond the first 64 KiB chunk is found too (the whole file is streamed);
- TCP socket (TCPSocket on loopback): EICAR refused the same way;
- clamd stopped, on_failure = accept (default): 250, delivered with X-Virus-Status:
  unchecked and a warning in the log; on_failure = tempfail: 451 4.7.1, nothing queued;
  clamd back: the retried message is delivered (no mail lost);
- a message over clamav.max_size is accepted unscanned (X-Virus-Status: unchecked (too large));
- a clamd that accepts and never answers: after clamav.timeout (2s) the message is accepted
  unchecked (the watchdog deadline ends the exchange), the warning says timeout;
- clamd's StreamMaxLength below clamav.max_size: its size-limit ERROR (and hang-up) is a
  failure like any other: accepted unchecked, the relay unharmed.
"""
from __future__ import annotations

import base64
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filter_lib  # noqa: E402
import lib  # noqa: E402
from filter_lib import EICAR, EICAR_SIGNATURE  # noqa: E402
from lib import DEMO, checks, log, wait_until  # noqa: E402

SENDER = "someone@sender.test"


def with_attachment(marker: str, payload: bytes, encode: bool = True) -> bytes:
    """multipart/mixed with one attachment; `encode` False puts the payload in as is (7bit)."""
    if encode:
        b64 = base64.encodebytes(payload).decode().replace("\n", "\r\n")
        part = ("Content-Type: application/octet-stream; name=file.bin\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + b64)
    else:
        part = ("Content-Type: text/plain; name=file.txt\r\n\r\n" +
                payload.decode() + "\r\n")
    return (f"From: <{SENDER}>\r\nTo: <{DEMO}>\r\nSubject: clamd {marker}\r\n"
            f"Message-ID: <{marker}@sender.test>\r\nX-Test-Id: {marker}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            f"--b\r\nContent-Type: text/plain\r\n\r\nsee attachment {marker}\r\n"
            f"--b\r\n{part}--b--\r\n").encode()


def header(raw: bytes, name: str) -> list[str]:
    return [" ".join(str(v).split()) for v in lib.headers_of(raw).get_all(name, [])]


def refused(relay: lib.Relay, home: lib.Home, marker: str, data: bytes, what: str) -> None:
    code, text = lib.send_message(relay.port, SENDER, [DEMO], data)
    checks.ok(code == 554 and text.startswith("5.7.1") and EICAR_SIGNATURE in text,
              f"{what}: 554 5.7.1 naming {EICAR_SIGNATURE}", f"{code} {text}")
    checks.eq(relay.queued(), [], f"{what}: nothing queued")
    checks.eq(filter_lib.spool_tmp_files(relay), [], f"{what}: no temp file left in the spool")
    checks.ok(marker not in lib.ids_in_maildir(home), f"{what}: nothing delivered")


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("filter-clamd")
    clamd = filter_lib.Clamd(d / "clamd").start()
    home = lib.Home(d / "home").start()
    extra = {"clamav.enabled": "true", "clamav.address": f'"{clamd.address}"',
             "clamav.timeout": '"20s"', "clamav.max_size": '"2M"'}
    relay = lib.Relay(d / "relay", home, extra=extra).start()

    log("EICAR attachment over the unix socket -> 554")
    refused(relay, home, "V1", with_attachment("V1", EICAR.encode(), encode=False),
            "EICAR (unix socket)")
    rlog = relay.daemon.log_text()
    checks.ok(re.search(r"refused client=127\.0\.0\.1 from=" + re.escape(SENDER) +
                        r" to=" + re.escape(DEMO) + r".*clamd: virus " + EICAR_SIGNATURE,
                        rlog) is not None,
              "EICAR: refusal logged with client, from, to and signature",
              "\n".join(rlog.splitlines()[-8:]))

    log("EICAR after 200 KB of text -> found in a later chunk")
    filler = ("filler line " * 6 + "\r\n") * 2800
    refused(relay, home, "V2", with_attachment("V2", (filler + EICAR).encode(), encode=False),
            "EICAR after 200 KB")

    log("clean 300 KB attachment -> 250, byte-identical")
    payload = os.urandom(300 * 1024)
    data = with_attachment("C1", payload)
    code, text = lib.send_message(relay.port, SENDER, [DEMO], data)
    checks.ok(code == 250, "clean attachment: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "C1")
    _, body = lib.split_message(raw)
    _, sent_body = lib.split_message(data)
    checks.ok(body == sent_body or body == sent_body.replace(b"\r\n", b"\n"),
              f"clean attachment: body byte-identical ({len(sent_body)} octets)")
    checks.eq(header(raw, "X-Virus-Status"), ["Clean"], "clean attachment: X-Virus-Status: Clean")
    checks.eq(header(raw, "X-Spam-Status"), [], "rspamd off: no X-Spam-Status")

    log("message over clamav.max_size (2M) -> accepted unscanned")
    code, text = lib.send_message(relay.port, SENDER, [DEMO],
                                  with_attachment("B1", os.urandom(1600 * 1024)))
    checks.ok(code == 250, "over max_size: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "B1")
    checks.eq(header(raw, "X-Virus-Status"), ["unchecked (too large)"],
              "over max_size: X-Virus-Status: unchecked (too large)")

    log("clamd stopped, on_failure = accept -> 250 unchecked")
    clamd.stop()
    code, text = lib.send_message(relay.port, SENDER, [DEMO],
                                  with_attachment("D1", EICAR.encode(), encode=False))
    checks.ok(code == 250, "clamd down, accept: 250 (mail not lost)", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "D1")
    checks.eq(header(raw, "X-Virus-Status"), ["unchecked"], "clamd down: X-Virus-Status: unchecked")
    checks.ok(re.search(r"warn clamd \S+ scan failed .*on_failure=accept",
                        relay.daemon.log_text()) is not None,
              "clamd down: a warning names the failure and the policy")
    relay.stop()

    log("on_failure = tempfail -> 451, then clamd back -> delivered")
    relay.extra["clamav.on_failure"] = '"tempfail"'
    relay.write_config()
    relay.start()
    data = with_attachment("T1", b"harmless")
    code, text = lib.send_message(relay.port, SENDER, [DEMO], data)
    checks.ok(code == 451 and text.startswith("4.7.1"), "clamd down, tempfail: 451 4.7.1",
              f"{code} {text}")
    checks.eq(relay.queued(), [], "tempfail: nothing queued")
    clamd.start()
    code, text = lib.send_message(relay.port, SENDER, [DEMO], data)
    checks.ok(code == 250, "clamd back: the retried message is accepted", f"{code} {text}")
    filter_lib.delivered_with(home, "T1")
    relay.stop()
    clamd.stop()

    log("a clamd that accepts and never answers: clamav.timeout (2s) ends the wait")
    hung = filter_lib.HungScanner()
    relay.extra["clamav.address"] = f'"{hung.address}"'
    relay.extra["clamav.timeout"] = '"2s"'
    relay.extra["clamav.on_failure"] = '"accept"'
    relay.write_config()
    relay.start()
    started = time.monotonic()
    code, text = lib.send_message(relay.port, SENDER, [DEMO], with_attachment("H1", b"slow"))
    took = time.monotonic() - started
    checks.ok(code == 250 and 1.5 <= took < 10, "hung clamd: 250 after the 2s deadline",
              f"{code} {text} after {took:.1f}s")
    checks.ok(hung.connections == 1 and hung.octets > 0,
              "hung clamd: the relay connected and sent the message",
              f"{hung.connections} connections, {hung.octets} octets")
    raw = filter_lib.delivered_with(home, "H1")
    checks.eq(header(raw, "X-Virus-Status"), ["unchecked"], "hung clamd: X-Virus-Status: unchecked")
    checks.ok(re.search(r"warn clamd \S+ scan failed .*error=timeout", relay.daemon.log_text())
              is not None, "hung clamd: the warning says timeout")
    relay.stop()
    hung.close()
    relay.extra["clamav.timeout"] = '"20s"'

    log("clamd's StreamMaxLength (100K) below clamav.max_size: its size ERROR is a failure")
    small = filter_lib.Clamd(d / "clamd-small", stream_max="100K").start()
    relay.extra["clamav.address"] = f'"{small.address}"'
    relay.write_config()
    relay.start()
    code, text = lib.send_message(relay.port, SENDER, [DEMO],
                                  with_attachment("L1", os.urandom(300 * 1024)))
    checks.ok(code == 250, "over StreamMaxLength, accept: 250 (mail not lost)", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "L1")
    checks.eq(header(raw, "X-Virus-Status"), ["unchecked"],
              "over StreamMaxLength: X-Virus-Status: unchecked")
    checks.ok(relay.daemon.alive(), "over StreamMaxLength: the relay survived clamd's hang-up")
    checks.ok(re.search(r"warn clamd \S+ scan failed .*size limit exceeded",
                        relay.daemon.log_text()) is not None,
              "over StreamMaxLength: the warning quotes clamd's size-limit reply",
              "\n".join(relay.daemon.log_text().splitlines()[-5:]))
    relay.stop()
    small.stop()

    log("clamd on a loopback TCP socket")
    clamd_tcp = filter_lib.Clamd(d / "clamd-tcp", tcp=True).start()
    relay.extra["clamav.address"] = f'"{clamd_tcp.address}"'
    relay.write_config()
    relay.start()
    refused(relay, home, "V3", with_attachment("V3", EICAR.encode(), encode=False),
            "EICAR (TCP)")
    code, text = lib.send_message(relay.port, SENDER, [DEMO], with_attachment("C2", b"fine"))
    checks.ok(code == 250, "clean over TCP: 250", f"{code} {text}")
    filter_lib.delivered_with(home, "C2")
    wait_until(lambda: not relay.queued(), 20, "relay spool to be empty")
    ids = lib.ids_in_maildir(home)
    checks.ok(not {"V1", "V2", "V3"} & set(ids), "at the end: no refused message was delivered",
              f"{sorted(ids)}")
    checks.eq({m: ids.get(m) for m in ("C1", "B1", "D1", "T1", "H1", "L1", "C2")},
              {"C1": 1, "B1": 1, "D1": 1, "T1": 1, "H1": 1, "L1": 1, "C2": 1},
              "at the end: each accepted message delivered exactly once")
    relay.stop()
    home.stop()
    clamd_tcp.stop()


if __name__ == "__main__":
    lib.run_main(main)
