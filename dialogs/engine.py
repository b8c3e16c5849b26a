"""The conversation engine: one event in, replies out, state saved after every turn.

Every channel calls :meth:`Engine.handle` with who is talking and what they did. The engine
restores the conversation from storage, moves it (walk, record step, questions), saves it,
and returns channel-neutral :class:`~dialogs.events.Reply` objects.

Example:
    >>> engine = Engine(open_db(":memory:"))
    >>> [r.kind for r in engine.handle("console", "local", "u1", Event("start"))]
    ['info', 'question']
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlite_utils

from content.loader import DEFAULT_PACK, UnknownPack, load_pack, pack_ids
from dialogs.events import Choice, Event, Reply, field_applies
from dialogs.phases import UNRECORDED, accepts, move
from dialogs.text import MAX_TEXT, clean_event, too_long
from dialogs.walk import Walk, WalkModel, get_walk
from storage import conversations
from storage.db import db_lock, open_db, transaction  # noqa: F401  (open_db: doctest)

ANSWER_LABELS = {"yes": "Yes", "no": "No", "unsure": "Not sure"}
_NOT_NOW = {
    "record": "There is no outcome to record yet.",
    "choose": "There is no record field waiting. Nothing was changed.",
    "record_submit": "This form belongs to a decision that is no longer open. Nothing was changed.",
    "edit": "There is no summary to change.",
    "confirm": "There is nothing waiting to be confirmed. Nothing was recorded.",
}
"""What an event a phase does not take is answered with (:data:`dialogs.phases.ACCEPTS`)."""
CURRENT = "\0current"
"""Placeholder token, replaced by the conversation's token after the turn is counted."""

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


def contact_value(contact: dict[str, Any], settings: dict[str, str]) -> str:
    """What to show for a pack contact: the deployment's setting, a number the guidance gives
    (``fixed``), what to contact in words (``unset``), or else a pointer to the organisation."""
    fixed = contact.get("fixed")
    setting = settings.get(contact["id"])
    if fixed and setting and fixed not in setting:
        return f"{fixed} ({setting})"
    return setting or fixed or contact.get("unset") or "not set here: ask your organisation"


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().replace("\u2019", "'").rstrip("?!. ").split())


@dataclass
class State:
    """A conversation as stored: the pack, where it is and what has been said."""

    pack: str
    phase: str = "idle"  # idle | walk | outcome | record | confirm | leaving | done
    node: str | None = None
    history: list[list[str]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    field: str | None = None
    walk_id: str = ""
    turn: int = 0
    leave_then: str | None = None
    last_ref: str | None = None
    offered: list[str] = dataclasses.field(default_factory=list)  # `field` is a State field here
    """Topic ids of the "did you mean" list the last turn showed, picked by letter (A, B, C):
    kept only until a turn does something else."""

    @property
    def token(self) -> str:
        return f"{self.walk_id}.{self.turn}"


class _Undone(Exception):
    """Leaves a turn's transaction so that all of it is rolled back, the delivery key included;
    the turn answers with ``reply``."""

    def __init__(self, reply: Reply):
        super().__init__(reply.kind)
        self.reply = reply


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(State))


def _copied(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, strings, numbers)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copied(v) for v in value]
    return value


def _snapshot(s: State) -> dict[str, Any]:
    """``dataclasses.asdict(s)``, as stored, at a fraction of the cost (a state holds only
    JSON-shaped data; asdict's general deep copy was a third of a click's engine time)."""
    return {name: _copied(getattr(s, name)) for name in _STATE_FIELDS}


class Engine:
    """Handles events for every conversation; one per process, shared by all channels.

    Args:
        db: the SQLite database (``storage.db.open_db``).
        contacts: deployment settings keyed by contact id (phone numbers, teams to ask).
        default_pack: the pack a walk uses when none is named.
        is_lead: ``is_lead(channel, user_id)`` decides who may see digests.
    """

    def __init__(self, db: sqlite_utils.Database, contacts: dict[str, str] | None = None,
                 default_pack: str = DEFAULT_PACK,
                 is_lead: Callable[[str, str], bool] | None = None,
                 digest_stale_after_days: int | None = None):
        from storage.digest import STALE_AFTER_DAYS
        self.db = db
        self.digest_stale_after_days = digest_stale_after_days or STALE_AFTER_DAYS
        self.contacts = dict(contacts or {})
        self.default_pack = default_pack
        self.is_lead = is_lead or (lambda channel, user: False)
        conversations.ensure_schema(db)
        from storage.audit import ensure_schema as audit_schema
        audit_schema(db)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._matching = threading.Lock()  # one match at a time (turns no longer serialise them)
        self.notify: Callable[[str], None] | None = None
        """Called with "preparing answers..." when a question must wait for its pack's matcher,
        so an adapter can show it at once (the console prints it)."""

    def warm_up(self, every_pack: bool = False) -> threading.Thread:
        """Build the question matchers in the background: the default pack's, then (``every_pack``,
        as ``serve`` asks) every other pack a conversation may switch to. Each pack's flowchart
        and walk machine are loaded first, so the first walk started is not the one that reads them."""
        from content.loader import pack_ids
        from dialogs.answers import get_matcher

        packs = [self.default_pack] + ([p for p in pack_ids() if p != self.default_pack] if every_pack else [])

        def build() -> None:
            for pack in packs:
                get_walk(pack)
            for pack in packs:
                get_matcher(pack)

        thread = threading.Thread(target=build, name="infoshare-warm-up", daemon=True)
        thread.start()
        return thread

    # ---- the turn -------------------------------------------------------------------------

    def handle(self, channel: str, conversation_id: str, user_id: str, event: Event,
               once: str | None = None) -> list[Reply] | None:
        """Run one turn: restore, move, save, and return what to show.

        ``once`` is the delivery's key (an event id, a clicked button): a key seen before returns
        None and changes nothing; otherwise the key is stored in the same transaction as the
        turn, so a retried delivery or a double click is processed exactly once.
        """
        key = f"{channel}:{conversation_id}:{user_id}"
        matched = self._match_first(key, event) if event.kind == "text" else None
        # One transaction for the whole turn, write lock first (BEGIN IMMEDIATE): the delivery key,
        # the audit append and the state commit together or not at all, and a second server on the
        # same database waits here, then finds the key and does nothing. A turn that fails leaves
        # no trace, so its redelivery is processed.
        # (The database lock before the conversation's: a channel may hold it across several turns.)
        try:
            return self._turn_in_transaction(key, channel, conversation_id, user_id, event, once, matched)
        except _Undone as undone:  # another writer saved this conversation first: nothing of the turn stays
            return [undone.reply]

    def _turn_in_transaction(self, key: str, channel: str, conversation_id: str, user_id: str, event: Event,
                             once: str | None, matched: tuple[str, str, Any] | None) -> list[Reply] | None:
        with db_lock(self.db), self._lock(key), transaction(self.db):
            if once is not None and not conversations.claim_event(self.db, once):
                return None  # (claimed first: it is stored with the turn, or undone with it)
            raw, version = conversations.load_state(self.db, key)
            s = self._restore(raw)
            if event.token is not None and event.token != s.token:
                return [self._stale(s)]
            before = _snapshot(s)
            turn = _Turn(self, s, channel, conversation_id, user_id)
            turn.matched = matched
            s.offered = []  # suggestions last one turn (the turn keeps them in turn.offered; a pick keeps them)
            event = clean_event(event)  # the one place user text is cleaned, before matching or storage
            long = too_long(event)
            replies = turn.refuse_long(event, long) if long else turn.dispatch(event)
            after = _snapshot(s)
            if after != before:
                offered = after.pop("offered")
                before.pop("offered")
                if after != before:  # offering or dropping suggestions moves nothing: buttons stay current
                    s.turn += 1
                after.update(offered=offered, turn=s.turn)
                try:
                    conversations.save_state(self.db, key, after, version)
                except conversations.ConcurrentUpdate:
                    raise _Undone(self._stale(s)) from None
            for r in replies:
                if r.token == CURRENT:
                    r.token = s.token
            return replies

    def _match_first(self, key: str, event: Event) -> tuple[str, str, Any] | None:
        """Build the conversation's pack's matcher, and match typed words that look like a
        question, before the turn's transaction and outside the database lock: on content a
        deployment edited, the first build fits for tens of seconds, and a match takes
        milliseconds; neither may hold up other conversations' turns, nor another server on the
        same file. Returns ``(pack, question, answer)`` for :meth:`_Turn.ask`, which uses it
        when the turn does treat the words as that question (and matches afresh otherwise)."""
        from dialogs.answers import get_matcher
        with db_lock(self.db):
            raw, _ = conversations.load_state(self.db, key)
        raw = raw or {}
        pack = raw.get("pack") or self.default_pack
        try:
            matcher = get_matcher(pack, notify=self.notify)
        except Exception:  # noqa: BLE001 - an unknown pack: the turn itself says so
            return None
        cleaned = clean_event(event)
        text = (cleaned.value or "").strip() if isinstance(cleaned.value, str) else ""
        n = _norm(text)
        if (not text or too_long(cleaned) or n in WORDS or _KEY.fullmatch(n)
                or re.fullmatch(r"(?:start|begin)\s+(\S+)", n)
                or raw.get("phase") == "leaving" or (raw.get("phase") == "record" and raw.get("field"))):
            return None  # not a question for the matcher (an answer, a command word, a typed field)
        question = " ".join(text.split())
        with self._matching:
            return pack, question, matcher.ask(question)

    def current(self, channel: str, conversation_id: str, user_id: str) -> list[Reply]:
        """Show where the conversation is now, changing nothing."""
        key = f"{channel}:{conversation_id}:{user_id}"
        raw, _ = conversations.load_state(self.db, key)
        s = self._restore(raw)
        replies = _Turn(self, s, channel, conversation_id, user_id).prompt()
        for r in replies:
            if r.token == CURRENT:
                r.token = s.token
        return replies

    def _restore(self, raw: dict[str, Any] | None) -> State:
        """The stored state, or a new one. A state whose pack has since been removed from the
        content starts afresh on the default pack rather than failing every turn."""
        if not raw:
            return State(pack=self.default_pack, walk_id=uuid.uuid4().hex[:8])
        known = {f.name for f in dataclasses.fields(State)}
        s = State(**{k: v for k, v in raw.items() if k in known})
        try:
            pack = load_pack(s.pack)
        except UnknownPack:
            return State(pack=self.default_pack, walk_id=uuid.uuid4().hex[:8], turn=s.turn + 1)
        if s.node is not None and s.node not in pack.nodes and s.node not in pack.outcomes:
            return State(pack=s.pack, walk_id=uuid.uuid4().hex[:8], turn=s.turn + 1)
        return s

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _stale(self, s: State) -> Reply:
        text = ("That button belongs to an earlier question or a finished decision, so I have "
                "ignored it and changed nothing.")
        if s.phase == "walk" and s.node:
            text += f" The current question is: {load_pack(s.pack).nodes[s.node]['question']}"
        return Reply("stale", text)


class _Turn:
    """One turn's work on one conversation's state (not kept between turns)."""

    def __init__(self, engine: Engine, s: State, channel: str, conversation_id: str, user_id: str):
        self.e, self.s = engine, s
        self.channel, self.conversation_id, self.user_id = channel, conversation_id, user_id
        self.offered: list[str] = list(s.offered)  # the suggestions shown before this turn
        self.matched: tuple[str, str, Any] | None = None  # (pack, question, answer) found before the turn

    @property
    def walk(self) -> Walk:
        return get_walk(self.s.pack)

    # ---- dispatch -------------------------------------------------------------------------

    def dispatch(self, ev: Event) -> list[Reply]:
        handler = getattr(self, f"on_{ev.kind}", None)
        if handler is None:
            return [Reply("error", f"I don't understand the action {ev.kind!r}. Type 'help' to see what I can do.")]
        if not accepts(self.s.phase, ev.kind):
            return self.not_now(ev)
        return handler(ev)

    def not_now(self, ev: Event) -> list[Reply]:
        """An event the conversation's phase does not take (:data:`dialogs.phases.ACCEPTS`): a
        yes or no with no question waiting, a stale button. Says so; changes nothing."""
        if ev.kind == "answer":
            return self.nothing_to_answer()
        replies = [Reply("error", _NOT_NOW[ev.kind])]
        return replies if ev.kind == "record_submit" else replies + self.prompt()

    def refuse_long(self, ev: Event, long: dict[str, int]) -> list[Reply]:
        """Text over :data:`MAX_TEXT` characters: say so and the limit; change and store nothing."""
        def msg(n: int) -> str:
            return f"Please keep this to {MAX_TEXT} characters or fewer (it is {n})."
        if ev.kind == "record_submit":
            return [Reply("form_errors", "Please correct the highlighted fields.",
                          errors={k: msg(n) for k, n in long.items()}, token=CURRENT)]
        text = msg(max(long.values())) + " Nothing was changed or stored."
        return [Reply("error", text)] + (self.prompt() if self.s.phase != "idle" else [])

    def on_text(self, ev: Event) -> list[Reply]:
        text = (ev.value or "").strip()
        if not text:
            return self.prompt()
        n = _norm(text)
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
        m = re.fullmatch(r"(?:start|begin)\s+(\S+)", n)
        if m:
            return self.on_start(Event("start", m.group(1)))
        if key and key.group(1).upper() in SUGGESTION_KEYS:
            return self.no_suggestions(key.group(1).upper())
        if n in WORDS:  # a bare yes / no / not sure with no question waiting: on_answer says what to do
            kind, value = WORDS[n]
            return self.dispatch(Event(kind, value))
        return self.ask(text)

    # ---- the walk -------------------------------------------------------------------------

    def on_start(self, ev: Event) -> list[Reply]:
        pack_id = ev.value or self.s.pack or self.e.default_pack
        try:
            load_pack(pack_id)
        except UnknownPack:
            return [Reply("error", f"I don't know the pack {pack_id!r}. Packs: {', '.join(pack_ids())}. Nothing was changed.")]
        if self.unrecorded():
            return self.ask_leave_reason(f"start:{pack_id}")
        return self.begin(pack_id)

    def begin(self, pack_id: str) -> list[Reply]:
        s = self.s
        s.pack, s.phase, s.node = pack_id, move(s.phase, "begin"), load_pack(pack_id).start
        s.history, s.record, s.field, s.leave_then = [], {}, None, None
        s.walk_id = uuid.uuid4().hex[:8]
        pack = load_pack(pack_id)
        disclaimer = pack.data["disclaimer"]
        text = f"{pack.title}. {disclaimer['text']}"
        if pack.superseded:
            text += f" Please note: {pack.superseded}"
        intro = Reply("info", text, title="Sharing information: a decision aid", citations=disclaimer["cite"])
        return [intro] + self.prompt()

    def on_restart(self, ev: Event) -> list[Reply]:
        if self.unrecorded():
            return self.ask_leave_reason(f"start:{self.s.pack}")
        return self.begin(self.s.pack)

    def on_answer(self, ev: Event) -> list[Reply]:
        s = self.s
        if not s.node:
            return self.nothing_to_answer()
        if ev.value not in ANSWER_LABELS:
            return [Reply("error", f"{ev.value!r} is not an answer here: use Yes, No or Not sure. Nothing was changed.")] + self.prompt()
        model = WalkModel(state=s.node, history=s.history)
        self.walk.answer(model, ev.value)
        s.node, s.history = model.state, model.history
        if self.walk.is_outcome(s.node):
            s.phase = move(s.phase, "reach_outcome")
        return self.prompt()

    def nothing_to_answer(self) -> list[Reply]:
        """Yes, no or not sure with no question waiting (typed at an outcome, say): what can be
        done now. Not a question for the matcher, so never stored as an unanswered one."""
        s = self.s
        if s.phase == "outcome" and s.node:
            title = load_pack(s.pack).outcomes[s.node]["title"]
            return [Reply("info", f"There is no question waiting for a yes or no: this decision has reached its "
                          f"outcome ({title}). What you can do now: record it ('record'), change your last "
                          f"answer ('back'), or start over ('restart'). You can also ask a question in your "
                          f"own words.", title="No question waiting",
                          choices=[Choice("record", "Record this decision", style="primary"),
                                   Choice("back", "Back"), Choice("restart", "Start over")], token=CURRENT)]
        if s.phase == "confirm":
            return [Reply("info", "There is no question waiting for a yes or no. Please check the summary: "
                          "'confirm' records it, 'edit' changes it.", title="No question waiting")] + self.prompt()
        if s.phase in ("record", "leaving"):
            return self.prompt()
        return [Reply("info", "There is no question waiting for a yes or no.", title="No question waiting")] + self.prompt()

    def on_back(self, ev: Event) -> list[Reply]:
        s = self.s
        if s.phase == "record":
            fields = self.fields()
            ids = [f["id"] for f in fields]
            i = ids.index(s.field) if s.field in ids else 0
            if i > 0:
                s.field = ids[i - 1]
                return self.prompt()
            s.phase, s.field, s.record = move(s.phase, "back_to_outcome"), None, {}
            return self.prompt()
        if s.phase == "confirm":
            s.phase, s.field = move(s.phase, "edit"), self.fields()[-1]["id"]
            return self.prompt()
        if s.phase == "leaving":
            s.phase, s.leave_then = move(s.phase, "back_to_outcome"), None
            return self.prompt()
        if s.phase not in ("walk", "outcome"):
            return [Reply("info", "There is nothing to go back to. Type 'start' to begin a decision.")]
        model = WalkModel(state=s.node or "", history=s.history)
        if not self.walk.back(model):
            return [Reply("info", "You are at the first question already.")] + self.prompt()
        s.node, s.history, s.phase = model.state, model.history, move(s.phase, "step_back")
        return self.prompt()

    def on_why(self, ev: Event) -> list[Reply]:
        s = self.s
        pack = load_pack(s.pack)
        if s.phase == "walk" and s.node:
            node = pack.nodes[s.node]
            return [Reply("why", node["help"], title=f"Why is this asked? ({node['question']})",
                          citations=node["cite"], token=CURRENT)]
        if s.phase == "outcome" and s.node:
            o = pack.outcomes[s.node]
            return [Reply("why", o["text"], title=f"Why: {o['title']}", citations=o["cite"], token=CURRENT)]
        if s.phase in ("record", "confirm", "leaving"):
            rec = pack.record
            return [Reply("why", rec["text"], title="Why record the decision?", citations=rec["cite"], token=CURRENT)]
        return self.on_help(ev)

    def on_where(self, ev: Event) -> list[Reply]:
        s = self.s
        pack = load_pack(s.pack)
        facts = [(pack.nodes[n]["question"], ANSWER_LABELS[a]) for n, a in s.history]
        if s.phase == "walk" and s.node:
            now = f"Now at: {pack.nodes[s.node]['question']}"
        elif s.node in pack.outcomes and s.phase != "idle":
            now = f"Outcome: {pack.outcomes[s.node]['title']}"
        else:
            now = "No decision in progress."
        text = now if facts else f"{now} No answers yet."
        return [Reply("where", text, title=f"Your answers so far ({pack.title})", facts=facts)]

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
            if _norm(text) in ("skip", "-", "none") and not required:
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
        if not required and (raw in (None, "") or _norm(str(raw)) in ("skip", "-", "none")):
            return None, None, []
        choices = f.get("choices") or []
        by_key: dict[str, str] = {}
        for i, c in enumerate(choices, 1):
            by_key[_norm(str(c["value"]))] = c["value"]
            by_key[_norm(str(c["label"]))] = c["value"]
            by_key[str(i)] = c["value"]
        items = raw if isinstance(raw, list) else ([] if raw in (None, "") else re.split(r"\s*[,;]\s*", str(raw)))
        if f["kind"] == "single" and len(items) > 1:
            return None, f"Please choose one option for '{label}'.", []
        picked: list[str] = []
        for item in items:
            v = by_key.get(_norm(str(item)))
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
