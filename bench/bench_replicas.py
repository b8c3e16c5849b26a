"""Benchmark: one and two replicas on PostgreSQL against one server on SQLite, in the same run.

    python bench/bench_replicas.py [--rounds 3] [--decisions 400] [--threads 4] [--conversations 20] [--clicks 30]

Two loads, each measured in rounds with the order of the set-ups rotated every round, so the
shared machine's drift falls on all of them alike; medians (and ranges) are reported:

* **Recorded decisions per second**: worker processes (one per replica) append decisions to the
  audit chain through ``storage.audit.append_decision``, ``--threads`` at once each, every
  append durable before it returns (SQLite ``synchronous=FULL``; PostgreSQL with ``fsync`` and
  ``synchronous_commit`` on). p99 is one append's latency.
* **Slack clicks per second**: ``infoshare serve`` processes behind no balancer but the load
  itself (half the users on each replica), the mock Slack Web API of ``bench_slack.py``, every
  click a real engine turn with its state saved; p99 is click to acknowledgement.

The PostgreSQL server is the tests' own (``tests/pg_server.py``), started here with durable
settings, on the same machine (so its CPU is shared with the replicas and the load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


# ---- recorded decisions per second --------------------------------------------------------

def append_worker(target: str, n: int, threads: int, worker: int) -> None:
    """(In a subprocess) append ``n`` decisions with ``threads`` threads; print their latencies."""
    from storage import audit
    from storage.db import open_db
    db = open_db(target)
    audit.ensure_schema(db)
    lat: list[float] = []
    start = time.perf_counter()
    base = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def run(t: int) -> None:
        for i in range(t, n, threads):
            row = {"user_id": f"U{worker:02d}{i:06d}", "channel": "slack", "conversation_id": f"D{worker}-{i}",
                   "pack_id": "hmg-2018", "pack_version": "1.0.0", "answers": [["immediate_risk", "no"]],
                   "outcome": "share", "kind": "decision", "record": {"reason": "Made-up bench reason."}}
            t0 = time.perf_counter()
            audit.append_decision(db, row, now=base + timedelta(seconds=i))
            lat.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    print(json.dumps({"seconds": time.perf_counter() - start, "lat": lat}))


def appends(targets: list[str], n: int, threads: int) -> dict:
    """One worker process per target (a replica each), all at once: decisions/s and p99."""
    procs = [subprocess.Popen([sys.executable, __file__, "--append-worker", t, str(n), str(threads), str(k)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for k, t in enumerate(targets)]
    t0 = time.perf_counter()
    outs = [json.loads(p.communicate()[0]) for p in procs]
    elapsed = time.perf_counter() - t0
    lat = [x for o in outs for x in o["lat"]]
    slowest = max(o["seconds"] for o in outs)  # appends only, not the processes' start
    return {"per_second": len(lat) / slowest, "p99_ms": pct(lat, 0.99) * 1000, "wall": elapsed}


# ---- Slack clicks per second --------------------------------------------------------------

async def clicks(targets: list[str], conversations: int, clicks_each: int, first_user: int) -> dict:
    """``infoshare serve`` on each target (one replica each), the users split between them."""
    import bench_slack as bs
    api, runner, mock_port = await bs.start_mock_api()
    env = bs.server_env(mock_port)
    procs, ports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for target in targets:
                ports.append(bs.free_port())
                procs.append(subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                               str(ports[-1]), "--db", target], cwd=tmp, env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for proc, port in zip(procs, ports):
                await bs.wait_healthy(port, proc, "/healthz")
            share = conversations // len(targets)
            results = await asyncio.gather(*(
                bs.run_load(port, api, share, clicks_each, 600, None, first_user=first_user + k * share)
                for k, port in enumerate(ports)))
        finally:
            for proc in procs:
                bs.stop(proc)
            await runner.cleanup()
    n = sum(r["clicks"] for r in results)
    seconds = max(r["seconds"] for r in results)
    return {"per_second": n / seconds, "p99_ms": max(r["ack_p99"] for r in results),  # bench_slack's are ms
            "update_p99_ms": max(r["update_p99"] for r in results)}


# ---- the run ------------------------------------------------------------------------------

def machine() -> str:
    return (f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")


def summary(rows: list[dict], key: str) -> str:
    xs = [r[key] for r in rows]
    return f"{statistics.median(xs):8.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decisions", type=int, default=400, help="appends per replica per round")
    ap.add_argument("--threads", type=int, default=4, help="appending threads per replica")
    ap.add_argument("--conversations", type=int, default=20)
    ap.add_argument("--clicks", type=int, default=30, help="clicks per user per round")
    ap.add_argument("--append-worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.append_worker:
        target, n, threads, worker = args.append_worker
        append_worker(target, int(n), int(threads), int(worker))
        return

    import pg_server
    print(f"machine: {machine()}")
    setups = ("SQLite, 1 server", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas")
    found: dict[str, dict[str, list[dict]]] = {"decisions": {s: [] for s in setups}, "clicks": {s: [] for s in setups}}
    with pg_server.temporary_server(DURABLE) as pg, tempfile.TemporaryDirectory() as tmp:
        print(f"PostgreSQL: {pg.execute('SHOW server_version')[0][0]} on 127.0.0.1, fsync on")
        for r in range(args.rounds):
            order = setups[r % 3:] + setups[:r % 3]
            for setup in order:
                sqlite = str(Path(tmp) / f"r{r}-{setups.index(setup)}.db")
                url = pg.create_database() if "PostgreSQL" in setup else sqlite
                targets = [url] * (2 if "2 replicas" in setup else 1)
                found["decisions"][setup].append(appends(targets, args.decisions // len(targets), args.threads))
                url2 = pg.create_database() if "PostgreSQL" in setup else sqlite + "-clicks.db"
                targets = [url2] * (2 if "2 replicas" in setup else 1)
                found["clicks"][setup].append(asyncio.run(clicks(targets, args.conversations, args.clicks,
                                                                 first_user=r * 1000)))
                print(f"  round {r + 1}: {setup}: {found['decisions'][setup][-1]['per_second']:.0f} decisions/s, "
                      f"{found['clicks'][setup][-1]['per_second']:.0f} clicks/s", flush=True)
    print(f"\n{args.rounds} rounds, the order rotated each round; median (range)")
    for load, unit in (("decisions", "decisions/s"), ("clicks", "clicks/s")):
        base = statistics.median(x["per_second"] for x in found[load]["SQLite, 1 server"])
        print(f"\n{load}: {unit:>22}  {'p99 ms':>22}  vs SQLite")
        for setup in setups:
            rows = found[load][setup]
            ratio = statistics.median(x["per_second"] for x in rows) / base
            print(f"  {setup:24} {summary(rows, 'per_second')}  {summary(rows, 'p99_ms')}  {ratio:.2f}x")


if __name__ == "__main__":
    main()
