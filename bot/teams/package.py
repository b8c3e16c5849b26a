"""``infoshare teams-package``: the Teams app package (manifest.json and the two icons, zipped).

It never imports botbuilder (nor :mod:`bot.teams.adapter`), so the package is built on a machine
without a Bot Framework set-up; ``tests/test_layout.py`` checks that.
"""

from __future__ import annotations

import json
import os
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.teams.settings import GUID

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"


def _package_version() -> str:
    try:
        return metadata.version("infoshare")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def build_manifest(app_id: str, template: dict[str, Any] | None = None, developer: dict[str, str] | None = None) -> dict[str, Any]:
    """The manifest with ``id`` and ``botId`` set to ``app_id`` and the package version."""
    manifest = json.loads(json.dumps(template or json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))))
    manifest["id"] = app_id
    manifest["version"] = _package_version()
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    manifest["developer"].update({k: v for k, v in (developer or {}).items() if v})
    return manifest


def _developer_settings() -> dict[str, str]:
    """``[teams]`` in infoshare.toml: developer_name, website_url, privacy_url, terms_url (all optional)."""
    section = load_config().raw.get("teams", {})
    if not isinstance(section, dict):
        raise ValueError("[teams] in the configuration file must be a table")
    names = {"developer_name": "name", "website_url": "websiteUrl", "privacy_url": "privacyUrl",
             "terms_url": "termsOfUseUrl"}
    out = {}
    for key, field in names.items():
        value = section.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or (field != "name" and not value.startswith("https://")):
            raise ValueError(f"[teams] {key} must be {'text' if field == 'name' else 'an https:// address'}")
        out[field] = value
    return out


def write_package(out_path: str | os.PathLike[str], app_id: str | None = None) -> str:
    """Write the Teams app package (manifest.json, color.png, outline.png) to ``out_path``.

    ``app_id`` defaults to ``MicrosoftAppId``; it must be the bot registration's Application
    (client) ID, a GUID. Raises ValueError with a clear message when it is missing or wrong.
    """
    app_id = (app_id if app_id is not None else os.environ.get("MicrosoftAppId", "")).strip()
    if not app_id:
        raise ValueError("MicrosoftAppId is not set: set it to the Application (client) ID of the Azure "
                         "bot registration (see manifest/teams/README.md)")
    if not GUID.match(app_id):
        raise ValueError(f"MicrosoftAppId must be a GUID like 00000000-0000-0000-0000-000000000000, not {app_id!r}")
    manifest = build_manifest(app_id, developer=_developer_settings())
    icons = {}
    for key, size in (("color", (192, 192)), ("outline", (32, 32))):
        name = manifest["icons"][key]
        data = (MANIFEST_DIR / name).read_bytes()
        if png_size(data) != size:
            raise ValueError(f"{name} must be {size[0]}x{size[1]} pixels")
        icons[name] = data
    out = Path(out_path)
    if out.parent and not out.parent.exists():
        raise ValueError(f"the folder {str(out.parent)!r} does not exist")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name, data in icons.items():
            z.writestr(name, data)
    return str(out)
