#!/usr/bin/env python3
"""dk-agent store-and-forward with the real dk-aggregator (issue 4):

- events recorded while the aggregator is down (CLI and CSV import) wait in the outbox; `status`
  says not connected and counts them; once the aggregator is up everything drains exactly once;
- the aggregator killed (SIGKILL) for a while mid-stream, then back: everything drains exactly once;
- the same CSV dropped twice into the inbox (and the same rows under another name) counts once,
  each file moved to done/ with a report; a bad file goes to rejected/ with line, column, reason;
- an event the aggregator refuses (area beyond the commune's) lands in `dk-agent rejected` with
  the aggregator's Vietnamese reason, and the rest still drains.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, fail, log  # noqa: E402
from agentharness import Agent, check_totals, wait_until  # noqa: E402


def main():
    check_binaries()
    with Aggregator(communes=[(24664, 12)]) as agg:
        a = Agent(agg, 24664)
        expected_n, expected_p = 0, 0
        # 1. Aggregator down: record by CLI and by import.
        seq = a.record_training(7)
        if seq != 1:
            fail("first record got number %d" % seq)
        r = a.import_rows(range(1, 201))
        if "200 dòng mới" not in r.stdout:
            fail("import said: " + r.stdout)
        expected_n, expected_p = 201, 7 + sum(range(1, 201))
        a.start()
        time.sleep(2)
        st = a.status()
        if "Kết nối với huyện: KHÔNG" not in st or "Bản ghi đang chờ gửi: 201" not in st:
            fail("status while the aggregator is down:\n" + st)
        log("aggregator down: agent holds 201 events")
        agg.start()
        wait_until(lambda: a.waiting() == 0, 60, "drain after the aggregator came up", [a], agg)
        check_totals(agg, expected_n, expected_p)
        wait_until(lambda: "Kết nối với huyện: CÓ" in a.status(), 10, "status connected", [a])

        # 2. Aggregator killed mid-stream, down for a while, then back.
        agg.kill()
        r = a.import_rows(range(1000, 1300), name="more.csv")
        expected_n += 300
        expected_p += sum(range(1000, 1300))
        time.sleep(4)
        if a.waiting() != 300:
            fail("expected 300 waiting while the aggregator is down, status:\n" + a.status())
        agg.start()
        wait_until(lambda: a.waiting() == 0, 60, "drain after restart", [a], agg)
        check_totals(agg, expected_n, expected_p)

        # 3. The same CSV dropped twice (same name again, then another name): counted once.
        a.write_csv("thang-11.csv", range(5000, 5050))
        done = os.path.join(a.inbox, "done")
        wait_until(lambda: os.path.exists(os.path.join(done, "thang-11.csv.txt")), 20,
                   "first drop processed", [a])
        a.write_csv("thang-11.csv", range(5000, 5050))
        a.write_csv("thang-11-copy.csv", range(5000, 5050), delim=";", bom=False, crlf=False)
        wait_until(lambda: not [n for n in os.listdir(a.inbox) if n.endswith(".csv")], 20,
                   "second drops processed", [a])
        reports = [n for n in os.listdir(done) if n.endswith(".txt")]
        if len(reports) != 3:
            fail("expected 3 reports in done/, got %s" % reports)
        copy_report = open(os.path.join(done, "thang-11-copy.csv.txt"), encoding="utf-8").read()
        if "0 dòng mới" not in copy_report or "50 dòng đã ghi từ trước" not in copy_report:
            fail("report of the re-dropped file:\n" + copy_report)
        expected_n += 50
        expected_p += sum(range(5000, 5050))

        # 4. A bad file is rejected as a whole with line and column.
        bad = os.path.join(a.inbox, ".bad.tmp")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("Ngày;Loại hoạt động;Số buổi;Số lượt người\n18/11/2023;Tập huấn;1;10\n"
                    "32/11/2023;Tập huấn;1;11\n")
        os.rename(bad, os.path.join(a.inbox, "sai.csv"))
        rep = os.path.join(a.inbox, "rejected", "sai.csv.txt")
        wait_until(lambda: os.path.exists(rep), 20, "bad file rejected", [a])
        text = open(rep, encoding="utf-8").read()
        if "Dòng 3, cột 1 (Ngày)" not in text or "KHÔNG GHI NHẬN" not in text:
            fail("rejected report:\n" + text)

        # 5. An event the aggregator refuses (area 50 of a 12-area commune).
        a.cli("record", "activity", "--date", "18/11/2023", "--kind", "Tập huấn", "--sessions",
              "1", "--participants", "99", "--area", "50")
        seq_ok = a.record_training(3)
        expected_n += 1
        expected_p += 3
        wait_until(lambda: a.waiting() == 0, 30, "drain with a refused event", [a], agg)
        rej = a.cli("rejected").stdout
        if "Bản ghi số %d" % (seq_ok - 1) not in rej or "Lý do:" not in rej:
            fail("dk-agent rejected:\n" + rej)
        log("rejected list:\n" + rej.strip())
        st = a.status()
        if "Bản ghi bị huyện từ chối: 1" not in st:
            fail("status:\n" + st)
        time.sleep(1.5)
        st = a.status()
        if "Lần huyện xác nhận gần nhất: chưa có" in st:
            fail("status has no acknowledgement time:\n" + st)
        print(st)
        check_totals(agg, expected_n, expected_p)
        a.stop()
    log("PASS")


if __name__ == "__main__":
    main()
