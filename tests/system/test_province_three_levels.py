"""Three levels: nation -> province -> district, with commune clients pushing at the bottom. The
nation's totals equal the district's exactly, through two pulls, also after more events."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, expected_totals, fail, log  # noqa: E402


class Parent(Aggregator):
    level = "province"

    def config_text(self):
        return super().config_text().replace("level = district", "level = " + self.level)


def want(ranges):
    t = expected_totals(ranges)
    return [t.get(i, 0) for i in range(18)]


def wait_equal(agg, expected, what, timeout=40):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = agg.snapshot(reader="test")["sums"]
        if got == expected:
            return
        time.sleep(0.3)
    agg.dump_log(40)
    fail("%s: sums %s, expected %s" % (what, got, expected))


def child_ini(name, agg):
    return ('\n[child %s]\nunit = %d\nendpoint = %s\nserver-key = "%s"\ninterval = 1s\n'
            'timeout = 800ms\n' % (name, agg.unit, agg.endpoint, agg.server_public))


def reader_ini(name, pub):
    return '\n[reader %s]\npublic-key = "%s"\nrole = province\n' % (name, pub)


def main():
    check_binaries()
    nation = Parent(communes=[], readers=["test"], unit=1, name="Việt Nam")
    nation.level = "national"
    prov = Parent(communes=[], readers=["test"], unit=67, name="Tỉnh Đắk Nông",
                  extra_ini=reader_ini("nation", nation.server_public))
    dist = Aggregator(communes=[24664, 24685], readers=["test"], unit=663,
                      extra_ini=reader_ini("province", prov.server_public))
    prov.extra_ini += child_ini("dakmil", dist)
    prov.write_config()
    nation.extra_ini = child_ini("daknong", prov)
    nation.write_config()
    try:
        dist.start()
        prov.start()
        nation.start()
        dist.send(24664, 200, 50)
        dist.send(24685, 150, 50)
        ranges = [(24664, 1, 200), (24685, 1, 150)]
        wait_equal(prov, want(ranges), "province")
        wait_equal(nation, want(ranges), "nation")
        dist.send(24685, 100, 50, 151)
        ranges.append((24685, 151, 250))
        wait_equal(nation, want(ranges), "nation after more events")
        units = {u["unit"] for u in nation.snapshot(reader="test")["units"]}
        if not {24664, 24685} <= units:
            fail("the nation does not know the communes' states: %s" % sorted(units))
        log("ok")
    finally:
        for a in (nation, prov, dist):
            a.cleanup()


if __name__ == "__main__":
    main()
