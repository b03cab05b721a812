"""Issue #5 "must show": a provisioned relay and home, joined only by their WireGuard tunnel.

Topology (three network namespaces made by this test, root needed; netns_lib.py):

    [relay] 192.0.2.25 ---- 192.0.2.1 [internet] 198.51.100.1 ---- 198.51.100.2 [home]
       10.8.0.1 ================ WireGuard (wireguard-go) ================ 10.8.0.2

Forwarding is on in the internet namespace only; relay and home have their default route through
it and no other link between them. The relay reaches home's LMTP (10.8.0.2:24) only through the
tunnel.

1. `splitmail provision relay --domain example.test --hostname mx.example.test --public-ipv4
   192.0.2.25 --root R1` and `splitmail provision home --pairing R1/etc/splitmail/pairing-home.toml
   --root R2` write the trees of docs/internal/provision.md. Running both again changes nothing:
   output says "unchanged", and content, mode, mtime and inode of every file and directory of both
   trees are the same.
2. A user added with `splitmail user add --config R2/etc/splitmail/home.toml` (password on stdin).
3. The generated wg-quick configs are brought up (content unchanged; interface names made unique
   per run, see netns_lib.py), splitmail-home and splitmail-relay run from the generated configs,
   unmodified (the relay's recipient list is fetched at its start, after the user was added, so
   home.recipient_refresh = 60s does not slow the test).
4. swaks in the internet namespace -> relay port 25 on its public address -> tunnel -> home
   Maildir; imaplib run by /usr/bin/python3 inside the home namespace reads it over 143 STARTTLS,
   byte for byte.
5. The internet is cut (forwarding off in the internet namespace: the tunnel's UDP is dropped
   silently, like a real outage): 3 more messages are accepted (cached recipients), stay in the
   relay's spool (`splitmail queue list --config R1/.../relay.toml`), nothing reaches home. Back
   on: all 3 arrive, each exactly once, with no operator action, and the spool drains.
6. A user added while home runs can log in over IMAPS (993); a wrong password is refused.
7. Both daemons exit on SIGTERM. Provision run again on the used trees (what an administrator
   does after an upgrade) still reports every path "unchanged": the daemons did not change
   anything provision owns. Cleanup leaves no namespace, interface socket or process behind.
"""
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import netns_lib  # noqa: E402
from lib import DEMO, checks  # noqa: E402

from netns_lib import HOME_PUBLIC, INET_TO_RELAY, RELAY_PUBLIC  # noqa: E402
TUNNEL_RELAY, TUNNEL_HOME = "10.8.0.1", "10.8.0.2"
SENDER = "sender@sender.test"

# Runs inside the home namespace (ip netns exec ... /usr/bin/python3 -c IMAP_CLIENT ...):
# logs in and prints one JSON object: capabilities, login result, every INBOX message's
# X-Test-Id and the SHA-256 of its BODY.PEEK[].
IMAP_CLIENT = r'''
import hashlib, imaplib, json, re, ssl, sys
host, port, mode, user, password = sys.argv[1:6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = {"mode": mode}
try:
    if mode == "starttls":
        m = imaplib.IMAP4(host, int(port), timeout=30)
        out["caps_before_tls"] = sorted(m.capabilities)
        m.starttls(ssl_context=ctx)
    else:
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
    out["tls"] = m.sock.version()
    out["login"] = m.login(user, password)[0]
    typ, data = m.select("INBOX")
    out["exists"] = int(data[0])
    msgs = []
    if out["exists"]:
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                raw = item[1]
                mm = re.search(rb"(?im)^X-Test-Id:[ \t]*(\S+)", raw)
                msgs.append({"id": mm.group(1).decode() if mm else "",
                             "sha256": hashlib.sha256(raw).hexdigest()})
    out["messages"] = msgs
    m.logout()
except imaplib.IMAP4.error as e:
    out["error"] = str(e)
print(json.dumps(out))
'''


# ---------------------------------------------------------------- helpers

def cli(argv: list[str], input: str | None = None, timeout: float = 60):
    r = subprocess.run([str(lib.CLI_BIN), *argv], capture_output=True, text=True, input=input,
                       timeout=timeout * lib.SLOW)
    return r.returncode, r.stdout, r.stderr


def tree_state(root: Path) -> dict[str, tuple]:
    """Every file, directory and symlink under root: type and mode, size, mtime, ctime (a chmod
    or chown, even to the same value, changes it), inode (a rewrite by rename changes it),
    content."""
    out: dict[str, tuple] = {}
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        digest = ""
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            digest = os.readlink(p)
        out[str(p.relative_to(root))] = (stat.filemode(st.st_mode), st.st_size, st.st_mtime_ns,
                                         st.st_ctime_ns, st.st_ino, digest)
    return out


def tree_diff(before: dict, after: dict) -> list[str]:
    d = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            d.append(f"removed {k}")
        elif k not in before:
            d.append(f"added {k}")
        elif before[k] != after[k]:
            names = ("mode", "size", "mtime", "ctime", "inode", "content")
            what = [n for n, a, b in zip(names, before[k], after[k]) if a != b]
            d.append(f"changed {k}: {', '.join(what)}")
    return d


def rerun_unchanged(relay_args: list[str], home_args: list[str], r1: Path, r2: Path,
                    what: str, compare_trees: bool) -> None:
    """Runs both provision commands again: exit 0, every path reported "unchanged" and (when
    compare_trees) no file or directory of either tree touched."""
    before = {"R1": tree_state(r1), "R2": tree_state(r2)}
    time.sleep(0.05)  # a rewrite would now get a visibly different mtime
    for name, args, root in (("relay", relay_args, r1), ("home", home_args, r2)):
        rc, out, err = cli(args)
        checks.ok(rc == 0, f"{what} {name} exits 0", f"exit {rc}\n{out}{err}")
        # one line per path, each "unchanged PATH"; notes and a summary line may surround them
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        paths = [ln for ln in lines if str(root) in ln]
        other = [ln for ln in paths if not ln.startswith("unchanged ")]
        checks.ok(len(paths) >= 5 and not other,
                  f"{what} {name}: every path reported 'unchanged' ({len(paths)})",
                  f"other lines: {other}\nstdout:\n{out}stderr:\n{err}")
    if not compare_trees:
        return
    after = {"R1": tree_state(r1), "R2": tree_state(r2)}
    diff = [f"{k}: {x}" for k in before for x in tree_diff(before[k], after[k])]
    checks.ok(not diff, f"{what} changed no file or directory "
              f"({len(before['R1']) + len(before['R2'])} entries: content, mode, mtime, ctime, "
              f"inode)", "\n".join(diff[:40]))


def file_mode(p: Path) -> str:
    return oct(p.stat().st_mode & 0o777)


def swaks(inet: netns_lib.Namespace, work: Path, marker: str, to: str = DEMO) -> None:
    """One message from the internet namespace to the relay's public address, port 25."""
    msg = (f"From: Sender <{SENDER}>\r\nTo: <{to}>\r\nSubject: over the tunnel {marker}\r\n"
           f"Message-ID: <{marker}@sender.test>\r\nX-Test-Id: {marker}\r\n\r\n"
           f"body of {marker}\r\n.dot-started line\r\nlast line")
    f = work / f"{marker}.eml"
    f.write_text(msg)  # swaks appends CRLF "." itself
    r = inet.run(["swaks", "--server", RELAY_PUBLIC, "--port", "25", "--from", SENDER,
                  "--to", to, "--ehlo", "client.sender.test", "--data", f"@{f}"], timeout=60)
    checks.ok(r.returncode == 0, f"swaks {marker} from the internet namespace to "
              f"{RELAY_PUBLIC}:25 accepted", f"swaks exit {r.returncode}:\n"
              f"{(r.stdout + r.stderr)[-2000:]}")


def maildir_ids(mailbox: Path) -> dict[str, int]:
    seen: dict[str, int] = {}
    for sub in ("new", "cur"):
        d = mailbox / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            try:
                head, _ = lib.split_message(p.read_bytes())
            except FileNotFoundError:  # moved new/ -> cur/ meanwhile
                continue
            m = re.search(rb"(?im)^X-Test-Id:[ \t]*(\S+)", head)
            if m:
                seen[m.group(1).decode()] = seen.get(m.group(1).decode(), 0) + 1
    return seen


def maildir_files(mailbox: Path) -> list[Path]:
    return sorted(p for sub in ("new", "cur") if (mailbox / sub).is_dir()
                  for p in (mailbox / sub).iterdir())


def spool_envelopes(spool: Path) -> list[Path]:
    return [p for q in ("incoming", "deferred", "hold") if (spool / q).is_dir()
            for p in (spool / q).iterdir() if p.name.endswith(".json")]


def imap(home_ns: netns_lib.Namespace, port: int, mode: str, user: str, password: str) -> dict:
    r = home_ns.run(["/usr/bin/python3", "-c", IMAP_CLIENT, "127.0.0.1", str(port), mode, user,
                     password], timeout=60)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        lib.fail(f"IMAP client in {home_ns.name} failed (exit {r.returncode}):\n"
                 f"{r.stdout}{r.stderr}")
        return {}


def relay_accepts(inet: netns_lib.Namespace, rcpt: str) -> bool:
    """RCPT TO:<rcpt> gets 250 from the relay (probe from the internet namespace)."""
    try:
        with inet.entered():
            c = lib.SMTP(25, host=RELAY_PUBLIC, timeout=5)
        with c:
            c.ehlo()
            c.cmd(f"MAIL FROM:<{SENDER}>")
            code, _ = c.cmd(f"RCPT TO:<{rcpt}>")
            c.cmd("QUIT")
            return code == 250
    except OSError:
        return False


# ---------------------------------------------------------------- the test

def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    netns_lib.require_root_tools()
    netns_lib.sweep_stale()
    d = lib.tmpdir("provwg")
    r1, r2 = d / "R1", d / "R2"

    # ---- 1. provision both sides into --root trees
    lib.log("provisioning relay and home")
    relay_args = ["provision", "relay", "--domain", lib.DOMAIN, "--hostname", "mx.example.test",
                  "--public-ipv4", RELAY_PUBLIC, "--root", str(r1)]
    pairing = r1 / "etc/splitmail/pairing-home.toml"
    home_args = ["provision", "home", "--pairing", str(pairing), "--root", str(r2)]
    rc, out, err = cli(relay_args)
    checks.ok(rc == 0, "splitmail provision relay exits 0", f"exit {rc}\n{out}{err}")
    rc, out, err = cli(home_args)
    checks.ok(rc == 0, "splitmail provision home exits 0", f"exit {rc}\n{out}{err}")

    relay_toml = r1 / "etc/splitmail/relay.toml"
    home_toml = r2 / "etc/splitmail/home.toml"
    relay_wg = r1 / "etc/wireguard/wg-smrelay.conf"
    home_wg = r2 / "etc/wireguard/wg-smhome.conf"
    for p, mode in ((relay_toml, "0o644"), (relay_wg, "0o600"), (pairing, "0o600"),
                    (home_toml, "0o644"), (home_wg, "0o600")):
        checks.ok(p.is_file(), f"{p.relative_to(d)} written")
        checks.eq(file_mode(p), mode, f"{p.relative_to(d)} mode")
    relay_wg_text, home_wg_text = relay_wg.read_text(), home_wg.read_text()
    checks.ok(re.search(r"(?m)^Address\s*=\s*10\.8\.0\.1/24\s*$", relay_wg_text) is not None
              and re.search(r"(?m)^AllowedIPs\s*=\s*10\.8\.0\.2/32\s*$", relay_wg_text) is not None,
              "relay wg config: Address 10.8.0.1/24, peer AllowedIPs 10.8.0.2/32", relay_wg_text)
    checks.ok(re.search(rf"(?m)^Endpoint\s*=\s*{re.escape(RELAY_PUBLIC)}:51820\s*$", home_wg_text)
              is not None and re.search(r"(?m)^Address\s*=\s*10\.8\.0\.2/24\s*$", home_wg_text)
              is not None, "home wg config: Address 10.8.0.2/24, Endpoint = relay's public "
              "address:51820", home_wg_text)

    # ---- idempotency: a second run of both changes nothing
    lib.log("re-running both provision commands")
    rerun_unchanged(relay_args, home_args, r1, r2, "second provision", compare_trees=True)

    # ---- 2. a user, added with the CLI through home.toml
    demo_pw = hashlib.sha256(os.urandom(16)).hexdigest()[:20]
    rc, out, err = cli(["user", "add", DEMO, "--config", str(home_toml)], input=demo_pw + "\n")
    checks.ok(rc == 0, f"splitmail user add {DEMO} --config R2/etc/splitmail/home.toml",
              f"exit {rc}\n{out}{err}")

    # ---- 3. namespaces, the tunnel, the daemons
    lib.log("namespaces, tunnel, daemons")
    inet, relay_ns, home_ns = netns_lib.internet_relay_home()
    fwd = [ns.run(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip()
           for ns in (inet, relay_ns, home_ns)]
    checks.eq(fwd, ["1", "0", "0"], "forwarding on in the internet namespace only")

    t0 = time.monotonic()
    wg_relay = netns_lib.WireGuard(relay_ns, relay_wg, d / "wg", "r").up()
    wg_home = netns_lib.WireGuard(home_ns, home_wg, d / "wg", "h").up()
    lib.log(f"both tunnel ends up in {time.monotonic() - t0:.1f}s "
            f"({wg_relay.ifname} in {relay_ns.name}, {wg_home.ifname} in {home_ns.name})")

    home = home_ns.daemon("splitmail-home", [str(lib.HOME_BIN), "--config", str(home_toml)],
                          d / "home.log").start()
    lib.wait_until(lambda: home_ns.tcp_connects(TUNNEL_HOME, 24), 15,
                   f"splitmail-home LMTP on {TUNNEL_HOME}:24", interval=0.1, daemons=[home])
    lib.wait_until(lambda: home_ns.tcp_connects("127.0.0.1", 143)
                   and home_ns.tcp_connects("127.0.0.1", 993), 15,
                   "splitmail-home IMAP on 143 and 993", interval=0.1, daemons=[home])
    relay = relay_ns.daemon("splitmail-relay", [str(lib.RELAY_BIN), "--config", str(relay_toml)],
                            d / "relay.log").start()
    lib.wait_until(lambda: inet.tcp_connects(RELAY_PUBLIC, 25), 15,
                   f"splitmail-relay SMTP on {RELAY_PUBLIC}:25 (from the internet namespace)",
                   interval=0.1, daemons=[relay])
    lib.wait_until(lambda: relay_accepts(inet, DEMO), 20,
                   f"the relay to accept RCPT {DEMO} (recipient list fetched through the tunnel)",
                   interval=0.2, daemons=[relay, home])
    checks.ok(True, "relay fetched home's recipient list through the tunnel")
    checks.ok(wg_relay.handshake_done() and wg_home.handshake_done(),
              "WireGuard handshake done on both ends",
              wg_relay.show("latest-handshakes") + wg_home.show("latest-handshakes"))
    endpoint = wg_relay.show("endpoints")
    checks.ok(f"{HOME_PUBLIC}:" in endpoint, "relay sees home's endpoint via the internet "
              "namespace", endpoint)
    checks.ok(not inet.tcp_connects(TUNNEL_HOME, 24, 0.5),
              "home's LMTP is not reachable from the internet namespace")
    checks.ok(not relay_ns.tcp_connects(HOME_PUBLIC, 24, 0.5),
              "home's LMTP is not reachable at home's public address from the relay")

    # ---- 4. internet -> relay -> tunnel -> home Maildir -> IMAP
    lib.log("mail from the internet namespace")
    spool = Path(tomllib.loads(relay_toml.read_text())["spool"]["dir"])
    maildir_root = Path(tomllib.loads(home_toml.read_text())["maildir"]["root"])
    checks.ok(spool.is_relative_to(r1) and maildir_root.is_relative_to(r2),
              "spool and Maildir root are inside the --root trees", f"{spool} {maildir_root}")
    mailbox = maildir_root / "example.test" / "demo"
    swaks(inet, d, "wg-first")
    lib.wait_until(lambda: "wg-first" in maildir_ids(mailbox), 20,
                   f"wg-first in {mailbox}", daemons=[relay, home])
    first = maildir_files(mailbox)
    checks.eq(len(first), 1, "wg-first delivered to demo's Maildir, one copy")
    first_sha = hashlib.sha256(first[0].read_bytes()).hexdigest()  # before IMAP moves it to cur/
    rec = [" ".join(str(v).split()) for v in
           lib.headers_of(first[0].read_bytes()).get_all("Received", [])]
    checks.ok(any("mx.example.test" in r and INET_TO_RELAY in r for r in rec),
              f"relay's Received: names the client on the internet side ({INET_TO_RELAY})",
              str(rec))
    lib.wait_until(lambda: not spool_envelopes(spool), 10, "relay spool empty after delivery",
                   daemons=[relay])

    res = imap(home_ns, 143, "starttls", DEMO, demo_pw)
    checks.ok("LOGINDISABLED" in res.get("caps_before_tls", []),
              "IMAP 143 in the home namespace: LOGINDISABLED before STARTTLS", str(res))
    checks.eq(res.get("login"), "OK", "IMAP LOGIN after STARTTLS with the CLI-set password")
    checks.eq([(m["id"], m["sha256"]) for m in res.get("messages", [])],
              [("wg-first", first_sha)],
              "IMAP FETCH BODY.PEEK[] returns the delivered message byte for byte")

    # ---- 5. cut the internet between home and relay, queue, restore
    lib.log("cutting the internet between relay and home")
    inet.sysctl("net.ipv4.ip_forward", "0")
    checks.ok(not relay_ns.tcp_connects(TUNNEL_HOME, 24, 1.0),
              "tunnel cut: the relay cannot reach home's LMTP")
    t_cut = time.monotonic()
    log_mark = len(relay.log_text())
    cut_ids = [f"wg-cut-{i}" for i in range(3)]
    for m in cut_ids:
        swaks(inet, d, m)
    lib.wait_until(lambda: len(spool_envelopes(spool)) >= 3, 10, "3 envelopes in the relay spool")
    # "Nothing arrives" only means something once the relay has tried (a fixed sleep passes
    # when no attempt was made): wait until it has tried home through the cut tunnel and said
    # that it keeps the mail (its LMTP connect times out after 10 s over the silent tunnel).
    lib.wait_until(lambda: "home unreachable; keeping mail queued"
                   in relay.log_text()[log_mark:], 60,
                   "the relay to try home through the cut tunnel and keep the mail queued",
                   interval=0.2, daemons=[relay])
    checks.eq(sorted(maildir_ids(mailbox)), ["wg-first"],
              "nothing delivered while the tunnel is cut")
    checks.eq(len(spool_envelopes(spool)), 3, "3 messages queued in the relay's spool")
    rc, out, err = cli(["queue", "list", "--config", str(relay_toml)])
    lib.log("splitmail queue list:\n  " + "\n  ".join((out + err).splitlines()))
    queued_ids = sorted(p.stem for p in spool_envelopes(spool))
    checks.ok(rc == 0 and all(q in out for q in queued_ids) and "in 3 Requests" in out
              and out.count(f"{DEMO}  [pending]") == 3,
              "`splitmail queue list --config R1/etc/splitmail/relay.toml` lists the 3 queued "
              "ids, demo@ pending", f"exit {rc}, spool ids {queued_ids}\n{out}{err}")
    lib.log(f"tunnel cut for {time.monotonic() - t_cut:.1f}s; restoring")
    inet.sysctl("net.ipv4.ip_forward", "1")
    t_back = time.monotonic()
    lib.wait_until(lambda: all(m in maildir_ids(mailbox) for m in cut_ids), 45,
                   "the 3 queued messages delivered after the tunnel came back",
                   interval=0.1, daemons=[relay, home])
    lib.log(f"queue delivered {time.monotonic() - t_back:.1f}s after the tunnel came back")
    lib.wait_until(lambda: not spool_envelopes(spool), 10, "relay spool to drain",
                   daemons=[relay])
    time.sleep(1)  # a duplicate would show up now
    ids = maildir_ids(mailbox)
    checks.eq(ids, {"wg-first": 1, **{m: 1 for m in cut_ids}},
              "every message in the Maildir exactly once")
    res = imap(home_ns, 143, "starttls", DEMO, demo_pw)
    checks.eq(sorted(m["id"] for m in res.get("messages", [])), sorted(["wg-first", *cut_ids]),
              "IMAP lists the 4 messages")

    # ---- 6. a user added while home runs logs in over IMAPS
    lib.log("a user added while home runs")
    new_user, new_pw = "newuser@example.test", "correct horse battery staple"
    rc, out, err = cli(["user", "add", new_user, "--config", str(home_toml)], input=new_pw + "\n")
    checks.ok(rc == 0, f"splitmail user add {new_user} while home runs", f"exit {rc}\n{out}{err}")
    last: dict = {}

    def new_user_logs_in() -> bool:
        last.clear()
        last.update(imap(home_ns, 993, "imaps", new_user, new_pw))
        return last.get("login") == "OK"
    lib.wait_until(new_user_logs_in, 10, f"IMAPS login of {new_user} (last: {last})",
                   interval=0.3, daemons=[home])
    checks.ok(True, f"{new_user} logs in over IMAPS 993 ({last.get('tls')})")
    checks.eq(last.get("exists"), 0, f"{new_user}'s INBOX is empty")
    res = imap(home_ns, 993, "imaps", new_user, "wrong password")
    checks.ok(res.get("login") != "OK" and "error" in res, "a wrong password is refused", str(res))

    # ---- 7. clean stop, nothing left behind
    lib.log("stopping")
    checks.eq(relay.stop(), 0, "splitmail-relay exits 0 on SIGTERM")
    checks.eq(home.stop(), 0, "splitmail-home exits 0 on SIGTERM")
    # an administrator re-running provision on the installed (and used) system
    lib.log("re-running both provision commands after the daemons ran")
    rerun_unchanged(relay_args, home_args, r1, r2, "provision after use", compare_trees=False)
    names = [ns.name for ns in (inet, relay_ns, home_ns)]
    socks = [netns_lib.WG_SOCK_DIR / f"{w.ifname}.sock" for w in (wg_relay, wg_home)]
    netns_lib.cleanup()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    checks.ok(not any(n in listed for n in names), "cleanup deleted the namespaces", listed)
    checks.ok(not any(s.exists() for s in socks), "cleanup removed the wireguard-go sockets",
              str([s for s in socks if s.exists()]))


if __name__ == "__main__":
    lib.run_main(main)
