"""An ATS's synced tables: found under landing/<ats>/ and loaded into DuckDB as temporary tables.

A table is one file named after it (`application_history.csv`) or a folder named after it holding
any number of files (`application_history/part-0001.parquet`), in CSV, Parquet or JSON Lines, read
like the contract's files (encodings, separators, line numbers). Table `t` becomes the temporary
table `ats_t`: every column as text under its name lower-cased, plus `__file_index` (the file's
position in `LoadedTables.files`) and `__line` (its line in that file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from funnel.contract import FORMATS
from funnel.ingest import FileProblem, discover, read_table


@dataclass
class TableFile:
    table: str
    path: str  # relative to landing/<ats>/, '/'-separated
    file: Path
    content_hash: str = ""
    size: int = 0
    modified_at: datetime | None = None
    rows: int = 0
    encoding: str | None = None
    problem: str | None = None  # why it could not be read (the table is then missing)


@dataclass
class LoadedTables:
    files: list[TableFile] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows loaded

    def has(self, table: str) -> bool:
        return table in self.tables


def table_name(rel: str) -> str | None:
    """The table a file under landing/<ats>/ belongs to: its folder's name, or its own name without
    the extension at the top level. None for a file of an unsupported type."""
    parts = rel.split("/")
    if len(parts) > 1:
        return parts[0].lower()
    stem, dot, ext = parts[0].rpartition(".")
    return stem.lower() if dot and f".{ext.lower()}" in FORMATS else None


# A copy of the folder's `sources:` block kept beside its tables (as data/samples/<ats>/ do): not a table.
MAPPING_FILE = "sources.yaml"


def discover_tables(source_dir: Path) -> list[TableFile]:
    """Every table file, in the order of its relative path."""
    found = []
    for rel, path in discover(source_dir):
        if rel == MAPPING_FILE:
            continue
        name = table_name(rel)
        found.append(TableFile(name or "", rel, path, problem=None if name else
                               f"unsupported file type; expected one of {', '.join(sorted(FORMATS))}"))
    return found


def load_tables(conn: duckdb.DuckDBPyConnection, files: list[TableFile], encoding: str | None) -> LoadedTables:
    """Read every readable file and load each table's files into `ats_<table>`. A file that cannot be
    read gets its problem and is left out; the other files of its table still load."""
    loaded = LoadedTables(files)
    parts: dict[str, list[pl.DataFrame]] = {}
    for index, table_file in enumerate(files):
        if table_file.problem:
            continue
        try:
            frame, lines, used = read_table(table_file.file, encoding)
        except FileProblem as problem:
            table_file.problem, table_file.encoding = str(problem), problem.encoding
            continue
        table_file.rows, table_file.encoding = frame.height, used
        parts.setdefault(table_file.table, []).append(frame.with_columns(
            pl.lit(index, dtype=pl.Int32).alias("__file_index"), pl.lit(lines).alias("__line")))
    for table, frames in parts.items():
        combined = pl.concat(frames, how="diagonal")  # parts of one table may differ in columns
        conn.register("ats_frame", combined)
        conn.execute(f'CREATE OR REPLACE TEMP TABLE "ats_{table}" AS SELECT * FROM ats_frame')
        conn.unregister("ats_frame")
        loaded.tables[table] = combined.height
    return loaded


def ensure_columns(conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> None:
    """Optional columns a sync may lack (an older connector version), added as NULL text, so the
    derivation's SQL can name them."""
    have = {name for (name,) in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = 'temp'", [f"ats_{table}"]).fetchall()}
    for column in columns:
        if column not in have:
            conn.execute(f'ALTER TABLE "ats_{table}" ADD COLUMN "{column}" VARCHAR')


def create_empty(conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> None:
    """An optional table the sync does not have, empty, with the columns the derivation reads."""
    cols = ", ".join(f'"{c}" VARCHAR' for c in columns)
    conn.execute(f'CREATE OR REPLACE TEMP TABLE "ats_{table}" ({cols}, __file_index INTEGER, __line BIGINT)')
