"""Publishing: copy the marts into a new database file beside the published one, then swap it in.

Analysts open FUNNEL_HOME/warehouse/funnel.duckdb read-only. The pipeline never writes into that
file: it builds a complete new file and replaces the old one with os.replace, which is atomic. A
reader that has the old file open keeps reading its consistent snapshot; new connections see the
new one; nothing a reader does can block a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from funnel.warehouse import exclusive_lock

PUBLISH_LOG_COLUMNS = {
    "published_at": ("TIMESTAMP", "When this database was published (UTC)."),
    "run_id": ("VARCHAR", "The Dagster run that published it."),
    "landing_files": ("JSON", "Every landing file whose records are in it: [{feed, path, content_hash}]."),
    "row_counts": ("JSON", "Rows per published table: {table: rows}."),
    "check_results": ("JSON", "The quality checks the run evaluated: {check: passed}."),
}
PUBLISH_LOG_DDL = "CREATE TABLE IF NOT EXISTS publish_log ({})".format(
    ", ".join(f"{name} {kind} NOT NULL" for name, (kind, _) in PUBLISH_LOG_COLUMNS.items())
)


@dataclass(frozen=True)
class Published:
    path: Path
    published_at: datetime
    row_counts: dict[str, int]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish(
    conn: duckdb.DuckDBPyConnection,
    published_db: Path,
    tables: list[str],
    run_id: str,
    check_results: dict[str, bool] | None = None,
    order: dict[str, str] | None = None,
) -> Published:
    """Copy `tables` from the working database (`conn`) into a fresh file and swap it in atomically.
    `order`: an ORDER BY clause per table whose working copy is not in its published order (an
    incremental mart's rows are replaced in place)."""
    published_at = datetime.now(timezone.utc).replace(tzinfo=None)
    conn.execute(PUBLISH_LOG_DDL)
    conn.execute("COMMENT ON TABLE publish_log IS 'One row per publish of this database, newest last.'")
    for name, (_, description) in PUBLISH_LOG_COLUMNS.items():
        conn.execute(f"COMMENT ON COLUMN publish_log.{name} IS {_quote_literal(description)}")
    row_counts = {t: conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0] for t in tables}
    landing = conn.execute(
        "SELECT coalesce(to_json(list({'feed': feed, 'path': path, 'content_hash': content_hash}"
        " ORDER BY feed, path, content_hash)), '[]')"
        " FROM landing_files WHERE status IN ('ingested', 'already_ingested')"
    ).fetchall()[0][0]
    published_db.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(published_db):  # one publisher at a time, across processes
        # A file left half-built by a killed run is never published: remove it.
        for stale in published_db.parent.glob(f".{published_db.name}.*.building"):
            stale.unlink()
        staging = published_db.with_name(f".{published_db.name}.{run_id}.building")
        conn.execute(f"ATTACH {_quote_literal(str(staging))} AS next_publish")
        try:
            # DuckDB writes one database per transaction: each table is copied on its own, and the
            # file only becomes visible to readers, whole, at the os.replace below.
            for table in tables:
                conn.execute(f"CREATE TABLE next_publish.{table} AS SELECT * FROM main.{table} "
                             + (order or {}).get(table, ""))
                _copy_comments(conn, table)
            conn.execute(
                "CREATE TABLE next_publish.publish_log AS SELECT * FROM main.publish_log"
                " UNION ALL SELECT ?, ?, ?, ?, ? ORDER BY published_at",
                [published_at, run_id, landing, json.dumps(row_counts), json.dumps(check_results or {})],
            )
            _copy_comments(conn, "publish_log")
        finally:
            conn.execute("DETACH next_publish")
        _fsync(staging)
        os.replace(staging, published_db)
        _fsync(published_db.parent)
        # Recorded after the swap: the working log lists only publishes that happened.
        conn.execute(
            "INSERT INTO publish_log VALUES (?, ?, ?, ?, ?)",
            [published_at, run_id, landing, json.dumps(row_counts), json.dumps(check_results or {})],
        )
    return Published(published_db, published_at, row_counts)


def _copy_comments(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Table and column descriptions travel with the table, so analysts see them in their tools."""
    row = conn.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?", [table]
    ).fetchone()
    if row and row[0]:
        conn.execute(f"COMMENT ON TABLE next_publish.{table} IS {_quote_literal(row[0])}")
    for column, comment in conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = current_database()"
        " AND table_name = ? AND comment IS NOT NULL",
        [table],
    ).fetchall():
        conn.execute(f'COMMENT ON COLUMN next_publish.{table}."{column}" IS {_quote_literal(comment)}')
