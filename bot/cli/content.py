"""``infoshare content packs|check|prepare|diagram``: the packs and topics."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.options import UsageProblem, check_pack
from content.loader import DEFAULT_PACK, PackError, load_pack, pack_ids
from content.sources import document_name


@click.group()
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
