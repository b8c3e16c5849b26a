"""The decision walk: one ``transitions`` machine per pack, built once from the pack data.

Conversations are models: a :class:`WalkModel` is restored from storage and moved along its
pack's machine's transitions (the machine has no callbacks, so the model is not attached to it
for the move). Triggers are the answers ``yes``, ``no`` and ``unsure``; states are node ids and
outcome ids.

Example:
    >>> walk = get_walk("hmg-2018")
    >>> m = WalkModel(state=walk.pack.start)
    >>> walk.answer(m, "yes"); m.state
    'urgent_action'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from transitions import Machine

from content.loader import ANSWERS, OUTCOMES, Pack, load_pack


class InvalidAnswer(ValueError):
    """The answer is not one the current node accepts."""


@dataclass
class WalkModel:
    """The part of a conversation the machine moves: current state and the answers so far."""

    state: str
    history: list[list[str]] = field(default_factory=list)


class Walk:
    """A pack's flow as a state machine shared by every conversation on that pack."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        self.transitions = [
            {"trigger": ans, "source": nid, "dest": edge.get("next") or edge["outcome"]}
            for nid, node in pack.nodes.items()
            for ans, edge in node["answers"].items()
        ]
        self.machine = Machine(model=None, states=list(pack.nodes) + list(OUTCOMES),
                               transitions=self.transitions, initial=pack.start,
                               auto_transitions=False, send_event=False)

    def is_outcome(self, state: str) -> bool:
        return state in OUTCOMES

    def answer(self, model: WalkModel, answer: str) -> None:
        """Move ``model`` along the edge for ``answer`` and remember it in the history."""
        if answer not in ANSWERS or model.state not in self.pack.nodes:
            raise InvalidAnswer(f"{answer!r} is not an answer at {model.state!r}")
        node = model.state
        moves = self.machine.get_transitions(trigger=answer, source=node)
        if not moves:  # pragma: no cover - every node has all answers (content check)
            raise InvalidAnswer(f"{answer!r} leads nowhere from {node!r}")
        # The machine's own transition table, read: attaching the model to the machine and
        # detaching it again (the machine has no callbacks to run) was half a click's engine time.
        model.state = moves[0].dest
        model.history.append([node, answer])

    def back(self, model: WalkModel) -> bool:
        """Undo the last answer; False when already at the start."""
        if not model.history:
            return False
        node, _ = model.history.pop()
        model.state = node
        return True

    def restart(self, model: WalkModel) -> None:
        model.state = self.pack.start
        model.history.clear()

    def last_edge(self, model: WalkModel) -> dict:
        """The edge that reached the current state (empty at the start)."""
        if not model.history:
            return {}
        node, ans = model.history[-1]
        return self.pack.edge(node, ans)

    def bases_for(self, model: WalkModel) -> list[str]:
        """Lawful bases named on the edge that reached the outcome (empty when none)."""
        return list(self.last_edge(model).get("bases", []) or [])

    def diagram(self, engine: str = "mermaid") -> Any:
        """The pack's flow drawn from this machine: questions, answers and outcomes."""
        from dialogs.phases import draw
        states = [(nid, node["question"]) for nid, node in self.pack.nodes.items()]
        states += [(o, self.pack.outcomes[o]["title"]) for o in OUTCOMES]
        return draw(states, self.transitions, self.pack.start, self.pack.title, engine)

    def paths(self) -> list[tuple[list[tuple[str, str]], str]]:
        """Every path from the start to an outcome: ``([(node, answer), ...], outcome)``."""
        out: list[tuple[list[tuple[str, str]], str]] = []

        def visit(node: str, path: list[tuple[str, str]]) -> None:
            for ans in ANSWERS:
                edge = self.pack.edge(node, ans)
                step = path + [(node, ans)]
                if "outcome" in edge:
                    out.append((step, edge["outcome"]))
                else:
                    visit(edge["next"], step)

        visit(self.pack.start, [])
        return out


@lru_cache(maxsize=None)
def get_walk(pack_id: str) -> Walk:
    """The pack's machine, built once per process."""
    return Walk(load_pack(pack_id))
