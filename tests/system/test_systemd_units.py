#!/usr/bin/env python3
"""The systemd units of ops/systemd hold for the programs as built (issue 6, deployment).

1. `systemd-analyze verify` has nothing to say about any unit (unknown keys, bad values, a timer
   without its service...), with ExecStart pointed at the build tree.
2. Every system call that dk-aggregator and dk-agent make in a realistic session is allowed by
   the SystemCallFilter= lines of their unit. A call outside the filter kills the daemon with
   SIGSYS in production, at the first time it is made, which may be hours after the start. The
   session, each daemon under `strace -f`: a district with the dashboard and two agents (one
   importing a CSV from its inbox, one sending recorded events), a province pulling the district,
   the dashboard's API and an .xlsx export over HTTP, a reader's snapshot, SIGHUP (config reload)
   and SIGTERM (clean stop). The allowed set is read from the unit files and expanded with
   `systemd-analyze syscall-filter`, so the test follows any edit of the units.

Needs systemd-analyze and strace (ops/deps installs both). Run on the normal build: the
sanitizers' own runtime makes calls the production programs never make.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import (AGGREGATOR, SANITIZED, SOURCE, Aggregator, check_binaries,  # noqa
                       child, fail, get, log, wait_for)
from agentharness import AGENT, Agent, check_totals, wait_until  # noqa: E402

UNITS = os.path.join(SOURCE, "ops", "systemd")
INSTALLED = {"/usr/local/bin/dk-aggregator": AGGREGATOR, "/usr/local/bin/dk-agent": AGENT,
             "/usr/local/lib/doanket/backup": os.path.join(SOURCE, "ops", "backup")}


def need(tool):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin"]:
        if os.access(os.path.join(d, tool), os.X_OK):
            return os.path.join(d, tool)
    fail("%s is not installed (ops/deps installs it)" % tool)


def verify_units(tmp):
    """systemd-analyze verify of every unit, rewritten to run the built programs."""
    units = sorted(f for f in os.listdir(UNITS) if f.endswith((".service", ".timer")))
    if not units:
        fail("no units in " + UNITS)
    for name in units:
        with open(os.path.join(UNITS, name), encoding="utf-8") as f:
            text = f.read()
        for installed, built in INSTALLED.items():
            text = text.replace(installed, os.path.abspath(built))
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
            f.write(text)
    paths = [os.path.join(tmp, n) for n in units]
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + paths, capture_output=True,
                       text=True, timeout=60)
    said = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    if r.returncode != 0 or said:
        fail("systemd-analyze verify %s exited %d:\n%s" % (" ".join(units), r.returncode,
                                                           "\n".join(said)))
    log("systemd-analyze verify: %s clean" % ", ".join(units))


def syscall_groups():
    """{"@name": [members (syscalls and @groups)]} from `systemd-analyze syscall-filter`."""
    r = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        fail("systemd-analyze syscall-filter exited %d: %s" % (r.returncode, r.stderr))
    groups, cur = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
    if "@system-service" not in groups or "@default" not in groups:
        fail("systemd-analyze syscall-filter listed no @system-service/@default group")
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            if n not in groups:
                fail("unknown system call group %s in a unit" % n)
            out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


def allowed_calls(unit, groups):
    """The calls a unit's SystemCallFilter= lines let through (systemd semantics: the first
    allow-list line starts from nothing, each `~` line removes; @default is always allowed)."""
    allow, deny, lines = set(), set(), 0
    with open(os.path.join(UNITS, unit), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*SystemCallFilter\s*=\s*(.*)$", line)
            if not m:
                continue
            lines += 1
            v = m.group(1).strip()
            if lines == 1 and v.startswith("~"):
                fail("%s: a deny-list first (everything else allowed) is not what this test "
                     "models; start with an allow-list" % unit)
            if v.startswith("~"):
                calls = expand(v[1:].split(), groups)
                deny |= calls
                allow -= calls
            else:
                calls = expand(v.split(), groups)
                allow |= calls
                deny -= calls
    if lines == 0:
        fail("%s has no SystemCallFilter= line" % unit)
    return (allow | expand(["@default"], groups)) - (deny - expand(["@default"], groups))


def unit_setting(unit, key):
    """The last value of KEY= in a unit file ('' if absent)."""
    val = ""
    with open(os.path.join(UNITS, unit), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*%s\s*=\s*(.*)$" % re.escape(key), line)
            if m:
                val = m.group(1).strip()
    return val


CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_][a-z0-9_]*)(?:\(| resumed>)")


def read_trace(path):
    """From an `strace -f -qq` log: (names of the calls made, {family: a line} of the sockets
    created successfully, [lines that map memory writable+executable or make it executable])."""
    calls, families, wx, pending = set(), {}, [], {}
    ok = re.compile(r"= \d+\s*$|\[\d+, \d+\]\) = 0\s*$")
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = CALL.match(line)
            if not m:
                continue
            name = m.group(1)
            calls.add(name)
            if name in ("socket", "socketpair"):
                # a call another thread interrupted: "socket(AF_X, ... <unfinished ...>", then
                # "<... socket resumed>) = 7" on a later line of the same thread
                pid = line.split()[0]
                fm = re.search(r"\((AF_[A-Z0-9]+)", line)
                fam = fm.group(1) if fm else pending.pop(pid, None)
                if line.rstrip().endswith("<unfinished ...>"):
                    pending[pid] = fam
                elif fam and ok.search(line):
                    families.setdefault(fam, line.strip())
            elif name in ("mmap", "mprotect", "pkey_mprotect") and "PROT_EXEC" in line:
                if name != "mmap" or "PROT_WRITE" in line:
                    wx.append(line.strip())
    if len(calls) < 10:
        fail("strace log %s lists only %d calls: %s" % (path, len(calls), sorted(calls)))
    return calls, families, wx


class Traced:
    """A daemon started under `strace -f -qq -o FILE`: signals go to the program itself (strace
    with -o blocks fatal signals), and it is killed with its tracer on any failure."""

    def __init__(self, tmp, name):
        self.out = os.path.join(tmp, name + ".strace")
        self.wrap = ["strace", "-f", "-qq", "-o", self.out]
        self.pid = None
        self.proc = None

    def attach(self, proc, program):
        """Finds the traced program: the child of strace that runs it (strace forks helpers of
        its own first, and the tracee is strace itself until it has called execve)."""
        self.proc = proc
        want = os.path.realpath(program)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                kids = []
            for k in kids:
                try:
                    if os.path.realpath("/proc/%d/exe" % k) == want:
                        self.pid = k
                        return
                except OSError:
                    pass
            if proc.poll() is not None:
                fail("strace exited %d before starting %s" % (proc.returncode, program))
            time.sleep(0.02)
        fail("strace did not start " + program)

    def signal(self, sig):
        if self.proc.poll() is not None:
            fail("%s: the traced program has ended (exit %d)" % (self.out, self.proc.returncode))
        os.kill(self.pid, sig)

    def stop(self, what):
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            fail("%s did not stop within 60 s of SIGTERM" % what)
        if rc != 0:
            fail("%s exited %d after SIGTERM (a call refused by the filter would be SIGSYS=%d)"
                 % (what, rc, 128 + signal.SIGSYS))

    def kill(self):
        for pid in (self.pid, self.proc.pid if self.proc else None):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def export_ok(agg, fmt):
    with urllib.request.urlopen(agg.http_url + "/api/v1/export?period=2023&format=" + fmt,
                                timeout=30) as r:
        body = r.read()
    if r.status != 200 or len(body) < 100:
        fail("export %s from %s: %d, %d bytes" % (fmt, agg.name, r.status, len(body)))


def session(tmp):
    """Runs the session; returns {unit: set of calls made by its program}."""
    traced = {n: Traced(tmp, n) for n in ("district", "province", "agent-24664", "agent-24667")}
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông", http=True)
    dist = Aggregator(communes=[24664, 24667], readers=["test"], http=True,
                      extra_ini='\n[reader province]\npublic-key = "%s"\nrole = province\n'
                      % prov.server_public)
    prov.extra_ini = ('\n[child dakmil]\nunit = 663\ntitle = Huyện Đắk Mil\nendpoint = %s\n'
                      'server-key = "%s"\ninterval = 1s\ntimeout = 800ms\n'
                      % (dist.endpoint, dist.server_public))
    prov.write_config()
    with dist, prov:
        try:
            dist.start(wrap=traced["district"].wrap, timeout=60)
            traced["district"].attach(dist.proc, AGGREGATOR)
            a, b = Agent(dist, 24664), Agent(dist, 24667)
            a.write_csv("thang-11.csv", range(1, 121))
            for v in (7, 8, 9):
                b.record_training(v)
            for n, ag in (("agent-24664", a), ("agent-24667", b)):
                ag.start(wrap=traced[n].wrap)
                traced[n].attach(ag.proc, AGENT)
            prov.start(wrap=traced["province"].wrap, timeout=60)
            traced["province"].attach(prov.proc, AGGREGATOR)
            for ag in (a, b):
                wait_until(ag.drained, 120, "agent %d to drain" % ag.commune, [a, b], dist)
            # more while running: a second file and a recorded event
            a.write_csv("thang-12.csv", range(200, 230))
            b.record_training(10)
            for ag in (a, b):
                wait_until(ag.drained, 120, "agent %d to drain" % ag.commune, [a, b], dist)
            want_n = 120 + 3 + 30 + 1
            check_totals(dist, want_n, sum(range(1, 121)) + 24 + sum(range(200, 230)) + 10)
            # the dashboard, exports and metrics at both levels
            for agg in (dist, prov):
                for path in ("/api/v1/report?period=2023", "/api/v1/units", "/api/v1/events"):
                    get(agg, path)
                for fmt in ("xlsx", "csv"):
                    export_ok(agg, fmt)
                with urllib.request.urlopen(agg.http_url + "/metrics", timeout=10) as r:
                    r.read()
            wait_for("the province to hold the district's events",
                     lambda: (lambda c: (c["events"] == want_n, c))(child(prov, "dakmil")),
                     [prov, dist], timeout=60)
            dist.snapshot()
            # reload (SIGHUP) of a changed config, then an event through the reloaded daemon
            dist.add_commune(24670)
            traced["district"].signal(signal.SIGHUP)
            traced["province"].signal(signal.SIGHUP)
            time.sleep(1)
            b.record_training(11)
            wait_until(b.drained, 120, "agent 24667 after the reload", [a, b], dist)
            # clean stops: the agents, the province, the district
            for n in ("agent-24664", "agent-24667", "province", "district"):
                traced[n].stop(n)
        finally:
            for t in traced.values():
                t.kill()
    units = {"dk-aggregator.service": ("district", "province"),
             "dk-agent.service": ("agent-24664", "agent-24667")}
    return {u: [read_trace(traced[n].out) for n in names] for u, names in units.items()}


def main():
    check_binaries()
    if SANITIZED:
        # LeakSanitizer cannot run under ptrace (the program aborts at exit), and the sanitizers'
        # runtime makes calls of its own: the units are checked against the normal build.
        log("SKIP in the sanitizer build: the normal build checks the units")
        return
    need("systemd-analyze")
    need("strace")
    with tempfile.TemporaryDirectory(prefix="dk-units-") as tmp:
        verify_units(tmp)
        groups = syscall_groups()
        made = session(tmp)
        bad = []
        for unit, traces in sorted(made.items()):
            ok = allowed_calls(unit, groups)
            calls = set().union(*(t[0] for t in traces))
            refused = sorted(calls - ok)
            if refused:
                bad.append("%s: calls its SystemCallFilter refuses (SIGSYS): %s"
                           % (unit, ", ".join(refused)))
            fams = {}
            for t in traces:
                fams.update(t[1])
            allowed_fams = unit_setting(unit, "RestrictAddressFamilies").split()
            for fam, line in sorted(fams.items()):
                if allowed_fams and fam not in allowed_fams:
                    bad.append("%s: a socket of a family RestrictAddressFamilies refuses: %s"
                               % (unit, line))
            if unit_setting(unit, "MemoryDenyWriteExecute") == "yes":
                for t in traces:
                    for line in t[2][:3]:
                        bad.append("%s: memory made executable, which MemoryDenyWriteExecute "
                                   "refuses: %s" % (unit, line))
            log("%s: %d distinct system calls, socket families %s, %d refused by its filter "
                "(%d allowed)" % (unit, len(calls), ", ".join(sorted(fams)), len(refused),
                                  len(ok)))
        if bad:
            fail("the programs do what their systemd unit forbids:\n" + "\n".join(bad))
    log("PASS")


if __name__ == "__main__":
    main()
