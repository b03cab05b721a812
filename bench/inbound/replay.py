"""bench/inbound --auth: sends prepared messages (SMTP wire form, from auth.py) as they are, so
their DKIM signatures stay valid. smtp-source cannot do that: it makes up its own messages.

Like `smtp-source -s SESSIONS` it keeps SESSIONS connections busy at once, one message per
connection (connect, EHLO, MAIL, RCPT, DATA, the prepared bytes, QUIT), with no pipelining.
All files are read into memory before the clock starts. Prints one JSON line: sent, accepted
(250 after the data), replies (final reply code -> count, for what was not accepted, with one
sample text each), elapsed_s (first connect to last reply) and cpu_s (this process's user +
system time during the sending). Exit status 0 when every message was accepted.

usage: /usr/bin/python3 bench/inbound/replay.py PORT FILE_OR_DIR SESSIONS [--from ADDR]
       [--to ADDR] [--helo NAME] [--timeout SECONDS]
"""
import argparse
import asyncio
import json
import os
import resource
import time
from pathlib import Path


class refused(Exception):
    def __init__(self, stage: str, reply: str):
        super().__init__(f"{stage}: {reply}")
        self.stage, self.reply = stage, reply


async def reply(r: asyncio.StreamReader) -> str:
    """One SMTP reply (RFC 5321 4.2: continuation lines have "-" after the code)."""
    lines = []
    while True:
        line = await r.readline()
        if not line:
            raise refused("connection", "closed by the server")
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return "\n".join(lines)


async def command(r, w, cmd: bytes, want: str, stage: str) -> str:
    if cmd:
        w.write(cmd)
    text = await reply(r)
    if not text.startswith(want):
        raise refused(stage, text)
    return text


async def send_one(args, data: bytes) -> tuple[bool, str, str]:
    r, w = await asyncio.open_connection("127.0.0.1", args.port, limit=1 << 16)
    try:
        await command(r, w, b"", "220", "greeting")
        await command(r, w, f"EHLO {args.helo}\r\n".encode(), "250", "EHLO")
        await command(r, w, f"MAIL FROM:<{args.mail_from}>\r\n".encode(), "250", "MAIL")
        await command(r, w, f"RCPT TO:<{args.to}>\r\n".encode(), "250", "RCPT")
        await command(r, w, b"DATA\r\n", "354", "DATA")
        w.write(data)
        await command(r, w, b"", "250", "end of data")
        w.write(b"QUIT\r\n")
        await w.drain()
        return True, "", ""
    except refused as e:
        return False, e.stage, e.reply
    finally:
        w.close()
        try:
            await w.wait_closed()
        except OSError:
            pass


async def run(args, messages: list[bytes]) -> dict:
    queue = list(reversed(messages))
    out = {"sent": 0, "accepted": 0, "replies": {}}

    async def session() -> None:
        while queue:
            data = queue.pop()
            out["sent"] += 1
            try:
                ok, stage, text = await asyncio.wait_for(send_one(args, data), args.timeout)
            except (asyncio.TimeoutError, OSError) as e:
                ok, stage, text = False, "connection", f"--- {type(e).__name__}: {e}"
            if ok:
                out["accepted"] += 1
            else:
                key = f"{stage} {text[:3]}"
                e = out["replies"].setdefault(key, {"count": 0, "sample": text[:200]})
                e["count"] += 1

    await asyncio.gather(*(session() for _ in range(args.sessions)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path", type=Path)
    ap.add_argument("sessions", type=int)
    ap.add_argument("--from", dest="mail_from", default="bench@sender.example")
    ap.add_argument("--to", default="demo@example.test")
    ap.add_argument("--helo", default="mail.sender.example")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    files = sorted(args.path.iterdir()) if args.path.is_dir() else [args.path]
    messages = [f.read_bytes() for f in files]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    out = asyncio.run(run(args, messages))
    out["elapsed_s"] = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    print(json.dumps(out), flush=True)
    os._exit(0 if out["accepted"] == out["sent"] == len(messages) else 1)


if __name__ == "__main__":
    main()
