#!/usr/bin/env python3
"""dk-agent recovers from the two "lost memory" cases and explains a refused key (issue 4):

- a reinstalled agent (empty outbox, new instance) that records events before it reaches the
  aggregator continues numbering after what the aggregator has (its early events are renumbered),
  and nothing is lost or double counted;
- the aggregator restored from an older backup (`dk-aggregator backup`, copy back) gets the
  acknowledged events it lost resent from the agent's retained events: totals exact again;
- an agent whose key the aggregator does not know: `dk-agent status` says the machine is not
  authorised by the district, quickly, instead of hanging.
"""
import glob
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, fail, log  # noqa: E402
from agentharness import Agent, check_totals, unit_state, wait_until  # noqa: E402


def main():
    check_binaries()
    with Aggregator(communes=[24664]) as agg:
        agg.start()
        a = Agent(agg, 24664)
        a.import_rows(range(1, 31))
        a.start()
        wait_until(lambda: a.waiting() == 0, 60, "first drain", [a], agg)
        exp_n, exp_p = 30, sum(range(1, 31))
        check_totals(agg, exp_n, exp_p)

        # Reinstall: the outbox is wiped; the new one records 5 events before connecting.
        a.stop()
        shutil.rmtree(a.data_dir)
        for v in range(100, 105):
            seq = a.record_training(v)
        if seq != 5:
            fail("a fresh outbox should number from 1, got %d" % seq)
        exp_n += 5
        exp_p += sum(range(100, 105))
        a.start()
        wait_until(lambda: a.waiting() == 0, 60, "drain after reinstall", [a], agg)
        check_totals(agg, exp_n, exp_p)
        st = a.status()
        if "Số bản ghi cuối cùng: 35" not in st:
            fail("after reinstall numbering should continue at 31..35:\n" + st)
        u = unit_state(agg.snapshot(), 24664)
        if not u or u["max_seq"] != 35 or u["high_water"] != 35:
            fail("aggregator unit state after reinstall: %s" % u)
        log("reinstalled agent continued numbering: 31..35")

        # Backup now (35 events), then 20 more, then restore the older backup.
        bdir = os.path.join(agg.dir, "backup")
        r = agg.cli("backup", bdir)
        if r.returncode != 0:
            fail("backup: " + r.stderr)
        a.import_rows(range(200, 220), name="after-backup.csv")
        exp_n += 20
        exp_p += sum(range(200, 220))
        wait_until(lambda: a.waiting() == 0, 60, "drain after backup", [a], agg)
        check_totals(agg, exp_n, exp_p)
        agg.stop()
        shutil.rmtree(agg.data_dir)
        files = glob.glob(os.path.join(bdir, "**", "data.mdb"), recursive=True)
        if not files:
            fail("no data.mdb in the backup folder %s" % os.listdir(bdir))
        os.makedirs(agg.data_dir)
        shutil.copy(files[0], os.path.join(agg.data_dir, "data.mdb"))
        agg.start()
        log("aggregator restored from the backup taken at 35 events")
        wait_until(lambda: (unit_state(agg.snapshot(), 24664) or {}).get("high_water") == 55,
                   60, "the agent to resend what the restored aggregator lost", [a], agg)
        wait_until(lambda: a.waiting() == 0, 30, "drain after restore", [a], agg)
        check_totals(agg, exp_n, exp_p)
        alog = open(a.log_path, encoding="utf-8", errors="replace").read()
        if "high_water=35 is below 20 acknowledged events: resending them" not in alog:
            a.dump_log()
            fail("the agent did not resend the 20 events the restored aggregator lost")
        a.stop()

        # A key the aggregator does not know.
        s = Agent(agg, 24664, name="stranger", key_file=agg.stranger_key[0])
        s.record_training(1)
        s.start()
        t0 = time.time()
        wait_until(lambda: "chưa được huyện cấp quyền" in s.status(), 20,
                   "status to say the key is refused", [s])
        log("refused key reported after %.1fs:\n%s" % (time.time() - t0, s.status().strip()))
        s.stop()
    log("PASS")


if __name__ == "__main__":
    main()
