"""Schema check for content packs: ``infoshare content check``.

Each problem is one string naming the file and the node or item, e.g.
``wirral.yaml: node 'consent': answer 'unsure' is missing``. An empty list means all is well.

Example:
    >>> check_packs()
    []
"""

from __future__ import annotations

import re
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from content.loader import ANSWERS, OUTCOMES, PACKS_DIR, PackError, UnknownPack, load_pack_from, pack_ids

REQUIRED_META = ("id", "title", "issuer", "source_file", "source_date", "reviewed", "version")
FIELD_KINDS = ("multi", "single", "text")
START_NODE = "immediate_risk"
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


def _cited_item(where: str, item: Any, keys: tuple[str, ...], seeds_dir: Path | None,
                seeds: list[Path]) -> Iterator[str]:
    if not isinstance(item, dict):
        yield f"{where}: must be a mapping"
        return
    for key in keys:
        yield from check_text(where, item, key, seeds)
    yield from check_citations(where, item.get("cite"), seeds_dir)


def check_pack_data(pack_id: str, data: dict[str, Any], seeds_dir: Path | None = None) -> list[str]:
    """All problems of one resolved pack."""
    f = f"{pack_id}.yaml"
    problems: list[str] = []
    add = problems.extend
    seeds = sorted(seeds_dir.glob("*.txt")) if seeds_dir else []

    for key in REQUIRED_META:
        if not data.get(key):
            problems.append(f"{f}: missing '{key}'")
    if data.get("id") and data["id"] != pack_id:
        problems.append(f"{f}: id {data['id']!r} does not match the file name")
    if seeds_dir is not None and data.get("source_file") and not (seeds_dir / str(data["source_file"])).is_file():
        problems.append(f"{f}: source_file not found in seeds: {data['source_file']}")

    bases = data.get("lawful_bases") or {}
    for bid, basis in bases.items():
        add(_cited_item(f"{f}: lawful basis '{bid}'", basis, ("label",), seeds_dir, seeds))

    outcomes = data.get("outcomes") or {}
    for oid in OUTCOMES:
        if oid not in outcomes:
            problems.append(f"{f}: outcome '{oid}' is missing")
    for oid, outcome in outcomes.items():
        where = f"{f}: outcome '{oid}'"
        if oid not in OUTCOMES:
            problems.append(f"{where}: unknown outcome (known: {', '.join(OUTCOMES)})")
        add(_cited_item(where, outcome, ("title", "text"), seeds_dir, seeds))
        for i, step in enumerate((outcome or {}).get("steps", []) or []):
            add(_cited_item(f"{where}: step {i + 1}", step, ("text",), seeds_dir, seeds))
        cname = (outcome or {}).get("contacts")
        if cname and cname not in (data.get("contacts") or {}):
            problems.append(f"{where}: names unknown contacts list {cname!r}")

    flow = data.get("flow") or {}
    nodes = flow.get("nodes") or {}
    start = flow.get("start")
    if start != START_NODE:
        problems.append(f"{f}: flow must start at '{START_NODE}', not {start!r}")
    if start not in nodes:
        problems.append(f"{f}: start node {start!r} does not exist")
    for nid, node in nodes.items():
        where = f"{f}: node '{nid}'"
        add(_cited_item(where, node, ("question", "help"), seeds_dir, seeds))
        answers = (node or {}).get("answers") or {}
        for ans in ANSWERS:
            if ans not in answers:
                problems.append(f"{where}: answer '{ans}' is missing")
        for ans, edge in answers.items():
            w = f"{where}: answer '{ans}'"
            if ans not in ANSWERS:
                problems.append(f"{w}: unknown answer (allowed: {', '.join(ANSWERS)})")
            if not isinstance(edge, dict) or len({"next", "outcome"} & set(edge)) != 1:
                problems.append(f"{w}: needs exactly one of 'next' or 'outcome'")
                continue
            if "next" in edge and edge["next"] not in nodes:
                problems.append(f"{w}: dangling: next node {edge['next']!r} does not exist")
            if "outcome" in edge and edge["outcome"] not in OUTCOMES:
                problems.append(f"{w}: unknown outcome {edge['outcome']!r}")
            for b in edge.get("bases", []) or []:
                if b not in bases:
                    problems.append(f"{w}: unknown lawful basis {b!r}")
    if start in nodes:
        seen, todo = {start}, deque([start])
        while todo:
            for edge in ((nodes.get(todo.popleft()) or {}).get("answers") or {}).values():
                nxt = edge.get("next") if isinstance(edge, dict) else None
                if nxt in nodes and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for nid in nodes:
            if nid not in seen:
                problems.append(f"{f}: node '{nid}': unreachable from '{start}'")

    for i, item in enumerate(data.get("checklist") or []):
        add(_cited_item(f"{f}: checklist item {i + 1}", item, ("text",), seeds_dir, seeds))
    if not data.get("checklist"):
        problems.append(f"{f}: missing 'checklist'")

    record = data.get("record") or {}
    add(_cited_item(f"{f}: record", record, ("text",), seeds_dir, seeds))
    earlier: set[str] = set()
    for i, field in enumerate(record.get("fields") or []):
        where = f"{f}: record field '{(field or {}).get('id', i + 1)}'"
        add(_cited_item(where, field, ("prompt",), seeds_dir, seeds))
        kind = (field or {}).get("kind")
        if kind not in FIELD_KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(FIELD_KINDS)}")
        if kind in ("multi", "single") and not field.get("choices") and field.get("choices_from") != "path":
            problems.append(f"{where}: needs 'choices' or 'choices_from: path'")
        for key in (field.get("when") or {}):
            if key not in earlier:
                problems.append(f"{where}: 'when' refers to {key!r}, which is not an earlier field")
        earlier.add(field.get("id"))
    for needed in ("reason",):
        if needed not in earlier:
            problems.append(f"{f}: record field '{needed}' is missing")

    for cname, contacts in (data.get("contacts") or {}).items():
        for c in contacts or []:
            add(_cited_item(f"{f}: contact '{cname}.{(c or {}).get('id')}'", c, ("role",), seeds_dir, seeds))
    add(_cited_item(f"{f}: disclaimer", data.get("disclaimer"), ("text",), seeds_dir, seeds))
    return problems


def check_packs(packs_dir: Path = PACKS_DIR, seeds_dir: Path | None = None) -> list[str]:
    """Problems across every pack in ``packs_dir``; with ``seeds_dir`` citations are checked too."""
    ids = pack_ids(packs_dir)
    if not ids:
        return [f"{packs_dir}: no packs found"]
    problems: list[str] = []
    for pid in ids:
        try:
            pack = load_pack_from(pid, packs_dir)
        except (PackError, UnknownPack) as exc:
            problems.append(str(exc))
            continue
        problems.extend(check_pack_data(pid, pack.data, seeds_dir))
    return problems


def check_all(seeds_dir: Path | None = None, packs_dir: Path = PACKS_DIR) -> list[str]:
    """Packs and (when the topics module is present) topics."""
    problems = check_packs(packs_dir, seeds_dir)
    try:
        from content.topics import check_topics
    except ImportError:
        return problems
    return problems + list(check_topics(str(seeds_dir) if seeds_dir else None))
