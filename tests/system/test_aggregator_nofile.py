#!/usr/bin/env python3
"""dk-aggregator and the open-files limit (the scale check: one fd per connected agent):

- at start the daemon raises its soft RLIMIT_NOFILE to the hard limit and logs the result
  ("open files limit=H (was S, hard H)");
- when the limit is below communes + readers + 64 it warns;
- connections it cannot accept (EMFILE) are logged with their errno, rate-limited (one line per
  10 s with a count), instead of being refused silently; the daemon keeps serving and stops cleanly;
- the default ZeroMQ heartbeat of the ROUTER is 30 s (logged on the "serving" line).
"""
import os
import re
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, fail, log  # noqa: E402


def expect(cond, msg):
    if not cond:
        fail(msg)


def start_with_limit(agg, soft, hard):
    """Starts the daemon with RLIMIT_NOFILE (soft, hard) (what a login shell's ulimit gives)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    agg.start(preexec=limit, note=" (nofile %d:%d)" % (soft, hard))


def wait_log(agg, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, agg.log_text())
        if m:
            return m
        time.sleep(0.1)
    agg.dump_log()
    fail("no log line matching %r within %ds" % (pattern, timeout))


def main():
    check_binaries()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expect(hard == resource.RLIM_INFINITY or hard >= 128,
           "this test needs a hard open-files limit of at least 128 (have %d)" % hard)
    with Aggregator(communes=(24664, 24667), readers=("province",)) as agg:
        # 1. a low soft limit is raised to the hard one, and the result is logged
        start_with_limit(agg, 100, hard)
        m = wait_log(agg, r"open files limit=(\S+) \(was (\d+), hard (\S+)\) communes=2 readers=1")
        want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        expect(m.group(2) == "100", "soft limit before: %s" % m.group(0))
        expect(m.group(3) == want, "hard limit logged: %s (want %s)" % (m.group(0), want))
        if hard != resource.RLIM_INFINITY:
            expect(m.group(1) == want, "soft limit not raised to the hard one: " + m.group(0))
        expect("is below communes + readers" not in agg.log_text(),
               "warned about a limit that is large enough")
        m = wait_log(agg, r"serving router=\S+ pub=\S+ heartbeat=(\d+)ms")
        expect(m.group(1) == "30000", "default ROUTER heartbeat: " + m.group(0))
        # the daemon serves: a commune's events are stored
        agg.send(24664, 5)
        expect(agg.stop() == 0, "stop after the first start")
        log("1. limit raised and logged; heartbeat 30 s")

        # 2. a hard limit too low for the config: warning, and accept failures are logged
        start_with_limit(agg, 64, 64)
        wait_log(agg, r"open files limit=64 \(was 64, hard 64\)")
        wait_log(agg, r"open files limit=64 is below communes \+ readers \+ 64 = 67")
        socks = []
        try:
            for _ in range(80):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", agg.port))
                except OSError:
                    s.close()
                    continue
                socks.append(s)
            m = wait_log(agg, r"cannot accept connections at \S+: (.+) \(errno=(\d+)\) "
                              r"count=(\d+)")
            expect(int(m.group(2)) == 24, "errno of the accept failure: " + m.group(0))
            time.sleep(1.5)
            n_lines = len(re.findall(r"cannot accept connections", agg.log_text()))
            expect(n_lines == 1, "accept failures not rate-limited: %d lines in 1.5 s" % n_lines)
        finally:
            for s in socks:
                s.close()
        expect(agg.running(), "daemon died while out of file descriptors")
        expect(agg.stop() == 0, "stop while out of file descriptors")
        text = agg.log_text()
        # at shutdown the failures counted since the last line are reported
        totals = [int(t) for t in re.findall(r"cannot accept connections.* total=(\d+)", text)]
        expect(len(totals) >= 1 and totals[-1] >= 1, "no total of accept failures: %r" % totals)
        log("2. low limit warned; %d accept failures logged in %d lines" %
            (totals[-1], len(totals)))

        # 3. with the limit raised again everything still works (the store is intact)
        agg.start()
        st = agg.status()
        expect(st.returncode == 0, "status after restart: %s" % st.stderr)
        agg.send(24664, 5, first_seq=6)
        expect(agg.verify().returncode == 0, "verify after restart")
        expect(agg.stop() == 0, "stop after the last start")
    log("ok")


if __name__ == "__main__":
    main()
