"""The conversation engine: one event in, replies out, state saved after every turn.

Every channel calls :meth:`Engine.handle` with who is talking and what they did. The engine
restores the conversation from storage, moves it (walk, record step, questions), saves it,
and returns channel-neutral :class:`~dialogs.events.Reply` objects.

One turn is one :class:`_Turn`, put together from the modules that each do one part of it:
this one holds the turn itself and the walk's steps (start, answer, back, why, where);
:mod:`dialogs.phases` the phases it moves through and the events each takes;
:mod:`dialogs.intents` what typed words and requests mean (questions, topics, help);
:mod:`dialogs.record_form` the record step and leaving without recording;
:mod:`dialogs.prompts` what to show now. :mod:`dialogs.walk` is the pack's own machine.

Example:
    >>> engine = Engine(open_db(":memory:"))
    >>> [r.kind for r in engine.handle("console", "local", "u1", Event("start"))]
    ['info', 'question']
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable


from content.loader import DEFAULT_PACK, UnknownPack, load_pack, pack_ids
from dialogs.events import Choice, Event, Reply
from dialogs.intents import SUGGESTION_KEYS, WORDS, Intents, typed_question  # noqa: F401  (WORDS, SUGGESTION_KEYS: the adapters' typed words)
from dialogs.phases import accepts, move
from dialogs.prompts import ANSWER_LABELS, CURRENT, Prompts
from dialogs.record_form import RecordForm
from dialogs.text import MAX_TEXT, clean_event, too_long
from dialogs.walk import Walk, WalkModel, get_walk
from storage import conversations
from storage.db import Database, db_lock, open_db, transaction  # noqa: F401  (open_db: doctest)

_NOT_NOW = {
    "record": "There is no outcome to record yet.",
    "choose": "There is no record field waiting. Nothing was changed.",
    "record_submit": "This form belongs to a decision that is no longer open. Nothing was changed.",
    "edit": "There is no summary to change.",
    "confirm": "There is nothing waiting to be confirmed. Nothing was recorded.",
}
"""What an event a phase does not take is answered with (:data:`dialogs.phases.ACCEPTS`)."""

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

    def __init__(self, reply: Reply) -> None:
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
        db: the store, SQLite or PostgreSQL (``storage.db.open_db``).
        contacts: deployment settings keyed by contact id (phone numbers, teams to ask).
        default_pack: the pack a walk uses when none is named.
        is_lead: ``is_lead(channel, user_id)`` decides who may see digests.
    """

    def __init__(self, db: Database, contacts: dict[str, str] | None = None,
                 default_pack: str = DEFAULT_PACK,
                 is_lead: Callable[[str, str], bool] | None = None,
                 digest_stale_after_days: int | None = None) -> None:
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
        text = cleaned.value if isinstance(cleaned.value, str) else ""
        question = None if too_long(cleaned) else typed_question(text, raw.get("phase"), raw.get("field"))
        if question is None:
            return None  # not a question for the matcher (an answer, a command word, a typed field)
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


class _Turn(Intents, RecordForm, Prompts):
    """One turn's work on one conversation's state (not kept between turns)."""

    def __init__(self, engine: Engine, s: State, channel: str, conversation_id: str, user_id: str) -> None:
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
