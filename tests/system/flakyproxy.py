#!/usr/bin/env python3
"""flakyproxy — a fault-injecting TCP proxy for system tests (python3 stdlib only).

Sits between an agent and the aggregator on 127.0.0.1 and, while faults are on, now and then:
  drop   closes both sides of a connection (FIN),
  reset  closes both sides with SO_LINGER 0 (RST),
  stall  stops forwarding a connection for 0.5-4 s (bytes wait, nothing is lost by the proxy),
  refuse closes new connections right after accepting them.
Everything is bounded: faults stop after `fault_seconds` (or stop_faults()), and at most
`max_faults` are injected; after that the proxy forwards faithfully so the test can converge.
Seeded random, so a failing run can be replayed with the same seed.

In-process:
    p = FlakyProxy(("127.0.0.1", agg_port), seed=7, fault_seconds=40); p.start()
    ... agent connects to p.endpoint ...
    p.close()
Standalone: python3 flakyproxy.py LISTEN_PORT TARGET_PORT [SECONDS] [SEED]
"""
import random
import selectors
import socket
import struct
import sys
import threading
import time


class _Pair:
    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.stalled_until = 0.0
        self.buf = {client: bytearray(), upstream: bytearray()}  # bytes waiting to go TO the key

    def other(self, s):
        return self.upstream if s is self.client else self.client


class FlakyProxy:
    def __init__(self, target, seed=1, fault_seconds=30.0, max_faults=200, rate=0.6,
                 listen_port=0):
        self.target = target
        self.rng = random.Random(seed)
        self.fault_until = time.time() + fault_seconds
        self.max_faults = max_faults
        self.rate = rate            # expected faults per second while faults are on
        self.faults = {"drop": 0, "reset": 0, "stall": 0, "refuse": 0}
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.pairs = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.bytes = 0

    # ---- control ------------------------------------------------------------------------------
    def start(self):
        self.thread.start()
        return self

    def stop_faults(self):
        self.fault_until = 0

    def faulting(self):
        return time.time() < self.fault_until and sum(self.faults.values()) < self.max_faults

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for p in list(self.pairs):
            self._close_pair(p, reset=False)
        self.sel.close()
        self.lsock.close()

    # ---- internals ----------------------------------------------------------------------------
    def _close_pair(self, p, reset):
        for s in (p.client, p.upstream):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                if reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        if p in self.pairs:
            self.pairs.remove(p)

    def _accept(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        if self.faulting() and self.rng.random() < 0.15:
            self.faults["refuse"] += 1
            c.close()
            return
        try:
            u = socket.create_connection(self.target, timeout=2)
        except OSError:
            c.close()          # target down: the client sees a closed connection
            return
        for s in (c, u):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p = _Pair(c, u)
        self.pairs.append(p)
        self.sel.register(c, selectors.EVENT_READ, p)
        self.sel.register(u, selectors.EVENT_READ, p)

    def _inject(self, dt):
        if not self.pairs or not self.faulting():
            return
        if self.rng.random() >= self.rate * dt:
            return
        p = self.rng.choice(self.pairs)
        kind = self.rng.choice(["drop", "reset", "stall", "stall"])
        self.faults[kind] += 1
        if kind == "stall":
            p.stalled_until = time.time() + self.rng.uniform(0.5, 4.0)
        else:
            self._close_pair(p, reset=(kind == "reset"))

    def _flush(self, p, now):
        if p.stalled_until > now:
            return True
        for dst in (p.client, p.upstream):
            b = p.buf[dst]
            while b:
                try:
                    n = dst.send(b)
                except BlockingIOError:
                    break
                except OSError:
                    return False
                self.bytes += n
                del b[:n]
        return True

    def _run(self):
        last = time.time()
        while not self.stop.is_set():
            events = self.sel.select(timeout=0.05)
            now = time.time()
            for key, _ in events:
                if key.data is None:
                    self._accept()
                    continue
                p = key.data
                if p not in self.pairs:
                    continue
                s = key.fileobj
                if p.stalled_until > now and len(p.buf[p.other(s)]) > (1 << 20):
                    continue   # stalled and plenty buffered: stop reading (back-pressure)
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._close_pair(p, reset=False)
                    continue
                p.buf[p.other(s)].extend(data)
            for p in list(self.pairs):
                if not self._flush(p, now):
                    self._close_pair(p, reset=False)
            self._inject(now - last)
            last = now


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    p = FlakyProxy(("127.0.0.1", target), seed=seed, fault_seconds=secs, listen_port=listen)
    p.start()
    try:
        while True:
            time.sleep(5)
            print("faults=%s bytes=%d" % (p.faults, p.bytes), flush=True)
    except KeyboardInterrupt:
        p.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
