"""rspamd at SMTP time (issue 18): a real rspamd 3.4 started by the test (filter_lib.Rspamd),
splitmail-relay with rspamd.enabled, splitmail-home behind it.

Checks:
- GTUBE inbound: DATA answered 550 5.7.1, nothing queued, no spool temp file left, nothing
  delivered, the refusal logged with client, from, to and reason;
- a clean message: 250, delivered once with X-Spam-Status: No (score, required),
  X-Spamd-Result naming rspamd's symbols and X-Spamd-Bar (rspamd's milter.add_headers, from
  its milter_headers module), and without X-Spam: Yes;
- GTUBE's add-header variant: 250, delivered with X-Spam: Yes into the user's Junk folder (not
  the INBOX); a clean message whose sender wrote "X-Spam: Yes" itself stays in the INBOX (home
  trusts only the fields above the relay's Received:);
- submission: an authenticated user's GTUBE gets 550 5.7.1 too (swaks, STARTTLS + AUTH); rspamd's
  own history shows that scan under the user's name (the User header) and the inbound one
  with the client's IP;
- rspamd stopped, on_failure = accept (default): 250, delivered with X-Spam-Status: unchecked,
  a warning in the relay log; on_failure = tempfail: 451 4.7.1, nothing queued; rspamd back:
  the same message is then accepted (no mail lost, the sender's retry gets through).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filter_lib  # noqa: E402
import lib  # noqa: E402
from filter_lib import GTUBE, GTUBE_ADD_HEADER  # noqa: E402
from lib import DEMO, checks, log, wait_until  # noqa: E402

SENDER = "someone@sender.test"


def message(marker: str, text: str, author: str = SENDER) -> bytes:
    return (f"From: Someone <{author}>\r\nTo: <{DEMO}>\r\nSubject: filter {marker}\r\n"
            f"Date: Sun, 06 Dec 2026 01:00:00 +0000\r\nMessage-ID: <{marker}@sender.test>\r\n"
            f"X-Test-Id: {marker}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"Hello,\r\n\r\nthis is message {marker}.\r\n{text}\r\n\r\nRegards\r\n").encode()


def header(raw: bytes, name: str) -> list[str]:
    return [" ".join(str(v).split()) for v in lib.headers_of(raw).get_all(name, [])]


def refused_cleanly(relay: lib.Relay, home: lib.Home, marker: str, what: str) -> None:
    checks.eq(relay.queued(), [], f"{what}: nothing queued")
    checks.eq(filter_lib.spool_tmp_files(relay), [], f"{what}: no temp file left in the spool")
    checks.ok(marker not in lib.ids_in_maildir(home), f"{what}: nothing delivered")


def swaks_submit(port: int, password: str, data: bytes) -> tuple[int, str]:
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--tls",
            "--auth", "PLAIN", "--auth-user", DEMO, "--auth-password", password,
            "--from", DEMO, "--to", DEMO, "--helo", "laptop.test", "--timeout", "30",
            "--data", "-"]
    r = subprocess.run(argv, input=data[:-2], capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("filter-rspamd")
    rspamd = filter_lib.Rspamd(d / "rspamd").start()
    home = lib.Home(d / "home").start()
    cert = lib.make_cert(d, "relay", "mx.example.test")
    sub_port = lib.free_port()
    extra = {"rspamd.enabled": "true", "rspamd.address": f'"{rspamd.address}"',
             "rspamd.timeout": '"15s"', "relay.trusted_networks": "[]",
             "submission.listen": f'["127.0.0.1:{sub_port}"]'}
    relay = lib.Relay(d / "relay", home, tls=cert, extra=extra).start()

    log("GTUBE inbound -> 550 5.7.1 at DATA")
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("G1", GTUBE))
    checks.ok(code == 550 and text.startswith("5.7.1"), "GTUBE: 550 5.7.1 at DATA",
              f"{code} {text}")
    refused_cleanly(relay, home, "G1", "GTUBE")
    rlog = relay.daemon.log_text()
    m = re.search(r"refused client=127\.0\.0\.1 from=" + re.escape(SENDER) + r" to=" +
                  re.escape(DEMO) + r".*reason=\"?rspamd: reject", rlog)
    checks.ok(m is not None, "GTUBE: refusal logged with client, from, to and reason",
              "\n".join(rlog.splitlines()[-10:]))

    log("clean message -> 250, delivered with the score headers")
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("C1", "nothing special"))
    checks.ok(code == 250, "clean: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "C1")
    status = header(raw, "X-Spam-Status")
    checks.ok(len(status) == 1 and re.match(r"No, score=-?\d+\.\d\d required=100\.00 "
                                            r"action=no_action$", status[0]) is not None,
              "clean: X-Spam-Status: No with score and required score", f"{status}")
    result = header(raw, "X-Spamd-Result")
    checks.ok(len(result) == 1 and result[0].startswith("default: False [")
              and "MIME_GOOD(" in result[0],
              "clean: X-Spamd-Result lists rspamd's symbols", f"{result}")
    checks.eq(header(raw, "X-Spam"), [], "clean: no X-Spam: Yes")
    checks.eq(len(header(raw, "X-Spamd-Bar")), 1,
              "clean: rspamd's milter.add_headers applied (X-Spamd-Bar)")
    names = [k.lower() for k in lib.headers_of(raw).keys()]
    checks.ok(names.index("x-spam-status") < names.index("received"),
              "clean: the scan headers are above the relay's Received:", f"{names[:8]}")

    log("GTUBE add-header variant -> 250 with X-Spam: Yes")
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("A1", GTUBE_ADD_HEADER))
    checks.ok(code == 250, "add header: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "A1", folder="Junk")
    checks.eq(header(raw, "X-Spam"), ["Yes"], "add header: X-Spam: Yes")
    checks.ok("A1" not in lib.ids_in_maildir(home), "add header: filed into Junk, not the INBOX")
    checks.ok(header(raw, "X-Spam-Status")[0].startswith("Yes, score=50.00"),
              "add header: X-Spam-Status: Yes, score=50.00", f"{header(raw, 'X-Spam-Status')}")

    log("a sender's own X-Spam: Yes below the relay's Received: -> INBOX")
    forged = message("F1", "nothing special").replace(b"Subject:", b"X-Spam: Yes\r\nSubject:", 1)
    code, text = lib.send_message(relay.port, SENDER, [DEMO], forged)
    checks.ok(code == 250, "forged X-Spam: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "F1")
    checks.eq(header(raw, "X-Spam-Status")[0].split(",")[0], "No",
              "forged X-Spam: rspamd found nothing")
    checks.eq(len(home.messages(folder="Junk")), 1, "forged X-Spam: not filed into Junk")
    # rspamd's milter.remove_headers (X-Spam, X-Spamd-Bar: milter_headers removes what it
    # sets) is applied to the sender's header block: the forged field is gone.
    checks.eq(header(raw, "X-Spam"), [], "forged X-Spam: removed as rspamd asked")

    log("a sender's own X-Spamd-Bar -> replaced by rspamd's (milter.remove_headers applied)")
    own_bar = message("B1", "nothing special").replace(
        b"Subject:", b"X-Spamd-Bar: forged-by-sender\r\nSubject:", 1)
    code, text = lib.send_message(relay.port, SENDER, [DEMO], own_bar)
    checks.ok(code == 250, "own X-Spamd-Bar: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "B1")
    bars = header(raw, "X-Spamd-Bar")
    checks.ok(len(bars) == 1 and "forged" not in bars[0],
              "own X-Spamd-Bar: only rspamd's is left", f"{bars}")
    checks.eq(header(raw, "X-Test-Id"), ["B1"], "own X-Spamd-Bar: other fields kept")
    checks.ok(b"this is message B1." in raw, "own X-Spamd-Bar: body intact")

    log("GTUBE rewrite-subject variant -> 250, Subject rewritten by rspamd, filed into Junk")
    code, text = lib.send_message(relay.port, SENDER, [DEMO],
                                  message("R1", "Z" + GTUBE[1:]))
    checks.ok(code == 250, "rewrite subject: 250", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "R1", folder="Junk")
    checks.eq(header(raw, "Subject"), ["*** SPAM *** filter R1"],
              "rewrite subject: one Subject, rspamd's")
    checks.eq(header(raw, "X-Spam"), ["Yes"], "rewrite subject: X-Spam: Yes")
    names = [k.lower() for k in lib.headers_of(raw).keys()]
    checks.ok(names.index("received") < names.index("subject") < names.index("x-test-id"),
              "rewrite subject: the Subject stays among the sender's fields", f"{names}")
    checks.ok(raw.endswith(b"Regards\r\n") or raw.endswith(b"Regards\n"),
              "rewrite subject: body intact", repr(raw[-60:]))
    rlog = relay.daemon.log_text()
    checks.ok(re.search(r"header changed changes=subject", rlog) is not None,
              "rewrite subject: logged", "\n".join(rlog.splitlines()[-5:]))

    log("submission: an authenticated user's GTUBE -> 550 5.7.1")
    rc, out = swaks_submit(sub_port, home.passwords[DEMO], message("S1", GTUBE, DEMO))
    checks.ok(rc != 0 and re.search(r"<[~*]\* 550 5\.7\.1", out) is not None,
              "submission GTUBE: 550 5.7.1", out[-1500:])
    rc, out = swaks_submit(sub_port, home.passwords[DEMO], message("S2", "hello", DEMO))
    checks.ok(rc == 0 and "<~  250 2.0.0 Ok: queued" in out, "submission clean: 250",
              out[-1500:])
    filter_lib.delivered_with(home, "S2")
    checks.ok("S1" not in lib.ids_in_maildir(home), "submission GTUBE: nothing delivered")
    rows = rspamd.history()
    checks.ok(any(r.get("user") == DEMO and r.get("action") == "reject" for r in rows),
              "rspamd's history: the submission was scanned as the authenticated user (User)",
              f"{[(r.get('user'), r.get('ip'), r.get('action')) for r in rows]}")
    checks.ok(any(r.get("ip") == "127.0.0.1" and not r.get("user") and r.get("action") ==
                  "reject" for r in rows),
              "rspamd's history: the inbound GTUBE was scanned with the client's IP, no user")

    log("rspamd stopped, on_failure = accept -> 250 with X-Spam-Status: unchecked")
    rspamd.stop()
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("D1", GTUBE))
    checks.ok(code == 250, "rspamd down, accept: 250 (mail not lost)", f"{code} {text}")
    raw = filter_lib.delivered_with(home, "D1")
    checks.eq(header(raw, "X-Spam-Status"), ["unchecked"], "rspamd down: X-Spam-Status: unchecked")
    checks.ok(re.search(r"warn rspamd \S+ scan failed .*on_failure=accept",
                        relay.daemon.log_text()) is not None,
              "rspamd down: a warning names the failure and the policy")
    relay.stop()

    log("on_failure = tempfail -> 451 4.7.1, nothing queued; rspamd back -> accepted")
    relay.extra["rspamd.on_failure"] = '"tempfail"'
    relay.write_config()
    relay.start()
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("T1", "clean"))
    checks.ok(code == 451 and text.startswith("4.7.1"), "rspamd down, tempfail: 451 4.7.1",
              f"{code} {text}")
    refused_cleanly(relay, home, "T1", "tempfail")
    rspamd.start()
    code, text = lib.send_message(relay.port, SENDER, [DEMO], message("T1", "clean"))
    checks.ok(code == 250, "rspamd back: the retried message is accepted", f"{code} {text}")
    filter_lib.delivered_with(home, "T1")
    wait_until(lambda: not relay.queued(), 20, "relay spool to be empty")
    ids = lib.ids_in_maildir(home)
    junk = [p.read_bytes() for p in home.messages(folder="Junk")]
    checks.ok(not {"G1", "S1"} & set(ids) and
              not any(b"X-Test-Id: G1" in m or b"X-Test-Id: S1" in m for m in junk),
              "at the end: no refused message was delivered", f"{sorted(ids)}")
    checks.eq({m: ids.get(m) for m in ("C1", "F1", "S2", "D1", "T1")},
              {"C1": 1, "F1": 1, "S2": 1, "D1": 1, "T1": 1},
              "at the end: each accepted message delivered exactly once (INBOX)")
    checks.eq(sum(b"X-Test-Id: A1" in m for m in junk), 1, "at the end: A1 once, in Junk")
    relay.stop()
    home.stop()
    rspamd.stop()


if __name__ == "__main__":
    lib.run_main(main)
