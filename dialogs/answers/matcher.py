"""The matcher: a question in, a topic's answer or an honest abstention out.

It ranks the topics and "out of scope" with the fitted ranker over :mod:`features`, turns the
best topic's lead into a probability with the confidence model, answers when that reaches
:data:`THRESHOLD`, and otherwise abstains, offering up to three "did you mean" topics whose
probability reaches :data:`SUGGEST_MIN`, else what the bot can do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from content.sources import named
from content.topics import Topic, TopicSet
from dialogs.answers import cache
from dialogs.answers.classifier import HEAD_L2, WordFeatures, calibrate, fit_head, head_logp
from dialogs.answers.corpus import Corpus
from dialogs.answers.encoder import Encoder, embed, get_encoder
from dialogs.answers.features import FEATURES, Featurizer
from dialogs.answers.ranking import columns, confidence_rows, probability, rank_score
from dialogs.language import is_welsh

THRESHOLD = 0.55
"""Answer only when the calibrated probability that the best topic is right reaches this.

The probability is fitted on the content's own examples, which are closer to each other than
people's questions are to them. With the classifier's penalty at 3e-5, of 0.5 to 0.7 in steps of
0.05, 0.55 and 0.6 are the values at which every development set reaches 95% top-1 and 95%
abstention (``bench/eval_answers.py``). 0.55 answers 1348 of 1387 development questions right
and abstains on 359 of 368; 0.6 answers eight fewer right for one more abstention."""

SUGGEST_MIN = 0.05
"""When abstaining, offer topics whose probability reaches this as "did you mean". Off-topic
questions score about 0 on every topic, so they still get none; a vague one ("information
sharing") gets the two or three topics it might mean (at 0.1 after the last content round it
got one, and not the general "when and how to share")."""

SHORT_TERMS = 2
"""A question of at most this many content words ("consent", "information sharing") is answered
only if its best topic stays above the threshold once the chance that the runner-up is the one
meant is taken off; else the bot offers both. Longer questions are left to the calibration."""

MAX_SUGGESTIONS = 3
EXACT_SCORE = 0.99
"""Confidence given when a question is exactly one of a topic's examples (after normalising)."""


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
    matcher: str = "model"
    """``model`` (words and the sentence model), or ``words`` when the model file is missing or
    does not match its pinned hash."""

    def to_json(self) -> dict:
        return {"topic": self.topic, "score": round(self.score, 3), "title": self.title,
                "answer": self.answer, "more": self.more, "sources": self.sources,
                "suggestions": self.suggestions, "related": self.related, "language": self.language,
                "matcher": self.matcher}


@dataclass
class Scored:
    topic: str | None
    prob: float
    ranked: list[tuple[str, float]]  # (topic id, probability), best first


_BLAS: list = []
_BLAS_LOCK = threading.Lock()


def blas_on_one_thread() -> None:
    """Put BLAS on one thread for the rest of the process: every product here is small, and
    OpenBLAS's second thread, waiting for a busy core, made a question's cosines take 8 ms
    instead of 0.06 on a shared 2-core machine."""
    if not _BLAS:
        with _BLAS_LOCK:
            if not _BLAS:
                from threadpoolctl import threadpool_limits
                threadpool_limits(limits=1, user_api="blas")
                _BLAS.append(True)


@dataclass
class Plan:
    """What a matcher's fit depends on, and the key it is kept under."""

    corpus: Corpus
    encoder: Encoder | None
    mode: str
    options: dict
    columns: np.ndarray
    key: str

    def embedded(self) -> tuple[str, list[str]]:
        """The model key and the texts the fit's embeddings are of."""
        return self.encoder.key, self.corpus.embed_texts()


def fit_plan(tset: TopicSet, *, embed: bool = True, typos: bool = True, negatives: bool = True,
             calibrate: bool = True, head: bool = True, word_features: bool = True,
             head_l2: float = HEAD_L2, encoder: Encoder | None = None) -> Plan:
    """The documents, encoder and settings of a matcher for ``tset``, and its fit's key."""
    c = Corpus.build(tset, negatives=negatives, typos=typos)
    enc = (encoder or get_encoder()) if embed else None
    mode = "combined" if enc is not None else "words"
    # The classifier reads the embedding and the words; without the model, the words alone.
    use_head = head and (enc is not None or word_features) and len(set(c.emb_class.tolist())) > 1
    options = dict(typos=typos, negatives=negatives, calibrate=calibrate, head=use_head, head_l2=head_l2,
                   words=word_features and use_head)
    key = cache.fit_key(mode=mode, options=options, texts=c.texts, owner=c.owner.tolist(),
                        example=c.is_example.tolist(), describe=c.describe,
                        synonyms=sorted(tset.synonyms.items()), model=enc.key if enc is not None else None)
    return Plan(c, enc, mode, options, columns(mode, use_head), key)


class Matcher:
    """Answers questions for one pack. Build with :func:`dialogs.answers.get_matcher` (once per pack).

    ``embed=False`` matches on words alone (BM25), as happens when the model is unavailable;
    ``head``, ``word_features``, ``calibrate`` and ``head_l2`` exist so that
    ``bench/compare_matchers.py`` can measure the alternatives; the defaults are the choice.
    """

    def __init__(self, tset: TopicSet, **options) -> None:
        plan = fit_plan(tset, **options)
        self.pack_id = tset.pack_id
        self.topics: dict[str, Topic] = {t.id: t for t in tset.topics}
        self._topic_ids = list(self.topics)
        self.messages = tset.messages
        self.corpus = plan.corpus
        self.encoder, self.mode, self.columns, self.key = plan.encoder, plan.mode, plan.columns, plan.key
        options = plan.options
        fit, self.fit_source = cache.load(self.pack_id, self.mode, self.key, plan.embedded)
        if fit is None:
            fit, self.fit_source = self._fit(options), "fitted"
            cache.save(self.key, fit)
        self.fit = fit
        self._emb = None if fit["emb"] is None else fit["emb"].astype(np.float32)
        self._feat = Featurizer(self.corpus, self._emb)
        self._head_w = None if fit["head_w"] is None else fit["head_w"].astype(np.float64)
        self._words = (WordFeatures({t: j for j, t in enumerate(fit["vocab"].tolist())}, fit["idf"])
                       if fit["vocab"] is not None else None)
        self._rank_w, self._cal_w = fit["rank_w"], fit["cal_w"]

    def _fit(self, options: dict) -> dict:
        """Embed the documents and fit the classifier, ranker and confidence model (seconds)."""
        c = self.corpus
        fit: dict = dict.fromkeys(cache.FIELDS[1:])
        if self.encoder is not None:
            fit["emb"] = embed(self.encoder, self.embed_texts()).astype(np.float16)
        emb = None if fit["emb"] is None else fit["emb"].astype(np.float32)
        feat = Featurizer(c, emb)
        head = None
        if options["head"]:
            blas_on_one_thread()
            words = None
            if options["words"]:
                wf, words = WordFeatures.fit([c.docs[i] for i in c.emb_docs])
                order = sorted(wf.vocab, key=wf.vocab.get)
                fit["vocab"], fit["idf"] = np.array(order), wf.idf
            emb64 = None if emb is None else emb.astype(np.float64)
            fit["head_w"] = fit_head(emb64, words, c.emb_class, c.k + 1, options["head_l2"]).astype(np.float32)
            head = (emb64, words)
        if options["calibrate"]:
            fit["rank_w"], fit["cal_w"] = calibrate(c, feat, self.columns, self.mode, head, options["head_l2"])
        return fit

    def embed_texts(self) -> list[str]:
        """What the sentence model reads of each embedded document."""
        return self.corpus.embed_texts()

    # ---- answering

    def terms(self, question: str) -> list[str]:
        return self.corpus.terms(question)

    def _similarities(self, question: str, terms: list[str]):
        """Cosine of the question to every embedded document and to each class's mean example
        (None, None without the model), and the classifier's log-probabilities (None without it)."""
        sims = centroid = vec = None
        if self._emb is not None:
            vec = self.encoder.encode_one(self.corpus.embed_text(question))
            blas_on_one_thread()
            sims = (self._emb @ vec).astype(np.float64)
            vec = vec.astype(np.float64)
            centroid = self._feat.centroid_cos(vec)
        head = None
        if self._head_w is not None:
            words = self._words.row(terms) if self._words is not None else None
            head = head_logp(self._head_w, vec, words)
        return sims, centroid, head

    def score(self, question: str) -> Scored:
        c = self.corpus
        terms = c.terms(question)
        if not terms:  # nothing but stop words and greetings
            return Scored(None, 0.0, [])
        k = c.k
        exact = c.exact.get(c.exact_key(question))
        sims, centroid, head = self._similarities(question, terms)
        rows = self._feat.rows(terms, sims, centroid=centroid, head=head)
        z = rank_score(rows, self._rank_w, self.columns)
        order = np.argsort(-z[:k], kind="stable")[:MAX_SUGGESTIONS + 1]
        probs = probability(rows, confidence_rows(rows, z, order, self.mode), order, self._cal_w)
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
        return Scored(top_id if top_p >= THRESHOLD else None, top_p, ranked)

    @property
    def kind(self) -> str:
        """``model`` or ``words``, as ``ask --json`` reports it."""
        return "model" if self.mode == "combined" else "words"

    def ask(self, question: str) -> Answer:
        """The best topic's answer, or an abstention with "did you mean" suggestions."""
        if is_welsh(question):
            return Answer(topic=None, score=0.0, title=None, answer=self.messages["welsh"], more=None,
                          language="cy", matcher=self.kind)
        s = self.score(question)
        if s.topic is not None:
            return self.answer_for(s.topic, s.prob)
        suggestions = [tid for tid, p in s.ranked if p >= SUGGEST_MIN][:MAX_SUGGESTIONS]
        if suggestions:
            text = "\n".join([self.messages["did_you_mean"]] + [f"- {self.topics[t].title}" for t in suggestions])
        else:
            text = self.messages["no_answer"]
        best = s.ranked[0][1] if s.ranked else 0.0
        return Answer(topic=None, score=best, title=None, answer=text, more=None, sources=[],
                      suggestions=suggestions, related=[], matcher=self.kind)

    def answer_for(self, topic_id: str, score: float = 1.0) -> Answer:
        t = self.topics[topic_id]
        return Answer(topic=t.id, score=score, title=t.title, answer=t.answer, more=t.more or None,
                      sources=named(t.cite), suggestions=[], related=list(t.related), matcher=self.kind)


__all__ = ["Answer", "Matcher", "Scored", "THRESHOLD", "SUGGEST_MIN", "FEATURES"]
