"""Block Kit rendering of core replies: messages, the record modal and the App Home tab.

Pure functions, no network and no decisions: a list of :class:`~dialogs.events.Reply` in, the
``text`` and ``blocks`` (or a ``view``) that Slack shows out. Every button carries the core
:class:`~dialogs.events.Event` that :func:`~dialogs.events.choice_event` says its click sends,
plus a *render nonce* ``n`` that is new for every rendering (a second click on the same rendered
button is a double click, see ``bot.slack``).

Example:
    >>> from dialogs.events import Choice, Reply
    >>> q = Reply("question", "Is a child at risk?", title="Question 1", token="w1.1",
    ...           choices=[Choice("answer", "Yes", "yes")])
    >>> text, blocks = message([q], nonce="n1")
    >>> text
    'Question 1: Is a child at risk?'
    >>> [b["type"] for b in blocks]
    ['header', 'section', 'actions']
    >>> parse_value(blocks[-1]["elements"][0]["value"])["e"]
    ['answer', 'yes', 'w1.1', None]
"""

from __future__ import annotations

import json
import re
from typing import Any

from dialogs.events import NAV_KINDS, Choice, Event, Reply, choice_event, field_applies, source_line
from dialogs.text import MAX_TEXT

ACTION_PREFIX = "infoshare:"
"""Every interactive element's ``action_id`` starts with this (one Bolt listener takes them all)."""
RECORD_VIEW = "infoshare_record"
"""``callback_id`` of the record modal."""
TEXT_VIEW = "infoshare_text"
"""``callback_id`` of the one-field modal for a typed answer (the reason for not recording)."""
VALUE_ACTION = "v"
"""``action_id`` of the input element in every modal block (the block id is the field id)."""

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION = 3000
MAX_FALLBACK = 300
MAX_LABEL = 75
MAX_BUTTONS = 5
"""Choices of one kind beyond this many (topics) become a select menu instead of buttons."""
MAX_INPUT = MAX_TEXT
"""Longest typed answer: the engine's own limit, so Slack stops typing there."""
TEXT_PLACEHOLDER = f"Up to {MAX_TEXT} characters; a case reference, not names"

SECONDARY = ("info", "why", "where", "privacy", "error", "record_form", "recorded", "answer", "topics")

ADAPTER_NOTE_FORM = ("The record form is open in a pop-up. Nothing is recorded until you confirm the "
                     "summary. Closed it? Open it again here.")
MOVED = "This step continues in a newer message below."


# ---- text helpers --------------------------------------------------------------------------

def esc(text: str | None) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text or " ", limit), "emoji": False}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut(text or " ", MAX_SECTION)}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text)]}


def md_to_mrkdwn(text: str) -> str:
    """Markdown (the digest) as Slack mrkdwn: headings and ``**bold**`` bold, tables in code blocks."""
    out: list[str] = []
    table: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out.append("```" + "\n".join(table) + "```")
            table = []
        line = esc(line)
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            line = f"*{m.group(1)}*"
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        if line.startswith("- "):
            line = "\u2022 " + line[2:]
        out.append(line)
    if table:
        out.append("```" + "\n".join(table) + "```")
    return "\n".join(out)


def _is_markdown(text: str) -> bool:
    return text.startswith("# ") or "\n## " in text


def chunks(text: str, limit: int = MAX_SECTION) -> list[str]:
    """``text`` split at line ends into pieces a section block takes."""
    parts, buf = [], ""
    for line in text.split("\n"):
        if buf and len(buf) + 1 + len(line) > limit:
            parts.append(buf)
            buf = ""
        buf = f"{buf}\n{line}" if buf else line
    parts.append(buf)
    return [cut(p, limit) for p in parts if p.strip()] or [" "]


def cite_line(citations: list[dict[str, str]]) -> str:
    return esc(source_line(citations))


def fallback_text(replies: list[Reply]) -> str:
    """The notification text of a message: its main reply's title and text."""
    main = next((r for r in reversed(replies) if r.choices), replies[-1] if replies else None)
    if main is None:
        return " "
    body = ADAPTER_NOTE_FORM if main.kind == "record_field" and main.form else main.text
    text = f"{main.title}: {body}" if main.title else body
    return cut(" ".join(text.split()), MAX_FALLBACK) or " "


# ---- button values -------------------------------------------------------------------------

_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps(..., separators=(",", ":"))`` without building an encoder for every button."""


def event_value(event: Event, nonce: str) -> str:
    """The button value that carries ``event`` (kind, value, token, values) and the render nonce."""
    return _COMPACT.encode({"e": [event.kind, event.value, event.token, event.values], "n": nonce})


def adapter_value(action: str, token: str | None, nonce: str) -> str:
    """A button the adapter handles itself (open the record form, type an answer)."""
    return _COMPACT.encode({"a": action, "t": token, "n": nonce})


def parse_value(value: str | None) -> dict[str, Any]:
    """The payload of a button or option value; ``{}`` when it is not one of ours."""
    try:
        data = json.loads(value or "")
    except (TypeError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return {}
    e = data.get("e")
    if e is not None and not (isinstance(e, list) and len(e) == 4 and isinstance(e[0], str)
                              and all(x is None or isinstance(x, str) for x in e[1:3])
                              and (e[3] is None or isinstance(e[3], dict))):
        return {}
    if e is None and not isinstance(data.get("a"), str):
        return {}
    return data


def event_of(data: dict[str, Any]) -> Event:
    kind, value, token, values = data["e"]
    return Event(kind, value, token=token, values=values)


def fits(label: str, about: str | None, limit: int = MAX_LABEL) -> str:
    """``label (about)`` when it fits in ``limit`` characters, else the label alone: never half a
    sentence (Slack cuts an accessibility label at 75 characters)."""
    whole = f"{label} ({about})" if about else label
    return whole if len(whole) <= limit else cut(label, limit)


def _a11y(choice: Choice, reply: Reply) -> str:
    """What a screen reader says for a button: the label and where it is ("Answer Yes to
    Question 3"), with the question itself read from the block just above the buttons."""
    if choice.kind == "answer":
        where = f"Answer {choice.label} to {reply.title}"
        return where if reply.title and len(where) <= MAX_LABEL else cut(f"Answer {choice.label}", MAX_LABEL)
    return fits(choice.label, reply.title or reply.text or None)


def button(label: str, value: str, action_id: str, style: str | None = None,
           a11y: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": plain(label, MAX_LABEL), "value": value, "action_id": action_id}
    if style in ("primary", "danger"):
        b["style"] = style
    if a11y:
        b["accessibility_label"] = cut(a11y, MAX_LABEL)
    return b


def choice_rows(reply: Reply, nonce: str, *, skip_kinds: tuple[str, ...] = (),
                split: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Buttons for a reply's choices; many choices of one kind (topics) become one select menu.

    ``(answers, navigation)``: the elements of the choices that answer the reply, then of those
    in :data:`~dialogs.events.NAV_KINDS` (all in the first, with ``split=False``), in one pass.
    A kind is wholly in one row, so its choices become one select menu when there are more than
    :data:`MAX_BUTTONS` of them."""
    counts: dict[str, int] = {}
    for c in reply.choices:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    rows: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    done: set[str] = set()
    for i, c in enumerate(reply.choices):
        if c.kind in skip_kinds:
            continue
        row = rows[1] if split and c.kind in NAV_KINDS else rows[0]
        if counts[c.kind] > MAX_BUTTONS:
            if c.kind in done:
                continue
            done.add(c.kind)
            group = [g for g in reply.choices if g.kind == c.kind]
            options = [{"text": plain(g.label, MAX_LABEL), "value": event_value(choice_event(reply, g), nonce)}
                       for g in group[:100]]
            row.append({"type": "static_select", "action_id": f"{ACTION_PREFIX}{c.kind}:select",
                        "placeholder": plain(f"Choose one of {len(group)}"), "options": options})
            continue
        row.append(button(c.label, event_value(choice_event(reply, c), nonce),
                          f"{ACTION_PREFIX}{c.kind}:{i}", c.style, _a11y(c, reply)))
    return rows


def actions(elements: list[dict[str, Any]], block_id: str | None = None) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(elements), 25):
        block: dict[str, Any] = {"type": "actions", "elements": elements[i:i + 25]}
        if block_id:
            block["block_id"] = f"{block_id}{i // 25}"
        out.append(block)
    return out


# ---- one reply -----------------------------------------------------------------------------

def _facts(facts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not facts:
        return []
    if all(len(label) <= 60 for label, _ in facts):
        fields = [mrkdwn(f"*{esc(label)}*\n{esc(value)}") for label, value in facts]
        return [{"type": "section", "fields": [dict(f, text=cut(f["text"], 2000)) for f in fields[i:i + 10]]}
                for i in range(0, len(fields), 10)]
    lines = "\n".join(f"\u2022 {esc(label)} \u2014 *{esc(value)}*" for label, value in facts)
    return [section(p) for p in chunks(lines)]


def _lists(lists: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    out = []
    for heading, items in lists:
        text = f"*{esc(heading)}*\n" + "\n".join(f"\u2022 {esc(i)}" for i in items)
        out += [section(p) for p in chunks(text)]
    return out


def reply_blocks(reply: Reply, nonce: str) -> list[dict[str, Any]]:
    """The blocks of one reply (its buttons included)."""
    k = reply.kind
    blocks: list[dict[str, Any]] = []
    body = md_to_mrkdwn(reply.text) if _is_markdown(reply.text) else esc(reply.text)
    if k in ("question", "outcome", "summary", "recorded") and reply.title:
        blocks.append({"type": "header", "text": plain(reply.title)})
        blocks += [section(f"*{p}*" if k == "question" else p) for p in chunks(body, MAX_SECTION - 2)]
    elif k == "privacy":
        blocks.append(context(f":lock: {body}"))
    elif k in ("error", "stale"):
        blocks.append(section(f":warning: {body}"))
    else:
        head = f"*{esc(reply.title)}*\n" if reply.title else ""
        parts = chunks(body, MAX_SECTION - len(head))
        blocks += [section(head + parts[0])] + [section(p) for p in parts[1:]]
    blocks += _facts(reply.facts)
    blocks += _lists(reply.lists)
    if reply.errors:
        blocks.append(section("\n".join(f":warning: {esc(m)}" for m in reply.errors.values())))
    if k == "record_field" and reply.form:
        blocks = [section(f"*{esc(reply.title or 'Record the decision')}*\n{ADAPTER_NOTE_FORM}")]
        answers, navigation = choice_rows(reply, nonce, skip_kinds=("choose",))
        elements = [button("Open the record form", adapter_value("form", reply.token, nonce),
                           f"{ACTION_PREFIX}open_form", "primary", "Open the record form")]
        return blocks + actions(elements + answers) + actions(navigation)
    if reply.citations and k != "record_field":
        blocks.append(context(cut(cite_line(reply.citations), MAX_SECTION)))
    elements = []
    if k == "record_field" and (reply.field or {}).get("kind") == "text":
        elements.append(button("Type your answer", adapter_value("text", reply.token, nonce),
                               f"{ACTION_PREFIX}type_text", "primary", fits("Type your answer", reply.title)))
    answers, navigation = choice_rows(reply, nonce)
    # The answers on a row of their own, then Back / Start over / Why? on a second row.
    return blocks + actions(elements + answers) + actions(navigation)


def message(replies: list[Reply], nonce: str) -> tuple[str, list[dict[str, Any]]]:
    """One Slack message showing ``replies`` in order: ``(fallback text, blocks)``."""
    parts = [reply_blocks(r, nonce) for r in replies]
    blocks: list[dict[str, Any]] = []
    for i, p in enumerate(parts):
        if i and p and p[0]["type"] != "header" and parts[i - 1] and parts[i - 1][-1]["type"] == "actions":
            blocks.append({"type": "divider"})
        blocks += p
    if len(blocks) > MAX_BLOCKS:  # keep the last reply (the one with the buttons) whole
        last = parts[-1][:MAX_BLOCKS - 1]
        blocks = blocks[: MAX_BLOCKS - 1 - len(last)] + [context("(Shortened.)")] + last
    return fallback_text(replies), blocks


def moved_blocks() -> tuple[str, list[dict[str, Any]]]:
    """What an older live message shows once a newer message carries the buttons."""
    return MOVED, [context(f"_{MOVED}_")]


# ---- modals --------------------------------------------------------------------------------

def option_text(label: str, limit: int = MAX_LABEL) -> tuple[str, str | None]:
    """A select option's label as ``(text, description)``, each at most ``limit`` characters.

    Slack cuts an option's text at 75 characters, so a longer label is split where it reads
    well (before ``" ("``, after ``", "`` or ``": "``, else between words) and the rest is the
    option's description, shown under it.

    Example:
        >>> option_text("Legitimate interests (mainly for organisations that are not public authorities)")
        ('Legitimate interests', '(mainly for organisations that are not public authorities)')
    """
    label = " ".join(label.split())
    if len(label) <= limit:
        return label, None
    cuts = [m.start() for m in re.finditer(r" \(", label)] + [m.end() - 1 for m in re.finditer(r"[,:;] ", label)]
    for at in sorted(cuts, reverse=True):
        head, tail = label[:at].strip().rstrip(",;"), label[at:].strip()
        if head and len(head) <= limit and len(tail) <= limit:
            return head, tail
    words = label[:limit + 1].rsplit(" ", 1)[0] if " " in label[:limit + 1] else label[:limit]
    return words, cut(label[len(words):].strip(), limit) or None


def _option(choice: dict[str, Any]) -> dict[str, Any]:
    text, description = option_text(str(choice["label"]))
    option = {"text": plain(text, MAX_LABEL), "value": cut(str(choice["value"]), 150)}
    if description:
        option["description"] = plain(description, MAX_LABEL)
    return option


def _input(f: dict[str, Any], form: list[dict[str, Any]]) -> dict[str, Any]:
    kind, value = f["kind"], f.get("value")
    block: dict[str, Any] = {"type": "input", "block_id": f["id"], "label": plain(f.get("prompt") or f["id"], 2000),
                             "optional": not f.get("required", True)}
    if kind == "text":
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE_ACTION, "multiline": True,
                                   "max_length": MAX_INPUT, "placeholder": plain(TEXT_PLACEHOLDER)}
        if value:
            element["initial_value"] = str(value)
    else:
        options = [_option(c) for c in (f.get("choices") or [])][:100]
        multi = kind == "multi"
        element = {"type": "multi_static_select" if multi else "static_select", "action_id": VALUE_ACTION,
                   "placeholder": plain("Choose all that apply" if multi else "Choose one"), "options": options}
        chosen = [o for o in options if o["value"] in (value if isinstance(value, list) else [value])]
        if chosen:
            if multi:
                element["initial_options"] = chosen
            else:
                element["initial_option"] = chosen[0]
    block["element"] = element
    adds = []
    for other in form:  # a later field that this answer brings in ("why not told" after "No")
        for fid, v in (other.get("when") or {}).items():
            if fid == f["id"]:
                label = next((str(c["label"]) for c in f.get("choices") or [] if c["value"] == v), str(v))
                adds.append(f"Choosing \u201c{label}\u201d adds: {re.split(r'(?<=[?]) ', other['prompt'], maxsplit=1)[0]}")
    if adds:
        block["dispatch_action"] = True  # a choice here redraws the modal (SlackChannel.on_form_change)
        block["hint"] = plain(" ".join(adds), 2000)
    return block


def form_inputs(reply: Reply, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The record form's input blocks, ``block_id`` = field id. A field that applies only after
    another answer (why the person is not told) is there only once that answer is given:
    ``values`` as the person has them in the modal now, else the answers stored so far."""
    form = reply.form or []
    if values is not None:
        form = [dict(f, value=values.get(f["id"])) for f in form]
    now = {f["id"]: f.get("value") for f in form}
    return [_input(f, form) for f in form if field_applies(f, now)]


def record_modal(reply: Reply, meta: str, intro: str | None = None) -> dict[str, Any]:
    """The record step as a modal: one input block per form field that applies (:func:`form_inputs`)."""
    blocks: list[dict[str, Any]] = []
    if intro:
        blocks.append(section(esc(intro)))
    blocks.append(context("Use case references, not names. Nothing is recorded until you confirm the summary."))
    blocks += form_inputs(reply)
    return {"type": "modal", "callback_id": RECORD_VIEW, "private_metadata": meta,
            "title": plain("Record the decision", 24), "submit": plain("Check summary", 24),
            "close": plain("Cancel", 24), "blocks": blocks[:100]}


def redraw_modal(view: dict[str, Any], reply: Reply, values: dict[str, Any]) -> dict[str, Any] | None:
    """The open record modal ``view`` with the fields that apply to ``values`` (what is chosen in
    it now), for ``views.update``; None when the same fields are shown already. Blocks keep their
    ids, so Slack keeps what was typed and chosen."""
    old = view.get("blocks") or []
    inputs = form_inputs(reply, values)
    if [b["block_id"] for b in inputs] == [b.get("block_id") for b in old if b.get("type") == "input"]:
        return None
    head = [b for b in old if b.get("type") != "input"]
    return {"type": "modal", "callback_id": RECORD_VIEW, "private_metadata": view.get("private_metadata") or "",
            "title": plain("Record the decision", 24), "submit": plain("Check summary", 24),
            "close": plain("Cancel", 24), "blocks": (head + inputs)[:100]}


def text_modal(reply: Reply, meta: str) -> dict[str, Any]:
    """One typed answer (a record_field of kind text) as a modal; the block id is the field id."""
    f = reply.field or {"id": "text", "prompt": reply.text}
    block = {"type": "input", "block_id": f["id"], "label": plain(reply.text or f.get("prompt", ""), 2000),
             "element": {"type": "plain_text_input", "action_id": VALUE_ACTION, "multiline": True,
                         "max_length": MAX_INPUT, "placeholder": plain(TEXT_PLACEHOLDER)}}
    return {"type": "modal", "callback_id": TEXT_VIEW, "private_metadata": meta,
            "title": plain(reply.title or "Your answer", 24), "submit": plain("Send", 24),
            "close": plain("Cancel", 24), "blocks": [block]}


def notice_view(text: str, title: str = "infoshare") -> dict[str, Any]:
    """A modal that only says something (the form belonged to an earlier step)."""
    return {"type": "modal", "title": plain(title, 24), "close": plain("Close", 24), "blocks": [section(esc(text))]}


def form_values(state_values: dict[str, Any]) -> dict[str, Any]:
    """``{field id: value or list}`` from a submitted modal's ``view.state.values``."""
    out: dict[str, Any] = {}
    for block_id, elements in (state_values or {}).items():
        el = (elements or {}).get(VALUE_ACTION) or {}
        t = el.get("type")
        if t == "multi_static_select":
            out[block_id] = [o.get("value") for o in el.get("selected_options") or []]
        elif t == "static_select":
            out[block_id] = (el.get("selected_option") or {}).get("value")
        else:
            out[block_id] = el.get("value")
    return out


def view_errors(errors: dict[str, str], view_blocks: list[dict[str, Any]]) -> dict[str, str]:
    """``response_action: errors`` for a modal: each message on its field's block.

    A message for a field the modal does not show goes on the first input block, so Slack never
    refuses the response.
    """
    ids = [b.get("block_id") for b in view_blocks if b.get("type") == "input"]
    out: dict[str, str] = {}
    for fid, msg in errors.items():
        target = fid if fid in ids else (ids[0] if ids else fid)
        out[target] = cut(f"{out[target]} {msg}" if target in out else msg, 300)
    return out


# ---- App Home ------------------------------------------------------------------------------

HOME_INTRO = ("I help you decide whether to share information about a child or family, and record the "
              "decision. Decisions happen in our direct messages (the Messages tab), never in a channel.")


def home_view(mine: list[Reply], topics: list[Reply], nonce: str) -> dict[str, Any]:
    """The App Home tab: start, the user's own recent decisions, and the topics."""
    start = Reply("info", "", choices=[Choice("start", "Start a decision", style="primary"), Choice("help", "Help")])
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain("infoshare")}, section(esc(HOME_INTRO))]
    blocks += actions(choice_rows(start, nonce, split=False)[0])
    blocks.append({"type": "divider"})
    for r in mine:
        blocks += reply_blocks(r, nonce)
    blocks.append({"type": "divider"})
    for r in topics:
        blocks += reply_blocks(r, nonce)
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
