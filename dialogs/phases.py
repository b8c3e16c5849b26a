"""The conversation's phases as a ``transitions`` machine.

A conversation is always in one phase::

    idle -> walk -> outcome -> record -> confirm -> done
                       \\          \\        \\
                        +-> leaving (why leave without recording?) -> done

The walk's own questions are a second machine (:mod:`dialogs.walk`), one per pack; this one moves
a conversation between the walk, its outcome and the record. Both are data: :data:`TRANSITIONS`
says how a phase is left, :data:`ACCEPTS` which events a phase takes. :class:`~dialogs.engine.Engine`
answers every event a phase does not take in one place (``_Turn.not_now``), and moves a
conversation's phase only through :func:`move`, so a move the machine does not allow raises
rather than leaving a conversation somewhere it cannot get out of.

``infoshare content diagram --dialog`` draws this machine.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine

PHASES = ["idle", "walk", "outcome", "record", "confirm", "leaving", "done"]

#: How a conversation moves between phases (``trigger``, from, to). A new walk never begins over
#: an unrecorded outcome: the engine first asks why it is being left (``leaving``), records that
#: (``done``), then begins.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "begin", "source": ["idle", "walk", "done"], "dest": "walk"},
    {"trigger": "reach_outcome", "source": "walk", "dest": "outcome"},
    {"trigger": "step_back", "source": ["walk", "outcome"], "dest": "walk"},
    {"trigger": "stop", "source": "walk", "dest": "idle"},
    {"trigger": "open_record", "source": ["outcome", "leaving"], "dest": "record"},
    {"trigger": "review", "source": ["outcome", "record"], "dest": "confirm"},
    {"trigger": "edit", "source": "confirm", "dest": "record"},
    {"trigger": "back_to_outcome", "source": ["record", "leaving"], "dest": "outcome"},
    {"trigger": "ask_reason", "source": ["outcome", "record", "confirm", "leaving"], "dest": "leaving"},
    {"trigger": "recorded", "source": ["confirm", "leaving"], "dest": "done"},
]

#: The events that are about where a conversation is, and the phases that take each.
#: Every other event (a question, a topic, help, 'start', 'mine' ...) is taken in any phase.
ACCEPTS: dict[str, tuple[str, ...]] = {
    "answer": ("walk",),
    "record": ("outcome", "leaving"),
    "choose": ("record",),
    "record_submit": ("record", "outcome"),
    "edit": ("confirm",),
    "confirm": ("confirm",),
}

#: Phases where an outcome has been reached and not yet recorded: leaving one asks why.
UNRECORDED = ("outcome", "record", "confirm", "leaving")


MACHINE = Machine(model=None, states=PHASES, transitions=TRANSITIONS, initial="idle",
                  auto_transitions=False, model_attribute="phase")


class PhaseError(RuntimeError):
    """A move the phase machine does not allow (a bug in the engine, never a user's mistake)."""


def move(phase: str, trigger: str) -> str:
    """The phase that ``trigger`` leads to from ``phase``; :class:`PhaseError` if it may not.

    The machine has no callbacks, so its transition table is read rather than a model attached
    to it and detached again for every move (which would cost more than the rest of a click).
    """
    moves = MACHINE.get_transitions(trigger=trigger, source=phase)
    if not moves:
        raise PhaseError(f"{trigger!r} is not a move from {phase!r}")
    return moves[0].dest


def accepts(phase: str, kind: str) -> bool:
    """Whether a conversation in ``phase`` takes an event of ``kind`` now."""
    return phase in ACCEPTS.get(kind, PHASES)


def diagram(engine: str = "mermaid") -> Any:
    """The phases as a ``transitions`` graph (``.draw(None)`` gives Mermaid text)."""
    return draw([(p, p) for p in PHASES], TRANSITIONS, "idle", "infoshare: a conversation's phases", engine)


def draw(states: list[tuple[str, str]], transitions: list[dict[str, Any]], initial: str, title: str,
         engine: str = "mermaid") -> Any:
    """A graph of a machine's states (``(name, label)``) and transitions, drawn by ``transitions``'
    own diagrams. ``engine``: "mermaid" (pure Python; ``.draw(None)`` is the text) or "graphviz"
    (``.draw(path, format=...)``; needs the graphviz package and Graphviz's ``dot``)."""
    from transitions import State
    from transitions.extensions import GraphMachine

    if engine == "graphviz":  # transitions would quietly fall back to Mermaid text: say so instead
        import shutil

        import graphviz  # noqa: F401  (ImportError names what is missing)
        if not shutil.which("dot"):
            raise ImportError("Graphviz's 'dot' program is not installed")

    class Labelled(State):
        def __init__(self, name: str, label: str = "", **kwargs: Any) -> None:
            super().__init__(name, **kwargs)
            self.label = label or name

    class Drawer(GraphMachine):
        state_cls = Labelled

    class Drawn:
        pass

    drawn = Drawn()
    Drawer(model=drawn, states=[{"name": n, "label": label.replace('"', "'")} for n, label in states],
           transitions=transitions, initial=initial, auto_transitions=False, graph_engine=engine,
           title=title, show_conditions=False, show_state_attributes=False)
    return drawn.get_graph()
