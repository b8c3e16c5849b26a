"""What to show now, for the engine's turn: the question, the outcome with its contacts, the
record field waiting, the summary, or what can be done next."""

from __future__ import annotations

from typing import Any

from content.loader import load_pack
from dialogs.events import Choice, Reply
from dialogs.walk import WalkModel

ANSWER_LABELS = {"yes": "Yes", "no": "No", "unsure": "Not sure"}
CURRENT = "\0current"
"""Placeholder token, replaced by the conversation's token after the turn is counted."""


def contact_value(contact: dict[str, Any], settings: dict[str, str]) -> str:
    """What to show for a pack contact: the deployment's setting, a number the guidance gives
    (``fixed``), what to contact in words (``unset``), or else a pointer to the organisation."""
    fixed = contact.get("fixed")
    setting = settings.get(contact["id"])
    if fixed and setting and fixed not in setting:
        return f"{fixed} ({setting})"
    return setting or fixed or contact.get("unset") or "not set here: ask your organisation"


class Prompts:
    """The turn's replies that show where the conversation is (a mixin of the engine's turn)."""

    # ---- what to show now -----------------------------------------------------------------

    def nav(self, back: bool = True) -> list[Choice]:
        out = [Choice("back", "Back")] if back else []
        return out + [Choice("restart", "Start over"), Choice("why", "Why?")]

    def prompt(self) -> list[Reply]:
        """The reply that shows where the conversation is now."""
        s = self.s
        pack = load_pack(s.pack)
        if s.phase == "walk" and s.node:
            node = pack.nodes[s.node]
            n = len(s.history) + 1
            choices = [Choice("answer", "Yes", "yes"), Choice("answer", "No", "no"),
                       Choice("answer", "Not sure", "unsure")] + self.nav(back=bool(s.history))
            return [Reply("question", node["question"], title=f"Question {n}", choices=choices,
                          citations=node["cite"], token=CURRENT)]
        if s.phase == "outcome" and s.node:
            return [self.outcome_reply()]
        if s.phase == "record" and s.field:
            f = next(f for f in self.fields() if f["id"] == s.field)
            choices = [Choice("choose", c["label"], c["value"]) for c in f.get("choices", [])]
            if not f.get("required", True):
                choices.append(Choice("choose", "Skip", "skip"))
            hint = {"multi": " (choose one or more: numbers or names separated by commas)",
                    "single": " (choose one)", "text": "" if f.get("required", True) else " (optional)"}[f["kind"]]
            return [Reply("record_field", f["prompt"] + hint, title="Record the decision", field=f, form=self.form(),
                          choices=choices + [Choice("back", "Back"), Choice("leave", "Leave without recording")],
                          citations=f["cite"], token=CURRENT)]
        if s.phase == "confirm":
            return [Reply("summary", "Please check this summary. Nothing is recorded until you confirm.",
                          title="Summary of the decision", facts=self.summary_facts(),
                          choices=[Choice("confirm", "Confirm and record", style="primary"),
                                   Choice("edit", "Change"), Choice("back", "Back"),
                                   Choice("leave", "Leave without recording", style="danger")],
                          token=CURRENT)]
        if s.phase == "leaving":
            return [Reply("record_field", "Please tell me briefly why you are leaving without recording this "
                          "decision (no names). Your reason is recorded.", title="Leave without recording",
                          field={"id": "reason", "kind": "text", "prompt": "Reason for not recording", "required": True},
                          choices=[Choice("record", "Record the decision instead", style="primary")],
                          citations=pack.record["cite"], token=CURRENT)]
        if s.phase == "done":
            return [Reply("info", f"Your last decision is recorded as {s.last_ref}.",
                          choices=[Choice("start", "Start a new decision", style="primary"),
                                   Choice("topics", "Topics"), Choice("mine", "My decisions")])]
        return [Reply("info", "Type 'start' to begin a decision, ask a question in your own words, or type 'help'.",
                      choices=[Choice("start", "Start a decision", style="primary"), Choice("topics", "Topics"),
                               Choice("help", "Help")])]

    def outcome_reply(self) -> Reply:
        s = self.s
        pack = load_pack(s.pack)
        o = pack.outcomes[s.node]
        # The answer that led here may lead the outcome with what to do now ("not sure" about
        # danger), and name its own contacts.
        edge = self.walk.last_edge(WalkModel(state=s.node, history=s.history))
        lead = edge.get("lead") or {}
        text = f"{lead['text']} {o['text']}" if lead else o["text"]
        lists = []
        if o.get("steps"):
            lists.append(("What to do next", [st["text"] for st in o["steps"]]))
        cites = list(lead.get("cite", [])) + list(o["cite"]) + [c for st in o.get("steps", []) for c in st["cite"]]
        if s.node == "share":
            lists.append(("How to share", [c["text"] for c in pack.checklist]))
            cites += [c for item in pack.checklist for c in item["cite"]]
        facts = [("Outcome", o["title"]), ("Pack", pack.title), ("Questions answered", str(len(s.history)))]
        for c in pack.contacts(edge.get("contacts") or o.get("contacts") or ""):
            facts.append((c["role"], contact_value(c, self.e.contacts)))
        return Reply("outcome", text, title=o["title"], facts=facts, lists=lists, citations=cites,
                     choices=[Choice("record", "Record this decision", style="primary"), Choice("back", "Back"),
                              Choice("restart", "Start over"), Choice("why", "Why?")], token=CURRENT)

    def summary_facts(self) -> list[tuple[str, str]]:
        pack = load_pack(self.s.pack)
        facts = [("Outcome", pack.outcomes[self.s.node]["title"])]
        for f in self.fields():
            v = self.s.record.get(f["id"])
            labels = {c["value"]: c["label"] for c in f.get("choices", [])}
            if isinstance(v, list):
                shown = ", ".join(labels.get(x, x) for x in v)
            else:
                shown = labels.get(v, v) if v else "(none)"
            facts.append((f.get("summary") or f["prompt"], str(shown)))
        return facts
