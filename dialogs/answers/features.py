"""What the ranker sees of each topic for a question: BM25 features and sentence-embedding features.

One row of :data:`FEATURES` per topic and a last row for "out of scope" (its examples as a class
of their own). Every BM25 feature is relative to the question's own weight, so rows of long and
short questions compare.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from dialogs.answers.corpus import Corpus


BM25_FEATURES = ("doc", "topic", "coverage", "gap", "out_of_scope")
"""Best matching document, topic description match, share of the question the topic's words
cover, lead over the best other topic's document, best out-of-scope example."""

EMBED_FEATURES = ("cos_max", "cos_top3", "cos_gap", "cos_out_of_scope", "cos_centroid", "head")
"""Highest cosine between the question and the topic's example questions and title, mean of its
three highest, lead of the highest over the best other topic's, highest cosine to an
out-of-scope example, cosine to the mean of the topic's examples, and the log-probability the
content's own classifier (:mod:`dialogs.answers.classifier`) gives the topic."""

FEATURES = BM25_FEATURES + EMBED_FEATURES + ("length",)
"""Every feature; ``length`` is the log of the question's term count."""

TOP_K = 3
"""``cos_top3`` averages this many of a topic's highest cosines."""
CHUNK = 128
"""A class's embedded documents are gathered in rows of at most this many (at least TOP_K)."""


class Bm25:
    """BM25 (Lucene variant, ``bm25s``) over a list of stemmed documents."""

    def __init__(self, docs: list[list[str]]) -> None:
        import bm25s
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self._bm25.index(docs, show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def scores(self, terms: list[str]) -> np.ndarray:
        known = [t for t in terms if t in self._vocab]
        if not known:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return self._bm25.get_scores(known)


class Featurizer:
    """Feature rows of a question for one corpus; ``embeddings`` (unit rows of the corpus's
    embedded documents) or None for words alone."""

    def __init__(self, corpus: Corpus, embeddings: np.ndarray | None) -> None:
        self.corpus = corpus
        self.docs_bm25 = Bm25(corpus.docs)
        self.describe_bm25 = Bm25(corpus.describe_docs)
        self.emb = embeddings
        k = corpus.k
        if embeddings is not None:
            by_class = [np.flatnonzero(corpus.emb_class == c) for c in range(k + 1)]
            self.class_sums = np.stack([embeddings[idx].sum(0) for idx in by_class]).astype(np.float64)
            # A question's best cosines per class come from one gather and one partition. Each
            # class's embedded documents are rows of at most CHUNK indices (the index one past the
            # last document pads, where rows() puts -9), so the 650 out-of-scope examples take six
            # rows rather than widening every topic's row to 650 (21,000 cells for 3,000 cosines,
            # 0.3 ms a question); a class over several rows has its rows' best merged after.
            self.largest = max(len(idx) for idx in by_class)
            chunks = [(c, idx[s:s + CHUNK]) for c, idx in enumerate(by_class)
                      for s in range(0, max(len(idx), 1), CHUNK)]
            n = len(embeddings)
            self.chunk_pad = np.full((len(chunks), max(len(idx) for _, idx in chunks)), n)
            for r, (_, idx) in enumerate(chunks):
                self.chunk_pad[r, :len(idx)] = idx
            keep = min(TOP_K, self.largest)
            owner = np.array([c for c, _ in chunks])
            self.merge = None  # (classes, rows * keep) into the rows' best, flattened (one past pads)
            if len(chunks) > k + 1:
                rows_of = [np.flatnonzero(owner == c) for c in range(k + 1)]
                self.merge = np.full((k + 1, max(len(r) for r in rows_of) * keep), len(chunks) * keep)
                for c, rs in enumerate(rows_of):
                    self.merge[c, :len(rs) * keep] = (rs[:, None] * keep + np.arange(keep)).ravel()

    def centroid_cos(self, vec: np.ndarray, sums: np.ndarray | None = None) -> np.ndarray:
        """Cosine of ``vec`` to each class's mean embedding."""
        sums = self.class_sums if sums is None else sums
        norms = np.linalg.norm(sums, axis=1)
        return np.where(norms > 1e-9, (sums @ vec) / np.maximum(norms, 1e-9), -1.0)

    def rows(self, terms: list[str], sims: np.ndarray | None, mask: np.ndarray | None = None,
             centroid: np.ndarray | None = None, head: np.ndarray | None = None) -> np.ndarray:
        """The feature rows for a question's terms and its cosines to the embedded documents
        (``sims``; None without embeddings). ``mask`` holds the documents the question must not
        be matched against (calibration leaves out the question and every document much like it)."""
        c = self.corpus
        k = c.k
        rows = np.zeros((k + 1, len(FEATURES)))
        rows[:, FEATURES.index("length")] = math.log1p(len(terms))
        if terms:
            doc_scores = np.asarray(self.docs_bm25.scores(terms), dtype=np.float64)
            if mask is not None:  # leave-one-out: the document must not vouch for itself
                doc_scores = doc_scores.copy()
                doc_scores[mask] = 0.0
            best = np.zeros(k + 1)
            np.maximum.at(best, c.cls, doc_scores)
            desc = np.zeros(k + 1)
            desc[:k] = self.describe_bm25.scores(terms)
            weights = np.array([c.idf.get(t, c.idf_unknown) for t in terms])
            qnorm = float(weights.sum()) or 1.0
            covered = np.zeros(k + 1)
            removed: dict[str, np.ndarray] = {}
            for j in (mask if mask is not None else ()):
                for t in set(c.docs[j]):
                    removed.setdefault(t, np.zeros(k + 1))[c.cls[j]] += 1
            for t, w in zip(terms, weights):
                counts = c.term_counts.get(t)
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
            e = len(BM25_FEATURES)
            # The TOP_K best cosines of each class, ascending; -1 where a class has fewer
            # (padding and masked documents, -9, never rank above a real cosine).
            width = min(TOP_K, self.largest)
            cand = np.append(sims, -9.0)[self.chunk_pad]
            cand = np.partition(cand, -width, axis=1)[:, -width:]
            if self.merge is not None:
                cand = np.partition(np.append(cand.ravel(), -9.0)[self.merge], -width, axis=1)[:, -width:]
            top = np.full((k + 1, TOP_K), -1.0)
            best_k = np.sort(cand, axis=1)
            top[:, -width:] = np.where(best_k > -2.0, best_k, -1.0)
            cmax = top[:, -1]
            top2 = np.sort(cmax)[-2:]
            other = np.where(cmax >= top2[-1], top2[0], top2[-1])
            rows[:, e] = cmax
            rows[:, e + 1] = np.where(top > -1.0, top, cmax[:, None]).mean(1)
            rows[:, e + 2] = cmax - other
            rows[:, e + 3] = cmax[k]
            rows[:, e + 4] = centroid if centroid is not None else cmax
        if head is not None:
            rows[:, len(BM25_FEATURES) + EMBED_FEATURES.index("head")] = head
        return rows
