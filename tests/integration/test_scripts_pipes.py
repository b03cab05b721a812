#!/usr/bin/python3
"""scripts/ under `set -o pipefail` never cut a pipe short (issue 16 bug 0).

`./scripts/demo` printed its queue listing with `queue list | sed | head -8`. Once the listing
passed the pipe buffer (~4 KB, some 17 queued messages), head exited after 8 lines, sed died of
SIGPIPE, pipefail made the pipeline fail, `set -e` ended the demo and its EXIT trap stopped both
servers right after starting them.

- The demo's own queue-listing line, run as the demo runs it (its one-line helper functions,
  `set -euo pipefail`) with a `splitmail` that prints a 400 KB listing: exit 0, 8 lines shown.
- Every bash script in scripts/ that sets pipefail: no pipeline stage that may stop reading
  before its input ends (`head`, `grep -q`, `grep -m`, `sed …q`).
No daemons; only files in a temp dir.
"""
import re
import subprocess

import lib
from lib import SRC, checks

EARLY_EXIT = re.compile(
    r"\|\s*(head\b|grep\s+(-\w*[qm]\w*|--quiet|--max-count)|sed\s+(-n\s+)?'?[0-9]*q)")


def pipes_that_stop_early(path):
    """Lines of a pipefail script with a pipe into a reader that may exit before EOF."""
    found = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        code = code.replace("||", "  ")
        if EARLY_EXIT.search(code):
            found.append(f"{path.name}:{n}: {line.strip()}")
    return found


def main():
    d = lib.tmpdir("scripts-pipes")
    demo = (SRC / "scripts" / "demo").read_text().splitlines()

    # A stand-in for `splitmail queue list`: 4000 lines (~400 KB), far beyond a pipe buffer.
    fake = d / "splitmail"
    fake.write_text("#!/bin/sh\nfor i in $(seq 1 4000); do\n"
                    "  echo \"q$i  2026-12-05T08:00:00Z  demo@example.test -> friend$i@elsewhere.test"
                    "  attempts=3  last: 4.4.3 resolver 127.0.0.1:9 did not answer\"\ndone\n")
    fake.chmod(0o755)
    helpers = [l for l in demo if re.match(r"^[a-z_]+\(\) \{.*\}\s*$", l)]
    listing = [l for l in demo if "queue list --spool" in l and not l.lstrip().startswith("#")]
    checks.eq(len(listing), 1, "scripts/demo has one queue-listing line")
    snippet = "\n".join(["set -euo pipefail", f"cli_bin={fake}", f"data={d}"] + helpers
                        + listing + ["echo demo-goes-on"])
    r = subprocess.run(["bash", "-c", snippet], capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace").splitlines()
    checks.ok(r.returncode == 0 and out[-1:] == ["demo-goes-on"],
              "the demo's queue-listing line survives a 400 KB listing under pipefail",
              f"exit {r.returncode} (141 = SIGPIPE), last line {out[-1:]!r}, "
              f"stderr {r.stderr.decode(errors='replace')[-300:]!r}")
    shown = [l for l in out if l.startswith("     | ")]
    checks.eq(len(shown), 8, "it still shows the first 8 lines of the listing")

    bad = []
    for script in sorted((SRC / "scripts").iterdir()):
        text = script.read_text(errors="replace")
        if not text.startswith("#!") or "bash" not in text.splitlines()[0]:
            continue
        if "pipefail" in text:
            bad += pipes_that_stop_early(script)
    checks.ok(not bad, "no pipe in a pipefail script of scripts/ into head / grep -q / grep -m",
              "\n       ".join(bad))
    # The pattern itself must catch what bug 0 was.
    probe = d / "probe"
    probe.write_text("set -o pipefail\nx | sed 's/^/ /' | head -8\ndpkg -l | grep -q foo\n"
                     "ok || head -1 f\n")
    checks.eq(len(pipes_that_stop_early(probe)), 2, "the check finds `| head` and `| grep -q`")


lib.run_main(main)
