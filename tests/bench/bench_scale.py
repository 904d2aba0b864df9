#!/usr/bin/env python3
"""bench_scale — N commune agents at a steady rate against ONE real dk-aggregator (the scale check).

    python3 tests/bench/bench_scale.py [--agents N] [--rate R] [--duration S]
                                        [--baseline-agents B] [--no-baseline] [--keep]
                                        [--agg-heartbeat 600s] [--agg-nofile 1024]
                                        [--loadgen-arg=--zmq-heartbeat-ms=0 ...]

For each run (first a baseline of B agents, default 10, then N agents, default 3321: every commune of
Vietnam after 2025): generates N CURVE key pairs and a district config with N `[commune CODE]`
sections (codes 30000..), starts `dk-aggregator run` with RLIMIT_NOFILE raised to its hard limit (as
`ulimit -n` would), runs tests/tools/dk-loadgen (one process, N CURVE DEALER sockets speaking the real
session protocol), and while the generator runs samples the aggregator's CPU (/proc/PID/stat
utime+stime, and per thread), VmRSS/VmHWM, open file descriptors and disk writes, and what other
processes took of the machine (shared cores skew the latency tail). The aggregator runs with DK_LOG=debug
so its log yields group-commit statistics (commits/s, events per commit, commit ms). The measured
window is the generator's run phase (after the warm-up that connects and welcomes every agent, before
the drain).

At the end it checks that the aggregator stored exactly what the generator got acks for: per commune,
`dk-aggregator status --json` events == acks STORED and high_water == last seq sent; the snapshot
(dk-testclient, reader key) event count and measure sums equal the deterministic expected totals;
`dk-aggregator verify` passes. Exits 1 if any check fails (figures are printed, never judged).

Env: DK_BUILD (build dir), DK_SOURCE. Runs as ctest `bench_scale` (label bench), never in CI.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
import dkharness  # noqa: E402  (paths, free ports, keygen, expected events)

LOADGEN = os.path.join(dkharness.BUILD, "tests", "tools", "dk-loadgen")
CLK_TCK = os.sysconf("SC_CLK_TCK")
FIRST_CODE = 30000


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


AGG_NOFILE = [0]   # --agg-nofile: a soft limit to impose on the aggregator (0: raise to hard)


def raise_nofile():
    """preexec_fn: soft RLIMIT_NOFILE = hard (what `ulimit -n $(ulimit -Hn)` does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def agg_nofile():
    """preexec_fn for the aggregator: raise_nofile, or the soft limit --agg-nofile asks for (to
    show what a default `ulimit -n` of 1024 does)."""
    if AGG_NOFILE[0]:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(AGG_NOFILE[0], hard), hard))
    else:
        raise_nofile()


# ---- /proc sampling -----------------------------------------------------------------------------

def cpu_ticks(path):
    """utime+stime (clock ticks) from a /proc/.../stat file."""
    with open(path) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid):
    """{tid: (name, ticks)} for every thread of pid: "loop" (the main thread), "worker" (libuv
    pool), or the thread's comm (ZMQbg/IO/0: ZeroMQ's I/O thread, where CURVE runs)."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "comm")) as f:
                comm = f.read().strip()
            if int(tid) == pid:
                comm = "loop"
            elif comm == "dk-aggregator":
                comm = "worker"   # libuv threadpool: the LMDB commits
            out[tid] = (comm, cpu_ticks(os.path.join(base, tid, "stat")))
        except OSError:
            pass
    return out


def mem_kb(pid, what=("VmRSS", "VmHWM")):
    """The /proc/PID/status figures asked for (default VmRSS, VmHWM), in KiB."""
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":", 1)[0]
            if k in what:
                got[k] = int(line.split()[1])
    return tuple(got.get(k, 0) for k in what)


def write_bytes(pid):
    """Bytes the process caused to be written to storage (/proc/PID/io write_bytes)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine():
    """(busy ticks of all CPUs from /proc/stat, CPU pressure "some" total in µs from
    /proc/pressure/cpu or 0): to tell how much of the machine other processes took."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v) - v[3] - v[4]   # minus idle and iowait
    psi = 0
    try:
        with open("/proc/pressure/cpu") as f:
            psi = int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        pass
    return busy, psi


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def commit_stats(path, duration):
    """Group commits from the aggregator's debug log ("commit events=N ... ms=X"): count,
    events per commit and commit duration percentiles (commits with events only)."""
    evs, ms = [], []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace")
            if "commit events=" not in line or " ms=" not in line:
                continue
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            try:
                n, t = int(kv["events"]), float(kv["ms"])
            except (KeyError, ValueError):
                continue
            if n > 0:
                evs.append(n)
                ms.append(t)
    if not ms:
        return None
    ms_s, ev_s = sorted(ms), sorted(evs)

    def q(a, p):
        return a[min(len(a) - 1, int(p * len(a)))]
    return {"commits": len(ms), "per_s": len(ms) / duration, "events_mean": sum(evs) / len(evs),
            "events_max": ev_s[-1], "ms_p50": q(ms_s, 0.5), "ms_p99": q(ms_s, 0.99),
            "ms_max": ms_s[-1], "busy_pct": 100.0 * sum(ms) / 1000.0 / duration}


# ---- one run ------------------------------------------------------------------------------------

def write_config(d, n, server_key_file, reader_pub, port, pub_port, keys_path, heartbeat):
    lines = ["# generated by tests/bench/bench_scale.py", "[aggregator]", "unit = 663",
             "name = Huyện thử tải", "level = district",
             "data-dir = %s" % os.path.join(d, "data"),
             "bind = tcp://127.0.0.1:%d" % port, "publish = tcp://127.0.0.1:%d" % pub_port,
             "key-file = %s" % server_key_file] + (
                 ["heartbeat = %s" % heartbeat] if heartbeat else [])
    with open(keys_path) as f:
        for line in f:
            code, pub, _sec = line.split()
            lines += ["", "[commune %s]" % code, "name = Xã thử %s" % code,
                      "public-key = \"%s\"" % pub, "areas = 12"]
    lines += ["", "[reader bench]", "public-key = \"%s\"" % reader_pub, "role = monitor",
              "", "[http]", "enabled = no"]
    path = os.path.join(d, "aggregator.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_once(n, rate, duration, keep, opts):
    d = tempfile.mkdtemp(prefix="dkscale-%d-" % n)
    agg = gen = None
    result = {"agents": n, "ok": False, "errors": []}
    try:
        keys_dir = os.path.join(d, "keys")
        os.makedirs(keys_dir)
        server_key_file = os.path.join(keys_dir, "aggregator.key")
        server_pub = dkharness.keygen(server_key_file)
        reader_key_file = os.path.join(keys_dir, "reader.key")
        reader_pub = dkharness.keygen(reader_key_file)
        keys_path = os.path.join(keys_dir, "communes.keys")
        t = time.time()
        subprocess.run([LOADGEN, "keys", "--agents", str(n), "--first-code", str(FIRST_CODE),
                        "--out", keys_path], check=True, timeout=300)
        port, pub_port = dkharness.free_port(), dkharness.free_port()
        config = write_config(d, n, server_key_file, reader_pub, port, pub_port, keys_path,
                              opts.agg_heartbeat)
        log("N=%d: %d key pairs and config in %.1f s" % (n, n, time.time() - t))

        agg_log = open(os.path.join(d, "aggregator.log"), "wb")
        t = time.time()
        agg = subprocess.Popen([dkharness.AGGREGATOR, "-c", config, "run"], stdout=agg_log,
                               stderr=subprocess.STDOUT, preexec_fn=agg_nofile,
                               env=dict(os.environ, DK_LOG="debug"))
        agg_log.close()
        deadline = time.time() + 120
        while True:
            if agg.poll() is not None:
                raise RuntimeError("dk-aggregator exited %d at start (log %s)"
                                   % (agg.returncode, os.path.join(d, "aggregator.log")))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("dk-aggregator not ready in 120 s")
                time.sleep(0.05)
        result["agg_start_s"] = time.time() - t
        with open("/proc/%d/limits" % agg.pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    result["agg_nofile"] = int(line.split()[3])
        rss0, _ = mem_kb(agg.pid)
        result["rss_idle_kb"] = rss0
        log("N=%d: aggregator pid %d ready in %.2f s, RSS %d KiB, open files limit %s"
            % (n, agg.pid, result["agg_start_s"], rss0, result.get("agg_nofile")))

        argv = [LOADGEN, "run", "--endpoint", "tcp://127.0.0.1:%d" % port, "--server-key",
                server_pub, "--keys", keys_path, "--agents", str(n), "--rate", str(rate),
                "--duration", str(duration)] + opts.loadgen_args
        gen_err = open(os.path.join(d, "loadgen.err"), "wb")
        gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=gen_err, text=True,
                               preexec_fn=raise_nofile)
        gen_err.close()
        marks = {}
        lines = []

        def reader():
            for line in gen.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                marks[msg.get("phase")] = (time.time(), msg)
                lines.append(msg)
        th = threading.Thread(target=reader, daemon=True)
        th.start()

        samples = []          # (time, ticks, rss, fds) during the run phase
        at_start = at_stop = None
        t_gen = time.time()
        limit = 120 + duration + 90 + n / 100.0
        while gen.poll() is None or th.is_alive():
            if time.time() - t_gen > limit:
                raise RuntimeError("dk-loadgen did not finish in %.0f s" % limit)
            if agg.poll() is not None:
                raise RuntimeError("dk-aggregator died with %d during the run" % agg.returncode)
            now = time.time()
            ticks = cpu_ticks("/proc/%d/stat" % agg.pid)
            rss, hwm = mem_kb(agg.pid)
            if "welcomed" in marks and at_start is None:
                at_start = (now, ticks, thread_ticks(agg.pid), rss, nfds(agg.pid),
                            thread_ticks(gen.pid), write_bytes(agg.pid), machine(),
                            cpu_ticks("/proc/%d/stat" % gen.pid))
                log("N=%d: all agents welcomed after %.1f s; RSS %d KiB, %d open fds"
                    % (n, marks["welcomed"][1]["t"], rss, at_start[4]))
            if at_start and "stopped" not in marks:
                samples.append((now, ticks, rss))
            if "stopped" in marks and at_stop is None:
                at_stop = (now, ticks, thread_ticks(agg.pid), rss, nfds(agg.pid),
                           thread_ticks(gen.pid), write_bytes(agg.pid), machine(),
                           cpu_ticks("/proc/%d/stat" % gen.pid))
            time.sleep(0.25)
        th.join(5)
        summary = next((m for m in reversed(lines) if m.get("phase") == "summary"), None)
        if not summary:
            raise RuntimeError("dk-loadgen (exit %s) printed no summary; see %s"
                               % (gen.returncode, os.path.join(d, "loadgen.err")))
        result["loadgen_exit"] = gen.returncode
        result["summary"] = summary
        if not at_start or not at_stop:
            raise RuntimeError("the run phase was never reached (welcomed %s of %d)"
                               % (summary.get("welcomed"), n))
        wall = at_stop[0] - at_start[0]
        result["agg_cpu_pct"] = 100.0 * (at_stop[1] - at_start[1]) / CLK_TCK / wall
        per = {}
        for tid, (comm, t1) in at_stop[2].items():
            t0 = at_start[2].get(tid, (comm, 0))[1]
            per[comm] = per.get(comm, 0) + 100.0 * (t1 - t0) / CLK_TCK / wall
        result["agg_threads_pct"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
        per = {}
        for tid, (comm, t1) in at_stop[5].items():
            t0 = at_start[5].get(tid, (comm, 0))[1]
            per[comm] = per.get(comm, 0) + 100.0 * (t1 - t0) / CLK_TCK / wall
        result["loadgen_threads_pct"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
        result["rss_welcomed_kb"] = at_start[3]
        result["rss_max_kb"] = max(s[2] for s in samples) if samples else at_stop[3]
        result["rss_end_kb"] = at_stop[3]
        result["hwm_kb"] = mem_kb(agg.pid)[1]
        result["agg_fds"] = at_start[4]
        # What else ran: machine busy minus aggregator and generator (other people's tests share
        # the cores), and the share of time some task waited for a CPU (PSI).
        others = ((at_stop[7][0] - at_start[7][0]) - (at_stop[1] - at_start[1])
                  - (at_stop[8] - at_start[8]))
        result["others_cpu_pct"] = 100.0 * others / CLK_TCK / wall
        result["cpu_pressure_pct"] = (at_stop[7][1] - at_start[7][1]) / 1e4 / wall
        result["disk_write_mib_s"] = (at_stop[6] - at_start[6]) / 1048576.0 / wall
        acked = summary.get("acked_in_window") or 1
        result["disk_write_kib_per_event"] = (at_stop[6] - at_start[6]) / 1024.0 / acked
        # Anonymous memory (heap: ZeroMQ pipes and buffers, our caches) vs file pages (the LMDB map)
        result["rss_anon_kb"], result["rss_file_kb"] = mem_kb(agg.pid, ("RssAnon", "RssFile"))

        result["commits"] = commit_stats(os.path.join(d, "aggregator.log"), duration)

        # ---- the store holds exactly what was acked ------------------------------------------
        errors = result["errors"]
        if summary["welcomed"] != n:
            errors.append("only %d of %d agents welcomed" % (summary["welcomed"], n))
        if summary["unacked"]:
            errors.append("%d events never acknowledged" % summary["unacked"])
        if summary["rejected"] or summary["refusals"]:
            errors.append("%d rejected events, %d refusals"
                          % (summary["rejected"], summary["refusals"]))
        st = subprocess.run([dkharness.AGGREGATOR, "-c", config, "status", "--json"],
                            capture_output=True, text=True, timeout=300)
        if st.returncode != 0:
            errors.append("status exited %d: %s" % (st.returncode, st.stderr.strip()[-300:]))
        else:
            status = json.loads(st.stdout)
            units = {u["unit"]: u for u in status["units"]}
            bad = 0
            total = 0
            for code, first, last, stored in summary["communes"]:
                u = units.get(code)
                total += stored
                want_hw = last if last >= first else first - 1
                if not u or u["events"] != stored or u["high_water"] != want_hw:
                    if bad < 5:
                        errors.append("commune %d: store has events=%s high_water=%s, generator "
                                      "got %d acks STORED for seq %d..%d"
                                      % (code, u and u["events"], u and u["high_water"], stored,
                                         first, last))
                    bad += 1
            if bad:
                errors.append("%d communes differ between store and acks" % bad)
            if status["events"] != total or total != summary["stored"]:
                errors.append("store events %d, acked STORED %d (sum over communes %d)"
                              % (status["events"], summary["stored"], total))
            result["store_events"] = status["events"]
        snap = None
        r = subprocess.run([dkharness.TESTCLIENT, "snapshot", "--endpoint",
                            "tcp://127.0.0.1:%d" % port, "--server-key", server_pub,
                            "--key-file", reader_key_file, "--timeout", "30000"],
                           capture_output=True, text=True, timeout=300)
        try:
            snap = json.loads(r.stdout)
        except ValueError:
            snap = None
        if r.returncode != 0 or not snap or snap.get("type") != "snapshot":
            errors.append("snapshot failed (%d): %s %s" % (r.returncode, r.stdout[-200:],
                                                            r.stderr[-200:]))
        else:
            want = dkharness.expected_totals(
                [(c, f, l) for c, f, l, _s in summary["communes"] if l >= f])
            got = snap["sums"]
            diff = [(m, want.get(m, 0), got[m]) for m in range(len(got)) if got[m] != want.get(m, 0)]
            if snap["events"] != summary["stored"] or diff:
                errors.append("snapshot events %d (acked %d), measure differences %s"
                              % (snap["events"], summary["stored"], diff[:4]))
        t = time.time()
        v = subprocess.run([dkharness.AGGREGATOR, "-c", config, "verify"], capture_output=True,
                           text=True, timeout=600)
        result["verify_s"] = time.time() - t
        if v.returncode != 0:
            errors.append("verify exited %d: %s" % (v.returncode, (v.stdout + v.stderr)[-300:]))
        result["ok"] = not errors
        return result
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        result["errors"].append(str(e))
        return result
    finally:
        for p in (gen, agg):
            if p is not None and p.poll() is None:
                if p is agg:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                        result["errors"].append("dk-aggregator did not stop within 30 s")
                else:
                    p.kill()
                    p.wait()
        if agg is not None and agg.returncode not in (0, None, -signal.SIGTERM):
            result["errors"].append("dk-aggregator exited %d" % agg.returncode)
        if result["errors"] or keep:
            log("N=%d: kept %s" % (n, d))
            try:
                with open(os.path.join(d, "aggregator.log"), "rb") as f:
                    tail = f.read().decode("utf-8", "replace").splitlines()
                warns = [l for l in tail if " warn" in l.lower() or "error" in l.lower()]
                for l in warns[-10:]:
                    print("  agg: " + l)
            except OSError:
                pass
        else:
            shutil.rmtree(d, ignore_errors=True)


def row(r):
    s = r.get("summary") or {}
    lat = s.get("latency_ms", {})
    return ("%6d  %9.1f  %7.1f %7.1f %7.1f %8.1f  %6.1f %%  %8.1f  %8.1f  %7.1f %%  %s"
            % (r["agents"], s.get("acked_per_s", 0), lat.get("p50", 0), lat.get("p95", 0),
               lat.get("p99", 0), lat.get("max", 0), r.get("agg_cpu_pct", 0),
               r.get("rss_max_kb", 0) / 1024.0, r.get("hwm_kb", 0) / 1024.0,
               s.get("loadgen_cpu_pct", 0), "ok" if r["ok"] else "FAILED"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=3321)
    ap.add_argument("--rate", type=float, default=1.0, help="events/s per agent")
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds per run")
    ap.add_argument("--baseline-agents", type=int, default=10)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--agg-heartbeat", default="",
                    help="[aggregator] heartbeat in the generated config (e.g. 600s; default: "
                         "the aggregator's default)")
    ap.add_argument("--loadgen-arg", action="append", default=[], dest="loadgen_args",
                    help="extra dk-loadgen run argument (repeat), e.g. --loadgen-arg=--batch=1")
    ap.add_argument("--agg-nofile", type=int, default=0,
                    help="soft RLIMIT_NOFILE for the aggregator (default: raised to the hard "
                         "limit); e.g. 1024 to see the limit a default shell gives")
    a = ap.parse_args()
    AGG_NOFILE[0] = a.agg_nofile
    for b in (dkharness.AGGREGATOR, dkharness.TESTCLIENT, LOADGEN):
        if not os.access(b, os.X_OK):
            print("FAIL: not built: " + b, file=sys.stderr)
            return 1
    runs = []
    if not a.no_baseline:
        runs.append(run_once(a.baseline_agents, a.rate, a.duration, a.keep, a))
    runs.append(run_once(a.agents, a.rate, a.duration, a.keep, a))
    print()
    print("scale: %g event/s per agent, %g s measured per run, %d cores" %
          (a.rate, a.duration, os.cpu_count()))
    print("agents  acked ev/s  ack ms: p50     p95     p99      max  agg CPU  RSS max MiB  "
          "HWM MiB  loadgen CPU")
    for r in runs:
        print(row(r))
    for r in runs:
        if r.get("agg_threads_pct"):
            print("N=%d aggregator threads (%% of one core): %s; fds %s; RSS idle %.1f, welcomed "
                  "%.1f MiB, at the end anon %.1f + file (LMDB map) %.1f MiB"
                  % (r["agents"], ", ".join("%s %.1f" % kv for kv in r["agg_threads_pct"].items()),
                     r.get("agg_fds"), r.get("rss_idle_kb", 0) / 1024.0,
                     r.get("rss_welcomed_kb", 0) / 1024.0, r.get("rss_anon_kb", 0) / 1024.0,
                     r.get("rss_file_kb", 0) / 1024.0))
        if r.get("loadgen_threads_pct"):
            print("N=%d loadgen threads (%% of one core): %s" % (r["agents"], ", ".join(
                "%s %.1f" % kv for kv in r["loadgen_threads_pct"].items())))
        c = r.get("commits")
        if c:
            print("N=%d group commits: %d (%.0f/s), %.1f events each (max %d), commit ms p50 %.1f "
                  "p99 %.1f max %.1f, worker busy %.0f %%" % (
                      r["agents"], c["commits"], c["per_s"], c["events_mean"], c["events_max"],
                      c["ms_p50"], c["ms_p99"], c["ms_max"], c["busy_pct"]))
        if "others_cpu_pct" in r:
            print("N=%d machine: other processes used %.0f %% of one core during the window; some "
                  "task waited for a CPU %.0f %% of the time (PSI)"
                  % (r["agents"], r["others_cpu_pct"], r["cpu_pressure_pct"]))
        if "disk_write_mib_s" in r:
            print("N=%d aggregator disk writes: %.1f MiB/s, %.1f KiB per acked event"
                  % (r["agents"], r["disk_write_mib_s"], r["disk_write_kib_per_event"]))
        s = r.get("summary")
        if s:
            print("N=%d loadgen: warm-up %.1f s, %d recorded, %d acked (%d in window), "
                  "%d batches, %d resends, %d eagain, %d heartbeats/%d acks, drain %.1f s, "
                  "%d rescued wake-ups"
                  % (r["agents"], s["warmup_s"], s["recorded"], s["stored"] + s["duplicate"],
                     s["acked_in_window"], s["sent_batches"], s["resends"], s["eagain"],
                     s["heartbeats"], s["heartbeat_acks"], s["drain_s"], s.get("rescued", 0)))
    if len(runs) == 2 and all(r.get("summary") for r in runs):
        b, m = runs
        bl, ml = b["summary"]["latency_ms"], m["summary"]["latency_ms"]

        def ratio(x, y):
            return x / y if y else float("nan")
        print("ratio N=%d / N=%d: agents x%.0f, events/s x%.1f, p50 x%.2f, p99 x%.2f, CPU x%.1f, "
              "RSS x%.1f" % (m["agents"], b["agents"], m["agents"] / b["agents"],
                             ratio(m["summary"]["acked_per_s"], b["summary"]["acked_per_s"]),
                             ratio(ml["p50"], bl["p50"]), ratio(ml["p99"], bl["p99"]),
                             ratio(m.get("agg_cpu_pct", 0), b.get("agg_cpu_pct", 0)),
                             ratio(m.get("rss_max_kb", 0), b.get("rss_max_kb", 0))))
    failed = False
    for r in runs:
        for e in r["errors"]:
            print("FAIL N=%d: %s" % (r["agents"], e), file=sys.stderr)
            failed = True
    print(json.dumps([{k: v for k, v in r.items() if k != "summary"} |
                      {"latency_ms": (r.get("summary") or {}).get("latency_ms")} for r in runs]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
