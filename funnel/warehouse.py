"""The pipeline's working DuckDB database: connections and the tables ingestion writes."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from funnel.config import Config
from funnel.settings import PRIVATE_FILE, PRIVATE_FOLDER, FunnelError

log = logging.getLogger("funnel")

# Tables are created if missing and never dropped: ingestion only ever adds rows.
SCHEMA = """
CREATE TABLE IF NOT EXISTS landing_files (
    feed              VARCHAR NOT NULL,   -- stage_outcomes | interviews | demographics
    path              VARCHAR NOT NULL,   -- relative to the feed folder, '/'-separated
    content_hash      VARCHAR NOT NULL,   -- sha256 of the file's bytes
    size_bytes        BIGINT  NOT NULL,
    modified_at       TIMESTAMP,          -- file mtime, UTC; used only to skip re-hashing untouched files
    status            VARCHAR NOT NULL,   -- ingested | already_ingested (same content under another name) | rejected
    problem           VARCHAR,            -- why the file was rejected, or a warning about some of its rows
    rows_read         BIGINT NOT NULL DEFAULT 0,
    rows_accepted     BIGINT NOT NULL DEFAULT 0,
    rows_duplicate    BIGINT NOT NULL DEFAULT 0,  -- exact duplicates of records already accepted
    rows_quarantined  BIGINT NOT NULL DEFAULT 0,
    batch_id          VARCHAR NOT NULL,   -- the Dagster run that processed it
    processed_at      TIMESTAMP NOT NULL,
    encoding          VARCHAR,            -- CSV, JSON Lines: the text encoding read (utf-8, windows-1252, ...); else NULL
    rows_excluded     BIGINT NOT NULL DEFAULT 0,  -- ATS tables: rows a rule leaves out (prospects, deleted rows, leads)
    PRIMARY KEY (feed, path, content_hash)
);

-- The records tables have no primary key: DuckDB holds a key's index in memory (10M ids need well over
-- 1 GiB at commit). Ingestion keeps record_id unique and the unique_record_ids check verifies it.
CREATE TABLE IF NOT EXISTS stage_outcome_records (
    record_id       VARCHAR NOT NULL,     -- event_id, or a hash of the normalized required fields plus team (unique)
    application_id  VARCHAR NOT NULL,
    candidate_id    VARCHAR NOT NULL,
    role            VARCHAR NOT NULL,
    stage           VARCHAR NOT NULL,
    outcome         VARCHAR NOT NULL,
    occurred_at     TIMESTAMP NOT NULL,   -- UTC
    team            VARCHAR,
    source          VARCHAR,
    level           VARCHAR,
    requires_travel BOOLEAN,
    content_hash    VARCHAR NOT NULL,     -- hash of the normalized content, to tell exact from conflicting duplicates
    source_file     VARCHAR NOT NULL,
    source_line     BIGINT  NOT NULL,
    batch_id        VARCHAR NOT NULL,
    ingested_at     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS interview_records (
    record_id       VARCHAR NOT NULL,     -- interview_id, or a hash of the normalized required fields (unique)
    application_id  VARCHAR NOT NULL,
    stage           VARCHAR NOT NULL,
    interviewer_id  VARCHAR NOT NULL,
    skill           VARCHAR NOT NULL,
    recommendation  VARCHAR NOT NULL,
    occurred_at     TIMESTAMP NOT NULL,   -- UTC
    content_hash    VARCHAR NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_line     BIGINT  NOT NULL,
    batch_id        VARCHAR NOT NULL,
    ingested_at     TIMESTAMP NOT NULL
);

-- Voluntary self-identification, one row per response. Only the working database holds it: the published
-- database gets adverse_impact's suppressed aggregates, never a row about a person (docs/privacy.md).
CREATE TABLE IF NOT EXISTS demographic_records (
    record_id         VARCHAR NOT NULL,   -- a hash of candidate_id and collected_at (unique)
    candidate_id      VARCHAR NOT NULL,
    sex               VARCHAR,            -- normalized category; NULL = unknown (declined, not asked, empty)
    race_ethnicity    VARCHAR,
    veteran_status    VARCHAR,
    disability_status VARCHAR,
    collected_at      TIMESTAMP,          -- UTC; NULL when the export has none
    content_hash      VARCHAR NOT NULL,
    source_file       VARCHAR NOT NULL,
    source_line       BIGINT  NOT NULL,
    batch_id          VARCHAR NOT NULL,
    ingested_at       TIMESTAMP NOT NULL
);

-- One row per derivation of an ATS's events (funnel/sources): the tables' contents and the mapping it was
-- derived from. The same fingerprint again derives nothing; a new one (a resync, a changed mapping) derives anew.
CREATE TABLE IF NOT EXISTS source_derivations (
    source          VARCHAR NOT NULL,     -- greenhouse | lever | ashby
    fingerprint     VARCHAR NOT NULL,     -- sha256 of the table files' hashes, the mapping and the catalog
    batch_id        VARCHAR NOT NULL,
    derived_at      TIMESTAMP NOT NULL,
    stage_events    BIGINT NOT NULL,      -- events derived (before duplicates and quarantine)
    interviews      BIGINT NOT NULL,
    excluded        JSON NOT NULL,        -- {rule: rows}
    notes           JSON NOT NULL,        -- {what: count}, e.g. applications derived without history
    demographics    BIGINT                -- self-identification responses derived (an EEO table); NULL: the ATS has none
);

CREATE TABLE IF NOT EXISTS quarantined_rows (
    feed            VARCHAR NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_line     BIGINT  NOT NULL,
    reason          VARCHAR NOT NULL,     -- one reason code, the first that applies
    detail          VARCHAR NOT NULL,     -- human-readable: which column, which value
    record_id       VARCHAR,              -- the id the row would have had, when it could be computed
    raw_values      JSON    NOT NULL,     -- the row exactly as read, every column as text
    raw_hash        VARCHAR NOT NULL,     -- identity of (raw values, reason): a re-read row is not quarantined twice
    batch_id        VARCHAR NOT NULL,
    quarantined_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (feed, raw_hash)
);
"""


DEFAULT_MEMORY_LIMIT = "1GiB"


def memory_limit() -> str:
    """DuckDB's memory budget for the pipeline's work (FUNNEL_MEMORY_LIMIT, default 1 GiB): beyond
    it, DuckDB spills to a temp directory beside the database instead of taking its default 80% of
    RAM. With 1 GiB the whole run stays under 2 GiB at 10M stage events; more memory builds large
    histories faster (docs/benchmarks.md)."""
    return os.environ.get("FUNNEL_MEMORY_LIMIT", "").strip() or DEFAULT_MEMORY_LIMIT


def limit_memory(conn: duckdb.DuckDBPyConnection) -> None:
    value = memory_limit()
    try:
        conn.execute(f"SET memory_limit = '{value.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        raise FunnelError(f"FUNNEL_MEMORY_LIMIT: {value!r} is not a memory size DuckDB accepts (e.g. 1GiB, 4GB, "
                          f"512MB): {str(exc).splitlines()[0]}") from None


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes timestamps in UTC."""
    conn = duckdb.connect(str(path), read_only=read_only)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(column name, DuckDB type) of a table of the connection's own database, in table order."""
    return [
        (name, str(dtype))
        for name, dtype in conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?"
            " AND schema_name = current_schema() AND database_name = current_database() ORDER BY column_index",
            [table],
        ).fetchall()
    ]


# Columns added since a table was first created: a working database made by an earlier version gets them
# (CREATE TABLE IF NOT EXISTS leaves an existing table as it is). Each is added last, as SCHEMA lists it.
ADDED_COLUMNS = (("landing_files", "encoding", "VARCHAR"), ("landing_files", "rows_excluded", "BIGINT DEFAULT 0"),
                 ("source_derivations", "demographics", "BIGINT"))


def create_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(SCHEMA)
    for table, column, dtype in ADDED_COLUMNS:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {dtype}")


def write_config_tables(conn: duckdb.DuckDBPyConnection, config: Config) -> None:
    """The active configuration as tables, so SQL can join on stage order, pipelines and skills."""
    conn.execute("CREATE OR REPLACE TABLE config_stages (stage VARCHAR PRIMARY KEY, stage_order INTEGER NOT NULL)")
    conn.executemany("INSERT INTO config_stages VALUES (?, ?)", [(s, i + 1) for i, s in enumerate(config.stages)])
    conn.execute(
        "CREATE OR REPLACE TABLE config_role_stages (role VARCHAR NOT NULL, stage VARCHAR NOT NULL,"
        " pipeline_order INTEGER NOT NULL, stage_order INTEGER NOT NULL, PRIMARY KEY (role, stage))"
    )
    conn.executemany(
        "INSERT INTO config_role_stages VALUES (?, ?, ?, ?)",
        [
            (role.name, stage, i + 1, config.stage_order(stage))
            for role in config.roles.values()
            for i, stage in enumerate(role.pipeline)
        ],
    )
    conn.execute(
        "CREATE OR REPLACE TABLE config_role_skills (role VARCHAR NOT NULL, skill VARCHAR NOT NULL, PRIMARY KEY (role, skill))"
    )
    rows = [(role.name, skill) for role in config.roles.values() for skill in role.onsite_skills]
    if rows:
        conn.executemany("INSERT INTO config_role_skills VALUES (?, ?)", rows)
    conn.execute("CREATE OR REPLACE TABLE config_skills (skill VARCHAR PRIMARY KEY)")
    if config.skills:
        conn.executemany("INSERT INTO config_skills VALUES (?)", [(s,) for s in config.skills])
    conn.execute(
        "CREATE OR REPLACE TABLE config_settings AS"
        " SELECT ?::INTEGER AS team_matching_stall_days, ?::DOUBLE AS quarantine_threshold,"
        " ?::BOOLEAN AS pseudonymize_interviewers,"
        " ?::INTEGER AS fairness_min_group_size, ?::DOUBLE AS fairness_min_group_share",
        [config.team_matching_stall_days, config.quarantine_threshold, config.pseudonymize_interviewers,
         config.fairness.min_group_size, config.fairness.min_group_share],
    )


class WarehouseBusy(Exception):
    """Another process held the working database longer than FUNNEL_LOCK_TIMEOUT: transient, retried."""


@contextmanager
def exclusive_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """An exclusive lock on `.<name>.lock` beside `path`, shared by every process: callers wait
    their turn (up to FUNNEL_LOCK_TIMEOUT, default 600 s) instead of failing. The kernel releases
    the lock when its holder dies, so a killed run never leaves it held."""
    timeout = float(os.environ.get("FUNNEL_LOCK_TIMEOUT", "600")) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    with path.with_name(f".{path.name}.lock").open("w") as fh:
        waiting = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(f"{path} stayed in use by another run for {timeout:.0f} s") from None
                if not waiting:
                    log.info("waiting for another run to release %s", path)
                    waiting = True
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def open_working(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working database, held exclusively: CLI runs, UI runs and a second `funnel run` take
    turns instead of failing on DuckDB's file lock."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    with exclusive_lock(path):
        conn = connect(path)
        # It holds demographics and raw ids: its owner's only, whatever the umask made it.
        os.chmod(path, PRIVATE_FILE)
        try:
            limit_memory(conn)
            create_schema(conn)
            yield conn
        finally:
            conn.close()
