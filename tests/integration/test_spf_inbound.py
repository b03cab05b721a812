"""SPF at the relay (issue 17): a real unbound serves test zones with SPF records, swaks sends
from 127.0.0.1 with different MAIL FROM / HELO, and each delivered message carries a
Received-SPF field (RFC 7208 9.1) above the relay's Received:, with the result RFC 7208 asks
for: pass (ip4), fail (-all), softfail (through include:), neutral, none (no record),
permerror (two records), temperror (the resolver refuses the zone), the null sender checked
as postmaster@HELO (a mechanism), and a macro (exists:%{i}...). Nothing is refused because of
SPF (the result is recorded only). The field is parsed here with a small RFC 5322 reader of
its own (key=quoted-string pairs), independent of the writer.
"""
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402
from outbound_lib import Unbound  # noqa: E402

ZONES = {
    "pass.test": ['pass.test. TXT "v=spf1 ip4:127.0.0.0/8 -all"'],
    "fail.test": ['fail.test. TXT "v=spf1 ip4:192.0.2.1 -all"'],
    "soft.test": ['soft.test. TXT "v=spf1 include:inc.soft.test ~all"',
                  'inc.soft.test. TXT "v=spf1 ip4:192.0.2.2 -all"'],
    "neutral.test": ['neutral.test. TXT "v=spf1 ?all"'],
    "nospf.test": ['nospf.test. TXT "just some text"'],
    "two.test": ['two.test. TXT "v=spf1 +all"', 'two.test. TXT "v=spf1 -all"'],
    "helo.test": ['client.helo.test. TXT "v=spf1 a -all"', "client.helo.test. A 127.0.0.1"],
    "macro.test": ['macro.test. TXT "v=spf1 exists:%{i}.%{l}.ok.macro.test -all"',
                   "127.0.0.1.alice.ok.macro.test. A 127.0.0.2"],
}

CASES = [  # (marker, MAIL FROM, EHLO, expected result, expected identity)
    ("spf-pass", "a@pass.test", "client.sender.test", "pass", "mailfrom"),
    ("spf-fail", "a@fail.test", "client.sender.test", "fail", "mailfrom"),
    ("spf-soft", "a@soft.test", "client.sender.test", "softfail", "mailfrom"),
    ("spf-neutral", "a@neutral.test", "client.sender.test", "neutral", "mailfrom"),
    ("spf-none", "a@nospf.test", "client.sender.test", "none", "mailfrom"),
    ("spf-perm", "a@two.test", "client.sender.test", "permerror", "mailfrom"),
    ("spf-temp", "a@elsewhere.example", "client.sender.test", "temperror", "mailfrom"),
    ("spf-null", "", "client.helo.test", "pass", "helo"),
    ("spf-macro", "alice@macro.test", "client.sender.test", "pass", "mailfrom"),
]


def parse_received_spf(value: str) -> tuple[str, dict[str, str]]:
    """RFC 7208 9.1: result [comment] key=value; ... (values dot-atom or quoted-string)."""
    v = " ".join(value.split())
    m = re.match(r"(\w+)\s*(\((?:[^()\\]|\\.)*\))?\s*(.*)$", v)
    if not m:
        return "", {}
    pairs = {}
    for k, q, a in re.findall(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))\s*;?', m.group(3)):
        pairs[k] = re.sub(r"\\(.)", r"\1", q) if q or not a else a
    return m.group(1), pairs


def send(relay: lib.Relay, marker: str, sender: str, helo: str) -> None:
    msg = (f"From: <x@sender.test>\r\nTo: <{DEMO}>\r\nSubject: {marker}\r\n"
           f"Message-ID: <{marker}@sender.test>\r\n\r\nmarker {marker}\r\n")
    if not sender:
        # The null reverse-path: swaks replaces an empty --from with its default sender.
        with lib.SMTP(relay.port) as c:
            c.ehlo(helo)
            codes = [c.cmd("MAIL FROM:<>")[0], c.cmd(f"RCPT TO:<{DEMO}>")[0], c.cmd("DATA")[0]]
            c.send(msg.encode() + b".\r\n")
            codes.append(c.reply()[0])
            c.cmd("QUIT")
        checks.eq(codes, [250, 250, 354, 250], f"{marker}: accepted (null sender)")
        return
    f = relay.root / f"{marker}.eml"
    f.write_bytes(msg.encode()[:-2])
    r = lib.run_tool(["swaks", "--server", "127.0.0.1", "--port", str(relay.port),
                      "--from", sender, "--to", DEMO, "--ehlo", helo, "--data", f"@{f}"],
                     timeout=60)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    checks.ok(r.returncode == 0, f"{marker}: accepted (SPF never refuses on its own)", out[-1500:])


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN)
    d = lib.tmpdir("spf")
    # outbound_lib's Unbound writes local-data in double quotes; TXT data needs them inside,
    # so the zones are written here in single quotes (unbound.conf allows both).
    dns = Unbound(d / "dns", {zone: [] for zone in ZONES})
    conf = dns.config.read_text()
    for zone, records in ZONES.items():
        anchor = f'  local-zone: "{zone}." static\n'
        conf = conf.replace(anchor, anchor + "".join(f"  local-data: '{r}'\n" for r in records))
    dns.config.write_text(conf)
    r = subprocess.run(["unbound-checkconf", str(dns.config)], capture_output=True, text=True)
    if r.returncode != 0:
        lib.fail(f"unbound-checkconf: {r.stdout} {r.stderr}")
    dns.start()
    home = lib.Home(d / "home", users=[DEMO])
    home.start()
    relay = lib.Relay(d / "relay", home, extra={
        "outbound.resolver": f'"127.0.0.1:{dns.port}"', "spf.timeout": '"10s"'}).start()

    for marker, sender, helo, _, _ in CASES:
        send(relay, marker, sender, helo)
    for marker, sender, helo, want, identity in CASES:
        def find(marker=marker):
            hits = [p for p in home.messages(DEMO) if f"marker {marker}".encode() in p.read_bytes()]
            return hits or None
        path = lib.wait_until(find, 30, f"message {marker} delivered")[0]
        h = lib.headers_of(path.read_bytes())
        fields = h.get_all("Received-SPF", [])
        checks.eq(len(fields), 1, f"{marker}: one Received-SPF field")
        if not fields:
            continue
        result, pairs = parse_received_spf(str(fields[0]))
        checks.eq(result, want, f"{marker}: SPF result")
        checks.eq(pairs.get("identity"), identity, f"{marker}: identity")
        checks.eq(pairs.get("client-ip"), "127.0.0.1", f"{marker}: client-ip")
        checks.eq(pairs.get("envelope-from"), sender, f"{marker}: envelope-from")
        checks.eq(pairs.get("helo"), helo, f"{marker}: helo")
        checks.eq(pairs.get("receiver"), "mx.example.test", f"{marker}: receiver")
        if want in ("permerror", "temperror"):
            checks.ok(bool(pairs.get("problem")), f"{marker}: problem= says why", str(pairs))
        names = [k.lower() for k in h.keys()]
        checks.ok(names.index("received-spf") < names.index("received"),
                  f"{marker}: Received-SPF is above the relay's Received: (RFC 7208 9.1)",
                  str(names))
    log = relay.daemon.log_text()
    checks.ok("result=fail" in log and "result=pass" in log, "results are logged (spf checked)",
              log[-2000:])
    relay.stop()

    # Greylisting's skip list (issue 18): a sender of a listed domain is accepted at RCPT and
    # judged at the end of DATA on its SPF result; an unlisted sender is deferred at RCPT.
    grey = lib.Relay(d / "relay-grey", home, extra={
        "outbound.resolver": f'"127.0.0.1:{dns.port}"', "spf.timeout": '"10s"',
        "greylist.enabled": "true",
        "greylist.skip_verified_senders": '["pass.test", "fail.test"]'})
    grey.start(wait_recipients=False)  # lib's probe would be greylisted

    def ready() -> bool:  # a listed sender's RCPT is accepted once the recipients are known
        try:
            with lib.SMTP(grey.port) as c:
                c.ehlo("probe.sender.test")
                c.cmd("MAIL FROM:<probe@pass.test>")
                code = c.cmd(f"RCPT TO:<{DEMO}>")[0]
                c.cmd("QUIT")
                return code == 250
        except OSError:
            return False
    lib.wait_until(ready, 20, "the greylisting relay to know demo", interval=0.2)

    def transaction(sender: str, marker: str) -> list[int]:
        with lib.SMTP(grey.port) as c:
            c.ehlo("client.sender.test")
            codes = [c.cmd(f"MAIL FROM:<{sender}>")[0], c.cmd(f"RCPT TO:<{DEMO}>")[0]]
            if codes[-1] == 250:
                codes.append(c.cmd("DATA")[0])
                c.send(f"From: <{sender}>\r\nSubject: {marker}\r\n\r\nmarker {marker}\r\n.\r\n"
                       .encode())
                codes.append(c.reply()[0])
            c.cmd("QUIT")
        return codes

    checks.eq(transaction("a@pass.test", "grey-pass"), [250, 250, 354, 250],
              "greylist skip list: SPF pass of a listed domain is not greylisted")
    checks.eq(transaction("a@fail.test", "grey-fail"), [250, 250, 354, 451],
              "greylist skip list: a listed domain without a pass gets 451 at the end of DATA")
    checks.eq(transaction("a@nospf.test", "grey-none"), [250, 451],
              "greylist skip list: an unlisted sender is greylisted at RCPT")
    glog = grey.daemon.log_text()
    checks.ok(re.search(r"greylist \S+ skipped: verified sender .*domain=pass\.test", glog)
              is not None, "greylist skip list: the skip is logged", glog[-2000:])
    lib.wait_until(lambda: [p for p in home.messages(DEMO) if b"marker grey-pass" in p.read_bytes()]
                   or None, 30, "the verified sender's message delivered")
    checks.ok(not [p for p in home.messages(DEMO) if b"marker grey-fail" in p.read_bytes()],
              "greylist skip list: the unproven message was not delivered")
    grey.stop()
    home.stop()
    checks.summary()


if __name__ == "__main__":
    lib.run_main(main)
