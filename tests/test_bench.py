"""Every benchmark answers ``--help`` with its usage and stops: a first look never starts a run
of minutes (compare_matchers once took any argument as "go")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_a_benchmark_prints_its_usage_and_stops(script):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script}")


def test_a_benchmark_refuses_an_option_it_does_not_know():
    done = subprocess.run([sys.executable, str(BENCH / "compare_matchers.py"), "--bogus"], capture_output=True,
                          text=True, timeout=120, cwd=BENCH.parent)
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr
