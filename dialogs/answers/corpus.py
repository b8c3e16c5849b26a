"""The documents a pack's questions are matched against, and how a question is read.

Every topic title, example question and keyword phrase is a document owned by its topic; the
out-of-scope examples (and the examples of topics only other packs answer) are documents of the
class "out of scope". A question is read into stemmed terms after the pack's synonyms, UK
spelling and typo correction (a word the topics never use becomes the closest word they do use:
rapidfuzz Damerau-Levenshtein, at most 1 edit for short words, 2 for long ones).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from content.loader import UnknownPack
from content.topics import PACK_TOPICS, Topic, TopicSet, load_topic_set
from dialogs.answers.text import STOPWORDS, WORD, Analyzer, uk_spelling


def foreign_examples(tset: TopicSet) -> tuple[str, ...]:
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


@dataclass
class Corpus:
    """A pack's documents: ``texts[i]`` is owned by topic ``owner[i]`` (-1: out of scope);
    ``cls[i]`` is its class (topic index, or ``k`` for out of scope)."""

    topics: list[Topic]
    texts: list[str]
    owner: np.ndarray
    is_example: np.ndarray
    n_questions: int
    """Documents before this index are titles and examples; then keywords; then out of scope."""
    describe: list[str]
    """One description a topic: title, keywords, answer and more."""
    analyzer: Analyzer
    typos: bool = True

    @classmethod
    def build(cls, tset: TopicSet, *, negatives: bool = True, typos: bool = True) -> "Corpus":
        texts: list[str] = []
        owners: list[int] = []
        is_example: list[bool] = []
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
        if negatives:
            for q in tset.out_of_scope + foreign_examples(tset):
                texts.append(q)
                owners.append(-1)
                is_example.append(True)
        describe = [" ".join((t.title, *t.keywords, t.answer, t.more)) for t in tset.topics]
        return cls(list(tset.topics), texts, np.array(owners), np.array(is_example), n_questions,
                   describe, Analyzer(tset.synonyms), typos)

    def __post_init__(self):
        a = self.analyzer
        k = self.k
        words = [a.words(q) for q in self.texts]
        self.docs = [[a.stem(w) for w in ws] for ws in words]
        self.cls = np.where(self.owner >= 0, self.owner, k)
        topic_words = {w for ws, o in zip(words, self.owner) if o >= 0 for w in ws}
        self._surface = sorted(topic_words)
        self._surface_set = frozenset(topic_words)
        self._near_length: dict[tuple[int, int], list[str]] = {}  # (length, edits) -> candidates
        self._corrections: dict[str, str] = {}
        n = len(self.docs)
        df: dict[str, int] = {}
        for d in self.docs:
            for term in set(d):
                df[term] = df.get(term, 0) + 1
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        # How many of a class's documents (and descriptions) hold each term: coverage.
        self.term_counts: dict[str, np.ndarray] = {}
        for d, c in zip(self.docs, self.cls):
            for term in set(d):
                self.term_counts.setdefault(term, np.zeros(k + 1))[c] += 1
        self.describe_docs = [[a.stem(w) for w in a.words(d)] for d in self.describe]
        for i, d in enumerate(self.describe_docs):
            for term in set(d):
                self.term_counts.setdefault(term, np.zeros(k + 1))[i] += 1
        # A question that is, once normalised, one of a single topic's own examples or titles is
        # answered with that topic: the content says so outright. Every word counts here, stop
        # words too: "someone shared information they shouldn't have" is not "sharing information".
        exact: dict[tuple[str, ...], set[int]] = {}
        for i, o in enumerate(self.owner):
            if i < self.n_questions or o < 0:
                key = self.exact_key(self.texts[i])
                if key:
                    exact.setdefault(key, set()).add(int(o))
        self.exact = {key: next(iter(o)) for key, o in exact.items() if len(o) == 1 and -1 not in o}
        # The documents the sentence model embeds: titles, examples and out-of-scope examples
        # (not the keywords: single words say little to a sentence model).
        self.emb_docs = np.array([i for i in range(n) if i < self.n_questions or self.owner[i] < 0], dtype=int)
        self.emb_index = np.full(n, -1)
        self.emb_index[self.emb_docs] = np.arange(len(self.emb_docs))
        self.emb_class = self.cls[self.emb_docs]

    @property
    def k(self) -> int:
        """How many topics (the out-of-scope class is index ``k``)."""
        return len(self.topics)

    def embed_texts(self) -> list[str]:
        """What the sentence model reads of each embedded document, in ``emb_docs`` order."""
        return [self.embed_text(self.texts[i]) for i in self.emb_docs]

    # ---- reading a question

    def terms(self, question: str) -> list[str]:
        """The question's stemmed terms after synonyms, spelling and typo correction."""
        return [self.analyzer.stem(w) for w in self._words(question)]

    def exact_key(self, text: str) -> tuple[str, ...]:
        """All the text's words, synonyms applied, in UK spelling, stemmed: what an exact match compares."""
        return tuple(self.analyzer.stem(w) for w in self.analyzer.all_words(text))

    def _words(self, question: str) -> list[str]:
        out = []
        for w in self.analyzer.words(question):
            if self.typos and len(w) >= 4 and w not in self._surface_set and not w.isdigit():
                if self.analyzer.stem(w) not in self.term_counts:
                    w = self.correct(w)
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
            if u in self._surface_set or self.analyzer.stem(u) in self.term_counts:
                return u
            return self.correct(u)

        return WORD.sub(fix, text)

    def correct(self, word: str) -> str:
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
