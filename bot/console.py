"""The console channel: ``infoshare chat``. Renders replies as text with numbered choices.

A number picks that choice of the last numbered message shown; anything else is sent as typed
text (yes, no, not sure, back, restart, why, where, help, a question in your own words, or the
letter of a "did you mean" suggestion, which the engine resolves: those choices carry their
letter in ``Choice.key``, are shown lettered in the reply's text and are never numbered here).

On a terminal, lines are read with the standard library's ``readline`` where it exists: line
editing, and the arrow keys recall earlier lines of this session. That history is kept in
memory only and never written to a file (what is typed may be about a child or family).
``quit``, Ctrl-D and Ctrl-C all leave cleanly (exit status 0) saying the place is saved;
the state is saved after every turn, so ``infoshare chat`` resumes at the same question.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import textwrap
from typing import IO, Callable

from dialogs.engine import Engine
from dialogs.events import APOLOGY, Choice, Event, Reply, choice_event, source_line

log = logging.getLogger("infoshare.console")
WIDTH = 78
QUIT_WORDS = ("quit", "exit", "q")
GOODBYE = "Goodbye. Your place is saved. Run 'infoshare chat' again to carry on where you left off."
GOODBYE_MID_TURN = ("Goodbye. Your place is saved up to your last completed step (what you had just sent may not "
                    "have been). Run 'infoshare chat' again to carry on where you left off.")


def default_user() -> str:
    try:
        return os.environ.get("INFOSHARE_USER") or getpass.getuser()
    except Exception:  # no login name in some containers
        return "console-user"


def _wrap(text: str, indent: str = "") -> str:
    return "\n".join(textwrap.fill(p, WIDTH, initial_indent=indent, subsequent_indent=indent)
                     for p in text.split("\n") if p.strip()) or ""


def numbered_choices(reply: Reply) -> list[Choice]:
    """The choices a typed number can pick: not the lettered ones (their letters are in the text)."""
    return [c for c in reply.choices if not c.key]


def render(reply: Reply, numbered: bool) -> str:
    """One reply as console text; ``numbered`` shows its choices as 1) 2) 3)."""
    out = []
    if reply.title:
        out.append(f"== {reply.title} " + "=" * max(3, WIDTH - len(reply.title) - 4))
    if reply.text:
        out.append(_wrap(reply.text))
    for label, value in reply.facts:
        out.append(_wrap(f"{label}: {value}", "  "))
    for heading, items in reply.lists:
        out.append(f"{heading}:")
        out.extend(_wrap(f"- {item}", "  ") for item in items)
    if reply.errors:
        out.extend(f"  ! {field}: {msg}" for field, msg in reply.errors.items())
    if reply.citations and reply.kind in ("why", "outcome", "answer", "info", "record_form"):
        out.append(_wrap(source_line(reply.citations)))
    choices = numbered_choices(reply)
    if choices:
        if numbered:
            out.append("   ".join(f"{i}) {c.label}" for i, c in enumerate(choices, 1)))
        else:
            out.append("   ".join(f"[{c.label}]" for c in choices))
    return "\n".join(out)


class Console:
    """A terminal conversation on one engine, for one user."""

    def __init__(self, engine: Engine, user: str, out: IO[str] = sys.stdout) -> None:
        self.engine, self.user, self.out = engine, user, out
        self.last: Reply | None = None

    def show(self, replies: list[Reply]) -> None:
        with_choices = [r for r in replies if numbered_choices(r)]
        self.last = with_choices[-1] if with_choices else self.last
        for r in replies:
            print(render(r, numbered=r is self.last), file=self.out)
            print(file=self.out)
        self.out.flush()

    def event_for(self, line: str) -> Event:
        text = line.strip()
        last = self.last
        choices = numbered_choices(last) if last else []
        if text.isdigit() and choices:
            multi = last.kind == "record_field" and (last.field or {}).get("kind") == "multi"
            i = int(text) - 1
            if not multi and 0 <= i < len(choices):
                return choice_event(last, choices[i])
        return Event("text", text)

    def reader(self, inp: IO[str]) -> Callable[[], str]:
        """How to read one line: ``input()`` with readline's editing and in-memory history on a
        terminal, else ``inp.readline()``. Returns ``""`` at the end of input, like readline."""
        if inp is sys.stdin and self.out is sys.stdout and inp.isatty() and self.out.isatty():
            try:
                import readline
            except ImportError:  # not on every platform: input() still works, without history
                pass
            else:
                readline.set_completer(lambda text, state: None)  # Tab completes nothing, not file names
                # No read_history_file / write_history_file: this session's lines stay in memory.

            def from_terminal() -> str:
                try:
                    return input("> ") + "\n"
                except EOFError:
                    return ""
            return from_terminal

        def from_stream() -> str:
            self.out.write("> ")
            self.out.flush()
            return inp.readline()
        return from_stream

    def run(self, pack: str | None, inp: IO[str] = sys.stdin) -> None:
        """The conversation until quit, end of input or Ctrl-C; never raises KeyboardInterrupt."""
        in_turn = True
        try:
            print("infoshare: deciding whether to share information about a child. Type a number, "
                  "yes / no / not sure, or a question. 'help' for more, 'quit' (or Ctrl-D) to leave: "
                  "you can resume later.\n", file=self.out)
            current = self.engine.current("console", "local", self.user)
            if current and current[-1].token and current[-1].kind != "info":
                print("Resuming where you left off.\n", file=self.out)
                self.show(current)
            else:
                self.show(self.engine.handle("console", "local", self.user, Event("start", pack)))
            read = self.reader(inp)
            while True:
                in_turn = False
                line = read()
                if not line or line.strip().lower() in QUIT_WORDS:
                    break
                if not line.strip():
                    continue
                in_turn = True
                try:
                    self.show(self.engine.handle("console", "local", self.user, self.event_for(line)))
                except Exception as exc:  # one place for faults: apologise, keep the conversation usable
                    log.error("console turn failed: %s", type(exc).__name__)
                    print(f"{APOLOGY} Nothing was changed. Please try again, or type 'help'.\n", file=self.out)
        except KeyboardInterrupt:  # Ctrl-C: every completed turn is already saved
            pass
        print("\n" + (GOODBYE_MID_TURN if in_turn else GOODBYE), file=self.out)
        self.out.flush()
