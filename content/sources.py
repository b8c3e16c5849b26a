"""The source documents by name: what a practitioner sees wherever a citation is shown.

Packs and topics cite a seed file and a section heading (content/SCHEMA.md). Users never see
the file name: :func:`named` turns each citation into the document's name (``sources.yaml``)
and the heading shown whole (a heading a line break cut short is completed from
``sources.yaml``), and every channel renders that.

Example:
    >>> named([{"seed": "000_3618dc48b34bb0b1.txt", "section": "The Seven Golden Rules of Information Sharing"}])
    [{'document': 'Wirral Safeguarding Children Partnership, Information Sharing Protocol', 'section': 'The Seven Golden Rules of Information Sharing'}]
    >>> named([{"seed": "004_f42d4c3cd5be166b.txt", "section": "Does the information enable an"}])[0]["section"]
    'Does the information enable an individual to be identified?'
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from content.loader import load_yaml

SOURCES_FILE = Path(__file__).parent / "sources.yaml"
UNKNOWN_DOCUMENT = "Local safeguarding partnership guidance"


@lru_cache(maxsize=1)
def _sources() -> dict[str, Any]:
    data = load_yaml(SOURCES_FILE.read_text(encoding="utf-8")) or {}
    return {"documents": dict(data.get("documents") or {}), "headings": dict(data.get("headings") or {})}


def documents() -> dict[str, str]:
    """Seed file name -> the document's name."""
    return dict(_sources()["documents"])


def document_name(seed: str) -> str:
    """The name of the document a seed file holds (a generic name for an unknown file)."""
    return _sources()["documents"].get(seed, UNKNOWN_DOCUMENT)


def whole_heading(seed: str, section: str) -> str:
    """The section heading as the document has it: completed where a line break cut it."""
    full = (_sources()["headings"].get(seed) or {}).get(section, section)
    return full.rstrip(" :").strip()


def named(citations: Iterable[dict[str, Any]] | None) -> list[dict[str, str]]:
    """Citations as ``{"document", "section"}``, in order, without repeats.

    Already-named citations pass through unchanged, so calling this twice is harmless.
    """
    out: list[dict[str, str]] = []
    for c in citations or []:
        if "document" in c:
            item = {"document": str(c["document"]), "section": str(c["section"])}
        else:
            item = {"document": document_name(str(c["seed"])),
                    "section": whole_heading(str(c["seed"]), str(c["section"]))}
        if item not in out:
            out.append(item)
    return out


def label(citation: dict[str, str]) -> str:
    """``Document name: Section heading``."""
    return f"{citation['document']}: {citation['section']}"


def cite_line(citations: Iterable[dict[str, Any]] | None) -> str:
    """All citations on one line, ``; ``-separated, for plain text."""
    return "; ".join(label(c) for c in named(citations))
