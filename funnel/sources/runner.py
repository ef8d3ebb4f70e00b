"""One ATS, end to end: its tables in, stage events and interviews of the contract's shape out (and
self-identification responses, when the ATS syncs them), through the same ingestion as the contract files.

A run derives again only when something it depends on changed: the tables' contents (a resync, a
connector rewriting rows in place), the `sources:` mapping, or the catalog, roles and skills it maps
to. Then every event is derived from all the tables (joins need them all) and handed to the
ingestion: events held already are recognized by their id, built from the ATS's own keys, and
counted as duplicates; events quarantined for an unmapped job, stage or interview name before are
accepted once the mapping has them, and counted once.

Every row of every table file ends in one of four counts in `landing_files` (feed = the ATS): accepted
(its events are held, or it is a row the derivation reads without deriving from it: jobs, stages,
a history row of a stage the application jumped over), duplicate (its events repeat events another
row gave), quarantined (one of its events was), or excluded by a rule (a prospect, a deleted row, a
lead), counted by rule in the asset's metadata and never quarantined.

Self-identification (an ATS's EEO table, derived into `derived_demographics`) goes through the
demographics feed like a contract file's responses. What this module logs and returns for the asset's
metadata about it is counts only, never a response's values (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import duckdb
import polars as pl

from funnel.config import Config
from funnel.contract import DEMOGRAPHICS, INTERVIEWS, STAGE_OUTCOMES, Feed
from funnel.ingest import RECORD_TABLES, Batch, FeedResult, FileResult, Progress, _mtime, file_sha256
from funnel.settings import FunnelError
from funnel.sources import ATS_NAMES
from funnel.sources.mapping import SourceMapping
from funnel.sources.tables import LoadedTables, TableFile, create_empty, discover_tables, ensure_columns, load_tables

# Virtual reading positions per table file: a table row derives at most this many events of one feed,
# each read as its own part (the ingestion identifies a row by its part and line).
EVENTS_PER_ROW = 4
DERIVED = {STAGE_OUTCOMES.name: "derived_stage_events", INTERVIEWS.name: "derived_interviews",
           DEMOGRAPHICS.name: "derived_demographics"}
# Feeds every ATS module derives; the others (demographics) only when the module creates their table.
ALWAYS_DERIVED = (STAGE_OUTCOMES, INTERVIEWS)


@dataclass
class SourceResult:
    ats: str
    status: str  # not_in_use | no_tables | unchanged | derived | incomplete
    problem: str | None = None
    files: list[TableFile] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # file path -> fate -> rows
    feeds: dict[str, FeedResult] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)  # rule -> rows
    notes: dict[str, int] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)  # feed -> events (responses) derived

    def total(self, fate: str) -> int:
        return sum(c.get(fate, 0) for c in self.counts.values())


def ats_module(ats: str) -> ModuleType:
    if ats not in ATS_NAMES:
        raise ValueError(f"unknown ATS {ats!r}")
    return importlib.import_module(f"funnel.sources.{ats}")


def fingerprint(files: list[TableFile], mapping: SourceMapping, config: Config) -> str:
    """What a derivation depends on: the files' contents, the mapping, and what it maps to."""
    basis = {
        "files": sorted((f.path, f.content_hash) for f in files),
        "mapping": mapping.fingerprint(),
        "stages": list(config.stages),
        "roles": {name: list(role.pipeline) for name, role in config.roles.items()},
        "skills": list(config.skills),
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def _hash_files(conn: duckdb.DuckDBPyConnection, ats: str, files: list[TableFile]) -> None:
    """Each file's sha256, its size and mtime; a file untouched since it was hashed is not read."""
    known = {path: (size, mtime, digest) for path, size, mtime, digest in conn.execute(
        "SELECT path, size_bytes, modified_at, content_hash FROM landing_files WHERE feed = ? ORDER BY processed_at",
        [ats]).fetchall()}
    for f in files:
        try:
            f.size, f.modified_at = _mtime(f.file)
            hit = known.get(f.path)
            f.content_hash = hit[2] if hit and hit[:2] == (f.size, f.modified_at) else file_sha256(f.file)
        except OSError as exc:
            f.problem = f"cannot be read: {exc.strerror or exc}"


def _check_tables(conn: duckdb.DuckDBPyConnection, module: ModuleType, loaded: LoadedTables) -> str | None:
    """What is missing for a derivation (tables, columns), or None; creates the optional ones empty."""
    for alias, table in getattr(module, "TABLE_ALIASES", {}).items():
        # A table synced under the connector's other name (Airbyte's plural streams) is read as the table.
        if loaded.has(alias) and not loaded.has(table):
            conn.execute(f'ALTER TABLE temp."ats_{alias}" RENAME TO "ats_{table}"')
            loaded.tables[table] = loaded.tables.pop(alias)
    problems = []
    for table, columns in module.REQUIRED_TABLES.items():
        if not loaded.has(table):
            problems.append(f"no {table} table")
            continue
        have = {c for (c,) in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = 'temp'",
            [f"ats_{table}"]).fetchall()}
        missing = [c for c in columns if c not in have]
        if missing:
            problems.append(f"{table} lacks column(s) {', '.join(missing)}")
    if problems:
        return "; ".join(problems)
    for table, columns in module.OPTIONAL_TABLES.items():
        if loaded.has(table):
            ensure_columns(conn, table, columns)
        else:
            create_empty(conn, table, columns)
    for table, columns in getattr(module, "OPTIONAL_COLUMNS", {}).items():
        ensure_columns(conn, table, columns)
    return None


def derive(conn: duckdb.DuckDBPyConnection, source_dir: Path, ats: str, mapping: SourceMapping, config: Config,
           files: list[TableFile] | None = None) -> tuple[LoadedTables, str | None, dict[str, int]]:
    """Load the tables and derive `derived_stage_events`, `derived_interviews` and `excluded_rows`
    (temporary tables; and `derived_demographics` when the module derives self-identification).
    Returns the loaded tables, the problem that stopped the derivation (or None) and the ATS module's
    notes."""
    module = ats_module(ats)
    # What an earlier derivation on this connection left (one that failed half-way) must not be taken for
    # this ATS's: derived_demographics above all, whose presence says the module derives responses.
    drop_work_tables(conn)
    loaded = load_tables(conn, files if files is not None else discover_tables(source_dir), config.encoding)
    problem = _check_tables(conn, module, loaded)
    if problem:
        return loaded, problem, {}
    notes = module.derive(conn, mapping, config)
    return loaded, None, notes


def drop_work_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """The temporary tables of a derivation: the loaded ATS tables, the derived events (and responses), the
    row fates."""
    work = [*DERIVED.values(), "excluded_rows", *(f"row_fates_{feed}" for feed in DERIVED)]
    names = [name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp' AND (table_name LIKE 'ats\\_%' ESCAPE '\\'"
        " OR list_contains(?, table_name))", [work]).fetchall()]
    for name in names:
        conn.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def derived_feeds(conn: duckdb.DuckDBPyConnection) -> list[Feed]:
    """The feeds a derivation gave: stage events and interviews always, demographics when the ATS
    module created `derived_demographics`."""
    have = {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp'").fetchall()}
    return [*ALWAYS_DERIVED, *(feed for feed in (DEMOGRAPHICS,) if DERIVED[feed.name] in have)]


def _part(conn: duckdb.DuckDBPyConnection, table: str, feed: Feed, file_index: int, seq: int) -> pl.DataFrame:
    """The events one table file derived at one position (`seq`) of its rows, as ingestion reads a file."""
    columns = [c for c in feed.columns]
    frame = conn.sql(
        f"SELECT __line, __context, {', '.join(columns)} FROM {table}"
        " WHERE __file_index = ? AND __seq = ? ORDER BY __line", params=[file_index, seq]).pl()
    frame = frame.with_columns([pl.col(c).cast(pl.String) for c in columns])
    # What a quarantined event keeps as its raw values: the event as derived (the table row is in the file).
    return frame.with_columns(pl.struct(columns).alias("__raw"))


def _ingest_feed(conn: duckdb.DuckDBPyConnection, ats: str, feed: Feed, files: list[TableFile], config: Config,
                 batch_id: str) -> tuple[FeedResult, int]:
    """Hand one feed's derived events to the ingestion; leaves `row_fates_<feed>` (file index, line, fate)."""
    table = DERIVED[feed.name]
    file_names = [f"{ats}/{f.path}" for f in files for _ in range(EVENTS_PER_ROW)]
    result = FeedResult(feed.name)
    derived = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    parts = conn.execute(f"SELECT DISTINCT __file_index, __seq FROM {table} ORDER BY ALL").fetchall()
    with Batch(conn, feed, config) as batch:
        loaded: dict[int, FileResult] = {}
        for file_index, seq in parts:
            if seq >= EVENTS_PER_ROW:
                raise ValueError(f"{ats}: a row derived more than {EVENTS_PER_ROW} {feed.name} events")
            order = file_index * EVENTS_PER_ROW + seq
            frame = _part(conn, table, feed, file_index, seq)
            batch.add(order, frame)
            loaded[order] = FileResult(feed.name, file_names[order], "ingested", rows_read=frame.height)
        batch.settle(file_names, loaded, result)
        result.files = list(loaded.values())
        # A row's fate: quarantined when any of its events is (now, or as before); accepted when its events
        # are held from this very row (stored now or by an earlier derivation); else a duplicate of another's.
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE "row_fates_{feed.name}" AS
            SELECT b.__file_order // {EVENTS_PER_ROW} AS __file_index, b.__line,
                CASE WHEN bool_or(b.reason IS NOT NULL) THEN 'quarantined'
                     WHEN bool_or(b.status = 'accepted'
                                  OR (r.source_file = list_extract(?, b.__file_order + 1) AND r.source_line = b.__line))
                     THEN 'accepted'
                     ELSE 'duplicate' END AS fate
            FROM batch_rows AS b
            LEFT JOIN {RECORD_TABLES[feed.name]} AS r ON b.status = 'duplicate' AND r.record_id = b.record_id
            GROUP BY ALL
            """,
            [file_names],
        )
        conn.execute("BEGIN TRANSACTION")
        try:
            batch.store(batch_id, file_names)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result, derived


def _row_counts(conn: duckdb.DuckDBPyConnection, files: list[TableFile], feeds: list[Feed]) -> dict[int, dict[str, int]]:
    """file index -> {accepted, duplicate, quarantined, excluded}: every row read, exactly once (the
    row fates of every feed ingested, and the rows a rule left out)."""
    fates_of_feeds = "\n".join(f'SELECT __file_index, __line, fate FROM "row_fates_{feed.name}" UNION ALL'
                                for feed in feeds)
    fates = conn.execute(
        f"""
        WITH fates AS (
            {fates_of_feeds}
            SELECT __file_index, __line, 'excluded' FROM excluded_rows
        ),
        per_row AS (
            SELECT __file_index, __line,
                CASE WHEN bool_or(fate = 'excluded') THEN 'excluded'
                     WHEN bool_or(fate = 'quarantined') THEN 'quarantined'
                     WHEN bool_or(fate = 'accepted') THEN 'accepted'
                     ELSE 'duplicate' END AS fate
            FROM fates GROUP BY ALL
        )
        SELECT __file_index, fate, count(*) FROM per_row GROUP BY ALL
        """
    ).fetchall()
    counts: dict[int, dict[str, int]] = {i: {} for i in range(len(files))}
    for index, fate, n in fates:
        counts[index][fate] = n
    for index, f in enumerate(files):
        c = counts[index]
        for fate in ("duplicate", "quarantined", "excluded"):
            c.setdefault(fate, 0)
        c["accepted"] = f.rows - c["duplicate"] - c["quarantined"] - c["excluded"]
    return counts


def _record(conn: duckdb.DuckDBPyConnection, ats: str, files: list[TableFile], counts: dict[int, dict[str, int]],
            problem: str | None, batch_id: str, now: datetime) -> None:
    """landing_files: one row per table file and content, replaced by each derivation from it."""
    rows = []
    for index, f in enumerate(files):
        c = counts.get(index, {})
        status = "rejected" if (f.problem or problem) else "ingested"
        rows.append((ats, f.path, f.content_hash or hashlib.sha256(b"").hexdigest(), f.size, f.modified_at, status,
                     f.problem or problem, f.rows, c.get("accepted", 0), c.get("duplicate", 0),
                     c.get("quarantined", 0), batch_id, now, f.encoding, c.get("excluded", 0)))
    if rows:
        conn.executemany(
            "INSERT OR REPLACE INTO landing_files (feed, path, content_hash, size_bytes, modified_at, status, problem,"
            " rows_read, rows_accepted, rows_duplicate, rows_quarantined, batch_id, processed_at, encoding,"
            " rows_excluded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def ingest_source(conn: duckdb.DuckDBPyConnection, source_dir: Path, ats: str, config: Config, batch_id: str,
                  progress: Progress | None = None) -> SourceResult:
    """Derive and ingest one ATS's events when its tables or mapping changed since the last derivation."""
    say = progress or (lambda _msg: None)
    mapping = config.sources.get(ats)
    files = discover_tables(source_dir)
    if mapping is None:
        if files:
            raise FunnelError(f"{source_dir} holds {len(files)} file(s) but funnel.yaml has no sources.{ats} block "
                              f"mapping its jobs and stages: `funnel sources suggest` prints one to start from")
        return SourceResult(ats, "not_in_use")
    if not files:
        return SourceResult(ats, "no_tables", problem=f"no tables under {source_dir}")
    _hash_files(conn, ats, files)
    print_ = fingerprint(files, mapping, config)
    # fetchall: a fetchone that returns a row leaves the result unfinished, and DuckDB then refuses register().
    last = next(iter(conn.execute("SELECT fingerprint FROM source_derivations WHERE source = ?"
                                  " ORDER BY derived_at DESC LIMIT 1", [ats]).fetchall()), None)
    if last and last[0] == print_:
        return SourceResult(ats, "unchanged", files=files)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    loaded, problem, notes = derive(conn, source_dir, ats, mapping, config, files)
    result = SourceResult(ats, "derived", problem=problem, files=files, notes=notes)
    for f in files:
        if f.problem:
            say(f"{ats}: {f.path}: rejected: {f.problem}")
    if problem:
        # Nothing derived, nothing lost: the files stay, and the next run tries again.
        say(f"{ats}: cannot derive events: {problem}")
        result.status = "incomplete"
        conn.execute("BEGIN TRANSACTION")
        _record(conn, ats, files, {}, problem, batch_id, now)
        conn.execute("COMMIT")
        drop_work_tables(conn)
        return result
    feeds = derived_feeds(conn)
    for feed in feeds:
        result.feeds[feed.name], result.derived[feed.name] = _ingest_feed(conn, ats, feed, files, config, batch_id)
    result.excluded = dict(conn.execute(
        "SELECT rule, count(DISTINCT (__file_index, __line)) FROM excluded_rows GROUP BY rule ORDER BY rule").fetchall())
    counts = _row_counts(conn, files, feeds)
    result.counts = {f.path: counts[i] for i, f in enumerate(files)}
    conn.execute("BEGIN TRANSACTION")
    try:
        _record(conn, ats, files, counts, None, batch_id, now)
        # Columns named: a working database made before `demographics` was added has it last all the same.
        conn.execute(
            "INSERT INTO source_derivations (source, fingerprint, batch_id, derived_at, stage_events, interviews,"
            " excluded, notes, demographics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ats, print_, batch_id, now, result.derived[STAGE_OUTCOMES.name], result.derived[INTERVIEWS.name],
             json.dumps(result.excluded), json.dumps(notes), result.derived.get(DEMOGRAPHICS.name)],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    drop_work_tables(conn)
    say(f"{ats}: {len(files)} table file(s): {result.total('accepted'):,} rows accepted, "
        f"{result.total('duplicate'):,} duplicates, {result.total('quarantined'):,} quarantined, "
        f"{result.total('excluded'):,} excluded")
    return result
