"""The ``infoshare`` command line: each command is a thin click wrapper over one library call.

The group and :func:`main` (the ``infoshare`` entry point) live here; each command group is a
module of its own, registered below by plain imports (none of them imports this module):

=====================  =====================================================
``bot/cli/options.py``  the usage error, ``--db``, ``--config``, the engine
``bot/cli/walk.py``     ``chat`` (the console) and ``decide``
``bot/cli/content.py``  ``content packs|check|prepare|diagram``
``bot/cli/answers.py``  ``ask``
``bot/cli/audit.py``    ``audit verify|purge|recount|mine`` and ``digest``
``bot/cli/db.py``       ``db migrate|copy`` (the schema; SQLite into PostgreSQL)
``bot/cli/server.py``   ``serve`` and ``teams-package``
=====================  =====================================================
"""

from __future__ import annotations

import sys

import click

from bot.cli import answers, audit, content, db, server, walk
from bot.cli.options import UsageProblem
from dialogs.records import DatabaseProblem

__all__ = ["cli", "main", "UsageProblem"]


@click.group()
@click.version_option(package_name="infoshare")
def cli():
    """infoshare: a decision aid for sharing information to safeguard children.

    It supports, and does not replace, professional judgement; it is not legal advice.
    """


for command in (walk.chat, walk.decide, content.content, audit.audit, audit.digest, answers.ask,
                server.serve, server.teams_package, db.db):
    cli.add_command(command)


def main() -> None:  # pragma: no cover - console script entry point
    try:
        cli(prog_name="infoshare", standalone_mode=True)
    except DatabaseProblem as exc:  # one line naming the file and the problem, never a traceback
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
