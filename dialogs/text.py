"""What the engine does to every piece of text a user sends, before it is matched or stored.

:func:`clean_event` is applied once, in :meth:`dialogs.engine.Engine.handle`, to every
string an :class:`~dialogs.events.Event` carries (typed text and questions, record field values,
a reason for leaving, a form's values). No channel needs to clean anything itself, and nothing
reaches the question matcher, the content gaps or the audit record without passing through here.

- Terminal escape sequences (``ESC [ 31 m`` and the like) are removed whole, and then every
  other control character (Unicode category Cc: NUL, BEL, ESC, DEL, the C1 range...).
- Invisible format characters that can make stored text read other than it was typed are
  removed too: the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
  could turn a reason round in the leads' digest, zero-width spaces and marks, and U+2028/U+2029
  (line and paragraph separators, as newlines). The zero-width joiner stays: emoji need it.
- A newline is kept: a reason typed in a Slack modal or a Teams card may fairly run over several
  lines. ``\\r\\n`` and a lone ``\\r`` become ``\\n``. A tab becomes a space (it means nothing in
  a record and would only upset a CSV or a digest's layout).
- Text longer than :data:`MAX_TEXT` characters (after cleaning) is not cut short and stored as
  half a sentence: :func:`too_long` names it, and the engine refuses the turn, says so and the
  limit, and changes and stores nothing.

Example:
    >>> clean_text("can I share?\\x00\\x1b[31m now\\x07")
    'can I share? now'
    >>> clean_text("line one\\r\\nline two\\tend")
    'line one\\nline two end'
    >>> clean_text("reason: \\u202eon erus ton")
    'reason: on erus ton'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from typing import Any

from dialogs.events import Event

MAX_TEXT = 500
"""The longest text the engine accepts: a question, a record field, a reason (Slack's inputs and
Teams' text inputs stop typing at this same number: the ``max_length`` of ``bot.slack.blocks``
and the ``maxLength`` of ``bot.teams.cards``)."""

# CSI (ESC [ ... final) and OSC (ESC ] ... BEL or ESC \) sequences, then any other ESC + one char.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")


_INVISIBLE = re.compile("[\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean_text(text: str) -> str:
    """``text`` without control characters (newlines kept, tabs as spaces)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _INVISIBLE.sub("", _ESCAPES.sub("", text.replace("\t", " ")))
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def clean_event(event: Event) -> Event:
    """A copy of ``event`` with every string in its value and values cleaned (kind and token as
    they were: they are only compared, never stored or matched)."""
    return replace(event, value=_clean(event.value),
                   values=None if event.values is None else _clean(event.values))


def too_long(event: Event) -> dict[str, int]:
    """The texts in ``event`` over :data:`MAX_TEXT` characters: ``{name: length}``, where the
    name is a form field's id, or ``value`` for the event's own value."""
    out: dict[str, int] = {}

    def visit(name: str, v: Any) -> None:
        if isinstance(v, str) and len(v) > MAX_TEXT:
            out[name] = max(out.get(name, 0), len(v))
        elif isinstance(v, (list, dict)):
            for item in (v.values() if isinstance(v, dict) else v):
                visit(name, item)

    visit("value", event.value)
    for name, v in (event.values or {}).items():
        visit(str(name), v)
    return out
