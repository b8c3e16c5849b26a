"""What every ``infoshare`` command shares: the usage error, the ``--db`` and ``--config``
options, and the engine they open (through :mod:`dialogs.records`, never storage itself)."""

from __future__ import annotations

import click

from bot.config import ConfigError, load_config
from content.loader import UnknownPack, load_pack
from dialogs.records import default_db_path, open_db


class UsageProblem(click.ClickException):
    """Bad input on the command line: a clear message on stderr and exit code 2."""

    exit_code = 2


def db_option(f):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                        help="The store: a SQLite file, or postgresql://user@host:port/db for several replicas "
                             "(default: $INFOSHARE_DB or ./infoshare.db).")(f)


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
