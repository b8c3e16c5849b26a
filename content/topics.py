"""Myth-busting topics as data: ``content/topics/common.yaml`` plus per-pack override files.

A pack's topics are the common topics with ``content/topics/<pack>.yaml`` merged over them: a
topic whose id is already known has the keys it gives replaced (the others are kept); a new id
adds a topic; ``remove: [ids]`` drops common topics from that pack. ``hmg-2018`` has no override
file, so its topics are exactly the common ones. The format is described in content/SCHEMA.md.

Example:
    >>> [t.id for t in load_topics("wales")][:2]
    ['myths', 'myth-data-protection-barrier']
    >>> check_topics(None)
    []
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from content.citations import check_citations, check_text
from content.loader import DEFAULT_PACK, PackError, UnknownPack, pack_ids, resolve

TOPICS_DIR = Path(__file__).parent / "topics"
COMMON_FILE = "common.yaml"
TOPIC_KEYS = ("id", "title", "answer", "more", "cite", "related", "keywords", "examples")
TEXT_KEYS = ("title", "answer", "more")
MIN_EXAMPLES = 3
ANSWER_SENTENCES = (2, 5)
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

REQUIRED_TOPICS = (
    "myth-data-protection-barrier", "myth-consent-always-needed", "myth-no-disclosure-between-agencies",
    "myth-confidentiality-prevents-sharing", "myth-it-systems-barrier", "golden-rules", "principles",
    "caldicott-principles", "consent-valid", "consent-children", "when-not-to-seek-consent",
    "public-interest", "immediate-risk", "share-securely", "record-decision", "lawful-basis",
    "special-category-data", "anonymised-information", "retention", "confidential-information",
    "inform-the-individual", "seek-advice", "dvds", "csod", "data-breach", "disagreement-escalation",
    "information-sharing-agreements", "making-a-referral", "getting-it-wrong", "ico",
)
"""Topic ids every pack must answer."""

PACK_TOPICS = {"buckinghamshire": ("early-help-consent",), "wales": ("section-130-wales",)}
"""Topic ids that only some packs answer (and must)."""

MESSAGES = ("no_answer", "did_you_mean", "welsh")

_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9'\"(]|\s*$)")


class TopicsError(ValueError):
    """A topics file cannot be read (bad YAML or not the expected shape)."""


@dataclass(frozen=True)
class Topic:
    """One myth-busting topic as a pack answers it."""

    id: str
    title: str
    answer: str
    more: str
    cite: tuple[dict, ...]
    related: tuple[str, ...]
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    """Words and short phrases people use for the topic (matched like examples, never shown)."""
    origin: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """For each key, the file that supplied it (used to name the file in problems)."""


@dataclass(frozen=True)
class TopicSet:
    """Everything the answer matcher needs for one pack."""

    pack_id: str
    topics: tuple[Topic, ...]
    messages: dict[str, str]
    synonyms: dict[str, str]
    out_of_scope: tuple[str, ...]

    def get(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)


@lru_cache(maxsize=None)
def _read(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise TopicsError(f"{Path(path).name}: cannot read topics: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("topics", []), list):
        raise TopicsError(f"{Path(path).name}: a topics file is a mapping with a 'topics' list")
    return data


def override_ids(topics_dir: Path = TOPICS_DIR) -> list[str]:
    """Packs that have an override file in ``topics_dir``."""
    return sorted(p.stem for p in topics_dir.glob("*.yaml") if p.name != COMMON_FILE)


def known_packs(topics_dir: Path = TOPICS_DIR) -> list[str]:
    """Pack ids topics can be loaded for: the content packs, the override files and the default."""
    ids = set(pack_ids()) | set(override_ids(topics_dir)) | {DEFAULT_PACK}
    return [DEFAULT_PACK] + sorted(ids - {DEFAULT_PACK})


def _as_topic(raw: dict[str, Any], origin: dict[str, str]) -> Topic:
    return Topic(
        id=str(raw.get("id", "")),
        title=str(raw.get("title") or ""),
        answer=" ".join(str(raw.get("answer") or "").split()),
        more=str(raw.get("more") or "").strip(),
        cite=tuple(raw.get("cite") or ()),
        related=tuple(raw.get("related") or ()),
        examples=tuple(str(e) for e in raw.get("examples") or ()),
        keywords=tuple(str(k) for k in raw.get("keywords") or ()),
        origin=origin,
    )


def _merged(pack_id: str, topics_dir: Path) -> tuple[dict[str, Any], list[tuple[dict, dict]]]:
    """The common file's data and the pack's topics as (raw mapping, key -> file) pairs."""
    common = _read(str(topics_dir / COMMON_FILE))
    raws: dict[str, tuple[dict, dict]] = {}
    for raw in common.get("topics", []):
        if isinstance(raw, dict):
            raws[str(raw.get("id"))] = (dict(raw), {k: COMMON_FILE for k in raw})
    path = topics_dir / f"{pack_id}.yaml"
    if pack_id != DEFAULT_PACK and path.is_file():
        over = _read(str(path))
        for tid in over.get("remove") or []:
            raws.pop(str(tid), None)
        for raw in over.get("topics", []):
            if not isinstance(raw, dict):
                continue
            tid = str(raw.get("id"))
            base, origin = raws.get(tid, ({}, {}))
            base, origin = {**base, **raw}, {**origin, **{k: path.name for k in raw}}
            raws[tid] = (base, origin)
    return common, list(raws.values())


def _own_seed(pack_id: str) -> str | None:
    """The seed file of the pack's own document (``source_file``), or None without a pack file."""
    try:
        return resolve(pack_id).get("source_file")
    except (UnknownPack, PackError):
        return None


@lru_cache(maxsize=None)
def load_topic_set(pack_id: str = DEFAULT_PACK, topics_dir: Path = TOPICS_DIR) -> TopicSet:
    """The pack's topics with the shared messages, synonyms and out-of-scope examples (cached)."""
    if pack_id not in known_packs(topics_dir):
        raise UnknownPack(f"unknown pack {pack_id!r} (known packs: {', '.join(known_packs(topics_dir))})")
    common, raws = _merged(pack_id, topics_dir)
    own = _own_seed(pack_id)
    for raw, _ in raws:  # the pack's own document first among a topic's sources (a stable sort)
        if isinstance(raw.get("cite"), list):
            raw["cite"] = sorted(raw["cite"], key=lambda c: not (isinstance(c, dict) and c.get("seed") == own))
    return TopicSet(
        pack_id=pack_id,
        topics=tuple(_as_topic(raw, origin) for raw, origin in raws),
        messages={k: " ".join(str(v).split()) for k, v in (common.get("messages") or {}).items()},
        synonyms={str(k).lower(): str(v) for k, v in (common.get("synonyms") or {}).items()},
        out_of_scope=tuple(str(q) for q in common.get("out_of_scope") or ()),
    )


def load_topics(pack_id: str = DEFAULT_PACK) -> list[Topic]:
    """The topics a pack answers; raises :class:`content.loader.UnknownPack` for an unknown pack."""
    return list(load_topic_set(pack_id).topics)


def count_sentences(text: str) -> int:
    """Sentences in ``text``: a full stop, ? or ! followed by a capital, a digit or the end."""
    return len(_SENTENCE_END.findall(text))


def _check_topic(pack_id: str, topic: Topic, ids: set[str], seeds_dir: Path | None,
                 seeds: list[Path]) -> list[str]:
    def where(key: str) -> str:
        return f"{topic.origin.get(key, topic.origin.get('id', COMMON_FILE))}: {topic.id or '?'}"

    problems: list[str] = []
    raw = topic.__dict__
    if not ID_PATTERN.match(topic.id):
        problems.append(f"{where('id')}: id must be lower-case words joined by '-'")
    for key in TEXT_KEYS:
        problems.extend(check_text(where(key), raw, key, seeds))
    low, high = ANSWER_SENTENCES
    if topic.answer and not low <= count_sentences(topic.answer) <= high:
        problems.append(f"{where('answer')}: answer must be {low} to {high} sentences, "
                        f"has {count_sentences(topic.answer)}")
    problems.extend(check_citations(where("cite"), list(topic.cite), seeds_dir))
    for rid in topic.related:
        if rid == topic.id:
            problems.append(f"{where('related')}: related lists the topic itself")
        elif rid not in ids:
            problems.append(f"{where('related')}: related topic {rid!r} is not in pack {pack_id}")
    examples = [e for e in topic.examples if e.strip()]
    if len(examples) < MIN_EXAMPLES:
        problems.append(f"{where('examples')}: needs at least {MIN_EXAMPLES} example questions")
    if len({e.casefold() for e in examples}) != len(examples):
        problems.append(f"{where('examples')}: repeats an example question")
    if any(not k.strip() for k in topic.keywords):
        problems.append(f"{where('keywords')}: empty keyword")
    for key in set(topic.origin) - set(TOPIC_KEYS):
        problems.append(f"{where(key)}: unknown key {key!r} (known: {', '.join(TOPIC_KEYS)})")
    return problems


def check_pack_topics(pack_id: str, topics_dir: Path = TOPICS_DIR, seeds_dir: Path | None = None) -> list[str]:
    """Problems with one pack's merged topics."""
    try:
        tset = load_topic_set(pack_id, topics_dir)
    except (TopicsError, UnknownPack) as exc:
        return [str(exc)]
    seeds = sorted(seeds_dir.glob("*.txt")) if seeds_dir else []
    file = f"{pack_id}.yaml" if (topics_dir / f"{pack_id}.yaml").is_file() else COMMON_FILE
    ids = [t.id for t in tset.topics]
    problems: list[str] = []
    for tid in REQUIRED_TOPICS + PACK_TOPICS.get(pack_id, ()):
        if tid not in ids:
            problems.append(f"{file}: {tid}: required topic is missing from pack {pack_id}")
    for tid in {i for i in ids if ids.count(i) > 1}:
        problems.append(f"{file}: {tid}: topic id is defined twice")
    seen: dict[str, str] = {}
    for topic in tset.topics:
        problems.extend(_check_topic(pack_id, topic, set(ids), seeds_dir, seeds))
        for example in topic.examples:
            other = seen.setdefault(example.casefold(), topic.id)
            if other != topic.id:
                problems.append(f"{topic.origin.get('examples', file)}: {topic.id}: example "
                                f"{example!r} is also an example of {other}")
    for key in MESSAGES:
        if not tset.messages.get(key):
            problems.append(f"{COMMON_FILE}: messages: missing {key!r}")
    return problems


def check_topics(seeds_dir: str | Path | None = None, topics_dir: Path = TOPICS_DIR) -> list[str]:
    """All topic problems as ``"file: topic-id: message"`` strings; empty when all is well.

    With ``seeds_dir`` every citation must name a seed file there and a heading in it, and no
    text may copy a run of the guidance word for word (see :mod:`content.check`).
    """
    seeds = Path(seeds_dir) if seeds_dir else None
    problems: list[str] = []
    packs = set(pack_ids())
    for pid in override_ids(topics_dir):
        try:
            declared = _read(str(topics_dir / f"{pid}.yaml")).get("pack")
        except TopicsError as exc:
            problems.append(str(exc))
            continue
        if declared != pid:
            problems.append(f"{pid}.yaml: -: 'pack' must be {pid!r}, not {declared!r}")
        if packs and pid not in packs:
            problems.append(f"{pid}.yaml: -: no content pack {pid!r} in content/packs")
    for pid in known_packs(topics_dir):
        problems.extend(check_pack_topics(pid, topics_dir, seeds))
    return list(dict.fromkeys(problems))
