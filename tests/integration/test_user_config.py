#!/usr/bin/python3
"""`splitmail user|alias` never write a users file splitmail-home refuses; `check` on home
judges the users file (issue 16 bug 4, and the missing-file message of bug 9).

Files only (no daemon runs): a home.toml with `home.domains = ["example.test"]` and its users
and aliases files in a temp dir, as `provision home` lays them out.
1. `user add bob@other.test --users FILE` (no --config; the home.toml next to FILE names it):
   refused naming home.domains, the file byte-identical, `splitmail-home --check-config` still 0.
2. A users file with no home.toml naming it and no --config: `user add` refuses to write and
   says to give --config; with --config it works.
3. `alias add x@other.test …`: refused; the file unchanged.
4. `check --only users` with a home site file: ✓ for a valid file; a line outside home.domains
   written by hand (as the old CLI did) → exit 1, ✗ naming the line, and `--check-config` of
   splitmail-home agrees (non-zero); an empty users file → warning.
5. A users file in a directory that does not exist: `user add` and `user list` name the users
   file and its directory, never "users.lock".
"""
import json
import subprocess

import lib
from lib import CLI_BIN, HOME_BIN, checks


def cli(args, password=None):
    r = lib.run_tool([str(CLI_BIN), *args],
                     input=(password + "\n").encode() if password else None, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def main():
    lib.require_binaries(CLI_BIN, HOME_BIN)
    d = lib.tmpdir("user-config")
    etc = d / "etc"
    etc.mkdir()
    users, aliases, cfg = etc / "users", etc / "aliases", etc / "home.toml"
    users.write_text("# users\n")
    users.chmod(0o640)
    aliases.write_text("")
    cfg.write_text(f'[home]\ndomains = ["example.test"]\n[lmtp]\nlisten = ["127.0.0.1:1"]\n'
                   f'[users]\nfile = "{users}"\naliases = "{aliases}"\n'
                   f'[maildir]\nroot = "{d / "mail"}"\n')
    pw = "correct horse battery"

    def home_accepts():
        r = subprocess.run([str(HOME_BIN), "--config", str(cfg), "--check-config"],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    # 1. outside home.domains, found through the home.toml next to --users
    before = users.read_bytes()
    rc, out, err = cli(["user", "add", "bob@other.test", "--users", str(users),
                        "--aliases", str(aliases)], pw)
    checks.ok(rc == 1 and "other.test" in err and users.read_bytes() == before,
              "user add outside home.domains (--users FILE, home.toml next to it) is refused",
              f"exit {rc}\n{out}{err}")
    rc, text = home_accepts()
    checks.eq(rc, 0, "splitmail-home --check-config still accepts the files")
    rc, out, err = cli(["user", "add", "alice@example.test", "--users", str(users)], pw)
    checks.ok(rc == 0 and "alice@example.test:" in users.read_text(),
              "user add inside home.domains works with --users FILE", f"exit {rc}\n{out}{err}")

    # 2. no configuration names the file
    lone = d / "lone"
    lone.mkdir()
    (lone / "users").write_text("")
    rc, out, err = cli(["user", "add", "carol@other.test", "--users", str(lone / "users")], pw)
    checks.ok(rc == 1 and "--config" in err and (lone / "users").read_text() == "",
              "user add with no home.toml for the users file refuses and asks for --config",
              f"exit {rc}\n{out}{err}")
    rc, out, err = cli(["user", "add", "carol@example.test", "--config", str(cfg)], pw)
    checks.ok(rc == 0, "user add --config works", f"exit {rc}\n{out}{err}")

    # 3. alias outside home.domains
    before = aliases.read_bytes()
    rc, out, err = cli(["alias", "add", "x@other.test", "alice@example.test", "--users",
                        str(users), "--aliases", str(aliases)])
    checks.ok(rc == 1 and "other.test" in err and aliases.read_bytes() == before,
              "alias add outside home.domains is refused", f"exit {rc}\n{out}{err}")

    # 4. check on home
    site = d / "site.toml"
    site.write_text('[site]\ndomains = ["example.test"]\nhostname = "mx.example.test"\n'
                    f'relay_config = ""\nhome_config = "{cfg}"\n'
                    '[wireguard]\ninterface = "wg-smhome"\n')
    rc, out, err = cli(["check", "--site", str(site), "--only", "users", "--json"])
    doc = json.loads(out) if out.strip().startswith("{") else {"findings": []}
    checks.ok(rc == 0 and [(x["check"], x["status"]) for x in doc["findings"]] ==
              [("users", "ok")], "check --only users: the valid users file is ✓",
              f"exit {rc}\n{out}{err}")
    with open(users, "a") as f:  # what the old CLI wrote
        f.write(f"bob@other.test:{lib.argon2id_hash(pw)}\n")
    rc, out, err = cli(["check", "--site", str(site), "--only", "users", "--json"])
    doc = json.loads(out) if out.strip().startswith("{") else {"findings": []}
    bad = [x for x in doc["findings"] if x["check"] == "users" and x["status"] == "fail"]
    checks.ok(rc == 1 and bad and "other.test" in bad[0]["detail"] and bad[0]["fix"],
              "check: a users line outside home.domains is ✗ with a fix", f"exit {rc}\n{out}{err}")
    rc, text = home_accepts()
    checks.ok(rc != 0, "splitmail-home --check-config refuses that file too (check agrees)", text)
    users.write_text("")
    rc, out, err = cli(["check", "--site", str(site), "--only", "users", "--json"])
    doc = json.loads(out) if out.strip().startswith("{") else {"findings": []}
    checks.ok(rc == 0 and [x["status"] for x in doc["findings"]] == ["warn"],
              "check: an empty users file is a warning", out + err)

    # 5. missing users file: named as such, never as users.lock
    gone = d / "no-such-dir" / "users"
    cfg2 = d / "home2.toml"
    cfg2.write_text(cfg.read_text().replace(str(users), str(gone)))
    for args in (["user", "add", "dave@example.test", "--config", str(cfg2)],
                 ["user", "list", "--config", str(cfg2)]):
        rc, out, err = cli(args, pw if args[1] == "add" else None)
        checks.ok(rc == 1 and str(gone) in err and ".lock" not in err and "directory" in err,
                  f"`{' '.join(args[:2])}` with a missing users directory names the users file",
                  f"exit {rc}\n{out}{err}")


lib.run_main(main)
