"""`splitmail setup relay` on a terminal (a pty): it asks for what the flags do not give, offers
the defaults (mx.<domain>, home.<domain>), reads the deSEC token without echo, shows its plan and
asks before changing anything; "n" changes nothing, "y" goes on. --no-systemd and --root keep it
in a temp dir; the dry run stops before DNS, so no deSEC is needed.
"""
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402

TOKEN = "tok-interactive-Zq81"


def converse(argv: list[str], answers: list[tuple[str, str]], timeout: float = 60) -> tuple[int, str]:
    """Runs argv on a pty; for each (prompt, answer) waits for the prompt text, then types the
    answer. Returns the exit status and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    seen = b""
    deadline = time.monotonic() + timeout * lib.SLOW
    pending = list(answers)

    def read_some() -> bool:
        nonlocal seen
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            return True
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        seen += chunk
        return True

    while time.monotonic() < deadline:
        if pending and pending[0][0].encode() in seen:
            prompt, answer = pending.pop(0)
            seen += b"<<typed>>"  # later prompts must come after this point
            os.write(fd, answer.encode() + b"\n")
            continue
        if not read_some():
            break
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        lib.fail(f"{' '.join(argv)} still runs after {timeout}s; the terminal showed:\n"
                 f"{seen.decode(errors='replace')}")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = seen.decode(errors="replace")
    if pending:
        lib.fail(f"prompt {pending[0][0]!r} never came; the terminal showed:\n{text}")
    return os.waitstatus_to_exitcode(status), text


def main() -> None:
    lib.require_binaries(lib.CLI_BIN)
    d = lib.tmpdir("setupi")
    root = d / "R"
    base = [str(lib.CLI_BIN.resolve()), "setup", "relay", "--root", str(root), "--no-systemd",
            # a deSEC that refuses at once (nothing listens there): dns apply fails quickly
            "--desec-api", "https://127.0.0.1:9/api/v1/"]
    answers = [("Mail domain", "example.org"), ("public host name (MX) [mx.example.org]", ""),
               ("public IPv4 address", "192.0.2.44"),
               ("IMAP at home [home.example.org]", ""), ("deSEC API token (not shown)", TOKEN)]

    rc, text = converse(base + ["--dry-run"], answers)
    checks.ok(rc == 0 and "dry run: nothing was changed" in text and not root.exists(),
              "asked on a terminal, --dry-run shows the plan and writes nothing", text)
    checks.ok(TOKEN not in text, "the deSEC token is not echoed", text)
    checks.ok(f"would create {root}/etc/splitmail/relay.toml" in text, "the plan lists relay.toml",
              text)

    rc, text = converse(base, answers + [("Go ahead? [y/N]", "n")])
    checks.ok(rc == 1 and "nothing was changed" in text and not root.exists(),
              "answering n to 'Go ahead?' changes nothing", text)

    # "y": provision runs with the defaults offered (dns apply then fails: no deSEC here).
    rc, text = converse(base, answers + [("Go ahead? [y/N]", "y")])
    relay_toml = root / "etc/splitmail/relay.toml"
    checks.ok(relay_toml.exists() and 'hostname = "mx.example.org"' in relay_toml.read_text(),
              "answering y provisions with the default host name mx.<domain>", text)
    site = (root / "etc/splitmail/site.toml").read_text()
    checks.ok('imap_host = "home.example.org"' in site and "192.0.2.44" in site,
              "site.toml has the IPv4 typed and the default IMAP name", site)
    tok = root / "etc/splitmail/desec.token"
    checks.ok(tok.read_text() == TOKEN + "\n" and oct(tok.stat().st_mode & 0o777) == "0o600",
              "the token typed is in desec.token, mode 0600")
    checks.ok(rc == 1 and "dns apply failed" in text,
              "without a reachable deSEC it stops at dns apply, naming the step", text)


if __name__ == "__main__":
    lib.run_main(main)
