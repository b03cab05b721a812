"""bench/inbound --filters: the content scanners both systems use, started the way the tests
start them (tests/integration/filter_lib.py): one rspamd (normal worker for splitmail-relay, its
proxy worker as a self-scanning milter for Postfix; controller for the scan counter), one clamd
(unix socket, the test-made EICAR signature only), and clamav-milter on a loopback port for
Postfix, talking to that clamd. Prints one JSON line with the addresses, then runs until
SIGTERM or SIGINT (everything it started is stopped on the way out).

usage: /usr/bin/python3 bench/inbound/scanners.py DIR
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import filter_lib  # noqa: E402
import lib  # noqa: E402


def main() -> None:
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out, sys.stdout = sys.stdout, sys.stderr  # progress lines of the helpers go to the log
    rspamd = filter_lib.Rspamd(root / "rspamd", milter=True).start()
    clamd = filter_lib.Clamd(root / "clamd").start()
    milter_port = lib.free_port()
    conf = root / "clamav-milter.conf"
    conf.write_text("\n".join([
        f"MilterSocket inet:{milter_port}@127.0.0.1", f"ClamdSocket unix:{clamd.address}",
        "Foreground yes", "User root", f"PidFile {root}/clamav-milter.pid",
        f"TemporaryDirectory {root}", "AddHeader Replace", "OnInfected Reject",
        "OnFail Defer", "MaxFileSize 25M", f"LogFile {root}/clamav-milter.log"]) + "\n")
    milter = lib.Daemon("clamav-milter", ["clamav-milter", "-c", str(conf)],
                        root / "clamav-milter.out", check_status=False)
    milter.start()
    lib.wait_until(lambda: lib.port_answers("127.0.0.1", milter_port), 30,
                   "clamav-milter", daemons=[milter])
    print(json.dumps({"rspamd": rspamd.address, "rspamd_milter": f"127.0.0.1:{rspamd.milter_port}",
                      "rspamd_controller": f"127.0.0.1:{rspamd.controller_port}",
                      "clamd": clamd.address, "clamav_milter": f"127.0.0.1:{milter_port}"}),
          file=out, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        milter.stop(expect_status=None)
        rspamd.stop()
        clamd.stop()


if __name__ == "__main__":
    main()
