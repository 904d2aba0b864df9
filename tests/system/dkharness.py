"""dkharness — run a real dk-aggregator for system tests (python3 stdlib only).

Usage:
    import sys, os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from dkharness import Aggregator, fail

    with Aggregator(communes=[24664, 24667], readers=["province"]) as agg:
        agg.start()
        r = agg.send(24664, events=500, batch=50)        # dk-testclient send, parsed JSON
        snap = agg.snapshot()                              # dk-testclient snapshot, parsed JSON
        agg.kill(); agg.start()                            # SIGKILL and restart on the same data
        assert agg.verify().returncode == 0

Everything lives in a temporary folder (keys, config, data, logs) that is removed on exit (kept
when DK_KEEP=1). Every process started is killed on exit, also when the test fails. Only
127.0.0.1 and free ports are used. Binaries come from $DK_BUILD (the ctest build tree).

Deterministic events: dk-testclient builds event (commune, seq) with expected_event(); tests can
compute exact expected totals with expected_totals().
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("DK_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
SOURCE = os.environ.get("DK_SOURCE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
AGGREGATOR = os.path.join(BUILD, "aggregator", "dk-aggregator")
TESTCLIENT = os.path.join(BUILD, "tests", "tools", "dk-testclient")
# The programs were built with ASan+UBSan (ctest passes the CMake option DK_SANITIZE: ON/OFF).
SANITIZED = os.environ.get("DK_SANITIZE", "").upper() in ("1", "ON", "TRUE", "YES")

# Measures by index (proto enum Measure).
M_EVENTS, M_SESSIONS, M_PARTICIPANTS, M_ITEMS = 0, 1, 2, 3
M_AMOUNT, M_HOUSEHOLDS = 9, 15

# Real Đắk Mil communes (unit 663) for names; codes beyond the list are made up per test.
DAK_MIL = {
    24664: "Thị trấn Đắk Mil", 24667: "Xã Đắk Lao", 24670: "Xã Đắk R'La",
    24673: "Xã Đắk Gằn", 24676: "Xã Đức Mạnh", 24677: "Xã Đắk N'Drót",
    24678: "Xã Long Sơn", 24679: "Xã Đắk Sắk", 24682: "Xã Thuận An", 24685: "Xã Đức Minh",
}


def fail(msg):
    """Prints msg and exits 1 (a failed system test)."""
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path):
    """Writes a CURVE key pair at path (+ .pub) with `dk-aggregator keygen FILE`; returns the
    public key (Z85)."""
    r = subprocess.run([AGGREGATOR, "keygen", path], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail("keygen %s: %s" % (path, r.stderr.strip()))
    pub = r.stdout.strip().split()[-1]
    if len(pub) != 40:
        fail("keygen printed %r" % r.stdout)
    return pub


# ---- deterministic events (mirror of dk-testclient's make_event) ------------------------------

def expected_event(commune, seq):
    """The measures dk-testclient puts into event (commune, seq): a dict with 'date', 'area',
    'fund' (bool) and the measures it adds (by Measure index)."""
    month = 1 + seq % 12
    day = 1 + seq % 28
    date = 20230000 + month * 100 + day
    area = 1 + seq % 5
    if seq % 4 == 0:
        amount = 10000 * (1 + (seq * 7 + commune) % 500)
        return {"date": date, "area": area, "fund": True,
                "m": {M_EVENTS: 1, M_AMOUNT: amount}}
    sessions = 1 + seq % 3
    participants = 10 + (seq * 13 + commune) % 90
    return {"date": date, "area": area, "fund": False,
            "m": {M_EVENTS: 1, M_SESSIONS: sessions, M_PARTICIPANTS: participants}}


def expected_totals(ranges, corrections=0, voids=0):
    """Sum of measures over ranges [(commune, first_seq, last_seq), ...]: {measure: total}.
    corrections/voids: as dk-testclient send --corrections K --voids K for each range (every
    K-th event corrected: +1000 participants or +5,000 đ; voided: counts nothing)."""
    tot = {}
    for commune, first, last in ranges:
        for seq in range(first, last + 1):
            i = seq - first
            if voids and i % voids == 0:
                continue
            m = dict(expected_event(commune, seq)["m"])
            if corrections and i % corrections == corrections - 1:
                if M_AMOUNT in m:
                    m[M_AMOUNT] += 5000
                else:
                    m[M_PARTICIPANTS] += 1000
            for k, v in m.items():
                tot[k] = tot.get(k, 0) + v
    return tot


def extra_events(count, corrections=0, voids=0):
    """How many corrections and voids dk-testclient appends after `count` base events."""
    n = 0
    for i in range(count):
        if corrections and i % corrections == corrections - 1:
            n += 1
        if voids and i % voids == 0:
            n += 1
    return n


class Aggregator:
    """One dk-aggregator with its own keys, config, data folder and log, on free loopback ports.

    communes: list of commune codes (or (code, areas) tuples); readers: list of reader names.
    settings: extra [aggregator] keys (e.g. {"commit-window": "2ms"}); extra_ini: text appended
    to the config (e.g. [child NAME] sections). http=True serves the dashboard on a free port
    (self.http_url); otherwise [http] enabled = no. Keys: self.server_public, self.commune_key[code] ->
    (secret file, public), self.reader_key[name] -> (secret file, public), self.stranger_key (a
    key pair that is in no config)."""

    def __init__(self, communes=(24664,), readers=("province",), settings=None, extra_ini="",
                 unit=663, name="Huyện Đắk Mil", publish=True, http=False, tmp=None,
                 level="district"):
        self.dir = tmp or tempfile.mkdtemp(prefix="dkagg-")
        self.keys_dir = os.path.join(self.dir, "keys")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.keys_dir, exist_ok=True)
        self.config = os.path.join(self.dir, "aggregator.ini")
        self.log_path = os.path.join(self.dir, "aggregator.log")
        self.port = free_port()
        self.pub_port = free_port() if publish else None
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.pub_endpoint = "tcp://127.0.0.1:%d" % self.pub_port if publish else ""
        self.unit, self.name, self.level = unit, name, level
        # The dashboard: off unless asked for (then on a free port: self.http_url).
        self.http = http
        self.http_port = free_port() if http else None
        self.http_url = "http://127.0.0.1:%d" % self.http_port if http else None
        self.settings = dict(settings or {})
        self.extra_ini = extra_ini
        self.proc = None
        self.procs = []          # every other process started (clients)
        self.starts = 0
        self.server_key_file = os.path.join(self.keys_dir, "aggregator.key")
        self.server_public = keygen(self.server_key_file)
        self.communes = {}
        for c in communes:
            code, areas = (c if isinstance(c, tuple) else (c, 12))
            self.communes[code] = areas
        self.commune_key = {}
        for code in self.communes:
            path = os.path.join(self.keys_dir, "commune-%d.key" % code)
            self.commune_key[code] = (path, keygen(path))
        self.readers = list(readers)
        self.reader_key = {}
        for r in self.readers:
            path = os.path.join(self.keys_dir, "reader-%s.key" % r)
            self.reader_key[r] = (path, keygen(path))
        path = os.path.join(self.keys_dir, "stranger.key")
        self.stranger_key = (path, keygen(path))
        self.write_config()

    # ---- config -----------------------------------------------------------------------------
    def add_commune(self, code, areas=12):
        """Adds a commune with a fresh key to the config file (call reload() to apply)."""
        path = os.path.join(self.keys_dir, "commune-%d.key" % code)
        if code not in self.commune_key:
            self.commune_key[code] = (path, keygen(path))
        self.communes[code] = areas
        self.write_config()

    def remove_commune(self, code):
        self.communes.pop(code, None)
        self.write_config()

    def config_text(self):
        lines = ["# generated by tests/system/dkharness.py", "[aggregator]",
                 "unit = %d" % self.unit, "name = %s" % self.name, "level = %s" % self.level,
                 "data-dir = %s" % self.data_dir, "bind = %s" % self.endpoint,
                 "publish = %s" % self.pub_endpoint, "key-file = %s" % self.server_key_file,
                 "organisers = Hội Nông dân, Hội Liên hiệp Phụ nữ, Đoàn Thanh niên, Hội Cựu chiến binh"]
        for k, v in self.settings.items():
            lines.append("%s = %s" % (k, v))
        for code, areas in self.communes.items():
            lines += ["", "[commune %d]" % code,
                      "name = %s" % DAK_MIL.get(code, "Xã thử %d" % code),
                      "public-key = \"%s\"" % self.commune_key[code][1], "areas = %d" % areas]
        for r in self.readers:
            lines += ["", "[reader %s]" % r, "public-key = \"%s\"" % self.reader_key[r][1],
                      "role = province"]
        if self.http:
            lines += ["", "[http]", "enabled = yes", "bind = 127.0.0.1",
                      "port = %d" % self.http_port]
        elif "[http]" not in self.extra_ini:
            lines += ["", "[http]", "enabled = no"]
        return "\n".join(lines) + "\n" + self.extra_ini

    def write_config(self):
        tmp = self.config + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.config_text())
        os.replace(tmp, self.config)

    # ---- the daemon -------------------------------------------------------------------------
    def start(self, wait=True, timeout=30, env=None, wrap=(), preexec=None, note=""):
        """Starts `dk-aggregator -c CONFIG run` (under the command line wrap, e.g. strace, if
        given; preexec runs in the child before exec); with wait, returns once it is ready
        (wait_ready; fails the test if the process dies first). note goes in the log's marker."""
        if self.proc and self.proc.poll() is None:
            fail("aggregator already running")
        logf = open(self.log_path, "ab")
        logf.write(("---- start %d%s ----\n" % (self.starts + 1, note)).encode())
        logf.flush()
        self.log_offset = logf.tell()   # where this start's lines begin (wait_ready)
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(list(wrap) + [AGGREGATOR, "-c", self.config, "run"],
                                     stdout=logf, stderr=subprocess.STDOUT, env=e,
                                     preexec_fn=preexec)
        logf.close()
        self.starts += 1
        if wait:
            self.wait_ready(timeout)
        return self.proc

    def wait_ready(self, timeout=30):
        """Waits until this start has logged "[main] ready" (sockets bound, dashboard listening,
        signal handlers installed: a SIGHUP before that would kill it) and the ROUTER port
        accepts connections; fails the test if the process dies first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.dump_log()
                fail("dk-aggregator exited with %d during start" % self.proc.returncode)
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                ready = b" [main] ready " in f.read()
            if ready:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.dump_log()
        fail("dk-aggregator not ready within %ds" % timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def reload(self):
        """SIGHUP: the daemon rereads the config (keys)."""
        self.signal(signal.SIGHUP)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code (fails the test on a hang: kills it)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.dump_log()
                fail("dk-aggregator did not stop within %ds of SIGTERM" % timeout)
        return self.proc.returncode

    def kill(self):
        """SIGKILL and reap."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def dump_log(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            print("---- aggregator log (tail) ----\n" + "\n".join(tail), file=sys.stderr)
        except OSError:
            pass

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # ---- subcommands ------------------------------------------------------------------------
    def cli(self, *args, timeout=120):
        """Runs `dk-aggregator -c CONFIG ARGS...`; returns the CompletedProcess (text)."""
        return subprocess.run([AGGREGATOR, "-c", self.config] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def status(self):
        return self.cli("status")

    def verify(self):
        return self.cli("verify")

    # ---- dk-testclient ----------------------------------------------------------------------
    def client_args(self, cmd, commune=None, reader=None, key_file=None):
        if key_file is None:
            if commune is not None:
                key_file = self.commune_key[commune][0]
            elif reader is not None:
                key_file = self.reader_key[reader][0]
            else:
                key_file = self.reader_key[self.readers[0]][0]
        return [TESTCLIENT, cmd, "--endpoint", self.endpoint, "--server-key", self.server_public,
                "--key-file", key_file]

    def client(self, cmd, *args, commune=None, reader=None, key_file=None, timeout=300,
               check=True):
        """Runs dk-testclient CMD with the keys of commune/reader (or key_file) and returns
        (returncode, parsed JSON of stdout or None, stderr)."""
        argv = self.client_args(cmd, commune, reader, key_file) + [str(a) for a in args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        data = None
        try:
            data = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            data = None
        if check and r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            fail("dk-testclient %s exited %d: %s" % (cmd, r.returncode, r.stdout[-500:]))
        return r.returncode, data, r.stderr

    def spawn_client(self, cmd, *args, commune=None, reader=None, key_file=None):
        """Starts dk-testclient in the background (stdout/stderr to files); returns the Popen
        with .out_path and .err_path. Killed at cleanup if still running."""
        argv = self.client_args(cmd, commune, reader, key_file) + [str(a) for a in args]
        n = len(self.procs)
        out_path = os.path.join(self.dir, "client-%d.out" % n)
        err_path = os.path.join(self.dir, "client-%d.err" % n)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen(argv, stdout=out, stderr=err)
        p.out_path, p.err_path = out_path, err_path
        self.procs.append(p)
        return p

    @staticmethod
    def client_result(p):
        """Parsed JSON stdout of a finished spawn_client process (None if none)."""
        with open(p.out_path) as f:
            text = f.read()
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            return None

    def send(self, commune, events, batch=100, first_seq=1, *extra, as_commune=None, check=True,
             timeout=300):
        """dk-testclient send for commune's events first_seq..first_seq+events-1 with commune's
        key (or as_commune's key, to test spoofing). Returns the parsed JSON summary."""
        key_owner = as_commune if as_commune is not None else commune
        rc, data, err = self.client("send", "--commune", commune, "--events", events, "--batch",
                                    batch, "--first-seq", first_seq, *extra,
                                    commune=key_owner, timeout=timeout, check=check)
        return data if check else (rc, data, err)

    def snapshot(self, reader=None, since=None, cells=False):
        args = []
        if since is not None:
            args += ["--since", since]
        if cells:
            args.append("--cells")
        rc, data, _ = self.client("snapshot", *args, reader=reader or self.readers[0])
        return data

    # ---- cleanup ----------------------------------------------------------------------------
    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("DK_KEEP") == "1":
            print("kept " + self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit:
            self.dump_log()
        elif exc_type is SystemExit and exc is not None and exc.code not in (0, None):
            self.dump_log()
        self.cleanup()
        return False



# ---- the HTTP API of an aggregator started with [http] (agg.http_url) ------------------------------

def http(agg, method, path, headers=None):
    """(status, parsed JSON body — or the text when it is not JSON) of METHOD agg.http_url + path."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(agg.http_url + path, method=method, headers=headers or {})
    if method == "POST":
        req.data = b""
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body


def get(agg, path):
    st, body = http(agg, "GET", path)
    if st != 200:
        fail("GET %s -> %d %s" % (path, st, body))
    return body


def pull(agg, name):
    """POST /api/v1/children/NAME/pull: the parent pulls that child now."""
    st, body = http(agg, "POST", "/api/v1/children/%s/pull" % name)
    if st != 202:
        fail("POST /api/v1/children/%s/pull -> %d %s" % (name, st, body))


def child(agg, name):
    for c in get(agg, "/api/v1/children")["children"]:
        if c["name"] == name:
            return c
    fail("GET /api/v1/children has no child %r" % name)


def units(agg):
    return {u["unit"]: u for u in get(agg, "/api/v1/units")["units"]}


def wait_for(what, pred, aggs, timeout=40, step=0.3):
    """Polls pred() -> (ok, last) until ok; on timeout dumps the logs of aggs (one or a list)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = pred()
        if ok:
            return last
        time.sleep(step)
    for a in (aggs if isinstance(aggs, (list, tuple)) else [aggs]):
        a.dump_log(30)
    fail("%s: still %s" % (what, json.dumps(last, ensure_ascii=False)[:2000]))

def check_binaries():
    for b in (AGGREGATOR, TESTCLIENT):
        if not os.access(b, os.X_OK):
            fail("not built: " + b)
