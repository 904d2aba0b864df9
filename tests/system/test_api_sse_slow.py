"""SSE slow clients cannot grow the aggregator's memory without limit (issue 5, http.h).

A real dk-aggregator with the dashboard on; STALLED Server-Sent-Events clients connect to
/api/v1/stream, read the response headers and then stop reading (small SO_RCVBUF and TCP_MAXSEG, so the kernel buffers only some 50 KiB per
connection), while real clients (dk-testclient send, one event per batch, so one commit per batch)
produce several hundred kilobytes of `event: update` per stream. A reading client counts what
every stream carries (the bytes an unbounded queue would have to hold for each stalled client).

Checks:
  * the aggregator's anonymous memory (/proc/PID/status RssAnon; LMDB's file pages are not in it)
    grows by less than STALLED x 2 x sse-queue + a fixed slack, while the same streams held in
    unbounded queues would need several times that (the test checks it really is several times,
    so it can fail);
  * /healthz answers and a reading client keeps getting updates throughout;
  * when a stalled client finally reads, its stream is still well-formed SSE (every event whole,
    every update's data valid JSON) and it contains `event: reload` (reason "slow client");
  * the aggregator logs the coalescing and exits 0 on SIGTERM.
sse-queue is set to 8 KiB here (the default is 256 KiB) so the overflow needs a few thousand
commits, not tens of thousands; the rule is the same."""
import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import SANITIZED, Aggregator, check_binaries, fail, free_port, log  # noqa: E402

STALLED = 120                 # stalled SSE clients
QUEUE = 8 * 1024              # sse-queue (bytes)
SENDERS = (24664, 24667, 24670, 24673)
EVENTS_PER_SENDER = 2500      # one event per batch, window 1: about one commit per batch
SLACK = 8 * 1024 * 1024       # allocator, LMDB write pages, ZeroMQ buffers, ...
DEADLINE = 240                # seconds for the whole send phase


def rss_anon(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    fail("no RssAnon in /proc/%d/status" % pid)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def open_stream(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # A small receive buffer, and a small MSS: on loopback the server's send buffer is sized
        # from the MSS (64 KiB segments: megabytes per connection), which would hide the queue.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    return s


def read_headers(s):
    """Reads until the end of the response headers; returns (headers text, bytes after them)."""
    buf = b""
    deadline = time.time() + 10
    while b"\r\n\r\n" not in buf:
        if time.time() > deadline:
            fail("SSE headers not received: %r" % buf[:300])
        chunk = s.recv(512)
        if not chunk:
            fail("SSE connection closed before the headers: %r" % buf[:300])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    text = head.decode("latin-1")
    if " 200 " not in text.splitlines()[0] or "text/event-stream" not in text:
        fail("SSE reply: %r" % text)
    return text, rest


def dechunk(data):
    """Body bytes of a chunked transfer (MHD uses it for a stream of unknown size); a trailing
    partial chunk is kept as far as it arrived."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            break
        start = eol + 2
        out += data[start:start + size]
        pos = start + size + 2
    return bytes(out)


def parse_sse(text, who):
    """Parses complete SSE events (a trailing incomplete one is ignored); fails on a line that is
    no SSE field (a torn event) and on update/reload data that is not JSON."""
    events = []
    blocks = text.split("\n\n")
    for block in blocks[:-1]:
        ev = {"event": "message", "data": [], "id": None}
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field not in ("id", "event", "data", "retry"):
                fail("%s: torn SSE event, line %r in block %r" % (who, line, block[:300]))
            if field == "data":
                ev["data"].append(value)
            elif field in ("id", "event"):
                ev[field] = value
        if ev["id"] is None and not ev["data"]:
            continue  # comment only (keep-alive)
        if ev["event"] not in ("hello", "update", "reload"):
            fail("%s: unexpected event %r in %r" % (who, ev["event"], block[:300]))
        try:
            ev["json"] = json.loads("\n".join(ev["data"]))
        except ValueError:
            fail("%s: %s event with broken data %r" % (who, ev["event"], block[:300]))
        if ev["id"] is None or not ev["id"].isdigit():
            fail("%s: event without a numeric id: %r" % (who, block[:300]))
        events.append(ev)
    return events


class Reader(threading.Thread):
    """A client that reads its stream all the time (counts the bytes every stream carries)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = open_stream(port)
        self.head, self.raw = read_headers(self.sock)
        self.raw = bytearray(self.raw)
        self.stop = False
        self.error = None

    def run(self):
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                self.error = str(e)
                return
            if not chunk:
                self.error = "closed by the server"
                return
            self.raw += chunk

    def body(self):
        return dechunk(bytes(self.raw))


def main():
    check_binaries()
    hport = free_port()
    ini = ("\n[http]\nport = %d\nsse-queue = %d\nsse-clients = %d\nmax-connections = %d\n"
           "timeout = 600s\nkeepalive = 2s\n" % (hport, QUEUE, STALLED + 8, STALLED + 32))
    with Aggregator(communes=list(SENDERS), extra_ini=ini,
                    settings={"commit-window": "0ms"}) as agg:
        agg.start()
        pid = agg.proc.pid
        st, body = get(hport, "/healthz")
        if st != 200:
            fail("/healthz before the test: %d %r" % (st, body))

        stalled = []
        for i in range(STALLED):
            s = open_stream(hport, rcvbuf=2048)
            read_headers(s)
            stalled.append(s)
        reader = Reader(hport)
        reader.start()
        time.sleep(0.5)
        base = rss_anon(pid)
        log("%d stalled SSE clients connected; RssAnon %d KiB" % (STALLED, base // 1024))

        senders = [agg.spawn_client("send", "--commune", c, "--events", EVENTS_PER_SENDER,
                                    "--batch", 1, "--window", 1, commune=c) for c in SENDERS]
        peak = base
        health_checks = 0
        deadline = time.time() + DEADLINE
        while any(p.poll() is None for p in senders):
            if time.time() > deadline:
                fail("senders did not finish within %ds" % DEADLINE)
            peak = max(peak, rss_anon(pid))
            st, body = get(hport, "/healthz")
            if st != 200:
                fail("/healthz while clients are stalled: %d %r" % (st, body))
            health_checks += 1
            if not agg.running():
                fail("dk-aggregator died while clients were stalled")
            time.sleep(0.2)
        for c, p in zip(SENDERS, senders):
            res = agg.client_result(p)
            if p.returncode != 0 or not res or res.get("stored") != EVENTS_PER_SENDER:
                fail("dk-testclient send commune=%d: rc=%s %r" % (c, p.returncode, res))
        time.sleep(1.0)   # the last updates and keep-alives reach the queues
        peak = max(peak, rss_anon(pid))
        version = json.loads(get(hport, "/healthz")[1])["version"]
        if version < len(SENDERS) * EVENTS_PER_SENDER // 4:
            fail("version %d: too few commits to test anything" % version)

        # The reading client got every update, in order, while the others were stalled.
        reader.stop = True
        reader.join(5)
        if reader.error:
            fail("reading client: %s" % reader.error)
        stream = reader.body()
        events = parse_sse(stream.decode("utf-8"), "reading client")
        ids = [int(e["id"]) for e in events if e["event"] == "update"]
        if not ids or ids != sorted(ids) or ids[-1] != version:
            fail("reading client: updates %s..%s, last %s, version %d" %
                 (ids[:3], ids[-3:], ids[-1] if ids else None, version))
        if any(e["event"] == "reload" for e in events):
            fail("the reading client was told to reload: it never fell behind")

        growth = peak - base
        bound = STALLED * 2 * QUEUE + SLACK
        # What unbounded queues would hold: every stream's bytes, less what the kernel and MHD
        # buffer per connection before the queue grows (generously 64 KiB).
        unbounded = STALLED * max(0, len(stream) - 64 * 1024)
        log("stream %d KiB per client, %d commits, %d health checks; RssAnon growth %d KiB "
            "(bound %d KiB; unbounded queues would need %d KiB)" %
            (len(stream) // 1024, version, health_checks, growth // 1024, bound // 1024,
             unbounded // 1024))
        if unbounded < 3 * bound:
            fail("the test cannot tell: unbounded queues would need only %d KiB vs bound %d KiB "
                 "(send more events)" % (unbounded // 1024, bound // 1024))
        if SANITIZED:
            # ASan keeps freed memory in quarantine (256 MiB) and adds shadow memory, so RSS says
            # nothing about the queues there; the normal build asserts the bound.
            log("sanitizer build: memory bound not asserted (the normal build does)")
        elif growth > bound:
            fail("RssAnon grew by %d KiB with %d stalled SSE clients (bound %d KiB): the SSE "
                 "queues are not capped" % (growth // 1024, STALLED, bound // 1024))

        # A stalled client reads at last: whole events, and a reload in place of what it missed.
        for n, s in enumerate(stalled):
            s.settimeout(0.5)
            raw = b""
            end = time.time() + 15
            while time.time() < end:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    chunk = None
                if chunk == b"":
                    fail("stalled client %d: closed by the server before the reload" % n)
                if chunk:
                    raw += chunk
                body = dechunk(raw).decode("utf-8", "replace")
                if "event: reload" in body and body.endswith("\n\n"):
                    break
            body = dechunk(raw)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                fail("stalled client %d: stream is not UTF-8 (a torn event?): %s" % (n, e))
            evs = parse_sse(text, "stalled client %d" % n)
            reloads = [e for e in evs if e["event"] == "reload"]
            if not reloads:
                fail("stalled client %d: no reload event in %d bytes: %r" %
                     (n, len(body), text[-400:]))
            if reloads[0]["json"].get("reason") != "slow client":
                fail("stalled client %d: reload %r" % (n, reloads[0]["json"]))
            if len(body) >= len(stream):
                fail("stalled client %d got the whole stream (%d bytes): nothing was dropped" %
                     (n, len(body)))
            if n == 0:
                log("stalled client 0: %d bytes, %d events, reload at version %s" %
                    (len(body), len(evs), reloads[0]["id"]))
        for s in stalled:
            s.close()

        st, _ = get(hport, "/healthz")
        if st != 200:
            fail("/healthz after the stalled clients left: %d" % st)
        if "coalesced to a reload event" not in agg.log_text():
            fail("the aggregator did not log the coalescing")
        if agg.stop() != 0:
            agg.dump_log()
            fail("dk-aggregator did not exit 0 on SIGTERM")
    log("PASS")


if __name__ == "__main__":
    main()
