"""The layout's rules, checked on the source of ``bot/`` (issue 14): every module imports, no
import cycles, no ``storage`` imports, botbuilder in one module, Bolt through its public API,
no module over 600 lines."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """Every import in a file, at any depth: (module, names imported from it, line)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def bot_edges(name: str) -> set[str]:
    """The bot modules ``name`` imports (``from bot.slack import blocks`` is ``bot.slack.blocks``)."""
    out = set()
    for module, names, _ in imports(MODULES[name]):
        if module != "bot" and not module.startswith("bot."):
            continue
        subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        out.update(subs or [module])
    out.discard(name)
    return out


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"bot.__main__"}))
def test_every_bot_module_imports(name):
    importlib.import_module(name)


def test_python_dash_m_bot_is_the_command_line():
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "teams-package" in out.stdout


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_600_lines(name):
    lines = len(MODULES[name].read_text("utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines"


def test_no_import_cycles_in_bot():
    """Counting imports inside functions too: a cycle put off to call time is still a cycle."""
    graph = {name: bot_edges(name) for name in MODULES}
    assert all(dep in MODULES for deps in graph.values() for dep in deps), graph
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_bot_never_imports_storage():
    """Adapters, jobs and the command line reach the record through the engine or dialogs.records."""
    found = [f"{MODULES[n].relative_to(ROOT)}:{line} imports {m}" for n in MODULES
             for m, _, line in imports(MODULES[n]) if m == "storage" or m.startswith("storage.")]
    assert not found, found


def test_botbuilder_is_imported_by_one_module_only():
    found = {str(MODULES[n].relative_to(ROOT)) for n in MODULES for m, _, _ in imports(MODULES[n])
             if m.split(".")[0] in ("botbuilder", "botframework")}
    assert found == {"bot/teams/adapter.py"}


def test_the_teams_package_and_the_command_line_load_without_botbuilder():
    code = ("import sys, bot.cli, bot.teams.package; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botbuilder', 'botframework', 'bot.teams.adapter') "
            "or m == 'bot.teams.adapter'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_slack_uses_bolt_through_its_public_api():
    """No Bolt internals (``*internals*`` modules, ``_``-prefixed names), no ``unicode_escape``
    form decoder (the transport's decoder reads forms exactly as urllib does: test_slack_form)."""
    for _name, path in MODULES.items():
        for module, names, line in imports(path):
            if module.split(".")[0] == "slack_bolt":
                where = f"{path.relative_to(ROOT)}:{line}"
                assert "internals" not in module and not any(p.startswith("_") for p in module.split(".")), where
                assert not any(n.startswith("_") for n in names), where
        assert "unicode_escape" not in path.read_text("utf-8"), path


def test_no_dynamic_imports_or_silent_import_errors():
    """Commands are registered by plain imports. An ``except ImportError`` must raise (a usage error
    saying what to install); the one that does not is readline's, which some platforms lack (the
    console then reads lines without history, as it says)."""
    allowed = {("bot/console.py", "import readline")}
    for _name, path in MODULES.items():
        text = path.read_text("utf-8")
        assert "__import__(" not in text and "import_module(" not in text, path
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            for handler in node.handlers:
                if handler.type is None or "ImportError" not in ast.unparse(handler.type):
                    continue
                if any(isinstance(n, ast.Raise) for n in ast.walk(handler)):
                    continue  # said out loud (a usage error naming what to install)
                guarded = ast.unparse(node.body[0]) if node.body else ""
                assert (str(path.relative_to(ROOT)), guarded) in allowed, f"{path}:{node.lineno}"
