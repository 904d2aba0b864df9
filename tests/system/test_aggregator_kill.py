#!/usr/bin/env python3
"""Nothing recorded is lost, nothing is counted twice (DESIGN.md guarantee 1), under SIGKILL.

20 clients push 5,000 events each (batches of 100, a window of 4, resending every batch not
acknowledged within a second) while the aggregator is killed with SIGKILL at random moments at
least 20 times and restarted on the same data. At the end: every client got a result for each of
its events, every event is stored exactly once (per-commune events == 5,000, high-water == 5,000),
the tallies equal the totals computed from the events' content, and `verify` passes.

DK_KILL_CLIENTS, DK_KILL_EVENTS and DK_KILLS override the sizes (e.g. for a quick local run).
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, expected_totals, fail, log  # noqa: E402

CLIENTS = int(os.environ.get("DK_KILL_CLIENTS", "20"))
EVENTS = int(os.environ.get("DK_KILL_EVENTS", "5000"))
KILLS = int(os.environ.get("DK_KILLS", "20"))
DEADLINE = 170  # seconds for the whole ingest phase


def main():
    check_binaries()
    seed = int(os.environ.get("DK_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    log("seed=%d clients=%d events=%d kills>=%d" % (seed, CLIENTS, EVENTS, KILLS))
    communes = [30001 + i for i in range(CLIENTS)]
    with Aggregator(communes=communes, readers=["province"],
                    settings={"commit-window": "5ms"}) as agg:
        agg.start()
        t0 = time.time()
        clients = [agg.spawn_client("send", "--commune", c, "--events", EVENTS, "--batch", 100,
                                    "--window", 4, "--retry-ms", 1000, "--deadline", DEADLINE,
                                    "--seed", i + 1, commune=c)
                   for i, c in enumerate(communes)]
        kills = 0
        # Kill while the clients run; spread the kills over the ingest (which takes a few
        # seconds undisturbed) with short random gaps, so commits, acks and restarts interleave.
        while any(p.poll() is None for p in clients) and time.time() - t0 < DEADLINE + 10:
            time.sleep(rnd.uniform(0.05, 0.6))
            if not agg.running():
                continue
            if kills < KILLS or rnd.random() < 0.3:
                agg.kill()
                kills += 1
                time.sleep(rnd.uniform(0.0, 0.3))
                agg.start()
            if kills >= KILLS and rnd.random() < 0.2:
                break
        log("%d SIGKILLs in %.1fs; waiting for the clients" % (kills, time.time() - t0))
        # Kills left to do if the ingest finished early: hit the idle daemon too (recovery).
        while kills < KILLS:
            agg.kill()
            kills += 1
            agg.start()
        for p in clients:
            try:
                p.wait(timeout=max(5, DEADLINE + 30 - (time.time() - t0)))
            except Exception:
                fail("a client did not finish in time")
        bad = []
        resends = 0
        for c, p in zip(communes, clients):
            r = agg.client_result(p)
            if p.returncode != 0 or not r or r["results"] != EVENTS or r["rejected"] != 0:
                bad.append((c, p.returncode, r and {k: r[k] for k in r if k != "latencies_ms"}))
            else:
                resends += r["resends"]
        if bad:
            fail("clients without a result for every event: %r" % bad[:3])
        log("every client has all %d results (%d batch resends); %d kills" %
            (EVENTS, resends, kills))
        if kills < KILLS:
            fail("only %d kills" % kills)

        # One more kill at rest and a restart: the store must come back identical.
        agg.kill()
        agg.start()
        s = agg.snapshot()
        exp = expected_totals([(c, 1, EVENTS) for c in communes])
        if s["events"] != CLIENTS * EVENTS:
            fail("events stored %d != %d" % (s["events"], CLIENTS * EVENTS))
        for m, v in exp.items():
            if s["sums"][m] != v:
                fail("measure %d: %d != expected %d" % (m, s["sums"][m], v))
        units = {u["unit"]: u for u in s["units"]}
        for c in communes:
            u = units.get(c)
            if not u or u["events"] != EVENTS or u["high_water"] != EVENTS or \
                    u["max_seq"] != EVENTS or u["rejected"] != 0:
                fail("commune %d state: %r" % (c, u))
        v = agg.verify()
        if v.returncode != 0:
            fail("verify failed: %s %s" % (v.stdout[-2000:], v.stderr[-1000:]))
        rc = agg.stop()
        if rc != 0:
            fail("SIGTERM exit code %r" % rc)
        log("OK: %d events stored exactly once after %d SIGKILLs (%.1fs)" %
            (CLIENTS * EVENTS, kills, time.time() - t0))


if __name__ == "__main__":
    main()
