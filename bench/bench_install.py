"""The install's footprint and how long the first answer takes on a fresh machine.

Usage:
    python bench/bench_install.py            # environment size, cold and warm first answer
    python bench/bench_install.py --runs 7   # more pairs
    python bench/bench_install.py --install  # also time the README's run install in a new venv
                                             # (python3 -m venv, pip install -e .; warm pip cache)
    python bench/bench_install.py --drop-caches  # as root: empty the OS file cache before each
                                                 # cold run too, as after a reboot

Size: everything under this interpreter's environment (``sys.prefix``), in MB of 2**20 bytes,
as ``du -sm`` counts it, and the ten largest packages.

First answer: ``infoshare ask --json QUESTION`` as a whole process, in pairs: *cold* with a new
empty home directory (no ``~/.cache/infoshare``: what a fresh machine has; the prepared fits in
``content/prepared/`` are what make it fast), then *warm* (the same home again). Each pair's
ratio cold/warm is taken, so a noisy machine's drift cancels; the medians are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from eval_answers import machine  # noqa: E402

QUESTION = "mum said no but I'm worried about the baby, can I still tell the health visitor?"


def tree_mb(path: Path) -> float:
    total = os.lstat(path).st_blocks * 512
    for root, dirs, files in os.walk(path):
        for f in dirs + files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total / 2**20


def sizes() -> None:
    prefix = Path(sys.prefix)
    print(f"environment {prefix}: {tree_mb(prefix):.0f} MB (2**20 bytes, as du -sm)")
    site = next((p for p in map(Path, sys.path) if p.name == "site-packages" and str(p).startswith(str(prefix))), None)
    if site is None:
        return
    rows = sorted(((tree_mb(p), p.name) for p in site.iterdir() if p.is_dir() and not p.name.endswith("-info")),
                  reverse=True)[:10]
    print("largest: " + ", ".join(f"{name} {mb:.0f}" for mb, name in rows))
    heavy = [n for n in ("torch", "transformers", "sentence_transformers", "sympy") if (site / n).exists()]
    print("torch, transformers, sentence-transformers, sympy: " + (", ".join(heavy) + " INSTALLED" if heavy else "none"))


def ask_once(home: Path) -> tuple[float, str]:
    env = {**os.environ, "HOME": str(home)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "ask", "--json", QUESTION],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"infoshare ask failed: {out.stderr[-500:]}")
    return took, out.stderr


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def first_answer(runs: int, drop: bool) -> None:
    cold, warm, ratios = [], [], []
    notice = False
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="infoshare-home-"))
        try:
            if drop:
                drop_caches()
            c, err = ask_once(home)
            notice |= "Preparing answers" in err
            w, _ = ask_once(home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        cold.append(c)
        warm.append(w)
        ratios.append(c / w)
    print(f"first `infoshare ask` ({runs} pairs): cold (empty home{', OS file cache dropped' if drop else ''}) median {statistics.median(cold):.2f} s "
          f"[{min(cold):.2f}-{max(cold):.2f}], warm median {statistics.median(warm):.2f} s "
          f"[{min(warm):.2f}-{max(warm):.2f}]; cold/warm median {statistics.median(ratios):.2f}x (target <= 5x)"
          + ("; 'Preparing answers' shown" if notice else ""))


def install() -> None:
    venv = Path(tempfile.mkdtemp(prefix="infoshare-venv-"))
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        out = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"pip install failed: {out.stderr[-1000:]}")
        took = time.perf_counter() - t0
        print(f"README's run install (venv + pip install -e ., warm pip cache): {took:.0f} s (target <= 60 s); "
              f"the new environment: {tree_mb(venv):.0f} MB (target <= 500)")
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--drop-caches", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    sizes()
    first_answer(args.runs, args.drop_caches)
    if args.install:
        install()
    return 0


if __name__ == "__main__":
    sys.exit(main())
