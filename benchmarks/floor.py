"""The floor: one DuckDB scan of the landing files with the contract's types.

The least any pipeline must do is read its input once: every column of every file of both feeds,
occurred_at as a UTC timestamp, requires_travel as a boolean, the rest as text. Nothing is
stored; every column is aggregated so that none can be skipped.

    python -m benchmarks.floor LANDING      prints {"scan_s": ..., "rows": {...}} as JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from funnel.contract import BOOLEAN_FALSE, BOOLEAN_TRUE, FEEDS, FORMATS, Feed


def _files(feed_dir: Path) -> dict[str, list[str]]:
    by_format: dict[str, list[str]] = {}
    for path in sorted(feed_dir.rglob("*")):
        rel = path.relative_to(feed_dir)
        if path.is_file() and not any(p.startswith(".") for p in rel.parts) and path.suffix.lower() in FORMATS:
            by_format.setdefault(FORMATS[path.suffix.lower()], []).append(str(path))
    return by_format


def _typed(feed: Feed, source: str) -> str:
    def sql_list(values):
        return ", ".join(f"'{v}'" for v in values)

    columns = []
    for col in feed.columns:
        if col == "occurred_at":
            # trimmed, and only text starting with a digit, as ingestion does. (A bare try_cast of the
            # column is pushed into DuckDB's CSV reader, which then raises on a bad timestamp.)
            text = f"nullif(trim(CAST({col} AS VARCHAR)), '')"
            columns.append(f"try_cast(CASE WHEN {text} GLOB '[0-9]*' THEN {text} END AS TIMESTAMPTZ) AS {col}")
        elif col == "requires_travel":
            text = f"lower(CAST({col} AS VARCHAR))"
            columns.append(f"CASE WHEN {text} IN ({sql_list(BOOLEAN_TRUE)}) THEN true "
                           f"WHEN {text} IN ({sql_list(BOOLEAN_FALSE)}) THEN false END AS {col}")
        else:
            columns.append(f"CAST({col} AS VARCHAR) AS {col}")
    return f"SELECT {', '.join(columns)} FROM {source}"


def scan_sql(landing: Path, feed: Feed) -> str | None:
    parts = []
    for fmt, files in _files(landing / feed.name).items():
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        if fmt == "csv":
            source = f"read_csv({listing}, all_varchar = true, header = true, union_by_name = true)"
        elif fmt == "parquet":
            source = f"read_parquet({listing}, union_by_name = true)"
        else:
            columns = ", ".join(f"'{c}': 'VARCHAR'" for c in feed.columns)
            source = f"read_json({listing}, format = 'newline_delimited', columns = {{{columns}}})"
        parts.append(_typed(feed, source))
    if not parts:
        return None
    union = " UNION ALL ".join(parts)
    aggregates = ", ".join(
        f"max({c})" if c == "occurred_at" else f"count({c})" for c in feed.columns
    )
    return f"SELECT count(*), {aggregates} FROM ({union})"


def scan(landing: Path) -> dict:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    rows = {}
    start = time.perf_counter()
    for feed in FEEDS.values():
        sql = scan_sql(landing, feed)
        rows[feed.name] = conn.execute(sql).fetchone()[0] if sql else 0
    return {"scan_s": time.perf_counter() - start, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(scan(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
