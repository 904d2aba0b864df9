#!/usr/bin/env python3
"""ops/gendemo.py — the body of ops/demo (which installs and builds first, then runs this).

Runs on one machine, on 127.0.0.1:
  * district Đắk Mil (663) with its 10 real communes, each a real `dk-agent run` process with its
    own key pair (`dk-agent keygen`), pushing to the district's `dk-aggregator`;
  * a second district, Cư Jút (662), with its 8 communes, the same way;
  * the province Đắk Nông (67), a `dk-aggregator` pulling both districts' snapshots;
  * the generator (ops/genlib.py Generator) recording realistic activities and fund movements
    through `dk-agent record`, and dropping a CSV file or two into communes' inboxes.
Prints the dashboard URLs, a line of figures every little while, and stops everything it started
on Ctrl-C (or after --duration seconds). Data (keys, configs, stores, outboxes, logs) lives under
--data (default ./demo-data) and is reused by the next run (--fresh starts over).
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genlib  # noqa: E402

DISTRICTS = [(663, "dakmil"), (662, "cujut")]
PROVINCE = 67


def port_free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pick(wanted, taken):
    p = wanted if wanted and port_free(wanted) and wanted not in taken else free_port()
    while p in taken:
        p = free_port()
    taken.add(p)
    return p


def read_pub(path):
    with open(path + ".pub", encoding="utf-8") as f:
        for line in f:
            if line.strip().startswith("public-key"):
                return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError(path + ".pub: no public-key line")


class Demo:
    def __init__(self, a):
        self.a = a
        self.build = a.build
        self.aggregator = os.path.join(self.build, "aggregator", "dk-aggregator")
        self.agent = os.path.join(self.build, "agents", "dk-agent")
        self.data = os.path.abspath(a.data)
        self.procs = []          # (name, Popen)
        self.stopping = False
        self.units = genlib.load_units()

    def say(self, msg):
        print("[demo %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)

    # ---- set-up -------------------------------------------------------------------------------
    def keygen(self, prog, path):
        """prog: a program, or an argv prefix (the key file then comes from its config)."""
        if os.path.exists(path) and os.path.exists(path + ".pub"):
            return read_pub(path)
        for p in (path, path + ".pub"):
            if os.path.exists(p):
                os.unlink(p)
        argv = prog + ["keygen"] if isinstance(prog, list) else [prog, "keygen", path]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("%s keygen %s: %s" % (" ".join(argv[:3]), path,
                                                   (r.stderr or r.stdout).strip()))
        return read_pub(path)

    def setup(self):
        a = self.a
        if a.fresh and os.path.isdir(self.data):
            shutil.rmtree(self.data)
        for sub in ("keys", "etc", "logs"):
            os.makedirs(os.path.join(self.data, sub), exist_ok=True)
        state_path = os.path.join(self.data, "demo.json")
        state = {}
        if os.path.exists(state_path):
            with open(state_path) as f:
                state = json.load(f)
        taken = set()
        ports = state.get("ports", {})
        newports = {}
        base = a.port_base
        for i, (code, slug) in enumerate(DISTRICTS):
            newports[slug] = pick(ports.get(slug, base + 10 * i), taken)
            newports[slug + "-pub"] = pick(ports.get(slug + "-pub", base + 10 * i + 1), taken)
            newports[slug + "-http"] = pick(ports.get(slug + "-http", a.http_base + i), taken)
        newports["province"] = pick(ports.get("province", base + 20), taken)
        newports["province-http"] = pick(ports.get("province-http", a.http_base + 2), taken)
        self.ports = newports
        state["ports"] = newports
        with open(state_path + ".tmp", "w") as f:
            json.dump(state, f, indent=1)
        os.replace(state_path + ".tmp", state_path)

        keys = os.path.join(self.data, "keys")
        etc = os.path.join(self.data, "etc")
        prov_key = os.path.join(keys, "province.key")
        prov_pub = self.keygen(self.aggregator, prov_key)
        self.agents = []          # dicts: code, full, areas, config, inbox, district
        children = []
        interval = "3s" if a.fast else "%ds" % a.pull_interval
        timeout = "2s" if a.fast else "%ds" % max(1, min(20, a.pull_interval // 2))
        for code, slug in DISTRICTS:
            d = self.units[code]
            dkey = os.path.join(keys, "%s.key" % slug)
            dpub = self.keygen(self.aggregator, dkey)
            communes = genlib.communes_of(self.units, code)
            lines = ["# ops/demo: district %s (%d)" % (d["full"], code), "[aggregator]",
                     "unit = %d" % code, "name = %s" % d["full"], "level = district",
                     "data-dir = %s" % os.path.join(self.data, slug, "store"),
                     "bind = tcp://127.0.0.1:%d" % self.ports[slug],
                     "publish = tcp://127.0.0.1:%d" % self.ports[slug + "-pub"],
                     "key-file = %s" % dkey,
                     "units-file = %s" % genlib.UNITS_CSV,
                     "organisers = Hội Nông dân, Hội Liên hiệp Phụ nữ, Đoàn Thanh niên, "
                     "Hội Cựu chiến binh, Công đoàn, Hội Người cao tuổi, Hội Chữ thập đỏ",
                     "", "[http]", "bind = 127.0.0.1", "port = %d" % self.ports[slug + "-http"],
                     "", "[reader province]", 'public-key = "%s"' % prov_pub, "role = province"]
            for c in communes:
                akey = os.path.join(keys, "commune-%d.key" % c["code"])
                areas = genlib.areas_for(c["code"])
                adir = os.path.join(self.data, slug, "communes", str(c["code"]))
                inbox = os.path.join(adir, "inbox")
                os.makedirs(inbox, exist_ok=True)
                acfg = os.path.join(etc, "agent-%d.ini" % c["code"])
                with open(acfg, "w", encoding="utf-8") as f:
                    f.write("\n".join([
                        "# ops/demo: commune agent %s (%d)" % (c["full"], c["code"]), "[agent]",
                        "commune = %d" % c["code"], "name = %s" % c["full"],
                        "data-dir = %s" % os.path.join(adir, "outbox"),
                        "inbox = %s" % inbox,
                        "aggregator = tcp://127.0.0.1:%d" % self.ports[slug],
                        'server-key = "%s"' % dpub, "key-file = %s" % akey,
                        "max-area = %d" % areas, "heartbeat = 5s", "retry-max = 5s", ""]))
                # dk-agent keygen writes the key-file its config names (as on a commune PC)
                apub = self.keygen([self.agent, "-c", acfg], akey)
                lines += ["", "[commune %d]" % c["code"], "name = %s" % c["full"],
                          'public-key = "%s"' % apub, "areas = %d" % areas]
                self.agents.append(dict(c, areas=areas, config=acfg, inbox=inbox, district=slug))
            os.makedirs(os.path.join(self.data, slug, "store"), exist_ok=True)
            with open(os.path.join(etc, "%s.ini" % slug), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            children += ["", "[child %s]" % slug, "unit = %d" % code,
                         "endpoint = tcp://127.0.0.1:%d" % self.ports[slug],
                         'server-key = "%s"' % dpub, "interval = %s" % interval,
                         "timeout = %s" % timeout, "title = %s" % d["full"]]
        p = self.units[PROVINCE]
        os.makedirs(os.path.join(self.data, "province", "store"), exist_ok=True)
        with open(os.path.join(etc, "province.ini"), "w", encoding="utf-8") as f:
            f.write("\n".join(["# ops/demo: province %s (%d)" % (p["full"], PROVINCE),
                               "[aggregator]", "unit = %d" % PROVINCE, "name = %s" % p["full"],
                               "level = province",
                               "data-dir = %s" % os.path.join(self.data, "province", "store"),
                               "bind = tcp://127.0.0.1:%d" % self.ports["province"],
                               "key-file = %s" % prov_key,
                               # names of the communes the districts' snapshots bring
                               "units-file = %s" % genlib.UNITS_CSV,
                               "", "[http]", "bind = 127.0.0.1",
                               "port = %d" % self.ports["province-http"]] + children) + "\n")

    # ---- processes ----------------------------------------------------------------------------
    def spawn(self, name, argv):
        log = open(os.path.join(self.data, "logs", name + ".log"), "ab")
        log.write(("---- %s start ----\n" % time.strftime("%Y-%m-%d %H:%M:%S")).encode())
        log.flush()
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def wait_port(self, port, proc, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %d at start (see %s)" % (
                    name, proc.returncode, os.path.join(self.data, "logs", name + ".log")))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("%s not listening on %d after %ds" % (name, port, timeout))

    def start(self):
        etc = os.path.join(self.data, "etc")
        for code, slug in DISTRICTS:
            p = self.spawn(slug, [self.aggregator, "-c", os.path.join(etc, slug + ".ini"), "run"])
            self.wait_port(self.ports[slug], p, slug)
        p = self.spawn("province", [self.aggregator, "-c", os.path.join(etc, "province.ini"), "run"])
        self.wait_port(self.ports["province"], p, "province")
        for ag in self.agents:
            self.spawn("agent-%d" % ag["code"], [self.agent, "-c", ag["config"], "run"])
        self.say("started %d aggregators and %d commune agents" % (3, len(self.agents)))

    def stop(self):
        """SIGTERM to everything (agents first, then districts, province last), SIGKILL what is
        still running after a grace period; returns the names of processes that needed a kill."""
        order = ([x for x in self.procs if x[0].startswith("agent-")] +
                 [x for x in self.procs if x[0] in dict(DISTRICTS).values()] +
                 [x for x in self.procs if x[0] == "province"])
        killed = []
        for group in (order[:len(self.agents)], order[len(self.agents):]):
            for name, p in group:
                if p.poll() is None:
                    try:
                        p.send_signal(signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + 15
            for name, p in group:
                try:
                    p.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    killed.append(name)
        return killed

    # ---- figures ------------------------------------------------------------------------------
    def http_json(self, port, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1%s" % (port, path),
                                        timeout=3) as r:
                return json.loads(r.read().decode("utf-8"))
        except Exception:
            return None

    def figures(self):
        """One line: events tallied at each district and at the province (from `status`)."""
        out = []
        etc = os.path.join(self.data, "etc")
        for name in [s for _, s in DISTRICTS] + ["province"]:
            r = subprocess.run([self.aggregator, "-c", os.path.join(etc, name + ".ini"), "status",
                                "--json"], capture_output=True, text=True, timeout=30)
            n = None
            if r.returncode == 0:
                try:
                    n = json.loads(r.stdout).get("tallied")
                except ValueError:
                    n = None
            out.append("%s=%s" % (name, "?" if n is None else n))
        return " ".join(out)

    # ---- the generator ------------------------------------------------------------------------
    def record(self, ag, kind, opts):
        argv = genlib.record_argv(self.agent, ag["config"], kind, opts)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            self.say("record failed for %d: %s" % (ag["code"], (r.stderr or r.stdout).strip()[-300:]))
            return False
        return True

    def run(self):
        a = self.a
        gen = genlib.Generator(self.agents, random.Random(a.seed))
        by_code = {ag["code"]: ag for ag in self.agents}
        period = 1.0 / (a.rate * (4 if a.fast else 1))
        t_end = time.time() + a.duration if a.duration else None
        t_fig = time.time() + (5 if a.fast else 15)
        recorded = failed = 0
        csv_at = {25: "24685", 60: "24664", 90: "24640"}
        while not self.stopping:
            now = time.time()
            if t_end and now >= t_end:
                break
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %d (see %s)" % (
                        name, p.returncode, os.path.join(self.data, "logs", name + ".log")))
            c, kind, opts = gen.next()
            if self.record(by_code[c["code"]], kind, opts):
                recorded += 1
            else:
                failed += 1
            if recorded in csv_at:
                code = int(csv_at.pop(recorded))
                ag = by_code.get(code)
                if ag:
                    rows = []
                    for _ in range(6):
                        o = gen.activity(ag)
                        o.update(kind=genlib.K_PROPAGANDA, channel=1, sessions=1,
                                 participants=random.randint(40, 200))
                        rows.append(o)
                    genlib.drop_csv(ag["inbox"], "hoat-dong-%s.csv" % gen.date(),
                                    genlib.csv_text(rows, genlib.CSV_ACTIVITY_COLUMNS))
                    self.say("dropped a CSV file of %d activities into %s's inbox"
                             % (len(rows), ag["full"]))
            if time.time() >= t_fig:
                t_fig = time.time() + (5 if a.fast else 15)
                self.say("simulated day %s, recorded %d (failed %d); events tallied: %s"
                         % (gen.date(), recorded, failed, self.figures()))
            time.sleep(max(0.0, period - (time.time() - now)))
        return recorded, failed


def main():
    ap = argparse.ArgumentParser(prog="ops/demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="demo-data", help="folder for everything (default ./demo-data)")
    ap.add_argument("--build", default=os.path.join(genlib.SOURCE, "build"),
                    help="build folder holding the programs (default build/)")
    ap.add_argument("--duration", type=float, default=0, help="stop after SECONDS (0: at Ctrl-C)")
    ap.add_argument("--fast", action="store_true", help="quicker pulls and more events per second")
    ap.add_argument("--fresh", action="store_true", help="delete --data first")
    ap.add_argument("--rate", type=float, default=2.0, help="events recorded per second (default 2)")
    ap.add_argument("--pull-interval", type=int, default=10,
                    help="province pull interval in seconds (default 10)")
    ap.add_argument("--port-base", type=int, default=17700, help="first ZeroMQ port (default 17700)")
    ap.add_argument("--http-base", type=int, default=8080,
                    help="dashboard ports: district, second district, province (default 8080..8082)")
    ap.add_argument("--seed", type=int, default=None, help="generator seed (reproducible runs)")
    a = ap.parse_args()
    d = Demo(a)
    for prog in (d.aggregator, d.agent):
        if not os.access(prog, os.X_OK):
            print("ops/demo: %s is not built (run ops/demo without --no-build)" % prog,
                  file=sys.stderr)
            return 1

    def on_signal(signum, frame):
        d.stopping = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        d.setup()
        d.start()
        print("\nDashboards (read-only, this machine only):", flush=True)
        for code, slug in DISTRICTS:
            print("  %-24s http://127.0.0.1:%d/" % (d.units[code]["full"], d.ports[slug + "-http"]))
        print("  %-24s http://127.0.0.1:%d/" % (d.units[PROVINCE]["full"], d.ports["province-http"]))
        print("Data and logs: %s    Stop: Ctrl-C\n" % d.data, flush=True)
        recorded, failed = d.run()
        d.say("recorded %d events (%d failed); final figures: %s" % (recorded, failed, d.figures()))
    except Exception as e:  # noqa: BLE001 - any failure must still stop every process
        print("ops/demo: %s" % e, file=sys.stderr, flush=True)
        rc = 1
    finally:
        killed = d.stop()
        left = [n for n, p in d.procs if p.poll() is None]
        d.say("stopped %d processes%s%s" % (
            len(d.procs), "; had to kill: " + ", ".join(killed) if killed else "",
            "; STILL RUNNING: " + ", ".join(left) if left else ""))
        if left:
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
