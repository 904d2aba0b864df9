#!/usr/bin/env python3
"""A parent aggregator (a post-2025 province: communes of its own AND a child aggregator) ingests
its own communes' events while it pulls the child's snapshots. With children configured the
daemon commits on the loop thread (the store allows one writer thread, and child pulls write from
the loop): ingest must stay exact there too, also across a SIGKILL of the parent.

Checks: the parent's own events are stored exactly once; the child's figures arrive through the
pulls; the parent's snapshot sums both; `verify` passes on both; the log says commits run inline.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, expected_totals, fail, log  # noqa: E402


def expect(cond, msg):
    if not cond:
        fail(msg)


def main():
    check_binaries()
    OWN, CHILD_COMMUNE = 24700, 24664
    with Aggregator(communes=[CHILD_COMMUNE], readers=["province"], unit=663) as child:
        with Aggregator(communes=[OWN], readers=["monitor"], unit=67,
                        name="Tỉnh Đắk Nông") as parent:
            # The parent pulls with its own aggregator key: make it the child's reader key.
            child.reader_key["province"] = (parent.server_key_file, parent.server_public)
            child.write_config()
            parent.extra_ini = ("\n[child dakmil]\nunit = 663\nendpoint = %s\n"
                                "server-key = \"%s\"\ninterval = 1s\ntimeout = 800ms\n" %
                                (child.endpoint, child.server_public))
            parent.write_config()
            child.start()
            parent.start()
            expect("commits run on the loop thread" in parent.log_text(),
                   "parent with children must commit inline:\n" + parent.log_text()[-2000:])
            log("child: 3000 events of its commune; parent: 4000 of its own, killed once")
            pc = child.spawn_client("send", "--commune", CHILD_COMMUNE, "--events", 3000,
                                    "--batch", 100, commune=CHILD_COMMUNE)
            pp = parent.spawn_client("send", "--commune", OWN, "--events", 4000, "--batch", 50,
                                     "--window", 4, "--retry-ms", 500, commune=OWN)
            time.sleep(0.4)
            parent.kill()
            parent.start()
            for p in (pc, pp):
                p.wait(timeout=120)
                r = Aggregator.client_result(p)
                expect(p.returncode == 0 and r and r["results"] == r["events"] and
                       r["rejected"] == 0, "client: rc=%d %r" %
                       (p.returncode, r and {k: r[k] for k in r if k != "latencies_ms"}))
            own = expected_totals([(OWN, 1, 4000)])
            kid = expected_totals([(CHILD_COMMUNE, 1, 3000)])
            deadline = time.time() + 30
            while True:
                s = parent.snapshot(reader="monitor")
                if s["events"] == 7000 or time.time() > deadline:
                    break
                time.sleep(0.5)
            expect(s["events"] == 7000, "parent events %d != 7000" % s["events"])
            for m in own:
                expect(s["sums"][m] == own[m] + kid.get(m, 0),
                       "measure %d: %d != %d" % (m, s["sums"][m], own[m] + kid.get(m, 0)))
            units = {u["unit"]: u for u in s["units"]}
            expect(units[OWN]["high_water"] == 4000 and units[OWN]["events"] == 4000,
                   "own commune: %r" % units.get(OWN))
            expect(units.get(CHILD_COMMUNE, {}).get("events") == 3000,
                   "child's commune: %r" % units.get(CHILD_COMMUNE))
            for agg in (parent, child):
                v = agg.verify()
                expect(v.returncode == 0, "verify: %s %s" % (v.stdout[-800:], v.stderr[-500:]))
            expect(parent.stop() == 0, "parent SIGTERM")
            expect(child.stop() == 0, "child SIGTERM")
            log("OK")


if __name__ == "__main__":
    main()
