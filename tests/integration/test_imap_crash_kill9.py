"""kill -9 of splitmail-home during IMAP STOREs, EXPUNGEs and APPENDs leaves a consistent mailbox.

Issue 15 cut the fsyncs of flag changes and expunges (docs/architecture.md, "IMAP: what a crash
can lose"); APPEND still fsyncs the message, cur/ and the index record before its OK. Four
sessions of one user (CONDSTORE on) run STORE of flags and keywords, STORE \\Deleted + EXPUNGE
and APPEND for a few seconds; then splitmail-home is killed with SIGKILL in the middle of it
and started again on the same Maildir. Checks after the restart:
- UIDVALIDITY unchanged; every message whose APPEND got OK [APPENDUID v u] is there, under
  UID u, with its content (X-Test-Id header);
- the mailbox answers FETCH 1:* with distinct UIDs, one per file in cur/ + new/;
- the unsynced-records marker the killed process left made the restart skip MODSEQs:
  HIGHESTMODSEQ is above every MODSEQ a session saw before the kill, and so is the next STORE's;
- a clean stop removes the marker again, and the next start keeps HIGHESTMODSEQ as it was.
"""
import imaplib
import random
import re
import ssl
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
from lib import DEMO, checks, imap_raw as raw  # noqa: E402

SESSIONS = 4
SEED = 30
RUN_SECONDS = 3.0
KEYWORDS = ["kw1", "kw2", "kw3", "$Forwarded"]


def message(test_id: str) -> bytes:
    return (f"From: a@sender.test\r\nTo: {DEMO}\r\nSubject: crash {test_id}\r\n"
            f"X-Test-Id: {test_id}\r\n\r\nbody {test_id}\r\n" + "x" * random.randint(10, 3000)
            + "\r\n").encode()


class Load:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked: dict[int, str] = {}   # UID -> X-Test-Id of every APPEND that got OK
        self.max_modseq = 0               # highest MODSEQ any session saw
        self.counts = {"store": 0, "expunge": 0, "append": 0}
        self.stop = threading.Event()

    def seen(self, text: str) -> None:
        for v in re.findall(r"MODSEQ \((\d+)\)", text) + re.findall(r"HIGHESTMODSEQ (\d+)", text):
            with self.lock:
                self.max_modseq = max(self.max_modseq, int(v))


def worker(k: int, home: lib.Home, load: Load, uidvalidity: int) -> None:
    rnd = random.Random(k)
    n = 0
    try:
        m = home.imaps()
        status, lines = raw(m, "SELECT INBOX (CONDSTORE)")
        load.seen(b"\n".join(lines).decode(errors="replace"))
        exists = SEED
        while not load.stop.is_set():
            op = rnd.random()
            if op < 0.6:
                seq = rnd.randint(1, max(1, exists))
                flag = rnd.choice(["\\Seen", "\\Flagged", "\\Answered"] + KEYWORDS)
                status, lines = raw(m, f"STORE {seq} {rnd.choice('+-')}FLAGS ({flag})")
                kind = "store"
            elif op < 0.7:
                seq = rnd.randint(1, max(1, exists))
                raw(m, f"STORE {seq} +FLAGS.SILENT (\\Deleted)")
                status, lines = raw(m, "EXPUNGE")
                kind = "expunge"
            else:
                n += 1
                test_id = f"w{k}-{n}"
                typ, data = m.append("INBOX", None, None, message(test_id))
                status = f"x {typ} {data[0].decode(errors='replace') if data else ''}"
                lines = []
                kind = "append"
                r = re.search(r"APPENDUID (\d+) (\d+)", status)
                if typ == "OK" and r:
                    if int(r.group(1)) != uidvalidity:
                        lib.fail(f"APPENDUID with UIDVALIDITY {r.group(1)}, not {uidvalidity}")
                    with load.lock:
                        load.acked[int(r.group(2))] = test_id
            text = status + "\n" + b"\n".join(lines).decode(errors="replace")
            load.seen(text)
            for e in re.findall(r"\* (\d+) EXISTS", text):
                exists = int(e)
            exists -= len(re.findall(r"\* \d+ EXPUNGE", text))
            with load.lock:
                load.counts[kind] += 1
    except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error, ssl.SSLError):
        pass  # the server died under us: expected


def main() -> None:
    lib.require_binaries(lib.HOME_BIN)
    d = lib.tmpdir("imap-crash")
    home = lib.Home(d / "home")
    home.add_imaps(d)
    home.start()
    home.wait_imaps()
    inbox = home.mailbox(DEMO)
    marker = inbox / "splitmail-uidlist.unsynced"

    load = Load()
    m = home.imaps()
    for i in range(SEED):
        typ, data = m.append("INBOX", None, None, message(f"seed-{i}"))
        r = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
        load.acked[int(r.group(2))] = f"seed-{i}"
    status, lines = raw(m, "SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))
    m.logout()

    threads = [threading.Thread(target=worker, args=(k, home, load, uidvalidity),
                                daemon=True) for k in range(SESSIONS)]
    for t in threads:
        t.start()
    time.sleep(RUN_SECONDS)
    checks.ok(marker.exists(), "unflushed flag changes: the marker is on disk while running")
    home.daemon.kill9()
    load.stop.set()
    for t in threads:
        t.join(10)
    lib.log(f"before the kill: {load.counts}, {len(load.acked)} messages acknowledged, "
            f"highest MODSEQ seen {load.max_modseq}")
    checks.ok(load.counts["store"] > 20 and load.counts["append"] > 5,
              "the load ran (STOREs and APPENDs before the kill)", str(load.counts))
    checks.ok(marker.exists(), "the killed process left the marker")

    home.start()
    home.wait_imaps()
    m = home.imaps()
    status, lines = raw(m, "SELECT INBOX (CONDSTORE)")
    m.state = "SELECTED"
    text = b"\n".join(lines).decode()
    checks.ok(status.split()[1] == "OK", "SELECT after the kill", status)
    checks.eq(int(re.search(r"UIDVALIDITY (\d+)", text).group(1)), uidvalidity,
              "UIDVALIDITY unchanged")
    hms = int(re.search(r"HIGHESTMODSEQ (\d+)", text).group(1))
    checks.ok(hms > load.max_modseq, "HIGHESTMODSEQ above every MODSEQ seen before the kill",
              f"{hms} vs {load.max_modseq}")
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TEST-ID)])")
    found: dict[int, str] = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            tid = re.search(rb"X-Test-Id: (\S+)", item[1])
            if uid in found:
                lib.fail(f"UID {uid} twice in FETCH 1:*")
            found[uid] = tid.group(1).decode() if tid else ""
    files = [p for p in (inbox / "cur").iterdir()] + [p for p in (inbox / "new").iterdir()]
    checks.eq(len(found), len(files), "one UID per message file")
    # An acknowledged APPEND may since have been expunged by another session (EXPUNGE is in
    # the mix): present messages must match; absent ones must have been expunged, which the
    # files confirm (no file carries their id).
    wrong = [(u, t, found[u]) for u, t in load.acked.items() if u in found and found[u] != t]
    checks.ok(not wrong, "every acknowledged APPEND that is present has its APPENDUID", str(wrong))
    ids_on_disk = set()
    for p in files:
        r = re.search(rb"X-Test-Id: (\S+)", p.read_bytes()[:2000])
        if r:
            ids_on_disk.add(r.group(1).decode())
    lost = [t for u, t in load.acked.items() if u not in found and t in ids_on_disk]
    checks.ok(not lost, "no acknowledged message on disk without its UID", str(lost))
    typ, data = m.store("1", "+FLAGS", "(afterkill)")  # a keyword the load never used: a change
    after = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    checks.ok(after > load.max_modseq, "a STORE after the restart takes a new MODSEQ",
              f"{after} vs {load.max_modseq}")
    m.logout()

    home.stop()
    checks.ok(not marker.exists(), "a clean stop removes the marker")
    home.start()
    home.wait_imaps()
    m = home.imaps()
    typ, data = m.status("INBOX", "(HIGHESTMODSEQ)")
    checks.eq(int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1)), after,
              "after a clean stop, HIGHESTMODSEQ is kept as it was")
    m.logout()
    home.stop()
    checks.summary()


if __name__ == "__main__":
    lib.run_main(main)
