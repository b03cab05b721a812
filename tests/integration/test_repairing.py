"""Issue 16 bug 3: re-pairing relay and home after new WireGuard keys, with the tunnel running.

Topology as test_provision_wireguard.py: relay and home in their own network namespaces, joined
through an "internet" namespace, WireGuard by wireguard-go. The interfaces carry the provisioned
names (wg-smrelay, wg-smhome) because `provision` syncs the running interface of that name; the
test refuses to run when another run holds those wireguard-go sockets. A TCP listener on the
relay's tunnel address (10.8.0.1:2525) is what "the tunnel works" means: home connects to it.

Shows, each step failing on the code before the fix:
1. The admin edits relay.toml, home.toml, ddns.toml and adds a comment line to both tunnel files.
2. Old-style key rotation (docs: "delete its file and run again"): wg-smrelay.conf removed and
   `provision relay` run again in the relay namespace -> the pairing file carries the new relay
   key (before: "kept (differs)", a stale pairing), the running wg-smrelay has the new key
   (before: the old one until a restart), relay.toml untouched.
3. `provision home --pairing NEW` in the home namespace -> exit 0 AND the tunnel works (before:
   "kept wg-smhome.conf (differs; --force to replace)", exit 0, tunnel broken); only the key lines
   of wg-smhome.conf changed (the comment stays), home.toml and ddns.toml byte for byte, the old
   file kept as wg-smhome.conf.bak-TIME; the running interface was synced (no restart).
4. The one command: `provision relay ... --new-tunnel-keys` -> both key pairs new, relay synced,
   then `provision home --pairing` -> the tunnel works again; every edited file untouched.
5. A second `provision home` with the same pairing file changes nothing ("unchanged").
6. A tunnel file that cannot take the new keys (no [Peer] PublicKey line) -> `provision home`
   exits 1 naming the file, instead of exit 0 with a broken tunnel.
7. `--force` on the relay replaces an edited relay.toml but keeps the edit in relay.toml.bak-TIME.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import netns_lib  # noqa: E402
from lib import checks  # noqa: E402

from netns_lib import RELAY_PUBLIC  # noqa: E402
TUNNEL_RELAY = "10.8.0.1"
PROBE_PORT = 2525


def eq(actual, expected, what: str, detail: str = "") -> None:
    checks.ok(actual == expected, what, f"expected {expected!r}, got {actual!r}\n{detail}")


def cli_in(ns: netns_lib.Namespace, argv: list[str]) -> tuple[int, str, str]:
    r = ns.run([str(lib.CLI_BIN), *argv], timeout=120)
    out = r.stdout + r.stderr
    if lib.sanitizer_report_in(out):
        lib.fail(f"sanitizer report from splitmail {' '.join(argv)}:\n{out}")
    return r.returncode, r.stdout, r.stderr


def show(ns: netns_lib.Namespace, iface: str, field: str) -> str:
    return ns.run(["wg", "show", iface, field], check=True).stdout.strip()


def conf_key(text: str, key: str) -> str:
    m = re.search(rf"(?mi)^\s*{key}\s*=\s*(\S+)", text)
    return m.group(1) if m else ""


def pubkey(priv: str) -> str:
    return subprocess.run(["wg", "pubkey"], input=priv + "\n", capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    lib.require_binaries(lib.CLI_BIN)
    netns_lib.require_root_tools()
    netns_lib.sweep_stale()
    for name in ("wg-smrelay", "wg-smhome"):
        sock = netns_lib.WG_SOCK_DIR / f"{name}.sock"
        if sock.exists():
            lib.fail(f"{sock} exists: another run (or a real tunnel) uses {name}; this test needs "
                     f"the provisioned interface names")
    d = lib.tmpdir("repair")
    r1, r2 = d / "R1", d / "R2"
    relay_args = ["provision", "relay", "--domain", lib.DOMAIN, "--hostname", "mx.example.test",
                  "--public-ipv4", RELAY_PUBLIC, "--root", str(r1), "--sync-tunnel"]
    pairing = r1 / "etc/splitmail/pairing-home.toml"
    home_args = ["provision", "home", "--pairing", str(pairing), "--root", str(r2),
                 "--sync-tunnel"]
    relay_toml, relay_wg = r1 / "etc/splitmail/relay.toml", r1 / "etc/wireguard/wg-smrelay.conf"
    home_toml, ddns_toml = r2 / "etc/splitmail/home.toml", r2 / "etc/splitmail/ddns.toml"
    home_wg = r2 / "etc/wireguard/wg-smhome.conf"

    inet, relay_ns, home_ns = netns_lib.internet_relay_home()

    rc, out, err = cli_in(relay_ns, relay_args)
    checks.ok(rc == 0, "provision relay", f"exit {rc}\n{out}{err}")
    rc, out, err = cli_in(home_ns, home_args)
    checks.ok(rc == 0, "provision home", f"exit {rc}\n{out}{err}")

    wg_relay = netns_lib.WireGuard(relay_ns, relay_wg, d / "wg", "r", ifname="wg-smrelay").up()
    wg_home = netns_lib.WireGuard(home_ns, home_wg, d / "wg", "h", ifname="wg-smhome").up()

    # The probe listener on the relay's tunnel address (socket made inside the namespace).
    with relay_ns.entered():
        listener = socket.create_server((TUNNEL_RELAY, PROBE_PORT))

    def accept_forever():
        while True:
            try:
                c, _ = listener.accept()
                c.close()
            except OSError:
                return
    threading.Thread(target=accept_forever, daemon=True).start()

    def tunnel_works(what: str) -> None:
        lib.wait_until(lambda: home_ns.tcp_connects(TUNNEL_RELAY, PROBE_PORT, 1.0), 20 * lib.SLOW,
                       f"home reaches {TUNNEL_RELAY}:{PROBE_PORT} through the tunnel ({what})",
                       interval=0.3)
        checks.ok(True, f"tunnel works {what}")

    tunnel_works("after the first provisioning")

    # ---- 0. another tree provisioned with --sync-tunnel outside the relay's namespace (as
    # `setup relay --root` does): wg-smrelay answers there too through wireguard-go's shared
    # control socket, but it is not that namespace's interface and must keep its keys (CI saw
    # test_setup_interactive re-key test_setup_guided's running relay this way).
    running = (show(relay_ns, "wg-smrelay", "public-key"), show(relay_ns, "wg-smrelay", "peers"))
    other = d / "other"
    r = subprocess.run([str(lib.CLI_BIN), "provision", "relay", "--domain", lib.DOMAIN,
                        "--hostname", "mx.example.test", "--public-ipv4", RELAY_PUBLIC,
                        "--root", str(other), "--sync-tunnel"],
                       capture_output=True, text=True, timeout=120)
    checks.ok(r.returncode == 0, "provision relay --sync-tunnel of another tree, outside the "
              "namespace", r.stdout + r.stderr)
    checks.ok("synced the running interface" not in r.stdout,
              "it does not claim to sync an interface of another namespace", r.stdout)
    eq((show(relay_ns, "wg-smrelay", "public-key"), show(relay_ns, "wg-smrelay", "peers")),
       running, "the relay namespace's wg-smrelay keeps its keys", r.stdout + r.stderr)
    tunnel_works("after another namespace's provisioning")

    # ---- 1. the admin's edits
    edits = {relay_toml: "\n# admin: a note kept across re-pairing\n",
             home_toml: "\n# admin: home note\n", ddns_toml: "\n# admin: ddns note\n"}
    for p, extra in edits.items():
        p.write_text(p.read_text() + extra)
    home_wg.write_text("# admin: tunnel note\n" + home_wg.read_text())
    edited = {p: p.read_bytes() for p in edits}

    # ---- 2. old-style rotation of the relay key
    lib.log("rotating the relay key the documented way (delete the file, run again)")
    old_relay_pub = show(relay_ns, "wg-smrelay", "public-key")
    relay_wg.unlink()
    rc, out, err = cli_in(relay_ns, relay_args)
    checks.ok(rc == 0, "provision relay after deleting wg-smrelay.conf exits 0",
              f"exit {rc}\n{out}{err}")
    new_relay_pub = pubkey(conf_key(relay_wg.read_text(), "PrivateKey"))
    checks.ok(new_relay_pub != old_relay_pub, "a new relay key was made")
    eq(conf_key(pairing.read_text(), "relay_public_key").strip('"'), new_relay_pub,
              "the pairing file carries the new relay key (not a stale copy)", out)
    eq(show(relay_ns, "wg-smrelay", "public-key"), new_relay_pub,
              "the running wg-smrelay has the new key (wg syncconf), no restart", out)
    eq(relay_toml.read_bytes(), edited[relay_toml], "relay.toml edit kept")

    # ---- 3. home takes the new pairing file
    lib.log("provision home with the new pairing file")
    home_wg_before = home_wg.read_text()
    rc, out, err = cli_in(home_ns, home_args)
    checks.ok(rc == 0, "provision home --pairing NEW exits 0", f"exit {rc}\n{out}{err}")
    checks.ok("kept " + str(home_wg) not in out,
              "wg-smhome.conf is not 'kept (differs)' with the old relay key", out)
    eq(show(home_ns, "wg-smhome", "peers"), new_relay_pub,
              "the running wg-smhome has the relay's new key as its peer", out)
    tunnel_works("after the relay key rotation and `provision home --pairing NEW`")
    new_home_wg = home_wg.read_text()
    checks.ok(new_home_wg.startswith("# admin: tunnel note\n"),
              "the admin's line in wg-smhome.conf is kept", new_home_wg)
    diff = [(a, b) for a, b in zip(home_wg_before.splitlines(), new_home_wg.splitlines()) if a != b]
    checks.ok(len(home_wg_before.splitlines()) == len(new_home_wg.splitlines()) and
              [a.split("=")[0].strip() for a, _ in diff] == ["PublicKey"],
              "only the peer PublicKey line of wg-smhome.conf changed", str(diff))
    baks = sorted(home_wg.parent.glob("wg-smhome.conf.bak-*"))
    checks.ok(len(baks) == 1 and baks[0].read_text() == home_wg_before
              and oct(baks[0].stat().st_mode & 0o777) == "0o600",
              "the old wg-smhome.conf kept as wg-smhome.conf.bak-TIME (0600)", str(baks))
    for p in (home_toml, ddns_toml):
        eq(p.read_bytes(), edited[p], f"{p.name} edit kept")
    checks.ok("synced the running interface wg-smhome" in out, "home's output says it synced",
              out)

    # ---- 4. the one command on the relay: new keys for both ends
    lib.log("provision relay --new-tunnel-keys")
    old_home_pub = show(home_ns, "wg-smhome", "public-key")
    relay_wg.write_text("# admin: tunnel note\n" + relay_wg.read_text())  # step 2 made it anew
    rc, out, err = cli_in(relay_ns, relay_args + ["--new-tunnel-keys"])
    checks.ok(rc == 0, "provision relay --new-tunnel-keys exits 0", f"exit {rc}\n{out}{err}")
    relay_pub_3 = pubkey(conf_key(relay_wg.read_text(), "PrivateKey"))
    home_pub_3 = conf_key(pairing.read_text(), "home_public_key").strip('"')
    checks.ok(relay_pub_3 != new_relay_pub and home_pub_3 != old_home_pub,
              "both key pairs are new")
    eq((show(relay_ns, "wg-smrelay", "public-key"), show(relay_ns, "wg-smrelay", "peers")),
              (relay_pub_3, home_pub_3), "running wg-smrelay synced to both new keys", out)
    checks.ok(relay_wg.read_text().startswith("# admin: tunnel note\n"),
              "the admin's line in wg-smrelay.conf is kept")
    eq(relay_toml.read_bytes(), edited[relay_toml], "relay.toml edit kept")
    checks.ok("provision home --pairing" in out, "the output names the command for home", out)
    rc, out, err = cli_in(home_ns, home_args)
    checks.ok(rc == 0, "provision home with the re-keyed pairing exits 0", f"exit {rc}\n{out}{err}")
    eq((show(home_ns, "wg-smhome", "public-key"), show(home_ns, "wg-smhome", "peers")),
              (home_pub_3, relay_pub_3), "running wg-smhome synced to both new keys", out)
    tunnel_works("after --new-tunnel-keys and provision home")
    for p in edits:
        eq(p.read_bytes(), edited[p], f"{p.name} still as the admin left it")

    # ---- 5. idempotent
    rc, out, err = cli_in(home_ns, home_args)
    changed = [ln for ln in out.splitlines() if str(r2) in ln and not ln.startswith(("unchanged",
                                                                                      "kept"))]
    checks.ok(rc == 0 and not changed and "synced" not in out,
              "provision home again with the same pairing changes nothing", out + err)

    # ---- 6. a tunnel file that cannot take the keys: exit 1, not a silent broken tunnel
    rc, out, err = cli_in(relay_ns, relay_args + ["--new-tunnel-keys"])
    checks.ok(rc == 0, "another --new-tunnel-keys", out + err)
    home_wg.write_text(re.sub(r"(?m)^PublicKey = .*\n", "", home_wg.read_text()))
    rc, out, err = cli_in(home_ns, home_args)
    checks.ok(rc == 1 and str(home_wg) in err and "--force" in err,
              "provision home exits 1 naming wg-smhome.conf when it cannot take the new keys",
              f"exit {rc}\n{out}{err}")

    # ---- 7. --force keeps a copy of what it replaces
    rc, out, err = cli_in(relay_ns, relay_args + ["--force"])
    checks.ok(rc == 0, "provision relay --force", out + err)
    baks = sorted(relay_toml.parent.glob("relay.toml.bak-*"))
    checks.ok(len(baks) == 1 and baks[0].read_bytes() == edited[relay_toml]
              and f"replaced {relay_toml} (previous copy {baks[0]})" in out,
              "--force replaced relay.toml and kept the edited one as relay.toml.bak-TIME",
              out + str(baks))

    listener.close()
    wg_home.down()
    wg_relay.down()


if __name__ == "__main__":
    lib.run_main(main)
