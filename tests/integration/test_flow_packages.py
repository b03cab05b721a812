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
this test collide with no other run (checked).

The internet: deSEC is the fake of tests/fakes/desec on the relay namespace's loopback (home
reaches it through a forwarded port, Forward); the CA is Pebble, beside it. One unbound in the
internet namespace is the resolver of both machines' /etc/resolv.conf (the hoster's, the home
router's): it serves the domain as (fake) deSEC publishes it, reloaded after every change
(dns_lib.AuthZone), outside.example's MX, and checkipv4.dedyn.io, where a stand-in of deSEC's
checkip tells home's splitmail-ddns its router's public address. Test-only flags, never typed
by a user: --systemctl, --desec-api, --desec-ca-file, --acme-*, --wait, --resolver (the
address of the machine's resolv.conf resolver, named explicitly: with resolv.conf alone
libunbound answers the .test names itself, RFC 6761) and (home, which cannot reach the CA)
--certificate self-signed; no --root and no --bindir.

Shows:
1. The user's commands: (1) `apt install` of splitmail-common + splitmail-relay on the VPS;
   (2) `splitmail setup relay ... --yes` -> dns apply at the fake, a certificate from the CA,
   the packaged relay started by its unit and answering on 25, the scp line printed, and
   setup's own `splitmail check` passing DNS, SPF, DKIM, TLSA as the resolver serves them;
   (3) the scp; (4) `apt install` of splitmail-common + splitmail-home at home; (5) `splitmail
   setup home --pairing ... --user demo@... --yes` (password on stdin) -> tunnel handshake,
   the relay knowing demo@, splitmail-ddns publishing home's A record. At most five commands
   (asserted); their number and the wall time are printed.
2. The programs running are the packaged ones (their executable is the file dpkg owns in
   /usr/bin of the root) started from the units provision wrote for them, as their User=.
3. Mail from the internet namespace (swaks) -> relay:25 -> tunnel -> home's Maildir; imaplib
   from the internet namespace reads it through the relay's IMAP pass-through (993), and
   home's login line names the client's real address.
4. demo@ submits from the internet (587, STARTTLS, AUTH PLAIN) to friend@outside.example; the
   relay resolves its MX through the VPS's resolver and delivers it to a minimal MX in the
   internet namespace (outbound_lib.FakeMx), where dkimpy verifies both signatures (RSA and
   Ed25519) with the key records as the fake deSEC holds them (and fails a tampered copy).
5. `splitmail check` on each machine afterwards fails nothing but what no command of the
   user can fix (RELAY_ELSEWHERE: the PTR, Pebble's root in the system CA store, the scanners
   this machine's image has but nothing starts in a root).
The daemons run as their units' User= (the fake systemctl's FAKE_SYSTEMCTL_USER), so file
owners and modes the packages and provision made are what they get.

Cleanup: at exit (also on failure, SIGTERM, Ctrl-C) netns_lib kills every process in the
test's namespaces (the services, wireguard-go, the roots' keepers: their mounts go with them)
and deletes the namespaces; lib removes the temp dir. A run killed with SIGKILL leaves them:
the next run removes what is left of it first and checks that nothing remains
(pkgroot_lib.stale_leftovers).
"""
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dkim  # noqa: E402  python3-dkim (Debian), only visible to /usr/bin/python3
import dns_lib  # noqa: E402
import lib  # noqa: E402
import netns_lib  # noqa: E402
import outbound_lib  # noqa: E402
import pkgroot_lib  # noqa: E402
from lib import checks  # noqa: E402
from pkgroot_lib import Root  # noqa: E402
from netns_lib import HOME_PUBLIC, INET_TO_HOME, INET_TO_RELAY, RELAY_PUBLIC  # noqa: E402
from test_setup_guided import (DOMAIN, RELAY_HOST, SYSTEMCTL, TOKEN,  # noqa: E402
                               harness, home_saw_real_client, imap_through_relay,
                               send_from_internet, start_acme, start_fake_desec,
                               tunnel_diagnostics)

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
# What `splitmail check` on the relay may still fail once the five commands are done, each
# for a reason outside them ({check: text of its detail}): the PTR is set in the hoster's web
# panel (setup says so), Pebble's root is in no system CA store (Let's Encrypt's is), and this
# machine's image has rspamd and clamd installed (provision wires them) but nothing starts
# them in a root.
RELAY_ELSEWHERE = {"ptr": "has no PTR record",
                   "tls": "does not verify against the system CA store",
                   "scanners": "does not answer"}
# ... and right after `setup relay`, before home exists: the tunnel and home's LMTP.
RELAY_BEFORE_HOME = {**RELAY_ELSEWHERE, "tunnel": "wg-smrelay", "lmtp": "home's LMTP"}


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


class InternetDns(dns_lib.AuthZone):
    """The DNS both machines resolve through: one unbound in the internet namespace, listening
    on each router's address (the VPS hoster's resolver, the home router's), serving DOMAIN as
    deSEC's nameservers would (the fake's zone, re-rendered and reloaded after every change:
    dns_lib.AuthZone) plus a few static zones of the rest of the internet; any other name is
    REFUSED (nothing recurses out of the test)."""

    def __init__(self, root: Path, ns, addresses: list[str], static: dict[str, list[str]]):
        super().__init__(root, DOMAIN, port=53)
        self.ns, self.addresses = ns, addresses
        lines = dns_lib.auth_zone_conf(root, "auth", 53, DOMAIN, self.zonefile,
                                       root / "control.sock")
        conf = []
        for ln in lines:
            if ln.strip().startswith("interface:"):
                conf += [f"  interface: {a}@53" for a in addresses]
            elif ln.strip().startswith("access-control:"):
                conf.append("  access-control: 0.0.0.0/0 allow")  # inside the test's netns
            elif ln == "auth-zone:":
                # local zones answer before auth-zone: DOMAIN falls through to it
                conf += ['  local-zone: "." refuse', f'  local-zone: "{DOMAIN}." transparent']
                for zone, records in static.items():
                    conf.append(f'  local-zone: "{zone}." static')
                    conf += [f'  local-data: "{r}"' for r in records]
                conf.append(ln)
            else:
                conf.append(ln)
        self.conf.write_text("\n".join(conf) + "\n")
        self.daemon = ns.daemon("unbound(internet)", self.daemon.argv, self.daemon.logfile)

    def query(self, name: str, rtype: str) -> tuple[str, list[tuple[int, str]]]:
        r = self.ns.run(["drill", "-p", "53", f"@{self.addresses[0]}", name, rtype], timeout=10)
        return (dns_lib.drill_rcode(r.stdout) or r.stdout + r.stderr,
                dns_lib.answer_records(r.stdout, rtype))


class Forward:
    """Port `port` of one namespace's 127.0.0.1 forwarded to the same port of another's: how
    home reaches the fake deSEC, which binds to the relay namespace's 127.0.0.1 only (and its
    certificate names only that address). For both machines it stands for desec.io."""

    def __init__(self, from_ns, to_ns, port: int):
        self.to_ns, self.port = to_ns, port
        with from_ns.entered():
            self.srv = socket.create_server(("127.0.0.1", port))
        self.srv.settimeout(0.2)
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.srv.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._connection, args=(c,), daemon=True).start()

    def _connection(self, c: socket.socket) -> None:
        c.settimeout(None)
        try:
            with self.to_ns.entered():
                u = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        back = threading.Thread(target=_copy, args=(u, c), daemon=True)
        back.start()
        _copy(c, u)
        back.join(60)
        c.close()
        u.close()


def _copy(src: socket.socket, dst: socket.socket) -> None:
    """Bytes from src to dst until src's end, then dst's write side is shut."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


CHECKIP_V4 = "checkipv4.dedyn.io"
HOME_WAN = harness.IP4_A  # a global address (documentation ranges are never published)


class Checkip:
    """deSEC's checkip service (splitmail-ddns's default source of the public IPv4) on port 443
    of `host` in namespace `ns` (the internet's DNS names it CHECKIP_V4). Its answer is
    HOME_WAN, the public address of the home's router as checkip would see it (the home
    machine's own 198.51.100.2 is a documentation address, which splitmail-ddns rightly never
    publishes); `asked` records where each request came from. Its certificate is signed by
    the test CA, the one setup hands splitmail-ddns for deSEC (--desec-ca-file, the agent's
    desec.ca_file)."""

    def __init__(self, d: Path, ns, host: str):
        (d / "checkip.cnf").write_text(f"subjectAltName=DNS:{CHECKIP_V4}\n")
        for args in (["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "checkip.key", "-out",
                      "checkip.csr", "-subj", f"/CN={CHECKIP_V4}"],
                     ["x509", "-req", "-in", "checkip.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-CAcreateserial", "-out", "checkip.pem", "-days", "2", "-extfile",
                      "checkip.cnf"]):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
        self.asked: list[str] = []  # the address of each request
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.asked.append(self.client_address[0])
                body = HOME_WAN.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        with ns.entered():
            self.srv = http.server.ThreadingHTTPServer((host, 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "checkip.pem", d / "checkip.key")
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


CHECK_LINE = re.compile(r"^\s*([✓✗!])\s+([a-z]+)\s+(.*)$")


def check_findings(out: str) -> list[tuple[str, str, str]]:
    """(mark, check, detail) of each line `splitmail check` printed (setup runs it last)."""
    return [m.groups() for m in map(CHECK_LINE.match, out.splitlines()) if m]


def unexpected_failures(found: list[tuple[str, str, str]],
                        allowed: dict[str, str]) -> list[str]:
    """The ✗ findings not explained by `allowed` ({check: text its detail contains})."""
    return [f"{c}: {d}" for (mark, c, d) in found
            if mark == "✗" and not (c in allowed and allowed[c] in d)]


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
    checks.ok(b"hello from the packages" in got,
              f"the relay delivered it to {OUTSIDE_DOMAIN}'s MX in the internet namespace")
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
    # What a run killed with SIGKILL (a ctest timeout) left: its namespaces and every process
    # in them (the services, wireguard-go; the roots' mounts go with their last process), and
    # its temp dir (the roots' upper layers).
    netns_lib.sweep_stale()
    pkgroot_lib.sweep_stale_work("flowpkg")
    stale = pkgroot_lib.stale_leftovers("flowpkg")
    checks.ok(not stale, "nothing is left of a killed earlier run", "\n".join(stale))
    t0 = time.monotonic()
    d = lib.tmpdir("flowpkg")

    debs = pkgroot_lib.build_packages(pkgroot_lib.package_out())
    version = pkgroot_lib.deb_field(debs[0], "Version")

    inet, relay_ns, home_ns = netns_lib.internet_relay_home()

    # The fake deSEC and Pebble on the relay namespace's loopback.
    fake, ca = start_fake_desec(relay_ns, d)
    Forward(home_ns, relay_ns, fake.port)
    acme = start_acme(relay_ns, d, fake)

    # The DNS as the world sees it, what each machine's /etc/resolv.conf names (the hoster's
    # resolver, the home router's): DOMAIN as (fake) deSEC publishes it, from every change on,
    # and OUTSIDE_DOMAIN's MX in the internet namespace.
    outside = [f"{OUTSIDE_DOMAIN}. MX 10 mx.{OUTSIDE_DOMAIN}.",
               f"mx.{OUTSIDE_DOMAIN}. A {INET_TO_RELAY}"]
    checkip = Checkip(d, inet, INET_TO_HOME)  # (deSEC's checkipv6 has no address here)
    dns = InternetDns(d / "dns", inet, [INET_TO_RELAY, INET_TO_HOME],
                      {OUTSIDE_DOMAIN: outside, "dedyn.io": [f"{CHECKIP_V4}. A {INET_TO_HOME}"]})
    dns.start(fake.zone_text(DOMAIN))
    fake.on_change(lambda domain: dns.serve(fake.zone_text(domain)) if domain == DOMAIN
                   else None)
    checks.eq(dns.query(f"mx.{OUTSIDE_DOMAIN}.", "A"), ("NOERROR", [(3600, INET_TO_RELAY)]),
              "the internet's DNS answers for the outside MX")
    checks.eq(dns.query(f"nothere.{DOMAIN}.", "A")[0], "NXDOMAIN",
              f"the internet's DNS serves {DOMAIN} as (fake) deSEC holds it (nothing yet)")

    # Two fresh machines; the user has copied the .debs to /root of each and saved the deSEC
    # token there; the test's stand-ins and CA files go to TEST_DIR.
    roots = {"relay": Root.in_namespace(d / "relay", relay_ns),
             "home": Root.in_namespace(d / "home", home_ns)}
    for role, root in roots.items():
        lib._procs.append(ServiceLogs(root))
        root.make_fresh()
        # the resolver the machine got from its network (DHCP, the hoster's image)
        resolv = root.p("/etc/resolv.conf")
        resolv.unlink(missing_ok=True)
        resolv.write_text(f"nameserver {INET_TO_RELAY if role == 'relay' else INET_TO_HOME}\n")
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

    def resolver(role: str) -> str:
        """What the machine's /etc/resolv.conf names, as check's --resolver: with only
        resolv.conf, libunbound answers the .test names itself (RFC 6761, common/dns)."""
        return f"{INET_TO_RELAY if role == 'relay' else INET_TO_HOME}:53"

    def common_test_args(role: str) -> list[str]:
        a = ["--systemctl", f"{TEST_DIR}/systemctl", "--desec-api", fake.base_url,
             "--desec-ca-file", f"{TEST_DIR}/desec-ca.pem", "--wait", "120",
             "--resolver", resolver(role)]
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
    # setup's last step, `splitmail check`, asks the machine's resolver: DNS as deSEC serves it
    found = check_findings(out)
    for name in ("dns", "spf", "dkim", "tlsa", "listeners"):
        checks.ok(any(m == "✓" and c == name for (m, c, _) in found)
                  and not any(m == "✗" and c == name for (m, c, _) in found),
                  f"relay: setup's check passes {name}", out[-4000:])
    bad = unexpected_failures(found, RELAY_BEFORE_HOME)
    checks.ok(bool(found) and not bad, "relay: setup's check fails nothing else (PTR, system CA "
              "store, scanners; tunnel and LMTP until home is set up)", "\n".join(bad) or out)
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
    # setup does not wait for splitmail-ddns's first cycle: its check may come first
    found = check_findings(out)
    bad = unexpected_failures(found, {"ddns": "not published yet by splitmail-ddns"})
    checks.ok(bool(found) and not bad, "home: setup's check fails nothing (splitmail-ddns may "
              "not have published yet)", "\n".join(bad) or out)

    def home_a() -> list[str]:
        return (fake.rrset(DOMAIN, "home", "A") or {}).get("records", [])
    lib.wait_until(lambda: home_a() == [HOME_WAN], 60,
                   f"splitmail-ddns to publish A home.{DOMAIN} {HOME_WAN} at (fake) deSEC")
    checks.ok(HOME_PUBLIC in checkip.asked and home_a() == [HOME_WAN],
              f"home's splitmail-ddns asked checkip for its address and published A "
              f"home.{DOMAIN} {HOME_WAN} at (fake) deSEC", f"checkip asked by {checkip.asked}")
    home = roots["home"]
    wall_pair = time.monotonic() - t_start
    # The provisioned interface names are the same for every run: their control sockets are
    # in each root's private /run (a tmpfs of its mount namespace), not this machine's.
    for role, root in roots.items():
        sock = f"/run/wireguard/wg-sm{role}.sock"
        checks.ok(root.p(sock).is_socket(), f"{role}: wireguard-go's control socket is the "
                  f"root's own {sock}")

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
    send_from_internet(inet, d, "flow-1", "from the packages")
    mailbox = home.p(f"/var/lib/splitmail/mail/{DOMAIN}/demo")

    def delivered() -> bool:
        for sub in ("new", "cur"):
            for p in (mailbox / sub).glob("*") if (mailbox / sub).is_dir() else []:
                if b"X-Test-Id: flow-1" in p.read_bytes():
                    return True
        return False
    lib.wait_until(delivered, 30, f"flow-1 in home's {mailbox}")
    checks.ok(delivered(), "mail relay -> tunnel -> home Maildir")

    imap_through_relay(inet, demo_pw, "X-Test-Id: flow-1")
    wall_mail = time.monotonic() - t_start
    submitted_and_signed(d, inet, fake, demo_pw)
    home_saw_real_client(home.p(f"{STATE}/splitmail-home.log").read_text(errors="replace"))

    # The doctor, now that mail flows: nothing fails but what no command of the user fixes.
    for role, root in roots.items():
        r = root.run(["splitmail", "check", "--json", "--resolver", resolver(role)],
                     timeout=120)
        try:
            found = [("✓" if f["status"] == "ok" else "✗" if f["status"] == "fail" else "!",
                      f["check"], f["detail"]) for f in json.loads(r.stdout)["findings"]]
        except (ValueError, KeyError, TypeError):
            found = []
        bad = unexpected_failures(found, RELAY_ELSEWHERE if role == "relay" else {})
        passing = {c for (m, c, _) in found if m == "✓"}
        want = {"tunnel", "lmtp", "dns", "dkim"} if role == "relay" else {"tunnel", "ddns"}
        besides = " than PTR, system CA store, scanners" if role == "relay" else ""
        checks.ok(bool(found) and not bad and want <= passing,
                  f"{role}: `splitmail check` passes {', '.join(sorted(want))} and fails "
                  f"nothing else{besides}",
                  "\n".join(bad) or f"exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-1000:]}")
    # Every change the setups made at (fake) deSEC reached the DNS server (on_change).
    checks.eq(fake.listener_errors, [], "the internet's DNS followed every change at deSEC")

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
