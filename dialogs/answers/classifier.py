"""Fitting on the content: the classifier over embeddings and words, the ranker and the confidence.

All three are scikit-learn ``LogisticRegression`` fits on the pack's own example questions and
out-of-scope examples, done when a pack's content has no prepared fit (``content/prepared/``,
made by ``infoshare content prepare``) and none is cached; scikit-learn is imported only then.
What the fits produce is kept as plain arrays, so answering needs numpy alone.

- The classifier (:func:`fit_head`): multinomial logistic regression of each embedded document's
  class (its topic, or "out of scope") on its embedding and the TF-IDF of its words and word pairs
  (``TfidfVectorizer``). A linear classifier over the whole embedding weighs the directions that
  tell topics apart, and the words add what the small model blurs (names, "999", "right to ask").
- The ranker and the confidence model (:func:`calibrate`): each example is matched with its own
  document and every document 75%+ like it left out, the classifier's log-probabilities taken
  out-of-fold (``cross_val_predict`` over ``GroupKFold``, near-copies in one group), so they see
  questions as new as real ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz import utils as rf_utils
from scipy import sparse

from dialogs.answers.corpus import Corpus
from dialogs.answers.features import Featurizer
from dialogs.answers.ranking import confidence_rows, rank_score

HEAD_L2 = 3e-5
"""L2 penalty of the classifier, per example (``C = 1 / (HEAD_L2 * n)``). With the int8 model's
six layers, on the development sets at threshold 0.6: 1e-5 answers 1343 of 1387 right and 360
of 368 abstentions, 3e-5 1340 and 360, 1e-4 1335 and 363, 3e-4 1318 and 365. Only with 3e-5 does
every development set reach 95% top-1 and 95% abstention at two thresholds, 0.55 and 0.6
(1e-5: at 0.5 and 0.55; 1e-4: at none) (bench/compare_matchers.py, and a sweep of the threshold)."""
RANK_L2 = 1e-2
"""L2 penalty of the ranker and the confidence model (``C = 1 / RANK_L2``)."""
HEAD_FOLDS = 5
HOLDOUT = 75.0
"""A document this like an example (rapidfuzz ratio) is left out when the example is matched."""
LOGP_FLOOR = -50.0
"""The classifier's log-probabilities are floored here (a class absent from a fold's training
documents gets scikit-learn's lowest float)."""


def pairs(terms: list[str]) -> list[str]:
    """A document's words and neighbouring word pairs, as the classifier reads them."""
    return list(terms) + [f"{a} {b}" for a, b in zip(terms, terms[1:])]


@dataclass
class WordFeatures:
    """TF-IDF of words and word pairs that two documents or more use (binary counts, idf
    ``ln(n / df) + 1``, unit rows): ``TfidfVectorizer`` fits it; :meth:`row` applies it."""

    vocab: dict[str, int]
    idf: np.ndarray

    @classmethod
    def fit(cls, docs: list[list[str]]) -> tuple["WordFeatures", sparse.csr_matrix]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer=pairs, min_df=2, binary=True, smooth_idf=False, norm="l2")
        matrix = vec.fit_transform(docs)
        return cls({t: int(j) for t, j in vec.vocabulary_.items()}, vec.idf_), matrix.tocsr()

    def row(self, terms: list[str]) -> np.ndarray:
        """A question's dense TF-IDF row (what ``TfidfVectorizer.transform`` gives)."""
        x = np.zeros(len(self.vocab))
        js = sorted({self.vocab[t] for t in pairs(terms) if t in self.vocab})
        if js:
            v = self.idf[js]
            x[js] = v / np.linalg.norm(v)
        return x


def _design(emb: np.ndarray | None, words: sparse.csr_matrix | None):
    if emb is None:
        return words
    return emb if words is None else sparse.hstack([sparse.csr_matrix(emb), words]).tocsr()


def _head_model(n: int, l2: float):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(C=1.0 / (l2 * n), max_iter=300, tol=1e-6)


def _full_weights(model, classes: int) -> np.ndarray:
    """(columns + 1, classes) weights, bias last; a class the fit never saw scores ``LOGP_FLOOR``."""
    if len(model.classes_) > 2:
        coef, bias = model.coef_, model.intercept_
    else:  # binary: p(second) = sigmoid(z), which is softmax over the logits (0, z)
        coef = np.vstack([np.zeros_like(model.coef_), model.coef_])
        bias = np.array([0.0, model.intercept_[0]])
    w = np.zeros((coef.shape[1] + 1, classes))
    w[-1] = LOGP_FLOOR
    w[:-1, model.classes_] = coef.T
    w[-1, model.classes_] = bias
    return w


def fit_head(emb: np.ndarray | None, words: sparse.csr_matrix | None, y: np.ndarray, classes: int,
             l2: float = HEAD_L2) -> np.ndarray:
    """The classifier's weights, shape (embedding + vocabulary + 1, classes), bias last (no
    embedding columns without the model)."""
    model = _head_model(len(y), l2).fit(_design(emb, words), y)
    return _full_weights(model, classes)


def head_logp(w: np.ndarray, vec: np.ndarray | None, words: np.ndarray | None = None) -> np.ndarray:
    """Log-probabilities of every class for one embedding (None without the model) and its
    TF-IDF row."""
    d = 0 if vec is None else vec.shape[-1]
    z = w[-1] if vec is None else vec @ w[:d] + w[-1]
    if words is not None:
        z = z + words @ w[d:-1]
    z = z - z.max(-1, keepdims=True)
    return np.maximum(z - np.log(np.exp(z).sum(-1, keepdims=True)), LOGP_FLOOR)


def head_out_of_fold(emb: np.ndarray, words, y: np.ndarray, groups: np.ndarray, classes: int,
                     l2: float = HEAD_L2) -> np.ndarray:
    """Each document's class log-probabilities from a classifier fitted without its group
    (it and the documents much like it), :data:`HEAD_FOLDS` group folds."""
    from sklearn.model_selection import GroupKFold, cross_val_predict

    folds = GroupKFold(n_splits=HEAD_FOLDS, shuffle=True, random_state=0)
    n_train = int(len(y) * (HEAD_FOLDS - 1) / HEAD_FOLDS)
    logp = cross_val_predict(_head_model(n_train, l2), _design(emb, words), y, groups=groups, cv=folds,
                             method="predict_log_proba")
    out = np.full((len(y), classes), LOGP_FLOOR)
    present = np.unique(y)
    out[:, present] = np.maximum(logp, LOGP_FLOOR)
    return out


def fit_binary(x: np.ndarray, y: np.ndarray, l2: float = RANK_L2) -> np.ndarray:
    """Logistic regression weights, bias last."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0 / l2, max_iter=2000, tol=1e-8).fit(x, y)
    return np.append(model.coef_[0], model.intercept_[0])


def calibrate(corpus: Corpus, feat: Featurizer, cols: np.ndarray, mode: str,
              head: tuple[np.ndarray, sparse.csr_matrix | None] | None, l2: float = HEAD_L2):
    """Fit the ranker and the confidence model leave-one-out on the example questions and
    out-of-scope examples: ``(rank_w, cal_w)``, either None when there is nothing to fit on.

    Each example is matched with its own document (and embedding) and every document as close
    to it as a test question may be to an example removed. The ranker is a logistic model over
    the rows of every topic and of "out of scope", labelled 1 for the example's own. The
    confidence model sees the best topic's ranker score, leads and out-of-scope margins,
    labelled 1 if that topic is the example's own; out-of-scope examples are always 0.
    ``head`` is the classifier's inputs ``(embeddings, words)`` when it is used.
    """
    items = [i for i, d in enumerate(corpus.docs) if d and corpus.is_example[i]]
    if not items:
        return None, None
    k = corpus.k
    emb = feat.emb
    close = process.cdist(corpus.texts, corpus.texts, scorer=fuzz.ratio, processor=rf_utils.default_process,
                          score_cutoff=HOLDOUT, dtype=np.uint8, workers=1)
    head_oof = None
    if head is not None:
        from scipy.sparse.csgraph import connected_components

        idx = corpus.emb_docs
        _, groups = connected_components(sparse.csr_matrix(close[np.ix_(idx, idx)]), directed=False)
        head_oof = head_out_of_fold(head[0], head[1], corpus.emb_class, groups, k + 1, l2)
    sims_all = emb @ emb.T if emb is not None else None
    per_item = []
    for i in items:
        mask = np.union1d(np.flatnonzero(close[i]), [i]).astype(int)
        sims = centroid = None
        if sims_all is not None:
            sims = sims_all[corpus.emb_index[i]].astype(np.float64)
            held = corpus.emb_index[mask]
            held = held[held >= 0]
            sims[held] = -9.0
            sums = feat.class_sums.copy()
            np.subtract.at(sums, corpus.emb_class[held], emb[held])
            centroid = feat.centroid_cos(emb[corpus.emb_index[i]], sums)
        per_item.append(feat.rows(corpus.docs[i], sims, mask=mask, centroid=centroid,
                                  head=head_oof[corpus.emb_index[i]] if head_oof is not None else None))
    xs = np.vstack([r[:, cols] for r in per_item])
    ys = np.concatenate([(np.arange(k + 1) == corpus.cls[i]).astype(float) for i in items])
    if len(set(ys)) < 2:
        return None, None
    rank_w = fit_binary(xs, ys)
    cx, cy = [], []
    for i, rows in zip(items, per_item):
        z = rank_score(rows, rank_w, cols)
        order = np.argsort(-z[:k], kind="stable")[:2]
        cx.append(confidence_rows(rows, z, order, mode)[0])
        cy.append(1.0 if order[0] == corpus.cls[i] and z[order[0]] > z[k] else 0.0)
    if len(set(cy)) < 2:
        return rank_w, None
    return rank_w, fit_binary(np.array(cx), np.array(cy))
