#!/usr/bin/env python3
"""dk-aggregator session protocol on loopback with CURVE (issue 3):

- events from two communes are stored once; duplicated and reordered batches change nothing;
  a full resend is acked DUPLICATE; tallies equal the expected totals and `verify` passes;
- invalid events are REJECTED with their code, field and a Vietnamese reason;
- a commune key submitting another commune's events gets REJECTED DK_EV_COMMUNE;
- a reader key sending a Batch gets a Refusal; a commune key asking for a snapshot too;
- an unknown key cannot connect (the ZAP handler says 400: HANDSHAKE_FAILED_AUTH);
- malformed, oversized and truncated frames get a Refusal and the daemon keeps serving;
- a snapshot taken during ingest is consistent (its cells' M_EVENTS sum equals its `events`);
- every commit publishes an Update whose prev_version chains to the previous version;
- SIGHUP adds a commune key (refused before, accepted after) and removes one;
- `status` lists the communes; SIGTERM stops cleanly (exit 0) and nothing is lost.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import (Aggregator, check_binaries, expected_totals, extra_events, fail,  # noqa: E402
                       log)

DK_EV_DATE = -104
DK_EV_COMMUNE = -108
DK_EAUTH = -12
DK_EDECODE = -11
DK_ETOOBIG = -10
WIRE_MAX_FRAME = 128 * 1024


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire_type, payload):
    key = varint((num << 3) | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def batch_envelope(commune, seqs):
    """A packed Envelope{batch{events}} built by hand (valid events of the test client's kind)."""
    events = b""
    for seq in seqs:
        act = field(1, 0, 1) + field(2, 0, 1) + field(3, 0, 1) + field(10, 0, 1) + field(11, 0, 20)
        ev = (field(1, 0, 1) + field(2, 0, commune) + field(3, 0, seq) + field(6, 0, 20230510) +
              field(20, 2, act))
        events += field(2, 2, ev)
    batch = field(1, 0, 77) + events
    return field(1, 0, 1) + field(12, 2, batch)


def expect(cond, msg):
    if not cond:
        fail(msg)


def main():
    check_binaries()
    A, B, C, E = 24664, 24667, 24670, 24676
    with Aggregator(communes=[A, B, C, E], readers=["province", "dashboard"],
                    settings={"commit-window": "3ms"}) as agg:
        agg.start()

        # ---- live updates: subscribe before anything is committed
        sub = agg.spawn_client("subscribe", "--pub", agg.pub_endpoint, "--count", "5",
                               "--timeout", "20000", reader="dashboard")
        time.sleep(0.5)

        # ---- plain ingest, duplicates, reordering
        log("ingest: commune A 3000 events with duplicated and shuffled batches")
        r = agg.send(A, 3000, 50, 1, "--dup-every", "3", "--shuffle", "--window", "8")
        expect(r["results"] == 3000 and r["rejected"] == 0, "A: %r" % r)
        expect(r["stored"] + r["duplicate"] == 3000, "A counts: %r" % r)
        expect(r["high_water"] == 3000, "A high_water %r" % r["high_water"])
        log("ingest: commune B 2000 events, then the same 2000 again")
        r = agg.send(B, 2000, 100, 1)
        expect(r["stored"] == 2000, "B first pass: %r" % r)
        r = agg.send(B, 2000, 100, 1, "--shuffle")
        expect(r["duplicate"] == 2000 and r["stored"] == 0, "B resend must be DUPLICATE: %r" % r)

        # ---- corrections and voids, delivered out of order: a correction or void whose target
        # has not arrived yet is not acknowledged (the client resends it), never lost.
        log("corrections and voids: commune E, 400 events, shuffled small batches")
        nx = extra_events(400, 7, 11)
        r = agg.send(E, 400, 10, 1, "--corrections", 7, "--voids", 11, "--shuffle", "--window",
                     16, "--retry-ms", 300, "--seed", 7)
        expect(r["results"] == 400 + nx and r["rejected"] == 0 and
               r["stored"] + r["duplicate"] == 400 + nx,
               "E: %r" % {k: r[k] for k in r if k != "latencies_ms"})
        log("  %d resends (corrections/voids that arrived before their target)" % r["resends"])
        expect(r["high_water"] == 400 + nx, "E high_water %r" % r["high_water"])

        # ---- rejections with code, field and reason
        log("validation: every 10th event of C has an impossible date")
        r = agg.send(C, 100, 25, 1, "--bad-every", "10")
        expect(r["rejected"] == 10 and r["stored"] == 90, "C: %r" % r)
        rej = r["rejects"][0]
        expect(rej["code"] == DK_EV_DATE and rej["field"] == "date" and rej["reason"],
               "C reject detail: %r" % rej)
        expect(any(ch in rej["reason"] for ch in "àáảãạăâđêôơư"),
               "reason is not Vietnamese: %r" % rej["reason"])
        expect(r["high_water"] == 100, "rejected seqs count as decided: %r" % r["high_water"])

        # ---- spoofing: A's key submits C's events
        log("spoofing: commune A's key sends events of commune C")
        r = agg.send(C, 20, 20, 5000, "--no-hello", as_commune=A, check=False)
        rc, data, err = r
        expect(data is not None and data["rejected"] == 20 and data["stored"] == 0,
               "spoofed events must be rejected: rc=%d %r %s" % (rc, data, err[-300:]))
        expect(all(x["code"] == DK_EV_COMMUNE for x in data["rejects"]), "code: %r" % data)

        # ---- reader key sends a batch; commune key asks for a snapshot
        log("roles: reader sends a Batch, commune asks for a snapshot")
        rc, data, _ = agg.client("raw", "--hex", batch_envelope(A, [9001]).hex(),
                                 reader="province", check=False)
        expect(data and data.get("type") == "refusal" and data["code"] == DK_EAUTH,
               "reader batch: rc=%d %r" % (rc, data))
        rc, data, _ = agg.client("snapshot", commune=A, check=False)
        expect(data and data.get("type") == "refusal" and data["code"] == DK_EAUTH,
               "commune snapshot: rc=%d %r" % (rc, data))

        # ---- unknown key
        log("auth: an unknown key cannot connect")
        t0 = time.time()
        rc, data, err = agg.client("hello", "--commune", A, key_file=agg.stranger_key[0],
                                   check=False, timeout=60)
        expect(rc == 4 and data and data.get("error") == "auth",
               "unknown key: rc=%d %r %s" % (rc, data, err[-300:]))
        log("  refused in %.2fs" % (time.time() - t0))

        # ---- hostile frames
        log("frames: malformed, truncated, empty envelope, oversized")
        good = batch_envelope(A, [9101, 9102])
        cases = [("malformed", b"\xff" * 64, DK_EDECODE),
                 ("truncated", good[:-7], DK_EDECODE),
                 ("empty envelope", field(1, 0, 1), DK_EDECODE),
                 ("oversized", field(1, 0, 1) + field(12, 2, b"\x08\x01" * (WIRE_MAX_FRAME // 2 + 100)),
                  DK_ETOOBIG)]
        for name, frame, code in cases:
            path = os.path.join(agg.dir, "frame.bin")
            with open(path, "wb") as f:
                f.write(frame)
            rc, data, _ = agg.client("raw", "--file", path, commune=A, check=False)
            expect(data and data.get("type") == "refusal" and data["code"] == code,
                   "%s frame: rc=%d %r" % (name, rc, data))
            expect(agg.running(), "daemon died on the %s frame" % name)
        # Far over the limit: libzmq drops the connection; the daemon must keep serving.
        with open(path, "wb") as f:
            f.write(b"\x00" * (3 * WIRE_MAX_FRAME))
        rc, data, _ = agg.client("raw", "--file", path, "--timeout", "1500", commune=A,
                                 check=False)
        expect(agg.running(), "daemon died on a huge frame")
        rc, data, _ = agg.client("hello", "--commune", A, commune=A)
        expect(data["type"] == "welcome" and data["high_water"] == 3000, "after frames: %r" % data)
        # The hand-built valid batch is accepted (the codec agrees with ours).
        rc, data, _ = agg.client("raw", "--hex", good.hex(), commune=A, check=False)
        expect(data and data.get("type") == "other", "valid raw batch: %r" % data)

        # ---- snapshot during ingest is consistent
        log("snapshot during ingest: 3 clients pushing while snapshots are taken")
        ps = [agg.spawn_client("send", "--commune", c, "--events", 3000, "--batch", 20,
                               "--first-seq", 10001, "--window", 2, commune=c) for c in (A, B, C)]
        snaps = 0
        while any(p.poll() is None for p in ps):
            rc, s, _ = agg.client("snapshot", "--max-cells", 3000, reader="province")
            expect(s["pages"] == 1, "snapshot must fit one page here: %r" % s["pages"])
            expect(s["sums"][0] == s["events"],
                   "inconsistent snapshot: cells sum %d != events %d (version %d)" %
                   (s["sums"][0], s["events"], s["version"]))
            expect(sum(u["events"] for u in s["units"]) == s["events"],
                   "units' events %d != events %d" % (sum(u["events"] for u in s["units"]),
                                                      s["events"]))
            snaps += 1
        for p in ps:
            p.wait()
            res = agg.client_result(p)
            expect(p.returncode == 0 and res and res["stored"] == 3000,
                   "concurrent client: rc=%d %r" % (p.returncode, res))
        expect(snaps >= 2, "only %d snapshots taken during ingest" % snaps)
        log("  %d consistent snapshots" % snaps)

        # ---- totals
        ranges = [(A, 1, 3000), (B, 1, 2000), (A, 10001, 13000), (B, 10001, 13000),
                  (C, 10001, 13000)]
        exp = expected_totals(ranges)
        exp_c = expected_totals([(C, s, s) for s in range(1, 101) if s % 10 != 0])
        for k, v in exp_c.items():
            exp[k] = exp.get(k, 0) + v
        for k, v in expected_totals([(E, 1, 400)], corrections=7, voids=11).items():
            exp[k] = exp.get(k, 0) + v
        # The valid raw batch stored seqs 9101, 9102 of A: 1 event, 1 session, 20 participants each.
        exp[0] += 2
        exp[1] += 2
        exp[2] += 40
        s = agg.snapshot()
        for m, v in exp.items():
            expect(s["sums"][m] == v, "measure %d: %d != expected %d" % (m, s["sums"][m], v))
        expect(s["events"] == exp[0], "events %d != %d" % (s["events"], exp[0]))
        units = {u["unit"]: u for u in s["units"]}
        expect(units[E]["events"] == 400 - len(range(0, 400, 11)), "E events: %r" % units[E])

        # ---- changes since a version (incremental snapshot)
        inc = agg.snapshot(since=s["version"])
        expect(not inc["full"] and inc["cells"] == 0, "nothing changed since %d: %r" %
               (s["version"], inc))
        agg.send(A, 10, 10, 20001)
        inc = agg.snapshot(since=s["version"])
        expect(not inc["full"] and inc["cells"] > 0 and inc["sums"][0] >= 10 and
               any(u["unit"] == A for u in inc["units"]), "changes since: %r" % inc)
        exp[0] += 10
        for k, v in expected_totals([(A, 20001, 20010)]).items():
            if k:
                exp[k] += v

        # ---- live updates chain
        sub.wait(timeout=30)
        with open(sub.out_path) as f:
            ups = [__import__("json").loads(line) for line in f if line.strip()]
        expect(len(ups) == 5, "subscriber got %d updates" % len(ups))
        for a, b in zip(ups, ups[1:]):
            expect(b["prev_version"] == a["version"] or b["version"] == a["version"],
                   "update chain broken: %r then %r" % (a, b))
        expect(ups[0]["cells"] > 0 and ups[0]["units"] > 0, "update without cells: %r" % ups[0])

        # ---- SIGHUP: add a commune key, then remove it
        D = 24673
        log("SIGHUP: a new commune key is refused, then accepted after reload")
        agg.add_commune(D)
        rc, data, _ = agg.client("hello", "--commune", D, commune=D, check=False, timeout=60)
        expect(rc == 4, "new key accepted before reload: rc=%d %r" % (rc, data))
        agg.reload()
        time.sleep(0.5)
        r = agg.send(D, 50, 10, 1)
        expect(r["stored"] == 50, "after reload: %r" % r)
        agg.remove_commune(D)
        agg.reload()
        time.sleep(0.5)
        rc, data, _ = agg.client("hello", "--commune", D, commune=D, check=False, timeout=60)
        expect(rc == 4, "removed key still accepted: rc=%d %r" % (rc, data))
        expect(agg.running(), "daemon died on reload")
        agg.add_commune(D)  # keep it in the config for status
        agg.reload()

        # ---- status, verify, clean stop
        st = agg.status()
        expect(st.returncode == 0, "status: %s" % st.stderr)
        expect("Thị trấn Đắk Mil" in st.stdout and "Xã Đắk Lao" in st.stdout,
               "status output:\n" + st.stdout)
        v = agg.verify()
        expect(v.returncode == 0, "verify: %s %s" % (v.stdout[-1000:], v.stderr[-1000:]))
        rc = agg.stop()
        expect(rc == 0, "SIGTERM exit code %r" % rc)
        expect("stopped" in agg.log_text(), "no clean stop in the log")
        agg.start()
        s2 = agg.snapshot()
        expect(s2["sums"][0] == exp[0] + 50, "after restart events %d" % s2["sums"][0])
        log("OK")


if __name__ == "__main__":
    main()
