"""ops/demo (its body, ops/gendemo.py, on the already built tree): starts 2 districts with their
18 real dk-agent processes and the province, records events for a while, shows non-zero figures at
the districts and at the province, and stops cleanly: exit 0, nothing left running."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import AGGREGATOR, BUILD, SOURCE, TESTCLIENT, fail, free_port, log  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="dkdemo-")
    data = os.path.join(tmp, "demo-data")
    try:
        argv = [sys.executable, os.path.join(SOURCE, "ops", "gendemo.py"), "--build", BUILD,
                "--data", data, "--duration", "40", "--fast", "--seed", "7",
                "--port-base", str(free_port()), "--http-base", str(free_port())]
        log("running " + " ".join(argv[1:]))
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            fail("the demo did not stop by itself after --duration")
        print(r.stdout[-3000:])
        if r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            fail("ops/demo exited %d" % r.returncode)
        if "STILL RUNNING" in r.stdout or "had to kill" in r.stdout:
            fail("the demo did not stop every process cleanly")
        m = re.search(r"recorded (\d+) events \((\d+) failed\)", r.stdout)
        if not m or int(m.group(1)) < 20 or int(m.group(2)) != 0:
            fail("the generator did not record enough events without failure")
        for url in ("http://127.0.0.1:",):
            if r.stdout.count(url) < 3:
                fail("the three dashboard URLs were not printed")
        # Nothing of ours left: no process has the demo's data folder on its command line.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if data in ps:
            fail("processes still running:\n" + "\n".join(l for l in ps.splitlines() if data in l))
        # The province pulled non-empty changes from both districts.
        with open(os.path.join(data, "logs", "province.log"), encoding="utf-8") as f:
            plog = f.read()
        for child in ("dakmil", "cujut"):
            cells = [int(x) for x in re.findall(r"pulled child=%s .* cells=(\d+)" % child, plog)]
            if not cells or sum(cells) == 0:
                fail("the province never pulled figures from " + child)
        # District figures: a snapshot with the province's key (a [reader] of each district).
        with open(os.path.join(data, "demo.json")) as f:
            ports = json.load(f)["ports"]
        with open(os.path.join(data, "keys", "dakmil.key.pub")) as f:
            dpub = re.search(r'public-key\s*=\s*"?([^"\s]+)', f.read()).group(1)
        p = subprocess.Popen([AGGREGATOR, "-c", os.path.join(data, "etc", "dakmil.ini"), "run"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            snap = None
            for _ in range(50):
                s = subprocess.run([TESTCLIENT, "snapshot", "--endpoint",
                                    "tcp://127.0.0.1:%d" % ports["dakmil"], "--server-key", dpub,
                                    "--key-file", os.path.join(data, "keys", "province.key")],
                                   capture_output=True, text=True, timeout=30)
                if s.returncode == 0:
                    snap = json.loads(s.stdout)
                    break
            if not snap or snap["sums"][0] <= 0:
                fail("district Đắk Mil shows no events: %s" % snap)
            log("district Đắk Mil: %d events tallied" % snap["sums"][0])
        finally:
            p.terminate()
            p.wait(30)
        log("ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
