"""The README is the front door: its commands exist, every command has help, CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))


def test_every_command_has_help_and_is_in_the_readme():
    names = list(all_commands(cli))
    assert {"chat", "decide", "ask", "content", "audit", "digest", "serve", "teams-package"} <= {n[0] for n, _ in names}
    for path, cmd in names:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert cmd.help, f"{' '.join(path)} has no help text"
        assert f"infoshare {' '.join(path)}" in README or f"infoshare {path[0]}" in README, path


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```sh\n(.+?)\n```", README)
    test_command = next(c for c in commands if "pytest" in c)
    run_command = next(c for c in commands if c.endswith("infoshare chat"))
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "pip install -e ." in run_command


def test_every_environment_variable_the_code_reads_is_documented():
    code = "\n".join(p.read_text() for d in ("bot", "dialogs", "storage", "content") for p in (ROOT / d).rglob("*.py"))
    names = set(re.findall(r"""environ(?:\.get)?\(\s*["']([A-Za-z_]+)["']""", code))
    names |= set(re.findall(r"""environ\[["']([A-Za-z_]+)["']\]""", code))
    names |= set(re.findall(r"""getenv\(\s*["']([A-Za-z_]+)["']""", code))
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"not in README: {missing}"
