"""Helper of the browser tests: runs a real dk-aggregator (tests/system/dkharness.py) with its
dashboard on a free loopback port, fills it through real clients (dk-testclient), prints one JSON
line {"http": PORT, ...} and then obeys JSON commands on stdin, one per line:
    {"send": COMMUNE, "events": N, "first_seq": S}   -> prints the client's summary as one line
Everything is killed and removed when stdin closes (or on any failure)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from dkharness import Aggregator, check_binaries, free_port  # noqa: E402

SOURCE = os.environ.get("DK_SOURCE") or os.path.join(HERE, "..", "..")
FILL = {24664: 200, 24667: 120, 24673: 60, 24676: 90}   # 24670 never reports


def main():
    check_binaries()
    hport = free_port()
    plan = os.path.abspath(os.path.join(SOURCE, "config", "plan", "dak-mil-2023.ini"))
    ini = "\n[http]\nport = %d\nplan = %s\n" % (hport, plan)
    communes = [(24664, 14), (24667, 9), (24670, 8), (24673, 11), (24676, 7)]
    with Aggregator(communes=communes, extra_ini=ini) as agg:
        agg.start()
        for commune, n in FILL.items():
            agg.send(commune, events=n, batch=50)
        print(json.dumps({"http": hport, "fill": FILL}), flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            cmd = json.loads(line)
            if "send" in cmd:
                res = agg.send(cmd["send"], events=cmd.get("events", 1), batch=50,
                               first_seq=cmd.get("first_seq", 1))
                print(json.dumps(res), flush=True)
        agg.stop()


if __name__ == "__main__":
    main()
