#!/usr/bin/env python3
"""Ingest benchmark (issue 3): acknowledged, durable events/s with 20 concurrent clients and the
ack latency p50/p99, beside a baseline measured in the same run: raw LMDB batched puts of the same
events (1,000 per commit, sync on; tests/bench/bench_ingest_lmdb.c).

Environment: DK_BENCH_CLIENTS (20), DK_BENCH_EVENTS per client (20000), DK_BENCH_BATCH (500),
DK_BENCH_WINDOW (8), DK_BENCH_COMMIT_WINDOW (5ms), DK_BENCH_MAX_BATCH (20000).
Prints the figures and the ratio; never fails on speed (only on lost or wrong events).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
from dkharness import BUILD, Aggregator, check_binaries, fail, log  # noqa: E402

CLIENTS = int(os.environ.get("DK_BENCH_CLIENTS", "20"))
EVENTS = int(os.environ.get("DK_BENCH_EVENTS", "20000"))
BATCH = int(os.environ.get("DK_BENCH_BATCH", "500"))
WINDOW = int(os.environ.get("DK_BENCH_WINDOW", "8"))
BASELINE = os.path.join(BUILD, "tests", "bench", "bench_ingest_lmdb")


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))]


def main():
    check_binaries()
    if not os.access(BASELINE, os.X_OK):
        fail("not built: " + BASELINE)
    total = CLIENTS * EVENTS
    # ---- baseline: raw LMDB puts, 1,000 per commit, sync on
    with tempfile.TemporaryDirectory(prefix="dkbench-lmdb-") as d:
        r = subprocess.run([BASELINE, d, str(CLIENTS), str(EVENTS), "1000"], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0:
            fail("baseline: " + r.stderr)
        base = json.loads(r.stdout)
    log("baseline raw LMDB: %d events in %.2fs = %.0f events/s" %
        (base["events"], base["seconds"], base["events_per_s"]))

    # ---- the aggregator
    communes = [30001 + i for i in range(CLIENTS)]
    settings = {"commit-window": os.environ.get("DK_BENCH_COMMIT_WINDOW", "5ms"),
                "max-batch": os.environ.get("DK_BENCH_MAX_BATCH", "20000")}
    with Aggregator(communes=communes, settings=settings, publish=True) as agg:
        agg.start()
        t0 = time.time()
        ps = [agg.spawn_client("send", "--commune", c, "--events", EVENTS, "--batch", BATCH,
                               "--window", WINDOW, "--retry-ms", 30000, "--deadline", 1200,
                               commune=c) for c in communes]
        for p in ps:
            p.wait()
        wall = time.time() - t0
        lats, elapsed, stored = [], [], 0
        for p in ps:
            res = agg.client_result(p)
            if p.returncode != 0 or not res or res["results"] != EVENTS:
                fail("client failed: rc=%d %r" % (p.returncode, res and res.get("results")))
            stored += res["stored"]
            lats += res["latencies_ms"]
            elapsed.append(res["elapsed"])
        if stored != total:
            fail("stored %d of %d" % (stored, total))
        s = agg.snapshot()
        if s["events"] != total:
            fail("snapshot events %d != %d" % (s["events"], total))
        agg.stop()
        lats.sort()
        span = max(elapsed)
        rate = total / span
        commits = agg.log_text().count("commit events=")  # only with DK_LOG=debug
        print()
        print("ingest benchmark: %d clients x %d events, batch %d, window %d, commit-window %s"
              % (CLIENTS, EVENTS, BATCH, WINDOW, settings["commit-window"]))
        print("  aggregator : %10.0f acknowledged durable events/s (%d events in %.2fs; wall "
              "%.2fs incl. start-up)" % (rate, total, span, wall))
        print("  ack latency: p50 %.1f ms, p99 %.1f ms (%d batches)" %
              (pct(lats, 0.5), pct(lats, 0.99), len(lats)))
        print("  baseline   : %10.0f events/s raw LMDB puts, 1,000 per commit, sync on" %
              base["events_per_s"])
        print("  ratio      : %.0f %% of the baseline" % (100.0 * rate / base["events_per_s"]))
        if commits:
            print("  commits    : %d" % commits)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
