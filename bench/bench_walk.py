"""Benchmark: in-process turns per second of the decision walk, and the cost of restoring a
conversation from storage. Target: a turn, state save included, well under 5 ms.

    python bench/bench_walk.py [--turns 3000]

The baseline measured in the same run is the same turn without touching storage (the machine
alone), so the ratio says what storage costs on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from content.loader import load_pack  # noqa: E402
from dialogs.engine import Engine  # noqa: E402
from dialogs.events import Event  # noqa: E402
from dialogs.walk import WalkModel, get_walk  # noqa: E402
from storage import conversations  # noqa: E402
from storage.db import open_db  # noqa: E402

ANSWERS = ["no", "yes", "no", "yes", "yes"]  # hmg-2018: immediate_risk..lawful_reason -> share


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=3000)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    load_pack("hmg-2018")
    walk = get_walk("hmg-2018")

    # baseline: the state machine alone, no storage
    t = []
    for _ in range(args.turns):
        m = WalkModel(state=walk.pack.start)
        for a in ANSWERS:
            s = time.perf_counter()
            walk.answer(m, a)
            t.append(time.perf_counter() - s)
    base = statistics.mean(t)

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(open_db(Path(tmp) / "bench.db"))
        turns = []
        convs = max(1, args.turns // (len(ANSWERS) + 1))
        for c in range(convs):
            s = time.perf_counter()
            engine.handle("bench", f"c{c}", "u", Event("start", "hmg-2018"))
            turns.append(time.perf_counter() - s)
            for a in ANSWERS:
                s = time.perf_counter()
                engine.handle("bench", f"c{c}", "u", Event("answer", a))
                turns.append(time.perf_counter() - s)
        restore = []
        for c in range(convs):
            s = time.perf_counter()
            raw, _ = conversations.load_state(engine.db, f"bench:c{c}:u")
            restore.append(time.perf_counter() - s)
        resume = []
        for c in range(min(convs, 500)):
            s = time.perf_counter()
            engine.current("bench", f"c{c}", "u")
            resume.append(time.perf_counter() - s)

    ms = 1000
    print(f"machine alone (baseline):  {base * ms:.3f} ms per answer")
    print(f"engine turn + state save:  mean {statistics.mean(turns) * ms:.3f} ms, p50 {pct(turns, .5) * ms:.3f} ms, "
          f"p99 {pct(turns, .99) * ms:.3f} ms, {len(turns) / sum(turns):.0f} turns/s "
          f"({statistics.mean(turns) / base:.0f}x the baseline)")
    print(f"restore state from SQLite: mean {statistics.mean(restore) * ms:.3f} ms, p99 {pct(restore, .99) * ms:.3f} ms")
    print(f"resume (restore + render): mean {statistics.mean(resume) * ms:.3f} ms, p99 {pct(resume, .99) * ms:.3f} ms")
    print("target: a turn, state save included, well under 5 ms")


if __name__ == "__main__":
    main()
