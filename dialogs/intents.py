"""What typed words and requests mean, for the engine's turn (:class:`dialogs.engine.Engine`).

Typed words that stand for buttons (``yes``, ``back``, ``record`` ...), the letters that pick a
"did you mean" suggestion, and everything a user asks for that is not a step of the decision:
questions for the answers, a topic, the topic list, help, the checklist, their own decisions and
the leads' digest. :func:`typed_question` says when typed words are a question for the matcher,
for both the turn and :meth:`~dialogs.engine.Engine.handle`, which matches questions before the
turn's transaction.
"""

from __future__ import annotations

import re
from typing import Any

from content.loader import load_pack, pack_ids
from dialogs.events import Choice, Event, Reply

# Typed words (case-insensitive, trailing punctuation ignored) and the event each stands for.
WORDS: dict[str, tuple[str, str | None]] = {}
for _words, _event in (
    ("yes y yeah yep", ("answer", "yes")),
    ("no n nope", ("answer", "no")),
    ("not sure|unsure|don't know|dont know|not certain|maybe|ns", ("answer", "unsure")),
    ("back|undo|go back", ("back", None)),
    ("restart|start over|start again|reset|over", ("restart", None)),
    ("start|begin|new|new decision|start a decision", ("start", None)),
    ("why|why is this asked|why?", ("why", None)),
    ("help|menu|commands|h", ("help", None)),
    ("where|where am i|my answers|answers", ("where", None)),
    ("topics|list topics", ("topics", None)),
    ("record|record it|record decision", ("record", None)),
    ("leave|cancel|stop", ("leave", None)),
    ("confirm|save", ("confirm", None)),
    ("edit|change", ("edit", None)),
    ("mine|my decisions", ("mine", None)),
    ("digest", ("digest", None)),
    ("checklist|check list|self-check|self check", ("checklist", None)),
):
    for _w in re.split(r"[| ]" if "|" not in _words else r"\|", _words):
        WORDS[_w] = _event

SUGGESTION_KEYS = "ABCDEFG"
"""Letters for "did you mean" suggestions. Letters, because the walk's choices are numbered in
the console (1 is Yes at every question), so a suggestion can never be picked by a number
meant for the walk; they stop before H, and none is a typed word (``b`` no longer means back),
so a letter can only ever mean a suggestion."""
_KEY = re.compile(r"([a-z])\)?")
_START = re.compile(r"(?:start|begin)\s+(\S+)")


def norm(text: str) -> str:
    return " ".join(text.strip().lower().replace("\u2019", "'").rstrip("?!. ").split())


def typed_question(text: str, phase: str | None, field: str | None) -> str | None:
    """The question that typed ``text`` asks, on one line; None when it is empty, a typed word, a
    suggestion's letter, ``start <pack>``, a record field's value or a reason for leaving."""
    n = norm(text)
    if (not text.strip() or n in WORDS or _KEY.fullmatch(n) or _START.fullmatch(n)
            or phase == "leaving" or (phase == "record" and field)):
        return None
    return " ".join(text.split())


class Intents:
    """The turn's handlers for typed words and requests (a mixin of the engine's turn)."""

    def on_text(self, ev: Event) -> list[Reply]:
        text = (ev.value or "").strip()
        if not text:
            return self.prompt()
        n = norm(text)
        key = _KEY.fullmatch(n)
        if key and self.offered:
            i = SUGGESTION_KEYS.lower().find(key.group(1))
            if 0 <= i < len(self.offered):
                return self.on_topic(Event("topic", self.offered[i]))
        if self.s.phase == "leaving" and WORDS.get(n, ("",))[0] not in ("record", "help", "back", "why", "where"):
            return self.leave_with_reason(text)
        if self.s.phase == "record" and self.s.field:
            word = WORDS.get(n, ("", None))[0]
            if word not in ("back", "restart", "start", "help", "why", "leave", "where"):
                return self.dispatch(Event("choose", self.s.field, values={"value": text}))
        if self.s.phase == "confirm" and n in ("yes", "y"):
            return self.dispatch(Event("confirm"))
        if self.s.phase == "confirm" and n in ("no", "n"):
            return self.dispatch(Event("edit"))
        m = _START.fullmatch(n)
        if m:
            return self.on_start(Event("start", m.group(1)))
        if key and key.group(1).upper() in SUGGESTION_KEYS:
            return self.no_suggestions(key.group(1).upper())
        if n in WORDS:  # a bare yes / no / not sure with no question waiting: on_answer says what to do
            kind, value = WORDS[n]
            return self.dispatch(Event(kind, value))
        return self.ask(text)

    # ---- questions, topics, help ----------------------------------------------------------

    def ask(self, question: str) -> list[Reply]:
        from dialogs.answers import get_matcher
        from storage import gaps
        question = " ".join(question.split())  # one line: matched, and stored for the digest, as such
        if self.matched is not None and self.matched[:2] == (self.s.pack, question):
            ans = self.matched[2]  # matched before the turn, outside the lock (Engine._match_first)
        else:
            matcher = get_matcher(self.s.pack, notify=self.e.notify)
            with self.e._matching:
                ans = matcher.ask(question)
        self.s.offered = list(ans.suggestions[:len(SUGGESTION_KEYS)])
        if ans.topic:
            gaps.record_asked(self.e.db, pack_id=self.s.pack, topic=ans.topic, channel=self.channel)
        else:
            gaps.record_unanswered(self.e.db, pack_id=self.s.pack, question=question, channel=self.channel,
                                   best_topic=(ans.suggestions or [None])[0], score=ans.score)
        replies = [self.answer_reply(ans)]
        if self.s.phase in ("walk", "outcome", "record", "confirm", "leaving"):
            replies += self.prompt()
        return replies

    def answer_reply(self, ans: Any) -> Reply:
        """A topic's answer, or an abstention whose "did you mean" topics are lettered A, B, C:
        in the text (every channel shows the same letters) and on the choices (buttons)."""
        from dialogs.answers import get_topic
        suggested = list(zip(SUGGESTION_KEYS, ans.suggestions))
        titles = {t: get_topic(self.s.pack, t).title or t for _k, t in suggested}
        choices = [Choice("topic", titles[t], t, key=k) for k, t in suggested]
        text = ans.answer
        if suggested:
            listed = {f"- {title}" for title in titles.values()}
            keys = [k for k, _t in suggested]
            which = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " or " + keys[-1]
            text = "\n".join([line for line in text.split("\n") if line not in listed]
                             + [f"{k}) {titles[t]}" for k, t in suggested]
                             + [f"Type {which} to read {'it' if len(keys) == 1 else 'one'}."])
        return Reply("answer", text, title=ans.title, citations=list(ans.sources), choices=choices,
                     lists=[("More", [ans.more])] if ans.more else [])

    def on_topic(self, ev: Event) -> list[Reply]:
        from dialogs.answers import get_topic
        if not ev.value:
            return [Reply("error", "No topic was chosen. Choose one from the list, or ask in your own words.")]
        try:
            ans = get_topic(self.s.pack, ev.value)
        except (KeyError, ValueError):
            return [Reply("error", f"There is no topic {ev.value!r}. Type 'topics' to see them.")]
        if ev.value in self.offered:  # picking one suggestion keeps the others pickable
            self.s.offered = list(self.offered)
        return [self.answer_reply(ans)] + (self.prompt() if self.s.phase == "walk" else [])

    def no_suggestions(self, key: str) -> list[Reply]:
        """A suggestion's letter typed when no "did you mean" list is open: say so, store nothing."""
        text = (f"There is no 'did you mean' list open just now, so '{key}' does not pick anything. Letters "
                "pick a suggested topic straight after one is offered. Ask your question again, or type 'topics'.")
        return [Reply("info", text)] + (self.prompt() if self.s.phase not in ("idle", "done") else [])

    def on_topics(self, ev: Event) -> list[Reply]:
        from dialogs.answers import list_topics
        topics = list_topics(self.s.pack)
        return [Reply("topics", "Ask me about any of these, in your own words, or pick one.", title="Topics",
                      choices=[Choice("topic", title, tid) for tid, title in topics])]

    def on_help(self, ev: Event) -> list[Reply]:
        pack = load_pack(self.s.pack)
        text = ("I help you decide whether to share information about a child or family, and record the "
                "decision. Type 'start' to begin (or 'start <pack>'; packs: " + ", ".join(pack_ids()) + "). "
                "During a decision: yes, no, not sure, back, restart, why, where. "
                "Ask any question about information sharing in your own words, or type 'topics'. "
                "'checklist' shows the questions to ask yourself before you share. "
                "'mine' shows your recent decisions.")
        return [Reply("info", text, title="What I can do", citations=pack.data["disclaimer"]["cite"],
                      lists=[("Please note", [pack.data["disclaimer"]["text"]])])] + (
            self.prompt() if self.s.phase != "idle" and self.s.phase != "done" else [])

    def on_checklist(self, ev: Event) -> list[Reply]:
        check = load_pack(self.s.pack).self_check
        return [Reply("info", check["text"], title=check["title"], citations=check["cite"],
                      lists=[("Ask yourself", [item["text"] for item in check["items"]])])] + (
            self.prompt() if self.s.phase == "walk" else [])

    def on_mine(self, ev: Event) -> list[Reply]:
        from storage.audit import my_decisions
        rows = my_decisions(self.e.db, self.user_id, self.channel, limit=10)
        if not rows:
            return [Reply("info", "You have no recorded decisions yet.", title="My decisions")]
        facts = [(r["ref"], f"{r['recorded_at'][:16].replace('T', ' ')}  {r['outcome']}"
                  + (f"  case {r['record'].get('case_ref')}" if r.get("record") and r["record"].get("case_ref") else ""))
                 for r in rows]
        return [Reply("info", "Your most recent decisions (only you can see these).", title="My decisions", facts=facts)]

    def on_digest(self, ev: Event) -> list[Reply]:
        if not self.e.is_lead(self.channel, self.user_id):
            return [Reply("error", "Only the safeguarding leads named in this deployment's configuration can see digests.")]
        from storage.digest import build_digest, render_markdown
        # Within the turn, under the database lock: counts only, and the chain's last logged
        # check (the scheduled digest and `infoshare audit verify` verify it, outside the lock).
        d = build_digest(self.e.db, verify=False, stale_after_days=self.e.digest_stale_after_days)
        return [Reply("info", render_markdown(d), title="Weekly digest", digest=d)]
