"""Three levels: nation -> province -> district, with commune clients and a real dk-agent pushing
at the bottom. The nation's totals equal the district's exactly, through two pulls, also after more
events.

Freshness two levels down (issue 6 item 2): the district stops; the province's pulls of it fail, so
it is stale at the province; the nation still pulls the province fine (the province is fresh at the
nation), yet the nation's GET /api/v1/units marks the district's communes `stale` with a `fresh_at`
no later than when the district stopped. The district back (with events its agent queued while it
was down), a pull at the province then at the nation: the communes are fresh again and the
nation's totals equal the district's exactly."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentharness import Agent  # noqa: E402
from dkharness import (Aggregator, check_binaries, child, expected_totals, fail,  # noqa: E402
                       log, pull, units, wait_for)

COMMUNES = (24664, 24685, 24667)   # 24667 is fed by a real dk-agent


def want(ranges):
    t = expected_totals(ranges)
    return [t.get(i, 0) for i in range(18)]


def wait_equal(agg, expected, what, timeout=40):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = agg.snapshot(reader="test")["sums"]
        if got == expected:
            return
        time.sleep(0.3)
    agg.dump_log(40)
    fail("%s: sums %s, expected %s" % (what, got, expected))








def per_commune(snap):
    return {u["unit"]: u.get("events", 0) for u in snap["units"] if u["unit"] in COMMUNES}


def child_ini(name, agg):
    return ('\n[child %s]\nunit = %d\nendpoint = %s\nserver-key = "%s"\ninterval = 1s\n'
            'timeout = 800ms\n' % (name, agg.unit, agg.endpoint, agg.server_public))


def reader_ini(name, pub):
    return '\n[reader %s]\npublic-key = "%s"\nrole = province\n' % (name, pub)


def main():
    check_binaries()
    nation = Aggregator(communes=[], readers=["test"], level="national", unit=1, name="Việt Nam",
                        http=True)
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông", http=True,
                      extra_ini=reader_ini("nation", nation.server_public))
    dist = Aggregator(communes=list(COMMUNES), readers=["test"], unit=663,
                      extra_ini=reader_ini("province", prov.server_public))
    prov.extra_ini += child_ini("dakmil", dist)
    prov.write_config()
    nation.extra_ini = child_ini("daknong", prov)
    nation.write_config()
    try:
        dist.start()
        prov.start()
        nation.start()
        agent = Agent(dist, 24667)
        agent.import_rows(range(1, 41))
        agent.start()
        dist.send(24664, 200, 50)
        dist.send(24685, 150, 50)
        ranges = [(24664, 1, 200), (24685, 1, 150)]
        wait_for("the agent's 40 events at the district",
                 lambda: (per_commune(dist.snapshot(reader="test")).get(24667) == 40,
                          per_commune(dist.snapshot(reader="test"))), [dist])
        dsum = dist.snapshot(reader="test")["sums"]
        if want(ranges) == dsum:
            fail("the agent's events do not show in the district's sums")
        wait_equal(prov, dsum, "province")
        wait_equal(nation, dsum, "nation")
        dist.send(24685, 100, 50, 151)
        ranges.append((24685, 151, 250))
        dsum = dist.snapshot(reader="test")["sums"]
        wait_equal(nation, dsum, "nation after more events")
        units_snap = {u["unit"] for u in nation.snapshot(reader="test")["units"]}
        if not set(COMMUNES) <= units_snap:
            fail("the nation does not know the communes' states: %s" % sorted(units_snap))
        # Everything fresh at the nation, each commune with when its figures were current.
        def all_fresh():
            pull(nation, "daknong")
            us = units(nation)
            ok = all(c in us and us[c]["stale"] is False and us[c]["fresh_at"] > 0 and
                     us[c]["child"] == "daknong" for c in COMMUNES)
            return ok, {c: us.get(c) for c in COMMUNES}
        wait_for("the communes fresh at the nation", all_fresh, [nation, prov])

        log("district down: stale at the province, the province fresh at the nation")
        dist.stop()
        stopped_at = time.time()
        agent.import_rows(range(41, 61), name="more.csv")  # queued at the agent meanwhile

        def dist_stale_at_prov():
            c = child(prov, "dakmil")
            return c["stale"] and c["failed_pulls"] >= 1, c
        wait_for("the district stale at the province", dist_stale_at_prov, [prov])

        def communes_stale_at_nation():
            pull(nation, "daknong")
            time.sleep(0.3)
            us = units(nation)
            ok = all(us[c]["stale"] is True for c in COMMUNES)
            return ok, {c: us[c] for c in COMMUNES}
        us = wait_for("the district's communes stale at the nation", communes_stale_at_nation,
                      [nation, prov], 40)
        for c in COMMUNES:
            fa = us[c]["fresh_at"]
            if not 0 < fa <= stopped_at:
                fail("commune %d: fresh_at %r not in (0, %d] (the district stopped then): %s"
                     % (c, fa, stopped_at, us[c]))
        # The nation reaches the province fine: the province is fresh there.
        k = child(nation, "daknong")
        if k["stale"] or k["failed_pulls"] != 0 or time.time() - k["last_pull"] > 5:
            fail("the province should be fresh at the nation: %s" % k)
        # The province's own view agrees (its communes are stale there too).
        pu = units(prov)
        if not all(pu[c]["stale"] for c in COMMUNES):
            fail("the province does not mark the district's communes stale: %s"
                 % {c: pu[c] for c in COMMUNES})

        log("district back: pull at the province, then at the nation: fresh and exact")
        dist.start()
        wait_for("the agent's queued events at the district",
                 lambda: (per_commune(dist.snapshot(reader="test")).get(24667) == 60,
                          per_commune(dist.snapshot(reader="test"))), [dist])
        dsnap = dist.snapshot(reader="test")
        dsum = dsnap["sums"]

        def dist_fresh_at_prov():
            pull(prov, "dakmil")
            time.sleep(0.3)
            c = child(prov, "dakmil")
            return not c["stale"] and c["failed_pulls"] == 0, c
        wait_for("the district fresh at the province", dist_fresh_at_prov, [prov, dist])

        def fresh_and_exact():
            pull(nation, "daknong")
            time.sleep(0.3)
            us = units(nation)
            got = nation.snapshot(reader="test")["sums"]
            ok = (all(us[c]["stale"] is False and us[c]["fresh_at"] > stopped_at
                      for c in COMMUNES) and got == dsum)
            return ok, {"units": {c: us[c] for c in COMMUNES}, "sums": got, "want": dsum}
        wait_for("the communes fresh again at the nation with exact totals", fresh_and_exact,
                 [nation, prov])
        if per_commune(nation.snapshot(reader="test")) != per_commune(dsnap):
            fail("per-commune events differ: nation %s, district %s"
                 % (per_commune(nation.snapshot(reader="test")), per_commune(dsnap)))
        agent.stop()
        log("ok")
    finally:
        for a in (nation, prov, dist):
            a.cleanup()


if __name__ == "__main__":
    main()
