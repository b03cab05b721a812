#!/usr/bin/python3
"""The fake deSEC itself, checked against deSEC's documented behaviour with a plain HTTPS
client (urllib), so the ddns tests run against something faithful: auth, ownership, scoping,
minimum_ttl, bulk atomicity and its per-item error list, validation, deletes, pagination,
throttling with Retry-After, and TLS with the test CA."""
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("SPLITMAIL_SRC", "."), "tests/fakes/desec"))
import harness  # noqa: E402
from harness import DOMAIN, TOKEN, check  # noqa: E402

checks = harness.Checks()
env = harness.Env(minimum_ttl=3600, page_size=3,
                  write_limits=[(1, 100), (60, 1000)])
ctx = ssl.create_default_context(cafile=env.ca)


def call(method, path, body=None, token=TOKEN, base=None):
    url = (base or env.fake.base_url) + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", "Token " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None), dict(e.headers)


def auth_and_ownership():
    check(call("GET", "domains/", token=None)[0] == 401,
          'expected: call("GET", "domains/", token=None)[0] == 401')
    s, b, _ = call("GET", "domains/", token="wrong")
    check(s == 401 and b == {"detail": "Invalid token."}, b)
    s, b, _ = call("GET", "domains/")
    check(s == 200 and [d["name"] for d in b] == [DOMAIN], b)
    check(call("GET", "domains/other.example/")[0] == 404,  # bob's domain
          "another owner's domain is 404")
    check(call("GET", "domains/nope.example/rrsets/")[0] == 404,
          'expected: call("GET", "domains/nope.example/rrsets/")[0] == 404')
    s, b, _ = call("GET", "domains/%s/" % DOMAIN)
    check(s == 200 and b["minimum_ttl"] == 3600 and b["name"] == DOMAIN, b)


def bulk_atomic_with_error_list():
    items = [{"subname": "a", "type": "A", "ttl": 3600, "records": ["81.2.69.1"]},
             {"subname": "b", "type": "A", "ttl": 60, "records": ["81.2.69.2"]},
             {"subname": "c", "type": "AAAA", "ttl": 3600, "records": ["81.2.69.3"]},
             {"subname": "d", "type": "a", "ttl": 3600, "records": ["81.2.69.4"]},
             {"subname": "e", "type": "A", "ttl": 90000, "records": ["81.2.69.5"]}]
    s, b, _ = call("PATCH", "domains/%s/rrsets/" % DOMAIN, items)
    check(s == 400 and isinstance(b, list) and len(b) == 5, (s, b))
    check(b[0] == {}, b)
    check("greater than or equal to 3600" in b[1]["ttl"][0], b)
    check("AAAA" in b[2]["records"][0], b)
    check("uppercase" in b[3]["type"][0], b)
    check("less than or equal to 86400" in b[4]["ttl"][0], b)
    check(env.fake.rrset(DOMAIN, "a", "A") is None, "a failed bulk request changed something")
    s, b, _ = call("PATCH", "domains/%s/rrsets/" % DOMAIN, [items[0]])
    check(s == 200 and b[0]["name"] == "a.%s." % DOMAIN and b[0]["records"] == ["81.2.69.1"],
          "the single valid item is written")


def duplicates_post_conflict_and_delete():
    dup = [{"subname": "x", "type": "A", "ttl": 3600, "records": ["81.2.69.9"]}] * 2
    s, b, _ = call("PUT", "domains/%s/rrsets/" % DOMAIN, dup)
    check(s == 400 and b[0] == {} and "unique" in json.dumps(b[1]), b)
    s, b, _ = call("POST", "domains/%s/rrsets/" % DOMAIN,
                   [{"subname": "a", "type": "A", "ttl": 3600, "records": ["81.2.69.1"]}])
    check(s == 400 and "exists" in json.dumps(b), b)
    s, b, _ = call("POST", "domains/%s/rrsets/" % DOMAIN,
                   [{"subname": "", "type": "MX", "ttl": 3600, "records": ["10 mx.example"]},
                    {"subname": "", "type": "TXT", "ttl": 3600, "records": ["v=spf1 -all"]}])
    check(s == 400 and "dot" in json.dumps(b[0]) and "quotes" in json.dumps(b[1]), b)
    s, b, _ = call("POST", "domains/%s/rrsets/" % DOMAIN,
                   [{"subname": "", "type": "MX", "ttl": 3600, "records": ["10 mx.example."]},
                    {"subname": "", "type": "TXT", "ttl": 3600, "records": ['"v=spf1 -all"']}])
    check(s == 201 and len(b) == 2, (s, b))
    s, b, _ = call("GET", "domains/%s/rrsets/@/MX/" % DOMAIN)
    check(s == 200 and b["records"] == ["10 mx.example."], b)
    s, b, _ = call("PATCH", "domains/%s/rrsets/" % DOMAIN,
                   [{"subname": "", "type": "MX", "records": []},
                    {"subname": "a", "type": "A", "records": ["81.2.69.7"]}])
    check(s == 200 and [r["type"] for r in b] == ["A"], b)
    check(env.fake.rrset(DOMAIN, "", "MX") is None,
          'expected: env.fake.rrset(DOMAIN, "", "MX") is None')
    check(env.fake.rrset(DOMAIN, "a", "A") == {"records": ["81.2.69.7"], "ttl": 3600},
          'expected: env.fake.rrset(DOMAIN, "a", "A") == {"records": ["81.2.69.7"], "ttl": 3600}')
    check(call("GET", "domains/%s/rrsets/@/MX/" % DOMAIN)[0] == 404,
          'expected: call("GET", "domains/%s/rrsets/@/MX/" % DOMAIN)[0] == 404')
    s, b, _ = call("POST", "domains/%s/rrsets/" % DOMAIN,
                   [{"subname": "", "type": "SOA", "ttl": 3600, "records": ["x"]}])
    check(s == 400 and "SOA" in json.dumps(b), b)


def pagination():
    for i in range(4):
        env.fake.set_rrset(DOMAIN, "p%d" % i, "AAAA", ["2a01:4f8::%d" % (i + 1)], 3600)
    s, b, _ = call("GET", "domains/%s/rrsets/?type=AAAA" % DOMAIN)
    check(s == 400 and "Pagination required" in b["detail"], b)
    seen = []
    url = env.fake.base_url + "domains/%s/rrsets/?cursor=&type=AAAA" % DOMAIN
    pages = 0
    while url:
        s, b, h = call("GET", url[len(env.fake.base_url):])
        check(s == 200, b)
        pages += 1
        seen += [r["subname"] for r in b]
        nxt = [p for p in h.get("Link", "").split(", ") if 'rel="next"' in p]
        url = nxt[0][1:nxt[0].index(">")] if nxt else None
    check(pages == 2 and sorted(seen) == ["p0", "p1", "p2", "p3"], (pages, seen))
    check(seen[0] == "p3", "not newest first")


def scoping_policy():
    env.fake.add_token("scoped", "alice", [
        {"domain": None, "subname": None, "type": None, "perm_write": False},
        {"domain": DOMAIN, "subname": "home", "type": "A", "perm_write": True}])
    ok = [{"subname": "home", "type": "A", "ttl": 3600, "records": ["81.2.69.8"]}]
    check(call("PATCH", "domains/%s/rrsets/" % DOMAIN, ok, token="scoped")[0] == 200,
          'expected: call("PATCH", "domains/%s/rrsets/" % DOMAIN, ok, token="scoped")[0] == 200')
    bad = ok + [{"subname": "home", "type": "AAAA", "ttl": 3600, "records": ["2a01:4f8::8"]}]
    s, b, _ = call("PATCH", "domains/%s/rrsets/" % DOMAIN, bad, token="scoped")
    check(s == 403 and "permission" in b["detail"], b)
    check(env.fake.rrset(DOMAIN, "home", "AAAA") is None,
          'expected: env.fake.rrset(DOMAIN, "home", "AAAA") is None')


def throttling():
    # A 5 s burst window (deSEC's is 1 s): three TLS requests on a loaded 2-core machine can
    # take longer than a second, which would make the third one legitimately pass.
    e = harness.Env(write_limits=[(5, 2), (60, 3)])
    try:
        def w(n):
            req = urllib.request.Request(
                e.fake.base_url + "domains/%s/rrsets/" % DOMAIN, method="PATCH",
                data=json.dumps([{"subname": "", "type": "A", "ttl": 60,
                                  "records": ["81.2.69.%d" % n]}]).encode())
            req.add_header("Authorization", "Token " + TOKEN)
            req.add_header("Content-Type", "application/json")
            c = ssl.create_default_context(cafile=e.ca)
            try:
                with urllib.request.urlopen(req, context=c, timeout=10) as r:
                    return r.status, {}
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers)
        check(w(1)[0] == 200 and w(2)[0] == 200, 'expected: w(1)[0] == 200 and w(2)[0] == 200')
        t0 = time.monotonic()
        s, h = w(3)
        check(time.monotonic() - t0 < 5, "the third request took 5 s: window already over")
        check(s == 429 and 1 <= int(h.get("Retry-After", "0")) <= 5, (s, h))
        time.sleep(int(h["Retry-After"]) + 0.1)
        check(w(4)[0] == 200, "a write after Retry-After is accepted")
        s, h = w(5)
        check(s == 429 and 55 <= int(h["Retry-After"]) <= 60, (s, h))
    finally:
        e.close()


def tls_needs_the_test_ca():
    plain = ssl.create_default_context()
    try:
        urllib.request.urlopen(env.fake.base_url + "domains/", context=plain, timeout=5)
    except urllib.error.URLError as e:
        check("CERTIFICATE_VERIFY_FAILED" in str(e), e)
    else:
        raise AssertionError("the fake's certificate verified without the test CA")


try:
    checks.run("fake_auth_ownership_minimum_ttl", auth_and_ownership)
    checks.run("fake_bulk_atomic_error_list_in_order", bulk_atomic_with_error_list)
    checks.run("fake_duplicates_conflicts_presentation_format_deletes",
               duplicates_post_conflict_and_delete)
    checks.run("fake_pagination_cursor_link", pagination)
    checks.run("fake_token_scoping_403", scoping_policy)
    checks.run("fake_throttling_429_retry_after", throttling)
    checks.run("fake_tls_needs_test_ca", tls_needs_the_test_ca)
finally:
    env.close()
checks.finish()
