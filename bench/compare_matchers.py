"""Measure the matcher alternatives on the development sets.

Usage:
    python bench/compare_matchers.py              # every matcher variant
    python bench/compare_matchers.py --only 'words'  # the variants whose name contains a word
    python bench/compare_matchers.py --list           # the variants' names

Each row builds matchers for every pack with one choice changed from the default
(``dialogs.answers.Matcher``) and prints top-1 accuracy on in-scope questions, correct
abstention on out-of-scope ones, the build time for hmg-2018 (a variant's first build fits it:
tens of seconds; the default loads the prepared fit) and the p99 latency per question.
``rapidfuzz WRatio only`` is the simplest alternative: the best fuzzy match against the example
questions with a fixed cut-off, no BM25 and no calibration. The development sets are the dev
sample and the held-out sets already looked at (``DEVELOPMENT`` in ``eval_answers.py``); the
blind ones are left out: they are measured by ``eval_answers.py`` only. Variants' fits go to a
temporary cache, removed at the end.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_answers import DEVELOPMENT, evaluate, machine, read_tsv  # noqa: E402

from content.topics import load_topic_set  # noqa: E402
from dialogs import answers  # noqa: E402


class FuzzOnly:
    """Best rapidfuzz WRatio against the topics' example questions; abstain below ``cutoff``."""

    def __init__(self, tset, cutoff: float = 80.0):
        from rapidfuzz import fuzz, process, utils
        self._process, self._scorer, self._proc = process, fuzz.WRatio, utils.default_process
        self.cutoff = cutoff
        self.texts, self.owners = [], []
        for t in tset.topics:
            for q in (t.title, *t.examples):
                self.texts.append(q)
                self.owners.append(t.id)

    def ask(self, question: str):
        hit = self._process.extractOne(question, self.texts, scorer=self._scorer,
                                       processor=self._proc)
        topic = self.owners[hit[2]] if hit and hit[1] >= self.cutoff else None
        return answers.Answer(topic, (hit[1] if hit else 0) / 100, None, "", None, matcher="rapidfuzz")


VARIANTS = {
    "default: BM25 + MiniLM embeddings, typos, descriptions, out-of-scope, calibration": {},
    "words only: BM25, no model (the fallback)": {"embed": False},
    "no typo correction": {"typos": False},
    "words only, no out-of-scope examples": {"embed": False, "negatives": False},
    "no out-of-scope examples": {"negatives": False},
    "no calibration (fixed weights)": {"calibrate": False},
    "no classifier over embeddings and words": {"head": False},
    "classifier over embeddings only (no word features)": {"word_features": False},
    "classifier L2 3e-5 (default 1e-4)": {"head_l2": 3e-5},
    "classifier L2 3e-4 (default 1e-4)": {"head_l2": 3e-4},
    "classifier L2 1e-3 (default 1e-4)": {"head_l2": 1e-3},
    "rapidfuzz WRatio only, cut-off 80": "fuzz",
    "rapidfuzz WRatio only, cut-off 70": "fuzz70",
}


def build(variant, pack: str):
    tset = load_topic_set(pack)
    if variant == "fuzz":
        return FuzzOnly(tset, 80.0)
    if variant == "fuzz70":
        return FuzzOnly(tset, 70.0)
    return answers.Matcher(tset, **variant)


def per_pack(variant):
    """Like :func:`dialogs.answers.get_matcher` for one variant: a pack's matcher, built on first use."""
    return functools.lru_cache(maxsize=None)(functools.partial(build, variant))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import shutil
    import tempfile

    from dialogs.answers import cache
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", metavar="WORDS",
                        help="measure only the variants whose name contains WORDS (default: every variant)")
    parser.add_argument("--list", action="store_true", help="print the variants' names and stop")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(VARIANTS))
        return 0
    only = args.only
    cache.CACHE_DIR = Path(tempfile.mkdtemp(prefix="infoshare-variants-"))
    try:
        return _compare(only)
    finally:
        shutil.rmtree(cache.CACHE_DIR, ignore_errors=True)


def _compare(only: str) -> int:
    sets = [(p.name, read_tsv(p)) for p in DEVELOPMENT if p.is_file()]
    print(f"machine: {machine()}")
    header = f"{'variant':84} {'set':22} {'top-1':>6} {'abstain':>7} {'build ms':>8} {'p99 ms':>7}"
    print(header)
    print("-" * len(header))
    for name, variant in VARIANTS.items():
        if only and only not in name:
            continue
        get = per_pack(variant)
        t0 = time.perf_counter()
        get("hmg-2018")
        build_ms = (time.perf_counter() - t0) * 1000

        pooled = [0, 0, 0, 0]
        for set_name, rows in sets:
            res = evaluate(rows, set_name, get)
            pooled = [a + b for a, b in zip(pooled, (res.correct, res.in_scope, res.abstained, res.out_scope))]
            print(f"{name:84} {set_name:22} {res.top1:6.1%} {res.abstention:7.1%} "
                  f"{build_ms:8.0f} {res.percentile(0.99):7.2f}")
        print(f"{name:84} {'pooled':22} {pooled[0] / pooled[1]:6.1%} {pooled[2] / pooled[3]:7.1%} "
              f"({pooled[0]}/{pooled[1]}, {pooled[2]}/{pooled[3]})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
