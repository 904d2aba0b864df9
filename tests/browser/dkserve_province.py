"""Helper of tests/browser/test_province.mjs: a province (real dk-aggregator, dashboard on a free
loopback port) over two real districts filled by dk-testclient. Once both are pulled, district Cư
Jút is stopped and the helper waits until the province marks it stale, then prints one JSON line
{"http": PORT, ...}. Commands on stdin, one JSON object per line:
    {"start": "cujut"}   -> starts the district again; prints {"started": "cujut"}
Everything is killed and removed when stdin closes (or on any failure)."""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from dkharness import SOURCE, Aggregator, check_binaries, fail  # noqa: E402

# The official names (aggregator/units.h): the province's config names no commune itself.
UNITS_CSV = os.path.abspath(os.path.join(SOURCE, "config", "units", "dak-nong-2023.csv"))



def children(prov):
    with urllib.request.urlopen(prov.http_url + "/api/v1/children", timeout=5) as r:
        return {c["name"]: c for c in json.loads(r.read().decode("utf-8"))["children"]}


def wait(prov, what, pred, timeout=40):
    deadline = time.time() + timeout
    while time.time() < deadline:
        cs = children(prov)
        if pred(cs):
            return cs
        time.sleep(0.3)
    prov.dump_log(40)
    fail("province: " + what)


def main():
    check_binaries()
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông", http=True, settings={"units-file": UNITS_CSV})
    reader = '\n[reader province]\npublic-key = "%s"\nrole = province\n' % prov.server_public
    a = Aggregator(communes=[(24664, 14), (24667, 9), (24670, 8)], readers=["test"],
                   extra_ini=reader, unit=663, name="Huyện Đắk Mil")
    b = Aggregator(communes=[(24640, 10), (24643, 6)], readers=["test"], extra_ini=reader,
                   unit=662, name="Huyện Cư Jút")
    prov.extra_ini = "".join(
        '\n[child %s]\nunit = %d\ntitle = %s\nendpoint = %s\nserver-key = "%s"\n'
        'interval = %s\ntimeout = 800ms\n' % (n, d.unit, d.name, d.endpoint, d.server_public, iv)
        for n, d, iv in (("dakmil", a, "20s"), ("cujut", b, "1s")))
    prov.write_config()
    try:
        a.start()
        b.start()
        a.send(24664, 200, 50)
        a.send(24667, 120, 50)
        b.send(24640, 150, 50)
        b.send(24643, 80, 40)
        prov.start()
        wait(prov, "both districts pulled",
             lambda cs: len(cs) == 2 and all(c["last_pull"] > 0 and c["events"] > 0
                                             for c in cs.values()))
        b.kill()
        wait(prov, "Cư Jút stale",
             lambda cs: cs["cujut"]["stale"] and cs["cujut"]["failed_pulls"] >= 2)
        print(json.dumps({"http": prov.http_port, "stale": "cujut",
                          "stale_units": [24640, 24643], "fresh_units": [24664, 24667],
                          # official names (config/units), which the page must show
                          "names": {"24640": "Thị trấn Ea T'Ling", "24643": "Xã Đắk Wil",
                                    "24664": "Thị trấn Đắk Mil", "24667": "Xã Đắk Lao"}}),
              flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            cmd = json.loads(line)
            if cmd.get("start") == "cujut":
                b.start()
                print(json.dumps({"started": "cujut"}), flush=True)
        prov.stop()
    finally:
        for agg in (prov, a, b):
            agg.cleanup()


if __name__ == "__main__":
    main()
