"""A province over two districts (real dk-aggregator processes on loopback, events sent with
dk-testclient): the province's totals equal the sum of the districts' exactly — after events,
duplicates, a province SIGKILL + restart, a district down (the province keeps serving and records
the failures) and back up (it catches up), and a district restored from an older backup (new store
epoch, version back: the province resyncs, nothing counted twice). Freshness through the HTTP API:
test_province_freshness.py; the epoch case with the version climbed past:
test_province_restore_epoch.py."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, expected_totals, fail, log  # noqa: E402

M = 18



def sums(snap):
    return list(snap["sums"])


def expect(ranges):
    t = expected_totals(ranges)
    return [t.get(i, 0) for i in range(M)]


def wait_equal(prov, want, what, timeout=40):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = sums(prov.snapshot(reader="test"))
        if got == want:
            return
        time.sleep(0.3)
    prov.dump_log(40)
    fail("%s: province sums %s, expected %s" % (what, got, want))


def main():
    check_binaries()
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông")
    ppub = prov.server_public
    reader_ini = '\n[reader province]\npublic-key = "%s"\nrole = province\n' % ppub
    a = Aggregator(communes=[24664, 24667], readers=["test"], extra_ini=reader_ini,
                   unit=663, name="Huyện Đắk Mil")
    b = Aggregator(communes=[24640, 24643], readers=["test"], extra_ini=reader_ini,
                   unit=662, name="Huyện Cư Jút")
    prov.extra_ini = "".join(
        '\n[child %s]\nunit = %d\nendpoint = %s\nserver-key = "%s"\ninterval = 1s\n'
        'timeout = 800ms\n' % (n, d.unit, d.endpoint, d.server_public)
        for n, d in (("dakmil", a), ("cujut", b)))
    prov.write_config()
    try:
        a.start()
        b.start()
        prov.start()
        log("events into both districts")
        a.send(24664, 300, 50)
        a.send(24667, 200, 40)
        b.send(24640, 250, 50)
        ranges = [(24664, 1, 300), (24667, 1, 200), (24640, 1, 250)]
        wait_equal(prov, expect(ranges), "after the first events")
        # The districts' own figures add up to the province's, measure by measure.
        sa, sb = sums(a.snapshot(reader="test")), sums(b.snapshot(reader="test"))
        if [x + y for x, y in zip(sa, sb)] != sums(prov.snapshot(reader="test")):
            fail("province != district A + district B")

        log("duplicates change nothing; more events flow")
        a.send(24664, 300, 50)                 # the same 300 again: duplicates
        b.send(24643, 120, 30)
        ranges.append((24643, 1, 120))
        wait_equal(prov, expect(ranges), "after duplicates and more events")

        log("province SIGKILL + restart: figures served from its own store at once")
        prov.kill()
        a.kill()
        b.kill()
        prov.start()
        got = sums(prov.snapshot(reader="test"))
        if got != expect(ranges):
            fail("after a restart with the districts down: %s != %s" % (got, expect(ranges)))
        a.start()
        b.start()

        log("district Cư Jút down: the province keeps serving and records failures")
        b.kill()
        a.send(24667, 100, 50, 201)
        ranges.append((24667, 201, 300))
        wait_equal(prov, expect(ranges), "district A's new events while B is down")
        time.sleep(2.5)
        text = prov.log_text()
        if "pull failed child=cujut" not in text:
            fail("no failed pull of the stopped district was recorded")
        log("district Cư Jút back: the province catches up")
        b.start()
        b.send(24640, 50, 50, 251)
        ranges.append((24640, 251, 300))
        wait_equal(prov, expect(ranges), "after district B came back")

        log("district Đắk Mil restored from an older backup: resync, no double count")
        bdir = os.path.join(a.dir, "backup-1")
        r = a.cli("backup", bdir)
        if r.returncode != 0:
            fail("backup: %s" % r.stderr)
        before = list(ranges)
        a.send(24664, 200, 50, 301)            # after the backup: will be lost by the restore
        ranges.append((24664, 301, 500))
        wait_equal(prov, expect(ranges), "events after the backup")
        a.stop()
        shutil.rmtree(a.data_dir)
        os.makedirs(a.data_dir)
        shutil.copy(os.path.join(bdir, "data.mdb"), os.path.join(a.data_dir, "data.mdb"))
        a.start()
        wait_equal(prov, expect(before), "after the district went back to its backup")
        if "full resync child=dakmil" not in prov.log_text():
            fail("the province did not log a full resync of the restored district")
        a.send(24664, 200, 50, 301)            # the agents resend what the backup lacked
        wait_equal(prov, expect(ranges), "after the restored district caught up")
        for agg, name in ((a, "A"), (b, "B")):
            agg.stop()
            if agg.verify().returncode != 0:  # recount from the stored events
                r = agg.verify()
                fail("verify failed on district %s: %s %s" % (name, r.stdout[-800:], r.stderr[-800:]))
        log("ok")
    finally:
        for agg in (prov, a, b):
            agg.cleanup()


if __name__ == "__main__":
    main()
