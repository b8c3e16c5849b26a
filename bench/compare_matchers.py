"""Measure the matcher alternatives on the dev sample and the held-out paraphrases.

Usage:
    python bench/compare_matchers.py

Each row builds matchers for every pack with one choice changed from the default
(``dialogs.answers.Matcher``) and prints top-1 accuracy on in-scope questions, correct
abstention on out-of-scope ones, the index build time for hmg-2018 and the p99 latency per
question. ``rapidfuzz WRatio only`` is the simplest alternative: the best fuzzy match against
the example questions with a fixed cut-off, no BM25 and no calibration.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_answers import DEV_TSV, HELD_OUT_TSV, evaluate, machine, read_tsv  # noqa: E402

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
        return answers.Answer(topic, (hit[1] if hit else 0) / 100, None, "", None)


VARIANTS = {
    "default: bm25s + typos + descriptions + out-of-scope + calibration": {},
    "rank-bm25 instead of bm25s": {"backend": "rank-bm25"},
    "rapidfuzz token_set_ratio instead of BM25": {"backend": "rapidfuzz"},
    "no typo correction": {"typos": False},
    "no topic descriptions (examples only)": {"describe": False},
    "no out-of-scope examples": {"negatives": False},
    "no calibration (fixed weights)": {"calibrate": False},
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


def main() -> int:
    sets = [(p.name, read_tsv(p)) for p in (DEV_TSV, HELD_OUT_TSV) if p.is_file()]
    print(f"machine: {machine()}")
    header = f"{'variant':68} {'set':16} {'top-1':>6} {'abstain':>7} {'build ms':>8} {'p99 ms':>7}"
    print(header)
    print("-" * len(header))
    for name, variant in VARIANTS.items():
        cache: dict[str, object] = {}
        t0 = time.perf_counter()
        cache["hmg-2018"] = build(variant, "hmg-2018")
        build_ms = (time.perf_counter() - t0) * 1000

        def get(pack: str, cache=cache, variant=variant):
            if pack not in cache:
                cache[pack] = build(variant, pack)
            return cache[pack]

        for set_name, rows in sets:
            res = evaluate(rows, set_name, get)
            print(f"{name:68} {set_name:16} {res.top1:6.1%} {res.abstention:7.1%} "
                  f"{build_ms:8.0f} {res.percentile(0.99):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
