"""Load content packs: YAML files in ``content/packs/``, merged over the pack they extend.

Example:
    >>> pack = load_pack("hmg-2018")
    >>> pack.start
    'immediate_risk'
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PACKS_DIR = Path(__file__).parent / "packs"
DEFAULT_PACK = "hmg-2018"
ANSWERS = ("yes", "no", "unsure")
OUTCOMES = ("share", "do_not_share", "seek_advice", "urgent_action")
OWN_KEYS = ("superseded", "self_check")
"""Top-level keys a pack does not inherit from the pack it extends."""


class YamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 ``yes``/``no`` are booleans, and they are answer ids here."""


YamlLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse YAML with :class:`YamlLoader` (``yes``/``no`` stay strings)."""
    return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass


class UnknownPack(ValueError):
    """No content pack has that id."""


class PackError(ValueError):
    """A pack file cannot be read or merged (bad YAML, missing parent, cycle)."""


def merge(parent: Any, child: Any) -> Any:
    """Deep-merge ``child`` over ``parent``: mappings merge by key, ``None`` deletes, else replace."""
    if isinstance(parent, dict) and isinstance(child, dict):
        out = copy.deepcopy(parent)
        for key, value in child.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    return copy.deepcopy(child)


def pack_ids(packs_dir: Path = PACKS_DIR) -> list[str]:
    """Ids of all packs in ``packs_dir`` (file names without ``.yaml``), default first."""
    ids = sorted(p.stem for p in packs_dir.glob("*.yaml") if not p.stem.startswith("_"))
    if DEFAULT_PACK in ids:
        ids.remove(DEFAULT_PACK)
        ids.insert(0, DEFAULT_PACK)
    return ids


def read_raw(pack_id: str, packs_dir: Path = PACKS_DIR) -> dict[str, Any]:
    """The pack file's own data, before merging."""
    path = packs_dir / f"{pack_id}.yaml"
    if not path.is_file():
        known = ", ".join(pack_ids(packs_dir)) or "none"
        raise UnknownPack(f"unknown pack {pack_id!r} (known packs: {known})")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PackError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(f"{path.name}: a pack file must be a mapping")
    return data


def resolve(pack_id: str, packs_dir: Path = PACKS_DIR, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The pack's data merged over its ``extends`` chain."""
    if pack_id in _seen:
        raise PackError(f"{pack_id}.yaml: 'extends' cycle: {' -> '.join(_seen + (pack_id,))}")
    data = read_raw(pack_id, packs_dir)
    parent = data.get("extends")
    if parent:
        try:
            base = resolve(str(parent), packs_dir, _seen + (pack_id,))
        except UnknownPack:
            raise PackError(f"{pack_id}.yaml: extends unknown pack {parent!r}") from None
        own = data
        data = merge(base, own)
        for key in OWN_KEYS:  # said of one document: never inherited
            if key not in own:
                data.pop(key, None)
    data.pop("extends", None)
    return data


@dataclass(frozen=True)
class Pack:
    """A resolved pack. ``data`` is the merged YAML; the properties name the parts code uses."""

    id: str
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))

    @property
    def title(self) -> str:
        return str(self.data.get("title", self.id))

    @property
    def start(self) -> str:
        return self.data["flow"]["start"]

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        return self.data["flow"]["nodes"]

    @property
    def outcomes(self) -> dict[str, dict[str, Any]]:
        return self.data["outcomes"]

    @property
    def record(self) -> dict[str, Any]:
        return self.data.get("record", {})

    @property
    def record_fields(self) -> list[dict[str, Any]]:
        return list(self.record.get("fields", []))

    @property
    def lawful_bases(self) -> dict[str, dict[str, Any]]:
        return self.data.get("lawful_bases", {})

    @property
    def checklist(self) -> list[dict[str, Any]]:
        return list(self.data.get("checklist", []))

    @property
    def superseded(self) -> str | None:
        """Why this pack's source is out of date, and what to check instead (None when current)."""
        return self.data.get("superseded") or None

    @property
    def self_check(self) -> dict[str, Any]:
        """The questions to ask yourself before sharing: the pack's own list, else its checklist."""
        own = self.data.get("self_check")
        if own:
            return own
        return {"title": "Before you share: a checklist",
                "text": "Check each of these before you share. They support your judgement; they don't replace it.",
                "cite": [c for item in self.checklist for c in item["cite"]], "items": self.checklist}

    def contacts(self, name: str) -> list[dict[str, Any]]:
        return list(self.data.get("contacts", {}).get(name, []))

    def edge(self, node: str, answer: str) -> dict[str, Any]:
        return self.nodes[node]["answers"][answer]


@lru_cache(maxsize=None)
def load_pack(pack_id: str = DEFAULT_PACK) -> Pack:
    """Load and cache a resolved pack; raises :class:`UnknownPack` or :class:`PackError`."""
    return Pack(pack_id, resolve(pack_id))


def load_pack_from(pack_id: str, packs_dir: Path) -> Pack:
    """Load a pack from another folder (no cache): used by ``content check --packs``."""
    return Pack(pack_id, resolve(pack_id, packs_dir))
