"""Benchmark the audit store: digest and verify on 1,000,000 rows, durable appends per second.

Run from the repository root::

    PYTHONPATH=. /tmp/venv/bin/python bench/bench_audit.py            # 1,000,000 rows
    PYTHONPATH=. /tmp/venv/bin/python bench/bench_audit.py --rows 100000 --appends 200

It builds a made-up store in a temporary directory (the chain computed in Python, inserted in
bulk), then times: the digest of one ISO week and of the whole range; a full ``verify_chain``;
a purge of the older half and ``verify_chain`` again;
``append_decision`` one transaction at a time with ``synchronous=FULL`` and, as a same-run
baseline, with ``synchronous=OFF``. Figures are printed with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import audit, digest  # noqa: E402
from storage.audit import chain  # noqa: E402
from storage.db import open_db, transaction  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
REASONS = [
    "No lawful basis identified", "Information not necessary for the purpose",
    "Parent objected and no risk of significant harm", "Recipient already holds the information",
    "Request was not proportionate", "Not relevant to the child's welfare",
    "Advised by DSL not to share", "Sharing would increase risk to the child",
]
PACKS = [("hmg-2018", "1.0.0"), ("wirral", "1.2.0"), ("london-cp", "0.9.0")]
CHANNELS = ["slack"] * 5 + ["teams"] * 4 + ["console"]
OUTCOMES = ["share"] * 5 + ["do_not_share"] * 3 + ["seek_advice"] * 3 + ["urgent_action"]


def made_up_row(rng: random.Random) -> dict:
    """One plausible but invented decision (platform ids and case refs only, no names)."""
    outcome = rng.choice(OUTCOMES)
    pack_id, version = rng.choice(PACKS)
    kind = "left_without_recording" if rng.random() < 0.03 else "decision"
    record = {"categories": rng.sample(["health", "education", "family", "housing"], 2),
              "recipient": rng.choice(["school", "gp", "police", "social care"]),
              "purpose": "safeguarding", "lawful_basis": rng.choice(["consent", "public_task"]),
              "informed": rng.choice(["yes", "no"]), "case_ref": f"CR-{rng.randrange(10**6):06d}",
              "reason": rng.choice(REASONS)}
    return {"kind": kind, "user_id": f"U{rng.randrange(500):08X}", "channel": rng.choice(CHANNELS),
            "conversation_id": f"c{rng.randrange(10**9)}", "pack_id": pack_id, "pack_version": version,
            "outcome": outcome, "answers": [["immediate_risk", "no"], ["purpose", "yes"],
                                            ["consent", rng.choice(["yes", "no", "unsure"])]],
            "record": record}


def generate(db, rows: int, weeks: int = 104, seed: int = 1) -> float:
    """Bulk-load ``rows`` made-up decisions spread evenly over ``weeks`` up to NOW; return seconds.

    The chain is computed in Python exactly as ``append_decision`` computes it (the final
    ``verify_chain`` checks that). For speed: 5,000 made-up bodies are reused (their canonical
    JSON and ``body_hash`` computed once), and in one transaction the append-only insert trigger
    and the indexes are dropped, the rows inserted, and ``ensure_schema`` puts them back.
    """
    rng = random.Random(seed)
    pool = []
    for _ in range(5000):
        row = made_up_row(rng)
        answers, record = audit.canonical_json(row["answers"]), audit.canonical_json(row["record"])
        pool.append((row, answers, record,
                     audit.body_hash(row["user_id"], row["conversation_id"], answers, record)))
    conn = db.conn
    start = time.perf_counter()
    span = weeks * 7 * 86400
    first = NOW - timedelta(seconds=span)
    seq, prev = 0, audit.GENESIS
    cols = chain._COLUMNS
    sql = f"INSERT INTO decisions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    sha256, head_text = chain.hashlib.sha256, chain.head_text
    day_of: dict[str, str] = {}
    batch: list[tuple] = []
    with transaction(db):
        conn.execute("DROP TRIGGER decisions_append_only_insert")
        conn.execute("DROP TRIGGER decisions_count")
        for index in ("decisions_by_day", "decisions_by_outcome", "decisions_by_user"):
            conn.execute(f"DROP INDEX {index}")
        for i in range(rows):
            moment = first + timedelta(seconds=span * i // rows)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            hour = stamp[:13]
            day = day_of.get(hour) or day_of.setdefault(hour, audit.london_day(moment))
            row, answers, record, bh = pool[rng.randrange(5000)]
            seq += 1
            ref = f"ISD-{stamp[:4]}-{seq:06d}"
            h = sha256(head_text(seq, ref, row["kind"], stamp, day, row["channel"], row["pack_id"],
                                 row["pack_version"], row["outcome"], prev, bh).encode()).hexdigest()
            batch.append((seq, ref, row["kind"], stamp, day, row["user_id"], row["channel"],
                          row["conversation_id"], row["pack_id"], row["pack_version"], row["outcome"],
                          answers, record, prev, bh, h, None))
            prev = h
            if len(batch) == 50_000:
                conn.executemany(sql, batch)
                batch.clear()
        if batch:
            conn.executemany(sql, batch)
    audit.ensure_schema(db)  # triggers and indexes back; decision_counts filled from the rows
    return time.perf_counter() - start


def appends_per_second(path: Path, n: int, synchronous: str) -> float:
    db = open_db(path)
    audit.ensure_schema(db)
    db.conn.execute(f"pragma synchronous = {synchronous}")
    rng = random.Random(7)
    rows = [made_up_row(rng) for _ in range(n)]
    start = time.perf_counter()
    for row in rows:
        audit.append_decision(db, row)
    elapsed = time.perf_counter() - start
    db.conn.close()
    return n / elapsed


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--dir", help="where to put the temporary databases (default: a temp dir)")
    args = parser.parse_args()

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        db = open_db(path)
        audit.ensure_schema(db)
        took = generate(db, args.rows)
        size = path.stat().st_size / 1e6
        print(f"generate {args.rows:,} rows (chain in Python, bulk insert): {took:.1f} s "
              f"({args.rows / took:,.0f} rows/s), file {size:,.0f} MB")

        week, t_week = timed(digest.build_digest, db, week="2026-W47", now=NOW, verify=False)
        print(f"digest of week 2026-W47 ({week['total']:,} decisions), no verify: {t_week:.3f} s")
        full, t_full = timed(digest.build_digest, db, since="2024-01-01", until="2026-11-25",
                             now=NOW, verify=False)
        print(f"digest of the whole range ({full['total']:,} decisions), no verify: {t_full:.3f} s")

        result, t_verify = timed(audit.verify_chain, db)
        print(f"verify_chain of {result.rows:,} rows: {t_verify:.1f} s (ok={result.ok})")
        _, t_both = timed(digest.build_digest, db, week="2026-W47", now=NOW, verify=True)
        print(f"digest of week 2026-W47 with full verification: {t_both:.1f} s")
        purged, t_purge = timed(audit.purge, db, 365, now=NOW)
        print(f"purge of {purged['purged']:,} rows older than 365 days ({len(purged['refs'])} transactions "
              f"of up to {audit.PURGE_BATCH:,} rows): {t_purge:.1f} s")
        result, t_verify = timed(audit.verify_chain, db)
        print(f"verify_chain after the purge, {result.rows:,} rows: {t_verify:.1f} s (ok={result.ok})")
        db.conn.close()

        full_rate = appends_per_second(Path(tmp) / "full.db", args.appends, "full")
        off_rate = appends_per_second(Path(tmp) / "off.db", args.appends, "off")
        print(f"append_decision, one transaction each, {args.appends} appends: "
              f"synchronous=FULL {full_rate:,.0f}/s, synchronous=OFF {off_rate:,.0f}/s "
              f"(FULL is {full_rate / off_rate:.2f}x OFF)")


if __name__ == "__main__":
    main()
