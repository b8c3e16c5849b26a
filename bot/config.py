"""Deployment settings: one small class read from a TOML file and the environment.

The file is ``infoshare.toml`` in the working directory, or the path in ``INFOSHARE_CONFIG``
(``--config`` on the command line). Every setting has a safe default, so the console chat runs
with no file at all. See README.md, "Configuration". Also here, as settings every channel shares:
the largest request body (:data:`MAX_BODY`) and what counts as a loopback address
(:func:`is_loopback`, for ``--dev``).

Example ``infoshare.toml``::

    default_pack = "wirral"

    [contacts]                 # shown by "seek advice" and "act now"; keyed by contact id
    dsl = "Designated safeguarding lead: ext 1234"
    childrens_social_care = "Integrated Front Door: 0151 000 0000"

    [leads]                    # who may pull digests
    slack = ["U0123ABCD"]
    teams = ["00000000-0000-0000-0000-000000000000"]
    console = ["lead1"]

    [retention]
    days = 2190                # default for `infoshare audit purge`
    unanswered_days = 90       # unanswered questions (content gaps) are deleted after this

    [digest]
    schedule = "MON 09:00"     # Europe/London
    stale_after_days = 365     # a pack not reviewed for longer is flagged in the digest
    slack_channels = ["C0123ABCD"]
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "INFOSHARE_CONFIG"
DEFAULT_CONFIG = "infoshare.toml"


class ConfigError(ValueError):
    """The configuration file is missing (when named explicitly) or malformed."""


@dataclass
class Config:
    default_pack: str = "hmg-2018"
    contacts: dict[str, str] = field(default_factory=dict)
    leads: dict[str, list[str]] = field(default_factory=dict)
    retention_days: int = 2190
    unanswered_days: int = 90
    digest_schedule: str = "MON 09:00"
    digest_slack_channels: list[str] = field(default_factory=list)
    digest_teams_conversations: list[str] = field(default_factory=list)
    digest_lead_dms: bool = True
    digest_stale_after_days: int = 365
    raw: dict[str, Any] = field(default_factory=dict)

    def is_lead(self, channel: str, user_id: str) -> bool:
        """True when ``user_id`` is named as a lead for ``channel`` (slack, teams, console)."""
        return user_id in self.leads.get(channel, [])


_KINDS = {str: "a string in quotes", int: "a whole number", bool: "true or false (no quotes)"}


class _Reader:
    """Reads settings strictly: a value of the wrong type is an error naming its key, never
    silently taken (``lead_dms = "false"`` is not false)."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path, self.data = path, data

    def _fail(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.path}: {key} must be {expected}, not {value!r}")

    def table(self, name: str) -> dict:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self._fail(f"[{name}]", "a table", value)
        return value

    def value(self, table: str, key: str, kind: type, default: Any) -> Any:
        where = self.table(table) if table else self.data
        value = where.get(key, default)
        name = f"[{table}] {key}" if table else key
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self._fail(name, _KINDS[kind], value)
        return value

    def strings(self, table: str, key: str) -> list[str]:
        value = self.table(table).get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(f"[{table}] {key}", 'a list of strings, like ["C0123ABCD"]', value)
        return value

    def mapping(self, table: str) -> dict[str, str]:
        out = {}
        for k, v in self.table(table).items():
            if not isinstance(v, str):
                raise self._fail(f"[{table}] {k}", _KINDS[str], v)
            out[str(k)] = v
        return out

    def lists(self, table: str) -> dict[str, list[str]]:
        return {str(k): self.strings(table, k) for k in self.table(table)}


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the configuration; a missing default file gives the defaults, a missing named file is an error."""
    explicit = path or os.environ.get(CONFIG_ENV)
    p = Path(explicit or DEFAULT_CONFIG)
    if not p.exists():
        if explicit:
            raise ConfigError(f"configuration file not found: {p}")
        return Config()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    read = _Reader(p, data)
    config = Config(
        default_pack=read.value("", "default_pack", str, "hmg-2018"),
        contacts=read.mapping("contacts"),
        leads=read.lists("leads"),
        retention_days=read.value("retention", "days", int, 2190),
        unanswered_days=read.value("retention", "unanswered_days", int, 90),
        digest_schedule=read.value("digest", "schedule", str, "MON 09:00"),
        digest_slack_channels=read.strings("digest", "slack_channels"),
        digest_teams_conversations=read.strings("digest", "teams_conversations"),
        digest_lead_dms=read.value("digest", "lead_dms", bool, True),
        digest_stale_after_days=read.value("digest", "stale_after_days", int, 365),
        raw=data,
    )
    from content.loader import pack_ids
    if config.default_pack not in pack_ids():
        raise ConfigError(f"{p}: default_pack {config.default_pack!r} is not an installed pack "
                          f"(the packs: {', '.join(pack_ids())})")
    if config.unanswered_days < 1:
        raise ConfigError(f"{p}: [retention] unanswered_days must be at least 1, not {config.unanswered_days}")
    return config


MAX_BODY = 256 * 1024
"""Largest request body accepted on any route (Slack and Teams payloads are far smaller)."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback address: ``localhost``, or an IP address (v4 or v6) that
    parses as one. Names are never matched by their first characters: ``127.evil.example`` and
    ``127.0.0.1.attacker.example`` are not loopback."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
