"""``infoshare db migrate|copy``: the store's schema and moving a SQLite store into PostgreSQL,
thin wrappers over :mod:`dialogs.records`. ``bot/cli/__init__.py`` registers ``db``."""

from __future__ import annotations

import click

from bot.cli.options import UsageProblem
from bot.cli.options import db_option as _db_option
from dialogs import records


@click.group()
def db():
    """The store: bring its schema up to date, or move a SQLite store into PostgreSQL."""


@db.command()
@_db_option
def migrate(db_path):
    """Apply the schema migrations the store lacks (``serve`` does it at start too)."""
    store = records.open_db(db_path or records.default_db_path())
    applied = records.migrate(store)
    version = records.schema_version(store)
    if applied:
        click.echo(f"applied migration(s) {', '.join(map(str, applied))}; the schema is at version {version}")
    else:
        click.echo(f"up to date: the schema is at version {version}")


@db.command()
@click.option("--from", "source", required=True, metavar="PATH", help="The SQLite file to copy.")
@click.option("--to", "target", required=True, metavar="URL", help="An empty PostgreSQL database "
              "(postgresql://user@host:port/db).")
def copy(source, target):
    """Copy a SQLite store, audit chain included, into an empty PostgreSQL database, and verify it there.

    The chain is copied row for row and must verify to the same head as the source; if it does
    not, or anything fails, nothing is left half-copied. The SQLite file is only read.
    """
    from pathlib import Path
    if not Path(source).is_file():
        raise UsageProblem(f"no SQLite file at {source}")
    if not records.is_postgres_url(target):
        raise UsageProblem(f"--to must be a postgresql:// URL, not {target!r}")
    src = records.open_db(source, readonly=True)
    dst = records.open_db(target)

    def progress(table: str, n: int) -> None:
        if n % 50_000 == 0:
            click.echo(f"  {table}: {n:,} rows", err=True)

    done = records.copy_store(src, dst, progress)
    for table, n in done["tables"].items():
        click.echo(f"{table}: {n:,} rows")
    click.echo(f"ok: {done['verified'].rows:,} audit rows copied and verified; chain head {done['head']}")
