"""The record step, for the engine's turn: the fields that apply on the path taken, their
checks, the summary to confirm, and leaving without recording (which asks why, and records that).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from content.loader import load_pack
from dialogs.events import Event, Reply, field_applies
from dialogs.intents import norm
from dialogs.phases import UNRECORDED, move
from dialogs.prompts import CURRENT
from dialogs.walk import WalkModel


class RecordForm:
    """The turn's handlers for recording a decision (a mixin of the engine's turn)."""

    # ---- the record step ------------------------------------------------------------------

    def fields(self, every: bool = False) -> list[dict[str, Any]]:
        """The record fields that apply, with choices resolved for the path taken.

        ``every``: also the fields whose ``when`` is not met yet (a form has them, and shows each once it applies).
        """
        pack = load_pack(self.s.pack)
        model = WalkModel(state=self.s.node or "", history=self.s.history)
        out = []
        for f in pack.record_fields:
            if not every and not field_applies(f, self.s.record):
                continue
            f = copy.deepcopy(f)
            for rule in f.pop("prompt_if", None) or []:
                if all(self.s.record.get(k) == v for k, v in rule["when"].items()):
                    f["prompt"], f["summary"] = rule["prompt"], rule.get("summary")
            if f.get("choices_from") == "path":
                bases = self.walk.bases_for(model) or list(pack.lawful_bases)
                f["choices"] = [{"value": b, "label": pack.lawful_bases[b]["label"]} for b in bases]
            f.setdefault("required", f.get("kind") != "text" or f["id"] != "case_ref")
            out.append(f)
        return out

    def on_record(self, ev: Event) -> list[Reply]:
        s = self.s
        s.phase, s.record, s.leave_then = move(s.phase, "open_record"), {}, None
        s.field = self.fields()[0]["id"]
        rec = load_pack(s.pack).record
        form = Reply("record_form", rec["text"], title="Record the decision", citations=rec["cite"],
                     form=self.form(), token=CURRENT)
        return [form] + self.prompt()

    def form(self) -> list[dict[str, Any]]:
        """Every record field for a form (conditional ones keep ``when``), with ``value`` given so far."""
        return [dict(f, value=self.s.record.get(f["id"])) for f in self.fields(every=True)]

    def on_choose(self, ev: Event) -> list[Reply]:
        s = self.s
        fields = {f["id"]: f for f in self.fields()}
        fid = ev.value or s.field
        if fid not in fields:
            return [Reply("error", f"There is no field {fid!r} here. Nothing was changed.")] + self.prompt()
        raw = (ev.values or {}).get("value")
        value, error, notes = self.clean(fields[fid], raw)
        if error:
            return [Reply("error", error)] + self.prompt()
        s.record[fid] = value
        ids = [f["id"] for f in self.fields()]
        i = ids.index(fid)
        if i + 1 < len(ids):
            s.field = ids[i + 1]
            return notes + self.prompt()
        s.phase, s.field = move(s.phase, "review"), None
        return notes + self.prompt()

    def on_record_submit(self, ev: Event) -> list[Reply]:
        """All fields at once (a Slack modal, a Teams card): validate, then show the summary."""
        s = self.s
        values = dict(ev.values or {})
        saved = dict(s.record)
        s.record = {}
        errors: dict[str, str] = {}
        notes: list[Reply] = []
        for f in self.fields(every=True):  # `when` is checked against the values cleaned so far
            if not field_applies(f, s.record):
                continue
            value, error, more = self.clean(f, values.get(f["id"]))
            if error:
                errors[f["id"]] = error
            else:
                s.record[f["id"]] = value
                notes += more
        if errors:
            s.record = saved
            return [Reply("form_errors", "Please correct the highlighted fields.", errors=errors, token=CURRENT)]
        s.phase, s.field = move(s.phase, "review"), None
        return notes + self.prompt()

    def clean(self, f: dict[str, Any], raw: Any) -> tuple[Any, str | None, list[Reply]]:
        """Validate one field value: ``(value, error, privacy notes)``."""
        label = f.get("prompt", f["id"])
        required = f.get("required", True)
        if f["kind"] == "text":
            text = "" if raw is None else str(raw).strip()
            if norm(text) in ("skip", "-", "none") and not required:
                text = ""
            if not text:
                return (None, f"'{label}' needs an answer.", []) if required else ("", None, [])
            from storage.redact import describe, redact
            red = redact(text)
            notes = []
            if red.removed:
                notes.append(Reply("privacy", describe(red.removed)))
            if red.name_warning:
                notes.append(Reply("privacy", "That looks as if it may contain a person's name. The record "
                                   "should hold a case reference, not names; please check it."))
            return red.text, None, notes
        if not required and (raw in (None, "") or norm(str(raw)) in ("skip", "-", "none")):
            return None, None, []
        choices = f.get("choices") or []
        by_key: dict[str, str] = {}
        for i, c in enumerate(choices, 1):
            by_key[norm(str(c["value"]))] = c["value"]
            by_key[norm(str(c["label"]))] = c["value"]
            by_key[str(i)] = c["value"]
        items = raw if isinstance(raw, list) else ([] if raw in (None, "") else re.split(r"\s*[,;]\s*", str(raw)))
        if f["kind"] == "single" and len(items) > 1:
            return None, f"Please choose one option for '{label}'.", []
        picked: list[str] = []
        for item in items:
            v = by_key.get(norm(str(item)))
            if v is None:
                options = ", ".join(str(c["label"]) for c in choices)
                return None, f"{str(item)[:40]!r} is not an option for '{label}'. Options: {options}.", []
            if v not in picked:
                picked.append(v)
        if not picked:
            return (None, f"'{label}' needs an answer.", []) if required else (None, None, [])
        return (picked if f["kind"] == "multi" else picked[0]), None, []

    def on_edit(self, ev: Event) -> list[Reply]:
        self.s.phase, self.s.field = move(self.s.phase, "edit"), self.fields()[0]["id"]
        return self.prompt()

    def on_confirm(self, ev: Event) -> list[Reply]:
        s = self.s
        row = self.write_record("decision", s.record)
        s.phase, s.last_ref = move(s.phase, "recorded"), row["ref"]
        return [Reply("recorded", f"Recorded. Your decision reference is {row['ref']}. Keep it with the case notes.",
                      title="Decision recorded", ref=row["ref"])] + self.prompt()

    def write_record(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        from storage.audit import append_decision
        pack = load_pack(self.s.pack)
        return append_decision(self.e.db, {
            "user_id": self.user_id, "channel": self.channel, "conversation_id": self.conversation_id,
            "pack_id": pack.id, "pack_version": pack.version, "answers": [list(h) for h in self.s.history],
            "outcome": self.s.node, "record": record, "kind": kind,
        })

    # ---- leaving without recording ---------------------------------------------------------

    def unrecorded(self) -> bool:
        return self.s.phase in UNRECORDED

    def ask_leave_reason(self, then: str | None) -> list[Reply]:
        self.s.phase, self.s.leave_then = move(self.s.phase, "ask_reason"), then
        return self.prompt()

    def on_leave(self, ev: Event) -> list[Reply]:
        if not self.unrecorded():
            if self.s.phase == "walk":
                self.s.phase = move(self.s.phase, "stop")
                return [Reply("info", "Stopped. No outcome was reached, so there is nothing to record. "
                              "Type 'start' to begin again.")]
            return [Reply("info", "There is nothing in progress.")]
        return self.ask_leave_reason(None)

    def leave_with_reason(self, text: str) -> list[Reply]:
        value, error, notes = self.clean({"id": "reason", "kind": "text", "prompt": "reason", "required": True}, text)
        if error:
            return [Reply("error", error)] + self.prompt()
        then = self.s.leave_then
        row = self.write_record("left_without_recording", {"reason": value})
        self.s.phase, self.s.last_ref, self.s.leave_then = move(self.s.phase, "recorded"), row["ref"], None
        replies = notes + [Reply("recorded", f"Noted: you left without recording the decision. Your reason is "
                                 f"recorded under reference {row['ref']}.", title="Reason recorded", ref=row["ref"])]
        if then and then.startswith("start:"):
            return replies + self.begin(then.split(":", 1)[1])
        return replies + self.prompt()
