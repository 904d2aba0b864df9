#!/usr/bin/env python3
"""dk-agent killed with SIGKILL at random moments, during imports and while sending (issue 4):

Two agents push to the real aggregator. 24 rounds: each round drops a CSV into an agent's inbox
or runs `dk-agent import` (killed at a random moment too), records one event by CLI, and
SIGKILLs the running agent after a random delay, then restarts it. A killed import is run again
(row identity makes that safe: it records the rows exactly once whether or not the killed one
committed). At the end every event is stored exactly once: exact event and participant totals.
"""
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dkharness import Aggregator, check_binaries, log  # noqa: E402
from agentharness import AGENT, Agent, check_totals, training_csv, wait_until  # noqa: E402

ROUNDS = 24


def main():
    check_binaries()
    rng = random.Random(int(os.environ.get("DK_SEED", "4")))
    with Aggregator(communes=[24664, 24667]) as agg:
        agg.start()
        agents = [Agent(agg, 24664), Agent(agg, 24667)]
        for a in agents:
            a.start()
        exp_n, exp_p = 0, 0
        value = 1
        kills = 0
        for rnd in range(ROUNDS):
            a = agents[rnd % 2]
            n = rng.randint(20, 400)
            values = list(range(value, value + n))
            value += n
            if rng.random() < 0.5:
                a.write_csv("r%02d.csv" % rnd, values)
            else:
                path = os.path.join(a.dir, "imp%02d.csv" % rnd)
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(training_csv(values))
                p = subprocess.Popen([AGENT, "-c", a.config, "import", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, 0.05))
                p.kill()
                p.wait()
                a.cli("import", path)   # exactly once, whether or not the killed one committed
            exp_n += n
            exp_p += sum(values)
            a.record_training(value)
            exp_n += 1
            exp_p += value
            value += 1
            time.sleep(rng.uniform(0.05, 1.2))
            a.kill()
            kills += 1
            a.start()
        log("%d SIGKILLs of agents done" % kills)
        for a in agents:
            wait_until(lambda a=a: a.drained(), 120,
                "agent %d to drain" % a.commune, agents, agg)
        check_totals(agg, exp_n, exp_p)
        for a in agents:
            a.stop()
    log("PASS")


if __name__ == "__main__":
    main()
