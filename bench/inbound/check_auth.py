"""bench/inbound --auth: proves that every delivered message was checked, from its header.

usage: /usr/bin/python3 bench/inbound/check_auth.py splitmail|postfix MAILDIR AUTHSERV_ID EXPECTED

Reads the header of every file in MAILDIR/new and MAILDIR/cur and requires, in the
Authentication-Results fields (RFC 8601) whose authserv-id is AUTHSERV_ID (fields from anyone
else are not believed):
  splitmail: the relay's field with spf=pass, dkim=pass header.d=sender.example,
             dmarc=pass and iprev=pass;
  postfix:   spf=pass (policyd-spf, Header_Type = AR), dkim=pass header.d=sender.example
             (OpenDKIM), dmarc=pass (OpenDMARC), each in its own field; and Postfix's Received
             field naming the client as mail.sender.example, which Postfix writes only when the
             PTR name of 127.0.0.1 resolved back to it (its forward-confirmed client name, the
             same test as iprev; "unknown" otherwise).
Prints one line per check with the number of files that passed it; exit status 1 unless every
check passed for every file and there are EXPECTED files.
"""
import re
import sys
from pathlib import Path


def header_fields(path: Path) -> list[tuple[str, str]]:
    """The header's fields, unfolded (RFC 5322 2.2.3), up to the first empty line."""
    fields: list[tuple[str, str]] = []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                break
            if line[0] in " \t" and fields:
                name, value = fields[-1]
                fields[-1] = (name, value + " " + line.strip())
            elif ":" in line:
                name, value = line.split(":", 1)
                fields.append((name.strip().lower(), value.strip()))
    return fields


def strip_comments(value: str) -> str:
    """RFC 5322 3.2.2 comments (nested parentheses) removed; quoted strings kept."""
    out, depth, quoted = [], 0, False
    for c in value:
        if c == '"' and depth == 0:
            quoted = not quoted
        if not quoted and c == "(":
            depth += 1
            continue
        if not quoted and c == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(c)
    return "".join(out)


def results(value: str) -> tuple[str, list[dict[str, str]]]:
    """authserv-id and the resinfo list of one Authentication-Results value (RFC 8601 2.2):
    each as {"method": ..., "result": ..., property: value, ...}."""
    parts = [p.strip() for p in strip_comments(value).split(";")]
    authserv = parts[0].split()[0] if parts and parts[0] else ""
    out = []
    for p in parts[1:]:
        toks = p.split()
        if not toks or "=" not in toks[0]:
            continue
        method, result = toks[0].split("=", 1)
        r = {"method": method.lower(), "result": result.lower()}
        for t in toks[1:]:
            if "=" in t:
                k, v = t.split("=", 1)
                r[k.lower()] = v
        out.append(r)
    return authserv, out


def main() -> None:
    side, maildir, authserv, expected = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    files = [p for sub in ("new", "cur") if (maildir / sub).is_dir()
             for p in (maildir / sub).iterdir() if p.is_file()]
    wanted = {
        "spf=pass": lambda r: r["method"] == "spf" and r["result"] == "pass",
        "dkim=pass header.d=sender.example":
            lambda r: r["method"] == "dkim" and r["result"] == "pass"
            and r.get("header.d", "").lower() == "sender.example",
        "dmarc=pass": lambda r: r["method"] == "dmarc" and r["result"] == "pass",
    }
    if side == "splitmail":
        wanted["iprev=pass"] = lambda r: r["method"] == "iprev" and r["result"] == "pass"
    passed = {k: 0 for k in wanted}
    confirmed_name = 0
    ours_fields = 0
    bad: list[str] = []
    for f in files:
        fields = header_fields(f)
        ours = [res for name, v in fields if name == "authentication-results"
                for a, res in [results(v)] if a.lower() == authserv.lower()]
        ours_fields += len(ours)
        every = [r for res in ours for r in res]
        ok = True
        for k, test in wanted.items():
            if any(test(r) for r in every):
                passed[k] += 1
            else:
                ok = False
        if side == "postfix":
            # Postfix's own Received field: "from HELO (NAME [ADDR])", NAME "unknown" unless
            # the reverse lookup was confirmed forward.
            rec = [v for name, v in fields if name == "received" and "(Postfix)" in v]
            if rec and re.search(r"^from \S+ \(mail\.sender\.example \[127\.0\.0\.1\]\)", rec[0]):
                confirmed_name += 1
            else:
                ok = False
        if not ok and len(bad) < 3:
            bad.append(f"{f.name}: " + " | ".join(f"{n}: {v}" for n, v in fields
                                                  if n in ("authentication-results",
                                                           "received", "received-spf")))
    print(f"{side}: {len(files)} files (expected {expected}); fields of {authserv}: {ours_fields}")
    for k, n in passed.items():
        print(f"{side}:   {k:34s} {n}/{len(files)}")
    if side == "postfix":
        print(f"{side}:   {'client name confirmed (Received)':34s} {confirmed_name}/{len(files)}")
    for b in bad:
        print(f"{side}: NOT CHECKED: {b[:1500]}")
    good = (len(files) == expected and all(n == len(files) for n in passed.values())
            and (side != "postfix" or confirmed_name == len(files)))
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
