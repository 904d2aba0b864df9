"""agentharness — run real dk-agent processes against a dkharness.Aggregator (python3 stdlib).

    with Aggregator(communes=[24664]) as agg:
        agg.start()
        a = Agent(agg, 24664)
        a.import_rows(range(1, 101))     # CSV of training events, participants = the given values
        a.start()                         # dk-agent run
        a.wait_drained(agg, expected_events=100)

Events are training sessions whose participants figure identifies them, so a test can compute
exact totals (sum of participants, number of events) and compare them with a snapshot.
"""
import os
import signal
import subprocess
import time

from dkharness import BUILD, fail, log

AGENT = os.path.join(BUILD, "agents", "dk-agent")


def training_csv(values, delim=",", bom=True, crlf=True, title="Tập huấn"):
    eol = "\r\n" if crlf else "\n"
    lines = [delim.join(["Ngày", "Loại hoạt động", "Số buổi", "Số lượt người", "Tiêu đề"])]
    for v in values:
        lines.append(delim.join(["18/11/2023", "Tập huấn", "1", str(v), "%s %d" % (title, v)]))
    return ("\ufeff" if bom else "") + eol.join(lines) + eol


class Agent:
    def __init__(self, agg, commune, name=None, key_file=None, endpoint=None, settings=None):
        self.agg = agg
        self.commune = commune
        self.dir = os.path.join(agg.dir, name or "agent-%d" % commune)
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = os.path.join(self.dir, "data")
        self.inbox = os.path.join(self.dir, "inbox")
        self.config = os.path.join(self.dir, "agent.ini")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.key_file = key_file or agg.commune_key[commune][0]
        self.endpoint = endpoint or agg.endpoint
        self.settings = {"heartbeat": "1s", "ack-timeout": "3s", "retry-max": "2s",
                         "rescan": "500ms"}
        self.settings.update(settings or {})
        self.proc = None
        self.write_config()

    def write_config(self):
        lines = ["[agent]", "commune = %d" % self.commune, "name = Xã thử %d" % self.commune,
                 "data-dir = %s" % self.data_dir, "inbox = %s" % self.inbox,
                 "aggregator = %s" % self.endpoint, "server-key = %s" % self.agg.server_public,
                 "key-file = %s" % self.key_file]
        lines += ["%s = %s" % kv for kv in self.settings.items()]
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def cli(self, *args, check=True, timeout=60):
        r = subprocess.run([AGENT, "-c", self.config] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            fail("dk-agent %s exited %d:\n%s\n%s" % (" ".join(map(str, args)), r.returncode,
                                                    r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def status(self):
        return self.cli("status").stdout

    def waiting(self):
        out = self.status()
        for line in out.splitlines():
            if line.startswith("Bản ghi đang chờ gửi:"):
                return int(line.split(":")[1])
        fail("dk-agent status printed no waiting count:\n" + out)

    def drained(self):
        """Nothing left to send: no CSV in the inbox, then nothing waiting. In that order: a file
        leaves the inbox only after its rows are committed, so once it is gone its rows are seen
        by the count that follows (the other order misses a file imported in between)."""
        if [x for x in os.listdir(self.inbox) if x.lower().endswith(".csv")]:
            return False
        return self.waiting() == 0

    def record_training(self, participants):
        r = self.cli("record", "activity", "--date", "18/11/2023", "--kind", "tap huan",
                     "--sessions", "1", "--participants", participants)
        first = r.stdout.splitlines()[0]
        return int(first.split("số ")[1].split()[0])

    def write_csv(self, name, values, **kw):
        """Writes a CSV into the inbox the way scripts should: temp name, then rename."""
        os.makedirs(self.inbox, exist_ok=True)
        tmp = os.path.join(self.inbox, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(training_csv(values, **kw))
        os.rename(tmp, os.path.join(self.inbox, name))

    def import_rows(self, values, name="rows.csv", **kw):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(training_csv(values, **kw))
        return self.cli("import", path)

    def start(self, wrap=()):
        """Starts `dk-agent run` (wrap: a command line to run it under, e.g. strace)."""
        if self.proc and self.proc.poll() is None:
            fail("agent already running")
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(list(wrap) + [AGENT, "-c", self.config, "run"], stdout=logf,
                                     stderr=subprocess.STDOUT)
        logf.close()
        self.agg.procs.append(self.proc)   # killed at the harness's cleanup
        return self.proc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=20):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.dump_log()
                fail("dk-agent did not stop within %ds of SIGTERM" % timeout)
            if self.proc.returncode != 0:
                self.dump_log()
                fail("dk-agent exited %d after SIGTERM" % self.proc.returncode)

    def dump_log(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            print("---- agent %d log (tail) ----\n%s" % (self.commune, "\n".join(tail)))
        except OSError:
            pass


def unit_state(snap, commune):
    for u in (snap or {}).get("units", []):
        if u["unit"] == commune:
            return u
    return None


def wait_until(pred, timeout, what, agents=(), agg=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.3)
    for a in agents:
        a.dump_log()
        print(a.cli("status", check=False).stdout)
    if agg:
        agg.dump_log()
    fail("timed out after %ds waiting for %s" % (timeout, what))


def check_totals(agg, expected_events, expected_participants):
    snap = agg.snapshot()
    sums = snap["sums"]
    if sums[0] != expected_events or sums[2] != expected_participants:
        fail("totals: events %d (want %d), participants %d (want %d)" %
             (sums[0], expected_events, sums[2], expected_participants))
    r = agg.verify()
    if r.returncode != 0:
        fail("dk-aggregator verify exited %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
    log("totals exact: events=%d participants=%d" % (sums[0], sums[2]))
    return snap
