"""``infoshare ask``: the myth-busting answers from the command line."""

from __future__ import annotations

import json
import sys

import click

from bot.cli.options import UsageProblem, check_pack
from content.loader import DEFAULT_PACK
from dialogs.events import source_line


def _print_answer(ans, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(ans.to_json(), ensure_ascii=False))
        return
    if ans.title:
        click.echo(f"{ans.title}\n")
    click.echo(ans.answer)
    if ans.sources:
        click.echo("\n" + source_line(ans.sources))
    if ans.suggestions:
        click.echo("Did you mean: " + ", ".join(ans.suggestions))
    click.echo()


@click.command()
@click.option("--pack", default=DEFAULT_PACK, show_default=True, help="Answer from this pack's topics.")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object: {"topic", "score", "answer", "sources", "suggestions"}.')
@click.argument("question", nargs=-1, required=True)
def ask(pack, as_json, question):
    """Answer a question about information sharing, in your own words.

    Give QUESTION as - to read one question per line from stdin (one answer per line, in order).
    Nothing is stored: the chat records unanswered questions, this lookup does not.
    """
    from dialogs.answers import get_matcher
    check_pack(pack)
    matcher = get_matcher(pack, notify=lambda text: click.echo(text, err=True))
    text = " ".join(question).strip()
    if text == "-":
        for line in sys.stdin:
            if line.strip():
                _print_answer(matcher.ask(line.strip()), as_json)
        return
    if not text:
        raise UsageProblem("give a question, or - to read questions from stdin")
    _print_answer(matcher.ask(text), as_json)
