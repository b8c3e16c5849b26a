"""The Teams channel's settings: the Bot Framework registration, from the environment.

No botbuilder here: :mod:`bot.teams.adapter` hands :class:`TeamsSettings` to botbuilder's
``ConfigurationBotFrameworkAuthentication``, and :mod:`bot.teams.package` checks the app id
with :data:`GUID` without importing botbuilder at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CHANNEL = "teams"
"""The engine's channel name: conversations, audit rows and ``[leads] teams = [...]`` use it."""
APP_TYPES = {"multitenant": "MultiTenant", "singletenant": "SingleTenant", "userassignedmsi": "UserAssignedMSI"}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class TeamsSettings:
    """The Bot Framework settings, under the attribute names ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"
    APP_TENANTID: str = ""

    @classmethod
    def from_environ(cls) -> "TeamsSettings":
        """``MicrosoftAppId``, ``MicrosoftAppPassword``, ``MicrosoftAppType``, ``MicrosoftAppTenantId``."""
        return cls(APP_ID=os.environ.get("MicrosoftAppId", "").strip(),
                   APP_PASSWORD=os.environ.get("MicrosoftAppPassword", ""),
                   APP_TYPE=os.environ.get("MicrosoftAppType", "").strip() or "MultiTenant",
                   APP_TENANTID=os.environ.get("MicrosoftAppTenantId", "").strip())

    def problem(self) -> str | None:
        """Why these settings cannot work, or None."""
        kind = APP_TYPES.get(self.APP_TYPE.lower())
        if kind is None:
            return f"MicrosoftAppType must be one of {', '.join(APP_TYPES.values())}, not {self.APP_TYPE!r}"
        if kind in ("MultiTenant", "SingleTenant") and not self.APP_PASSWORD:
            return f"MicrosoftAppPassword is not set (needed with MicrosoftAppType={kind})"
        if kind in ("SingleTenant", "UserAssignedMSI") and not self.APP_TENANTID:
            return f"MicrosoftAppTenantId is not set (needed with MicrosoftAppType={kind})"
        return None
