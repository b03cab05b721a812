"""DNS block and allow lists at the relay (issue 18), against a real unbound serving test lists:

  bl.test    lists 127.0.0.1 and 127.0.0.9 with 127.0.0.2 (a block list)
  wl.test    lists 127.0.0.1 with 127.0.10.2 (an allow list, dnswl-style codes)
  err.test   answers 127.255.255.254 for 127.0.0.1 (Spamhaus' "public resolver" error code)
  nol.test   lists nobody

Checks:
  A. bl.test*2 reaches the threshold 2: every RCPT of a client at 127.0.0.1 gets
     554 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test; nothing queued;
     the listing is logged; a client of relay.trusted_networks (127.0.0.9) is never looked up.
  B. bl.test*2 with wl.test*-2 (and nol.test): total 0, mail is accepted and delivered; with
     allow_threshold -1 and greylisting on, the allow-listed client is not greylisted.
  C. err.test: the error code is not a listing (mail accepted), one warning names the list and
     says it refuses this resolver; a list the resolver cannot ask (REFUSED) is not a listing
     either and is warned about once, not per connection.
  D. settings: a list in the wrong syntax stops --check-config with the key and the reason.
"""
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks, log  # noqa: E402
from outbound_lib import Unbound  # noqa: E402

ZONES = {
    # 127.0.0.9 (relay.trusted_networks here) is listed too: it must never be looked up.
    "bl.test": ["1.0.0.127.bl.test. A 127.0.0.2", "9.0.0.127.bl.test. A 127.0.0.2"],
    "wl.test": ["1.0.0.127.wl.test. A 127.0.10.2"],
    "err.test": ["1.0.0.127.err.test. A 127.255.255.254"],
    "nol.test": [],
}


def relay_with(d: Path, name: str, home: lib.Home, dns: Unbound, sites: list[str],
               extra: dict | None = None) -> lib.Relay:
    conf = {"outbound.resolver": f'"127.0.0.1:{dns.port}"',
            "relay.trusted_networks": '["127.0.0.9/32"]',
            "dnsbl.enabled": "true",
            "dnsbl.sites": "[" + ", ".join(f'"{s}"' for s in sites) + "]",
            "dnsbl.timeout": '"3s"'}
    conf.update(extra or {})
    relay = lib.Relay(d / name, home, extra=conf)
    relay.start(wait_recipients=False)

    def ready() -> bool:  # the trusted client is never looked up: it sees the recipients
        try:
            with lib.SMTP(relay.port, source="127.0.0.9") as c:
                c.ehlo("trusted.test")
                c.cmd("MAIL FROM:<probe@sender.test>")
                code = c.cmd(f"RCPT TO:<{DEMO}>")[0]
                c.cmd("QUIT")
                return code == 250
        except OSError:
            return False
    lib.wait_until(ready, 20, "the relay to know demo", interval=0.2, daemons=[relay.daemon])
    return relay


def transaction(port: int, marker: str, source: str = "127.0.0.1") -> list[tuple[int, str]]:
    with lib.SMTP(port, source=source) as c:
        c.ehlo("client.sender.test")
        replies = [c.cmd("MAIL FROM:<someone@sender.test>"), c.cmd(f"RCPT TO:<{DEMO}>")]
        if replies[-1][0] == 250:
            replies.append(c.cmd("DATA"))
            c.send(lib.make_message(marker) + b".\r\n")
            replies.append(c.reply())
        c.cmd("QUIT")
    return replies


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("dnsbl")
    dns = Unbound(d / "dns", ZONES).start()
    home = lib.Home(d / "home", users=[DEMO]).start()

    log("A. a listed client reaches the threshold: 554 5.7.1 at RCPT, nothing queued")
    relay = relay_with(d, "relay-a", home, dns, ["bl.test*2", "nol.test"],
                       {"dnsbl.threshold": "2"})
    r = transaction(relay.port, "bl-a")
    checks.eq(r[0][0], 250, f"A: MAIL accepted ({r[0]})")
    checks.eq(r[1], (554, "5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test"),
              "A: RCPT refused naming the list")
    checks.eq(len(r), 2, "A: no DATA without a recipient")
    checks.eq(relay.queued(), [], "A: nothing queued")
    rlog = relay.daemon.log_text()
    checks.ok(re.search(r"info dnsbl \S+ listed: refused client=127\.0\.0\.1 score=2 "
                        r"lists=\"?bl\.test\(127\.0\.0\.2\)", rlog) is not None,
              "A: the listing is logged with score and code", rlog[-1500:])
    r = transaction(relay.port, "bl-trusted", source="127.0.0.9")
    checks.eq([x[0] for x in r], [250, 250, 354, 250], "A: a trusted client is not looked up")
    checks.eq(relay.stop(), 0, "A: relay exits 0")

    log("B. an allow list takes the weight away; allow-listed clients skip greylisting")
    relay = relay_with(d, "relay-b", home, dns, ["bl.test*2", "wl.test=127.0.[0..255].[1..3]*-2",
                                                  "nol.test"],
                       {"dnsbl.threshold": "2", "dnsbl.allow_threshold": "-1"})
    r = transaction(relay.port, "bl-b")
    checks.eq([x[0] for x in r], [250, 250, 354, 250], "B: bl.test*2 + wl.test*-2 = 0: accepted")
    lib.wait_until(lambda: lib.ids_in_maildir(home).get("bl-b") or None, 30, "bl-b delivered",
                   daemons=[relay.daemon, home.daemon])
    checks.eq(relay.stop(), 0, "B: relay exits 0")
    relay = relay_with(d, "relay-b2", home, dns, ["wl.test=127.0.[0..255].[1..3]*-2"],
                       {"dnsbl.allow_threshold": "-1", "greylist.enabled": "true"})
    r = transaction(relay.port, "wl-grey")
    checks.eq([x[0] for x in r], [250, 250, 354, 250],
              "B: the allow-listed client is not greylisted")
    checks.ok(re.search(r"info dnsbl \S+ allow-listed client=127\.0\.0\.1 score=-2",
                        relay.daemon.log_text()) is not None, "B: the allow listing is logged")
    checks.eq(relay.stop(), 0, "B: relay exits 0")

    log("C. error codes and unaskable lists are not listings, and are warned about once")
    relay = relay_with(d, "relay-c", home, dns, ["err.test", "refused.example"])
    for i in range(3):
        r = transaction(relay.port, f"err-{i}")
        checks.eq([x[0] for x in r], [250, 250, 354, 250], f"C: accepted (connection {i + 1})")
    rlog = relay.daemon.log_text()
    err = [ln for ln in rlog.splitlines() if "warn dnsbl" in ln and "list=err.test" in ln]
    checks.eq(len(err), 1, "C: one warning for err.test over three connections")
    checks.ok(bool(err) and "127.255.255.254" in err[0] and "public resolvers" in err[0],
              "C: the warning names the code and the public-resolver cause", "\n".join(err))
    ref = [ln for ln in rlog.splitlines() if "warn dnsbl" in ln and "list=refused.example" in ln]
    checks.eq(len(ref), 1, "C: one warning for the list the resolver refuses")
    checks.eq(relay.stop(), 0, "C: relay exits 0")

    log("D. a list in the wrong syntax is refused at start, naming the key")
    cfg = d / "bad.toml"
    cfg.write_text('[relay]\nhostname = "mx.example.test"\ndomains = ["example.test"]\n'
                   f'[spool]\ndir = "{d / "spool-check"}"\n[home]\nlmtp = "127.0.0.1:24"\n'
                   '[dnsbl]\nenabled = true\nsites = ["zen.spamhaus.org=127.0.0.[11..2]"]\n')
    p = subprocess.run([str(lib.RELAY_BIN), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    checks.ok(p.returncode != 0 and "dnsbl.sites" in p.stderr and "[11..2]" in p.stderr,
              "D: --check-config names dnsbl.sites and the bad octet", p.stderr.strip())
    checks.eq(home.stop(), 0, "home exits 0")


if __name__ == "__main__":
    lib.run_main(main)
