"""Issue 16 "one guided command per machine": `splitmail setup relay` and `splitmail setup home`,
non-interactive, from nothing to mail relay -> tunnel -> home, counting the commands a user types.

Topology as test_provision_wireguard.py (root; netns_lib.py): relay and home in their own network
namespaces joined through an "internet" namespace; WireGuard by wireguard-go under the provisioned
names wg-smrelay / wg-smhome (refused when another run holds those sockets). deSEC is the fake of
tests/fakes/desec, listening on the relay namespace's loopback. There is no systemd in a
namespace: tests/fakes/systemctl stands in for it (`--systemctl`), starting the units that
provision wrote (ExecStartPre/ExecStart, wg-quick up), so setup's real service path runs.
Test-only flags (--root, --bindir, --systemctl, --desec-api, --desec-ca-file) point the same code
at the temp trees; a user on a real machine types none of them.

Shows:
1. `setup relay` without --yes and without a terminal prints the plan and changes nothing
   (exit 1 "not confirmed"); `--dry-run` likewise (exit 0).
2. The user's commands: (1) `splitmail setup relay ... --yes` -> provision, token file 0600,
   dns apply at the fake (MX, DKIM, ... as `dns plan` says), wg-quick@wg-smrelay and
   splitmail-relay started, check run, and the exact scp command printed; (2) the scp (a copy
   here); (3) `splitmail setup home --pairing ... --user demo@... --yes` with the password on
   stdin -> waits for the handshake and for the relay's recipient-list refresh that knows demo@.
3. Mail from the internet namespace (swaks) -> relay:25 -> tunnel -> home's Maildir; imaplib
   from the internet namespace reads it through the relay's IMAP pass-through (993), and home's
   login line names the client's real address (PROXY v2 over the tunnel).
4. Re-running both setups: exit 0, the plan changes nothing, provision reports every path
   "unchanged", dns apply writes nothing, no service is restarted, /etc trees byte for byte.
"""
import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import netns_lib  # noqa: E402
from lib import checks  # noqa: E402

sys.path.insert(0, str(lib.SRC / "tests/fakes/desec"))
import harness  # noqa: E402
from fake_desec import FakeDesec  # noqa: E402

from netns_lib import INET_TO_RELAY, RELAY_PUBLIC  # noqa: E402
DOMAIN, RELAY_HOST = lib.DOMAIN, "mx." + lib.DOMAIN
TOKEN = "tok-setup-9fQ2hLx7"
SYSTEMCTL = lib.SRC / "tests/fakes/systemctl/systemctl"
SENDER = "sender@sender.test"
PEBBLE, CHALLTESTSRV = "/usr/bin/pebble", "/usr/bin/pebble-challtestsrv"


def send_from_internet(inet, d: Path, test_id: str, subject: str) -> None:
    """swaks in the internet namespace sends one message (X-Test-Id: test_id) from SENDER to
    demo@ to the relay's port 25, which must accept it."""
    msg = d / f"{test_id}.eml"
    msg.write_text(f"From: <{SENDER}>\r\nTo: <{lib.DEMO}>\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{test_id}@sender.test>\r\nX-Test-Id: {test_id}\r\n\r\n"
                   "hello\r\n")
    r = inet.run(["swaks", "--server", RELAY_PUBLIC, "--port", "25", "--from", SENDER,
                  "--to", lib.DEMO, "--ehlo", "client.sender.test", "--data", f"@{msg}"],
                 timeout=60)
    checks.ok(r.returncode == 0, "swaks from the internet namespace to the relay accepted",
              (r.stdout + r.stderr)[-1500:])


def imap_through_relay(inet, password: str, marker: str) -> None:
    """imaplib in the internet namespace reads INBOX message 1 of demo@ through the relay's
    port 993 (the pass-through: TLS ends at home); the message must hold `marker`."""
    client = ("import imaplib, ssl, sys\n"
              "c = ssl.create_default_context(); c.check_hostname = False\n"
              "c.verify_mode = ssl.CERT_NONE\n"
              f"m = imaplib.IMAP4_SSL('{RELAY_PUBLIC}', 993, ssl_context=c, timeout=30)\n"
              "m.login(sys.argv[1], sys.argv[2]); m.select('INBOX')\n"
              "t, d = m.fetch('1', '(BODY.PEEK[])')\n"
              "sys.stdout.write(d[0][1].decode(errors='replace')); m.logout()\n")
    r = inet.run(["/usr/bin/python3", "-c", client, lib.DEMO, password], timeout=60)
    checks.ok(r.returncode == 0 and marker in r.stdout,
              "imaplib from the internet through the relay's port 993 reads the message",
              (r.stdout + r.stderr)[-1500:])


def home_saw_real_client(home_log: str) -> None:
    """Home's login line names the internet client's address (PROXY v2 from the relay), not
    the relay's tunnel address."""
    checks.ok(re.search(r"auth .*login service=imap client=" + re.escape(INET_TO_RELAY) + r"\b",
                        home_log) is not None,
              f"home's login line names the client's real address {INET_TO_RELAY}",
              home_log[-3000:])


def start_fake_desec(ns, d: Path) -> tuple[FakeDesec, str]:
    """The fake deSEC on the loopback of namespace `ns` (its socket made inside it), holding
    DOMAIN for TOKEN's account; and the file of the test CA (made in d) that signed it."""
    ca, cert, key = harness.make_ca(str(d))
    fake = FakeDesec(cert, key)
    fake.add_domain(DOMAIN, "alice", minimum_ttl=60)
    fake.add_token(TOKEN, "alice")
    with ns.entered():
        fake.start()
    return fake, ca


def start_acme(ns, d: Path, fake) -> dict:
    """Pebble (the Let's Encrypt team's ACME test CA) and pebble-challtestsrv (the DNS server
    its validation asks) inside namespace `ns`, plus a thread that copies the fake deSEC's
    _acme-challenge TXT RRsets to challtestsrv, as deSEC's name servers would serve them."""
    wfe_cert, wfe_key = lib.make_cert(d, "pebble-wfe", "localhost")
    acme_port, mgmt_port, dns_port, dns_mgmt = (lib.free_port() for _ in range(4))
    (d / "pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{mgmt_port}",
        "certificate": str(wfe_cert), "privateKey": str(wfe_key),
        "httpPort": lib.free_port(), "tlsPort": lib.free_port(),
        "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    dns = ns.daemon("pebble-challtestsrv", [CHALLTESTSRV, "-dns01", f"127.0.0.1:{dns_port}",
                                             "-http01", "", "-https01", "", "-tlsalpn01", "",
                                             "-management", f"127.0.0.1:{dns_mgmt}",
                                             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
                    d / "challtestsrv.log").start()
    pebble = ns.daemon("pebble", [PEBBLE, "-config", str(d / "pebble.json"), "-dnsserver",
                                  f"127.0.0.1:{dns_port}"], d / "pebble.log",
                       env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}).start()
    lib.wait_until(lambda: ns.tcp_connects("127.0.0.1", acme_port), 20, "pebble",
                   daemons=[pebble, dns])
    stop = threading.Event()

    def publish():
        try:
            publish_loop()
        except Exception as e:  # the setup would wait for the record until its deadline
            lib.log(f"publishing _acme-challenge records to challtestsrv failed: {e!r}")

    def publish_loop():
        with ns.entered():
            last = {}
            while not stop.is_set():
                now = {f"{sub}.{DOMAIN}.": sorted(v.strip('"') for v in rr["records"])
                       for (sub, typ), rr in fake.rrsets_of(DOMAIN).items()
                       if typ == "TXT" and sub.startswith("_acme-challenge")}
                for host in set(now) | set(last):
                    values = now.get(host, [])
                    if last.get(host, []) != values:
                        mgmt = f"http://127.0.0.1:{dns_mgmt}"
                        urllib.request.urlopen(mgmt + "/clear-txt",
                                               json.dumps({"host": host}).encode())
                        for v in values:
                            urllib.request.urlopen(mgmt + "/set-txt", json.dumps(
                                {"host": host, "value": v}).encode())
                        last[host] = values
                time.sleep(0.3)

    threading.Thread(target=publish, daemon=True).start()
    return {"directory": f"https://localhost:{acme_port}/dir", "ca": str(wfe_cert),
            "dns": f"127.0.0.1:{dns_port}", "stop": stop, "mgmt": mgmt_port}


def eq(actual, expected, what: str, detail: str = "") -> None:
    checks.ok(actual == expected, what, f"expected {expected!r}, got {actual!r}\n{detail}")


def free_wg_names() -> None:
    """The provisioned interface names are global (wireguard-go's sockets): refuse to run when
    another run uses them; remove a socket nobody listens on (a run killed with SIGKILL)."""
    for name in ("wg-smrelay", "wg-smhome"):
        sock = netns_lib.WG_SOCK_DIR / f"{name}.sock"
        if not sock.exists():
            continue
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(sock))
            lib.fail(f"{sock} is in use: another run (or a real tunnel) has {name}")
        except ConnectionRefusedError:
            sock.unlink()
        finally:
            s.close()


def tunnel_diagnostics(d: Path, namespaces: dict) -> str:
    """What a reader of a failed run needs to see why the tunnel did not come up: the running
    WireGuard state and addresses in each namespace, reachability of the relay's public
    address from home, every wireguard-go control socket on the machine and the wg-quick
    logs of the fake systemctl."""
    parts = []
    for role, ns in namespaces.items():
        for argv in (["wg", "show", "all"], ["ip", "-br", "addr"], ["ip", "route"],
                     ["ps", "-o", "pid,args", "-p", ",".join(map(str, ns.pids())) or "1"]):
            r = ns.run(argv, timeout=10)
            parts.append(f"--- {role}: {' '.join(argv)} (exit {r.returncode})\n"
                         f"{r.stdout}{r.stderr}")
    if "home" in namespaces:
        ok = namespaces["home"].tcp_connects(RELAY_PUBLIC, 25)
        parts.append(f"--- home: TCP to {RELAY_PUBLIC}:25 (the route to the relay's public "
                     f"address): {'connects' if ok else 'FAILS'}")
    socks = sorted(p.name for p in netns_lib.WG_SOCK_DIR.glob("*.sock")) \
        if netns_lib.WG_SOCK_DIR.is_dir() else []
    parts.append(f"--- {netns_lib.WG_SOCK_DIR}: {socks}")
    for log in sorted(d.glob("sysd-*/wg-quick@*.log")):
        parts.append(f"--- {log.relative_to(d)} (last 1500 bytes)\n"
                     f"{log.read_text(errors='replace')[-1500:]}")
    return "\n".join(parts)


def tree_state(root: Path) -> dict:
    out = {}
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, st.st_ino, digest)
    return out


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN)
    netns_lib.require_root_tools()
    netns_lib.sweep_stale()
    free_wg_names()
    d = lib.tmpdir("setup")
    r1, r2 = d / "R1", d / "R2"
    bindir = d / "bin"
    bindir.mkdir()
    for b in (lib.RELAY_BIN, lib.HOME_BIN, lib.BIN / "ddns" / "splitmail-ddns", lib.CLI_BIN):
        (bindir / b.name).symlink_to(b.resolve())

    inet, relay_ns, home_ns = netns_lib.internet_relay_home()

    fake, ca = start_fake_desec(relay_ns, d)
    acme = start_acme(relay_ns, d, fake)
    token_file = d / "token-from-desec.txt"   # what the user saved from desec.io
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)

    typed: list[str] = []

    def setup(ns, role: str, root: Path, user_args: list[str], extra: list[str] = (),
              count: bool = True, input: str | None = None):
        test_args = ["--root", str(root), "--bindir", str(bindir), "--systemctl", str(SYSTEMCTL),
                     "--desec-api", fake.base_url, "--desec-ca-file", ca, "--wait", "120",
                     "--resolver", "127.0.0.1:53"]
        if role == "relay":  # the CA: Pebble instead of Let's Encrypt
            test_args += ["--acme-directory", acme["directory"], "--acme-ca-file", acme["ca"],
                          "--acme-dns-server", acme["dns"]]
        else:  # the fake deSEC and Pebble are reachable only inside the relay's namespace
            test_args += ["--certificate", "self-signed"]
        argv = [str(lib.CLI_BIN), "setup", role, *user_args, *extra, *test_args]
        if count:
            typed.append(" ".join(["splitmail", "setup", role, *user_args, *extra]))
        env = {"FAKE_SYSTEMCTL_ROOT": str(root), "FAKE_SYSTEMCTL_STATE": str(d / f"sysd-{role}")}
        t0 = time.monotonic()
        r = ns.run(argv, timeout=400, input=input if input is not None else "", env=env)
        lib.log(f"setup {role} {' '.join(extra)}: exit {r.returncode} in "
                f"{time.monotonic() - t0:.1f}s")
        out = r.stdout + r.stderr
        if lib.sanitizer_report_in(out):
            lib.fail(f"sanitizer report from splitmail setup {role}:\n{out}")
        return r.returncode, r.stdout, r.stderr

    relay_user_args = ["--domain", DOMAIN, "--hostname", RELAY_HOST, "--public-ipv4",
                       RELAY_PUBLIC, "--desec-token-file", str(token_file)]

    # ---- 1. the plan first: no terminal, no --yes -> nothing changes
    rc, out, err = setup(relay_ns, "relay", r1, relay_user_args, count=False)
    checks.ok(rc == 1 and "would create" in out and "--yes" in err and not r1.exists(),
              "setup relay without --yes on a non-terminal shows the plan and changes nothing",
              f"exit {rc}\n{out}{err}")
    rc, out, err = setup(relay_ns, "relay", r1, relay_user_args, ["--dry-run"], count=False)
    checks.ok(rc == 0 and "dry run: nothing was changed" in out and not r1.exists()
              and not fake.requests("write"), "setup relay --dry-run changes nothing",
              f"exit {rc}\n{out}{err}")

    # ---- 2. the user's commands
    t_start = time.monotonic()
    rc, out, err = setup(relay_ns, "relay", r1, relay_user_args, ["--yes"])
    lib.log("setup relay said:\n  " + "\n  ".join((out + err).splitlines()[-40:]))
    checks.ok(rc == 0, "(1) splitmail setup relay --yes exits 0", f"exit {rc}\n{out}{err}")
    tok = r1 / "etc/splitmail/desec.token"
    eq((tok.read_text(), oct(tok.stat().st_mode & 0o777)), (TOKEN + "\n", "0o600"),
       "relay: token file written, mode 0600")
    mx = fake.rrset(DOMAIN, "", "MX")
    checks.ok(mx is not None and any(RELAY_HOST + "." in rec for rec in mx["records"]),
              "dns apply published the MX at (fake) deSEC", str(mx))
    checks.ok(fake.rrset(DOMAIN, "sm1-ed25519._domainkey", "TXT") is not None,
              "dns apply published the DKIM key", str(fake.rrsets_of(DOMAIN).keys()))
    calls = (d / "sysd-relay/calls.log").read_text()
    checks.ok("enable --now wg-quick@wg-smrelay" in calls and "enable --now splitmail-relay"
              in calls, "relay: systemctl enable --now for the tunnel and splitmail-relay", calls)
    checks.ok(relay_ns.tcp_connects(RELAY_PUBLIC, 25), "splitmail-relay listens on port 25")
    pairing_src = r1 / "etc/splitmail/pairing-home.toml"
    scp_lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("scp ")]
    checks.ok(any(str(pairing_src) in ln and RELAY_PUBLIC in ln for ln in scp_lines),
              "the output names the exact scp command for the pairing file", out)
    checks.ok("PTR" in out and "==> splitmail check" in out, "it ran check and names the PTR",
              out)
    # A trusted certificate through dns-01 at (fake) deSEC from the CA (Pebble), in service
    # without a restart, renewed by the timer, and the TLSA record dns apply published stays
    # valid (the placeholder's key was kept).
    checks.ok(f"ok: a trusted certificate for {RELAY_HOST}" in out,
              "setup relay got a certificate from the CA (dns-01 through deSEC)", out)
    relay_crt = r1 / "etc/splitmail/tls/relay.crt"
    issuer = subprocess.run(["openssl", "x509", "-in", str(relay_crt), "-noout", "-issuer"],
                            capture_output=True, text=True).stdout
    checks.ok("Pebble" in issuer, "relay.crt is issued by the CA, no longer self-signed", issuer)
    checks.ok(Path(str(relay_crt) + ".acme.json").is_file(),
              "it is renewed automatically (renewal file next to it)")
    spki = subprocess.run(f"openssl x509 -in {relay_crt} -noout -pubkey | openssl pkey -pubin "
                          f"-outform DER | sha256sum", shell=True, capture_output=True,
                          text=True).stdout.split()[0]
    tlsa = fake.rrset(DOMAIN, "_25._tcp.mx", "TLSA")
    checks.ok(tlsa is not None and any(spki in rec.lower() for rec in tlsa["records"]),
              "the published TLSA 3 1 1 record matches the new certificate's key", str(tlsa))
    want_fp = subprocess.run(["openssl", "x509", "-in", str(relay_crt), "-noout",
                              "-fingerprint", "-sha256"], capture_output=True, text=True).stdout

    def presented() -> str:
        r = relay_ns.run(["sh", "-c", f"openssl s_client -starttls smtp -connect "
                                      f"{RELAY_PUBLIC}:25 </dev/null 2>/dev/null | "
                                      f"openssl x509 -noout -fingerprint -sha256"], timeout=30)
        return r.stdout
    lib.wait_until(lambda: presented() == want_fp, 20,
                   "the running relay to present the new certificate on STARTTLS")
    checks.ok(True, "the running relay presents it on port 25 (reloaded, not restarted)")

    # (2) the user copies the pairing file as told
    pairing = d / "home-cwd" / "pairing-home.toml"
    pairing.parent.mkdir()
    pairing.write_bytes(pairing_src.read_bytes())
    pairing.chmod(0o600)
    typed.append(f"scp root@{RELAY_PUBLIC}:/etc/splitmail/pairing-home.toml .")

    demo_pw = hashlib.sha256(os.urandom(16)).hexdigest()[:20]
    home_user_args = ["--pairing", str(pairing), "--user", lib.DEMO, "--desec-token-file",
                      str(token_file)]
    rc, out, err = setup(home_ns, "home", r2, home_user_args, ["--yes"], input=demo_pw + "\n")
    lib.log("setup home said:\n  " + "\n  ".join((out + err).splitlines()[-30:]))
    diag = "" if rc == 0 else "tunnel state after the failed setup home:\n" + \
        tunnel_diagnostics(d, {"relay": relay_ns, "home": home_ns, "inet": inet}) + "\n"
    checks.ok(rc == 0, "(3) splitmail setup home --yes exits 0",
              f"exit {rc}\n{diag}{(out + err)[-2000:]}")
    checks.ok("ok: the WireGuard handshake with the relay" in out
              and f"ok: the relay's recipient-list refresh (it accepts {lib.DEMO})" in out,
              "setup home waited for the handshake and for the relay to know the new user", out)
    checks.ok("port 993" in out and RELAY_HOST in out, "it prints the mail client settings", out)
    tok = r2 / "etc/splitmail/desec.token"
    eq(oct(tok.stat().st_mode & 0o777), "0o600", "home: token file mode 0600")
    wall = time.monotonic() - t_start

    # ---- 3. mail from the internet to home's Maildir
    send_from_internet(inet, d, "guided-1", "guided")
    mailbox = r2 / "var/lib/splitmail/mail" / DOMAIN / "demo"

    def delivered() -> bool:
        for sub in ("new", "cur"):
            for p in (mailbox / sub).glob("*") if (mailbox / sub).is_dir() else []:
                if b"X-Test-Id: guided-1" in p.read_bytes():
                    return True
        return False
    lib.wait_until(delivered, 30, f"guided-1 in {mailbox}")
    checks.ok(True, "mail relay -> tunnel -> home Maildir")

    # ---- 3b. a mail client on the internet reads it through the relay's IMAP pass-through
    # (993 at the relay -> tunnel -> home, TLS ending at home), and home sees the client's real
    # address (PROXY v2 from the relay), not the relay's tunnel address.
    relay_toml = (r1 / "etc/splitmail/relay.toml").read_text()
    checks.ok(re.search(r'(?ms)^\[imap_proxy\].*?^listen = \[[^]]*:993"', relay_toml) is not None,
              "setup relay turned the IMAP pass-through on (imap_proxy.listen :993)", relay_toml)
    imap_through_relay(inet, demo_pw, "X-Test-Id: guided-1")
    home_log = d / "sysd-home" / "splitmail-home.log"
    home_saw_real_client(home_log.read_text(errors="replace") if home_log.exists() else "")
    lib.log(f"commands typed: {len(typed)}; wall time from the first command to a working "
            f"pair: {wall:.1f}s")
    for t in typed:
        lib.log(f"  $ {t}")
    checks.ok(len(typed) <= 5, f"{len(typed)} commands typed (target: at most 5)", str(typed))

    # ---- 4. re-running both is safe
    etc_before = {"R1": tree_state(r1 / "etc"), "R2": tree_state(r2 / "etc")}
    writes_before = len(fake.requests("write"))
    calls_before = {r: (d / f"sysd-{r}/calls.log").read_text() for r in ("relay", "home")}
    time.sleep(0.05)
    for ns, role, root, args in ((relay_ns, "relay", r1, relay_user_args),
                                 (home_ns, "home", r2, home_user_args)):
        rc, out, err = setup(ns, role, root, args, count=False)  # no --yes: nothing to confirm
        checks.ok(rc == 0, f"setup {role} again (no --yes) exits 0", f"exit {rc}\n{out}{err}")
        plan = out.split("==> provision", 1)[0]
        checks.ok("would " not in plan and "unchanged " in plan,
                  f"setup {role} again: the plan changes nothing", plan)
        done = out.split("==> provision", 1)[1].split("==> ", 1)[0] if "==> provision" in out \
            else ""
        changed = [ln for ln in done.splitlines() if str(root) in ln
                   and not ln.strip().startswith("unchanged ")]
        checks.ok(done and not changed, f"setup {role} again: provision reports every path "
                  f"unchanged", "\n".join(changed) or out)
        if role == "relay":
            checks.ok("unchanged: " in out and "is renewed automatically" in out,
                      "setup relay again leaves the certificate to the timer", out)
            checks.ok("ok: home is connected through the tunnel" in out and
                      "ok: the relay's recipient list from home" in out,
                      "setup relay again sees home through the tunnel and the relay's copy of "
                      "home's recipient list", out)
        new_calls = (d / f"sysd-{role}/calls.log").read_text()[len(calls_before[role]):]
        checks.ok("restart" not in new_calls and "was running; its configuration is unchanged"
                  in out, f"setup {role} again restarts nothing", new_calls + out)
    eq(len(fake.requests("write")), writes_before, "the second dns apply wrote nothing at deSEC")
    etc_after = {"R1": tree_state(r1 / "etc"), "R2": tree_state(r2 / "etc")}
    eq(etc_after, etc_before, "no file under either /etc tree was touched by the re-runs")

    # ---- the tunnel down again (the interface names are global)
    for ns, role, root in ((relay_ns, "relay", r1), (home_ns, "home", r2)):
        ns.run([str(SYSTEMCTL), "stop", "splitmail-" + role, f"wg-quick@wg-sm{role}"],
               env={"FAKE_SYSTEMCTL_ROOT": str(root),
                    "FAKE_SYSTEMCTL_STATE": str(d / f"sysd-{role}")})
    fake.stop()


if __name__ == "__main__":
    lib.run_main(main)
