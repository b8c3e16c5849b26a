"""Fitted weights and embeddings kept between processes: prepared with the content, or cached.

A pack's fit (the embeddings of its documents, the classifier's weights and vocabulary, the
ranker and the confidence model) is named by a key: a digest of :data:`FIT_VERSION` and of what
the fit depends on (the documents and their classes, the topic descriptions, the synonyms, the
settings and the model file's SHA-256), never of the code's text, so a docstring edit refits
nothing. It is looked for in ``content/prepared/`` (shipped with the package, written by
``infoshare content prepare``), then in :data:`CACHE_DIR`, and fitted only when neither holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

import content

FIT_VERSION = "3"
"""Change it whenever the fit, the features or the encoder change what they compute."""

PREPARED_DIR = Path(content.__file__).resolve().parent / "prepared"
CACHE_DIR = Path.home() / ".cache" / "infoshare"
"""Fits for content that has no prepared one (a deployment's own edits). A cache that cannot be
written is skipped: the fit is then done once per process."""
FIT_KEEP_DAYS = 30
"""Cached fits not used for this many days are deleted when a new one is saved."""

FIELDS = ("key", "emb", "head_w", "vocab", "idf", "rank_w", "cal_w")


def fit_key(**parts) -> str:
    h = hashlib.sha256(FIT_VERSION.encode())
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def prepared_path(pack_id: str, mode: str) -> Path:
    return PREPARED_DIR / (f"{pack_id}.npz" if mode == "combined" else f"{pack_id}-{mode}.npz")


def _read(path: Path, key: str) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                return None
            return {n: (f[n] if f[n].size else None) for n in FIELDS if n != "key"}
    except Exception:  # noqa: BLE001 - missing, truncated or not a zip at all: fit again
        return None


EMBEDDINGS = "embeddings.npz"
"""In ``content/prepared/``: every pack's embedded texts once (most are shared between packs),
with the model key, as float16; the packs' prepared fits hold no embeddings of their own."""


@lru_cache(maxsize=4)
def _shared_embeddings(path: Path, mtime: float) -> tuple[str, dict[str, int], np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            texts = f["texts"].tolist()
            return str(f["model"]), {t: i for i, t in enumerate(texts)}, f["emb"]
    except Exception:  # noqa: BLE001 - missing or damaged: the packs' fits are then not usable
        return None


def prepared_embeddings(model: str, texts: list[str]) -> np.ndarray | None:
    """The prepared embeddings of ``texts`` (float16 rows, in order), or None if any is missing."""
    path = PREPARED_DIR / EMBEDDINGS
    try:
        shared = _shared_embeddings(path, path.stat().st_mtime)
    except OSError:
        return None
    if shared is None or shared[0] != model or any(t not in shared[1] for t in texts):
        return None
    return shared[2][[shared[1][t] for t in texts]]


def write_prepared_embeddings(model: str, vectors: dict[str, np.ndarray]) -> bool:
    texts = sorted(vectors)
    arrays = {"model": np.array(model), "texts": np.array(texts),
              "emb": np.stack([vectors[t] for t in texts]).astype(np.float16)}
    return write_file(PREPARED_DIR / EMBEDDINGS, lambda f: np.savez_compressed(f, **arrays))


def load_prepared(pack_id: str, mode: str, key: str, embedded: Callable[[], tuple[str, list[str]]]) -> dict | None:
    """The prepared fit under ``key``, its embeddings filled in from the shared file
    (``embedded()`` gives the model key and the texts, asked only in ``combined`` mode)."""
    fit = _read(prepared_path(pack_id, mode), key)
    if fit is None or mode != "combined":
        return fit
    fit["emb"] = prepared_embeddings(*embedded())
    return fit if fit["emb"] is not None else None


def load(pack_id: str, mode: str, key: str, embedded: Callable[[], tuple[str, list[str]]]) -> tuple[dict | None, str]:
    """The fit under ``key`` and where it came from (``prepared``, ``cache``), or (None, "")."""
    fit = load_prepared(pack_id, mode, key, embedded)
    if fit is not None:
        return fit, "prepared"
    path = CACHE_DIR / f"fit-{key}.npz"
    fit = _read(path, key)
    if fit is None:
        return None, ""
    try:
        os.utime(path)  # marked as used, so pruning keeps it
    except OSError:
        pass
    return fit, "cache"


def _arrays(key: str, fit: dict) -> dict:
    out = {"key": np.array(key)}
    for n in FIELDS[1:]:
        v = fit.get(n)
        out[n] = np.zeros(0) if v is None else np.asarray(v)
    return out


def write(path: Path, key: str, fit: dict) -> bool:
    """Write a fit whole or not at all (a temporary file beside ``path`` replaces it)."""
    arrays = _arrays(key, fit)
    return write_file(path, lambda f: np.savez_compressed(f, **arrays))


def save(key: str, fit: dict) -> None:
    """Keep a fit in :data:`CACHE_DIR` and prune fits unused for :data:`FIT_KEEP_DAYS`."""
    if not write(CACHE_DIR / f"fit-{key}.npz", key, fit):
        return
    cutoff = time.time() - FIT_KEEP_DAYS * 86400
    for old in CACHE_DIR.glob("fit-*.npz"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def write_file(path: Path, write: Callable) -> bool:
    """``write(f)`` fills a temporary file beside ``path``, which then replaces it. False (and
    nothing written) when the folder can't be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide prepared files from other users
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True
    except OSError:
        return False
