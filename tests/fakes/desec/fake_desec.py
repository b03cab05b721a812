#!/usr/bin/python3
"""A faithful fake of the deSEC REST API (https://desec.readthedocs.io/) for splitmail's tests.

What it models, after deSEC's documentation:
  * `Authorization: Token <secret>`; missing header or unknown token -> 401 {"detail": ...}.
  * Domains belong to a user; a token sees its user's domains only: others -> 404.
  * Token scoping policies (domain, subname, type, perm_write), most specific match wins;
    a write the policy does not allow -> 403.
  * GET /domains/, GET /domains/{name}/ (with minimum_ttl).
  * /domains/{name}/rrsets/: GET (filters subname/type, newest first, pagination over
    `page_size` items: without `cursor` -> 400 "Pagination required", with `cursor=` pages and a
    Link header with rel first/prev/next), bulk POST/PATCH/PUT: atomic, `records: []` deletes,
    errors as a 400 list in request order with {} for good items.
  * /domains/{name}/rrsets/{subname}/{type}/ (apex `@`): GET, PATCH, PUT, DELETE.
  * Validation: type upper case and not SOA/DNSKEY/RRSIG/NSEC3PARAM, subname syntax, TTL within
    [minimum_ttl, max_ttl], record contents in presentation format: A/AAAA, MX/SRV fields and
    dot-terminated targets, TXT as quoted strings of at most 255 octets each, TLSA fields with
    a digest as long as its matching type says.
  * A new domain has its apex NS RRset, as at deSEC.
  * Throttling with 429 + Retry-After: per-domain write limits (2/s, 15/min, 100/h, 300/day)
    and per-user read limits (10/s, 50/min) by default, configurable.
Test helpers (not deSEC): a checkip endpoint (/checkip/v4, /checkip/v6, plain text), injected
failures (inject()), a request log (`log`) with monotonic timestamps, and what deSEC's
nameservers would publish: zone_text() renders a domain as an RFC 1035 zone file (the RRsets
held, plus the SOA deSEC manages itself, its serial raised on every change) and on_change()
registers a callback run after each change of a domain's RRsets (after the API's reply, as
deSEC publishes shortly after a write), so a test can have a real DNS server serve the zone.

Use it in-process (FakeDesec(...).start()) or standalone:
  fake_desec.py --cert C --key K [--port N] [--setup setup.json] [--port-file F]
where the standalone server also answers GET /_fake/log, POST /_fake/checkip {"v4": ..},
POST /_fake/inject {"status": 503, "count": 1, "kinds": ["write"], "retry_after": 3}.
Only ever binds to 127.0.0.1.
"""
import argparse
import base64
import datetime
import http.server
import ipaddress
import json
import math
import re
import ssl
import sys
import threading
import time
import urllib.parse

DEFAULT_WRITE_LIMITS = [(1, 2), (60, 15), (3600, 100), (86400, 300)]
DEFAULT_READ_LIMITS = [(1, 10), (60, 50)]
FORBIDDEN_TYPES = {"SOA", "DNSKEY", "RRSIG", "NSEC3PARAM", "NSEC", "NSEC3"}
DISABLED_TYPES = {"ALIAS", "DNAME"}
TARGET_TYPES = {"CNAME", "NS", "PTR", "DNAME"}
SUBNAME_RE = re.compile(r"^([*]|[a-z0-9_-]+|[*][.][a-z0-9_.-]+|[a-z0-9_-][a-z0-9_.-]*)$")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Window:
    """Sliding-window throttle, as Django REST framework's SimpleRateThrottle does it."""

    def __init__(self, limits):
        self.limits = list(limits)
        self.history = {}  # scope key -> list of monotonic times, newest last

    def check(self, key, now):
        """None if allowed (and recorded), else seconds to wait."""
        hist = self.history.setdefault(key, [])
        longest = max((w for w, _ in self.limits), default=0)
        while hist and hist[0] <= now - longest:
            hist.pop(0)
        wait = 0.0
        for window, limit in self.limits:
            inside = [t for t in hist if t > now - window]
            if len(inside) >= limit:
                wait = max(wait, window - (now - inside[len(inside) - limit]))
        if wait > 0:
            return wait
        hist.append(now)
        return None


def is_u16(text):
    return text.isdigit() and int(text) <= 65535


def target_error(name):
    """A domain name in record data must be absolute: end with a dot ("." alone is the root)."""
    if not name.endswith("."):
        return "Hostname must be fully qualified (end with a dot): %s" % name
    if name == ".":
        return None
    labels = name[:-1].split(".")
    if len(name) > 254 or any(not re.fullmatch(r"[A-Za-z0-9_*-]{1,63}", lb) for lb in labels):
        return "Invalid hostname: %s" % name
    return None


def txt_error(rec):
    """TXT content: one or more quoted character-strings (RFC 1035 3.3.14 and 5.1: backslash
    escapes \\X and \\DDD), separated by white space, each at most 255 octets."""
    i, n, count = 0, len(rec), 0
    while True:
        while i < n and rec[i] in " \t":
            i += 1
        if i >= n:
            break
        if rec[i] != '"':
            return "TXT record content must be enclosed in double quotes: %s" % rec
        i += 1
        length = 0
        while True:
            if i >= n:
                return "TXT record content has an unterminated string: %s" % rec
            c = rec[i]
            if c == '"':
                i += 1
                break
            if c == "\\":
                if i + 1 >= n:
                    return "TXT record content has a dangling backslash: %s" % rec
                if rec[i + 1].isdigit():
                    if not re.fullmatch(r"\d{3}", rec[i + 1:i + 4]) or int(rec[i + 1:i + 4]) > 255:
                        return "TXT record content has a bad \\DDD escape: %s" % rec
                    i += 4
                else:
                    i += 2
                length += 1
                continue
            length += len(c.encode("utf-8"))
            i += 1
        if length > 255:
            return "TXT string too long (%d octets; at most 255 per string): %s" % (length, rec)
        count += 1
        if i < n and rec[i] not in " \t":
            return "TXT record content must be enclosed in double quotes: %s" % rec
    if count == 0:
        return "TXT record content must be enclosed in double quotes: %s" % rec
    return None


class FakeDesec:
    def __init__(self, cert, key, page_size=500, write_limits=None, read_limits=None,
                 max_ttl=86400):
        self.cert, self.key = cert, key
        self.page_size = page_size
        self.max_ttl = max_ttl
        self.writes = Window(DEFAULT_WRITE_LIMITS if write_limits is None else write_limits)
        self.reads = Window(DEFAULT_READ_LIMITS if read_limits is None else read_limits)
        self.domains = {}  # name -> {"owner", "minimum_ttl", "created", "rrsets": {(sub, type): {...}}}
        self.tokens = {}  # secret -> {"owner", "policies": None | [..]}
        self.checkip = {"v4": None, "v6": None}
        self.injections = []  # dicts: status, count, kinds, retry_after, body
        self.log = []
        self.listeners = []  # on_change() callbacks
        self.changed = []  # domains changed since the listeners last ran, oldest first
        self.listener_errors = []  # what the callbacks raised (they run in the server's threads)
        self.lock = threading.RLock()
        self.server = None
        self.thread = None
        self.port = None

    # ---- set-up --------------------------------------------------------------------------
    def add_domain(self, name, owner="alice", minimum_ttl=3600):
        """Like deSEC, a new domain comes with its apex NS RRset (the delegation to deSEC)."""
        with self.lock:
            self.domains[name] = {"owner": owner, "minimum_ttl": minimum_ttl,
                                  "created": now_iso(), "rrsets": {}, "seq": 0, "serial": 0}
        self.set_rrset(name, "", "NS", ["ns1.desec.io.", "ns2.desec.org."], 3600)

    def add_token(self, secret, owner="alice", policies=None):
        """policies: None (unrestricted) or a list of dicts with keys domain, subname, type
        (None = any) and perm_write (bool)."""
        with self.lock:
            self.tokens[secret] = {"owner": owner, "policies": policies}

    def set_rrset(self, domain, subname, rtype, records, ttl=3600):
        """Sets an RRset without the API's checks; no records deletes it (as `records: []`)."""
        with self.lock:
            d = self.domains[domain]
            d["seq"] += 1
            if records:
                d["rrsets"][(subname, rtype)] = {"records": list(records), "ttl": ttl,
                                                 "created": now_iso(), "touched": now_iso(),
                                                 "seq": d["seq"]}
            else:
                d["rrsets"].pop((subname, rtype), None)
            self.touch(domain)
            self.notify()

    def rrset(self, domain, subname, rtype):
        with self.lock:
            r = self.domains[domain]["rrsets"].get((subname, rtype))
            return None if r is None else {"records": list(r["records"]), "ttl": r["ttl"]}

    def on_change(self, callback):
        """callback(domain) after every change of the domain's RRsets (a successful API write,
        set_rrset, add_domain), with the fake's lock held: it sees the zone
        as changed and no later write until it returns. Exceptions go to listener_errors."""
        with self.lock:
            self.listeners.append(callback)

    def touch(self, domain):
        """Records a change of `domain` (a new SOA serial); listeners run at notify()."""
        with self.lock:
            self.domains[domain]["serial"] += 1
            if domain not in self.changed:
                self.changed.append(domain)

    def notify(self):
        with self.lock:
            changed, self.changed = self.changed, []
            for domain in changed:
                for cb in self.listeners:
                    try:
                        cb(domain)
                    except Exception as e:  # reported to the test, never lost
                        self.listener_errors.append("%s: %r" % (domain, e))
                        sys.stderr.write("fake deSEC: on_change callback for %s failed: %r\n"
                                         % (domain, e))

    def zone_text(self, domain):
        """The domain as deSEC's nameservers would serve it, as an RFC 1035 zone file: the
        SOA deSEC manages (not an RRset of the API) and every RRset held, absolute names."""
        with self.lock:
            d = self.domains[domain]
            lines = ["; %s as published by the fake deSEC" % domain,
                     "%s. 300 IN SOA ns1.desec.io. get.desec.io. %d 86400 3600 2419200 3600"
                     % (domain, d["serial"])]
            for (sub, rtype), r in sorted(d["rrsets"].items()):
                name = (sub + "." if sub else "") + domain + "."
                lines += ["%s %d IN %s %s" % (name, r["ttl"], rtype, rec) for rec in r["records"]]
            return "\n".join(lines) + "\n"

    def inject(self, status, count=1, kinds=("write",), retry_after=None, body=None):
        """The next `count` requests of the given kinds (read, write, checkip) get `status`."""
        with self.lock:
            self.injections.append({"status": status, "count": count, "kinds": set(kinds),
                                    "retry_after": retry_after, "body": body})

    def requests(self, kind=None, status=None, domain=None):
        with self.lock:
            return [e for e in self.log if (kind is None or e["kind"] == kind)
                    and (status is None or e["status"] == status)
                    and (domain is None or e["domain"] == domain)]

    def rrsets_of(self, domain):
        """{(subname, type): {"records": [...], "ttl": n}} of a domain, for assertions."""
        with self.lock:
            return {k: {"records": list(r["records"]), "ttl": r["ttl"]}
                    for k, r in self.domains[domain]["rrsets"].items()}

    # ---- server --------------------------------------------------------------------------
    def start(self, port=0):
        fake = self

        class Handler(Request):
            pass

        Handler.fake = fake
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.port

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def base_url(self):
        return "https://127.0.0.1:%d/api/v1/" % self.port

    # ---- the API -------------------------------------------------------------------------
    def rrset_json(self, domain, key, r):
        sub, rtype = key
        return {"created": r["created"], "domain": domain, "subname": sub,
                "name": (sub + "." if sub else "") + domain + ".", "type": rtype,
                "records": list(r["records"]), "ttl": r["ttl"], "touched": r["touched"]}

    def domain_json(self, name):
        d = self.domains[name]
        return {"created": d["created"], "published": d["created"], "name": name,
                "minimum_ttl": d["minimum_ttl"], "touched": d["created"], "keys": []}

    def policy_allows_write(self, token, domain, sub, rtype):
        policies = token["policies"]
        if policies is None:
            return True
        matching = [p for p in policies
                    if p.get("domain") in (None, domain) and p.get("subname") in (None, sub)
                    and p.get("type") in (None, rtype)]
        if not matching:
            return False
        # Most specific first: domain, then subname, then type.
        matching.sort(key=lambda p: (p.get("domain") is not None, p.get("subname") is not None,
                                     p.get("type") is not None), reverse=True)
        return bool(matching[0].get("perm_write"))

    def validate_records(self, rtype, records):
        errs = []
        for rec in records:
            if not isinstance(rec, str):
                return ["Not a valid string."]
            why = self.record_error(rtype, rec)
            if why:
                errs.append(why)
        if rtype == "CNAME" and len(records) > 1:
            errs.append("RRset of type CNAME cannot have multiple records.")
        return errs

    def record_error(self, rtype, rec):
        """deSEC parses record contents in presentation format (RFC 1035 5.1 and each type's
        RFC) and answers 400 for what does not parse; None if `rec` is fine."""
        bad = "Record content for type %s malformed: %s" % (rtype, rec)
        fields = rec.split()
        if rtype == "A":
            try:
                if str(ipaddress.IPv4Address(rec)) != rec:
                    raise ValueError
            except ValueError:
                return bad
        elif rtype == "AAAA":
            try:
                ipaddress.IPv6Address(rec)
                if "%" in rec:
                    raise ValueError
            except ValueError:
                return bad
        elif rtype in TARGET_TYPES:
            if len(fields) != 1:
                return bad
            return target_error(fields[0])
        elif rtype == "MX":  # RFC 1035 3.3.9: preference exchange
            if len(fields) != 2 or not is_u16(fields[0]):
                return bad
            return target_error(fields[1])
        elif rtype == "SRV":  # RFC 2782: priority weight port target ("." = no service)
            if len(fields) != 4 or not all(is_u16(f) for f in fields[:3]):
                return bad
            return target_error(fields[3])
        elif rtype == "TLSA":  # RFC 6698 2.2: usage selector matching-type hex
            if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
                return bad
            usage, selector, mtype = (int(f) for f in fields[:3])
            data = "".join(fields[3:])
            if usage > 255 or selector > 255 or mtype > 255:
                return bad
            if not re.fullmatch(r"[0-9a-fA-F]+", data) or len(data) % 2:
                return bad
            if {1: 64, 2: 128}.get(mtype, len(data)) != len(data):
                return "%s: digest length does not match matching type %d" % (bad, mtype)
        elif rtype == "TXT":
            return txt_error(rec)
        return None

    def validate_item(self, domain, item, method, existing):
        """Stage-1 and content validation of one RRset object; returns an error dict ({} = ok)."""
        if not isinstance(item, dict):
            return {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                         % type(item).__name__]}
        err = {}
        sub = item.get("subname", "")
        if not isinstance(sub, str):
            err["subname"] = ["Not a valid string."]
        elif sub and not SUBNAME_RE.match(sub):
            err["subname"] = ["Subname can only use (lowercase) a-z, 0-9, ., -, and _, may "
                              "start with a '*.', or just be '*'."]
        rtype = item.get("type")
        if rtype is None:
            err["type"] = ["This field is required."]
        elif not isinstance(rtype, str) or rtype != rtype.upper() or not rtype.isalnum():
            err["type"] = ["The type field must be given in uppercase letters."]
        elif rtype in FORBIDDEN_TYPES:
            err["type"] = ["You cannot tinker with the %s RR set. It is managed automatically."
                           % rtype]
        elif rtype in DISABLED_TYPES:
            err["type"] = ["The %s RR set type is currently unsupported." % rtype]
        exists = (sub, rtype) in existing if isinstance(sub, str) else False
        full = method in ("POST", "PUT")
        creating = not exists
        if "ttl" in item:
            ttl = item["ttl"]
            d = self.domains[domain]
            if not isinstance(ttl, int) or isinstance(ttl, bool):
                err["ttl"] = ["A valid integer is required."]
            elif ttl < d["minimum_ttl"]:
                err["ttl"] = ["Ensure this value is greater than or equal to %d."
                              % d["minimum_ttl"]]
            elif ttl > self.max_ttl:
                err["ttl"] = ["Ensure this value is less than or equal to %d." % self.max_ttl]
        elif full or (creating and item.get("records")):
            err["ttl"] = ["This field is required."]
        if "records" in item:
            recs = item["records"]
            if not isinstance(recs, list):
                err["records"] = ['Expected a list of items but got type "%s".'
                                  % type(recs).__name__]
            elif "type" not in err and rtype is not None:
                content = self.validate_records(rtype, recs)
                if content:
                    err["records"] = content
        elif full:
            err["records"] = ["This field is required."]
        elif creating:
            err.setdefault("non_field_errors", []).append(
                "Cannot create an RRset without records (it does not exist yet).")
        if method == "POST" and exists:
            err.setdefault("non_field_errors", []).append(
                "Another RRset with the same subdomain and type exists for this domain.")
        return err

    def apply_bulk(self, domain, items, method):
        """Returns (status, body). Atomic: nothing changes unless every item is valid."""
        d = self.domains[domain]
        existing = d["rrsets"]
        errors = [self.validate_item(domain, it, method, existing) for it in items]
        seen = {}
        for i, it in enumerate(items):
            if isinstance(it, dict) and not errors[i]:
                key = (it.get("subname", ""), it.get("type"))
                if key in seen:
                    errors[i].setdefault("non_field_errors", []).append(
                        "Same subname and type as in position(s) %d, but must be unique."
                        % seen[key])
                seen.setdefault(key, i)
        if any(errors):
            return 400, errors
        out = []
        for it in items:
            key = (it.get("subname", ""), it["type"])
            cur = existing.get(key)
            if "records" in it and it["records"] == []:
                existing.pop(key, None)
                continue
            if cur is None:
                d["seq"] += 1
                cur = {"records": [], "ttl": None, "created": now_iso(), "seq": d["seq"]}
                existing[key] = cur
            if "records" in it:
                cur["records"] = list(it["records"])
            if "ttl" in it:
                cur["ttl"] = it["ttl"]
            cur["touched"] = now_iso()
            out.append(self.rrset_json(domain, key, cur))
        if items:
            self.touch(domain)
        return (201 if method == "POST" else 200), out


class Request(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):  # quiet; the request log is in fake.log
        pass

    def reply(self, status, body=None, headers=None, text=None):
        if text is not None:
            data = text.encode()
            ctype = "text/plain"
        elif body is None:
            data = b""
            ctype = None
        else:
            data = json.dumps(body).encode()
            ctype = "application/json"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = status

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        fake = self.fake
        self._status = 0
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        entry = {"t": time.monotonic(), "wall": time.time(), "method": self.command,
                 "path": url.path, "query": url.query, "kind": "other", "domain": None,
                 "body": None, "status": 0}
        try:
            entry["body"] = json.loads(raw) if raw else None
        except ValueError:
            entry["body"] = raw.decode("latin-1")
        with fake.lock:
            try:
                self.route(fake, url.path, query, raw, entry)
            except Exception as e:  # a bug in the fake must show up, not hang the client
                self.reply(500, {"detail": "fake error: %r" % e})
            entry["status"] = self._status
            fake.log.append(entry)
            fake.notify()  # after the reply: deSEC publishes a write shortly after it

    def take_injection(self, fake, kind):
        for inj in fake.injections:
            if kind in inj["kinds"] and inj["count"] > 0:
                inj["count"] -= 1
                headers = {}
                if inj["retry_after"] is not None:
                    headers["Retry-After"] = str(inj["retry_after"])
                body = inj["body"]
                if body is None:
                    body = ({"detail": "Request was throttled. Expected available in %s seconds."
                             % inj["retry_after"]} if inj["status"] == 429
                            else {"detail": "Injected failure."})
                self.reply(inj["status"], body, headers)
                return True
        return False

    def route(self, fake, path, query, raw, entry):
        if path.startswith("/_fake/"):
            entry["kind"] = "control"
            return self.control(fake, path, entry)
        m = re.fullmatch(r"/checkip/(v4|v6)", path)
        if m:
            entry["kind"] = "checkip"
            if self.take_injection(fake, "checkip"):
                return
            ip = fake.checkip[m.group(1)]
            if callable(ip):  # tests may hand out a different address per request
                ip = ip()
            if ip is None:
                return self.reply(503, text="no address\n")
            return self.reply(200, text=ip + "\n")
        if not path.startswith("/api/v1/"):
            return self.reply(404, {"detail": "Not found."})
        rest = path[len("/api/v1/"):]
        entry["kind"] = "read" if self.command == "GET" else "write"
        dm = re.match(r"domains/([^/]+)/", rest)
        entry["domain"] = dm.group(1) if dm else None

        # Authentication first (401), as DRF does before anything else.
        auth = self.headers.get("Authorization")
        if not auth:
            return self.reply(401, {"detail": "Authentication credentials were not provided."})
        parts = auth.split(" ", 1)
        token = fake.tokens.get(parts[1]) if len(parts) == 2 and parts[0] == "Token" else None
        if token is None:
            return self.reply(401, {"detail": "Invalid token."})
        if self.take_injection(fake, entry["kind"]):
            return

        if rest == "domains/":
            if self.command != "GET":
                return self.reply(405, {"detail": 'Method "%s" not allowed.' % self.command})
            if not self.throttle(fake, "read", token["owner"]):
                return
            names = sorted(n for n, d in fake.domains.items() if d["owner"] == token["owner"])
            return self.paginate(fake, [fake.domain_json(n) for n in names], query)

        m = re.fullmatch(r"domains/([^/]+)/(?:rrsets/(?:([^/]*)/([^/]+)/)?)?", rest)
        if not m:
            return self.reply(404, {"detail": "Not found."})
        name = m.group(1)
        entry["domain"] = name
        d = fake.domains.get(name)
        if d is None or d["owner"] != token["owner"]:
            return self.reply(404, {"detail": "Not found."})
        is_rrsets = rest != "domains/%s/" % name
        if not is_rrsets:
            if self.command != "GET":
                return self.reply(405, {"detail": 'Method "%s" not allowed.' % self.command})
            if not self.throttle(fake, "read", token["owner"]):
                return
            return self.reply(200, fake.domain_json(name))

        single = m.group(3) is not None
        if self.command == "GET":
            if not self.throttle(fake, "read", token["owner"]):
                return
        elif not self.throttle(fake, "write", name):
            return

        if raw and self.command != "GET":
            try:
                data = json.loads(raw)
            except ValueError:
                return self.reply(400, {"detail": "JSON parse error"})
        else:
            data = None

        if single:
            sub = m.group(2)
            sub = "" if sub == "@" else (sub[:-3] if sub.endswith("...") else sub)
            rtype = m.group(3)
            return self.single(fake, token, name, sub, rtype, data)

        if self.command == "GET":
            items = [(k, r) for k, r in d["rrsets"].items()
                     if ("subname" not in query or k[0] == query["subname"][0])
                     and ("type" not in query or k[1] == query["type"][0])]
            items.sort(key=lambda kr: kr[1]["seq"], reverse=True)  # newest first
            return self.paginate(fake, [fake.rrset_json(name, k, r) for k, r in items], query)
        if self.command not in ("POST", "PATCH", "PUT"):
            return self.reply(405, {"detail": 'Method "%s" not allowed.' % self.command})
        items = data if isinstance(data, list) else [data]
        bulk = isinstance(data, list)
        for it in items:
            if isinstance(it, dict) and isinstance(it.get("type"), str):
                if not fake.policy_allows_write(token, name, it.get("subname", ""), it["type"]):
                    return self.reply(403, {"detail": "You do not have permission to perform "
                                                      "this action."})
        status, body = fake.apply_bulk(name, items, self.command)
        if not bulk:
            body = body[0] if status == 400 else (body[0] if body else None)
            if status == 200 and body is None:
                status = 204
        self.reply(status, body)

    def single(self, fake, token, name, sub, rtype, data):
        d = fake.domains[name]
        key = (sub, rtype)
        if self.command == "GET":
            r = d["rrsets"].get(key)
            if r is None:
                return self.reply(404, {"detail": "Not found."})
            return self.reply(200, fake.rrset_json(name, key, r))
        if not fake.policy_allows_write(token, name, sub, rtype):
            return self.reply(403, {"detail": "You do not have permission to perform this "
                                              "action."})
        if self.command == "DELETE":
            if d["rrsets"].pop(key, None) is not None:
                fake.touch(name)
            return self.reply(204)
        if self.command not in ("PATCH", "PUT"):
            return self.reply(405, {"detail": 'Method "%s" not allowed.' % self.command})
        if key not in d["rrsets"]:
            return self.reply(404, {"detail": "Not found."})
        item = dict(data or {})
        item["subname"], item["type"] = sub, rtype
        status, body = fake.apply_bulk(name, [item], "PATCH" if self.command == "PATCH" else "PUT")
        if status == 400:
            return self.reply(400, body[0])
        if not body:
            return self.reply(204)
        self.reply(200, body[0])

    def throttle(self, fake, kind, scope):
        window = fake.writes if kind == "write" else fake.reads
        wait = window.check(scope, time.monotonic())
        if wait is None:
            return True
        secs = max(1, math.ceil(wait))
        self.reply(429, {"detail": "Request was throttled. Expected available in %d seconds."
                                   % secs}, {"Retry-After": str(secs)})
        return False

    def paginate(self, fake, items, query):
        if "cursor" not in query:
            if len(items) > fake.page_size:
                return self.reply(400, {"detail": "Pagination required. You can query up to %d "
                                                  "items at a time ('cursor' parameter)."
                                                  % fake.page_size})
            return self.reply(200, items)
        cursor = query["cursor"][0]
        try:
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()[2:]) if cursor else 0
        except (ValueError, UnicodeDecodeError):
            return self.reply(400, {"detail": "Invalid cursor"})
        page = items[offset:offset + fake.page_size]
        host = self.headers.get("Host", "127.0.0.1:%d" % fake.port)
        base = "https://%s%s" % (host, urllib.parse.urlsplit(self.path).path)

        def link(off):
            q = {k: v[0] for k, v in query.items() if k != "cursor"}
            c = "" if off == 0 else base64.urlsafe_b64encode(("o:%d" % off).encode()).decode()
            q = dict(cursor=c, **q)
            return base + "?" + urllib.parse.urlencode(q)

        links = ['<%s>; rel="first"' % link(0)]
        if offset > 0:
            links.append('<%s>; rel="prev"' % link(max(0, offset - fake.page_size)))
        if offset + fake.page_size < len(items):
            links.append('<%s>; rel="next"' % link(offset + fake.page_size))
        self.reply(200, page, {"Link": ", ".join(links)})

    def control(self, fake, path, entry):
        if path == "/_fake/log" and self.command == "GET":
            return self.reply(200, fake.log)
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        if path == "/_fake/checkip" and self.command == "POST":
            fake.checkip.update({k: v for k, v in body.items() if k in ("v4", "v6")})
            return self.reply(200, fake.checkip)
        if path == "/_fake/inject" and self.command == "POST":
            fake.inject(body.get("status", 503), body.get("count", 1),
                        body.get("kinds", ["write"]), body.get("retry_after"))
            return self.reply(200, {})
        self.reply(404, {"detail": "Not found."})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--setup", help="JSON: {domains: [{name, owner, minimum_ttl}], "
                                    "tokens: [{secret, owner, policies}], page_size}")
    a = ap.parse_args()
    setup = json.load(open(a.setup)) if a.setup else {}
    fake = FakeDesec(a.cert, a.key, page_size=setup.get("page_size", 500))
    for d in setup.get("domains", []):
        fake.add_domain(d["name"], d.get("owner", "alice"), d.get("minimum_ttl", 3600))
    for t in setup.get("tokens", []):
        fake.add_token(t["secret"], t.get("owner", "alice"), t.get("policies"))
    port = fake.start(a.port)
    if a.port_file:
        with open(a.port_file, "w") as f:
            f.write("%d\n" % port)
    print(port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
