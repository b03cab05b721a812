"""DMARC aggregate reports sent by the relay (issue 17, RFC 7489 7.1, 7.2, Appendix C).

A real unbound serves dm.test, whose DMARC record (p=none) asks for aggregate reports at four
mailto: addresses: agg@dm.test (same domain), ext@reports.test (another organisation that
publishes dm.test._report._dmarc.reports.test "v=DMARC1"), noauth@other.test (another
organisation without that record) and small@dm.test!100 (a 100-octet size limit). The relay
runs with `dmarc_reports.interval = "20s"` and `send_delay = "1s"` (a short period is how a
test forces the report job: the period ends, the job builds and queues its reports; see
docs/operations.md), DKIM keys of its own domain from `splitmail dkim keygen`, and delivers
outbound mail to a python SMTP sink (outbound_lib.FakeMx) through MX records in unbound.

Three messages reach the relay from 127.0.0.1 with From: a@dm.test, all in one period: two
with MAIL FROM a@dm.test (SPF pass, aligned: DMARC pass), one with MAIL FROM x@fail.test (SPF
fail, no DKIM: DMARC fail, p=none so delivered). A fourth, From: a@rej.test (p=reject,
rua=mailto:agg@rej.test) with MAIL FROM x@fail.test, is refused with 550 5.7.1. Then:
- the refused message is reported too: agg@rej.test gets one report, disposition reject;
- exactly one report each reaches agg@dm.test and ext@reports.test; none reaches
  noauth@other.test (7.1 unauthorised) or small@dm.test (larger than !100);
- each report message: Subject "Report Domain: dm.test Submitter: mx.example.test
  Report-ID: <...>", multipart/mixed with an application/gzip attachment named
  mx.example.test!dm.test!BEGIN!END.xml.gz (7.2.1.1), and both DKIM-Signature fields
  (RSA and Ed25519, d=example.test) verify with dkimpy;
- the attachment gunzips to XML valid against RFC 7489 Appendix C (tests/dmarc's corrected
  schema, xmllint), with the counts right: 3 messages from 127.0.0.1, 2 with DMARC-aligned
  SPF pass, 1 failing both, disposition none, policy_published p=none;
- the period is marked sent; a restarted relay does not send it again;
- `splitmail dmarc recorded` prints the period's counts for dm.test.
"""
import email
import email.policy
import gzip
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dmarc"))
import lib  # noqa: E402
from lib import DEMO, DOMAIN, checks  # noqa: E402
from outbound_lib import FakeMx, Unbound  # noqa: E402
from dmarc_schema import write_corrected, xmllint  # noqa: E402

import dkim  # python3-dkim

INTERVAL = 20
RUA = ("mailto:agg@dm.test,mailto:ext@reports.test,mailto:noauth@other.test,"
       "mailto:small@dm.test!100")


def parse_records(text: str) -> dict[str, str]:
    records = {}
    for line in text.splitlines():
        m = re.fullmatch(r'(\S+)\. IN TXT ((?:"[^"]*" ?)+)', line)
        if m:
            records[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return records


def dkim_results(msg: bytes, dns: dict[str, str]) -> list[tuple[str, bool]]:
    def dnsfunc(name, timeout=5):
        return dns.get(name.decode().rstrip("."), "").encode() or None
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in dkim.rfc822_parse(msg)[0] if k.lower() == b"dkim-signature"]
    out = []
    for i, sig in enumerate(sigs):
        alg = re.search(rb"\ba=([^;\s]+)", sig).group(1).decode()
        dom = re.search(rb"\bd=([^;\s]+)", sig).group(1).decode()
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        out.append((f"{alg} d={dom}", bool(ok)))
    return out


def message(marker: str) -> bytes:
    return (f"From: A <a@dm.test>\r\nTo: <{DEMO}>\r\nSubject: {marker}\r\n"
            f"Date: Sun, 06 Dec 2026 01:00:00 +0000\r\nMessage-ID: <{marker}@dm.test>\r\n\r\n"
            f"marker {marker}\r\n").encode()


def to_of(raw: bytes) -> str:
    m = email.message_from_bytes(raw, policy=email.policy.default)
    return str(m["To"]).strip("<>")


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    d = lib.tmpdir("dmarc-reports")
    keys = d / "dkim"
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                      "rep", "--dir", str(keys)])
    checks.eq(r.returncode, 0, f"dkim keygen ({r.stderr.decode().strip()})")
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "txt", "--domain", DOMAIN, "--dir", str(keys)])
    key_records = parse_records(r.stdout.decode())
    checks.eq(len(key_records), 2, "two DKIM key records")

    zones = {
        "dm.test": ['dm.test. TXT "v=spf1 ip4:127.0.0.0/8 -all"',
                    f'_dmarc.dm.test. TXT "v=DMARC1; p=none; rua={RUA}"',
                    "dm.test. MX 10 mx.remote.test."],
        "fail.test": ['fail.test. TXT "v=spf1 -all"'],
        "rej.test": ['_dmarc.rej.test. TXT "v=DMARC1; p=reject; rua=mailto:agg@rej.test"',
                     "rej.test. MX 10 mx.remote.test."],
        "reports.test": ["reports.test. MX 10 mx.remote.test.",
                         'dm.test._report._dmarc.reports.test. TXT "v=DMARC1"'],
        "other.test": ["other.test. MX 10 mx.remote.test."],
        "remote.test": ["mx.remote.test. A 127.0.0.1"],
    }
    dns = Unbound(d / "dns", {z: [] for z in zones})
    conf = dns.config.read_text()
    for zone, recs in zones.items():
        anchor = f'  local-zone: "{zone}." static\n'
        conf = conf.replace(anchor, anchor + "".join(f"  local-data: '{x}'\n" for x in recs))
    dns.config.write_text(conf)
    r2 = subprocess.run(["unbound-checkconf", str(dns.config)], capture_output=True, text=True)
    if r2.returncode != 0:
        lib.fail(f"unbound-checkconf: {r2.stdout} {r2.stderr}")
    dns.start()

    mx_port = lib.free_port()
    mx = FakeMx(mx_port)
    home = lib.Home(d / "home", users=[DEMO]).start()
    extra = {
        "relay.trusted_networks": "[]",  # loopback is an inbound client here
        "outbound.resolver": f'"127.0.0.1:{dns.port}"',
        "outbound.smtp_port": str(mx_port),
        "outbound.retry_initial": '"1s"',
        "outbound.retry_max": '"2s"',
        "dkim.dir": f'"{keys}"',
        "dkim_verify.timeout": '"10s"',
        "dmarc_reports.enabled": "true",
        "dmarc_reports.interval": f'"{INTERVAL}s"',
        "dmarc_reports.send_delay": '"1s"',
        "dmarc_reports.org_name": '"Example Test Org"',
    }
    relay = lib.Relay(d / "relay", home, extra=extra).start()
    records_dir = relay.spool / "dmarc"

    # All three messages in one period: start just after a period boundary.
    lib.wait_until(lambda: 1 <= int(time.time()) % INTERVAL <= 6, INTERVAL + 5,
                   "the start of a report period", interval=0.2)
    sent_at = time.time()
    for marker, sender in (("dr-1", "a@dm.test"), ("dr-2", "a@dm.test"),
                           ("dr-3", "x@fail.test")):
        code, text = lib.send_message(relay.port, sender, [DEMO], message(marker))
        checks.eq(code, 250, f"{marker}: accepted ({text})")
    refused = message("dr-4").replace(b"a@dm.test", b"a@rej.test")
    code, text = lib.send_message(relay.port, "x@fail.test", [DEMO], refused)
    checks.eq(code, 550, f"dr-4: DMARC p=reject failure refused ({text})")
    checks.ok(int(time.time()) // INTERVAL == int(sent_at) // INTERVAL,
              "the three messages fell into one period")
    logs = sorted(records_dir.glob("records-*.log"))
    checks.eq(len(logs), 1, "one period file of records")
    if logs:
        lines = logs[0].read_text().splitlines()
        checks.eq(len(lines), 4, "one record line per message, the refused one included")

    def reports():
        got = [m for m in mx.messages if b"Report Domain: dm.test" in m]
        return got if len(got) >= 2 else None
    got = lib.wait_until(reports, INTERVAL * 3, "two DMARC reports at the MX",
                         daemons=[relay.daemon], interval=0.5)
    rej = lib.wait_until(lambda: [m for m in mx.messages if b"Report Domain: rej.test" in m]
                         or None, 30, "the rej.test report", daemons=[relay.daemon])
    checks.eq(len(rej), 1, "one report for rej.test")
    checks.eq(to_of(rej[0]), "agg@rej.test", "to rej.test's rua")
    rej_parts = [p for p in email.message_from_bytes(rej[0], policy=email.policy.default).walk()
                 if p.get_content_type() == "application/gzip"]
    if rej_parts:
        rroot = ET.fromstring(gzip.decompress(rej_parts[0].get_payload(decode=True)))
        checks.eq([(x.findtext("row/count"), x.findtext("row/policy_evaluated/disposition"),
                    x.findtext("identifiers/envelope_from"))
                   for x in rroot.findall("record")], [("1", "reject", "fail.test")],
                  "the refused message: count 1, disposition reject")
        checks.eq(rroot.findtext("policy_published/p"), "reject", "rej.test publishes p=reject")
    time.sleep(3)  # anything more that would come
    got = [m for m in mx.messages if b"Report Domain: dm.test" in m]
    to = sorted(to_of(m) for m in got)
    checks.eq(to, ["agg@dm.test", "ext@reports.test"],
              "one report each to the same-domain and the authorised external address")
    log = relay.daemon.log_text()
    checks.ok("external report address did not authorise reports" in log and
              "noauth@other.test" in log, "the unauthorised external address is logged")
    checks.ok("larger than the address's size limit" in log and "small@dm.test" in log,
              "the size-limited address is skipped and logged")

    schema = write_corrected(lib.SRC / "tests" / "data" / "dmarc" / "rfc7489-appendix-c.xsd",
                             d)
    for raw in got:
        who = to_of(raw)
        m = email.message_from_bytes(raw, policy=email.policy.default)
        subject = " ".join(str(m["Subject"]).split())
        checks.ok(re.fullmatch(r"Report Domain: dm\.test Submitter: mx\.example\.test "
                               r"Report-ID: <\S+>", subject) is not None,
                  f"{who}: Subject as RFC 7489 7.2.1.1 asks", subject)
        checks.eq(m.get_content_type(), "multipart/mixed", f"{who}: multipart/mixed")
        parts = [p for p in m.walk() if p.get_content_type() == "application/gzip"]
        checks.eq(len(parts), 1, f"{who}: one application/gzip attachment")
        res = dkim_results(raw, key_records)
        checks.ok(len(res) == 2 and all(ok for _, ok in res) and
                  all(f"d={DOMAIN}" in what for what, _ in res),
                  f"{who}: both DKIM signatures of {DOMAIN} verify (dkimpy)", str(res))
        if not parts:
            continue
        name = parts[0].get_filename() or ""
        fm = re.fullmatch(r"mx\.example\.test!dm\.test!(\d+)!(\d+)\.xml\.gz", name)
        checks.ok(fm is not None, f"{who}: attachment named receiver!domain!begin!end.xml.gz",
                  name)
        xml = gzip.decompress(parts[0].get_payload(decode=True))
        doc = d / f"report-{who}.xml"
        doc.write_bytes(xml)
        ok, out = xmllint(schema, doc)
        checks.ok(ok, f"{who}: the report is valid against RFC 7489 Appendix C", out)
        root = ET.fromstring(xml)
        begin = int(root.findtext("report_metadata/date_range/begin"))
        end = int(root.findtext("report_metadata/date_range/end"))
        checks.ok(begin % INTERVAL == 0 and end == begin + INTERVAL - 1 and
                  begin <= sent_at < end + 1, f"{who}: date_range is the period",
                  f"{begin} {end} {sent_at}")
        if fm:
            checks.eq((int(fm.group(1)), int(fm.group(2))), (begin, end),
                      f"{who}: the file name carries the date range")
        checks.eq(root.findtext("report_metadata/org_name"), "Example Test Org", "org_name")
        checks.eq(root.findtext("policy_published/domain"), "dm.test", "policy domain")
        checks.eq(root.findtext("policy_published/p"), "none", "p=none published")
        rows = root.findall("record")
        total = sum(int(x.findtext("row/count")) for x in rows)
        checks.eq(total, 3, f"{who}: three messages counted")
        passing = sum(int(x.findtext("row/count")) for x in rows
                      if x.findtext("row/policy_evaluated/spf") == "pass")
        failing = [x for x in rows if x.findtext("row/policy_evaluated/spf") == "fail"]
        checks.eq(passing, 2, f"{who}: two with an aligned SPF pass")
        checks.ok(len(failing) == 1 and failing[0].findtext("row/count") == "1" and
                  failing[0].findtext("row/policy_evaluated/dkim") == "fail" and
                  failing[0].findtext("identifiers/envelope_from") == "fail.test" and
                  failing[0].findtext("auth_results/spf/result") == "fail",
                  f"{who}: one failing both, from fail.test", ET.tostring(root).decode())
        checks.ok(all(x.findtext("row/source_ip") == "127.0.0.1" and
                      x.findtext("row/policy_evaluated/disposition") == "none" for x in rows),
                  f"{who}: source 127.0.0.1, disposition none")

    checks.eq(len(list(records_dir.glob("records-*.sent"))), 1, "the period is marked sent")
    cli = subprocess.run([str(lib.CLI_BIN), "dmarc", "recorded", "--config", str(relay.config),
                          "--day", time.strftime("%Y-%m-%d", time.gmtime(sent_at))],
                         capture_output=True, text=True, timeout=60)
    checks.eq(cli.returncode, 0, f"splitmail dmarc recorded exits 0 ({cli.stderr.strip()})")
    checks.ok(re.search(r"dm\.test\b.*\b3 messages?", cli.stdout) is not None and
              re.search(r"127\.0\.0\.1\s+pass 2\s+fail 1", cli.stdout) is not None,
              "splitmail dmarc recorded shows 3 messages, 2 pass / 1 fail from 127.0.0.1",
              cli.stdout)

    # A restart never sends a period twice.
    before = len(mx.messages)
    relay.stop()
    relay.daemon.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", relay.port), 15, "relay restarted",
                   daemons=[relay.daemon])
    time.sleep(4)
    checks.eq(len(mx.messages), before, "no report is sent again after a restart")
    relay.stop()
    home.stop()
    mx.stop()
    dns.stop()
    checks.summary()


if __name__ == "__main__":
    lib.run_main(main)
