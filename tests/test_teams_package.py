"""The Teams app package: the manifest, the icons and ``infoshare teams-package``."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.teams import package as teams
from bot.cli import cli

HERE = Path(__file__).resolve().parents[1] / "manifest" / "teams"
MANIFEST = json.loads((HERE / "manifest.json").read_text("utf-8"))
APP_ID = "00000000-0000-4000-8000-00000000c0de"


def png_header(data: bytes) -> dict:
    """Width, height, bit depth and colour type from the IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return {"width": width, "height": height, "depth": depth, "colour": colour}


def png_pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """The RGBA pixels of an 8-bit RGBA PNG (any row filter)."""
    head = png_header(data)
    assert (head["depth"], head["colour"]) == (8, 6)
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw, w, bpp = zlib.decompress(idat), head["width"] * 4, 4
    rows, prev = [], bytearray(w)
    for y in range(head["height"]):
        f, line = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for i in range(w):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c][f]
            line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    return [tuple(r[i:i + 4]) for r in rows for i in range(0, w, 4)]


def test_the_manifest_uses_a_current_schema_and_three_bot_scopes():
    version = MANIFEST["manifestVersion"]
    assert tuple(int(x) for x in version.split(".")) >= (1, 17)
    assert MANIFEST["$schema"] == f"https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"
    [bot] = MANIFEST["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    personal = next(c for c in bot["commandLists"] if c["scopes"] == ["personal"])
    assert [c["title"] for c in personal["commands"]] == ["start", "ask", "digest", "help"]
    assert all(0 < len(c["description"]) <= 128 and len(c["title"]) <= 32
               for cl in bot["commandLists"] for c in cl["commands"])
    assert len(MANIFEST["name"]["short"]) <= 30 and len(MANIFEST["name"]["full"]) <= 100
    assert len(MANIFEST["description"]["short"]) <= 80 and len(MANIFEST["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", MANIFEST["accentColor"])
    assert all(MANIFEST["developer"][k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl"))


def test_the_icons_have_the_sizes_teams_requires():
    color = (HERE / MANIFEST["icons"]["color"]).read_bytes()
    outline = (HERE / MANIFEST["icons"]["outline"]).read_bytes()
    assert (png_header(color)["width"], png_header(color)["height"]) == (192, 192)
    assert (png_header(outline)["width"], png_header(outline)["height"]) == (32, 32)
    assert teams.png_size(color) == (192, 192) and teams.png_size(outline) == (32, 32)


def test_the_outline_icon_is_white_on_transparent():
    pixels = png_pixels((HERE / "outline.png").read_bytes())
    assert pixels[0][3] == 0 and pixels[-1][3] == 0  # corners see through
    assert all(p[:3] == (255, 255, 255) for p in pixels if p[3])
    assert sum(1 for p in pixels if p[3] == 255) > 100  # a real shape, not an empty square


def test_the_colour_icon_is_opaque():
    pixels = png_pixels((HERE / "color.png").read_bytes())
    assert all(p[3] == 255 for p in pixels)
    assert "#%02X%02X%02X" % pixels[0][:3] == MANIFEST["accentColor"].upper()


def test_the_committed_icons_are_what_the_script_draws(tmp_path):
    script = tmp_path / "make_icons.py"
    script.write_text((HERE / "make_icons.py").read_text())
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    for name in ("color.png", "outline.png"):
        assert (tmp_path / name).read_bytes() == (HERE / name).read_bytes(), name


def test_teams_package_writes_the_zip_with_the_app_id(tmp_path, monkeypatch):
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.chdir(tmp_path)  # no infoshare.toml here
    monkeypatch.delenv("INFOSHARE_CONFIG", raising=False)
    out = tmp_path / "infoshare-teams.zip"
    result = CliRunner().invoke(cli, ["teams-package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(z.read("manifest.json"))
        assert z.read("outline.png") == (HERE / "outline.png").read_bytes()
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["bots"][0]["commandLists"] == MANIFEST["bots"][0]["commandLists"]


def test_teams_package_takes_the_developer_from_the_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    config = tmp_path / "infoshare.toml"
    config.write_text('[teams]\ndeveloper_name = "Test Safeguarding Partnership"\n'
                      'privacy_url = "https://partnership.example.org/privacy"\n')
    monkeypatch.setenv("INFOSHARE_CONFIG", str(config))
    out = teams.write_package(tmp_path / "p.zip")
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["developer"]["name"] == "Test Safeguarding Partnership"
    assert manifest["developer"]["privacyUrl"] == "https://partnership.example.org/privacy"
    assert manifest["developer"]["websiteUrl"] == MANIFEST["developer"]["websiteUrl"]
    config.write_text('[teams]\nprivacy_url = "http://not-https.example.org"\n')
    with pytest.raises(ValueError, match="https"):
        teams.write_package(tmp_path / "q.zip")


@pytest.mark.parametrize("app_id,message", [(None, "MicrosoftAppId is not set"), ("", "MicrosoftAppId is not set"),
                                            ("my-bot", "must be a GUID")])
def test_teams_package_needs_a_real_app_id(tmp_path, monkeypatch, app_id, message):
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    if app_id is not None:
        monkeypatch.setenv("MicrosoftAppId", app_id)
    out = tmp_path / "p.zip"
    result = CliRunner().invoke(cli, ["teams-package", "--out", str(out)])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_the_admin_readme_lists_the_steps_and_every_setting():
    readme = (HERE / "README.md").read_text("utf-8")
    assert "## Teams: register the bot and upload the package" in readme
    for name in ("MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppType", "MicrosoftAppTenantId",
                 "infoshare teams-package --out", "infoshare serve", "/api/messages", "--dev"):
        assert name in readme, name
