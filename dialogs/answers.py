"""Myth-busting answers: match a free-text question to a topic with a calibrated confidence.

How a question is matched (measured against alternatives in ``bench/compare_matchers.py``):

1. Normalise: case, quotes, the pack's synonyms (``Clare's Law`` -> domestic violence disclosure
   scheme, ``DSL`` -> designated safeguarding lead ...), US to UK spelling, stop words.
2. Correct typos: a word the topics never use is replaced by the closest word they do use
   (rapidfuzz Damerau-Levenshtein, at most 1 edit for short words, 2 for long ones).
3. Stem (Snowball English) and score every example question, topic title and out-of-scope
   example with BM25 (``bm25s``); a topic scores its best document.
4. Turn the scores into a probability that the best topic is the right answer: a logistic model
   over scale-free features (best score and runner-up relative to the question's own weight,
   how much of the question the topic's words cover, how close the nearest out-of-scope example
   is). It is fitted when the matcher is built, leave-one-out on the topics' own example
   questions and the out-of-scope examples, so it follows the content without a stored model.
   A question that normalises to exactly one topic's example or title gets :data:`EXACT_SCORE`.
5. Answer when the probability reaches :data:`THRESHOLD`; otherwise abstain, offering up to three
   "did you mean" topics whose probability reaches :data:`SUGGEST_MIN`, else what the bot can do.

Example:
    >>> m = get_matcher("hmg-2018")
    >>> m.ask("what is Clare's Law?").topic
    'dvds'
    >>> m.ask("how do I share my screen?").topic is None
    True
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

try:  # PyStemmer: the C build of the Snowball stemmers (same stems, ~100x faster)
    from Stemmer import Stemmer as _Stemmer

    _STEMMER = _Stemmer("english")
except ImportError:  # pragma: no cover - the pure-Python Snowball build
    from snowballstemmer.english_stemmer import EnglishStemmer

    _STEMMER = EnglishStemmer()

from content.loader import DEFAULT_PACK, UnknownPack
from content.topics import Topic, TopicSet, load_topic_set

__all__ = ["Answer", "Matcher", "UnknownPack", "get_matcher", "get_topic", "list_topics",
           "THRESHOLD", "SUGGEST_MIN"]

THRESHOLD = 0.5
"""Answer only when the calibrated probability that the best topic is right reaches this."""

SUGGEST_MIN = 0.1
"""When abstaining, offer topics whose probability reaches this as "did you mean"."""

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

    def words(self, text: str) -> list[str]:
        """Content words of ``text``: normalised, UK spelling, no possessives or stop words."""
        out = []
        for w in _WORD.findall(self.normalise(text)):
            w = w[:-2] if w.endswith("'s") else w.replace("'", "")
            w = uk_spelling(w)
            if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
                out.append(w)
        return out

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

    def to_json(self) -> dict:
        return {"topic": self.topic, "score": round(self.score, 3), "title": self.title,
                "answer": self.answer, "more": self.more, "sources": self.sources,
                "suggestions": self.suggestions, "related": self.related}


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

FEATURES = ("doc", "topic", "coverage", "gap", "out_of_scope", "length")
"""Per-topic features, each relative to the question's own weight (sum of its terms' IDF):
best matching document, topic description match, share of the question the topic's words
cover, lead over the best other topic's document, best out-of-scope example, log of term count."""

DEFAULT_WEIGHTS = np.array([4.0, 1.0, 6.0, 3.0, -4.0, 0.0, -5.0])
"""Used only when there is nothing to calibrate on (a pack without examples)."""


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


# --------------------------------------------------------------------------- the matcher

@dataclass
class _Scored:
    topic: str | None
    prob: float
    ranked: list[tuple[str, float]]  # (topic id, probability), best first


class Matcher:
    """Answers questions for one pack. Build with :func:`get_matcher` (cached per pack).

    ``backend``, ``typos``, ``negatives`` and ``describe`` exist so that
    ``bench/compare_matchers.py`` can measure the alternatives; the defaults are the choice.
    """

    def __init__(self, tset: TopicSet, *, backend: str = "bm25s", typos: bool = True,
                 negatives: bool = True, describe: bool = True, calibrate: bool = True):
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
        for i, t in enumerate(tset.topics):
            for w in t.keywords:
                texts.append(w)
                owners.append(i)
                is_example.append(False)
                n_keywords += 1
        if negatives:
            for q in tset.out_of_scope:
                texts.append(q)
                owners.append(-1)
                is_example.append(True)
        words = [self.analyzer.words(q) for q in texts]
        docs = [[self.analyzer.stem(w) for w in ws] for ws in words]
        self._docs = docs
        self._owner = np.array(owners)
        self._example_doc = np.array(is_example)
        topic_words = {w for ws, o in zip(words, owners) if o >= 0 for w in ws}
        self._surface = sorted(topic_words)
        self._surface_set = frozenset(topic_words)

        n = len(docs)
        df: dict[str, int] = {}
        for d in docs:
            for term in set(d):
                df[term] = df.get(term, 0) + 1
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)

        # How many of a topic's documents hold each term (for coverage, leave-one-out safe).
        self._term_counts: dict[str, np.ndarray] = {}
        for d, o in zip(docs, owners):
            if o >= 0:
                for term in set(d):
                    self._term_counts.setdefault(term, np.zeros(k))[o] += 1

        # A question that is, once normalised, one of a single topic's own examples or titles is
        # answered with that topic: the content says so outright.
        exact: dict[tuple[str, ...], set[int]] = {}
        n_questions = len(docs) - n_keywords - (len(tset.out_of_scope) if negatives else 0)
        for d, o in zip(docs[:n_questions], owners[:n_questions]):
            if d:
                exact.setdefault(tuple(d), set()).add(o)
        self._exact = {key: next(iter(o)) for key, o in exact.items() if len(o) == 1 and -1 not in o}

        self.backend = BACKENDS[backend](docs, texts)
        # Topic descriptions: title, keywords, answer and more, one document per topic.
        self._describe = None
        if describe:
            desc = [" ".join((t.title, *t.keywords, t.answer, t.more)) for t in tset.topics]
            ddocs = [[self.analyzer.stem(w) for w in self.analyzer.words(d)] for d in desc]
            for d, i in zip(ddocs, range(k)):
                for term in set(d):
                    self._term_counts.setdefault(term, np.zeros(k))[i] += 1
            self._describe = BACKENDS[backend](ddocs, desc)
        self._weights = self._calibrate() if calibrate else DEFAULT_WEIGHTS

    # ---- analysis

    def terms(self, question: str) -> list[str]:
        """The question's stemmed terms after synonyms, spelling and typo correction."""
        out = []
        for w in self.analyzer.words(question):
            if self.typos and len(w) >= 4 and w not in self._surface_set and not w.isdigit():
                s = self.analyzer.stem(w)
                if s not in self._term_counts:
                    w = self._correct(w)
            out.append(self.analyzer.stem(w))
        return out

    def _correct(self, word: str) -> str:
        """The closest word the topics use, if it is a likely typo of ``word``; else ``word``."""
        limit = 1 if len(word) <= 7 else 2
        hit = process.extractOne(word, self._surface, scorer=DamerauLevenshtein.distance,
                                 score_cutoff=limit)
        if hit is None or hit[0][0] != word[0]:
            return word
        if len(word) == 4 and sorted(hit[0]) != sorted(word):  # short words: swapped letters only
            return word
        return hit[0]

    # ---- features

    def _features(self, terms: list[str], mask: int | None = None) -> np.ndarray:
        """One row of :data:`FEATURES` per topic for a question's terms."""
        k = len(self._topic_ids)
        doc_scores = np.asarray(self.backend.scores(terms, ""), dtype=np.float64)
        if mask is not None:  # leave-one-out: the document must not vouch for itself
            doc_scores = doc_scores.copy()
            doc_scores[mask] = 0.0
        pos = self._owner >= 0
        best = np.zeros(k)
        np.maximum.at(best, self._owner[pos], doc_scores[pos])
        neg = doc_scores[~pos].max() if (~pos).any() else 0.0
        desc = (np.asarray(self._describe.scores(terms, ""), dtype=np.float64)
                if self._describe is not None else np.zeros(k))
        weights = np.array([self._idf.get(t, self._idf_unknown) for t in terms])
        qnorm = float(weights.sum()) or 1.0
        covered = np.zeros(k)
        held = set(self._docs[mask]) if mask is not None else set()
        held_owner = int(self._owner[mask]) if mask is not None else -1
        for t, w in zip(terms, weights):
            counts = self._term_counts.get(t)
            if counts is None:
                continue
            have = counts > 0
            if t in held and held_owner >= 0 and counts[held_owner] <= 1:
                have = have.copy()
                have[held_owner] = False
            covered += w * have
        top2 = np.sort(best)[-2:] if k > 1 else np.array([0.0, best.max()])
        other = np.where(best >= top2[-1], top2[0], top2[-1])
        rows = np.empty((k, len(FEATURES)))
        rows[:, 0] = best / qnorm
        rows[:, 1] = desc / qnorm
        rows[:, 2] = covered / qnorm
        rows[:, 3] = (best - other) / qnorm
        rows[:, 4] = neg / qnorm
        rows[:, 5] = math.log1p(len(terms))
        return rows

    @staticmethod
    def _rank(rows: np.ndarray) -> np.ndarray:
        """Topic order, best first: best document plus topic description plus coverage."""
        return np.argsort(-(rows[:, 0] + rows[:, 1] + rows[:, 2]), kind="stable")

    def _prob(self, rows: np.ndarray) -> np.ndarray:
        z = rows @ self._weights[:-1] + self._weights[-1]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def _calibrate(self) -> np.ndarray:
        """Fit the logistic model leave-one-out on the example questions and out-of-scope examples.

        Each example question is matched with its own document removed; the best topic's
        features are labelled 1 if that topic is the example's own, else 0. Out-of-scope
        examples are always labelled 0.
        """
        xs, ys = [], []
        for i, doc in enumerate(self._docs):
            if not doc or not self._example_doc[i]:
                continue
            rows = self._features(doc, mask=i)
            top = self._rank(rows)[0]
            xs.append(rows[top])
            ys.append(1.0 if top == self._owner[i] else 0.0)
        if not xs or len(set(ys)) < 2:
            return DEFAULT_WEIGHTS
        return _fit_logistic(np.array(xs), np.array(ys))

    # ---- public API

    def score(self, question: str) -> _Scored:
        terms = self.terms(question)
        if not terms:
            return _Scored(None, 0.0, [])
        rows = self._features(terms)
        order = self._rank(rows)[:MAX_SUGGESTIONS + 1]
        probs = self._prob(rows[order])
        exact = self._exact.get(tuple(terms))
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
                      sources=[{"seed": c["seed"], "section": c["section"]} for c in t.cite],
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
