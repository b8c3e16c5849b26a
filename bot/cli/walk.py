"""``infoshare chat`` (the console) and ``infoshare decide`` (a walk without prompts)."""

from __future__ import annotations

import json
import uuid

import click

from bot.cli.options import UsageProblem, check_pack, config_option, db_option, make_engine
from content.loader import DEFAULT_PACK
from dialogs.events import Event


@click.command()
@click.option("--pack", default=None, help=f"Content pack to walk (default: the configured pack, else {DEFAULT_PACK}).")
@click.option("--user", default=None, help="Your user id in the record (default: $INFOSHARE_USER or your login name).")
@db_option
@config_option
def chat(pack, user, db_path, config_path):
    """Talk to infoshare in the terminal: the decision walk, questions and the record."""
    from bot.console import Console, default_user
    check_pack(pack)
    engine = make_engine(db_path, config_path)
    engine.notify = click.echo
    engine.warm_up()
    Console(engine, user or default_user()).run(pack)


@click.command()
@click.option("--pack", default=DEFAULT_PACK, show_default=True, help="Content pack to walk.")
@click.option("--answer", "answers", multiple=True, metavar="NODE=VALUE",
              help="An answer: NODE is a question id, VALUE is yes, no or unsure. Repeat for each question.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--record", is_flag=True, help="Also write the audit row, exactly as the chat would.")
@click.option("--user", default=None, help="User id for the record (needed with --record).")
@click.option("--reason", default=None, help="Short reason for the decision (needed with --record).")
@click.option("--categories", default=None, help="What information, comma-separated choice values.")
@click.option("--recipient", default=None, help="With whom (choice value).")
@click.option("--purpose", default=None, help="The purpose (choice value).")
@click.option("--lawful-basis", default=None, help="The lawful basis (choice value).")
@click.option("--informed", default=None, help="Was the person told: yes, will or no.")
@click.option("--not-told-reason", default=None, help="Why the person was not told (when --informed no).")
@click.option("--case-ref", default=None, help="Case reference (not a name).")
@db_option
@config_option
def decide(pack, answers, as_json, record, user, reason, categories, recipient, purpose, lawful_basis,
           informed, not_told_reason, case_ref, db_path, config_path):
    """Walk a pack without prompts and print the outcome (optionally record it)."""
    from dialogs.walk import InvalidAnswer, WalkModel, get_walk
    check_pack(pack)
    walk = get_walk(pack)
    given: dict[str, str] = {}
    for item in answers:
        node, sep, value = item.partition("=")
        node, value = node.strip(), value.strip().lower()
        value = {"not sure": "unsure", "not_sure": "unsure", "y": "yes", "n": "no"}.get(value, value)
        if not sep or not node:
            raise UsageProblem(f"--answer {item!r}: use NODE=VALUE, e.g. --answer purpose=yes")
        if node not in walk.pack.nodes:
            raise UsageProblem(f"unknown node {node!r} in pack {pack} (nodes: {', '.join(walk.pack.nodes)})")
        if value not in ("yes", "no", "unsure"):
            raise UsageProblem(f"--answer {item!r}: value must be yes, no or unsure")
        if node in given:
            raise UsageProblem(f"node {node!r} is answered twice")
        given[node] = value
    model = WalkModel(state=walk.pack.start)
    while not walk.is_outcome(model.state):
        if model.state not in given:
            q = walk.pack.nodes[model.state]["question"]
            raise UsageProblem(f"the answers stop before an outcome: next question is {model.state!r} ({q})")
        try:
            walk.answer(model, given.pop(model.state))
        except InvalidAnswer as exc:  # pragma: no cover - values validated above
            raise UsageProblem(str(exc)) from None
    if given:
        raise UsageProblem(f"answer for {', '.join(repr(n) for n in given)} is off the path "
                           f"(the walk reached {model.state!r} first)")
    result = {"pack": pack, "pack_version": walk.pack.version, "outcome": model.state,
              "path": [{"node": n, "answer": a} for n, a in model.history]}
    if record:
        if not user or not reason:
            raise UsageProblem("--record needs --user and --reason")
        values = {"categories": categories.split(",") if categories else None, "recipient": recipient,
                  "purpose": purpose, "lawful_basis": lawful_basis, "informed": informed,
                  "not_told_reason": not_told_reason, "case_ref": case_ref, "reason": reason}
        result["ref"] = _record_via_engine(make_engine(db_path, config_path), pack, model.history, user, values)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"Outcome: {result['outcome']}  (pack {pack} {result['pack_version']})")
        for step in result["path"]:
            click.echo(f"  {step['node']} = {step['answer']}")
        if "ref" in result:
            click.echo(f"Recorded as {result['ref']}")


def _record_via_engine(engine, pack: str, history, user: str, values: dict) -> str:
    """Drive the same conversation engine as the chat, so the row is written exactly as the chat would."""
    conv = f"decide-{uuid.uuid4().hex[:12]}"
    engine.handle("cli", conv, user, Event("start", pack))
    for _node, answer in history:
        engine.handle("cli", conv, user, Event("answer", answer))
    engine.handle("cli", conv, user, Event("record"))
    replies = engine.handle("cli", conv, user, Event("record_submit", values={k: v for k, v in values.items() if v is not None}))
    errors = next((r.errors for r in replies if r.kind == "form_errors"), None)
    if errors:
        raise UsageProblem("the record is not complete: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    for r in replies:
        if r.kind == "privacy":
            click.echo(r.text, err=True)
    done = engine.handle("cli", conv, user, Event("confirm"))
    return next(r.ref for r in done if r.kind == "recorded")
