"""A Block Kit checker for tests: the documented limits a Slack payload must keep, as a list of problems.

Slack refuses a message or view that breaks them (``invalid_blocks``), or cuts what is too long;
the mock Web API (``tests/slack_mock.py``) answers with ``invalid_blocks`` as Slack would, and
``tests/test_slack_blockkit.py`` runs every payload of every walk in every pack through it.
The limits are those of Slack's Block Kit reference (blocks, block elements, composition objects,
views): blocks per message 50 and per view 100; section text 3000, fields 10 of 2000; header 150;
button text and accessibility label 75, value 2000; option text and description 75, value 150,
options 100; placeholders 150; input labels and hints 2000; modal title, submit and close 24;
action ids 255, each unique in its block; block ids unique in a message or view; plain_text
where only plain_text is allowed; no empty text.

Example:
    >>> problems({"text": "hi", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
    ['blocks[0] header.text: must be plain_text, not mrkdwn']
"""

from __future__ import annotations

from typing import Any

CUT = "\u2026"


class _Check:
    def __init__(self) -> None:
        self.found: list[str] = []

    def say(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def text(self, where: str, obj: Any, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            self.say(where, "must be a text object")
            return
        if plain_only and obj["type"] != "plain_text":
            self.say(where, f"must be plain_text, not {obj['type']}")
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            self.say(where, "empty text")
        elif len(text) > limit:
            self.say(where, f"{len(text)} characters, over {limit}")

    def string(self, where: str, value: Any, limit: int) -> None:
        if not isinstance(value, str) or not value:
            self.say(where, "missing")
        elif len(value) > limit:
            self.say(where, f"{len(value)} characters, over {limit}")

    def option(self, where: str, o: dict[str, Any]) -> None:
        self.text(f"{where}.text", o.get("text"), 75, plain_only=True)
        self.string(f"{where}.value", o.get("value"), 150)
        if "description" in o:
            self.text(f"{where}.description", o["description"], 75, plain_only=True)

    def element(self, where: str, e: dict[str, Any]) -> None:
        kind = e.get("type")
        if "action_id" in e:
            self.string(f"{where}.action_id", e["action_id"], 255)
        if kind == "button":
            self.text(f"{where}.text", e.get("text"), 75, plain_only=True)
            if "value" in e:
                self.string(f"{where}.value", e["value"], 2000)
            if "accessibility_label" in e:
                self.string(f"{where}.accessibility_label", e["accessibility_label"], 75)
            if e.get("style") not in (None, "primary", "danger"):
                self.say(where, f"style {e.get('style')!r}")
        elif kind in ("static_select", "multi_static_select"):
            self.text(f"{where}.placeholder", e.get("placeholder"), 150, plain_only=True)
            options = e.get("options") or []
            if not 1 <= len(options) <= 100:
                self.say(where, f"{len(options)} options (1 to 100)")
            for i, o in enumerate(options):
                self.option(f"{where}.options[{i}]", o)
            values = [o.get("value") for o in options]
            if len(set(values)) != len(values):
                self.say(where, "option values repeat")
            chosen = e.get("initial_options") or ([e["initial_option"]] if e.get("initial_option") else [])
            for c in chosen:
                if c not in options:
                    self.say(where, "an initial option is not one of the options")
        elif kind == "plain_text_input":
            limit = e.get("max_length", 3000)
            if not isinstance(limit, int) or not 1 <= limit <= 3000:
                self.say(where, f"max_length {limit!r}")
            if "placeholder" in e:
                self.text(f"{where}.placeholder", e["placeholder"], 150, plain_only=True)
            if len(e.get("initial_value") or "") > limit:
                self.say(where, "initial_value longer than max_length")
        else:
            self.say(where, f"an element this project does not use: {kind!r}")

    def block(self, where: str, b: dict[str, Any], surface: str) -> None:
        kind = b.get("type")
        if "block_id" in b:
            self.string(f"{where}.block_id", b["block_id"], 255)
        if kind == "header":
            self.text(f"{where} header.text", b.get("text"), 150, plain_only=True)
        elif kind == "section":
            if "text" not in b and "fields" not in b:
                self.say(where, "a section needs text or fields")
            if "text" in b:
                self.text(f"{where} section.text", b["text"], 3000)
            fields = b.get("fields") or []
            if len(fields) > 10:
                self.say(where, f"{len(fields)} fields, over 10")
            for i, f in enumerate(fields):
                self.text(f"{where} section.fields[{i}]", f, 2000)
        elif kind == "context":
            elements = b.get("elements") or []
            if not 1 <= len(elements) <= 10:
                self.say(where, f"{len(elements)} context elements (1 to 10)")
            for i, t in enumerate(elements):
                self.text(f"{where} context.elements[{i}]", t, 3000)
        elif kind == "actions":
            elements = b.get("elements") or []
            if not 1 <= len(elements) <= 25:
                self.say(where, f"{len(elements)} elements (1 to 25)")
            ids = [e.get("action_id") for e in elements]
            if len(set(ids)) != len(ids):
                self.say(where, "action_ids repeat in one block")
            for i, e in enumerate(elements):
                self.element(f"{where} actions.elements[{i}]", e)
        elif kind == "input":
            if surface == "message":
                self.say(where, "an input block in a message")
            self.text(f"{where} input.label", b.get("label"), 2000, plain_only=True)
            if "hint" in b:
                self.text(f"{where} input.hint", b["hint"], 2000, plain_only=True)
            self.element(f"{where} input.element", b.get("element") or {})
        elif kind == "markdown":
            self.string(f"{where} markdown.text", b.get("text"), 12000)
        elif kind != "divider":
            self.say(where, f"a block this project does not use: {kind!r}")

    def blocks(self, blocks: list[dict[str, Any]], limit: int, surface: str) -> None:
        if len(blocks) > limit:
            self.say("blocks", f"{len(blocks)} blocks, over {limit}")
        ids = [b["block_id"] for b in blocks if "block_id" in b]
        if len(set(ids)) != len(ids):
            self.say("blocks", "block_ids repeat")
        for i, b in enumerate(blocks):
            self.block(f"blocks[{i}]", b, surface)


def problems(message: dict[str, Any]) -> list[str]:
    """What breaks Block Kit's limits in a message: ``{"text": ..., "blocks": [...]}``."""
    check = _Check()
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        check.say("text", "a message needs fallback text (notifications, screen readers)")
    elif len(text) > 40000:
        check.say("text", f"{len(text)} characters, over 40000")
    check.blocks(message.get("blocks") or [], 50, "message")
    return check.found


def view_problems(view: dict[str, Any]) -> list[str]:
    """What breaks Block Kit's limits in a modal or App Home view."""
    check = _Check()
    if view.get("type") == "modal":
        check.text("title", view.get("title"), 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                check.text(key, view[key], 24, plain_only=True)
        if any(b.get("type") == "input" for b in view.get("blocks") or []) and "submit" not in view:
            check.say("submit", "a modal with inputs needs a submit button")
        if len(view.get("private_metadata") or "") > 3000:
            check.say("private_metadata", "over 3000 characters")
    elif view.get("type") != "home":
        check.say("type", f"{view.get('type')!r}")
    check.blocks(view.get("blocks") or [], 100, "view")
    return check.found


def cut_labels(blocks: list[dict[str, Any]]) -> list[str]:
    """Labels a person sees or hears that were cut short (end with an ellipsis): buttons, their
    accessibility labels, options and their descriptions, placeholders, input labels."""
    found = []

    def look(value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if key in ("accessibility_label",) and isinstance(v, str) and v.endswith(CUT):
                    found.append(v)
                elif key in ("text", "placeholder", "label", "description", "title", "submit", "close") \
                        and isinstance(v, dict) and v.get("type") == "plain_text" and v.get("text", "").endswith(CUT):
                    found.append(v["text"])
                else:
                    look(v)
        elif isinstance(value, list):
            for v in value:
                look(v)
    look(blocks)
    return found
