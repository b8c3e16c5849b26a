"""The channel-neutral language of the core: one small :class:`Event` in, a list of :class:`Reply` out.

Adapters (console, Slack, Teams) turn a platform event into an ``Event`` and render each
``Reply`` as text, Block Kit or an Adaptive Card. Nothing here knows any platform.

Example:
    >>> Event("answer", "yes", token="a1b2:3")
    Event(kind='answer', value='yes', token='a1b2:3', values=None)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from content.sources import cite_line, named

EVENT_KINDS = (
    "start",        # begin a walk; value: pack id or None for the default
    "answer",       # value: yes | no | unsure
    "back",         # undo one step
    "restart",      # start over with the same pack
    "why",          # the current question's help and citation
    "where",        # the answers so far
    "text",         # free text: typed words or a question
    "record",       # open the record step after an outcome
    "choose",       # a record field's value; value: field id, values: {"value": ...}
    "record_submit",  # all record fields at once (a modal or card); values: {field: value}
    "confirm",      # confirm the summary and write the record
    "edit",         # change the record fields before confirming
    "leave",        # leave without recording (a reason is asked for)
    "help",         # what the bot can do
    "topics",       # list the topics
    "topic",        # value: topic id
    "mine",         # my recent decisions
    "digest",       # leads only: this week's digest
    "checklist",    # the pack's questions to ask yourself before sharing
)


@dataclass
class Event:
    """What a user did. ``token`` is the id of the question a button was on (stale-click check)."""

    kind: str
    value: str | None = None
    token: str | None = None
    values: dict[str, Any] | None = None


@dataclass
class Choice:
    """A button or numbered option. ``kind`` is the event kind it sends; ``value`` its value.

    ``key``, when set, is the letter the reply's own text shows beside this choice ("A) ...")
    and that a user may type to pick it (the engine resolves it); a text channel does not number
    such a choice, so a typed number never picks it.
    """

    kind: str
    label: str
    value: str | None = None
    style: str | None = None  # "primary" | "danger" | None
    key: str | None = None


@dataclass
class Reply:
    """Something to show. ``kind`` tells an adapter how to render it.

    Kinds: question, outcome, why, where, record_form, record_field, form_errors, summary,
    recorded, answer, topics, info, error, stale, privacy.
    """

    kind: str
    text: str
    title: str | None = None
    choices: list[Choice] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    lists: list[tuple[str, list[str]]] = field(default_factory=list)
    citations: list[dict[str, str]] = field(default_factory=list)
    token: str | None = None
    field: dict[str, Any] | None = None
    form: list[dict[str, Any]] | None = None
    errors: dict[str, str] | None = None
    ref: str | None = None
    digest: dict[str, Any] | None = None
    """The leads' digest as data (``storage.digest.build_digest``), beside its Markdown ``text``, for
    a channel that draws it its own way (Teams: a card with tables, since it renders no Markdown
    headings or tables)."""

    def __post_init__(self) -> None:
        # Citations are shown by the document's name and the whole heading, never a file name.
        self.citations = named(self.citations)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cite_text(citations: list[dict[str, str]]) -> str:
    """``Document name: Section; ...`` for plain-text rendering (every channel uses this)."""
    return cite_line(citations)


def source_line(citations: list[dict[str, str]]) -> str:
    """``Source: Document name: Section; ...``: the line under every reply that cites its guidance."""
    return "Source: " + cite_text(citations)


APOLOGY = "Sorry, something went wrong on my side."
"""How every channel begins to say a turn failed; each adds what is true there and what to do next."""


NAV_KINDS = ("back", "restart", "why", "where", "leave")
"""Choices that move about the conversation (Back, Start over, Why?, Leave without recording)
rather than answer what is asked: channels show them apart from the answers (a second row), so
Yes, No and Not sure stay readable on a narrow screen."""


def split_choices(choices: list[Choice]) -> tuple[list[Choice], list[Choice]]:
    """``(answers, navigation)``: the choices that answer the reply, then those in :data:`NAV_KINDS`.

    Example:
        >>> main, nav = split_choices([Choice("answer", "Yes", "yes"), Choice("back", "Back")])
        >>> [c.label for c in main], [c.label for c in nav]
        (['Yes'], ['Back'])
    """
    return [c for c in choices if c.kind not in NAV_KINDS], [c for c in choices if c.kind in NAV_KINDS]


def field_applies(field: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether a record field with ``when`` applies to the answers ``values`` (field id: value):
    the rule the engine checks a submitted form by, so a form shows such a field when it does.

    Example:
        >>> field_applies({"id": "not_told_reason", "when": {"informed": "no"}}, {"informed": "no"})
        True
    """
    return all(values.get(k) == v for k, v in (field.get("when") or {}).items())


def choice_event(reply: Reply, choice: Choice) -> Event:
    """The event a click on ``choice`` of ``reply`` sends (every adapter uses this)."""
    if choice.kind == "choose":
        field_id = (reply.field or {}).get("id")
        return Event("choose", field_id, token=reply.token, values={"value": choice.value})
    return Event(choice.kind, choice.value, token=reply.token)
