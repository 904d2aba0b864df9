#!/usr/bin/env python3
"""dk-aggregator's command line and operations (issue 3, "Operations"):

- --help exits 0 and documents the config keys; usage errors exit 2; config errors exit 2 and name
  the file, line and key; a missing key file exits 2;
- the ZAP handler is up before the CURVE sockets: start-up fails when the ROUTER port is taken;
- status (text and --json), verify, backup DIR and export run beside the running daemon;
- the backup is a usable store (status and verify on it agree with the original);
- keygen never overwrites a key file;
- SIGINT stops cleanly like SIGTERM; the dashboard (when enabled) serves /healthz;
- a flood is bounded: with a tiny max-batch the queue refuses batches (DK_EAGAIN, "busy") and the
  client's resends still get every event stored exactly once.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import AGGREGATOR, Aggregator, check_binaries, fail, log  # noqa: E402


def expect(cond, msg):
    if not cond:
        fail(msg)


def run(*args, timeout=60):
    return subprocess.run([AGGREGATOR] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def main():
    check_binaries()
    r = run("--help")
    expect(r.returncode == 0 and "run" in r.stdout and "commit-window" in r.stdout,
           "--help: %d %s" % (r.returncode, r.stdout[:300]))
    expect(run().returncode == 2, "no command must exit 2")
    expect(run("-c", "/nonexistent.ini", "frobnicate").returncode == 2, "unknown command")
    r = run("-c", "/nonexistent.ini", "status")
    expect(r.returncode == 2 and "/nonexistent.ini" in r.stderr, "missing config: %r" % r.stderr)

    with Aggregator(communes=[24664, 24667], http=True) as agg:
        # ---- config errors name file, line and key
        good = agg.config_text()
        bad = good.replace("areas = 12", "areas = twelve", 1)
        with open(agg.config, "w") as f:
            f.write(bad)
        line = bad.splitlines().index("areas = twelve") + 1
        r = agg.cli("status")
        expect(r.returncode == 2 and ("%s:%d" % (agg.config, line)) in r.stderr and
               "areas" in r.stderr, "config error message: %r" % r.stderr)
        with open(agg.config, "w") as f:
            f.write(good + "\n[nonsense]\nx = 1\n")
        r = agg.cli("run")
        expect(r.returncode == 2 and "nonsense" in r.stderr, "unknown section: %r" % r.stderr)
        with open(agg.config, "w") as f:
            f.write(good.replace(agg.server_key_file, agg.server_key_file + ".missing"))
        r = agg.cli("run", timeout=30)
        expect(r.returncode == 2 and "key-file" in r.stderr, "missing key file: %r" % r.stderr)
        agg.write_config()

        # ---- keygen never overwrites
        r = run("keygen", agg.server_key_file)
        expect(r.returncode == 1 and "exists" in r.stderr, "keygen overwrite: %r" % r.stderr)

        # ---- port taken: start-up fails with exit 1, naming the endpoint
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", agg.port))
        s.listen(1)
        r = agg.cli("run", timeout=30)
        s.close()
        expect(r.returncode == 1 and str(agg.port) in r.stderr, "bind failure: %d %r" %
               (r.returncode, r.stderr[-500:]))

        # ---- operations beside the running daemon
        agg.start()
        res = agg.send(24664, 1500, 100)
        expect(res["stored"] == 1500, "send: %r" % res)
        res = agg.send(24667, 700, 100, 1, "--bad-every", "100")
        expect(res["stored"] == 693 and res["rejected"] == 7, "send B: %r" % res)
        agg.client("heartbeat", "--backlog", 42, commune=24667)
        time.sleep(0.6)  # a contact without events is written with the next commit (<= 200 ms)
        st = agg.cli("status", "--json")
        expect(st.returncode == 0, "status --json: %s" % st.stderr)
        js = json.loads(st.stdout)
        units = {u["unit"]: u for u in js["units"]}
        expect(units[24664]["high_water"] == 1500 and units[24664]["events"] == 1500,
               "status units: %r" % units)
        expect(units[24667]["rejected"] == 7 and units[24667]["high_water"] == 700,
               "status B: %r" % units[24667])
        expect(units[24667]["backlog"] == 42 and units[24667]["last_contact"] > time.time() - 60,
               "heartbeat not recorded: %r" % units[24667])
        expect(js["events"] == 2193 or js["tallied"] == 2193, "status totals: %r" % js)
        st = agg.status()
        expect(st.returncode == 0 and "Xã Đắk Lao" in st.stdout and "phiên bản" in st.stdout,
               "status text:\n%s" % st.stdout)
        v = agg.verify()
        expect(v.returncode == 0, "verify beside the daemon: %s %s" % (v.stdout, v.stderr))
        bdir = os.path.join(agg.dir, "backup")
        b = agg.cli("backup", bdir)
        expect(b.returncode == 0 and os.path.exists(os.path.join(bdir, "data.mdb")),
               "backup: %s" % b.stderr)
        b2 = agg.cli("backup", bdir)
        expect(b2.returncode == 1, "backup into a non-empty folder must fail")
        # The backup is a store of its own: status and verify on it.
        with open(agg.config) as f:
            text = f.read()
        bconf = os.path.join(agg.dir, "backup.ini")
        with open(bconf, "w") as f:
            f.write(text.replace("data-dir = %s" % agg.data_dir, "data-dir = %s" % bdir))
        r = run("-c", bconf, "status", "--json")
        expect(r.returncode == 0 and json.loads(r.stdout)["units"], "status on backup: %s" %
               r.stderr)
        bu = {u["unit"]: u for u in json.loads(r.stdout)["units"]}
        expect(bu[24664]["events"] == 1500, "backup content: %r" % bu)
        r = run("-c", bconf, "verify")
        expect(r.returncode == 0, "verify on backup: %s" % r.stderr)
        e = agg.cli("export", "--period", "2023", "--format", "csv")
        if e.returncode == 0:
            expect(e.stdout.startswith("\ufeff"), "CSV without BOM")
            log("export csv: %d lines" % len(e.stdout.splitlines()))
        else:
            log("export not available yet: %s" % e.stderr.strip()[:200])
        e = agg.cli("export", "--period", "2023", "--format", "pdf")
        expect(e.returncode == 2, "bad export format must exit 2")

        # ---- the dashboard, when enabled
        try:
            with urllib.request.urlopen(agg.http_url + "/healthz", timeout=5) as resp:
                expect(resp.status == 200, "healthz %d" % resp.status)
            log("dashboard /healthz ok")
        except OSError as exc:
            fail("dashboard not served at %s: %s" % (agg.http_url, exc))

        # ---- SIGINT stops cleanly
        agg.proc.send_signal(signal.SIGINT)
        rc = agg.proc.wait(timeout=30)
        expect(rc == 0, "SIGINT exit code %d" % rc)

    # ---- backpressure: queue bound = 8 x max-batch events
    with Aggregator(communes=[24664, 24667], settings={"max-batch": "50",
                                                       "commit-window": "20ms"}) as agg:
        agg.start()
        ps = [agg.spawn_client("send", "--commune", c, "--events", 4000, "--batch", 100,
                               "--window", 32, "--retry-ms", 200, commune=c)
              for c in (24664, 24667)]
        busy = 0
        for p in ps:
            p.wait(timeout=170)
            res = agg.client_result(p)
            expect(p.returncode == 0 and res and res["results"] == 4000 and
                   res["stored"] + res["duplicate"] == 4000, "flood client: %r" %
                   (res and {k: res[k] for k in res if k != "latencies_ms"}))
            busy += res["busy"]
        expect(busy > 0, "the queue bound was never reached")
        s = agg.snapshot()
        expect(s["events"] == 8000, "flood: events %d" % s["events"])
        log("backpressure: %d busy refusals, all 8000 events stored once" % busy)
        expect(agg.stop() == 0, "stop after flood")
    log("OK")


if __name__ == "__main__":
    main()
