"""Export test: `dk-aggregator export` (beside the running daemon) and GET /api/v1/export give
the district report as CSV (UTF-8 with BOM), a real .xlsx (opened here with zipfile + XML) and
JSON; their totals equal what the clients sent."""
import csv
import http.client
import io
import json
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import (Aggregator, check_binaries, expected_event, fail, free_port, log,  # noqa
                       M_AMOUNT, M_PARTICIPANTS, M_SESSIONS)

SENT = {24664: 160, 24667: 90}
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def expected(first, last):
    out = {}
    for commune, n in SENT.items():
        e = {"Tuyên truyền (buổi)": 0, "Lượt người dự tuyên truyền": 0,
             "Quỹ Vì người nghèo: thu (đ)": 0}
        for seq in range(1, n + 1):
            x = expected_event(commune, seq)
            if not first <= x["date"] <= last:
                continue
            if x["fund"]:
                e["Quỹ Vì người nghèo: thu (đ)"] += x["m"][M_AMOUNT]
            else:
                e["Tuyên truyền (buổi)"] += x["m"][M_SESSIONS]
                e["Lượt người dự tuyên truyền"] += x["m"][M_PARTICIPANTS]
        out[commune] = e
    out["total"] = dict((k, sum(out[c][k] for c in SENT)) for k in out[24664])
    return out


def xlsx_rows(data):
    """Rows of the first sheet as lists of Python values (strings or ints)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    names = z.namelist()
    for need in ("[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"):
        if need not in names:
            fail("xlsx lacks %s (has %r)" % (need, names))
    shared = []
    if "xl/sharedStrings.xml" in names:
        root = ET.fromstring(z.read("xl/sharedStrings.xml"))
        for si in root.findall("m:si", NS):
            shared.append("".join(t.text or "" for t in si.iter("{%s}t" % NS["m"])))
    styles = ET.fromstring(z.read("xl/styles.xml"))
    fmts = [n.get("formatCode") for n in styles.iter("{%s}numFmt" % NS["m"])]
    sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter("{%s}row" % NS["m"]):
        vals = []
        for c in row.findall("m:c", NS):
            ref = c.get("r")
            col = 0
            for ch in ref:
                if ch.isalpha():
                    col = col * 26 + ord(ch) - 64
            while len(vals) < col - 1:
                vals.append(None)
            v = c.find("m:v", NS)
            if v is None:
                vals.append(None)
            elif c.get("t") == "s":
                vals.append(shared[int(v.text)])
            else:
                f = float(v.text)
                vals.append(int(f) if f == int(f) else f)
        rows.append(vals)
    return rows, fmts


def table(rows):
    """(header, {first-cell-or-name: row}) from report rows (header row starts 'Mã đơn vị')."""
    start = [i for i, r in enumerate(rows) if r and r[0] == "Mã đơn vị"]
    if not start:
        fail("no header row 'Mã đơn vị' in %r" % rows[:5])
    header = rows[start[0]]
    body = {}
    for r in rows[start[0] + 1:]:
        if len(r) > 1 and r[1] == "Tổng cộng":
            body["total"] = r
        elif r and r[0]:
            body[int(r[0])] = r
    return header, body


def compare(what, header, body, exp):
    for key, want in exp.items():
        row = body.get(key) or fail("%s: no row for %r" % (what, key))
        for col, v in want.items():
            if col not in header:
                fail("%s: no column %r in %r" % (what, col, header))
            got = row[header.index(col)]
            if int(got) != v:
                fail("%s: %r %s = %r, expected %r" % (what, key, col, got, v))


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    h = dict((k.lower(), v) for k, v in r.getheaders())
    c.close()
    return r.status, h, body


PLAN = """[plan]
name = Kế hoạch năm 2023 của huyện
period = %s
unit = %d

[district]
propaganda_sessions = 400
poor_fund_receipts = 2000000000

[each-commune]
propaganda_sessions = 40

[commune 24667]
propaganda_sessions = 25
"""


def check_plan(agg, hport, plan_path):
    """The plan's targets go with a period inside the plan's, and with no other; a plan of
    another unit or with no valid period is refused, naming the file and the key."""
    for period, applies in (("2023", True), ("2023-Q1", True), ("2023-9M", True),
                            ("2024", False), ("2022..2023", False), ("2022-12", False)):
        st, _, data = http_get(hport, "/api/v1/report?period=" + period)
        if st != 200:
            fail("GET report %s: %d" % (period, st))
        plan = json.loads(data)["plan"]
        if not applies:
            if plan is not None:
                fail("report %s carries the 2023 plan: %r" % (period, plan))
            st, _, data = http_get(hport, "/api/v1/export?period=%s&format=csv" % period)
            if "Chỉ tiêu kế hoạch".encode() in data:
                fail("CSV %s has a plan row" % period)
            continue
        if not plan or plan["period"] != "2023" or plan["period_label"] != "Năm 2023":
            fail("report %s: plan %r" % (period, plan))
        if plan["targets"].get("propaganda_sessions") != 400:
            fail("report %s: district target %r" % (period, plan["targets"]))
        rows = {r["unit"]: r for r in json.loads(data)["rows"]}
        got = {u: (rows[u].get("targets") or {}).get("propaganda_sessions") for u in rows}
        if got.get(24664) != 40 or got.get(24667) != 25:
            fail("report %s: commune targets %r" % (period, got))
        st, _, data = http_get(hport, "/api/v1/export?period=%s&format=csv" % period)
        if "Chỉ tiêu kế hoạch".encode() not in data:
            fail("CSV %s has no plan row" % period)
    for bad, what in ((PLAN % ("2023", 662), "unit"), (PLAN % ("2023-Q9", 663), "period")):
        with open(plan_path, "w", encoding="utf-8") as f:
            f.write(bad)
        r = agg.cli("export", "--period", "2023", "--format", "csv")
        if r.returncode != 2 or plan_path not in r.stderr or "[plan] " + what not in r.stderr:
            fail("a plan with a wrong %s: exit %d, %r" % (what, r.returncode, r.stderr))
    log("plan: targets with 2023, 2023-Q1, 2023-9M; none with 2024, 2022..2023, 2022-12; "
        "a wrong unit or period refused")


def main():
    check_binaries()
    hport = free_port()
    out = tempfile.mkdtemp(prefix="dkexport-")
    plan_path = os.path.join(out, "plan.ini")
    with open(plan_path, "w", encoding="utf-8") as f:
        f.write(PLAN % ("2023", 663))
    ini = "\n[http]\nport = %d\nplan = %s\n" % (hport, plan_path)
    try:
        with Aggregator(communes=[24664, 24667, 24670], extra_ini=ini) as agg:
            agg.start()
            for commune, n in SENT.items():
                agg.send(commune, events=n, batch=50)
            for period, first, last in (("2023", 20230101, 20231231),
                                        ("2023-Q1", 20230101, 20230331)):
                exp = expected(first, last)
                # ---- the command, beside the running daemon
                paths = {}
                for fmt in ("csv", "xlsx", "json"):
                    p = os.path.join(out, "report-%s.%s" % (period, fmt))
                    r = agg.cli("export", "--period", period, "--format", fmt, "-o", p)
                    if r.returncode != 0:
                        fail("export %s %s exited %d: %s" % (period, fmt, r.returncode, r.stderr))
                    paths[fmt] = p
                raw = open(paths["csv"], "rb").read()
                if not raw.startswith(b"\xef\xbb\xbf"):
                    fail("CSV does not start with a UTF-8 BOM")
                rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
                header, body = table(rows)
                if 24670 not in body:
                    fail("CSV: the commune with no data has no row")
                compare("CSV " + period, header, body, exp)
                xrows, fmts = xlsx_rows(open(paths["xlsx"], "rb").read())
                header, body = table(xrows)
                compare("XLSX " + period, header, body, exp)
                if not any(f and "#,##0" in f and "đ" in f for f in fmts):
                    fail("XLSX: no đồng number format among %r" % fmts)
                j = json.load(open(paths["json"], encoding="utf-8"))
                for col, slug in (("Tuyên truyền (buổi)", "propaganda_sessions"),
                                  ("Quỹ Vì người nghèo: thu (đ)", "poor_fund_receipts")):
                    if j["totals"]["values"][slug] != exp["total"][col]:
                        fail("JSON %s %s = %r, expected %r" % (period, slug,
                             j["totals"]["values"][slug], exp["total"][col]))
                # ---- the same over HTTP
                st, h, data = http_get(hport, "/api/v1/export?period=%s&format=xlsx" % period)
                if st != 200 or "spreadsheetml" not in h.get("content-type", ""):
                    fail("GET export xlsx: %d %r" % (st, h.get("content-type")))
                if "attachment" not in h.get("content-disposition", ""):
                    fail("GET export xlsx: no attachment disposition")
                header, body = table(xlsx_rows(data)[0])
                compare("HTTP XLSX " + period, header, body, exp)
                st, h, data = http_get(hport, "/api/v1/export?period=%s&format=csv" % period)
                if st != 200 or not data.startswith(b"\xef\xbb\xbf"):
                    fail("GET export csv: %d" % st)
                header, body = table(list(csv.reader(io.StringIO(data[3:].decode("utf-8")))))
                compare("HTTP CSV " + period, header, body, exp)
                log("export %s ok" % period)
            # ---- errors: exit 2 and a message naming the problem
            r = agg.cli("export", "--period", "2023-Q7", "--format", "csv")
            if r.returncode != 2 or "2023-Q7" not in r.stderr:
                fail("bad period: exit %d, %r" % (r.returncode, r.stderr))
            r = agg.cli("export", "--period", "2023", "--format", "pdf")
            if r.returncode != 2:
                fail("bad format: exit %d" % r.returncode)
            st, _, _ = http_get(hport, "/api/v1/export?period=2023&format=pdf")
            if st != 400:
                fail("GET export format=pdf: %d" % st)
            check_plan(agg, hport, plan_path)
    finally:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
    log("PASS")


if __name__ == "__main__":
    main()
