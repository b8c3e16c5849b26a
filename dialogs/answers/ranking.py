"""From feature rows to a ranking and a calibrated confidence.

The ranker is a logistic model over each topic's feature row (and the "out of scope" row); the
confidence model is a second logistic model over the best topic's ranker score, its lead over the
runner-up and over "out of scope", its margins over the nearest out-of-scope example and the
question's length. Both are fitted on the content (:func:`dialogs.answers.classifier.calibrate`).
"""

from __future__ import annotations

import numpy as np

from dialogs.answers.features import BM25_FEATURES, EMBED_FEATURES, FEATURES

DEFAULT_WEIGHTS = np.array([4.0, 1.0, 6.0, 3.0, -4.0, -5.0])
"""Weights of :data:`BM25_FEATURES` (bias last), used only when there is nothing to calibrate
on (a pack without examples)."""


def columns(mode: str, head: bool) -> np.ndarray:
    """The feature columns the ranker reads: ``mode`` is ``words`` or ``combined``; ``head``
    whether the classifier's log-probability is one of them."""
    embed = EMBED_FEATURES if mode != "words" else ()
    embed = tuple(f for f in embed if f != "head") + (("head",) if head else ())
    cols = BM25_FEATURES + embed + ("length",)
    return np.array([FEATURES.index(c) for c in cols])



def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def rank_score(rows: np.ndarray, rank_w: np.ndarray | None, cols: np.ndarray) -> np.ndarray:
    """Ranking score of each topic and of "out of scope" (last): the fitted ranker, or best
    document plus topic description plus coverage (plus best cosine) when uncalibrated."""
    if rank_w is None:
        z = rows[:, 0] + rows[:, 1] + rows[:, 2] + rows[:, len(BM25_FEATURES)]
        z[-1] = -np.inf
        return z
    return rows[:, cols] @ rank_w[:-1] + rank_w[-1]


def confidence_rows(rows: np.ndarray, z: np.ndarray, order: np.ndarray, mode: str) -> np.ndarray:
    """Confidence inputs for the topics in ``order`` (best first, "out of scope" excluded):
    ranker score, lead over the runner-up (the best topic) or gap to the best (the others),
    lead over "out of scope", and how much closer the question is to the topic than to the
    nearest out-of-scope example by BM25 and by cosine."""
    second = z[order[1]] if len(order) > 1 else z[order[0]] - 10.0
    lead = np.where(order == order[0], z[order] - second, z[order] - z[order[0]])
    r = rows[order]
    e = len(BM25_FEATURES)
    cols = [z[order], lead, z[order] - z[-1], r[:, 0] - r[:, 4]]
    if mode != "words":
        cols.append(r[:, e] - r[:, e + 3])
    cols.append(r[:, FEATURES.index("length")])
    return np.column_stack(cols)


def probability(rows: np.ndarray, conf_rows: np.ndarray, order: np.ndarray, cal_w: np.ndarray | None) -> np.ndarray:
    """The probability that each topic in ``order`` is the one meant."""
    if cal_w is None:  # uncalibrated: fixed weights on the BM25 features
        x = rows[order][:, [FEATURES.index(c) for c in BM25_FEATURES]]
        return sigmoid(x @ DEFAULT_WEIGHTS[:-1] + DEFAULT_WEIGHTS[-1])
    return sigmoid(conf_rows @ cal_w[:-1] + cal_w[-1])
