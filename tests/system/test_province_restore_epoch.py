"""A district restored from an older backup whose version climbs PAST the version the province
holds before the province pulls again (real dk-aggregator processes on loopback, events sent with
dk-testclient). The version alone cannot show the restore; the district's epoch (a new one at the
first read-write open of a backup copy) must make the province pull a full snapshot, so that its
totals equal the district's exactly, and no wrong figures are ever applied on the way."""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, fail, log  # noqa: E402
from test_province_rollup import expect, sums, wait_equal  # noqa: E402


def held_child_version(prov):
    """The child version of the province's last applied pull of dakmil (from its log)."""
    got = re.findall(r"pulled child=dakmil .*? child_version=(\d+)", prov.log_text())
    if not got:
        fail("the province never logged a pull of dakmil")
    return int(got[-1])


def main():
    check_binaries()
    prov = Aggregator(communes=[], readers=["test"], level="province", unit=67,
                      name="Tỉnh Đắk Nông")
    reader_ini = '\n[reader province]\npublic-key = "%s"\nrole = province\n' % prov.server_public
    a = Aggregator(communes=[24664, 24667], readers=["test"], extra_ini=reader_ini,
                   unit=663, name="Huyện Đắk Mil")
    prov.extra_ini = ('\n[child dakmil]\nunit = 663\nendpoint = %s\nserver-key = "%s"\n'
                      'interval = 1s\ntimeout = 800ms\n' % (a.endpoint, a.server_public))
    prov.write_config()
    try:
        a.start()
        prov.start()
        log("300 events, then a backup of the district")
        a.send(24664, 300, 50)
        wait_equal(prov, expect([(24664, 1, 300)]), "after the first events")
        bdir = os.path.join(a.dir, "backup-old")
        r = a.cli("backup", bdir)
        if r.returncode != 0:
            fail("backup: %s" % r.stderr)

        log("200 more events after the backup; the province pulls them")
        a.send(24664, 200, 50, 301)
        wait_equal(prov, expect([(24664, 1, 500)]), "events after the backup")
        held = held_child_version(prov)
        log("the province holds district version %d; province stopped" % held)
        prov.stop()

        log("district restored from the older backup")
        a.stop()
        shutil.rmtree(a.data_dir)
        os.makedirs(a.data_dir)
        shutil.copy(os.path.join(bdir, "data.mdb"), os.path.join(a.data_dir, "data.mdb"))
        a.start()
        if "first read-write open of a restored backup" not in a.log_text():
            a.dump_log(30)
            fail("the restored district did not log its new epoch")
        version = a.snapshot(reader="test")["last_version"]
        if version >= held:
            fail("the restored district's version %d is not below %d: the test proves nothing"
                 % (version, held))

        log("events of another commune until the district's version passes %d" % held)
        n = 0
        while version <= held and n < 1000:
            a.send(24667, 20, 2, n + 1)        # small batches: many commits, many versions
            n += 20
            version = a.snapshot(reader="test")["last_version"]
        if version <= held:
            fail("the district's version stayed at %d <= %d after %d events" % (version, held, n))
        want = expect([(24664, 1, 300), (24667, 1, n)])
        if sums(a.snapshot(reader="test")) != want:
            fail("the district's own totals are not what was sent to it")
        log("district version %d > %d held: province started, it pulls at once" % (version, held))
        mark = len(prov.log_text())
        prov.start()
        wait_equal(prov, want, "after the province pulled the restored district", timeout=30)
        text = prov.log_text()[mark:]
        if not re.search(r"full resync child=dakmil unit=663: the child's epoch changed", text):
            prov.dump_log(40)
            fail("the province did not resync on the district's new epoch")
        if "unit event counts sum to" in text:
            prov.dump_log(40)
            fail("the province applied changes of another epoch (its counts went wrong first)")
        # It stays exact: later pulls are incremental again within the new epoch.
        a.send(24667, 10, 5, n + 1)
        want = expect([(24664, 1, 300), (24667, 1, n + 10)])
        wait_equal(prov, want, "after more events in the new epoch")
        a.stop()
        if a.verify().returncode != 0:
            r = a.verify()
            fail("verify failed on the district: %s %s" % (r.stdout[-800:], r.stderr[-800:]))
        log("ok")
    finally:
        for agg in (prov, a):
            agg.cleanup()


if __name__ == "__main__":
    main()
