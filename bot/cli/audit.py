"""``infoshare audit verify|purge|mine`` and ``infoshare digest``: thin wrappers over the record (:mod:`dialogs.records`).

``bot/cli/__init__.py`` registers ``audit`` and ``digest`` on the ``infoshare`` group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli.options import UsageProblem as BadInput
from bot.cli.options import config_option as _config_option
from bot.cli.options import db_option as _db_option
from bot.cli.options import get_config as _config
from dialogs import records
from dialogs.records import DatabaseProblem, default_db_path, open_db


class ChainBroken(click.ClickException):
    """``audit verify`` found the record altered: exit code 1, naming the first bad row."""

    exit_code = 1


def _existing_db(db_path: str | None, readonly: bool = False):
    """Open a database that must already hold an audit record (a typo must not create a new one)."""
    path = db_path or default_db_path()
    if not records.is_postgres_url(path) and not Path(path).is_file():
        raise BadInput(f"no database at {path} (use --db or set INFOSHARE_DB)")
    db = open_db(path, readonly=readonly)
    if not records.table_exists(db, "decisions"):
        raise BadInput(f"{path} holds no audit record (no decisions table)")
    return db


@click.group()
def audit():
    """The decision record: check it has not been altered, remove old detail, see your own."""


@audit.command()
@click.option("--head", "expected_head", default=None, metavar="HASH",
              help="A chain head printed in an earlier digest: fail unless it is still in the chain.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@_db_option
@_config_option
def verify(expected_head, as_json, db_path, config_path):
    """Recompute the hash chain; exit 1 naming the first altered, missing or inserted row.

    Every row's SHA-256 is recomputed from its fields and checked against the next row's link,
    so changes are found even if the database's guard triggers were dropped first. The file's
    own integrity (SQLite's integrity check: a corrupt page; PostgreSQL checks its own pages) is checked first. A read-only file
    is verified too (the check is then not logged in it).
    """
    _config(config_path)
    try:
        db, readonly = _existing_db(db_path), False
    except DatabaseProblem as exc:
        if "read-only" not in str(exc):
            raise
        db, readonly = _existing_db(db_path, readonly=True), True  # checked, but the check is not logged
    problems = records.integrity_problems(db)
    if problems:
        raise ChainBroken(f"record NOT verified: the database file is damaged ({'; '.join(problems[:3])})")
    result = records.verify_chain(db, expected_head=expected_head, record_check=not readonly)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.ok:
        where = ""
        if result.first_bad is not None:
            row = db.conn.execute("SELECT ref FROM decisions WHERE seq = ?", [result.first_bad]).fetchone()
            where = f"row {result.first_bad}" + (f" ({row[0]})" if row else "") + ": "
        raise ChainBroken(f"record NOT verified: {where}{result.problem}")
    if not as_json:
        click.echo(f"ok: {result.rows:,} rows verified; chain head {result.head}")


@audit.command()
@click.option("--older-than", "days", type=int, default=None, metavar="DAYS",
              help="Remove the detail of decisions recorded more than DAYS ago "
                   "(default: [retention] days in the configuration, 2190 if unset).")
@click.option("--dry-run", is_flag=True, help="Only say how many decisions would be purged.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_db_option
@_config_option
def purge(days, dry_run, yes, db_path, config_path):
    """Remove user, conversation, answers and record of decisions past retention.

    Unanswered questions older than [retention] unanswered_days (default 90) are deleted too.

    Each purged row keeps its reference, date, outcome, pack and hashes, so the chain still
    verifies; the purge itself is recorded as a row of kind "purge".
    """
    config = _config(config_path)
    days = config.retention_days if days is None else days
    db = _existing_db(db_path)
    try:
        n = records.count_purgeable(db, days)
    except records.PurgeError as exc:
        raise BadInput(str(exc)) from None
    cutoff = records.purge_cutoff(days)
    # unanswered questions past their time go without asking, as `infoshare serve` deletes them daily
    old_questions = records.purge_unanswered(db, config.unanswered_days, dry_run=dry_run)
    if old_questions:
        click.echo(f"{old_questions:,} unanswered question(s) older than {config.unanswered_days} days would be deleted"
                   if dry_run else f"deleted {old_questions:,} unanswered question(s) older than "
                   f"{config.unanswered_days} days ([retention] unanswered_days)")
    if dry_run or n == 0:
        click.echo(f"{n:,} decision(s) recorded before {cutoff} would be purged" if dry_run
                   else f"nothing to purge: no decision was recorded before {cutoff}")
        return
    if not yes:
        click.confirm(f"Remove the detail of {n:,} decision(s) recorded before {cutoff}? "
                      "This cannot be undone", abort=True)
    result = records.purge(db, days)
    refs = result["refs"]
    where = refs[0] if len(refs) == 1 else f"{len(refs)} purge rows, {refs[0]} to {refs[-1]}"
    click.echo(f"purged {result['purged']:,} decision(s) recorded before {result['cutoff']}; "
               f"recorded as {where} (checkpoint {result['checkpoint']})")


@audit.command()
@_db_option
@_config_option
def recount(db_path, config_path):
    """Rebuild the digest's per-day counts from the decisions (when verify says they differ).

    The counts are derived data kept for speed; rebuilding them changes no decision.
    """
    _config(config_path)
    db = _existing_db(db_path)
    records.rebuild_counts(db)
    click.echo("per-day counts rebuilt from the record")


@audit.command()
@click.option("--user", required=True, help="Your user id (the id the chat records, e.g. a Slack U... id).")
@click.option("--channel", default="console", show_default=True,
              type=click.Choice(["console", "slack", "teams", "cli"]), help="Where you recorded them.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many of the newest to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@_db_option
@_config_option
def mine(user, channel, limit, as_json, db_path, config_path):
    """Your own most recent decisions (never anyone else's)."""
    _config(config_path)
    db = _existing_db(db_path)
    rows = records.my_decisions(db, user, channel, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo(f"no decisions recorded by {user} on {channel}")
    for row in rows:
        record = row["record"] or {}
        extra = f"  case {record['case_ref']}" if record.get("case_ref") else ""
        what = row["outcome"] or "-"
        if row["kind"] == "left_without_recording":
            what = f"left without recording ({record.get('reason', '')})"
        click.echo(f"{row['ref']}  {row['recorded_at']}  {row['pack_id']}  {what}{extra}")


@click.command()
@click.option("--week", default=None, metavar="YYYY-Www",
              help="ISO week in Europe/London, e.g. 2026-W47 (default: the current week).")
@click.option("--since", default=None, metavar="DATE", help="First day of a date range (YYYY-MM-DD).")
@click.option("--until", default=None, metavar="DATE", help="Last day of the range, inclusive (default: today).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
              show_default=True, help="Markdown, CSV or JSON.")
@click.option("--chart", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a PNG chart of outcomes per day to this file.")
@click.option("--no-verify", is_flag=True,
              help="Do not recompute the chain (quicker on a large record); show the last check instead.")
@click.option("--post", is_flag=True,
              help="Post this week's digest now, as the schedule would, to the configured Slack channels, "
                   "Teams conversations and leads' chats, and say where it went (to test the set-up).")
@_db_option
@_config_option
def digest(week, since, until, fmt, chart, no_verify, post, db_path, config_path):
    """The leads' digest: decisions by outcome, pack and channel against the previous week,
    seek-advice and urgent decisions, reasons for not sharing, questions the bot could not
    answer, packs due for review, and whether the record verifies."""
    config = _config(config_path)
    if post:
        return _post_now(db_path, config_path, config)
    db = _existing_db(db_path)
    try:
        d = records.build_digest(db, week=week, since=since, until=until, verify=not no_verify,
                                 stale_after_days=config.digest_stale_after_days)
    except records.DigestError as exc:
        raise BadInput(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(d, indent=2))
    elif fmt == "csv":
        click.echo(records.render_csv(d), nl=False)
    else:
        click.echo(records.render_markdown(d))
    if chart:
        Path(chart).write_bytes(records.outcomes_chart_png(d))
        click.echo(f"chart written to {chart}", err=True)


def _post_now(db_path, config_path, config) -> None:
    """``digest --post``: bring up the channel adapters, post once, report each channel."""
    import asyncio

    from bot.cli.options import make_engine
    from bot.jobs.digest_post import post_digest, targets
    from bot.server import load_channels
    _existing_db(db_path)
    engine = make_engine(db_path, config_path)
    channels = load_channels(engine, config, dev=False, host="127.0.0.1")
    for name, why in channels.disabled.items():
        click.echo(f"{name}: not enabled: {why}", err=True)
    wanted = {name: len(targets(config, name)) if getattr(channels, name) is not None else 0
              for name in ("slack", "teams")}
    if not any(wanted.values()):
        raise BadInput("nowhere to post: set [digest] slack_channels or teams_conversations, or name "
                       "[leads] (with lead_dms = true), for a channel that is enabled")

    async def run() -> dict:
        if channels.slack is not None:
            await channels.slack.on_startup(None)
        try:
            if channels.slack is not None and config.digest_slack_channels:  # what to fix, before posting
                for channel, why in (await channels.slack.unreachable(list(config.digest_slack_channels))).items():
                    click.echo(f"slack: cannot post to channel {channel}: {why}", err=True)
            return await post_digest(engine, config, channels)
        finally:
            if channels.slack is not None:
                await channels.slack.on_cleanup(None)

    sent = asyncio.run(run())
    for name in ("slack", "teams"):
        if wanted[name]:
            click.echo(f"{name}: posted to {sent[name]} of {wanted[name]} target(s)")
    for line in sent["unreached"]:
        click.echo(f"not reached: {line}", err=True)
    if any(sent[n] < wanted[n] for n in wanted):
        raise click.ClickException("some targets were not reached: the lines above say which, why and how to fix it")
