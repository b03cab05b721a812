"""Test harness for splitmail-ddns against the fake deSEC: a throwaway CA, the fake on a free
loopback port, config/token/state files in a temp dir, and helpers to run the binary.

Used by tests/integration/test_ddns*.py (import with sys.path from SPLITMAIL_SRC)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_desec import FakeDesec  # noqa: E402

TOKEN = "tok-ddns-Zk3h9d2Lq"
DOMAIN = "home.example"
IP4_A, IP4_B = "81.2.69.160", "81.2.69.161"
IP6_A, IP6_B = "2a01:4f8:1:2::10", "2a01:4f8:1:2::11"


def make_ca(d):
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=splitmail test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


# What AddressSanitizer, LeakSanitizer and UBSan print; any of them in the daemon's output fails
# the test (the same markers as tests/integration/lib.py).
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def check_no_sanitizer_report(text, what):
    """Raises AssertionError quoting the first sanitizer report in `text`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            raise AssertionError("sanitizer report in %s:\n%s" % (what, "\n".join(lines[i:i + 12])))


def check(cond, detail="check failed"):
    """An assertion that `python3 -O` keeps: raises AssertionError(detail) when cond is false
    (Checks.run reports it as the failure of the current sub-check)."""
    if not cond:
        raise AssertionError(detail)


def _die_with_parent():
    """In the child before exec: SIGKILL it when the test dies (even by SIGKILL), so no daemon
    outlives its test and keeps the token's temp dir alive. Linux prctl(PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def binary():
    b = os.environ.get("SPLITMAIL_BIN")
    if not b:
        sys.exit("SPLITMAIL_BIN is not set")
    return os.path.join(b, "ddns", "splitmail-ddns")


class Env:
    def __init__(self, minimum_ttl=60, page_size=500, write_limits=None, token_policies=None):
        self.dir = tempfile.mkdtemp(prefix="splitmail-ddns-")
        self.ca, cert, key = make_ca(self.dir)
        self.fake = FakeDesec(cert, key, page_size=page_size, write_limits=write_limits)
        self.fake.add_domain(DOMAIN, "alice", minimum_ttl)
        self.fake.add_domain("other.example", "bob", 3600)
        self.fake.add_token(TOKEN, "alice", token_policies)
        self.fake.checkip["v4"] = IP4_A
        self.fake.checkip["v6"] = IP6_A
        self.port = self.fake.start()
        self.token_file = os.path.join(self.dir, "token")
        self.write_token(TOKEN)
        self.state_file = os.path.join(self.dir, "state.json")
        self.config_file = os.path.join(self.dir, "ddns.toml")
        self.daemon = None
        self.daemon_log = None

    def write_token(self, secret, mode=0o600):
        with open(self.token_file, "w") as f:
            f.write(secret + "\n")
        os.chmod(self.token_file, mode)

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def config(self, names=("@",), families="both", v4=None, v6=None, interval="1s",
               extra="", domain=DOMAIN, ca=None):
        v4 = v4 or "url:" + self.url("/checkip/v4")
        v6 = v6 or "url:" + self.url("/checkip/v6")
        names_toml = ", ".join('"%s"' % n for n in names)
        text = f'''
[ddns]
domain = "{domain}"
names = [{names_toml}]
families = "{families}"
interval = "{interval}"
retry_initial = "1s"
retry_max = "2s"
state_file = "{self.state_file}"
{extra}

[ipv4]
source = "{v4}"

[ipv6]
source = "{v6}"

[desec]
api_url = "{self.fake.base_url}"
token_file = "{self.token_file}"
ca_file = "{ca or self.ca}"
timeout = "5s"

[log]
level = "debug"
'''
        with open(self.config_file, "w") as f:
            f.write(text)

    def run_once(self, *args, timeout=60):
        p = subprocess.run([binary(), "--config", self.config_file, "--once", *args],
                           capture_output=True, text=True, timeout=timeout,
                           preexec_fn=_die_with_parent)
        out = p.stdout + p.stderr
        check_no_sanitizer_report(out, "splitmail-ddns --once output")
        return p.returncode, out

    def start_daemon(self, *args, env=None):
        """Starts splitmail-ddns in the background; `env`: extra environment variables."""
        self.daemon_log = open(os.path.join(self.dir, "daemon.log"), "a+")
        self.daemon = subprocess.Popen([binary(), "--config", self.config_file, *args],
                                       env=dict(os.environ, **env) if env else None,
                                       stdout=self.daemon_log, stderr=subprocess.STDOUT,
                                       preexec_fn=_die_with_parent)

    def stop_daemon(self, expect=0):
        """SIGTERM (if still running) and wait; returns the exit status. Raises when the daemon
        does not exit in time, ends with a status other than `expect` (None: any), or its log
        holds a sanitizer report."""
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                self.daemon = None
                self.daemon_log.close()
                raise AssertionError("splitmail-ddns did not exit within 10s of SIGTERM")
        rc = self.daemon.returncode
        self.daemon = None
        self.daemon_log.close()
        check_no_sanitizer_report(self.log_text(), "the splitmail-ddns log")
        if expect is not None and rc != expect:
            raise AssertionError("splitmail-ddns ended with status %s, expected %s:\n%s"
                                 % (rc, expect, self.log_text()[-3000:]))
        return rc

    def log_text(self):
        with open(os.path.join(self.dir, "daemon.log")) as f:
            return f.read()

    def writes(self, status=None):
        return [e for e in self.fake.requests("write", status) if e["domain"] == DOMAIN]

    def api_requests(self):
        return [e for e in self.fake.log if e["kind"] in ("read", "write")]

    def wait_for(self, cond, timeout=20, what="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            if self.daemon is not None and self.daemon.poll() is not None:
                raise AssertionError("daemon exited (%s) while waiting for %s:\n%s"
                                     % (self.daemon.returncode, what, self.log_text()))
            time.sleep(0.1)
        raise AssertionError("timed out waiting for " + what)

    def close(self):
        """Stops the daemon (status and log checked, see stop_daemon), the fake, removes the
        temp dir; raises after cleaning up if the daemon's stop was a failure."""
        try:
            self.stop_daemon()
        finally:
            self.fake.stop()
            shutil.rmtree(self.dir, ignore_errors=True)


class Checks:
    """Named sub-checks: each prints PASS/FAIL; the script exits non-zero if any failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def run(self, name, fn):
        print("=== " + name, flush=True)
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            import traceback
            traceback.print_exc()
            print("FAIL " + name + ": " + str(e), flush=True)
            self.failed.append(name)
        else:
            print("PASS " + name, flush=True)
            self.passed += 1

    def finish(self):
        print("%d passed, %d failed %s" % (self.passed, len(self.failed), self.failed or ""))
        sys.exit(1 if self.failed else 0)
