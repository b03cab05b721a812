#!/usr/bin/python3
"""`splitmail dns plan|export|apply` against the fake deSEC (tests/fakes/desec/), which checks
record contents in presentation format as deSEC does.

Fixture tree: `splitmail provision relay --root` (site.toml, relay.toml, DKIM keys, self-signed
certificate), the site's [desec] pointed at the fake, a 0600 token file. Shows: plan and export list every record (TLSA equal
to the SPKI hash openssl computes); apply without --yes on a non-terminal refuses and writes
nothing; the first apply creates everything with one request per domain, TTL raised to the
domain's minimum; a second apply writes nothing; a regenerated DKIM key updates only that RRset in
one request; RRsets splitmail does not own survive, --prune removes them but not the apex NS nor
the A/AAAA of the IMAP host (splitmail-ddns), also when the site has no imap_host (home.<primary>,
issue 16 bug 2); a 429 is waited out; a 400 is reported per RRset;
a readable token file is refused; a "no" on a terminal writes nothing."""
import json
import os
import pty
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SRC = os.environ.get("SPLITMAIL_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests/fakes/desec"))
import harness  # noqa: E402
from harness import check  # noqa: E402
from fake_desec import FakeDesec  # noqa: E402

D1, D2 = "splitmail.example", "second.example"
HOST = "mx." + D1
IP4, IP6 = "192.0.2.25", "2001:db8:25::25"
TOKEN = "tok-dns-Hq83nVz2"
SLOW = 3.0 if os.environ.get("ASAN_OPTIONS") else 1.0

CLI = os.path.join(os.environ.get("SPLITMAIL_BIN", "build"), "provision", "splitmail")
checks = harness.Checks()
tmp = tempfile.mkdtemp(prefix="splitmail-dns-")
ca, server_cert, server_key = harness.make_ca(tmp)
fake = FakeDesec(server_cert, server_key, write_limits=[(1, 100), (60, 1000)])
fake.add_domain(D1, "alice", minimum_ttl=3600)
fake.add_domain(D2, "alice", minimum_ttl=3600)
fake.add_token(TOKEN, "alice")
fake.start()

root = os.path.join(tmp, "root")
dkim_dir = os.path.join(root, "etc/splitmail/dkim")
site_file = os.path.join(root, "etc/splitmail/site.toml")
cert_file = os.path.join(root, "etc/splitmail/tls/relay.crt")
token_file = os.path.join(root, "etc/splitmail/desec.token")


def run(*args, stdin=subprocess.DEVNULL, timeout=60):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, stdin=stdin,
                       timeout=timeout * SLOW)
    harness.check_no_sanitizer_report(p.stdout + p.stderr, "splitmail " + " ".join(args))
    return p.returncode, p.stdout, p.stderr


def dns(*args, **kw):
    return run("dns", args[0], "--site", site_file, *args[1:], **kw)


def writes(domain=None, status=None):
    return fake.requests("write", status=status, domain=domain)


def build_tree():
    """The relay's tree as `splitmail provision relay --root` writes it (site.toml, relay.toml,
    DKIM keys, self-signed certificate), pointed at the fake deSEC."""
    rc, out, err = run("provision", "relay", "--domain", D1, "--domain", D2, "--hostname", HOST,
                       "--public-ipv4", IP4, "--public-ipv6", IP6, "--imap-host", "home." + D1,
                       "--root", root, timeout=120)
    check(rc == 0, out + err)
    with open(site_file) as f:
        text = f.read()
    for key, value in (("api_url", fake.base_url), ("ca_file", ca), ("token_file", token_file),
                       ("ttl", 300)):
        text, n = re.subn(r"(?m)^%s = .*$" % key, "%s = %s" % (key, json.dumps(value)), text)
        check(n == 1, "%s not found once in %s" % (key, site_file))
    with open(site_file, "w") as f:
        f.write(text)
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token_file, 0o600)


def zone_lines(text):
    """(name, ttl, type, rdata) of each zone-file entry."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r"(\S+\.) +(\d+) IN ([A-Z]+) (.+)", line)
        check(m, "not a zone-file entry: %r" % line)
        out.append((m.group(1), int(m.group(2)), m.group(3), m.group(4)))
    return out


def planned(domain):
    """{(subname, type): sorted records} from `dns export --domain`."""
    rc, out, err = dns("export", "--domain", domain)
    check(rc == 0, err)
    want = {}
    for name, _, rtype, rdata in zone_lines(out):
        sub = name[:-len(domain) - 2] if name != domain + "." else ""
        want.setdefault((sub, rtype), []).append(rdata)
    return {k: sorted(v) for k, v in want.items()}


def at_fake(domain):
    return {k: sorted(v["records"]) for k, v in fake.rrsets_of(domain).items()}


def spki_sha256():
    pub = subprocess.run(["openssl", "x509", "-in", cert_file,
                          "-pubkey", "-noout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def plan_and_export():
    rc, out, err = dns("plan")
    check(rc == 0, err)
    for want in ("@", "MX", "10 %s." % HOST, "v=spf1 ip4:%s ip6:%s -all" % (IP4, IP6),
                 "sm1-rsa._domainkey", "sm1-ed25519._domainkey", "_dmarc",
                 "v=DMARC1; p=none; rua=mailto:postmaster@" + D1, "_smtp._tls",
                 "_submissions._tcp", "0 1 465 %s." % HOST, "10 1 587 %s." % HOST,
                 "0 1 993 home.%s." % D1, "_25._tcp.mx", "note: PTR", D2):
        check(want in out, "%r missing from plan:\n%s" % (want, out))
    rc, out, err = dns("export", "--domain", D1)
    check(rc == 0, err)
    entries = zone_lines(out)
    check(all(e[0].endswith(D1 + ".") and e[1] == 300 for e in entries), entries)
    tlsa = [e for e in entries if e[2] == "TLSA"]
    check(tlsa == [("_25._tcp.%s." % HOST, 300, "TLSA", "3 1 1 " + spki_sha256())], tlsa)
    types = sorted({e[2] for e in entries})
    check(types == ["A", "AAAA", "MX", "SRV", "TLSA", "TXT"], types)
    check("; note: PTR" in out, 'expected: "; note: PTR" in out')
    # The second domain's MX points at the relay; its address records live in D1.
    d2 = planned(D2)
    check(d2[("", "MX")] == ["10 %s." % HOST] and ("mx", "A") not in d2, d2)


def refuses_without_yes_on_a_pipe():
    fake.set_rrset(D1, "www", "A", ["192.0.2.80"], 3600)  # someone else's record
    fake.set_rrset(D1, "home", "AAAA", ["2001:db8:99::1"], 60)  # splitmail-ddns' record
    rc, out, err = dns("apply")
    check(rc == 1, (rc, out, err))
    check("--yes" in err and "terminal" in err, err)
    check("+ %s. 3600 MX 10 %s." % (D1, HOST) in out, "the diff is not shown:\n" + out)
    check(writes() == [], writes())


def first_apply_creates_everything():
    rc, out, err = dns("apply", "--yes")
    check(rc == 0, (rc, out, err))
    for d in (D1, D2):
        w = writes(d)
        check(len(w) == 1 and w[0]["method"] == "PATCH" and w[0]["status"] == 200, w)
        check(w[0]["path"] == "/api/v1/domains/%s/rrsets/" % d, w)
        want = planned(d)
        check(len(w[0]["body"]) == len(want), (len(w[0]["body"]), len(want)))
        have = at_fake(d)
        for key, records in want.items():
            check(have.get(key) == records, (key, have.get(key), records))
            check(fake.rrset(d, *key)["ttl"] == 3600, "TTL not raised to minimum_ttl")
        check(have[("", "NS")] == ["ns1.desec.io.", "ns2.desec.org."],
              'expected: have[("", "NS")] == ["ns1.desec.io.", "ns2.desec.org."]')
    check("raised to deSEC's minimum_ttl 3600" in out, out)
    check(at_fake(D1)[("www", "A")] == ["192.0.2.80"], "a record splitmail does not own changed")


def second_apply_writes_nothing():
    before = len(writes())
    rc, out, err = dns("apply")  # no --yes needed: nothing to confirm
    check(rc == 0, (rc, out, err))
    check(out.count("deSEC is up to date") == 2, out)
    check(len(writes()) == before, writes()[before:])


def new_dkim_key_updates_one_rrset():
    old = at_fake(D1)[("sm1-rsa._domainkey", "TXT")]
    rc, _, err = run("dkim", "keygen", "--domain", D1, "--selector", "sm1-rsa",
                     "--algorithm", "rsa", "--force", "--dir", dkim_dir)
    check(rc == 0, err)
    before = len(writes())
    rc, out, err = dns("apply", "--yes", "--domain", D1)
    check(rc == 0, (rc, out, err))
    w = writes()[before:]
    check(len(w) == 1 and w[0]["status"] == 200, w)
    check([(i["subname"], i["type"]) for i in w[0]["body"]] == [("sm1-rsa._domainkey", "TXT")], w[0]["body"])
    new = at_fake(D1)[("sm1-rsa._domainkey", "TXT")]
    check(new != old and new == planned(D1)[("sm1-rsa._domainkey", "TXT")],
          'expected: new != old and new == planned(D1)[("sm1-rsa._domainkey", "TXT")]')
    check("~ sm1-rsa._domainkey.%s. TXT" % D1 in out, out)
    check("1 RRset written in one request" in out, out)


def prune_keeps_ns_and_ddns_names():
    before = len(writes())
    rc, out, err = dns("apply", "--yes", "--prune", "--domain", D1)
    check(rc == 0, (rc, out, err))
    w = writes()[before:]
    check(len(w) == 1 and w[0]["body"] == [{"subname": "www", "type": "A", "records": []}], w)
    have = at_fake(D1)
    check(("www", "A") not in have, 'expected: ("www", "A") not in have')
    check(("", "NS") in have and ("home", "AAAA") in have, have)
    check("- www.%s. 3600 A 192.0.2.80" % D1 in out, out)


def prune_keeps_ddns_names_without_imap_host():
    """Issue 16 bug 2: a relay provisioned without --imap-host has `imap_host = ""`; home then
    calls itself home.<primary domain> and splitmail-ddns keeps its A/AAAA. --prune with that
    site file must spare them, and plan says why no _imaps._tcp SRV is published."""
    bare = os.path.join(tmp, "site-no-imap-host.toml")
    with open(site_file) as f:
        text, n = re.subn(r'(?m)^imap_host = .*$', 'imap_host = ""', f.read())
    check(n == 1, "imap_host not found once in " + site_file)
    with open(bare, "w") as f:
        f.write(text)
    fake.set_rrset(D1, "home", "A", ["198.51.100.7"], 60)  # splitmail-ddns' records
    fake.set_rrset(D1, "home", "AAAA", ["2001:db8:99::1"], 60)
    fake.set_rrset(D1, "old", "A", ["192.0.2.81"], 3600)    # stale: pruned
    before = len(writes())
    rc, out, err = run("dns", "apply", "--site", bare, "--yes", "--prune", "--domain", D1)
    check(rc == 0, (rc, out, err))
    check("- home.%s." % D1 not in out and "- old.%s." % D1 in out, out)
    w = writes()[before:]
    removed = [(i["subname"], i["type"]) for b in w for i in b["body"] if i["records"] == []]
    check(("home", "A") not in removed and ("home", "AAAA") not in removed, removed)
    check(("old", "A") in removed, removed)
    have = at_fake(D1)
    check(("home", "A") in have and ("home", "AAAA") in have, have)
    rc, out, err = run("dns", "plan", "--site", bare, "--domain", D1)
    check(rc == 0, err)
    check("IMAP is not announced" in out and "home.%s" % D1 in out, out)


def throttled_write_is_retried():
    rc, _, err = run("dkim", "keygen", "--domain", D1, "--selector", "sm1-ed25519",
                     "--algorithm", "ed25519", "--force", "--dir", dkim_dir)
    check(rc == 0, err)
    fake.inject(429, count=1, kinds=("write",), retry_after=1)
    before = len(writes())
    t0 = time.monotonic()
    rc, out, err = dns("apply", "--yes", "--domain", D1)
    check(rc == 0, (rc, out, err))
    w = writes()[before:]
    check([e["status"] for e in w] == [429, 200], w)
    check(w[1]["t"] - w[0]["t"] >= 0.9, "did not wait for Retry-After")
    check(time.monotonic() - t0 < 30 * SLOW, 'expected: time.monotonic() - t0 < 30 * SLOW')
    check("retrying in 1 s" in err, err)
    check(at_fake(D1)[("sm1-ed25519._domainkey", "TXT")] == \
        planned(D1)[("sm1-ed25519._domainkey", "TXT")], "DKIM TXT at the fake as planned")


def bad_request_is_readable():
    rc, _, err = run("dkim", "keygen", "--domain", D2, "--selector", "sm1-rsa",
                     "--algorithm", "rsa", "--force", "--dir", dkim_dir)
    check(rc == 0, err)
    fake.inject(400, count=1, kinds=("write",),
                body=[{"records": ["TXT record content must be enclosed in double quotes."]}])
    old = at_fake(D2)[("sm1-rsa._domainkey", "TXT")]
    rc, out, err = dns("apply", "--yes", "--domain", D2)
    check(rc == 1, (rc, out, err))
    check(("sm1-rsa._domainkey.%s. TXT: records: TXT record content must be enclosed"
            % D2) in err, err)
    check("nothing of %s was written" % D2 in err, err)
    check(at_fake(D2)[("sm1-rsa._domainkey", "TXT")] == old,
          'expected: at_fake(D2)[("sm1-rsa._domainkey", "TXT")] == old')
    rc, out, err = dns("apply", "--yes", "--domain", D2)  # and once deSEC accepts it again
    check(rc == 0, err)


def readable_token_refused():
    os.chmod(token_file, 0o644)
    try:
        rc, out, err = dns("apply", "--yes")
        check(rc == 1 and "chmod 600" in err and TOKEN not in err + out, (rc, err))
    finally:
        os.chmod(token_file, 0o600)


def no_on_a_terminal_writes_nothing():
    fake.set_rrset(D1, "_dmarc", "TXT", ['"v=DMARC1; p=reject"'], 3600)
    before = len(writes())
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "dns", "apply", "--site", site_file, "--domain", D1],
                         stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    os.write(master, b"n\n")
    out, err = p.communicate(timeout=60 * SLOW)
    os.close(master)
    harness.check_no_sanitizer_report(out + err, "splitmail dns apply")
    check(p.returncode == 1, (p.returncode, out, err))
    check("Write these changes to deSEC? [y/N]" in out and "nothing changed" in err, (out, err))
    check(len(writes()) == before, 'expected: len(writes()) == before')
    rc, out, err = dns("apply", "--yes", "--domain", D1)
    check(rc == 0 and at_fake(D1)[("_dmarc", "TXT")] == planned(D1)[("_dmarc", "TXT")], err)


def fake_refuses_bad_presentation_format():
    """The fake must refuse what deSEC refuses, or the checks above prove nothing."""
    ctx = ssl.create_default_context(cafile=ca)
    items = [{"subname": "a", "type": "MX", "ttl": 3600, "records": ["10 mx.example"]},
             {"subname": "b", "type": "SRV", "ttl": 3600, "records": ["0 1 465"]},
             {"subname": "c", "type": "TXT", "ttl": 3600, "records": ["v=spf1 -all"]},
             {"subname": "d", "type": "TXT", "ttl": 3600, "records": ['"%s"' % ("x" * 256)]},
             {"subname": "e", "type": "TLSA", "ttl": 3600, "records": ["3 1 1 abcd"]},
             {"subname": "f", "type": "TXT", "ttl": 3600,
              "records": ['"%s" "%s"' % ("x" * 255, "y" * 10)]},
             {"subname": "g", "type": "SRV", "ttl": 3600, "records": ["0 0 0 ."]}]
    req = urllib.request.Request(fake.base_url + "domains/%s/rrsets/" % D2, method="PATCH",
                                 data=json.dumps(items).encode())
    req.add_header("Authorization", "Token " + TOKEN)
    req.add_header("Content-Type", "application/json")
    try:
        urllib.request.urlopen(req, context=ctx, timeout=10)
        raise AssertionError("the fake accepted malformed records")
    except urllib.error.HTTPError as e:
        check(e.code == 400, 'expected: e.code == 400')
        body = json.loads(e.read())
    check([bool(b) for b in body] == [True] * 5 + [False, False], body)
    check("dot" in body[0]["records"][0] and "255" in body[3]["records"][0], body)


try:
    build_tree()
    checks.run("dns_plan_and_export_list_every_record", plan_and_export)
    checks.run("dns_apply_refuses_without_yes_on_a_pipe", refuses_without_yes_on_a_pipe)
    checks.run("dns_first_apply_one_request_per_domain", first_apply_creates_everything)
    checks.run("dns_second_apply_writes_nothing", second_apply_writes_nothing)
    checks.run("dns_new_dkim_key_updates_one_rrset", new_dkim_key_updates_one_rrset)
    checks.run("dns_prune_keeps_apex_ns_and_ddns_names", prune_keeps_ns_and_ddns_names)
    checks.run("dns_prune_keeps_ddns_names_without_imap_host",
               prune_keeps_ddns_names_without_imap_host)
    checks.run("dns_throttled_write_waits_retry_after", throttled_write_is_retried)
    checks.run("dns_bad_request_named_per_rrset", bad_request_is_readable)
    checks.run("dns_readable_token_file_refused", readable_token_refused)
    checks.run("dns_no_on_a_terminal_writes_nothing", no_on_a_terminal_writes_nothing)
    checks.run("fake_refuses_bad_presentation_format", fake_refuses_bad_presentation_format)
finally:
    fake.stop()
    if not os.environ.get("KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("kept " + tmp)
checks.finish()
