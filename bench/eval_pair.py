"""Paired latency of the answers: this checkout against another, question by question, in turn.

Usage:
    python bench/eval_pair.py OTHER [--rounds 5]

OTHER is another checkout of infoshare (for instance ``git worktree add /tmp/base COMMIT``). Each
round starts one process for each checkout, builds their matchers, then asks both every question of
``bench/eval_answers.py`` (the dev sample and every set in ``tests/data``) in lock step: question 1
to one, then to the other, then question 2, the order swapped each question, so both meet the
machine as it is at that moment (on a shared 2-core machine one eval's p99 moves by milliseconds
from run to run, and other processes' bursts last longer than a question). It prints each set's
p99 for both, the median and range over the rounds, and the median of the per-question ratios; then
the p99 of each question's median over its unpressured asks (those during which no task waited
0.5 ms for a CPU, Linux PSI), what an idle machine would show, with the questions that never had
one left out and counted; and checks that every question got the same answer and score from both
in every round (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import eval_answers as ev  # noqa: E402 - puts this checkout first on sys.path; a child puts the other before it


def questions() -> list[tuple[str, str, str, str]]:
    """(set, pack, expected, question) for every question the eval asks, in its order."""
    return [(p.name, *row) for p in (*ev.DEVELOPMENT, *ev.BLIND) if p.is_file() for row in ev.read_tsv(p)]


def child(code: Path) -> None:
    """Answer question numbers read from stdin with ``code``'s answers package, one JSON line each."""
    sys.path.insert(0, str(code))
    import dialogs
    from dialogs.answers import get_matcher

    if not Path(dialogs.__file__).resolve().is_relative_to(code.resolve()):
        raise SystemExit(f"{dialogs.__file__} is not under {code}")
    qs = questions()
    for pack in sorted({q[1] for q in qs}):
        get_matcher(pack)
    print("ready", flush=True)
    for line in sys.stdin:
        _, pack, _, question = qs[int(line)]
        m = get_matcher(pack)
        w0 = ev.cpu_wait_us()
        t0 = time.perf_counter()
        ans = m.ask(question)
        ms = (time.perf_counter() - t0) * 1000
        w1 = ev.cpu_wait_us()
        wait = None if w0 is None or w1 is None else w1 - w0
        print(json.dumps([ms, ans.topic or "-", ans.score, wait]), flush=True)


def one_round(checkouts: dict[str, Path], n: int, flip: int) -> dict[str, list]:
    procs = {name: subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
             for name, path in checkouts.items()}
    try:
        for p in procs.values():
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a child did not start")
        out: dict[str, list] = {name: [] for name in procs}
        names = list(procs)
        for i in range(n):
            for name in (names if (i + flip) % 2 == 0 else names[::-1]):
                procs[name].stdin.write(f"{i}\n")
                procs[name].stdin.flush()
                out[name].append(json.loads(procs[name].stdout.readline()))
        return out
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, nargs="?", help="the other checkout's root")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write every ask's figures to FILE")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.other is None:
        ap.error("name the other checkout")
    checkouts = {"this": ROOT, "other": args.other.resolve()}
    qs = questions()
    rounds = []
    for r in range(args.rounds):
        rounds.append(one_round(checkouts, len(qs), r))
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)

    print(f"machine: {ev.machine()}")
    print(f"this: {ROOT}\nother: {checkouts['other']}\n{args.rounds} rounds, each question to both in turn")
    print(f"{'set':28s} {'this p99 ms':>20s} {'other p99 ms':>20s} {'ratio p99':>10s} {'ratio q':>8s} "
          f"{'pressured*':>10s}")
    sets = list(dict.fromkeys(q[0] for q in qs))
    for name in sets + ["pooled"]:
        idx = [i for i, q in enumerate(qs) if name in ("pooled", q[0])]
        p99 = {who: [ev.percentile([rd[who][i][0] for i in idx], 0.99) for rd in rounds] for who in checkouts}
        ratio = statistics.median(a / b for a, b in zip(p99["this"], p99["other"]))
        per_q = statistics.median(rd["this"][i][0] / rd["other"][i][0] for rd in rounds for i in idx)
        pressured = statistics.median(sum((rd[who][i][3] or 0) >= ev.PRESSURED_US for i in idx)
                                      for rd in rounds for who in checkouts)
        print(f"{name:28s} {_spread(p99['this']):>20s} {_spread(p99['other']):>20s} {ratio:10.2f} {per_q:8.2f} "
              f"{pressured:>4.0f}/{len(idx)}")
    print("ratio p99: median over the rounds of this p99 / other p99; ratio q: median of this / other per question")
    print(f"* questions during which tasks waited {ev.PRESSURED_US / 1000:g} ms or more for a CPU (median run)")
    print(f"\nunpressured: p99 of each question's median over its asks during which no task waited "
          f"{ev.PRESSURED_US / 1000:g} ms for a CPU")
    print(f"{'set':28s} {'this p99 ms':>12s} {'other p99 ms':>12s} {'left out':>9s}")
    for name in sets + ["pooled"]:
        idx = [i for i, q in enumerate(qs) if name in ("pooled", q[0])]
        quiet = {who: [[rd[who][i][0] for rd in rounds if rd[who][i][3] is not None
                        and rd[who][i][3] < ev.PRESSURED_US] for i in idx] for who in checkouts}
        kept = [j for j in range(len(idx)) if all(quiet[who][j] for who in checkouts)]
        p99 = {who: ev.percentile([statistics.median(quiet[who][j]) for j in kept], 0.99) for who in checkouts}
        print(f"{name:28s} {p99['this']:12.2f} {p99['other']:12.2f} {len(idx) - len(kept):>4d}/{len(idx)}")
    if args.json:
        args.json.write_text(json.dumps({"questions": [q[:3] for q in qs], "rounds": rounds}), encoding="utf-8")
    first = [a[1:3] for a in rounds[0]["this"]]
    same = all([a[1:3] for a in rd[who]] == first for rd in rounds for who in checkouts)
    print("every question got the same answer and score from both, in every round" if same
          else "ANSWERS DIFFER between the checkouts or between rounds")
    return 0 if same else 1


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


if __name__ == "__main__":
    sys.exit(main())
