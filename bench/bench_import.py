"""Benchmark ``deskpulse.pipeline.import_files`` on 1M tickets / ~11M events against a naive loader.

Generates the sample data once with ``deskpulse.sample.generate`` (seed 42, fixed start) and
caches it under ``bench/.cache/import/`` as CSV and as a Parquet copy. Then, each in a child
process of its own (so its peak RSS is its own):

* import CSV, then Parquet, into a fresh DuckDB file: wall time, rows/s, peak RSS and where the
  time goes (read + validate, store tickets, store events + commit, and the issue-7
  classification ``import_files`` runs after its commit);
* re-import the same files into that store: must insert nothing (idempotent);
* a profile of the store write on the CSV batch: read + validate, one md5 pass alone (what
  the write path hashes: tickets' row_hash; events are deduplicated on their columns), store
  tickets, store events, commit;
* a naive baseline on ~100k rows (the first 100,000 event rows of the CSV and their tickets):
  csv.reader, hashlib per ticket row and row-wise INSERTs through DuckDB's ``executemany`` into
  the same migrated schema; then the speed ratio in rows/s.

    .venv/bin/python bench/bench_import.py [--tickets 1000000] [--baseline-rows 100000]
        [--formats csv,parquet] [--no-profile] [--no-reimport] [--no-baseline]

Targets on the project's 2-core machine (issue 3): CSV <= 15 s, Parquet <= 5 s, RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache" / "import"
START = dt.date(2026, 1, 5)
DAYS = 180
TARGETS = {"csv": 15.0, "parquet": 5.0}
RSS_TARGET_MB = 2048.0
TENANT = "bench"


# --- data ----------------------------------------------------------------------------------------


def data_dir(n_tickets: int, seed: int) -> Path:
    return CACHE / f"t{n_tickets}-s{seed}-{START.isoformat()}-d{DAYS}"


def ensure_data(n_tickets: int, seed: int) -> dict[str, Any]:
    """Generate the CSV files and a Parquet copy once; later runs reuse them."""
    from deskpulse.sample.generate import generate

    root = data_dir(n_tickets, seed)
    meta_path = root / "meta.json"
    if meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        meta["cached"] = True
        return meta
    shutil.rmtree(root, ignore_errors=True)
    began = time.perf_counter()
    res = generate(n_tickets, seed, root / "csv", start=START, days=DAYS, fmt="csv")
    generate(n_tickets, seed, root / "parquet", start=START, days=DAYS, fmt="parquet")
    meta = {
        "tickets": res.n_tickets,
        "events": res.n_events,
        "seconds": round(time.perf_counter() - began, 1),
        "mb": {
            f"{fmt}/{p.name}": round(p.stat().st_size / 1e6, 1)
            for fmt in ("csv", "parquet")
            for p in sorted((root / fmt).glob("*"))
            if p.name.startswith(("tickets", "events"))
        },
    }
    meta_path.write_text(json.dumps(meta))
    meta["cached"] = False
    return meta


def files(n_tickets: int, seed: int, fmt: str) -> tuple[Path, Path]:
    folder = data_dir(n_tickets, seed) / fmt
    return folder / f"tickets.{fmt}", folder / f"events.{fmt}"


# --- children ------------------------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(tickets: Path, events: Path, db: Path, fresh: bool) -> dict[str, Any]:
    """import_files into ``db`` with stage times taken from the progress callback."""
    from deskpulse.pipeline import import_files
    from deskpulse.store import open_store

    if fresh:
        for p in (db, db.with_name(db.name + ".wal")):
            p.unlink(missing_ok=True)
    store = open_store(str(db))
    marks: dict[str, tuple[float, float]] = {}
    began, cpu0 = time.perf_counter(), time.process_time()

    def now() -> tuple[float, float]:
        return time.perf_counter() - began, time.process_time() - cpu0

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, now())

    summary = import_files(store.tenant(TENANT), tickets, events, progress=progress)
    end = now()
    store.close()
    stored = marks.get("store tickets", end)
    events_at = marks.get("store events", end)
    classify_at = marks.get("classify tickets", end)
    return {
        "seconds": end[0],
        "summary": summary.as_dict(),
        "stages": {
            "read + validate": stored,
            "store tickets": (events_at[0] - stored[0], events_at[1] - stored[1]),
            "store events + commit": (classify_at[0] - events_at[0], classify_at[1] - events_at[1]),
            "classify tickets (issue 7, after commit)": (
                end[0] - classify_at[0], end[1] - classify_at[1]),
        },
    }


def child_profile(tickets: Path, events: Path, db: Path) -> dict[str, Any]:
    """The import's halves separately: read + validate, an md5 pass alone, the store writes."""
    import duckdb

    from deskpulse.ingest import read_import
    from deskpulse.model import TICKET_COLUMNS
    from deskpulse.pipeline import utcnow
    from deskpulse.store import open_store
    from deskpulse.store.tenant import _hash_sql

    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    store = open_store(str(db))
    repo = store.tenant(TENANT)
    out: dict[str, tuple[float, float]] = {}
    last = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        out[name] = (wall - last[0], cpu - last[1])
        last[:] = [wall, cpu]

    batch = read_import(tickets, events, known_ticket_ids=repo.ticket_ids())
    lap("read + validate")
    assert batch.tickets is not None and batch.events is not None
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("t", batch.tickets)
    con.register("e", batch.events)
    last[:] = [time.perf_counter(), time.process_time()]
    con.execute(f"SELECT max({_hash_sql(TICKET_COLUMNS)}) FROM t").fetchall()
    lap("md5 pass alone (tickets' row_hash)")
    con.close()
    loaded_at = utcnow()
    last[:] = [time.perf_counter(), time.process_time()]
    with store.transaction():
        repo.upsert_tickets(batch.tickets, loaded_at)
        lap("store tickets (hash + write)")
        repo.insert_events(batch.events, loaded_at)
        lap("store events (hash + dedup + write)")
    lap("commit")
    store.close()
    return {"stages": out}


def child_baseline(tickets_csv: Path, events_csv: Path, db: Path, rows: int) -> dict[str, Any]:
    """Naive: csv.reader, hashlib per ticket row, row-wise INSERTs via duckdb executemany."""
    import duckdb

    from deskpulse.model import EVENT_COLUMNS, TICKET_COLUMNS
    from deskpulse.store import open_store

    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    open_store(str(db)).close()  # the same migrated schema
    began = time.perf_counter()
    with events_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        ev_rows = [r for _, r in zip(range(rows), reader, strict=False)]
    wanted = {r["ticket_id"] for r in ev_rows}
    tk_rows = []
    with tickets_csv.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):  # tickets are in id order: stop once all are found
            if r["ticket_id"] in wanted:
                tk_rows.append(r)
                if len(tk_rows) == len(wanted):
                    break
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    def ts(v: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00")).replace(tzinfo=None) if v else None

    def md5(values: list[Any]) -> str:
        text = "\x1f".join("\x00" if v is None else str(v) for v in values)
        return hashlib.md5(text.encode()).hexdigest()

    con = duckdb.connect(str(db))
    con.execute("BEGIN")
    t_cols = ["tenant_id", *TICKET_COLUMNS, "row_hash", "loaded_at"]
    t_vals = []
    for r in tk_rows:
        vals: list[Any] = [r.get(c) or None for c in TICKET_COLUMNS]
        for i, c in enumerate(TICKET_COLUMNS):
            if c.endswith("_at"):
                vals[i] = ts(vals[i])
        vals[2] = vals[2] or vals[1]
        t_vals.append([TENANT, *vals, md5(vals), now])
    marks = ", ".join("?" * len(t_cols))
    names = ", ".join(f'"{c}"' for c in t_cols)
    con.executemany(f"INSERT INTO tickets ({names}) VALUES ({marks})", t_vals)
    e_cols = ["tenant_id", *EVENT_COLUMNS, "seq", "loaded_at"]
    e_vals = []
    for seq, r in enumerate(ev_rows):
        vals = [r.get(c) or None for c in EVENT_COLUMNS]
        vals[1] = ts(vals[1])
        vals[3] = vals[3] or "system"
        vals[5] = (vals[5] or "true") == "true"
        e_vals.append([TENANT, *vals, seq, now])
    marks = ", ".join("?" * len(e_cols))
    names = ", ".join(f'"{c}"' for c in e_cols)
    con.executemany(f"INSERT INTO ticket_events ({names}) VALUES ({marks})", e_vals)
    con.execute("COMMIT")
    con.close()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "tickets": len(tk_rows), "events": len(ev_rows)}


def run_child(args: list[str]) -> dict[str, Any]:
    """Run this script as a child; returns its JSON report plus its own peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--report", report.name, *args],
            stdout=subprocess.DEVNULL,  # DuckDB draws its own progress bars on stdout
        )
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"child {' '.join(args)} failed with exit code {code}")
        figures: dict[str, Any] = json.loads(Path(report.name).read_text())
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return figures


# --- report ----------------------------------------------------------------------------------------


def show_stages(stages: dict[str, list[float]]) -> None:
    """Wall and CPU seconds per stage (CPU counts both cores; on a loaded machine it is the
    steadier figure)."""
    for name, (wall, cpu) in stages.items():
        print(f"    {name:<38} {wall:6.2f} s   CPU {cpu:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-reimport", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", choices=("import", "reimport", "profile", "baseline"))
    parser.add_argument("--fmt", default="csv")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()

    if args.child:
        t_path, e_path = files(args.tickets, args.seed, args.fmt)
        if args.child in ("import", "reimport"):
            res = child_import(t_path, e_path, args.db, fresh=args.child == "import")
        elif args.child == "profile":
            res = child_profile(t_path, e_path, args.db)
        else:
            res = child_baseline(t_path, e_path, args.db, args.baseline_rows)
        res["child_rss_mb"] = _rss_mb()
        args.report.write_text(json.dumps(res, default=str))
        return

    import duckdb

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"deskpulse import benchmark ({os.cpu_count()} CPUs, load average {load}, "
          f"Python {sys.version.split()[0]}, DuckDB {duckdb.__version__})")
    meta = ensure_data(args.tickets, args.seed)
    n_rows = meta["tickets"] + meta["events"]
    sizes = ", ".join(f"{k} {v:,.0f} MB" for k, v in meta["mb"].items())
    how = "cached" if meta["cached"] else f"generated in {meta['seconds']} s"
    print(f"data: {meta['tickets']:,} tickets + {meta['events']:,} events ({how}): {sizes}")
    common = ["--tickets", str(args.tickets), "--seed", str(args.seed)]
    store_dir = data_dir(args.tickets, args.seed)
    results: dict[str, dict[str, Any]] = {}
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        db = store_dir / f"store-{fmt}.duckdb"
        res = run_child([*common, "--child", "import", "--fmt", fmt, "--db", str(db)])
        results[fmt] = res
        s = res["summary"]
        print(f"\nimport {fmt.upper()} into a fresh DuckDB file")
        print(f"  {res['seconds']:.2f} s (CPU {res['cpu_seconds']:.1f} s)   "
              f"{n_rows / res['seconds']:,.0f} rows/s   peak RSS {res['peak_rss_mb']:,.0f} MB   "
              f"inserted {s['tickets_inserted']:,} tickets + {s['events_inserted']:,} events, "
              f"rejected {s['rejected']:,}")
        show_stages(res["stages"])
        ok = res["seconds"] <= TARGETS[fmt] and res["peak_rss_mb"] <= RSS_TARGET_MB
        print(f"  target <= {TARGETS[fmt]:.0f} s and <= {RSS_TARGET_MB:,.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
        if not args.no_reimport:
            again = run_child([*common, "--child", "reimport", "--fmt", fmt, "--db", str(db)])
            s2 = again["summary"]
            inserted = s2["tickets_inserted"] + s2["tickets_updated"] + s2["events_inserted"]
            print(f"  re-import of the same files: {again['seconds']:.2f} s "
                  f"(CPU {again['cpu_seconds']:.1f} s), "
                  f"peak RSS {again['peak_rss_mb']:,.0f} MB, inserted/updated {inserted:,}, "
                  f"unchanged {s2['tickets_unchanged']:,} tickets + {s2['events_unchanged']:,} "
                  f"events ({'idempotent' if inserted == 0 else 'NOT IDEMPOTENT'})")
            show_stages(again["stages"])
        for p in (db, db.with_name(db.name + ".wal")):
            p.unlink(missing_ok=True)

    if not args.no_profile:
        db = store_dir / "store-profile.duckdb"
        prof = run_child([*common, "--child", "profile", "--fmt", "csv", "--db", str(db)])
        print("\nwhere the time goes (CSV, halves run separately)")
        show_stages(prof["stages"])
        db.unlink(missing_ok=True)

    if args.no_baseline:
        return
    db = store_dir / "store-baseline.duckdb"
    base = run_child([*common, "--child", "baseline", "--fmt", "csv", "--db", str(db),
                      "--baseline-rows", str(args.baseline_rows)])
    db.unlink(missing_ok=True)
    b_rows = base["tickets"] + base["events"]
    b_rate = b_rows / base["seconds"]
    print(f"\nnaive baseline (csv.reader + hashlib + duckdb executemany): {base['tickets']:,} "
          f"tickets + {base['events']:,} events in {base['seconds']:.2f} s "
          f"(CPU {base['cpu_seconds']:.1f} s) = {b_rate:,.0f} rows/s, "
          f"peak RSS {base['peak_rss_mb']:,.0f} MB")
    for fmt, res in results.items():
        rate = n_rows / res["seconds"]
        print(f"speed ratio, import_files {fmt.upper()} / naive (rows/s): {rate / b_rate:,.0f}x")


if __name__ == "__main__":
    main()
