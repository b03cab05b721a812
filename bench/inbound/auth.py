"""bench/inbound --auth: what both systems need to check sender authentication, made once.

  - a DKIM key (RSA 2048, selector `bench`, d=sender.example) and MESSAGES distinct messages of
    about SIZE bytes from bench@sender.example to demo@example.test, each signed with it by dkimpy
    (relaxed/relaxed, rsa-sha256), written in SMTP wire form (CRLF, dot-stuffed, ending with
    ".\\r\\n") to DIR/msgs/NNNNNN so the sender only replays bytes;
  - two controls: DIR/control/good (one more signed message, for the warm-up) and
    DIR/control/tampered (its body changed after signing, so DKIM fails; sent with MAIL FROM
    <bench@soft.sender.example>, whose SPF is ~all: softfail, which neither side refuses by itself,
    and not a pass, so DMARC fails and p=reject must refuse it on both sides);
  - DIR/unbound.conf: one unbound on ADDR:53 serving the zone both systems resolve through:
      sender.example               TXT "v=spf1 ip4:127.0.0.1 -all"          (SPF, RFC 7208)
      bench._domainkey...       TXT "v=DKIM1; k=rsa; p=..."              (DKIM, RFC 6376 3.6)
      _dmarc.sender.example        TXT "v=DMARC1; p=reject"                 (DMARC, RFC 7489 6.1)
      soft.sender.example          TXT "v=spf1 ~all"                        (the control's SPF)
      1.0.0.127.in-addr.arpa    PTR mail.sender.example.  + mail.sender.example A 127.0.0.1  (iprev)
    and nothing else (every other name is refused: no query leaves the machine);
  - DIR/resolv.conf and DIR/nsswitch.conf for the Postfix side, whose resolvers (libc for
    Postfix's own client name lookup and OpenDMARC, dnspython for policyd-spf) read only
    /etc/resolv.conf: `run` bind-mounts them there in a private mount namespace.

The sender's domain is under .example (RFC 2606), not .test like the rest of the tests: the
libunbound inside OpenDKIM answers every name under .test itself (NXDOMAIN, unbound's built-in
RFC 6761 zone), and the only way to tell it otherwise (ResolverConfiguration, a libunbound
config file) makes OpenDKIM die under concurrent messages ("fatal flex scanner internal
error"), so it gets only `Nameservers`.

Prints one JSON line: {"messages": N, "dir": ..., "bytes": average wire size}.
usage: /usr/bin/python3 bench/inbound/auth.py DIR MESSAGES SIZE ADDR
"""
import base64
import json
import random
import sys
from pathlib import Path

import dkim  # python3-dkim (dkimpy)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DOMAIN = "sender.example"
SELECTOR = "bench"
SENDER = f"bench@{DOMAIN}"
RCPT = "demo@example.test"
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]
WORDS = ("relay home tunnel queue spool maildir signature header body record policy domain "
         "selector resolver answer message sender mailbox folder").split()


def message(i: int, size: int, rng: random.Random) -> bytes:
    head = (f"From: Bench Sender <{SENDER}>\r\nTo: <{RCPT}>\r\n"
            f"Subject: bench message {i}\r\nDate: Sun, 06 Dec 2026 18:00:00 +0000\r\n"
            f"Message-ID: <bench-{i}-{rng.getrandbits(48):x}@{DOMAIN}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    lines = []
    n = len(head)
    while n < size:
        # text of 60-78 octets, never starting with "." (nothing to dot-stuff, like smtp-source)
        words, w = [], 0
        while w < 60:
            t = rng.choice(WORDS)
            words.append(t)
            w += len(t) + 1
        line = " ".join(words)[:78]
        lines.append(line)
        n += len(line) + 2
    return (head + "\r\n".join(lines) + "\r\n").encode()


def sign(msg: bytes, key: bytes) -> bytes:
    return dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), key,
                     canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED) + msg


def wire(msg: bytes) -> bytes:
    """RFC 5321 4.5.2: a line starting with "." gets one more; then the end-of-data line."""
    out = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in msg.split(b"\r\n"))
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out + b".\r\n"


def txt(name: str, value: str) -> str:
    # RFC 1035 3.3.14: character-strings of at most 255 octets
    parts = " ".join(f'"{value[i:i + 250]}"' for i in range(0, len(value), 250))
    return f"local-data: '{name}. 300 IN TXT {parts}'"


def main() -> None:
    root, n, size, addr = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    (root / "msgs").mkdir(parents=True, exist_ok=True)
    (root / "control").mkdir(exist_ok=True)
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    (root / "dkim.key").write_bytes(pem)
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    rng = random.Random(17)
    total = 0
    for i in range(n):
        w = wire(sign(message(i, size, rng), pem))
        (root / "msgs" / f"{i:06d}").write_bytes(w)
        total += len(w)
    # controls: a good one for the warm-up, and one whose body changed after signing
    (root / "control" / "good").write_bytes(wire(sign(message(n, size, rng), pem)))
    bad = sign(message(n + 1, size, rng), pem).replace(b"relay", b"RELAY", 1)
    (root / "control" / "tampered").write_bytes(wire(bad))

    zone = [
        "server:",
        f"  interface: {addr}@53",
        "  port: 53",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{root}"',
        f'  pidfile: "{root}/unbound.pid"',
        "  use-syslog: no",
        f'  logfile: "{root}/unbound.log"',
        "  verbosity: 1",
        "  num-threads: 1",
        "  do-ip6: no",
        "  access-control: 127.0.0.0/8 allow",
        '  module-config: "iterator"',
        '  local-zone: "." refuse',
        f'  local-zone: "{DOMAIN}." static',
        "  " + txt(DOMAIN, "v=spf1 ip4:127.0.0.1 -all"),
        "  " + txt(f"{SELECTOR}._domainkey.{DOMAIN}",
                   "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()),
        "  " + txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject"),
        "  " + txt(f"soft.{DOMAIN}", "v=spf1 ~all"),
        f"  local-data: 'mail.{DOMAIN}. 300 IN A 127.0.0.1'",
        # replaces unbound's built-in 127.in-addr.arpa zone (127.0.0.1 PTR localhost)
        '  local-zone: "127.in-addr.arpa." static',
        f"  local-data: '1.0.0.127.in-addr.arpa. 300 IN PTR mail.{DOMAIN}.'",
        "remote-control:",
        "  control-enable: no",
    ]
    (root / "unbound.conf").write_text("\n".join(zone) + "\n")
    (root / "resolv.conf").write_text(f"nameserver {addr}\noptions attempts:1 timeout:2\n")
    # Postfix's client name lookup (getnameinfo, then getaddrinfo to confirm) through DNS first
    (root / "nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\n"
                                        "hosts: dns files\nservices: files\n")
    print(json.dumps({"messages": n, "dir": str(root), "bytes": total // max(n, 1)}), flush=True)


if __name__ == "__main__":
    main()
