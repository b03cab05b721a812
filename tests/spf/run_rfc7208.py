#!/usr/bin/python3
"""Runs the RFC 7208 test suite (tests/data/spf/rfc7208-tests.yml) against splitmail's SPF
evaluator.

The YAML is turned into JSON here (Debian's python3-yaml) and handed to the C++ runner
(tests/spf/rfc7208_suite.cpp), which serves each scenario's zone data through an in-process
dns_client and checks every case. Usage: run_rfc7208.py RUNNER YAML [CASE...]

Zone data conventions of the suite (its README / the drivers of pyspf and Mail::SPF):
 - "SPF" records are served as TXT when the name has no TXT entry at all (RFC 7208 dropped
   type SPF; the suite still writes most records that way);
 - "TXT: NONE" means: no TXT record, and do not turn SPF records into TXT;
 - a TXT value given as a list is one record of several character-strings;
 - "TIMEOUT" makes every query of the name for a type it has no record of time out.
"""
import json
import subprocess
import sys

import yaml

# Cases we do not run, each with the reason. Keep this list empty unless a case cannot be
# decided by an evaluator of RFC 7208 (the runner prints and counts these).
SKIP = {}


def records(entries):
    out = []
    has_txt = any(isinstance(e, dict) and 'TXT' in e for e in entries)
    for e in entries:
        if e == 'TIMEOUT':
            out.append({'type': 'TIMEOUT'})
            continue
        for t, v in e.items():
            if t == 'SPF':
                if has_txt:
                    continue  # type SPF is not queried (RFC 7208 3.1)
                t = 'TXT'
            if v == 'NONE':
                continue
            if isinstance(v, list):
                # MX: [preference, exchange]; TXT: the character-strings of one record.
                v = str(v[1]) if t == 'MX' else ''.join(str(x) for x in v)
            out.append({'type': t, 'value': str(v)})
    return out


def main():
    runner, path = sys.argv[1], sys.argv[2]
    only = set(sys.argv[3:])
    scenarios = []
    with open(path, encoding='utf-8') as f:
        for doc in yaml.safe_load_all(f):
            zone = {name.lower().rstrip('.'): records(entries or [])
                    for name, entries in (doc.get('zonedata') or {}).items()}
            tests = []
            for name, t in doc['tests'].items():
                if only and name not in only:
                    continue
                res = t['result']
                tests.append({
                    'name': name,
                    'spec': str(t.get('spec', '')),
                    'helo': str(t['helo']),
                    'host': str(t['host']),
                    'mailfrom': str(t['mailfrom']),
                    'result': res if isinstance(res, list) else [res],
                    'explanation': t.get('explanation'),
                    'skip': SKIP.get(name),
                })
            scenarios.append({'description': doc.get('description', ''),
                              'zone': zone, 'tests': tests})
    proc = subprocess.run([runner], input=json.dumps(scenarios).encode())
    return proc.returncode


if __name__ == '__main__':
    sys.exit(main())
