"""`splitmail check` (issue #5, the doctor) against real peers.

Fixture (built by the test): `splitmail provision relay --root R` for example.test with hostname
mx.example.test, public addresses 203.0.113.5 and 2001:db8::25; the relay's listen addresses
moved to free loopback ports and splitmail-relay started from that config. Debian's `unbound` on
127.0.0.1:PORT serves the zone (local-data, PTR via local-data-ptr); `check --resolver` asks it.
The relay's address is only a DNS fact here: nothing connects to it.

1. Correct zone (the records of `splitmail dns export`, the RSA DKIM value re-split into other
   TXT strings with white space after p=, PTRs for both addresses): check exits 0; every dns,
   spf, dkim, tlsa, ptr, listeners, queue finding is ok; tls warns (self-signed placeholder).
2. Broken zone: SPF naming another address, the sm1-rsa DKIM record missing, a stale TLSA
   (another key's digest), DMARC changed, the IPv6 PTR naming another host: exit 1, and each is
   reported as ✗ with its fix (`splitmail dns apply --domain example.test ...`, "set the PTR of
   2001:db8::25 to mx.example.test at your VPS hoster"); what is still right stays ✓.
3. Relay stopped: the listeners fail with `systemctl restart splitmail-relay`; an envelope 3 days
   old in deferred/ is reported (count and age) with `splitmail queue list`.
4. Tunnel: no interface -> "down" with `systemctl start wg-quick@IF`; no wg on PATH -> "not
   installed"; then the provisioned relay and home WireGuard configs brought up with wireguard-go
   in two network namespaces made by the test (netns_lib): check --only tunnel passes on both
   sides (home: a TCP probe to the relay's tunnel address answers); the relay side taken down →
   home's tunnel ✗ at once ("does not carry traffic"); a config file naming another peer than the running interface (re-paired) → ✗ "old
   keys" with `wg syncconf`. A home site (site.home_config) runs only tls, tunnel, users,
   listeners and ddns (test_check_ddns.py judges the latter).
5. Usage errors exit 2; --json has the stable fields.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import checks  # noqa: E402
from outbound_lib import UNBOUND  # noqa: E402

DOMAIN = "example.test"
HOST = "mx.example.test"
V4, V6 = "203.0.113.5", "2001:db8::25"


class Zone:
    """unbound on 127.0.0.1:port serving the given local-data / local-data-ptr lines."""

    def __init__(self, root: Path, data: list[str], ptrs: list[str]):
        root.mkdir(parents=True, exist_ok=True)
        self.port = lib.free_port()
        conf = root / "unbound.conf"
        lines = ["server:", f"  interface: 127.0.0.1@{self.port}", f"  port: {self.port}",
                 "  do-daemonize: no", '  username: ""', '  chroot: ""',
                 f'  directory: "{root}"', f'  pidfile: "{root}/unbound.pid"',
                 "  use-syslog: no", '  logfile: ""', "  verbosity: 1", "  do-ip6: no",
                 "  access-control: 127.0.0.0/8 allow", '  module-config: "iterator"',
                 '  local-zone: "." refuse',
                 f'  local-zone: "{DOMAIN}." static',
                 '  local-zone: "113.0.203.in-addr.arpa." static',
                 '  local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." static']
        lines += [f"  local-data: '{d}'" for d in data]
        lines += [f"  local-data-ptr: '{p}'" for p in ptrs]
        lines += ["remote-control:", "  control-enable: no"]
        conf.write_text("\n".join(lines) + "\n")
        r = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True)
        if r.returncode != 0:
            lib.fail(f"unbound-checkconf: {r.stdout}{r.stderr}\n{conf.read_text()}")
        self.daemon = lib.Daemon(f"unbound:{root.name}", [UNBOUND, "-d", "-c", str(conf)],
                                 root / "unbound.log").start()
        lib.wait_until(self.answers, 15, f"unbound on {self.port}", daemons=[self.daemon])

    def answers(self) -> bool:
        import socket
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return s.recvfrom(512)[0][:2] == b"\x12\x34"
            except OSError:
                return False

    def stop(self) -> None:
        self.daemon.stop()


def cli(argv: list[str], env: dict | None = None, ns=None, timeout: float = 60):
    full = [str(lib.CLI_BIN), *argv]
    if ns is not None:
        return ns.run(full, timeout=timeout, env=env)
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout * lib.SLOW,
                          env=dict(os.environ, **env) if env else None)


def run_check(site: Path, *extra: str, env: dict | None = None, ns=None):
    """check --json: (exit status, findings list, raw output)."""
    r = cli(["check", "--site", str(site), "--json", *extra], env=env, ns=ns)
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        lib.fail(f"check --json printed no JSON (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    return r.returncode, doc, r.stdout + r.stderr


def find(findings, check, pattern=""):
    return [f for f in findings if f["check"] == check and re.search(pattern, f["detail"])]


def export_records(site: Path) -> list[str]:
    """`splitmail dns export` lines as "name ttl IN TYPE rdata"."""
    r = cli(["dns", "export", "--site", str(site)])
    if r.returncode != 0:
        lib.fail(f"splitmail dns export failed: {r.stdout}{r.stderr}")
    out = []
    for line in r.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        out.append(" ".join(line.split(None, 4)[:4]) + " " + line.split(None, 4)[4])
    return out


def resplit_txt(value: str, size: int) -> str:
    """A TXT rdata of quoted strings re-split into strings of `size` octets."""
    joined = "".join(re.findall(r'"([^"]*)"', value))
    joined = joined.replace("p=", "p= ", 1)  # white space inside p= is allowed (RFC 6376 3.6.1)
    return " ".join(f'"{joined[i:i + size]}"' for i in range(0, len(joined), size))


def other_tlsa(d: Path) -> str:
    key = d / "other.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key)], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import hashlib
    return "3 1 1 " + hashlib.sha256(der).hexdigest()


def main() -> None:
    lib.require_binaries(lib.CLI_BIN, lib.RELAY_BIN)
    d = lib.tmpdir("check")
    root = d / "relay"
    r = cli(["provision", "relay", "--domain", DOMAIN, "--hostname", HOST, "--public-ipv4", V4,
             "--public-ipv6", V6, "--root", str(root)])
    checks.ok(r.returncode == 0, "splitmail provision relay writes the fixture tree",
              r.stdout + r.stderr)
    site = root / "etc/splitmail/site.toml"
    relay_toml = root / "etc/splitmail/relay.toml"

    # Listeners on free loopback ports; home is a loopback port nobody serves (the test
    # talks to loopback only).
    ports = [lib.free_port() for _ in range(3)]
    text = relay_toml.read_text()
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:25".*$', f'listen = ["127.0.0.1:{ports[0]}"]',
                  text)
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:587".*$', f'listen = ["127.0.0.1:{ports[1]}"]',
                  text)
    text = re.sub(r'(?m)^listen = \["0\.0\.0\.0:465".*$', f'listen = ["127.0.0.1:{ports[2]}"]',
                  text)
    text = re.sub(r'(?m)^lmtp = .*$', f'lmtp = "127.0.0.1:{lib.free_port()}"', text)
    for p in ports:
        checks.ok(f"127.0.0.1:{p}" in text, f"relay.toml listens on 127.0.0.1:{p}")
    relay_toml.write_text(text)
    relay = lib.Daemon("splitmail-relay", [str(lib.RELAY_BIN), "--config", str(relay_toml)],
                       d / "relay.log").start()
    for p in ports:
        lib.wait_until(lambda: lib.port_answers("127.0.0.1", p), 20,
                       f"splitmail-relay on 127.0.0.1:{p}", daemons=[relay])

    records = export_records(site)
    checks.ok(any(" TLSA 3 1 1 " in x for x in records) and
              any("_domainkey" in x for x in records), "dns export has TLSA and DKIM records",
              "\n".join(records))
    good = []
    for rec in records:
        if "sm1-rsa._domainkey" in rec:
            head, value = rec.split(" TXT ", 1)
            rec = f"{head} TXT {resplit_txt(value, 100)}"
        good.append(rec)
    ptrs = [f"{V4} {HOST}", f"{V6} {HOST}"]
    only = "dns,spf,dkim,tlsa,ptr,tls,queue,listeners"

    # ---- 1. correct zone
    lib.log("check against a correct zone")
    zone = Zone(d / "dns-good", good, ptrs)
    rc, doc, raw = run_check(site, "--resolver", f"127.0.0.1:{zone.port}", "--only", only)
    f = doc["findings"]
    checks.eq(rc, 0, "check exits 0 on a correct zone")
    checks.ok(doc["status"] in ("ok", "warn"), "overall status ok/warn", raw)
    bad = [x for x in f if x["status"] == "fail"]
    checks.ok(not bad, "no finding fails", json.dumps(bad, indent=1))
    checks.ok(all(set(x) == {"check", "status", "detail", "fix"} for x in f),
              "--json findings have exactly check/status/detail/fix")
    for name, pat in [("dns", r"^MX example\.test as planned"),
                      ("dns", r"^A mx\.example\.test as planned"),
                      ("dns", r"^AAAA mx\.example\.test as planned"),
                      ("dns", r"^TXT _dmarc\.example\.test as planned"),
                      ("dns", r"^SRV _submissions\._tcp\.example\.test as planned"),
                      ("spf", re.escape(V4) + r" pass \(ip4:"),
                      ("spf", re.escape(V6) + r" pass \(ip6:"),
                      ("dkim", r"key sm1-rsa is published"),
                      ("dkim", r"key sm1-ed25519 is published"),
                      ("tlsa", r"matches the certificate"),
                      ("ptr", r"PTR of 203\.0\.113\.5 is mx\.example\.test.*forward-confirmed"),
                      ("ptr", r"PTR of 2001:db8::25 is mx\.example\.test.*forward-confirmed"),
                      ("queue", r"is empty"),
                      ("listeners", rf"smtp\.listen 127\.0\.0\.1:{ports[0]} answers"),
                      ("listeners", rf"submission\.listen 127\.0\.0\.1:{ports[1]} answers"),
                      ("listeners", rf"submissions\.listen 127\.0\.0\.1:{ports[2]} answers")]:
        hit = find(f, name, pat)
        checks.ok(len(hit) == 1 and hit[0]["status"] == "ok", f"✓ {name}: /{pat}/",
                  json.dumps(find(f, name), indent=1))
    tls = find(f, "tls", "self-signed")
    checks.ok(len(tls) == 1 and tls[0]["status"] == "warn"
              and "splitmail cert obtain --config" in tls[0]["fix"],
              "! tls: the self-signed placeholder is a warning with a fix",
              json.dumps(find(f, "tls"), indent=1))
    checks.ok(not find(f, "tunnel"), "--only leaves the tunnel check out")

    # Automatic renewal (`splitmail cert obtain` leaves CERT.acme.json): its state is reported.
    renewal = root / "etc/splitmail/tls/relay.crt.acme.json"
    renewal.write_text(json.dumps({"args": ["--name", HOST], "failures": 0}))
    _, doc2, raw2 = run_check(site, "--resolver", f"127.0.0.1:{zone.port}", "--only", "tls")
    checks.ok(any(x["status"] == "ok" and "renewed automatically" in x["detail"]
                  for x in find(doc2["findings"], "tls")),
              "✓ tls: a certificate with a renewal file is renewed automatically", raw2)
    renewal.write_text(json.dumps({"args": ["--name", HOST], "failures": 3,
                                   "last_attempt": 1765000000,
                                   "last_error": "rate_limited: too many certificates"}))
    _, doc2, raw2 = run_check(site, "--resolver", f"127.0.0.1:{zone.port}", "--only", "tls")
    checks.ok(any(x["status"] == "warn" and "failed 3 time(s)" in x["detail"]
                  and "too many certificates" in x["detail"]
                  and "splitmail cert status" in x["fix"]
                  for x in find(doc2["findings"], "tls")),
              "! tls: failed renewals are a warning naming the CA's error", raw2)
    renewal.write_text("{broken")
    rc2, doc2, raw2 = run_check(site, "--resolver", f"127.0.0.1:{zone.port}", "--only", "tls")
    checks.ok(rc2 == 1 and any(x["status"] == "fail" and "automatic renewal" in x["detail"]
                               for x in find(doc2["findings"], "tls")),
              "✗ tls: a broken renewal file fails (nothing would renew the certificate)", raw2)
    renewal.unlink()
    r = cli(["check", "--site", str(site), "--resolver", f"127.0.0.1:{zone.port}", "--only",
             only])
    checks.eq(r.returncode, 0, "text mode exits 0 too")
    checks.ok("\u2713 dns" in r.stdout and "all good:" in r.stdout and "\u2717" not in r.stdout,
              "text mode: ✓ lines and 'all good'", r.stdout)
    zone.stop()

    # ---- 2. broken zone
    lib.log("check against a zone with wrong SPF, missing DKIM, stale TLSA")
    stale = other_tlsa(d)
    broken = []
    for rec in good:
        if " TXT " in rec and "v=spf1" in rec:
            rec = f'{DOMAIN}. 3600 IN TXT "v=spf1 ip4:198.51.100.7 -all"'
        elif "sm1-rsa._domainkey" in rec:
            continue
        elif " TLSA " in rec:
            rec = rec.split(" TLSA ")[0] + " TLSA " + stale
        elif "_dmarc" in rec:
            rec = f'_dmarc.{DOMAIN}. 3600 IN TXT "v=DMARC1; p=reject"'
        broken.append(rec)
    zone = Zone(d / "dns-bad", broken, [f"{V4} {HOST}", f"{V6} other.example.test"])
    rc, doc, raw = run_check(site, "--resolver", f"127.0.0.1:{zone.port}", "--only", only)
    f = doc["findings"]
    checks.eq(rc, 1, "check exits 1 on the broken zone")
    checks.eq(doc["status"], "fail", "overall status fail")
    apply_fix = f"splitmail dns apply --domain {DOMAIN} --site {site}"
    for name, pat, fix in [
            ("spf", r"does not let the relay's address 203\.0\.113\.5 pass", apply_fix),
            ("spf", r"does not let the relay's address 2001:db8::25 pass", apply_fix),
            ("dkim", r"key sm1-rsa .* is not published", apply_fix),
            ("dkim", r"key sm1-rsa .* is not published", "splitmail dkim txt --domain "
             f"{DOMAIN} --selector sm1-rsa"),
            ("tlsa", r"no TLSA record matches the certificate", apply_fix),
            ("dns", r"TXT _dmarc\.example\.test differs from the plan", apply_fix),
            ("ptr", r"PTR of 2001:db8::25 is other\.example\.test\., not mx\.example\.test",
             "set the PTR of 2001:db8::25 to mx.example.test at your VPS hoster")]:
        hit = find(f, name, pat)
        checks.ok(len(hit) == 1 and hit[0]["status"] == "fail" and fix in hit[0]["fix"],
                  f"✗ {name}: /{pat}/ with fix '{fix}'", json.dumps(find(f, name), indent=1))
    checks.ok(stale.split()[-1] in find(f, "tlsa")[0]["detail"],
              "the stale TLSA finding shows the published digest")
    for name, pat in [("dkim", "key sm1-ed25519 is published"), ("dns", "^MX example.test"),
                      ("ptr", "PTR of 203.0.113.5")]:
        hit = find(f, name, pat)
        checks.ok(len(hit) == 1 and hit[0]["status"] == "ok", f"still ✓ {name}: {pat}",
                  json.dumps(find(f, name), indent=1))
    r = cli(["check", "--site", str(site), "--resolver", f"127.0.0.1:{zone.port}", "--only",
             "spf,dkim,tlsa"])
    checks.eq(r.returncode, 1, "text mode exits 1")
    checks.ok("\u2717 spf" in r.stdout and "\u2717 dkim" in r.stdout and
              "\u2717 tlsa" in r.stdout and f"fix: {apply_fix}" in r.stdout and
              "problems found:" in r.stdout, "text mode: ✗ lines with 'fix:' lines", r.stdout)
    zone.stop()

    # ---- 3. relay stopped: listeners; an old message in the queue
    lib.log("relay stopped, old message queued")
    relay.stop()
    spool = root / "var/spool/splitmail"
    qid = "0000000000000000AB"
    (spool / "msg" / qid).write_bytes(b"Subject: old\r\n\r\nbody\r\n")
    (spool / "deferred" / f"{qid}.json").write_text(json.dumps({
        "version": 1, "id": qid, "sender": "a@example.test",
        "recipients": [{"address": "b@remote.test", "route": "remote", "state": "deferred"}],
        "arrival": int(time.time()) - 3 * 86400, "last_error": "connection refused"}))
    rc, doc, raw = run_check(site, "--only", "listeners,queue")
    f = doc["findings"]
    checks.eq(rc, 1, "check exits 1 with the relay stopped")
    down = find(f, "listeners")
    checks.ok(len(down) == 3 and all(x["status"] == "fail" and
                                     "systemctl restart splitmail-relay" in x["fix"]
                                     for x in down),
              "✗ listeners: all three down, fix systemctl restart splitmail-relay",
              json.dumps(down, indent=1))
    q = find(f, "queue", r"1 message\(s\) queued \(1 deferred, 0 on hold\).*\(3 days\)")
    checks.ok(len(q) == 1 and q[0]["status"] == "warn" and
              f"splitmail queue list --spool {spool}" in q[0]["fix"],
              "! queue: one message, 3 days old, fix splitmail queue list",
              json.dumps(find(f, "queue"), indent=1))

    # ---- 4. tunnel
    lib.log("tunnel checks")
    iface = f"smc{os.getpid() % 100000}"
    site_t = d / "site-tunnel.toml"
    site_t.write_text(site.read_text().replace('interface = "wg-smrelay"',
                                               f'interface = "{iface}"'))
    checks.ok(f'interface = "{iface}"' in site_t.read_text(), "site copy names a test interface")
    rc, doc, raw = run_check(site_t, "--only", "tunnel")
    t = find(doc["findings"], "tunnel")
    checks.ok(rc == 1 and len(t) == 1 and "is not up" in t[0]["detail"] and
              f"systemctl start wg-quick@{iface}" in t[0]["fix"],
              "✗ tunnel: missing interface is 'not up' with systemctl start wg-quick@IF", raw)
    empty = d / "empty-bin"
    empty.mkdir()
    rc, doc, raw = run_check(site_t, "--only", "tunnel", env={"PATH": str(empty)})
    t = find(doc["findings"], "tunnel")
    checks.ok(rc == 1 and len(t) == 1 and "not installed" in t[0]["detail"] and
              "apt install wireguard-tools" in t[0]["fix"],
              "✗ tunnel: without wg on PATH it says wg is not installed", raw)
    tunnel_in_namespaces(d, root, site)

    # ---- 5. usage
    for argv in (["--only", "nosuch"], ["--resolver", "localhost"], ["--bogus"]):
        r = cli(["check", "--site", str(site), *argv])
        checks.eq(r.returncode, 2, f"check {' '.join(argv)} is a usage error (exit 2)")
    r = cli(["check", "--site", str(d / "missing.toml")])
    checks.ok(r.returncode == 1 and "provision relay" in r.stdout,
              "a missing site file fails and says how to make it", r.stdout + r.stderr)


def tunnel_in_namespaces(d: Path, root: Path, site: Path) -> None:
    import netns_lib
    netns_lib.require_root_tools()
    netns_lib.sweep_stale()
    home_root = d / "home"
    r = cli(["provision", "home", "--pairing", str(root / "etc/splitmail/pairing-home.toml"),
             "--root", str(home_root)])
    checks.ok(r.returncode == 0, "splitmail provision home writes the home tree",
              r.stdout + r.stderr)
    relay_ns = netns_lib.Namespace("relay")
    home_ns = netns_lib.Namespace("home")
    netns_lib.veth_pair(relay_ns, f"{V4}/24", home_ns, "203.0.113.6/24")
    wg_relay = netns_lib.WireGuard(relay_ns, root / "etc/wireguard/wg-smrelay.conf", d / "wg",
                                   "r").up()
    wg_home = netns_lib.WireGuard(home_ns, home_root / "etc/wireguard/wg-smhome.conf", d / "wg",
                                  "h").up()
    lib.wait_until(lambda: wg_relay.handshake_done() and wg_home.handshake_done(), 30,
                   "WireGuard handshake between the namespaces")
    home_site = home_root / "etc/splitmail/site.toml"
    for name, s, w, ns in (("relay", site, wg_relay, relay_ns),
                           ("home", home_site, wg_home, home_ns)):
        text = s.read_text()
        copy = d / f"site-{name}-ns.toml"
        copy.write_text(re.sub(r'(?m)^interface = ".*"$', f'interface = "{w.ifname}"', text))
        rc, doc, raw = run_check(copy, "--only", "tunnel", ns=ns)
        t = find(doc["findings"], "tunnel")
        hs = [x for x in t if "last handshake" in x["detail"]]
        checks.ok(rc == 0 and len(hs) == 1 and all(x["status"] == "ok" for x in t),
                  f"✓ tunnel on the {name} side after a real handshake", raw)
        if name == "home":
            live = [x for x in t if "carries traffic now" in x["detail"]]
            checks.ok(len(live) == 1 and live[0]["status"] == "ok",
                      "✓ tunnel on the home side: the relay's tunnel address answers now", raw)
            home_copy = copy
        # Issue 16 bug 7: the config file names another peer (re-paired) than the running
        # interface: the tunnel check says the interface has old keys and how to reload it.
        conf = Path(re.search(r'(?m)^config = "(.*)"$', text).group(1))
        other_key = subprocess.run(["wg", "pubkey"], input=subprocess.run(
            ["wg", "genkey"], capture_output=True, text=True, check=True).stdout,
            capture_output=True, text=True, check=True).stdout.strip()
        repaired = d / f"wg-{name}-repaired.conf"
        repaired.write_text(re.sub(r"(?m)^PublicKey = .*$", f"PublicKey = {other_key}",
                                   conf.read_text()))
        copy2 = d / f"site-{name}-repaired.toml"
        copy2.write_text(copy.read_text().replace(f'config = "{conf}"', f'config = "{repaired}"'))
        rc, doc, raw = run_check(copy2, "--only", "tunnel", ns=ns)
        stale = [x for x in find(doc["findings"], "tunnel") if "old keys" in x["detail"]]
        checks.ok(rc == 1 and len(stale) == 1 and stale[0]["status"] == "fail" and
                  "wg syncconf" in stale[0]["fix"],
                  f"✗ tunnel on the {name} side when the config names another peer (re-paired)",
                  raw)
        if name == "home":
            rc, doc, raw = run_check(copy, ns=ns)
            kinds = {x["check"] for x in doc["findings"]}
            checks.ok(kinds == {"tls", "tunnel", "users", "listeners", "ddns"},
                      "a home site runs only tls, tunnel, users, listeners and ddns", raw)
            down = [x for x in find(doc["findings"], "listeners") if x["status"] == "fail"]
            checks.ok(rc == 1 and down and
                      all("systemctl restart splitmail-home" in x["fix"] for x in down),
                      "home daemons not running: listeners fail with systemctl restart "
                      "splitmail-home", raw)
            imap = find(doc["findings"], "tls", "IMAP certificate")
            checks.ok(bool(imap), "the IMAP certificate is checked on the home", raw)
            rc, doc, raw = run_check(copy, "--only", "dns", ns=ns)
            na = find(doc["findings"], "dns", "does not apply on this machine")
            checks.ok(rc == 0 and len(na) == 1 and na[0]["status"] == "warn",
                      "--only dns on a home machine says it does not apply", raw)
    # Issue 16 bug 7: right after the relay's side drops, the last handshake is still recent,
    # but home's check must not stay ✓: its probe through the tunnel gets no answer.
    wg_relay.down()
    rc, doc, raw = run_check(home_copy, "--only", "tunnel", ns=home_ns)
    dead = [x for x in find(doc["findings"], "tunnel") if "does not carry traffic" in x["detail"]]
    checks.ok(rc == 1 and len(dead) == 1 and dead[0]["status"] == "fail",
              "✗ tunnel on the home side at once when the relay's side is down (not 3 min later)",
              raw)
    wg_home.down()


if __name__ == "__main__":
    lib.run_main(main)
