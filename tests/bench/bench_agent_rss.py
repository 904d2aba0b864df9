#!/usr/bin/env python3
"""bench_agent_rss — resident memory of `dk-agent run` (issue 4 target: <= 4 MB), beside a baseline:
a minimal C program linked with the same libraries (bench_agent_rss_baseline).

Figures (VmRSS from /proc, KiB):
  baseline          the minimal program, idle
  idle              dk-agent run, connected to a real aggregator, empty outbox
  queued 10000      dk-agent run with 10,000 waiting events, aggregator unreachable
  draining (peak)   VmHWM of dk-agent while it pushes those 10,000 events to the aggregator
Prints the figures; never fails on them (benchmarks do not pass/fail in CI).
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from dkharness import BUILD, Aggregator, check_binaries, fail, log  # noqa: E402
from agentharness import Agent, wait_until  # noqa: E402

BASELINE = os.path.join(BUILD, "tests", "bench", "bench_agent_rss_baseline")


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def main():
    check_binaries()
    if not os.access(BASELINE, os.X_OK):
        fail("not built: " + BASELINE)
    b = subprocess.Popen([BASELINE], stdout=subprocess.PIPE)
    b.stdout.readline()
    time.sleep(0.5)
    bm = mem(b.pid)
    base = bm["VmRSS"]
    b.kill()
    b.wait()
    with Aggregator(communes=[24664]) as agg:
        agg.start()
        a = Agent(agg, 24664)
        a.start()
        wait_until(lambda: "Kết nối với huyện: CÓ" in a.status(), 20, "agent connected", [a])
        time.sleep(2)
        im = mem(a.proc.pid)
        idle = im["VmRSS"]
        a.stop()
        agg.stop()
        a.import_rows(range(1, 10001), name="10k.csv")
        a.start()
        time.sleep(4)
        if a.waiting() != 10000:
            fail("expected 10000 waiting: " + a.status())
        qm = mem(a.proc.pid)
        queued = qm["VmRSS"]
        agg.start()
        wait_until(lambda: a.waiting() == 0, 120, "drain of 10000 events", [a], agg)
        m = mem(a.proc.pid)
        a.stop()
    print("dk-agent resident memory (KiB)")
    print("  baseline (same libraries, idle)   %6d" % base)
    print("  idle, connected, empty outbox     %6d  (+%d over baseline)" % (idle, idle - base))
    print("  10,000 events queued, offline     %6d  (+%d)" % (queued, queued - base))
    print("  after draining 10,000 events      %6d  (peak %d)" % (m["VmRSS"], m["VmHWM"]))
    print("  anonymous / file-backed (KiB): baseline %d/%d, idle %d/%d, queued %d/%d, drained %d/%d"
          % (bm["RssAnon"], bm["RssFile"], im["RssAnon"], im["RssFile"], qm["RssAnon"],
             qm["RssFile"], m["RssAnon"], m["RssFile"]))
    print("  target: <= 4096 KiB (file-backed pages are shared libraries and the LMDB map)")
    log("done")


if __name__ == "__main__":
    main()
