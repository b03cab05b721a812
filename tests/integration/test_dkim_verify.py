"""DKIM signatures made by relay/dkim verify with verifiers we did not write.

- `splitmail dkim keygen` writes an RSA-2048 and an Ed25519 key (0600) and prints their TXT
  records; it refuses to overwrite a key without --force, replaces it with --force;
- the signer (driven through test_relay's dkim_corpus test, which signs every message of
  tests/data/dkim/corpus with those keys) puts two DKIM-Signature fields in front of each
  message;
- every signature of every message verifies with dkimpy (python3-dkim, dkim.DKIM.verify(idx=i)
  for each i, dnsfunc serving exactly the TXT records keygen printed) and with OpenDKIM 2.11
  (`opendkim -t` in verify mode, TestPublicKeys file holding the same records), one result per
  selector read from its Authentication-Results;
- controls that show the checks can fail: a changed body fails both signatures in both
  verifiers; a From: added on top fails in dkimpy (From is oversigned); a wrong public key fails.
No DNS is used: both verifiers read the public keys from local data.
"""
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402

import dkim  # python3-dkim (Debian), only visible to /usr/bin/python3

DOMAIN = "example.test"
TEST_RELAY = lib.BIN / "tests" / "test_relay"
OPENDKIM = "/usr/sbin/opendkim"


def keygen(keys: Path, selector: str, *extra: str):
    return lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN,
                         "--selector", selector, "--dir", str(keys), *extra])


def parse_records(text: str) -> dict[str, str]:
    """'SEL._domainkey.D. IN TXT "a" "b"' lines -> {name: 'ab'} (strings concatenated)."""
    records = {}
    for line in text.splitlines():
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r'(\S+)\. IN TXT ((?:"[^"]*" ?)+)', line)
        if not m:
            lib.fail(f"keygen printed a line that is not a TXT record: {line!r}")
        parts = re.findall(r'"([^"]*)"', m.group(2))
        if any(len(p) > 255 for p in parts):
            lib.fail(f"TXT character-string longer than 255 octets in {line!r}")
        records[m.group(1)] = "".join(parts)
    return records


def dkimpy_results(msg: bytes, dns: dict[str, str]) -> list[tuple[str, bool]]:
    """[(selector, verified)] for every DKIM-Signature, top to bottom."""
    def dnsfunc(name, timeout=5):
        return dns.get(name.decode().rstrip("."), "").encode() or None
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in dkim.rfc822_parse(msg)[0] if k.lower() == b"dkim-signature"]
    out = []
    for i, sig in enumerate(sigs):
        sel = re.search(rb"\bs=([^;\s]+)", sig).group(1).decode()
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        out.append((sel, bool(ok)))
    return out


def opendkim_results(msg_path: Path, keyfile: Path, workdir: Path) -> dict[str, str]:
    """{selector: 'pass'|'fail'|...} from the Authentication-Results opendkim -t would add."""
    if not msg_path.read_bytes().endswith(b"\n"):
        # opendkim -t drops a last line without a line end and then reports "message not
        # signed" (also for messages dkimpy signs). Over SMTP the line end is always there
        # (RFC 5321 4.1.1.4: the CRLF before "." ends the last line), so give it that form.
        copy = workdir / (msg_path.name + ".crlf")
        copy.write_bytes(msg_path.read_bytes() + b"\r\n")
        msg_path = copy
    conf = workdir / "opendkim.conf"
    conf.write_text(f"Mode v\nTestPublicKeys {keyfile}\nSyslog no\n")
    r = lib.run_tool([OPENDKIM, "-x", str(conf), "-vv", "-t", str(msg_path)])
    text = (r.stdout + r.stderr).decode(errors="replace")
    results = {}
    for m in re.finditer(r"dkim=(\w+)[^;]*?header\.s=(\S+)", text):
        results[m.group(2)] = m.group(1)
    if not results:
        lib.fail(f"no dkim= result from opendkim -t for {msg_path.name}:\n{text}")
    return results


def main():
    checks.name = "test_dkim_verify"
    lib.require_binaries(lib.CLI_BIN, TEST_RELAY, Path(OPENDKIM))
    work = lib.tmpdir("dkim")
    keys = work / "keys"

    # --- keygen
    r = keygen(keys, "itest")
    if r.returncode != 0 and b"unknown command" in r.stderr:
        lib.fail("`splitmail dkim` is not dispatched: provision/main.cpp must call "
                 "splitmail::provision::run_dkim (provision/commands/dkim.hpp)")
    checks.eq(r.returncode, 0, f"keygen exits 0 ({r.stderr.decode().strip()})")
    records = parse_records(r.stdout.decode())
    rsa_sel, ed_sel = "itest-rsa", "itest-ed25519"
    checks.eq(sorted(records), sorted([f"{rsa_sel}._domainkey.{DOMAIN}",
                                       f"{ed_sel}._domainkey.{DOMAIN}"]),
              "keygen prints one TXT record per key, named SEL._domainkey.D.")
    rsa_txt = records.get(f"{rsa_sel}._domainkey.{DOMAIN}", "")
    ed_txt = records.get(f"{ed_sel}._domainkey.{DOMAIN}", "")
    checks.ok(rsa_txt.startswith("v=DKIM1; k=rsa; p=") and len(rsa_txt) > 255,
              "RSA record is v=DKIM1; k=rsa; p=... and long enough to need splitting")
    checks.ok(re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", ed_txt) is not None,
              f"Ed25519 record carries the raw 32-octet key (RFC 8463 4.2): {ed_txt}")
    for sel in (rsa_sel, ed_sel):
        f = keys / DOMAIN / f"{sel}.key"
        mode = stat.S_IMODE(f.stat().st_mode) if f.exists() else None
        checks.eq(mode, 0o600, f"{f.name} exists with mode 0600")
    checks.eq(stat.S_IMODE((keys / DOMAIN).stat().st_mode), 0o700, "key directory is 0700")

    before = (keys / DOMAIN / f"{rsa_sel}.key").read_bytes()
    r = keygen(keys, "itest")
    checks.ok(r.returncode == 1 and b"--force" in r.stderr,
              f"second keygen refuses to overwrite without --force ({r.stderr.decode().strip()})")
    checks.eq((keys / DOMAIN / f"{rsa_sel}.key").read_bytes(), before, "key left untouched")
    r = lib.run_tool([str(lib.CLI_BIN), "dkim", "txt", "--domain", DOMAIN, "--dir", str(keys)])
    checks.eq(parse_records(r.stdout.decode()), records, "`dkim txt` prints the same records")

    # --- sign the corpus with these keys
    signed = work / "signed"
    signed.mkdir()
    env = dict(os.environ, SPLITMAIL_DKIM_KEY_DIR=str(keys), SPLITMAIL_DKIM_DOMAIN=DOMAIN,
               SPLITMAIL_DKIM_SIGNED_DIR=str(signed))
    r = subprocess.run([str(TEST_RELAY), "--gtest_filter=dkim_corpus.*"], env=env,
                       capture_output=True, timeout=300)
    checks.eq(r.returncode, 0, "test_relay dkim_corpus signs the corpus" +
              ("" if r.returncode == 0 else "\n" + r.stdout.decode()[-3000:]))
    corpus = sorted((lib.SRC / "tests" / "data" / "dkim" / "corpus").glob("*.eml"))
    files = sorted(signed.iterdir())
    checks.eq([f.name for f in files], [c.name for c in corpus], "one signed file per message")

    keyfile = work / "testkeys"
    keyfile.write_text("".join(f"{n} {v}\n" for n, v in records.items()))
    for f in files:
        msg = f.read_bytes()
        py = dkimpy_results(msg, records)
        checks.eq(py, [(rsa_sel, True), (ed_sel, True)],
                  f"dkimpy verifies both signatures of {f.name}")
        od = opendkim_results(f, keyfile, work)
        checks.eq(od, {rsa_sel: "pass", ed_sel: "pass"},
                  f"OpenDKIM verifies both signatures of {f.name}")

    # --- controls: the verifiers do reject what they should
    sample = signed / "13_reply_thread.eml"
    msg = sample.read_bytes()
    tampered = work / "tampered.eml"
    tampered.write_bytes(msg.replace(b"Sure.", b"Sure!"))
    checks.eq(dkimpy_results(tampered.read_bytes(), records), [(rsa_sel, False), (ed_sel, False)],
              "dkimpy: changed body fails both signatures")
    checks.eq(opendkim_results(tampered, keyfile, work), {rsa_sel: "fail", ed_sel: "fail"},
              "OpenDKIM: changed body fails both signatures")
    # A From: added above the signed one: the oversigned From makes this fail (RFC 6376 8.15).
    end_of_sigs = msg.index(b"From: Bob")
    added = msg[:end_of_sigs] + b"From: Mallory <boss@example.test>\r\n" + msg[end_of_sigs:]
    checks.eq(dkimpy_results(added, records), [(rsa_sel, False), (ed_sel, False)],
              "dkimpy: a From: added on top fails both signatures (From oversigned)")
    other = lib.run_tool([str(lib.CLI_BIN), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                          "other", "--dir", str(work / "other")])
    wrong = parse_records(other.stdout.decode())
    swapped = {f"{rsa_sel}._domainkey.{DOMAIN}": wrong[f"other-rsa._domainkey.{DOMAIN}"],
               f"{ed_sel}._domainkey.{DOMAIN}": wrong[f"other-ed25519._domainkey.{DOMAIN}"]}
    checks.eq(dkimpy_results(msg, swapped), [(rsa_sel, False), (ed_sel, False)],
              "dkimpy: another domain's keys fail both signatures")
    wrongfile = work / "wrongkeys"
    wrongfile.write_text("".join(f"{n} {v}\n" for n, v in swapped.items()))
    checks.eq(opendkim_results(sample, wrongfile, work), {rsa_sel: "fail", ed_sel: "fail"},
              "OpenDKIM: another domain's keys fail both signatures")

    r = keygen(keys, "itest", "--force")
    checks.eq(r.returncode, 0, "keygen --force replaces the keys")
    checks.ok((keys / DOMAIN / f"{rsa_sel}.key").read_bytes() != before, "key replaced")


lib.run_main(main)
