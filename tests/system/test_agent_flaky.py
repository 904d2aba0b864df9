#!/usr/bin/env python3
"""dk-agent over a flaky link (issue 4): two agents reach the real aggregator through
tests/system/flakyproxy.py, which drops, resets, stalls and refuses connections for ~25 s while
the communes keep recording (CLI and CSV drops). Then the link calms down and every event must be
stored exactly once: exact event and participant totals. Bounded: about a minute.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, fail, log  # noqa: E402
from agentharness import Agent, check_totals, wait_until  # noqa: E402
from flakyproxy import FlakyProxy  # noqa: E402


def main():
    check_binaries()
    seed = int(os.environ.get("DK_SEED", "11"))
    rng = random.Random(seed)
    with Aggregator(communes=[24664, 24667]) as agg:
        agg.start()
        proxy = FlakyProxy(("127.0.0.1", agg.port), seed=seed, fault_seconds=25, rate=1.5)
        proxy.start()
        try:
            agents = [Agent(agg, c, endpoint=proxy.endpoint,
                            settings={"ack-timeout": "2s", "retry-max": "1s"})
                      for c in (24664, 24667)]
            for a in agents:
                a.start()
            exp_n, exp_p, value = 0, 0, 1
            t_end = time.time() + 22
            i = 0
            while time.time() < t_end:
                a = agents[i % 2]
                n = rng.randint(50, 300)
                values = list(range(value, value + n))
                value += n
                a.write_csv("f%03d.csv" % i, values)
                exp_n += n
                exp_p += sum(values)
                a.record_training(value)
                exp_n += 1
                exp_p += value
                value += 1
                i += 1
                time.sleep(rng.uniform(0.3, 1.5))
            log("faults injected: %s" % proxy.faults)
            if sum(proxy.faults.values()) < 5:
                fail("the proxy injected too few faults to mean anything: %s" % proxy.faults)
            proxy.stop_faults()
            for a in agents:
                wait_until(lambda a=a: a.drained(), 120,
                    "agent %d to drain over the calmed link" % a.commune, agents, agg)
            check_totals(agg, exp_n, exp_p)
            for a in agents:
                a.stop()
        finally:
            proxy.close()
    log("PASS")


if __name__ == "__main__":
    main()
