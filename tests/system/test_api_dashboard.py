"""API test: a real dk-aggregator fed by real clients (dk-testclient); every figure the JSON API
gives is compared with totals computed from what was sent (dkharness.expected_event)."""
import http.client
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import (Aggregator, check_binaries, expected_event, fail, free_port, log,  # noqa
                       M_AMOUNT, M_PARTICIPANTS, M_SESSIONS)

SENT = {24664: 200, 24667: 120}          # commune -> events 1..n; 24670 sends nothing
SILENT = 24670


def get(port, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def api(port, path):
    st, h, body = get(port, path)
    if st != 200:
        fail("GET %s -> %d %s" % (path, st, body[:300]))
    if not h.get("content-type", "").startswith("application/json"):
        fail("GET %s: content-type %r" % (path, h.get("content-type")))
    return json.loads(body.decode("utf-8"))


def in_period(date, first, last):
    return first <= date <= last


def expect(commune_filter=None, first=20230101, last=20231231):
    """Expected figures over the events sent: dict of sums."""
    e = {"events": 0, "sessions": 0, "participants": 0, "prop_events": 0, "receipts": 0,
         "before_receipts": 0, "fund_events": 0, "contents": [0] * 6}
    for commune, n in SENT.items():
        if commune_filter and commune != commune_filter:
            continue
        for seq in range(1, n + 1):
            x = expected_event(commune, seq)
            if x["date"] < first and x["fund"]:
                e["before_receipts"] += x["m"][M_AMOUNT]
            if not in_period(x["date"], first, last):
                continue
            e["events"] += 1
            if x["fund"]:
                e["receipts"] += x["m"][M_AMOUNT]
                e["fund_events"] += 1
            else:
                e["prop_events"] += 1
                e["sessions"] += x["m"][M_SESSIONS]
                e["participants"] += x["m"][M_PARTICIPANTS]
                e["contents"][1 + seq % 5] += 1
    return e


def check_equal(what, got, want):
    if got != want:
        fail("%s: API says %r, expected %r" % (what, got, want))


def check_report(port, period, first, last):
    r = api(port, "/api/v1/report?period=" + period)
    tot = r["totals"]["values"]
    e = expect(None, first, last)
    check_equal(period + " propaganda_sessions", tot["propaganda_sessions"], e["sessions"])
    check_equal(period + " propaganda_participants", tot["propaganda_participants"],
                e["participants"])
    check_equal(period + " poor_fund_receipts", tot["poor_fund_receipts"], e["receipts"])
    check_equal(period + " events", r["totals"]["events"], e["events"])
    for row in r["rows"]:
        ec = expect(row["unit"], first, last)
        check_equal("%s %d sessions" % (period, row["unit"]), row["values"]["propaganda_sessions"],
                    ec["sessions"])
        check_equal("%s %d receipts" % (period, row["unit"]), row["values"]["poor_fund_receipts"],
                    ec["receipts"])
        # fund ledger per commune: opening = every receipt before the period
        poor = [l for l in row["ledger"] if l["fund"] == 1][0]
        check_equal("%s %d opening" % (period, row["unit"]), poor["opening"], ec["before_receipts"])
        check_equal("%s %d closing" % (period, row["unit"]), poor["closing"],
                    ec["before_receipts"] + ec["receipts"])
    units = sorted(row["unit"] for row in r["rows"])
    check_equal(period + " rows", units, sorted(list(SENT) + [SILENT]))
    poor = [l for l in r["totals"]["ledger"] if l["fund"] == 1][0]
    check_equal(period + " ledger opening", poor["opening"], e["before_receipts"])
    check_equal(period + " ledger receipts", poor["receipts"], e["receipts"])
    src = dict((s["source"], s["amount"]) for s in poor["by_source"])
    check_equal(period + " ledger individuals", src.get(4, 0), e["receipts"])
    label = [s["label"] for s in poor["by_source"] if s["source"] == 4][0]
    check_equal(period + " source label", label, "Cá nhân")
    # contents chart and organiser shares
    for c in r["contents"]:
        check_equal("%s content %d" % (period, c["content"]), c["events"], e["contents"][c["content"]])
    org0 = [o for o in r["organisers"] if o["organiser"] == 0][0]
    check_equal(period + " committee events", org0["events"], e["events"])
    check_equal(period + " committee name", org0["name"], "Ủy ban MTTQ")
    names = [o["name"] for o in r["organisers"]]
    if "Hội Liên hiệp Phụ nữ" not in names:
        fail("organisers from the config missing: %r" % names)
    # monthly trend sums to the totals
    check_equal(period + " months activities", sum(m["activities"] for m in r["months"]),
                e["prop_events"])
    check_equal(period + " months receipts", sum(m["receipts"] for m in r["months"]), e["receipts"])
    # checklist
    for row in r["rows"]:
        items = dict((c["item"], c["state"]) for c in row["checklist"])
        ec = expect(row["unit"], first, last)
        check_equal("%s %d checklist propaganda" % (period, row["unit"]), items["propaganda"],
                    "done" if ec["prop_events"] else "none")
        check_equal("%s %d checklist fund" % (period, row["unit"]), items["fund"],
                    "done" if ec["receipts"] else "none")
        check_equal("%s %d checklist inspection" % (period, row["unit"]), items["inspection"],
                    "none")
    return r


def read_sse(sock, want, timeout=10):
    """Reads SSE text from sock until every string in want appeared; returns the text."""
    sock.settimeout(0.5)
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        except socket.timeout:
            pass
        text = buf.decode("utf-8", "replace")
        if all(w in text for w in want):
            return text
    fail("SSE: did not see %r within %ds; got %r" % (want, timeout, buf[-600:]))


def open_sse(port, last_id=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    extra = "Last-Event-ID: %s\r\n" % last_id if last_id is not None else ""
    s.sendall(("GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
               "%s\r\n" % extra).encode())
    return s


def main():
    check_binaries()
    hport = free_port()
    ini = "\n[http]\nport = %d\nsse-queue = 8KiB\nkeepalive = 1s\n" % hport
    with Aggregator(communes=[24664, 24667, (SILENT, 9)], extra_ini=ini) as agg:
        agg.start()
        for commune, n in SENT.items():
            res = agg.send(commune, events=n, batch=40)
            log("sent commune=%d %s" % (commune, json.dumps(res)[:200]))

        # ---- health and info
        st, h, body = get(hport, "/healthz")
        check_equal("/healthz status", st, 200)
        info = api(hport, "/api/v1/info")
        check_equal("info name", info["name"], "Huyện Đắk Mil")
        check_equal("info unit", info["unit"], 663)

        # ---- units and freshness
        u = api(hport, "/api/v1/units")
        byu = dict((x["unit"], x) for x in u["units"])
        for commune, n in SENT.items():
            x = byu.get(commune) or fail("unit %d missing from /units" % commune)
            check_equal("unit %d high_water" % commune, x["high_water"], n)
            check_equal("unit %d events" % commune, x["events"], n)
            check_equal("unit %d status" % commune, x["status"], "ok")
            if not (0 <= x["silent_for"] < 120) or x["last_contact"] <= 0:
                fail("unit %d freshness: %r" % (commune, x))
        s = byu.get(SILENT) or fail("configured silent commune missing from /units")
        check_equal("silent unit status", s["status"], "never")
        check_equal("silent unit name", s["name"], "Xã Đắk R'La")

        # ---- report, ledger, checklist, charts for several periods
        check_report(hport, "2023", 20230101, 20231231)
        check_report(hport, "2023-Q4", 20231001, 20231231)
        check_report(hport, "2023-H1", 20230101, 20230630)
        check_report(hport, "2023-11", 20231101, 20231130)
        check_report(hport, "2023-03-01..2023-05-15", 20230301, 20230515)
        r = api(hport, "/api/v1/report?period=2023-Q4")
        check_equal("Q4 label", r["label"], "Quý IV/2023")
        r = api(hport, "/api/v1/report?period=2023")
        poor = [l for l in r["totals"]["ledger"] if l["fund"] == 1][0]
        if not poor["receipts_text"].endswith(" đ") or "." not in poor["receipts_text"]:
            fail("money text %r" % poor["receipts_text"])

        # ---- tallies by category for one unit, and all
        for unit in (24664, 0):
            t = api(hport, "/api/v1/tallies?period=2023&unit=%d" % unit)
            e = expect(unit or None)
            sums = {}
            for c in t["categories"]:
                for k, v in c["measures"].items():
                    sums[k] = sums.get(k, 0) + v
            check_equal("tallies unit=%d events" % unit, sums.get("events"), e["events"])
            check_equal("tallies unit=%d sessions" % unit, sums.get("sessions"), e["sessions"])
            check_equal("tallies unit=%d participants" % unit, sums.get("participants"),
                        e["participants"])
            check_equal("tallies unit=%d amount" % unit, sums.get("amount"), e["receipts"])
            kinds = set(c["kind"]["label"] for c in t["categories"] if c["family"] == "activity")
            check_equal("tallies kinds", kinds, {"Tuyên truyền"})

        # ---- recent events
        ev = api(hport, "/api/v1/events?unit=24664&limit=10")
        seqs = [x["seq"] for x in ev["events"]]
        check_equal("recent seqs", seqs, list(range(200, 190, -1)))
        first = ev["events"][0]
        check_equal("event 200 type", first["type"], "original")
        check_equal("event 200 effective", first["effective"], True)
        check_equal("event 200 amount", first["amount"], expected_event(24664, 200)["m"][M_AMOUNT])
        if not first["history"] or first["history"][0]["seq"] != 200:
            fail("event history: %r" % first["history"])
        ev_all = api(hport, "/api/v1/events?limit=5")
        check_equal("recent all count", len(ev_all["events"]), 5)

        # ---- errors, methods, limits
        st, h, body = get(hport, "/api/v1/report?period=2023-Q9")
        check_equal("bad period status", st, 400)
        check_equal("bad period field", json.loads(body)["field"], "period")
        st, _, _ = get(hport, "/api/v1/nothing")
        check_equal("unknown path", st, 404)
        for m in ("POST", "PUT", "DELETE"):
            st, h, _ = get(hport, "/api/v1/units", method=m)
            check_equal(m + " status", st, 405)
            check_equal(m + " Allow", h.get("allow"), "GET, HEAD")
        st, _, body = get(hport, "/api/v1/units", method="HEAD")
        check_equal("HEAD status", st, 200)
        st, _, _ = get(hport, "/../../etc/passwd")
        check_equal("path traversal", st, 404)
        st, _, _ = get(hport, "/api/v1/units", headers={"X-Big": "a" * 40000})
        if st == 200:
            fail("a 40 kB header was accepted")
        st, h, body = get(hport, "/")
        check_equal("page status", st, 200)
        if "Cuộc vận động" not in body.decode("utf-8"):
            fail("page does not look like the dashboard")

        # ---- metrics (structure now; the counted events at the end)
        st, h, body = get(hport, "/metrics")
        text = body.decode()
        for line in ("# TYPE dk_events_total counter", "dk_commit_seconds_count",
                     "dk_batch_events_bucket", "dk_store_bytes", "dk_sse_clients 0",
                     "dk_connected_agents", 'dk_http_requests_total{code="4xx"}'):
            if line not in text:
                fail("/metrics lacks %r" % line)

        # ---- SSE: hello, a live update after a commit, keep-alive, resume with Last-Event-ID
        version = api(hport, "/api/v1/info")["version"]
        s = open_sse(hport)
        text = read_sse(s, ["text/event-stream", "event: hello", "id: %d" % version])
        if "cache-control: no-cache" not in text.lower():
            fail("SSE headers: %r" % text[:400])
        agg.send(24667, events=1, batch=1, first_seq=121)
        SENT[24667] = 121
        text = read_sse(s, ["event: update", ": keep-alive"])
        ids = [int(l[4:]) for l in text.splitlines() if l.startswith("id: ")]
        if max(ids) <= version:
            fail("SSE update id %r not above %d" % (ids, version))
        if "24667" not in text.split("event: update")[1]:
            fail("SSE update does not name commune 24667: %r" % text[-400:])
        new_version = max(ids)
        st, _, body = get(hport, "/metrics")
        if "dk_sse_clients 1" not in body.decode():
            fail("metrics: one SSE client expected")
        s.close()
        check_report(hport, "2023", 20230101, 20231231)   # the new event is counted
        # resume from an older version: told what changed since (or to reload)
        s = open_sse(hport, last_id=version)
        text = read_sse(s, ["id: %d" % new_version])
        if "event: update" not in text and "event: reload" not in text:
            fail("resume: neither update nor reload: %r" % text[-300:])
        s.close()
        s = open_sse(hport, last_id=new_version)
        read_sse(s, [": up to date"])
        s.close()
        s = open_sse(hport, last_id=new_version + 1000)
        read_sse(s, ["event: reload"])
        s.close()

        # ---- a stalled SSE client (never reads) cannot hold the server: it still answers
        stalled = open_sse(hport)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for i in range(5):
            agg.send(24667, events=1, batch=1, first_seq=122 + i)
        SENT[24667] = 126
        st, _, _ = get(hport, "/healthz")
        check_equal("healthz with a stalled client", st, 200)
        stalled.close()
        check_report(hport, "2023", 20230101, 20231231)

        # ---- metrics: every event the clients sent was counted by the ingest
        st, h, body = get(hport, "/metrics")
        text = body.decode()
        total = sum(SENT.values())
        for line in ('dk_events_total{result="stored"} %d' % total, ):
            if line not in text:
                fail("/metrics lacks %r (ingest must call metrics_count_event)" % line)

        if agg.stop() != 0:
            agg.dump_log()
            fail("dk-aggregator did not exit 0 on SIGTERM")
    log("PASS")


if __name__ == "__main__":
    main()
