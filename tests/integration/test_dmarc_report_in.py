#!/usr/bin/python3
"""`splitmail dmarc report` over a Maildir of DMARC aggregate report mails made by an
independent producer: Python's xml, gzip, zipfile and email modules (issue 17: "Incoming
reports to our rua address are parsed and summarised").

No daemon runs. A Maildir (new/ cur/ tmp/) gets:
  1. a Google-style mail: application/zip (base64), one .xml member, deflated;
  2. a Yahoo-style mail: application/gzip .xml.gz (base64), for a second domain;
  3. a mail with an inline text/xml report (7bit) and a text/plain part;
  4. mail 1 again (a resent report): counted once, listed as a duplicate;
  5. a plain mail with no attachment: skipped, "no DMARC report in it";
  6. a mail whose gzip attachment is truncated: skipped, "gzip";
  7. a zip bomb: a .xml.gz of 70 MiB of spaces (about 70 KiB on disk): refused, "64 MiB";
  8. a zip whose member is encrypted (flag bit 0 set): skipped, "encrypted";
  and a file in tmp/ (never read).
Then the text and --json output are checked against sums computed here from the same data:
per domain messages / pass / fail, per source IP failing and passing counts, rows, skipped
lines (one per problem file, naming it), exit status 0; a missing PATH gives exit 1.
"""
import base64
import gzip
import io
import json
import zipfile
from email.message import EmailMessage
from email import policy
from xml.sax.saxutils import escape

import lib
from lib import CLI_BIN, checks


def report_xml(org, email, report_id, begin, end, domain, p, rows):
    """RFC 7489 Appendix C document; rows: (ip, count, disposition, dkim, spf)."""
    recs = []
    for ip, count, disp, dkim, spf in rows:
        recs.append(f"""  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>{disp}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results>
      <dkim><domain>{domain}</domain><result>{dkim}</result><selector>s1</selector></dkim>
      <spf><domain>{domain}</domain><result>{spf}</result></spf>
    </auth_results>
  </record>""")
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>{escape(org)}</org_name>
    <email>{escape(email)}</email>
    <report_id>{escape(report_id)}</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>{p}</p><sp>{p}</sp><pct>100</pct>
  </policy_published>
{chr(10).join(recs)}
</feedback>
""".encode()


def report_mail(sender, subject, attachments, text="This is a DMARC aggregate report."):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "dmarc-reports@example.test"
    m["Subject"] = subject
    m["Date"] = "Sun, 06 Dec 2026 08:00:00 +0000"
    m["Message-ID"] = f"<{abs(hash(subject))}@reports.test>"
    m.set_content(text)
    for data, maintype, subtype, filename in attachments:
        if maintype == "text":
            m.add_attachment(data.decode(), subtype=subtype, cte="7bit")
        else:
            m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes(policy=policy.SMTP)


def zip_of(name, data, flags=0):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    raw = bytearray(b.getvalue())
    if flags:
        # set the general purpose flag in the local header and the central directory entry
        raw[6] |= flags
        cd = raw.rfind(b"PK\x01\x02")
        raw[cd + 8] |= flags
    return bytes(raw)


def cli(args):
    r = lib.run_tool([str(CLI_BIN), *args], timeout=120)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def main():
    lib.require_binaries(CLI_BIN)
    d = lib.tmpdir("dmarc-report-in")
    md = d / "Maildir" / ".DMARC"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True)

    google_rows = [("198.51.100.25", 120, "none", "pass", "pass"),
                   ("203.0.113.66", 17, "quarantine", "fail", "fail"),
                   ("2001:db8:5::1", 4, "none", "pass", "fail")]
    yahoo_rows = [("198.51.100.25", 9, "none", "pass", "pass"),
                  ("192.0.2.200", 2, "reject", "fail", "fail")]
    inline_rows = [("203.0.113.66", 5, "quarantine", "fail", "fail"),
                   ("198.51.100.26", 30, "none", "fail", "pass")]
    google = report_xml("google.com", "noreply-dmarc-support@google.com", "1122334455667788",
                        1764979200, 1765065599, "example.test", "quarantine", google_rows)
    yahoo = report_xml("Yahoo", "dmarchelp@yahooinc.com", "1765000000.281716",
                       1764979200, 1765065599, "other.test", "reject", yahoo_rows)
    inline = report_xml("Mail & Co <reports>", "dmarc@mail.test", "inline-7",
                        1764892800, 1764979199, "example.test", "quarantine", inline_rows)

    gname = "google.com!example.test!1764979200!1765065599"
    mail1 = report_mail("noreply-dmarc-support@google.com",
                        "Report domain: example.test Submitter: google.com Report-ID: 1122334455667788",
                        [(zip_of(gname + ".xml", google), "application", "zip", gname + ".zip")])
    mail2 = report_mail("dmarchelp@yahooinc.com", "Report Domain: other.test",
                        [(gzip.compress(yahoo), "application", "gzip",
                          "yahoo.com!other.test!1764979200!1765065599.xml.gz")])
    mail3 = report_mail("dmarc@mail.test", "DMARC report inline",
                        [(inline, "text", "xml", None)])
    truncated = gzip.compress(google)[:60]
    mail6 = report_mail("broken@reports.test", "truncated report",
                        [(truncated, "application", "gzip", "broken.xml.gz")])
    bomb = gzip.compress(b" " * (70 * 1024 * 1024), compresslevel=9)
    checks.ok(len(bomb) < 200 * 1024, f"the bomb is small on disk ({len(bomb)} bytes)")
    encrypted = zip_of("enc.xml", google, flags=1)

    files = {
        ("new", "1765000001.M1P1.host"): mail1,
        ("new", "1765000002.M2P1.host"): mail2,
        ("cur", "1765000003.M3P1.host:2,S"): mail3,
        ("cur", "1765000004.M4P1.host:2,S"): mail1,  # duplicate
        ("cur", "1765000005.M5P1.host:2,"): report_mail("friend@example.net", "hello", []),
        ("cur", "1765000006.M6P1.host:2,"): mail6,
        ("new", "1765000007.M7P1.host"): bomb,
        ("new", "1765000008.M8P1.host"): encrypted,
        ("tmp", "1765000009.M9P1.host"): mail2,
    }
    for (sub, name), data in files.items():
        (md / sub / name).write_bytes(data)

    # Expected numbers, computed from the rows above.
    def sums(rowsets):
        total = {"pass": 0, "fail": 0}
        per_ip = {}
        for rows in rowsets:
            for ip, count, _disp, dkim, spf in rows:
                ok = "pass" if (dkim == "pass" or spf == "pass") else "fail"
                total[ok] += count
                per_ip.setdefault(ip, {"pass": 0, "fail": 0})[ok] += count
        return total, per_ip

    ex_total, ex_ips = sums([google_rows, inline_rows])
    ot_total, ot_ips = sums([yahoo_rows])

    rc, out, err = cli(["dmarc", "report", str(md)])
    print(out)
    checks.eq(rc, 0, "dmarc report on the Maildir exits 0")
    checks.eq(err, "", "nothing on stderr")
    checks.ok("DMARC aggregate reports: 3 reports read, 1 duplicate, 4 skipped\n" in out,
              "header line: 3 reports, 1 duplicate, 4 skipped", out.splitlines()[0] if out else "")
    line = (f"example.test: 2 reports, {ex_total['pass'] + ex_total['fail']} messages, "
            f"{ex_total['pass']} pass DMARC, {ex_total['fail']} fail")
    checks.ok(line in out, f"domain line: {line}")
    line = (f"other.test: 1 report, {ot_total['pass'] + ot_total['fail']} messages, "
            f"{ot_total['pass']} pass DMARC, {ot_total['fail']} fail")
    checks.ok(line in out, f"domain line: {line}")
    checks.ok("  google.com  2025-12-06 00:00 .. 2025-12-06 23:59 UTC  id 1122334455667788  "
              "p=quarantine sp=quarantine pct=100 adkim=r aspf=r" in out, "google report line")
    checks.ok("  Mail & Co <reports>  2025-12-05 00:00" in out, "entity-escaped org name read back")
    for ip, count, disp, dkim, spf in google_rows:
        verdict = "pass" if "pass" in (dkim, spf) else "FAIL"
        row = f"    {ip:<39}  {count:>10}  {dkim:<4}  {spf:<4}  {disp:<11}  {verdict}"
        checks.ok(row in out, f"row {ip} {count} {verdict}", row)
    ex_section = out[out.index("who sends as example.test:"):out.index("other.test:")]
    failing = ex_section[:ex_section.index("passing DMARC:")]
    passing = ex_section[ex_section.index("passing DMARC:"):]
    for ip, s in ex_ips.items():
        if s["fail"]:
            checks.ok(f"      {ip:<39}  {s['fail']:>10}" in failing, f"{ip} fails {s['fail']}")
        else:
            checks.ok(ip not in failing, f"{ip} not among the failing")
        if s["pass"]:
            checks.ok(f"      {ip:<39}  {s['pass']:>10}" in passing, f"{ip} passes {s['pass']}")
    checks.ok("192.0.2.200" not in ex_section, "other.test's source is not under example.test")

    skipped = out[out.index("\nskipped:\n"):].splitlines()[2:]
    checks.eq(len(skipped), 5, "five skipped lines (four files and one duplicate)")

    def skipped_line(name, *words):
        hits = [s for s in skipped if name in s]
        checks.ok(len(hits) == 1 and all(w in hits[0] for w in words),
                  f"skipped {name}: {' / '.join(words)}", "\n".join(skipped))

    skipped_line("1765000001.M1P1.host", "duplicate of report 1122334455667788 from google.com",
                 "1765000004.M4P1.host")
    skipped_line("1765000006.M6P1.host", "gzip", "truncated")
    skipped_line("1765000007.M7P1.host", "more than 64 MiB", "zip bomb")
    skipped_line("1765000008.M8P1.host", "encrypted")
    skipped_line("1765000005.M5P1.host", "no DMARC report in it")
    checks.ok("1765000009" not in out, "tmp/ is not read")

    rc, out, err = cli(["dmarc", "report", "--json", str(md)])
    checks.eq(rc, 0, "--json exits 0")
    j = json.loads(out)
    checks.eq((j["reports"], j["duplicates"]), (3, 1), "JSON reports and duplicates")
    doms = {x["domain"]: x for x in j["domains"]}
    checks.eq(sorted(doms), ["example.test", "other.test"], "JSON domains")
    checks.eq((doms["example.test"]["pass"], doms["example.test"]["fail"]),
              (ex_total["pass"], ex_total["fail"]), "JSON example.test pass/fail")
    checks.eq((doms["other.test"]["pass"], doms["other.test"]["fail"]),
              (ot_total["pass"], ot_total["fail"]), "JSON other.test pass/fail")
    got_ips = {s["source_ip"]: {"pass": s["pass"], "fail": s["fail"]}
               for s in doms["example.test"]["sources"]}
    checks.eq(got_ips, ex_ips, "JSON per-source sums for example.test")
    rows = {(r["source_ip"], r["count"], r["dmarc"])
            for rep in doms["example.test"]["reports"] for r in rep["rows"]}
    want = {(ip, c, "pass" if "pass" in (dk, sp) else "fail")
            for ip, c, _d, dk, sp in google_rows + inline_rows}
    checks.eq(rows, want, "JSON rows of example.test")
    g = [r for r in doms["example.test"]["reports"] if r["org_name"] == "google.com"][0]
    checks.eq((g["begin"], g["end"], g["policy"]["p"], g["policy"]["pct"]),
              (1764979200, 1765065599, "quarantine", 100), "JSON google report metadata")
    checks.ok(g["source"].endswith('zip member "' + gname + '.xml"'),
              "JSON source names the zip member", g["source"])
    checks.eq(len(j["skipped"]), 5, "JSON skipped count")

    # A bare report file and a missing path next to it: exit 1, the rest still summarised.
    bare = d / "report.xml.gz"
    bare.write_bytes(gzip.compress(yahoo))
    rc, out, err = cli(["dmarc", "report", str(bare), str(d / "missing")])
    checks.eq(rc, 1, "a missing PATH: exit 1")
    checks.ok("missing: no such file or directory" in err, "stderr names the missing PATH", err)
    checks.ok("other.test: 1 report, 11 messages, 9 pass DMARC, 2 fail" in out,
              "the .xml.gz beside it is summarised", out)
    rc, out, _ = cli(["dmarc", "report", "--help"])
    checks.ok(rc == 0 and "usage: splitmail dmarc report [--json] PATH..." in out, "--help")
    rc, out, _ = cli(["--help"])
    checks.ok("dmarc report [--json] PATH..." in out, "splitmail --help lists dmarc report")


if __name__ == "__main__":
    lib.run_main(main)
