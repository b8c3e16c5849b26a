"""Teams payloads without botbuilder: core replies as Adaptive Cards, card clicks and typed words as core events.

Everything here is plain JSON in and out, so it is tested without a server and survives a move
from botbuilder to the Microsoft 365 Agents SDK unchanged. ``bot/teams/adapter.py`` sends what
:func:`render_turn` returns and feeds :func:`event_from_submit` / :func:`event_from_text` to the
engine.

Every button is an ``Action.Submit`` whose data is the core event it stands for (see
:func:`dialogs.events.choice_event`), under the key ``"infoshare"``; a card's inputs are named
``field:<field id>`` so they never collide with it. Cards use Adaptive Cards 1.5 at most.

Example:
    >>> from dialogs.events import Choice, Reply
    >>> q = Reply("question", "Is a child at immediate risk of harm right now?", title="Question 1",
    ...           choices=[Choice("answer", "Yes", "yes")], token="ab12cd34.1")
    >>> card = render(q)
    >>> card["actions"][0]["data"]
    {'infoshare': {'kind': 'answer', 'value': 'yes', 'token': 'ab12cd34.1'}}
    >>> event_from_submit(card["actions"][0]["data"])
    Event(kind='answer', value='yes', token='ab12cd34.1', values=None)
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from dialogs.events import (APOLOGY, EVENT_KINDS, Choice, Event, Reply, choice_event, field_applies,
                            source_line, split_choices)
from dialogs.text import MAX_TEXT

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
DATA_KEY = "infoshare"
INPUT_PREFIX = "field:"
MAX_TOP_ACTIONS = 6
"""Teams shows at most six card actions in a row; further ones go to the overflow menu."""
MAX_INPUT = 2000
"""Longest value taken from one card input: more than the engine's :data:`~dialogs.text.MAX_TEXT`,
so an over-long text reaches the engine and is refused with its length, never cut silently."""

LIVE_KINDS = ("question", "outcome", "record_form", "record_field", "summary", "form_errors")
"""Replies that show where the walk is; a conversation has one such card, updated in place."""

# Words the adapter itself says (the engine's replies carry everything else).
WELCOME_TITLE = "infoshare: when and how to share information"
WELCOME_TEXT = (
    "I help people who work with children decide whether to share information about a child or "
    "family. I ask your safeguarding partnership's questions one at a time (Yes, No or Not sure, "
    "with Back, Start over and Why? at every step), give you an outcome with what to do next, and "
    "record your decision and its reasons. You can also ask me things in your own words, such as "
    "\"do I need consent?\". I support, and do not replace, your professional judgement; if a "
    "child is at immediate risk, call the police (999) or children's social care now.")
SHARED_WELCOME_TEXT = (
    "To keep case details out of shared conversations, I only work in a private 1:1 chat. Mention "
    "me here (or open a chat with me) and I will carry on with you privately.")
MOVED_TEXT = (
    "I have replied to you in our private 1:1 chat. To keep case details out of shared "
    "conversations, decisions and questions are handled there, not here.")
NO_PRIVATE_CHAT_TEXT = (
    "To keep case details out of shared conversations I only work in a private 1:1 chat, but I "
    "could not open one with you from here. Please open a chat with me directly.")
APOLOGY_TEXT = (
    f"{APOLOGY} I could not finish that. Your place is saved: "
    "type 'where' to see where you are, or 'start' to begin again.")
FORM_TEXT = "Check or change the answers below, then select Continue."
PICK_LABEL = "Read the answer"
PICK_INPUT = INPUT_PREFIX + "pick"
"""The searchable list that stands for many choices of one kind (the topics) and its button."""
MAX_BUTTONS = 5
"""Choices of one kind beyond this many (the topics) become one searchable list and one button:
Teams' host configuration shows six actions, and 29 buttons would not read anywhere."""
SUBMIT_LABEL = "Continue"
SEND_LABEL = "Send"


@dataclass
class Outgoing:
    """One message to post: an Adaptive Card or markdown text. ``live``: the walk's card."""

    card: dict[str, Any] | None = None
    text: str | None = None
    live: bool = False
    kind: str = ""


# ---- replies to cards -------------------------------------------------------------------------

def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _data(event: Event) -> dict[str, Any]:
    ev: dict[str, Any] = {"kind": event.kind}
    if event.value is not None:
        ev["value"] = event.value
    if event.token is not None:
        ev["token"] = event.token
    if event.values is not None:
        ev["values"] = event.values
    return {DATA_KEY: ev}


def _submit(title: str, data: dict[str, Any], style: str | None = None, inputs: bool = False) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": data}
    if style in ("primary", "positive"):
        action["style"] = "positive"
    elif style in ("danger", "destructive"):
        action["style"] = "destructive"
    if not inputs:
        action["associatedInputs"] = "none"
    return action


def _overflow(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for a in actions[MAX_TOP_ACTIONS - 1:] if len(actions) > MAX_TOP_ACTIONS else []:
        a["mode"] = "secondary"
    return actions


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION, "body": body}
    if actions:
        card["actions"] = _overflow(actions)
    return card


def _sources(reply: Reply) -> list[dict[str, Any]]:
    if not reply.citations:
        return []
    return [_text(source_line(reply.citations), isSubtle=True, size="Small", spacing="Medium")]


def _header(reply: Reply) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    if reply.title:
        color = {"error": "Attention", "stale": "Warning", "privacy": "Warning", "form_errors": "Attention"}
        extra = {"color": color[reply.kind]} if reply.kind in color else {}
        body.append(_text(reply.title, weight="Bolder", size="Medium", **extra))
    if reply.text:
        extra = {"color": "Attention"} if reply.kind == "error" and not reply.title else {}
        body.append(_text(reply.text, **extra))
    if reply.facts:
        body.append({"type": "FactSet", "facts": [{"title": str(k), "value": str(v)} for k, v in reply.facts]})
    for heading, items in reply.lists:
        body.append(_text(heading, weight="Bolder", spacing="Medium"))
        body.append(_text("\n".join(f"- {item}" for item in items)))
    return body


def _buttons(reply: Reply, choices: list[Choice]) -> list[dict[str, Any]]:
    return [_submit(c.label, _data(choice_event(reply, c)), c.style) for c in choices]


def _many(reply: Reply) -> str | None:
    """The kind of choice a reply has more than :data:`MAX_BUTTONS` of (topics), if any."""
    kinds = [c.kind for c in reply.choices if c.kind != "choose"]
    return next((k for k in dict.fromkeys(kinds) if kinds.count(k) > MAX_BUTTONS), None)


def _picker(reply: Reply, kind: str) -> dict[str, Any]:
    """Many choices of one kind as a card: a searchable ``Input.ChoiceSet`` and one submit, whose
    click sends the same event a button for the chosen one would (``kind``, the value picked)."""
    group = [c for c in reply.choices if c.kind == kind]
    rest = [c for c in reply.choices if c.kind != kind]
    choices = [{"title": c.label, "value": str(c.value)} for c in group if c.value is not None]
    picker = {"type": "Input.ChoiceSet", "id": PICK_INPUT, "style": "filtered", "isMultiSelect": False,
              "label": f"Choose one of {len(choices)} (type to search)", "placeholder": "Type a word, or choose",
              "isRequired": True, "errorMessage": "Please choose one first.", "choices": choices}
    data: dict[str, Any] = {"kind": kind, "input": PICK_INPUT}
    if reply.token is not None:
        data["token"] = reply.token
    pick = {"type": "Action.Submit", "title": PICK_LABEL, "data": {DATA_KEY: data}, "style": "positive"}
    return _card(_header(reply) + [picker] + _sources(reply), [pick] + _buttons(reply, rest))


def render(reply: Reply) -> dict[str, Any]:
    """Any reply as a card: title, text, facts, lists, sources and one button per choice.

    Many choices of one kind (the topics) are one searchable list with one button instead.

    When a reply has both answers and navigation (Yes / No / Not sure and Back / Start over /
    Why?), the answers get a row of their own under the text (an ``ActionSet``) and the
    navigation is the card's own row at the foot, so on a phone each row has room for its labels.
    """
    many = _many(reply)
    if many:
        return _picker(reply, many)
    main, nav = split_choices(reply.choices)
    if main and nav:
        body = _header(reply) + [{"type": "ActionSet", "actions": _buttons(reply, main)}] + _sources(reply)
        return _card(body, _buttons(reply, nav))
    return _card(_header(reply) + _sources(reply), _buttons(reply, reply.choices))


def _field_value(field: dict[str, Any], values: dict[str, Any] | None) -> str | None:
    raw = (values or {}).get(field["id"], field.get("value"))
    if raw is None:
        return None
    if isinstance(raw, list):
        return ",".join(str(v) for v in raw)
    return str(raw)[:MAX_INPUT]


def _input(field: dict[str, Any], value: str | None, label: str, required: bool) -> dict[str, Any]:
    inp: dict[str, Any] = {"id": INPUT_PREFIX + field["id"], "label": label, "isRequired": required,
                           "errorMessage": "Please answer this."}
    if field["kind"] == "text":
        # The engine's own limit: Teams stops typing there instead of refusing after submit.
        inp.update(type="Input.Text", isMultiline=field["id"] == "reason", maxLength=MAX_TEXT,
                   placeholder=f"Up to {MAX_TEXT} characters; a case reference, not names")
    else:
        multi = field["kind"] == "multi"
        inp.update(type="Input.ChoiceSet", isMultiSelect=multi, wrap=True,  # a long choice wraps, never cut
                   style="expanded" if multi or len(field.get("choices") or []) <= 4 else "compact",
                   placeholder="Choose all that apply" if multi else "Choose one",
                   choices=[{"title": str(c["label"]), "value": str(c["value"])} for c in field.get("choices") or []])
    if value not in (None, ""):
        inp["value"] = value
    return inp


def _applies(field: dict[str, Any], form: list[dict[str, Any]], values: dict[str, Any] | None) -> bool:
    """Whether a field with ``when`` applies to the answers as they stand (submitted, else stored)."""
    return field_applies(field, {f["id"]: _field_value(f, values) for f in form})


def _adds(field: dict[str, Any], form: list[dict[str, Any]]) -> list[str]:
    """Notes under a field that a later field depends on: "Choosing 'No' adds ...: Why ...?"."""
    notes = []
    labels = {str(c["value"]): str(c["label"]) for c in field.get("choices") or []}
    for other in form:
        for k, v in (other.get("when") or {}).items():
            if k == field["id"]:
                question = re.split(r"(?<=\?) ", other["prompt"], maxsplit=1)[0]
                notes.append(f"Choosing '{labels.get(str(v), v)}' adds a question after Continue: {question}")
    return notes


def render_form(form: list[dict[str, Any]], *, token: str | None, title: str = "Record the decision",
                text: str = FORM_TEXT, citations: list[dict[str, str]] | None = None,
                nav: list[tuple[Event, str, str | None]] = (), errors: dict[str, str] | None = None,
                values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record step as one card: an input per field, server-side errors under their field.

    ``values`` (what was just submitted) win over each field's ``value`` so far; ``nav`` are the
    extra buttons (Back, Leave without recording) as ``(event, label, style)``.
    """
    errors = errors or {}
    body: list[dict[str, Any]] = [_text(title, weight="Bolder", size="Medium")]
    if text:
        body.append(_text(text))
    if errors:
        body.append(_text("Please correct the fields marked below.", color="Attention", weight="Bolder"))
    known = {f["id"] for f in form}
    for f in form:
        # A field that applies only after another answer (why the person is not told) is shown once
        # that answer is given: Teams cannot show it the moment "No" is picked (in Adaptive Cards 1.5
        # only a button toggles visibility), so Continue brings the form back with it and the
        # engine's request for it. Until then a note under that answer says what choosing it adds.
        if f.get("when") and not _applies(f, form, values) and f["id"] not in errors:
            continue
        label = f["prompt"] + ("" if f.get("required", True) else " (optional)")
        body.append(_input(f, _field_value(f, values), label, bool(f.get("required", True)) and not f.get("when")))
        if f["id"] in errors:
            body.append(_text(errors[f["id"]], color="Attention", size="Small", spacing="None"))
        body += [_text(note, isSubtle=True, size="Small", spacing="None") for note in _adds(f, form)]
    for fid, message in errors.items():  # an error for a field the form does not show
        if fid not in known:
            body.append(_text(message, color="Attention", size="Small"))
    body += _sources(Reply("record_form", "", citations=list(citations or [])))
    submit = _submit(SUBMIT_LABEL, _data(Event("record_submit", token=token)), "positive", inputs=True)
    if not nav:
        return _card(body, [submit])
    # Continue on a row of its own, Back and Leave without recording on the next: at 450 px the
    # three in one row cut "Leave without recording".
    body.append({"type": "ActionSet", "actions": [submit], "spacing": "Medium"})
    return _card(body, [_submit(label, _data(ev), style) for ev, label, style in nav])


def render_field(reply: Reply, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """One field on its own (the reason for leaving without recording): typed text, sent as text."""
    field = dict(reply.field or {"id": "value", "kind": "text", "prompt": reply.text})
    body = _header(Reply(reply.kind, reply.text, title=reply.title))
    body.append(_input(field, None, field.get("prompt", ""), bool(field.get("required", True))))
    for message in (errors or {}).values():
        body.append(_text(message, color="Attention", size="Small", spacing="None"))
    body += _sources(reply)
    send = {DATA_KEY: {"kind": "text", "token": reply.token, "input": INPUT_PREFIX + field["id"]}}
    actions = [_submit(SEND_LABEL, send, "positive", inputs=True)]
    actions += [_submit(c.label, _data(choice_event(reply, c)), c.style) for c in reply.choices if c.kind != "choose"]
    return _card(body, actions)


def _nav(reply: Reply) -> list[tuple[Event, str, str | None]]:
    return [(choice_event(reply, c), c.label, c.style) for c in reply.choices if c.kind != "choose"]


def render_turn(replies: list[Reply], *, current: list[Reply] | None = None,
                submitted: dict[str, Any] | None = None) -> list[Outgoing]:
    """A turn's replies as messages, in order; the one showing where the walk is has ``live=True``.

    ``record_form`` and the ``record_field`` after it become one form card. ``form_errors`` is
    drawn over the form from ``current`` (the engine's :meth:`~dialogs.engine.Engine.current`)
    with the ``submitted`` values kept. The digest is a card of its own (:func:`digest_card`);
    other long markdown goes as a text message.
    """
    out: list[Outgoing] = []
    intro: Reply | None = None
    for r in replies:
        if r.kind == "record_form":
            intro = r
            if not any(x.kind == "record_field" and x.form for x in replies):
                out.append(Outgoing(card=render_form(r.form or [], token=r.token, text=r.text,
                                                     citations=r.citations), live=True, kind=r.kind))
            continue
        if r.kind == "record_field" and r.form:
            text = intro.text if intro else FORM_TEXT
            cites = intro.citations if intro else r.citations
            out.append(Outgoing(card=render_form(r.form, token=r.token, text=text, citations=cites, nav=_nav(r)),
                                live=True, kind=r.kind))
            continue
        if r.kind == "record_field":
            out.append(Outgoing(card=render_field(r), live=True, kind=r.kind))
            continue
        if r.kind == "form_errors":
            base = next((x for x in current or [] if x.kind == "record_field"), None)
            if base is not None and base.form:
                card = render_form(base.form, token=r.token or base.token, nav=_nav(base), errors=r.errors,
                                   values=submitted, citations=base.citations)
            elif base is not None:
                card = render_field(base, errors=r.errors)
            else:
                card = render(Reply("form_errors", r.text, facts=list((r.errors or {}).items())))
            out.append(Outgoing(card=card, live=True, kind=r.kind))
            continue
        if r.digest is not None:
            from dialogs.records import outcomes_chart_png
            out.append(Outgoing(card=digest_card(r.digest, outcomes_chart_png(r.digest)), kind="digest"))
            continue
        if r.kind == "info" and not r.choices and "\n" in r.text:
            out.append(Outgoing(text=(f"**{r.title}**\n\n" if r.title else "") + r.text, kind=r.kind))
            continue
        out.append(Outgoing(card=render(r), live=r.kind in LIVE_KINDS, kind=r.kind))
    lives = [o for o in out if o.live]
    for o in lives[:-1]:  # one live card a turn: the last
        o.live = False
    return out


# ---- the adapter's own messages ---------------------------------------------------------------

def chat_link(app_id: str | None) -> str | None:
    """A deep link that opens the user's 1:1 chat with the bot (None without an app id)."""
    return f"https://teams.microsoft.com/l/chat/0/0?users=28:{app_id}" if app_id else None


def welcome_card(shared: bool, app_id: str | None = None) -> dict[str, Any]:
    """What the bot does, shown when it is installed; in a team or group chat, no buttons that start a case."""
    body = [_text(WELCOME_TITLE, weight="Bolder", size="Medium"), _text(WELCOME_TEXT)]
    if shared:
        body.append(_text(SHARED_WELCOME_TEXT))
        link = chat_link(app_id)
        actions = [{"type": "Action.OpenUrl", "title": "Open a private chat", "url": link}] if link else []
        return _card(body, actions)
    actions = [_submit("Start a decision", _data(Event("start")), "positive"),
               _submit("Topics", _data(Event("topics"))), _submit("Help", _data(Event("help")))]
    return _card(body, actions)


def moved_card(app_id: str | None, moved: bool) -> dict[str, Any]:
    """The short, neutral note left in a shared conversation (never any case content)."""
    body = [_text(MOVED_TEXT if moved else NO_PRIVATE_CHAT_TEXT)]
    link = chat_link(app_id)
    return _card(body, [{"type": "Action.OpenUrl", "title": "Open a private chat", "url": link}] if link else [])


# ---- clicks and typed words to events ---------------------------------------------------------

def _short(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def event_from_submit(value: Any) -> Event | None:
    """The core event an ``Action.Submit`` stands for, or None when the payload is not ours."""
    if not isinstance(value, dict) or not isinstance(value.get(DATA_KEY), dict):
        return None
    data = value[DATA_KEY]
    kind = data.get("kind")
    if kind not in EVENT_KINDS:
        return None
    token = _short(data.get("token"))
    inputs = {k[len(INPUT_PREFIX):]: v for k, v in value.items() if isinstance(k, str) and k.startswith(INPUT_PREFIX)}
    inputs = {k: (v[:MAX_INPUT] if isinstance(v, str) else None) for k, v in inputs.items()}
    if kind == "record_submit":
        return Event("record_submit", token=token, values={k: v for k, v in inputs.items() if v not in (None, "")})
    if kind == "text" and isinstance(data.get("input"), str):
        typed = value.get(data["input"])
        return Event("text", typed[:MAX_INPUT] if isinstance(typed, str) else "", token=token)
    if data.get("input") == PICK_INPUT and kind not in ("choose", "record_submit"):
        return Event(kind, _short(value.get(PICK_INPUT)), token=token)  # the value picked from a list
    values = data.get("values")
    if kind == "choose":
        picked = values.get("value") if isinstance(values, dict) else None
        return Event("choose", _short(data.get("value")), token=token, values={"value": _short(picked)})
    return Event(kind, _short(data.get("value")), token=token)


_ASK = re.compile(r"^ask\b[\s:,-]*(.*)$", re.IGNORECASE | re.DOTALL)


def event_from_text(text: str | None) -> Event:
    """Typed words (the bot's mention already removed) as an event; the manifest's commands first.

    ``digest`` asks for the digest wherever the conversation is; ``ask <question>`` is the
    question; everything else is free text for the engine (yes, back, why, a question...).
    """
    words = " ".join((text or "").split())[:MAX_INPUT]
    low = words.lower().rstrip(".!")
    if low == "digest":
        return Event("digest")
    m = _ASK.match(words)
    if m:
        return Event("text", m.group(1)) if m.group(1).strip() else Event("topics")
    return Event("text", words)


# ---- the leads' digest ------------------------------------------------------------------------

MAX_CHART = 16_000
"""Largest chart (base64 characters) drawn into a digest card: Teams refuses a message over 28 KB."""


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> dict[str, Any]:
    def row(cells: list[str], bold: bool = False) -> dict[str, Any]:
        return {"type": "TableRow", "cells": [
            {"type": "TableCell", "items": [_text(c, **({"weight": "Bolder"} if bold else {}))]} for c in cells]}
    return {"type": "Table", "columns": [{"width": w} for w in widths], "firstRowAsHeader": True,
            "showGridLines": False, "rows": [row(header, bold=True)] + [row(r) for r in rows]}


def _section(title: str) -> dict[str, Any]:
    return _text(title, weight="Bolder", spacing="Large", separator=True)


def _items(lines: list[str], empty: str) -> dict[str, Any]:
    return _text("\n".join(f"- {line}" for line in lines) if lines else empty, spacing="Small")


def digest_card(d: dict[str, Any], chart: bytes | None = None) -> dict[str, Any]:
    """The leads' digest (:func:`dialogs.records.build_digest`) as one Adaptive Card: a table of
    outcomes against the previous period, the chart of outcomes per day (as a data URI: Teams
    shows it in the card; a table of days instead when there is none), fact sets by pack and
    channel, and the lists. A user's reasons and questions are defused as in the Markdown digest
    (:func:`dialogs.records.user_markdown`): no mentions, links or formatting of their making."""
    from dialogs.records import (OUTCOME_LABELS, REASONS_SCANNED, local_time, period_title, signed, stale_line,
                                totals_line, user_markdown, verification_line)
    prev = d["previous"]
    body: list[dict[str, Any]] = [
        _text(f"Information sharing digest: {period_title(d)}", weight="Bolder", size="Medium"),
        _text(totals_line(d)),
        _table(["Outcome", "Count", "Previous", "Change"],
               [[label, str(d["by_outcome"][k]), str(prev["by_outcome"][k]),
                 signed(d["by_outcome"][k] - prev["by_outcome"][k])] for k, label in OUTCOME_LABELS.items()],
               [3, 1, 1, 1]),
    ]
    picture = base64.b64encode(chart).decode("ascii") if chart else ""
    if picture and len(picture) <= MAX_CHART:
        body.append({"type": "Image", "url": f"data:image/png;base64,{picture}", "size": "Stretch",
                     "altText": "Chart: decisions per day, by outcome"})
    elif len(d["by_day"]) <= 31:
        body.append(_section("By day"))
        body.append(_table(["Day"] + [label.replace("Do not share", "Not shared") for label in OUTCOME_LABELS.values()],
                           [[f"{day:%a} {day.day} {day:%b}"] + [str(r[k]) for k in OUTCOME_LABELS]
                            for r, day in ((r, date.fromisoformat(r["date"])) for r in d["by_day"])],
                           [2, 1, 1, 1, 1]))
    for title, mapping in (("By pack", d["by_pack"]), ("By channel", d["by_channel"])):
        body.append(_section(title))
        body.append({"type": "FactSet", "facts": [{"title": str(k), "value": str(n)} for k, n in mapping.items()]}
                    if mapping else _text("None", spacing="Small"))
    att = d["attention"]
    shown = len(att["latest"])
    more = f"; the newest {shown} listed" if shown < att["seek_advice"] + att["urgent_action"] else ""
    body.append(_section(f"Seek advice and urgent action ({att['seek_advice']} seek advice, "
                         f"{att['urgent_action']} urgent{more})"))
    body.append(_items([f"{a['ref']}: {OUTCOME_LABELS[a['outcome']].lower()}, {local_time(a['recorded_at'])}, "
                        f"{a['channel']}, {a['pack_id']}" for a in att["latest"]], "None"))
    capped = f" (counted over the newest {REASONS_SCANNED:,})" if d["by_outcome"]["do_not_share"] > REASONS_SCANNED else ""
    body.append(_section(f"Reasons given for not sharing{capped}"))
    body.append(_items([f"{user_markdown(r['reason'])} ({r['count']})" for r in d["do_not_share_reasons"]], "None"))
    lwr = d["left_without_recording"]
    body.append(_section(f"Left without recording ({lwr['count']})"))
    body.append(_items([f"{user_markdown(r['reason'])} ({r['count']})" for r in lwr["reasons"]], "None"))
    body.append(_section("Most asked topics"))
    body.append({"type": "FactSet", "facts": [{"title": f"{t['title']} ({', '.join(t['packs'])})", "value": str(t["count"])}
                                              for t in d["top_topics"]]} if d["top_topics"] else _text("None recorded", spacing="Small"))
    body.append(_section("Questions the bot could not answer"))
    body.append(_items([f"\"{user_markdown(u['question'])}\" ({u['count']}x in {', '.join(u['packs'])}; nearest "
                        f"topic: {u['best_title'] or 'none'})" for u in d["unanswered"]], "None recorded"))
    body.append(_section("Packs due for review"))
    body.append(_items([stale_line(p)[2:] for p in d["stale_packs"]], "None: every pack was reviewed recently"))
    body.append(_section("Record integrity"))
    body.append(_text(verification_line(d).replace("`", ""), **({"color": "Attention"} if d["verified"] is False else {})))
    return _card(body, [])
