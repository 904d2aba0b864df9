"""Freshness of child aggregators through the province's HTTP API (issue 6 item 2): a province over
two districts (real dk-aggregator processes on loopback, events sent with dk-testclient).

- GET /api/v1/children: both districts fresh (last pull, child version, epoch), carrying their
  communes; GET /api/v1/units marks each commune with its child and `stale`.
- District Cư Jút stopped: it turns `stale: true` with failed attempts and an error (API, the
  province's snapshot records, `dk-aggregator status --json`); its communes are marked stale; the
  province keeps serving Đắk Mil's figures, which stay fresh.
- POST /api/v1/children/NAME/pull answers 202 and pulls now: proven on Đắk Mil, whose scheduled
  interval (60 s) is far longer than the test waits; then Cư Jút back up + POST: fresh and exact.
- Only that one route accepts POST; GET on it is 405; an unknown child is 404; a POST from another
  site's page (Origin) is 403."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import (Aggregator, check_binaries, child, expected_totals, fail, get, http,  # noqa: E402
                       log, units, wait_for)

M = 18








def expect(ranges):
    t = expected_totals(ranges)
    return [t.get(i, 0) for i in range(M)]


def unit_events(prov, code):
    u = units(prov).get(code)
    return u["events"] if u else 0


def main():
    check_binaries()
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông", http=True)
    reader_ini = '\n[reader province]\npublic-key = "%s"\nrole = province\n' % prov.server_public
    a = Aggregator(communes=[24664, 24667], readers=["test"], extra_ini=reader_ini,
                   unit=663, name="Huyện Đắk Mil")
    b = Aggregator(communes=[24640, 24643], readers=["test"], extra_ini=reader_ini,
                   unit=662, name="Huyện Cư Jút")
    # Đắk Mil: a long interval, so only an on-demand pull can bring new figures within the test.
    prov.extra_ini = (
        '\n[child dakmil]\nunit = 663\ntitle = Huyện Đắk Mil\nendpoint = %s\nserver-key = "%s"\n'
        'interval = 60s\ntimeout = 5s\n' % (a.endpoint, a.server_public) +
        '\n[child cujut]\nunit = 662\ntitle = Huyện Cư Jút\nendpoint = %s\nserver-key = "%s"\n'
        'interval = 1s\ntimeout = 800ms\n' % (b.endpoint, b.server_public))
    prov.write_config()
    try:
        a.start()
        b.start()
        a.send(24664, 120, 40)
        a.send(24667, 80, 40)
        b.send(24640, 100, 50)
        b.send(24643, 60, 30)
        prov.start()
        ranges_a = [(24664, 1, 120), (24667, 1, 80)]
        ranges_b = [(24640, 1, 100), (24643, 1, 60)]

        log("both districts fresh after their first pull")
        def both_fresh():
            cs = get(prov, "/api/v1/children")["children"]
            ok = len(cs) == 2 and all(c["last_pull"] > 0 and not c["stale"] for c in cs)
            return ok, cs
        cs = wait_for("both children pulled", both_fresh, prov)
        by = {c["name"]: c for c in cs}
        for name, agg, communes in (("dakmil", a, [24664, 24667]), ("cujut", b, [24640, 24643])):
            c = by[name]
            if c["unit"] != agg.unit or c["endpoint"] != agg.endpoint:
                fail("child %s: unit/endpoint %s" % (name, c))
            if c["unit_name"] != agg.name:
                fail("child %s: unit_name %r, expected %r" % (name, c["unit_name"], agg.name))
            if c["failed_pulls"] != 0 or c["last_error"] != "" or c["age"] < 0:
                fail("child %s fresh but %s" % (name, c))
            if len(c["epoch"]) != 32 or int(c["epoch"], 16) == 0:
                fail("child %s: epoch %r is not 16 bytes of hex" % (name, c["epoch"]))
            if c["child_version"] < 1 or c["child_version"] > agg.snapshot(reader="test")["version"]:
                fail("child %s: child_version %d" % (name, c["child_version"]))
            if sorted(u["unit"] for u in c["units"]) != communes:
                fail("child %s carries %s, expected %s" % (name, c["units"], communes))
        us = units(prov)
        for code, name in ((24664, "dakmil"), (24640, "cujut")):
            if us[code]["child"] != name or us[code]["stale"] is not False:
                fail("/units %d: child %r stale %r" % (code, us[code]["child"], us[code]["stale"]))
        if get(prov, "/api/v1/info")["children"] != 2:
            fail("/info does not count 2 children")

        log("only POST .../pull is a write route")
        st, _ = http(prov, "GET", "/api/v1/children/cujut/pull")
        if st != 405:
            fail("GET .../pull -> %d, expected 405" % st)
        st, _ = http(prov, "POST", "/api/v1/units")
        if st != 405:
            fail("POST /api/v1/units -> %d, expected 405" % st)
        st, body = http(prov, "POST", "/api/v1/children/nosuch/pull")
        if st != 404:
            fail("POST unknown child -> %d %s, expected 404" % (st, body))
        st, _ = http(prov, "POST", "/api/v1/children/cujut/pull",
                     {"Origin": "http://evil.example"})
        if st != 403:
            fail("POST with a foreign Origin -> %d, expected 403" % st)

        log("on-demand pull: Đắk Mil's new events arrive long before its 60 s interval")
        a.send(24664, 30, 30, 121)
        ranges_a.append((24664, 121, 150))
        time.sleep(1.0)
        if unit_events(prov, 24664) != 120:
            fail("the province pulled Đắk Mil before being asked (interval 60 s)")
        st, body = http(prov, "POST", "/api/v1/children/dakmil/pull")
        if st != 202 or body.get("child") != "dakmil":
            fail("POST .../dakmil/pull -> %d %s, expected 202" % (st, body))
        wait_for("Đắk Mil's 150 events after the pull",
                 lambda: (unit_events(prov, 24664) == 150, unit_events(prov, 24664)), prov, 10)

        log("district Cư Jút down: stale with failed attempts and an error")
        b.kill()
        def cujut_stale():
            c = child(prov, "cujut")
            return c["stale"] and c["failed_pulls"] >= 2 and c["last_error"] != "", c
        c = wait_for("Cư Jút stale", cujut_stale, prov, 20)
        if c["last_pull"] <= 0 or c["age"] < 3:
            fail("Cư Jút: last successful pull lost or too recent: %s" % c)
        us = units(prov)
        for code in (24640, 24643):
            if us[code]["stale"] is not True or us[code]["child"] != "cujut":
                fail("/units %d under the stopped district not marked stale: %s" % (code, us[code]))
        for code in (24664, 24667):
            if us[code]["stale"] is not False:
                fail("/units %d of the live district marked stale: %s" % (code, us[code]))
        # Its last figures are still served (marked old), never dropped.
        if us[24640]["events"] != 100 or us[24643]["events"] != 60:
            fail("Cư Jút's last figures not kept: %s %s" % (us[24640], us[24643]))
        snap = prov.snapshot(reader="test")
        rec = [u for u in snap["units"] if u["unit"] == 662]
        if not rec or rec[0].get("failed_pulls", 0) < 2 or not rec[0].get("last_error"):
            fail("province snapshot lacks Cư Jút's failure record: %s" % rec)
        r = prov.cli("status", "--json")
        if r.returncode != 0:
            fail("status --json: %s" % r.stderr)
        stj = json.loads(r.stdout)
        sc = {k["name"]: k for k in stj["children"]}
        if not sc["cujut"]["stale"] or sc["cujut"]["failed_pulls"] < 2 or sc["dakmil"]["stale"]:
            fail("status --json children: %s" % stj["children"])
        r = prov.cli("status")
        if r.returncode != 0 or "Huyện Cư Jút" not in r.stdout or "SỐ LIỆU CŨ" not in r.stdout \
                or "Mất kết nối" not in r.stdout:
            fail("status text lacks the stale child: %s %s" % (r.stdout, r.stderr))

        log("the province keeps serving Đắk Mil meanwhile")
        a.send(24667, 40, 40, 81)
        ranges_a.append((24667, 81, 120))
        st, _ = http(prov, "POST", "/api/v1/children/dakmil/pull")
        if st != 202:
            fail("POST .../dakmil/pull -> %d" % st)
        wait_for("Đắk Mil's new events while Cư Jút is down",
                 lambda: (unit_events(prov, 24667) == 120, unit_events(prov, 24667)), prov, 10)
        if child(prov, "dakmil")["stale"]:
            fail("Đắk Mil stale although pulled")

        log("Cư Jút back: POST .../pull brings it fresh and exact")
        b.start()
        b.send(24640, 50, 50, 101)
        ranges_b.append((24640, 101, 150))
        st, _ = http(prov, "POST", "/api/v1/children/cujut/pull")
        if st != 202:
            fail("POST .../cujut/pull -> %d" % st)
        def cujut_fresh():
            c = child(prov, "cujut")
            return (not c["stale"] and c["failed_pulls"] == 0 and c["last_error"] == "" and
                    unit_events(prov, 24640) == 150), c
        wait_for("Cư Jút fresh again", cujut_fresh, prov, 15)
        got = list(prov.snapshot(reader="test")["sums"])
        want = expect(ranges_a + ranges_b)
        if got != want:
            fail("province sums %s, expected %s" % (got, want))
        if any(u["stale"] for u in units(prov).values() if u["owner"]):
            fail("a commune still marked stale after both districts are fresh")
        log("ok")
    finally:
        for agg in (prov, a, b):
            agg.cleanup()


if __name__ == "__main__":
    main()
