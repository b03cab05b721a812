"""Issue 16 "zero to mail in five commands", from the installed packages: two fresh machines,
the .debs installed with apt, one guided command each, mail from the internet into home's
Maildir and read back with IMAP through the relay, counting what the user typed.

Machines: the .debs of scripts/package (`--prebuilt $SPLITMAIL_BIN`, pkgroot_lib) installed
into two throwaway roots, relay and home, each an overlay on this machine's / in a private
mount namespace of its own and a network namespace of its own (pkgroot_lib.Root.in_namespace);
the namespaces are joined through an "internet" namespace as in test_setup_guided.py. Every
command of the flow runs chrooted in its root: the packaged /usr/bin/splitmail, which writes
units naming the packaged /usr/bin programs, started by tests/fakes/systemctl (there is no
systemd in a namespace) with the root's own wg-quick and wireguard-go. The wireguard-go
control sockets live in each root's private /run, so the provisioned interface names of
this test collide with no other run. deSEC is the fake of tests/fakes/desec and the CA is
Pebble, both on the relay namespace's loopback. Test-only flags, never typed by a user:
--systemctl, --desec-api, --desec-ca-file, --acme-*, --wait, --resolver, and (home, which
cannot reach the CA) --certificate self-signed; no --root and no --bindir.

Shows:
1. The user's commands: (1) `apt install` of splitmail-common + splitmail-relay on the VPS;
   (2) `splitmail setup relay ... --yes` -> dns apply at the fake, a certificate from the CA,
   the packaged relay started by its unit and answering on 25, the scp line printed;
   (3) the scp; (4) `apt install` of splitmail-common + splitmail-home at home; (5) `splitmail
   setup home --pairing ... --user demo@... --yes` (password on stdin) -> tunnel handshake and
   the relay knowing demo@. At most five commands; the wall time is printed.
2. The programs running are the packaged ones (their executable is the file dpkg owns in
   /usr/bin of the root) started from the units provision wrote for them.
3. Mail from the internet namespace (swaks) -> relay:25 -> tunnel -> home's Maildir; imaplib
   from the internet namespace reads it through the relay's IMAP pass-through (993), and
   home's login line names the client's real address.
4. demo@ submits from the internet (587, STARTTLS, AUTH PLAIN) to friend@outside.example; the
   relay resolves its MX through the VPS's resolver (unbound on the relay namespace's
   127.0.0.1:53, named in the root's /etc/resolv.conf) and delivers it to a minimal MX in the
   internet namespace (outbound_lib.FakeMx), where dkimpy verifies both signatures (RSA and
   Ed25519) with the key records as the fake deSEC holds them (and fails a tampered copy).
The daemons run as their units' User= (the fake systemctl's FAKE_SYSTEMCTL_USER), so file
owners and modes the packages and provision made are what they get.
"""
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dkim  # noqa: E402  python3-dkim (Debian), only visible to /usr/bin/python3
import lib  # noqa: E402
import netns_lib  # noqa: E402
import outbound_lib  # noqa: E402
import pkgroot_lib  # noqa: E402
from lib import checks  # noqa: E402
from pkgroot_lib import Root  # noqa: E402
from test_setup_guided import (DOMAIN, HOME_PUBLIC, INET_TO_HOME, INET_TO_RELAY,  # noqa: E402
                               RELAY_HOST, RELAY_PUBLIC, SENDER, SYSTEMCTL, TOKEN, harness,
                               start_acme, tunnel_diagnostics)
from fake_desec import FakeDesec  # noqa: E402  (test_setup_guided put it on sys.path)

TEST_DIR = "/opt/splitmail-test"          # in each root: the fake systemctl, CA files
STATE = "/var/log/fake-systemctl"         # in each root: the fake systemctl's pids and logs
# The fake systemctl in a root: its units, its state, and User=/Group=/AmbientCapabilities=
# honoured (the packages made the users), so the daemons run as systemd would run them.
SYSTEMCTL_ENV = {"FAKE_SYSTEMCTL_ROOT": "/", "FAKE_SYSTEMCTL_STATE": STATE,
                 "FAKE_SYSTEMCTL_USER": "1"}
# An address on the internet, its MX in "inet". Not under .test: with no outbound.resolver the
# relay's libunbound keeps its default local zones (RFC 6761), and test. is NXDOMAIN there.
OUTSIDE_DOMAIN = "outside.example"
OUTSIDE = f"friend@{OUTSIDE_DOMAIN}"
ROLE_PACKAGES = {"relay": ["splitmail-common", "splitmail-relay"],
                 "home": ["splitmail-common", "splitmail-home"]}


class ServiceLogs:
    """The logs of the units the fake systemctl started in a root, shown when the test fails
    (lib dumps every entry of lib._procs; there is nothing of ours to kill here)."""

    def __init__(self, root: Root):
        self.root = root

    def kill(self) -> None:
        pass

    def dump_tail(self, lines: int = 40) -> None:
        d = self.root.p(STATE)
        for f in sorted(d.glob("*.log")) if d.is_dir() else []:
            t = f.read_text(errors="replace").splitlines()[-lines:]
            print(f"---- last {len(t)} lines of {self.root.name}:{STATE}/{f.name}:")
            for line in t:
                print(f"  | {line}")


def dkim_keys(fake) -> dict[str, bytes]:
    """The DKIM key records as the fake deSEC holds them: {"SEL._domainkey.DOMAIN": TXT value}
    (the presentation format's quoted strings joined, RFC 6376 3.6.2.2)."""
    out = {}
    for (sub, typ), rr in fake.rrsets_of(DOMAIN).items():
        if typ == "TXT" and sub.endswith("._domainkey"):
            out[f"{sub}.{DOMAIN}"] = "".join(
                re.findall(r'"((?:[^"\\]|\\.)*)"', rr["records"][0])).encode()
    return out


def submitted_and_signed(d: Path, inet, fake, demo_pw: str) -> None:
    """demo@ submits (587, STARTTLS, AUTH) from the internet to an outside address; the relay
    signs it and delivers it to OUTSIDE_DOMAIN's MX (in the internet namespace), where dkimpy
    verifies every signature with the keys published at (fake) deSEC."""
    with inet.entered():
        mx = outbound_lib.FakeMx(25, host=INET_TO_RELAY)
    msg = d / "out.eml"
    msg.write_text(f"From: Demo <{lib.DEMO}>\r\nTo: <{OUTSIDE}>\r\nSubject: signed\r\n"
                   f"Message-ID: <flow-out-1@{DOMAIN}>\r\nX-Test-Id: flow-out-1\r\n\r\n"
                   "hello from the packages\r\n")
    r = inet.run(["swaks", "--server", RELAY_PUBLIC, "--port", "587", "--tls", "--auth",
                  "PLAIN", "--auth-user", lib.DEMO, "--auth-password", demo_pw, "--from",
                  lib.DEMO, "--to", OUTSIDE, "--ehlo", "laptop.example.test", "--data", f"@{msg}"],
                 timeout=60)
    checks.ok(r.returncode == 0, "submission (587, STARTTLS, AUTH as demo@) from the internet "
              "to an outside address accepted", (r.stdout + r.stderr)[-2000:])

    def arrived() -> bytes:
        with mx.lock:
            return next((m for m in mx.messages if b"X-Test-Id: flow-out-1" in m), b"")
    got = lib.wait_until(arrived, 60, f"the relay to deliver flow-out-1 to {OUTSIDE_DOMAIN}'s MX")
    mx.stop()
    checks.ok(True, f"the relay delivered it to {OUTSIDE_DOMAIN}'s MX in the internet namespace")
    keys = dkim_keys(fake)

    def dnsfunc(name, timeout=5):
        return keys.get(name.decode().rstrip("."))
    sigs = [v for (k, v) in dkim.rfc822_parse(got)[0] if k.lower() == b"dkim-signature"]
    d_tag = re.compile(rb"(?:^|;)d=" + re.escape(DOMAIN.encode()) + rb"(?:;|$)")
    signed = sorted(re.search(rb"\bs=([^;\s]+)", s).group(1).decode() + "._domainkey." + DOMAIN
                    for s in sigs)
    checks.ok(signed == sorted(keys) and all(d_tag.search(re.sub(rb"\s+", b"", s)) for s in sigs),
              f"it carries a DKIM signature for d={DOMAIN} with each published selector",
              f"signed {signed}, published {sorted(keys)}\n" + got[:2000].decode(errors="replace"))
    d_ = dkim.DKIM(got)
    for i, sig in enumerate(sigs):
        sel = re.search(rb"\bs=([^;\s]+)", sig).group(1).decode()
        try:
            ok = d_.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            ok, sel = False, f"{sel} ({e})"
        checks.ok(bool(ok), f"dkimpy verifies signature {i + 1} (s={sel}) with the key at "
                  f"(fake) deSEC", f"keys: {sorted(keys)}")
    # The control: the same verification fails once the signed body is changed.
    tampered = got.replace(b"hello from the packages", b"hello from someone else")
    try:
        bad = dkim.DKIM(tampered).verify(idx=0, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        bad = False
    checks.ok(tampered != got and not bad, "control: dkimpy fails the tampered copy")


def main() -> None:
    lib.require_binaries(lib.RELAY_BIN, lib.HOME_BIN, lib.CLI_BIN,
                         lib.BIN / "ddns" / "splitmail-ddns")
    netns_lib.require_root_tools()
    pkgroot_lib.require_tools("nsenter", "swaks")
    netns_lib.sweep_stale()
    pkgroot_lib.sweep_stale_work("flowpkg")
    t0 = time.monotonic()
    d = lib.tmpdir("flowpkg")

    debs = pkgroot_lib.build_packages(pkgroot_lib.package_out())
    version = pkgroot_lib.deb_field(debs[0], "Version")

    inet = netns_lib.Namespace("inet")
    relay_ns = netns_lib.Namespace("relay")
    home_ns = netns_lib.Namespace("home")
    netns_lib.veth_pair(inet, f"{INET_TO_RELAY}/24", relay_ns, f"{RELAY_PUBLIC}/24")
    netns_lib.veth_pair(inet, f"{INET_TO_HOME}/24", home_ns, f"{HOME_PUBLIC}/24")
    inet.sysctl("net.ipv4.ip_forward", "1")
    relay_ns.ip("route", "add", "default", "via", INET_TO_RELAY)
    home_ns.ip("route", "add", "default", "via", INET_TO_HOME)

    # The fake deSEC and Pebble on the relay namespace's loopback.
    ca, cert, key = harness.make_ca(str(d))
    fake = FakeDesec(cert, key)
    fake.add_domain(DOMAIN, "alice", minimum_ttl=60)
    fake.add_token(TOKEN, "alice")
    with relay_ns.entered():
        fake.start()
    acme = start_acme(relay_ns, d, fake)

    # The VPS's DNS resolver (its hoster's, say) on the relay namespace's 127.0.0.1:53: unbound
    # with the internet's zone for OUTSIDE_DOMAIN (its MX in the internet namespace); it refuses
    # everything else.
    zone = [f"{OUTSIDE_DOMAIN}. MX 10 mx.{OUTSIDE_DOMAIN}.",
            f"mx.{OUTSIDE_DOMAIN}. A {INET_TO_RELAY}"]
    dns = outbound_lib.Unbound(d / "dns", {OUTSIDE_DOMAIN: zone}, port=53)
    dns.daemon = relay_ns.daemon("unbound", dns.daemon.argv, dns.daemon.logfile)
    dns.daemon.start()

    def dns_answers() -> bool:
        with relay_ns.entered():
            return dns.answers()
    lib.wait_until(dns_answers, 15, "unbound on the relay namespace's 127.0.0.1:53",
                   daemons=[dns.daemon])

    # Two fresh machines; the user has copied the .debs to /root of each and saved the deSEC
    # token there; the test's stand-ins and CA files go to TEST_DIR.
    roots = {"relay": Root.in_namespace(d / "relay", relay_ns),
             "home": Root.in_namespace(d / "home", home_ns)}
    resolv = roots["relay"].p("/etc/resolv.conf")
    resolv.unlink(missing_ok=True)
    resolv.write_text("nameserver 127.0.0.1\n")
    for role, root in roots.items():
        lib._procs.append(ServiceLogs(root))
        root.make_fresh()
        for deb in debs:
            shutil.copy2(deb, root.p(f"/root/{deb.name}"))
        tok = root.p("/root/desec-token.txt")
        tok.write_text(TOKEN + "\n")
        tok.chmod(0o600)
        root.p(TEST_DIR).mkdir(parents=True)
        shutil.copy2(SYSTEMCTL, root.p(f"{TEST_DIR}/systemctl"))
        shutil.copy2(ca, root.p(f"{TEST_DIR}/desec-ca.pem"))
        shutil.copy2(acme["ca"], root.p(f"{TEST_DIR}/acme-ca.pem"))

    typed: list[str] = []

    def user_runs(role: str, line: str, argv: list[str], input: str = "",
                  test_args: list[str] = ()) -> tuple[int, str]:
        """Runs what the user typed (`line`, counted) in the role's root, from /root."""
        typed.append(line)
        t = time.monotonic()
        r = roots[role].run(argv + list(test_args), input=input, cwd="/root", timeout=400,
                            env=SYSTEMCTL_ENV)
        lib.log(f"{role}$ {line}: exit {r.returncode} in {time.monotonic() - t:.1f}s")
        return r.returncode, r.stdout + r.stderr

    def install(role: str) -> None:
        files = [f"./{p}_*.deb" for p in ROLE_PACKAGES[role]]
        line = "apt install " + " ".join(files)
        # apt-get: apt's own CLI warns that its interface is not stable in scripts.
        rc, out = user_runs(role, line, ["sh", "-c", "apt-get install -y " + " ".join(files)])
        checks.ok(rc == 0, f"({len(typed)}) {role}: {line}", f"exit {rc}\n{out[-3000:]}")
        for pkg in ROLE_PACKAGES[role]:
            checks.eq(roots[role].status(pkg), f"ii {version}", f"{role}: {pkg} installed")
        other = "splitmail-home" if role == "relay" else "splitmail-relay"
        checks.eq(roots[role].status(other), "unknown", f"{role}: {other} is not installed")
        checks.ok(f"next: splitmail setup {role}" in out,
                  f"{role}: the install says what to run next", out[-1500:])

    def common_test_args(role: str) -> list[str]:
        a = ["--systemctl", f"{TEST_DIR}/systemctl", "--desec-api", fake.base_url,
             "--desec-ca-file", f"{TEST_DIR}/desec-ca.pem", "--wait", "120",
             "--resolver", "127.0.0.1:53"]
        if role == "relay":  # the CA: Pebble instead of Let's Encrypt
            return a + ["--acme-directory", acme["directory"], "--acme-ca-file",
                        f"{TEST_DIR}/acme-ca.pem", "--acme-dns-server", acme["dns"]]
        return a + ["--certificate", "self-signed"]  # the CA is only in the relay namespace

    # ---- 1. the user's commands
    t_start = time.monotonic()
    install("relay")
    relay_args = ["--domain", DOMAIN, "--hostname", RELAY_HOST, "--public-ipv4", RELAY_PUBLIC,
                  "--desec-token-file", "desec-token.txt", "--yes"]
    rc, out = user_runs("relay", "splitmail setup relay " + " ".join(relay_args),
                        ["splitmail", "setup", "relay", *relay_args],
                        test_args=common_test_args("relay"))
    lib.log("setup relay said:\n  " + "\n  ".join(out.splitlines()[-40:]))
    checks.ok(rc == 0, f"({len(typed)}) splitmail setup relay --yes exits 0",
              f"exit {rc}\n{out[-4000:]}")
    relay = roots["relay"]
    mx = fake.rrset(DOMAIN, "", "MX")
    checks.ok(mx is not None and any(RELAY_HOST + "." in rec for rec in mx["records"]),
              "dns apply published the MX at (fake) deSEC", str(mx))
    checks.ok(f"ok: a trusted certificate for {RELAY_HOST}" in out,
              "setup relay got a certificate from the CA (dns-01 through deSEC)", out[-3000:])
    checks.ok(relay_ns.tcp_connects(RELAY_PUBLIC, 25), "the packaged relay listens on port 25")
    scp = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("scp ")]
    checks.ok(len(scp) == 1 and "/etc/splitmail/pairing-home.toml" in scp[0]
              and RELAY_PUBLIC in scp[0], "the output names the scp command for the pairing file",
              out[-3000:])

    # (3) the scp, as printed (a copy between the roots here), into /root at home
    typed.append(scp[0])
    pairing = roots["home"].p("/root/pairing-home.toml")
    pairing.write_bytes(relay.p("/etc/splitmail/pairing-home.toml").read_bytes())
    pairing.chmod(0o600)

    install("home")
    demo_pw = hashlib.sha256(os.urandom(16)).hexdigest()[:20]
    home_args = ["--pairing", "pairing-home.toml", "--user", lib.DEMO, "--desec-token-file",
                 "desec-token.txt", "--yes"]
    rc, out = user_runs("home", "splitmail setup home " + " ".join(home_args),
                        ["splitmail", "setup", "home", *home_args], input=demo_pw + "\n",
                        test_args=common_test_args("home"))
    lib.log("setup home said:\n  " + "\n  ".join(out.splitlines()[-30:]))
    diag = "" if rc == 0 else "tunnel state after the failed setup home:\n" + \
        tunnel_diagnostics(d, {"relay": relay_ns, "home": home_ns, "inet": inet}) + "\n"
    checks.ok(rc == 0, f"({len(typed)}) splitmail setup home --yes exits 0",
              f"exit {rc}\n{diag}{out[-3000:]}")
    checks.ok("ok: the WireGuard handshake with the relay" in out
              and f"ok: the relay's recipient-list refresh (it accepts {lib.DEMO})" in out,
              "setup home waited for the handshake and for the relay to know the new user", out)
    home = roots["home"]
    wall_pair = time.monotonic() - t_start

    # ---- 2. what runs is what the packages installed
    for role, root, progs in (("relay", relay, ["splitmail-relay"]),
                              ("home", home, ["splitmail-home", "splitmail-ddns"])):
        for prog in progs:
            unit = root.p(f"/etc/systemd/system/{prog}.service").read_text()
            checks.ok(f"\nExecStart=/usr/bin/{prog} " in unit,
                      f"{role}: the unit provision wrote runs /usr/bin/{prog}", unit)
            owner = root.run(["dpkg", "-S", f"/usr/bin/{prog}"]).stdout.split(":")[0]
            checks.eq(owner, "splitmail-relay" if role == "relay" else "splitmail-home",
                      f"{role}: /usr/bin/{prog} belongs to the package")
            pid = int(root.p(f"{STATE}/{prog}.pid").read_text())
            exe = hashlib.sha256(Path(f"/proc/{pid}/exe").read_bytes()).hexdigest()
            pkg = hashlib.sha256(root.p(f"/usr/bin/{prog}").read_bytes()).hexdigest()
            checks.ok(exe == pkg, f"{role}: the running {prog} (pid {pid}) is the packaged "
                      f"executable", f"{exe} != {pkg}")
            user = re.search(r"(?m)^User=(\S+)$", unit)
            uid = root.run(["id", "-u", user.group(1) if user else "?"]).stdout.strip()
            status = Path(f"/proc/{pid}/status").read_text()
            checks.ok(user is not None and user.group(1) != "root" and uid
                      and re.search(rf"(?m)^Uid:\t{uid}\t{uid}\t", status) is not None,
                      f"{role}: {prog} runs as its unit's User= "
                      f"({user.group(1) if user else 'none'}, uid {uid})",
                      status[:600])

    # ---- 3. mail from the internet to home's Maildir, read back through the relay
    msg = d / "first.eml"
    msg.write_text(f"From: <{SENDER}>\r\nTo: <{lib.DEMO}>\r\nSubject: from the packages\r\n"
                   f"Message-ID: <flow-1@sender.test>\r\nX-Test-Id: flow-1\r\n\r\nhello\r\n")
    r = inet.run(["swaks", "--server", RELAY_PUBLIC, "--port", "25", "--from", SENDER,
                  "--to", lib.DEMO, "--ehlo", "client.sender.test", "--data", f"@{msg}"],
                 timeout=60)
    checks.ok(r.returncode == 0, "swaks from the internet namespace to the relay accepted",
              (r.stdout + r.stderr)[-1500:])
    mailbox = home.p(f"/var/lib/splitmail/mail/{DOMAIN}/demo")

    def delivered() -> bool:
        for sub in ("new", "cur"):
            for p in (mailbox / sub).glob("*") if (mailbox / sub).is_dir() else []:
                if b"X-Test-Id: flow-1" in p.read_bytes():
                    return True
        return False
    lib.wait_until(delivered, 30, f"flow-1 in home's {mailbox}")
    checks.ok(True, "mail relay -> tunnel -> home Maildir")

    client = ("import imaplib, ssl, sys\n"
              "c = ssl.create_default_context(); c.check_hostname = False\n"
              "c.verify_mode = ssl.CERT_NONE\n"
              f"m = imaplib.IMAP4_SSL('{RELAY_PUBLIC}', 993, ssl_context=c, timeout=30)\n"
              "m.login(sys.argv[1], sys.argv[2]); m.select('INBOX')\n"
              "t, d = m.fetch('1', '(BODY.PEEK[])')\n"
              "sys.stdout.write(d[0][1].decode(errors='replace')); m.logout()\n")
    r = inet.run(["/usr/bin/python3", "-c", client, lib.DEMO, demo_pw], timeout=60)
    checks.ok(r.returncode == 0 and "X-Test-Id: flow-1" in r.stdout,
              "imaplib from the internet through the relay's port 993 reads the message",
              (r.stdout + r.stderr)[-1500:])
    wall_mail = time.monotonic() - t_start
    submitted_and_signed(d, inet, fake, demo_pw)
    hl = home.p(f"{STATE}/splitmail-home.log").read_text(errors="replace")
    checks.ok(re.search(r"auth .*login service=imap client=" + re.escape(INET_TO_RELAY) + r"\b",
                        hl) is not None,
              f"home's login line names the client's real address {INET_TO_RELAY}", hl[-3000:])

    lib.log(f"commands typed: {len(typed)}")
    for t in typed:
        lib.log(f"  $ {t}")
    lib.log(f"wall time from the first command to a working pair: {wall_pair:.1f}s, to the "
            f"mail read over IMAP: {wall_mail:.1f}s (with the package build: "
            f"{time.monotonic() - t0:.1f}s)")
    checks.ok(len(typed) <= 5, f"{len(typed)} commands typed (target: at most 5)", str(typed))

    # ---- the services down (daemons, then the tunnels), their logs clean
    for role, root in roots.items():
        units = ["splitmail-relay"] if role == "relay" else ["splitmail-home", "splitmail-ddns"]
        r = root.run([f"{TEST_DIR}/systemctl", "stop", *units, f"wg-quick@wg-sm{role}"],
                     env=SYSTEMCTL_ENV)
        checks.ok(r.returncode == 0, f"{role}: the services stop", r.stdout + r.stderr)
        for f in root.p(STATE).glob("*.log"):
            rep = lib.sanitizer_report_in(f.read_text(errors="replace"))
            checks.ok(not rep, f"{role}: no sanitizer report in {f.name}", rep)
    fake.stop()


if __name__ == "__main__":
    lib.run_main(main)
