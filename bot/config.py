"""Deployment settings: one small class read from a TOML file and the environment.

The file is ``infoshare.toml`` in the working directory, or the path in ``INFOSHARE_CONFIG``
(``--config`` on the command line). Every setting has a safe default, so the console chat runs
with no file at all. See README.md, "Configuration".

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
    try:
        retention = data.get("retention", {})
        digest = data.get("digest", {})
        config = Config(
            default_pack=str(data.get("default_pack", "hmg-2018")),
            contacts={str(k): str(v) for k, v in data.get("contacts", {}).items()},
            leads={str(k): [str(u) for u in v] for k, v in data.get("leads", {}).items()},
            retention_days=int(retention.get("days", 2190)),
            unanswered_days=int(retention.get("unanswered_days", 90)),
            digest_schedule=str(digest.get("schedule", "MON 09:00")),
            digest_slack_channels=[str(c) for c in digest.get("slack_channels", [])],
            digest_teams_conversations=[str(c) for c in digest.get("teams_conversations", [])],
            digest_lead_dms=bool(digest.get("lead_dms", True)),
            digest_stale_after_days=int(digest.get("stale_after_days", 365)),
            raw=data,
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if config.unanswered_days < 1:
        raise ConfigError(f"{p}: [retention] unanswered_days must be at least 1, not {config.unanswered_days}")
    return config
