"""Evaluate the myth-busting matcher: top-1 accuracy, abstention and latency per question.

Usage:
    python bench/eval_answers.py                 # dev sample and the held-out sets
    python bench/eval_answers.py --tsv PATH ...  # other files with columns pack, expected, question
    python bench/eval_answers.py --errors        # also list the questions it got wrong
    python bench/eval_answers.py --cold          # build with an empty cache and no prepared fits:
                                                 # the embeddings and every fit computed (after a content edit)
    python bench/eval_answers.py --predictions FILE  # also write every question's answer and score
                                                 # (to diff two versions: the same file means the same answers)
    python bench/eval_answers.py --repeat 5      # ask each set 5 times over; a question's latency is the
                                                 # median of its 5 (the targets are judged on that)

On a shared machine one pass's p99 is often another process's doing: a question during which some
task waited 0.5 ms or more for a CPU (Linux's pressure stall information, ``/proc/pressure/cpu``)
is counted and the count printed, so a p99 over the target can be told from a slow matcher.

A TSV row whose ``expected`` is ``-`` is out of scope: the right reply is to abstain. Questions
are only printed with ``--errors`` (test data is made up; real questions are never logged).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEV_TSV = ROOT.parent / "shared" / "eval" / "myths-dev.tsv"
HELD_OUT_TSV = ROOT / "tests" / "data" / "paraphrases.tsv"
FRESH_TSV = ROOT / "tests" / "data" / "paraphrases-fresh.tsv"
"""Written after the BM25 matcher was tuned and measured once."""
UNSEEN_TSV = ROOT / "tests" / "data" / "paraphrases-unseen.tsv"
"""Written and committed before the embedding matcher was built or tuned, measured once at the end."""
HELDOUT2_TSV = ROOT / "tests" / "data" / "paraphrases-heldout2.tsv"
"""Written blind (its writer saw no examples and ran no matcher) before the second round of
tuning (more examples, the split encoder, the threshold), measured once after it."""
HELDOUT3_TSV = ROOT / "tests" / "data" / "paraphrases-heldout3.tsv"
"""Written blind in the same way before the third round (examples for what heldout2 showed
missing), measured once after it."""
HELDOUT4_TSV = ROOT / "tests" / "data" / "paraphrases-heldout4.tsv"
"""Written blind (its writer read only the seeds and the topic list) before the fourth round (the
classifier over embeddings, four layers, 615 more examples); measured once before it, once after."""
HELDOUT5_TSV = ROOT / "tests" / "data" / "paraphrases-heldout5.tsv"
"""Written blind by a second writer at the same time; measured once, after the fourth round."""
HELDOUT6_TSV = ROOT / "tests" / "data" / "paraphrases-heldout6.tsv"
"""Written blind (roles less often heard from) before the fifth round (examples for the kinds of
question heldout4 and heldout5 showed missed); measured once, after it."""
HELDOUT7_TSV = ROOT / "tests" / "data" / "paraphrases-heldout7.tsv"
"""Written blind by a second writer at the same time; measured once, after the fifth round."""
HELDOUT8_TSV = ROOT / "tests" / "data" / "paraphrases-heldout8.tsv"
"""Written blind before the sixth round (out-of-scope traps about children, consent and data that
are not about sharing, and examples for what heldout6 and heldout7 missed); measured once, after it."""
HELDOUT9_TSV = ROOT / "tests" / "data" / "paraphrases-heldout9.tsv"
"""Written blind before issue 11's content (the refusal and 999 fixes, seven new topics, Welsh),
its writer reading only the seeds and the topic list with the planned topics; measured once, after it."""
HELDOUT10_TSV = ROOT / "tests" / "data" / "paraphrases-heldout10.tsv"
"""Written blind (its writer read only the seeds and the topic list) before issue 12's matcher was
tuned (the int8 six-layer model, scikit-learn fits, the classifier's penalty); measured once, after it."""
DEVELOPMENT = (DEV_TSV, HELD_OUT_TSV, FRESH_TSV, UNSEEN_TSV, HELDOUT2_TSV, HELDOUT3_TSV, HELDOUT4_TSV,
               HELDOUT5_TSV, HELDOUT6_TSV, HELDOUT7_TSV)
"""The sets looked at while tuning: what bench/compare_matchers.py chooses by."""
BLIND = (HELDOUT8_TSV, HELDOUT9_TSV, HELDOUT10_TSV)
TARGETS = {"top1": 0.95, "abstain": 0.90, "p99_ms": 10.0, "build_ms": 2000.0}
FIRST = {  # set -> (top-1, abstention) when it was first measured, blind (README, "Answers")
    "paraphrases-unseen.tsv": (84 / 101, 27 / 30), "paraphrases-heldout2.tsv": (157 / 170, 43 / 45),
    "paraphrases-heldout3.tsv": (131 / 151, 40 / 42), "paraphrases-heldout4.tsv": (155 / 180, 43 / 45),
    "paraphrases-heldout5.tsv": (159 / 180, 40 / 45), "paraphrases-heldout6.tsv": (173 / 180, 43 / 45),
    "paraphrases-heldout7.tsv": (175 / 180, 40 / 45), "paraphrases-heldout8.tsv": (178 / 180, 40 / 45),
    "paraphrases-heldout9.tsv": (128 / 160, 40 / 40),
    "paraphrases-heldout10.tsv": (153 / 160, 1.000),
}
"""No change may bring a blind set below its first measurement."""


def percentile(values: list[float], q: float) -> float:
    """The value at rank ``q`` (0 to 1) of ``values``, nearest rank; 0 when there are none."""
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else 0.0


@dataclass
class Result:
    name: str
    in_scope: int
    correct: int
    out_scope: int
    abstained: int
    latencies_ms: list[float]
    errors: list[tuple[str, str, str, str]]
    answers: list[tuple[str, str, float]] = field(default_factory=list)
    """Each question's expected topic, the answer (``-``: abstained) and its score, in file order."""
    medians_ms: list[float] = field(default_factory=list)
    """With ``--repeat N``: each question's median latency over its N asks (else empty)."""
    repeat: int = 1
    pressured: int | None = None
    """Questions during which some task waited 0.5 ms or more for a CPU (None: not measurable)."""

    @property
    def timings_ms(self) -> list[float]:
        """What the latency target is judged on: the medians with ``--repeat``, else the one pass."""
        return self.medians_ms or self.latencies_ms

    @property
    def top1(self) -> float:
        return self.correct / self.in_scope if self.in_scope else 1.0

    @property
    def abstention(self) -> float:
        return self.abstained / self.out_scope if self.out_scope else 1.0

    def percentile(self, q: float) -> float:
        return percentile(self.timings_ms, q)

    def meets_targets(self) -> bool:
        return (self.top1 >= TARGETS["top1"] and self.abstention >= TARGETS["abstain"]
                and self.percentile(0.99) < TARGETS["p99_ms"])


def read_tsv(path: Path) -> list[tuple[str, str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r["pack"].strip(), r["expected"].strip(), r["question"]) for r in rows if r.get("question")]


PRESSURE_FILE = Path("/proc/pressure/cpu")
PRESSURED_US = 500
"""A question counts as pressured when tasks waited this long (microseconds, summed) for a CPU."""


def cpu_wait_us() -> int | None:
    """Microseconds, since boot, that some task was runnable but waiting for a CPU (Linux PSI)."""
    try:
        with open(PRESSURE_FILE, encoding="ascii") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def evaluate(rows: list[tuple[str, str, str]], name: str, get_matcher, repeat: int = 1) -> Result:
    """Ask every question (matchers built beforehand, so latency is per question only); with
    ``repeat`` > 1 the whole set is asked that many times over and each question's median kept."""
    for pack in {p for p, _, _ in rows}:
        get_matcher(pack)
    res = Result(name, 0, 0, 0, 0, [], [])
    pressured = 0 if cpu_wait_us() is not None else None
    for pack, expected, question in rows:
        m = get_matcher(pack)
        w0 = cpu_wait_us()
        t0 = time.perf_counter()
        ans = m.ask(question)
        res.latencies_ms.append((time.perf_counter() - t0) * 1000)
        if pressured is not None:
            pressured += (cpu_wait_us() or 0) - (w0 or 0) >= PRESSURED_US
        got = ans.topic or "-"
        res.answers.append((expected, got, ans.score))
        if expected == "-":
            res.out_scope += 1
            res.abstained += ans.topic is None
        else:
            res.in_scope += 1
            res.correct += got == expected
        if got != expected:
            res.errors.append((pack, expected, got, question))
    res.pressured, res.repeat = pressured, repeat
    if repeat > 1:
        times = [[t] for t in res.latencies_ms]
        for _ in range(repeat - 1):
            for i, (pack, _, question) in enumerate(rows):
                m = get_matcher(pack)
                t0 = time.perf_counter()
                ans = m.ask(question)
                times[i].append((time.perf_counter() - t0) * 1000)
                if (ans.topic or "-") != res.answers[i][1]:
                    raise RuntimeError(f"{name} row {i + 1}: a second ask gave another answer")
        res.medians_ms = [statistics.median(t) for t in times]
    return res


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        load = "load average %.2f" % os.getloadavg()[0]
    except OSError:
        load = ""
    return (f"{platform.platform()}; {os.cpu_count()} CPUs; {model or platform.processor() or platform.machine()}; "
            f"Python {platform.python_version()}; {load}")


def report(res: Result, show_errors: bool) -> str:
    lines = [
        f"{res.name}: {res.in_scope} in scope, {res.out_scope} out of scope",
        f"  top-1 accuracy (in scope):   {res.top1:6.1%}  ({res.correct}/{res.in_scope})  target >= {TARGETS['top1']:.0%}",
        f"  correct abstention (out):    {res.abstention:6.1%}  ({res.abstained}/{res.out_scope})  target >= {TARGETS['abstain']:.0%}",
    ]
    one = res.latencies_ms
    lines.append(f"  latency per question:        p50 {percentile(one, 0.5):.2f} ms, p99 {percentile(one, 0.99):.2f} ms, "
                 f"max {max(one, default=0):.2f} ms"
                 + ("" if res.medians_ms else f"  target p99 < {TARGETS['p99_ms']:.0f} ms"))
    if res.medians_ms:
        lines.append(f"  median of {res.repeat} asks:          p50 {res.percentile(0.5):.2f} ms, "
                     f"p99 {res.percentile(0.99):.2f} ms, max {max(res.medians_ms):.2f} ms  "
                     f"target p99 < {TARGETS['p99_ms']:.0f} ms")
    if res.pressured is not None:
        lines.append(f"  CPU pressure:                {res.pressured} of {len(one)} questions had tasks waiting "
                     f"{PRESSURED_US / 1000:g} ms or more for a CPU")
    lines.append(f"  {'meets' if res.meets_targets() else 'MISSES'} the targets")
    first = FIRST.get(res.name)
    if first:
        low = res.top1 < first[0] - 1e-9 or res.abstention < first[1] - 1e-9
        lines.append(f"  first measured {first[0]:.1%} top-1, {first[1]:.1%} abstention: "
                     f"{'BELOW its first measurement' if low else 'not below it'}")
    if show_errors:
        for pack, expected, got, q in res.errors:
            lines.append(f"    [{pack}] expected {expected}, got {got}: {q}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", action="append", type=Path,
                    help="TSV file(s) to evaluate (default: the dev sample and the held-out paraphrases)")
    ap.add_argument("--errors", action="store_true", help="list the questions answered wrongly")
    ap.add_argument("--cold", action="store_true",
                    help="build with an empty cache, to time building the ONNX graph and the example embeddings")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="ask each set N times over; a question's latency is the median of its N asks")
    ap.add_argument("--predictions", type=Path, metavar="FILE",
                    help="write each question's answer and score (set, row, expected, answer, score as repr) "
                         "to FILE, for diffing two versions; no question text is written")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    from dialogs.answers import get_encoder, get_matcher
    import_ms = (time.perf_counter() - t0) * 1000
    if args.cold:
        import tempfile
        from dialogs.answers import cache
        cache.CACHE_DIR = Path(tempfile.mkdtemp(prefix="infoshare-cold-"))
        cache.PREPARED_DIR = cache.CACHE_DIR / "no-prepared"
    t0 = time.perf_counter()
    encoder = get_encoder()
    load_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    m = get_matcher("hmg-2018")
    build_ms = (time.perf_counter() - t0) * 1000

    print(f"machine: {machine()}")
    print(f"matcher: {m.mode}; model {'unavailable' if encoder is None else encoder.path}"
          f"{'' if encoder is None else '; encoder ' + encoder.name}")
    print(f"import {import_ms:.0f} ms; load model {load_ms:.0f} ms; build hmg-2018 matcher "
          f"{build_ms:.0f} ms (fit {m.fit_source}; target < {TARGETS['build_ms']:.0f} ms)")
    paths = args.tsv or [p for p in (*DEVELOPMENT, *BLIND) if p.is_file()]
    ok = True
    results = []
    for path in paths:
        res = evaluate(read_tsv(path), path.name, get_matcher, max(1, args.repeat))
        results.append(res)
        print(report(res, args.errors))
        ok &= res.meets_targets()
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as f:
            f.write("set\trow\texpected\tanswer\tscore\n")
            for res in results:
                for i, (expected, got, score) in enumerate(res.answers, 1):
                    f.write(f"{res.name}\t{i}\t{expected}\t{got}\t{score!r}\n")
    blind = [r for r in results if r.name in FIRST]
    for name, group in (("pooled, every set", results), ("pooled, the sets written blind in tests/data", blind)):
        if group:
            pooled = Result(name, sum(r.in_scope for r in group), sum(r.correct for r in group),
                            sum(r.out_scope for r in group), sum(r.abstained for r in group),
                            [x for r in group for x in r.latencies_ms], [],
                            medians_ms=[x for r in group for x in r.medians_ms], repeat=group[0].repeat,
                            pressured=None if any(r.pressured is None for r in group)
                            else sum(r.pressured for r in group))
            print(report(pooled, False))
    below = [r.name for r in blind if r.top1 < FIRST[r.name][0] - 1e-9 or r.abstention < FIRST[r.name][1] - 1e-9]
    print("every blind set at or above its first measurement" if not below
          else "BELOW the first measurement: " + ", ".join(below))
    return 0 if ok and not below else 1


if __name__ == "__main__":
    sys.exit(main())
