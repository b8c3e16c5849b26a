"""The ``infoshare`` command line: each command is a thin click wrapper over one library call."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import click

from bot.config import ConfigError, load_config
from content.loader import DEFAULT_PACK, PackError, UnknownPack, load_pack, pack_ids
from content.sources import document_name
from dialogs.events import Event
from storage.db import default_db_path, open_db


class UsageProblem(click.ClickException):
    """Bad input on the command line: a clear message on stderr and exit code 2."""

    exit_code = 2


def db_option(f):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                        help="SQLite database file (default: $INFOSHARE_DB or ./infoshare.db).")(f)


def config_option(f):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                        help="Configuration file (default: $INFOSHARE_CONFIG or ./infoshare.toml).")(f)


def get_config(config_path: str | None):
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None


def make_engine(db_path: str | None, config_path: str | None):
    from dialogs.engine import Engine
    config = get_config(config_path)
    db = open_db(db_path or default_db_path())
    return Engine(db, contacts=config.contacts, default_pack=config.default_pack, is_lead=config.is_lead,
                  digest_stale_after_days=config.digest_stale_after_days)


def check_pack(pack: str | None) -> None:
    if pack is None:
        return
    try:
        load_pack(pack)
    except UnknownPack as exc:
        raise UsageProblem(str(exc)) from None


@click.group()
@click.version_option(package_name="infoshare")
def cli():
    """infoshare: a decision aid for sharing information to safeguard children.

    It supports, and does not replace, professional judgement; it is not legal advice.
    """


@cli.command()
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


@cli.command()
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


@cli.group()
def content():
    """Content packs and topics: list and check them."""


@content.command("check")
@click.option("--seeds", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of seed documents: also check every citation's section heading is in its seed.")
@click.option("--packs", "packs_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Check the packs in this folder instead of the installed ones.")
def content_check(seeds, packs_dir):
    """Validate every pack (and topic); exit non-zero naming the file and node of each problem."""
    from content.check import check_all, check_packs
    from content.loader import PACKS_DIR
    seeds_dir = Path(seeds) if seeds else None
    problems = check_packs(Path(packs_dir), seeds_dir) if packs_dir else check_all(seeds_dir, PACKS_DIR)
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found")
    click.echo(f"ok: {len(pack_ids(Path(packs_dir)) if packs_dir else pack_ids())} packs"
               + (" and their citations" if seeds_dir else ""))


@content.command("prepare")
@click.option("--pack", "packs", multiple=True, help="Only this pack (repeat for several); default: every pack.")
def content_prepare(packs):
    """Fit every pack's answers and write them to content/prepared/ (run after editing topics).

    A test fails while content/prepared/ no longer matches the topics, so answers on a fresh
    install never wait for a fit.
    """
    from dialogs.answers import prepare
    for pid in packs:
        check_pack(pid)
    try:
        written = prepare(list(packs) or pack_ids())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")


@content.command("diagram")
@click.option("--pack", default=None, help=f"The pack whose flow to draw (default: {DEFAULT_PACK}).")
@click.option("--dialog", is_flag=True, help="Draw the conversation's phases instead of a pack's flow.")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "svg", "png"]), default="mermaid", show_default=True,
              help="Mermaid text (pastes into GitHub, GitLab or mermaid.live), or a picture (needs Graphviz).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default: Mermaid to the terminal; svg/png to <pack>.<format>).")
def content_diagram(pack, dialog, fmt, out):
    """Draw a pack's flow (or, with --dialog, the conversation's phases) from its state machine,
    to lay beside the partnership's own flowchart."""
    from dialogs.phases import diagram
    from dialogs.walk import get_walk
    if dialog and pack:
        raise UsageProblem("Give --pack or --dialog, not both.")
    check_pack(pack)
    name = "dialog" if dialog else (pack or DEFAULT_PACK)
    engine = "mermaid" if fmt == "mermaid" else "graphviz"
    try:
        graph = diagram(engine) if dialog else get_walk(name).diagram(engine)
    except ImportError as exc:
        raise UsageProblem(f"--format {fmt} needs Graphviz ({exc}): pip install 'infoshare[diagrams]', and the "
                           f"'dot' program (apt install graphviz). --format mermaid needs nothing more.") from None
    if fmt == "mermaid":
        text = graph.draw(None)
        if out:
            Path(out).write_text(text, encoding="utf-8")
            click.echo(f"wrote {out}")
        else:
            click.echo(text, nl=False)
        return
    out = out or f"{name}.{fmt}"
    try:
        graph.draw(out, format=fmt, prog="dot")
    except Exception as exc:  # graphviz's ExecutableNotFound and friends: one line, no traceback
        raise UsageProblem(f"Could not draw {out} with Graphviz ({type(exc).__name__}): is 'dot' installed "
                           f"(apt install graphviz)? --format mermaid needs nothing more.") from None
    click.echo(f"wrote {out}")


@content.command("packs")
def content_packs():
    """List the packs with their sources and dates."""
    for pid in pack_ids():
        try:
            p = load_pack(pid)
        except PackError as exc:
            raise click.ClickException(str(exc)) from None
        d = p.data
        click.echo(f"{pid:16} v{p.version:7} {d.get('issuer', '')} ({d.get('source_date', '')}; "
                   f"reviewed {d.get('reviewed', '')})")
        sources = [d.get("source_file")] + list(d.get("also_quoted_in") or [])
        click.echo(f"{'':16} source: {'; '.join(document_name(str(f)) for f in sources if f)}")
        if p.superseded:
            click.echo(f"{'':16} SUPERSEDED: {p.superseded}")


# Commands from other modules (each owns its own group).
def _register() -> None:
    for module, names in (("bot.cli_audit", ("audit", "digest")), ("bot.cli_answers", ("ask",)),
                          ("bot.cli_server", ("serve", "teams_package"))):
        try:
            mod = __import__(module, fromlist=list(names))
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            cli.add_command(getattr(mod, name))


_register()


def main() -> None:  # pragma: no cover - console script entry point
    from storage.db import DatabaseProblem
    try:
        cli(prog_name="infoshare", standalone_mode=True)
    except DatabaseProblem as exc:  # one line naming the file and the problem, never a traceback
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)

