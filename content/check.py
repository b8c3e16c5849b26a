"""Schema check for content packs: ``infoshare content check``.

Each problem is one string naming the file and the node or item, e.g.
``wirral.yaml: node 'consent': answer 'unsure' is missing``. An empty list means all is well.

Example:
    >>> check_packs()
    []
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Iterator

from content.loader import ANSWERS, OUTCOMES, PACKS_DIR, PackError, UnknownPack, load_pack_from, pack_ids
from content.citations import check_citations, check_text
from content.topics import check_topics

REQUIRED_META = ("id", "title", "issuer", "source_file", "source_date", "reviewed", "version")
FIELD_KINDS = ("multi", "single", "text")
START_NODE = "immediate_risk"
URGENT = "urgent_action"
EMERGENCY_NUMBER = "999"
"""The one number the guidance itself gives: every urgent outcome shows it."""


def _cited_item(where: str, item: Any, keys: tuple[str, ...], seeds_dir: Path | None,
                seeds: list[Path]) -> Iterator[str]:
    if not isinstance(item, dict):
        yield f"{where}: must be a mapping"
        return
    for key in keys:
        yield from check_text(where, item, key, seeds)
    yield from check_citations(where, item.get("cite"), seeds_dir)


class _PackCheck:
    """One resolved pack's problems, section by section (each method yields problem strings)."""

    def __init__(self, pack_id: str, data: dict[str, Any], seeds_dir: Path | None) -> None:
        self.pack_id, self.data, self.seeds_dir = pack_id, data, seeds_dir
        self.f = f"{pack_id}.yaml"
        self.seeds = sorted(seeds_dir.glob("*.txt")) if seeds_dir else []
        self.bases = data.get("lawful_bases") or {}

    def cited(self, where: str, item: Any, *keys: str) -> Iterator[str]:
        return _cited_item(f"{self.f}: {where}", item, keys, self.seeds_dir, self.seeds)

    def all(self) -> list[str]:
        return [*self.meta(), *self.lawful_bases(), *self.outcomes(), *self.flow(), *self.reachable(),
                *self.checklist(), *self.record(), *self.contacts(), *self.urgent(),
                *self.cited("disclaimer", self.data.get("disclaimer"), "text")]

    def meta(self) -> Iterator[str]:
        f, data = self.f, self.data
        for key in REQUIRED_META:
            if not data.get(key):
                yield f"{f}: missing '{key}'"
        if data.get("id") and data["id"] != self.pack_id:
            yield f"{f}: id {data['id']!r} does not match the file name"
        source = data.get("source_file")
        if self.seeds_dir is not None and source and not (self.seeds_dir / str(source)).is_file():
            yield f"{f}: source_file not found in seeds: {source}"

    def lawful_bases(self) -> Iterator[str]:
        for bid, basis in self.bases.items():
            yield from self.cited(f"lawful basis '{bid}'", basis, "label")

    def outcomes(self) -> Iterator[str]:
        outcomes = self.data.get("outcomes") or {}
        for oid in OUTCOMES:
            if oid not in outcomes:
                yield f"{self.f}: outcome '{oid}' is missing"
        for oid, outcome in outcomes.items():
            where = f"outcome '{oid}'"
            if oid not in OUTCOMES:
                yield f"{self.f}: {where}: unknown outcome (known: {', '.join(OUTCOMES)})"
            yield from self.cited(where, outcome, "title", "text")
            for i, step in enumerate((outcome or {}).get("steps", []) or []):
                yield from self.cited(f"{where}: step {i + 1}", step, "text")
            cname = (outcome or {}).get("contacts")
            if cname and cname not in (self.data.get("contacts") or {}):
                yield f"{self.f}: {where}: names unknown contacts list {cname!r}"

    @property
    def nodes(self) -> dict[str, Any]:
        return (self.data.get("flow") or {}).get("nodes") or {}

    def flow(self) -> Iterator[str]:
        f, nodes = self.f, self.nodes
        start = (self.data.get("flow") or {}).get("start")
        if start != START_NODE:
            yield f"{f}: flow must start at '{START_NODE}', not {start!r}"
        if start not in nodes:
            yield f"{f}: start node {start!r} does not exist"
        for nid, node in nodes.items():
            where = f"node '{nid}'"
            yield from self.cited(where, node, "question", "help")
            answers = (node or {}).get("answers") or {}
            for ans in ANSWERS:
                if ans not in answers:
                    yield f"{f}: {where}: answer '{ans}' is missing"
            for ans, edge in answers.items():
                yield from self.edge(f"{f}: {where}: answer '{ans}'", ans, edge)

    def edge(self, w: str, ans: str, edge: Any) -> Iterator[str]:
        if ans not in ANSWERS:
            yield f"{w}: unknown answer (allowed: {', '.join(ANSWERS)})"
        if not isinstance(edge, dict) or len({"next", "outcome"} & set(edge)) != 1:
            yield f"{w}: needs exactly one of 'next' or 'outcome'"
            return
        if "next" in edge and edge["next"] not in self.nodes:
            yield f"{w}: dangling: next node {edge['next']!r} does not exist"
        if "outcome" in edge and edge["outcome"] not in OUTCOMES:
            yield f"{w}: unknown outcome {edge['outcome']!r}"
        for b in edge.get("bases", []) or []:
            if b not in self.bases:
                yield f"{w}: unknown lawful basis {b!r}"
        if "lead" in edge:
            yield from _cited_item(f"{w}: lead", edge["lead"], ("text",), self.seeds_dir, self.seeds)
        if edge.get("contacts") and edge["contacts"] not in (self.data.get("contacts") or {}):
            yield f"{w}: names unknown contacts list {edge['contacts']!r}"

    def reachable(self) -> Iterator[str]:
        nodes, start = self.nodes, (self.data.get("flow") or {}).get("start")
        if start not in nodes:
            return
        seen, todo = {start}, deque([start])
        while todo:
            for edge in ((nodes.get(todo.popleft()) or {}).get("answers") or {}).values():
                nxt = edge.get("next") if isinstance(edge, dict) else None
                if nxt in nodes and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for nid in nodes:
            if nid not in seen:
                yield f"{self.f}: node '{nid}': unreachable from '{start}'"

    def checklist(self) -> Iterator[str]:
        if not self.data.get("checklist"):
            yield f"{self.f}: missing 'checklist'"
        for i, item in enumerate(self.data.get("checklist") or []):
            yield from self.cited(f"checklist item {i + 1}", item, "text")
        own = self.data.get("self_check")
        if own is not None:
            yield from self.cited("self_check", own, "title", "text")
            items = own.get("items") if isinstance(own, dict) else None
            if not items:
                yield f"{self.f}: self_check: needs 'items'"
            for i, item in enumerate(items or []):
                yield from self.cited(f"self_check item {i + 1}", item, "text")
        superseded = self.data.get("superseded")
        if superseded is not None and (not isinstance(superseded, str) or not superseded.strip()):
            yield f"{self.f}: 'superseded' must be a sentence saying what replaced the source"

    def record(self) -> Iterator[str]:
        record = self.data.get("record") or {}
        yield from self.cited("record", record, "text")
        earlier: set[str] = set()
        for i, field in enumerate(record.get("fields") or []):
            field = field or {}
            where = f"record field '{field.get('id', i + 1)}'"
            yield from self.cited(where, field, "prompt")
            kind = field.get("kind")
            if kind not in FIELD_KINDS:
                yield f"{self.f}: {where}: kind must be one of {', '.join(FIELD_KINDS)}"
            if kind in ("multi", "single") and not field.get("choices") and field.get("choices_from") != "path":
                yield f"{self.f}: {where}: needs 'choices' or 'choices_from: path'"
            for key in (field.get("when") or {}):
                if key not in earlier:
                    yield f"{self.f}: {where}: 'when' refers to {key!r}, which is not an earlier field"
            for j, rule in enumerate(field.get("prompt_if") or []):
                rule = rule if isinstance(rule, dict) else {}
                if not isinstance(rule.get("prompt"), str) or not rule.get("when"):
                    yield f"{self.f}: {where}: prompt_if {j + 1} needs 'when' and 'prompt'"
                for key in (rule.get("when") or {}):
                    if key not in earlier:
                        yield f"{self.f}: {where}: prompt_if refers to {key!r}, which is not an earlier field"
            earlier.add(field.get("id"))
        if "reason" not in earlier:
            yield f"{self.f}: record field 'reason' is missing"

    def contacts(self) -> Iterator[str]:
        for cname, contacts in (self.data.get("contacts") or {}).items():
            for c in contacts or []:
                yield from self.cited(f"contact '{cname}.{(c or {}).get('id')}'", c, "role")

    def urgent(self) -> Iterator[str]:
        """A child at immediate risk: the outcome names 999, and every contact it shows says what to
        contact even when the deployment has set nothing (never "ask your organisation")."""
        outcome = (self.data.get("outcomes") or {}).get(URGENT) or {}
        words = " ".join([str(outcome.get("text", ""))] + [str((s or {}).get("text", "")) for s in outcome.get("steps") or []])
        if EMERGENCY_NUMBER not in words:
            yield f"{self.f}: outcome '{URGENT}': its text or steps must give the police's number {EMERGENCY_NUMBER}"
        lists = {outcome.get("contacts")} | {
            edge.get("contacts") for node in self.nodes.values() for edge in ((node or {}).get("answers") or {}).values()
            if isinstance(edge, dict) and edge.get("outcome") == URGENT}
        known = self.data.get("contacts") or {}
        for cname in sorted(x for x in lists if x):
            contacts = known.get(cname) or []
            if not any(str((c or {}).get("fixed", "")) == EMERGENCY_NUMBER for c in contacts):
                yield f"{self.f}: contacts '{cname}' (shown with '{URGENT}'): no contact with fixed: \"{EMERGENCY_NUMBER}\""
            for c in contacts:
                if not (c or {}).get("fixed") and not (c or {}).get("unset"):
                    yield (f"{self.f}: contact '{cname}.{(c or {}).get('id')}' (shown with '{URGENT}'): needs 'fixed' "
                           f"or 'unset', so an urgent outcome never says 'ask your organisation'")
        if not outcome.get("contacts"):
            yield f"{self.f}: outcome '{URGENT}': names no contacts list"


def check_pack_data(pack_id: str, data: dict[str, Any], seeds_dir: Path | None = None) -> list[str]:
    """All problems of one resolved pack."""
    return _PackCheck(pack_id, data, seeds_dir).all()


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
    """Packs and topics."""
    return check_packs(packs_dir, seeds_dir) + list(check_topics(str(seeds_dir) if seeds_dir else None))
