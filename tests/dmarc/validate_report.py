"""ctest dmarc.report_schema: the relay's DMARC aggregate report XML (relay/dmarc/report.cpp)
is valid against RFC 7489 Appendix C's schema (see dmarc_schema.py for the two corrections
the printed schema needs), checked by xmllint; and the check can fail: deliberately broken
reports (a missing element, a value outside an enumeration, a compressed IPv6 address, a
missing SPF result, elements out of order, an unescaped '&') are each rejected.

usage: validate_report.py DMARC_REPORT_SAMPLE XSD RECORDS
"""
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dmarc_schema import XMLLINT, corrected, write_corrected, xmllint  # noqa: E402

failures = []


def check(cond: bool, what: str, detail: str = "") -> None:
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     ")[:3000])


def main() -> int:
    tool, xsd, records = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    if not Path(XMLLINT).exists():
        print(f"FAIL {XMLLINT} missing: install libxml2-utils (scripts/deps)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="dmarc-schema-"))
    raw_ok, raw_out = xmllint(xsd, work / "none.xml")
    check(not raw_ok and "no namespace" in raw_out,
          "control: the schema as printed in the RFC is unusable (why it is corrected)", raw_out)
    fixed = write_corrected(xsd, work)
    try:
        corrected(fixed.read_text())
        check(False, "control: the corrections do not apply twice")
    except ValueError:
        check(True, "control: each correction applied exactly once")

    docs = {}
    for domain in ("example.com", "a&b<c>.test"):
        r = subprocess.run([str(tool), str(records), domain], capture_output=True, text=True)
        check(r.returncode == 0, f"report for {domain} generated", r.stderr)
        path = work / f"report-{len(docs)}.xml"
        path.write_text(r.stdout)
        docs[domain] = r.stdout
        ok, out = xmllint(fixed, path)
        check(ok, f"report for {domain} is valid against RFC 7489 Appendix C", out + "\n" + r.stdout)

    # The counts are right (sample.records: 2 passing messages from 192.0.2.1, 1 failing from
    # 2001:db8::25, 1 from 198.51.100.9 for news.example.com under example.com's record).
    root = ET.fromstring(docs["example.com"])
    rows = {rec.findtext("row/source_ip"): rec for rec in root.findall("record")}
    check(root.findtext("version") == "1.0", "version is 1.0")
    check(sorted(rows) == ["192.0.2.1", "192.0.2.77", "192.0.2.78", "198.51.100.9",
                           "2001:db8:0:0:0:0:0:25"],
          "one row per source", str(sorted(rows)))
    if len(rows) == 5:
        # version 2 lines: pct= sampled a reject out to quarantine; dmarc.on_reject = none
        for ip, disp, reason in (("192.0.2.77", "quarantine", "sampled_out"),
                                 ("192.0.2.78", "none", "local_policy")):
            pe = rows[ip].find("row/policy_evaluated")
            check(pe.findtext("disposition") == disp and pe.findtext("reason/type") == reason,
                  f"{ip}: disposition {disp} with reason {reason}", ET.tostring(pe).decode())
        check(rows["192.0.2.1"].find("row/policy_evaluated/reason") is None,
              "no reason where nothing was overridden (and version 1 lines still read)")
        check(rows["192.0.2.1"].findtext("row/count") == "2", "192.0.2.1 counted twice")
        check(rows["192.0.2.1"].findtext("row/policy_evaluated/dkim") == "pass", "aligned DKIM")
        r6 = rows["2001:db8:0:0:0:0:0:25"]
        check(r6.findtext("row/policy_evaluated/disposition") == "reject", "disposition reject")
        check(len(r6.findall("auth_results/dkim")) == 2, "both DKIM results of a message")
        check(rows["198.51.100.9"].findtext("auth_results/spf/scope") == "helo", "SPF helo scope")
        check(rows["198.51.100.9"].findtext("identifiers/header_from") == "news.example.com",
              "header_from of the subdomain")
    check(root.findtext("policy_published/p") == "quarantine",
          "policy_published is the domain's latest record (p=quarantine)")
    other = ET.fromstring(docs["a&b<c>.test"])
    check(other.findtext("policy_published/domain") == "a&b<c>.test", "escaped text round-trips")

    base = docs["example.com"]
    broken = {
        "no <count>": base.replace("<count>2</count>", "", 1),
        "disposition outside DispositionType": base.replace("<disposition>none</disposition>",
                                                            "<disposition>discard</disposition>", 1),
        "compressed IPv6 source_ip": base.replace("2001:db8:0:0:0:0:0:25", "2001:db8::25", 1),
        "no SPF result": base[:base.index("      <spf>")] +
                         base[base.index("</spf>") + len("</spf>\n"):],
        "version after report_metadata": base.replace("  <version>1.0</version>\n", "", 1)
                                             .replace("  </report_metadata>\n",
                                                      "  </report_metadata>\n  <version>1.0</version>\n", 1),
        "unescaped &": base.replace("<org_name>Example Org &lt;reports&gt;</org_name>",
                                    "<org_name>Example & Org</org_name>", 1),
        "no fo (required by the RFC's schema)": base.replace("<fo>1:d</fo>", "", 1),
        "reason type outside PolicyOverrideType": base.replace("<type>sampled_out</type>",
                                                               "<type>sampled</type>", 1),
    }
    for what, text in broken.items():
        check(text != base, f"broken variant differs: {what}")
        path = work / "broken.xml"
        path.write_text(text)
        ok, out = xmllint(fixed, path)
        check(not ok, f"xmllint rejects a report with {what}", out)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
