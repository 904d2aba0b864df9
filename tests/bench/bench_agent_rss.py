#!/usr/bin/env python3
"""bench_agent_rss — resident memory of `dk-agent run` (issue 4 target: <= 4 MB), beside a baseline:
a minimal C program that touches each library dk-agent's code uses and then sleeps, linked two ways:
  baseline shared   bench_agent_rss_baseline: against the shared libraries (libzmq.so pulls libstdc++,
                    krb5, pgm, norm, ...), as dk-agent was linked before it became static;
  baseline static   bench_agent_rss_baseline_static (built in agents/CMakeLists.txt): linked exactly
                    like the static dk-agent, so only the code it calls is in the executable.
The ratios compare dk-agent with the baseline linked the way dk-agent is (static when it is static).

What the numbers mean (from /proc/PID/smaps_rollup and /proc/PID/status, KiB):
  RSS   pages of the process present in RAM, each counted in full even if shared with other processes
        (libc, the executable's own text, the LMDB file pages that also sit in the page cache).
  PSS   the same pages, each divided by the number of processes mapping it: the process's fair share.
        On a machine where nothing else runs libc this is close to RSS; in this benchmark the
        aggregator, python and the shell share libc, so PSS < RSS.
  anon  private anonymous memory (heap, stacks, LMDB's private dirty pages): what the process alone
        costs; file = file-backed pages (code, read-only data, the LMDB data.mdb map).
  ratio the agent's figure divided by the baseline's: how much the agent adds over a program that
        merely loads the same code.

States:
  baseline          the minimal program, idle
  idle              dk-agent run, connected to a real aggregator, empty outbox
  queued 10000      dk-agent run with 10,000 waiting events, aggregator unreachable
  drained           after dk-agent pushed those 10,000 events to the aggregator (VmHWM = peak RSS)

With --detail (or DK_BENCH_DETAIL=1) it also prints RSS/PSS/anon per mapping (libraries, [heap],
stacks, data.mdb, ...) for every state. Prints the figures; never fails on them (benchmarks do not
pass/fail in CI).
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from dkharness import BUILD, Aggregator, check_binaries, fail, log  # noqa: E402
import agentharness  # noqa: E402
from agentharness import Agent, wait_until  # noqa: E402

# DK_AGENT_BIN / DK_BASELINE_BIN: measure other builds of the two programs (link experiments).
agentharness.AGENT = os.environ.get("DK_AGENT_BIN") or agentharness.AGENT
BASELINE = os.environ.get("DK_BASELINE_BIN") or os.path.join(BUILD, "tests", "bench",
                                                             "bench_agent_rss_baseline")
BASELINE_STATIC = os.path.join(BUILD, "tests", "bench", "bench_agent_rss_baseline_static")
DETAIL = "--detail" in sys.argv or os.environ.get("DK_BENCH_DETAIL") == "1"


def mem(pid):
    """Totals of one process: rss, pss, anon, file (KiB), peak (VmHWM), threads."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Pss":
                out["Pss"] = int(v.split()[0])
    return {"rss": out["VmRSS"], "pss": out["Pss"], "anon": out["RssAnon"],
            "file": out["RssFile"], "peak": out["VmHWM"], "threads": out["Threads"]}


def mappings(pid):
    """{name: [rss, pss, anon]} summed per mapped file (basename) or pseudo-mapping.

    Anonymous mappings without a name are heap arenas, thread stacks or LMDB/zmq buffers; they are
    grouped as "[anon]" (a glibc arena reserves 64 MiB but only touched pages count)."""
    groups = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                name = os.path.basename(parts[5]) if len(parts) >= 6 else "[anon]"
                groups.setdefault(name, [0, 0, 0])
            elif parts[0] == "Rss:":
                groups[name][0] += int(parts[1])
            elif parts[0] == "Pss:":
                groups[name][1] += int(parts[1])
            elif parts[0] == "Anonymous:":
                groups[name][2] += int(parts[1])
    return groups


def snap(pid):
    return mem(pid), (mappings(pid) if DETAIL else {})


def print_detail(states):
    names = set()
    for _, (_, g) in states:
        names.update(g)
    rows = sorted(names, key=lambda n: -max(g.get(n, [0])[0] for _, (_, g) in states))
    head = "  %-28s" % "mapping (KiB rss/pss/anon)"
    for label, _ in states:
        head += " %22s" % label
    print(head)
    for n in rows:
        line = "  %-28s" % n[:28]
        for _, (_, g) in states:
            r = g.get(n)
            line += " %22s" % ("%d/%d/%d" % tuple(r) if r else "-")
        print(line)


def is_static(path):
    """True if the executable has no program interpreter (ld-linux): statically linked."""
    with open(path, "rb") as f:
        return b"/ld-linux" not in f.read(4096)


def run_baseline(path):
    b = subprocess.Popen([path], stdout=subprocess.PIPE)
    b.stdout.readline()
    time.sleep(0.5)
    m = snap(b.pid)
    b.kill()
    b.wait()
    return m


def main():
    check_binaries()
    if not os.access(BASELINE, os.X_OK):
        fail("not built: " + BASELINE)
    baselines = [("baseline shared", run_baseline(BASELINE))]
    if os.access(BASELINE_STATIC, os.X_OK):
        baselines.append(("baseline static", run_baseline(BASELINE_STATIC)))
    static = is_static(agentharness.AGENT)
    if static and len(baselines) < 2:
        fail("dk-agent is static but not built: " + BASELINE_STATIC)
    base = baselines[-1][1] if static else baselines[0][1]
    with Aggregator(communes=[24664]) as agg:
        agg.start()
        a = Agent(agg, 24664)
        a.start()
        wait_until(lambda: "Kết nối với huyện: CÓ" in a.status(), 20, "agent connected", [a])
        time.sleep(2)
        idle = snap(a.proc.pid)
        a.stop()
        agg.stop()
        a.import_rows(range(1, 10001), name="10k.csv")
        a.start()
        time.sleep(4)
        if a.waiting() != 10000:
            fail("expected 10000 waiting: " + a.status())
        queued = snap(a.proc.pid)
        agg.start()
        wait_until(lambda: a.waiting() == 0, 120, "drain of 10000 events", [a], agg)
        time.sleep(1)
        drained = snap(a.proc.pid)
        a.stop()
    states = baselines + [("idle", idle), ("queued 10000", queued), ("drained 10000", drained)]
    b0 = base[0]
    print("dk-agent (%s) memory, KiB; ratio = / baseline %s"
          % ("static" if static else "shared libraries", "static" if static else "shared"))
    print("                                RSS  ratio     PSS  ratio    anon   file  threads")
    for label, (m, _) in states:
        print("  %-26s %6d  %5.2f  %6d  %5.2f  %6d %6d  %3d"
              % (label, m["rss"], m["rss"] / b0["rss"], m["pss"], m["pss"] / b0["pss"],
                 m["anon"], m["file"], m["threads"]))
    print("  peak RSS while draining (VmHWM) %d" % drained[0]["peak"])
    print("  target: dk-agent RSS <= 4096 KiB idle and with 10,000 queued")
    if DETAIL:
        print_detail(states)
    log("done")


if __name__ == "__main__":
    main()
