"""Unit names at a parent aggregator: a province over two districts (real dk-aggregator processes on
loopback, events sent with dk-testclient) with `units-file` = config/units/dak-nong-2023.csv.

Snapshots carry codes, not names, and the province's config has no [commune] sections: every
commune name it shows must come from the official list (aggregator/units.h), the districts from it
or from a [child] title (which wins). Checked on GET /api/v1/units (name, parent, parent_name),
/api/v1/children (unit_name, units' names), /api/v1/tallies?unit=, /api/v1/report rows, the CSV
export (GET /api/v1/export and `dk-aggregator export`) and `dk-aggregator status` (text and
--json). A commune the official list does not know (24999) stays "Đơn vị 24999". A units file
with an error makes `status` fail with exit 2 and a FILE:LINE:COLUMN message."""
import csv
import io
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import SOURCE, Aggregator, check_binaries, fail, log  # noqa: E402

UNITS_CSV = os.path.abspath(os.path.join(SOURCE, "config", "units", "dak-nong-2023.csv"))


def official():
    """{code: "type name_vi"} read from the real file, as the test's oracle."""
    with open(UNITS_CSV, encoding="utf-8", newline="") as f:
        return {int(r["code"]): "%s %s" % (r["type"], r["name_vi"]) for r in csv.DictReader(f)}



def get_raw(prov, path):
    with urllib.request.urlopen(prov.http_url + path, timeout=10) as r:
        if r.status != 200:
            fail("GET %s -> %d" % (path, r.status))
        return r.read()


def get(prov, path):
    return json.loads(get_raw(prov, path).decode("utf-8"))


def units(prov):
    return {u["unit"]: u for u in get(prov, "/api/v1/units")["units"]}


def check_csv(what, text, want):
    """The CSV export names every commune of `want` ({code: name}) on its row."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    flat = [" | ".join(r) for r in rows]
    for code, name in want.items():
        if not any(name in r for r in flat):
            fail("%s: no row names %d as %r:\n%s" % (what, code, name, "\n".join(flat)[:3000]))
    bad = [r for r in flat if "Đơn vị 246" in r or "Đơn vị 00" in r]
    if bad:
        fail("%s: rows still named by code: %s" % (what, bad))


def main():
    check_binaries()
    names = official()
    # The oracle itself: the codes the test uses are in the file, 24999 is not.
    for code in (24664, 24667, 24640, 24643, 663, 662):
        if code not in names:
            fail("%s has no unit %d" % (UNITS_CSV, code))
    if 24999 in names:
        fail("%s names 24999: pick another unknown code" % UNITS_CSV)
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông", http=True, settings={"units-file": UNITS_CSV})
    reader_ini = '\n[reader province]\npublic-key = "%s"\nrole = province\n' % prov.server_public
    # The districts name their communes themselves (24999 as "Xã thử 24999"): the province does
    # not see those names, only codes.
    a = Aggregator(communes=[24664, 24667, 24999], readers=["test"], extra_ini=reader_ini,
                   unit=663, name="Huyện Đắk Mil")
    b = Aggregator(communes=[24640, 24643], readers=["test"], extra_ini=reader_ini,
                   unit=662, name="Huyện Cư Jút")
    cujut_title = "Huyện Cư Jút (tên trong cấu hình)"
    prov.extra_ini = (
        '\n[child dakmil]\nunit = 663\nendpoint = %s\nserver-key = "%s"\n'
        'interval = 1s\ntimeout = 800ms\n' % (a.endpoint, a.server_public) +
        '\n[child cujut]\nunit = 662\ntitle = %s\nendpoint = %s\nserver-key = "%s"\n'
        'interval = 1s\ntimeout = 800ms\n' % (cujut_title, b.endpoint, b.server_public))
    prov.write_config()
    communes = [24664, 24667, 24640, 24643]
    try:
        a.start()
        b.start()
        for code in (24664, 24667, 24999):
            a.send(code, 30, 30)
        for code in (24640, 24643):
            b.send(code, 30, 30)
        prov.start()
        deadline = time.time() + 30
        us = {}
        while time.time() < deadline:
            us = units(prov)
            if all(us.get(c, {}).get("events") == 30 for c in communes + [24999]):
                break
            time.sleep(0.3)
        else:
            prov.dump_log(40)
            fail("province never got every commune's figures: %s" % json.dumps(us)[:2000])

        log("GET /api/v1/units: official names, parents")
        for code in communes:
            u = us[code]
            if u["name"] != names[code]:
                fail("unit %d: name %r, expected %r (official)" % (code, u["name"], names[code]))
            parent = 663 if code in (24664, 24667) else 662
            if u.get("parent") != parent:
                fail("unit %d: parent %r, expected %d" % (code, u.get("parent"), parent))
        if us[24667]["parent_name"] != names[663]:
            fail("24667 parent_name %r, expected %r" % (us[24667]["parent_name"], names[663]))
        if us[24640]["parent_name"] != cujut_title:
            fail("24640 parent_name %r: the [child] title wins" % us[24640]["parent_name"])
        if us[24999]["name"] != "Đơn vị 24999" or us[24999]["parent"] is not None:
            fail("unknown unit 24999: %s" % us[24999])

        log("GET /api/v1/children: district names, their communes' names")
        kids = {c["name"]: c for c in get(prov, "/api/v1/children")["children"]}
        if kids["dakmil"]["unit_name"] != names[663]:
            fail("dakmil unit_name %r, expected %r" % (kids["dakmil"]["unit_name"], names[663]))
        if kids["cujut"]["unit_name"] != cujut_title:
            fail("cujut unit_name %r, expected %r" % (kids["cujut"]["unit_name"], cujut_title))
        kid_units = {u["unit"]: u["name"] for k in kids.values() for u in k["units"]}
        for code in communes:
            if kid_units.get(code) != names[code]:
                fail("children: unit %d named %r" % (code, kid_units.get(code)))
        if kid_units.get(24999) != "Đơn vị 24999":
            fail("children: unit 24999 named %r" % kid_units.get(24999))

        log("GET /api/v1/tallies?unit= and /api/v1/report rows")
        t = get(prov, "/api/v1/tallies?period=2023&unit=24667")
        if t.get("unit_name") != names[24667]:
            fail("tallies unit_name %r" % t.get("unit_name"))
        rep = get(prov, "/api/v1/report?period=2023")
        rows = {r["unit"]: r["name"] for r in rep["rows"]}
        for code in communes:
            if rows.get(code) != names[code]:
                fail("report row %d named %r, expected %r" % (code, rows.get(code), names[code]))

        log("CSV export: HTTP and the export command")
        want = {c: names[c] for c in communes}
        want[24999] = "Đơn vị 24999"
        check_csv("GET /api/v1/export csv",
                  get_raw(prov, "/api/v1/export?period=2023&format=csv").decode("utf-8"), want)
        r = prov.cli("export", "--period", "2023", "--format", "csv")
        if r.returncode != 0:
            fail("export: exit %d: %s" % (r.returncode, r.stderr))
        check_csv("dk-aggregator export csv", r.stdout, want)

        log("dk-aggregator status: text and --json")
        r = prov.cli("status")
        if r.returncode != 0:
            fail("status: exit %d: %s" % (r.returncode, r.stderr))
        for s in [names[663], cujut_title] + ["%s (%d)" % (names[c], c) for c in communes]:
            if s not in r.stdout:
                fail("status text lacks %r:\n%s" % (s, r.stdout))
        r = prov.cli("status", "--json")
        if r.returncode != 0:
            fail("status --json: exit %d: %s" % (r.returncode, r.stderr))
        sj = {k["name"]: k for k in json.loads(r.stdout)["children"]}
        got = dict(zip(sj["dakmil"]["units"], sj["dakmil"]["unit_names"]))
        if got.get(24667) != names[24667] or got.get(24999) != "Đơn vị 24999" or \
                sj["dakmil"]["unit_name"] != names[663]:
            fail("status --json dakmil: %s" % sj["dakmil"])

        log("a units file with an error: status fails naming FILE:LINE:COLUMN")
        bad = os.path.join(prov.dir, "bad-units.csv")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("code,level,parent,type,name_vi,valid_from,valid_to\n"
                    "67,province,,Tỉnh,Đắk Nông,,2025-06-30\n"
                    "663,district,67,Huyện,Đắk Mil,,2025-13-01\n")
        prov.settings["units-file"] = bad
        prov.write_config()
        r = prov.cli("status")
        if r.returncode != 2 or "bad-units.csv:3:32: valid_to" not in r.stderr:
            fail("status with a bad units file: exit %d, %r" % (r.returncode, r.stderr))
        log("ok")
    finally:
        for agg in (prov, a, b):
            agg.cleanup()


if __name__ == "__main__":
    main()
