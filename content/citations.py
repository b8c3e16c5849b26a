"""Citations and the seed documents: is a cited heading really in its seed (and shown whole), and
does a text copy the guidance word for word? Shared by the pack check (:mod:`content.check`) and
the topic check (:mod:`content.topics`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from content.sources import documents, whole_heading

COPY_RUN = 12
"""A run of this many words found verbatim in a seed counts as copied guidance text."""

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def normalise(text: str) -> str:
    """Case-fold, straighten quotes and dashes, collapse whitespace."""
    return " ".join(text.translate(_QUOTES).casefold().split())


@lru_cache(maxsize=32)
def _seed_lines(path: str) -> tuple[str, ...]:
    return tuple(n for n in (normalise(line) for line in Path(path).read_text(encoding="utf-8").splitlines()) if n)


@lru_cache(maxsize=32)
def _seed_runs(path: str) -> frozenset[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", normalise(Path(path).read_text(encoding="utf-8")))
    return frozenset(tuple(words[i:i + COPY_RUN]) for i in range(len(words) - COPY_RUN + 1))


_CONNECTIVES = frozenset("a an and as at be by for from in of on or such the to with".split())


@lru_cache(maxsize=32)
def _seed_text(path: str) -> str:
    return normalise(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _seed_raw_lines(path: str) -> tuple[str, ...]:
    """The seed's non-blank lines as they stand (case kept: a lower-case start means a line carries on)."""
    return tuple(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())


def heading_is_cut(seed_path: Path, section: str) -> bool:
    """True when no line of the seed holds ``section`` as a whole heading: every line that starts
    with it goes on past it, or it ends on a joining word, or the next line carries on in lower case."""
    ends_whole = normalise(section)[-1:] in ".:?"
    wanted = normalise(section).rstrip(" .:?")
    raw = _seed_raw_lines(str(seed_path))
    for i, line in enumerate(raw):
        norm = normalise(line)
        if not norm.startswith(wanted) or norm[len(wanted):].strip(" .:?*"):
            continue
        following = raw[i + 1] if i + 1 < len(raw) else ""
        if (ends_whole or wanted.split()[-1] not in _CONNECTIVES) and not following[:1].islower():
            return False
    return True


def heading_in_seed(seed_path: Path, section: str) -> bool:
    """True when a line of the seed starts with ``section``, or holds it and is at most 30 chars longer."""
    wanted = normalise(section)
    if len(wanted) < 3:
        return False
    return any(line.startswith(wanted) or (wanted in line and len(line) <= len(wanted) + 30)
               for line in _seed_lines(str(seed_path)))


def copied_run(seed_path: Path, text: str) -> str | None:
    """The first run of :data:`COPY_RUN` words of ``text`` that stands verbatim in the seed, if any."""
    words = re.findall(r"[a-z0-9']+", normalise(text))
    runs = _seed_runs(str(seed_path))
    for i in range(len(words) - COPY_RUN + 1):
        if tuple(words[i:i + COPY_RUN]) in runs:
            return " ".join(words[i:i + COPY_RUN])
    return None


def check_citations(where: str, cite: Any, seeds_dir: Path | None) -> Iterator[str]:
    """Problems with one ``cite`` list: missing, malformed, or (with ``seeds_dir``) not in its seed."""
    if not cite or not isinstance(cite, list):
        yield f"{where}: missing citation"
        return
    for c in cite:
        if not isinstance(c, dict) or not c.get("seed") or not c.get("section"):
            yield f"{where}: citation needs 'seed' and 'section': {c!r}"
            continue
        if seeds_dir is not None:
            seed = seeds_dir / str(c["seed"])
            if not seed.is_file():
                yield f"{where}: cited seed file not found: {c['seed']}"
            elif not heading_in_seed(seed, str(c["section"])):
                yield f"{where}: section heading not found in {c['seed']}: {c['section']!r}"
            else:
                yield from _check_shown_heading(where, seed, str(c["section"]))
        if str(c["seed"]) not in documents():
            yield f"{where}: no document name for {c['seed']} in content/sources.yaml"


def _check_shown_heading(where: str, seed: Path, section: str) -> Iterator[str]:
    """The heading users see must be whole, and really in the seed."""
    shown = whole_heading(seed.name, section)
    if normalise(shown).rstrip(" :") == normalise(section).rstrip(" :"):
        if heading_is_cut(seed, section):
            yield (f"{where}: heading {section!r} is cut short in {seed.name}: give it whole under "
                   f"'headings' in content/sources.yaml")
    elif normalise(shown) not in _seed_text(str(seed)):
        yield f"{where}: the whole heading in content/sources.yaml is not in {seed.name}: {shown!r}"


def check_text(where: str, item: Any, key: str, seeds: list[Path]) -> Iterator[str]:
    """Problems with a required text: missing, or copied word for word from a seed."""
    text = item.get(key) if isinstance(item, dict) else None
    if not isinstance(text, str) or not text.strip():
        yield f"{where}: missing {key}"
        return
    for seed in seeds:
        run = copied_run(seed, text)
        if run:
            yield f"{where}: {key} copies the guidance word for word ({seed.name}): '{run} ...'"
