"""Building the SQL models (funnel.models) on the working database: in full, or incrementally.

A full build runs every selected model's `CREATE OR REPLACE`. An incremental build leaves the
intermediate tables (and the marts declared incremental: application_journeys) in place and
rebuilds only the rows of the keys (applications, candidates) that the record batches added since
the last build touched; tables that depend on the whole dataset (team matching's as-of time moves
with every batch) and the other marts are rebuilt from there. An incremental mart's rows are
replaced in place, so publishing puts its copy in the mart's order (`Model.published_order`). Either
way the tables hold the same rows: `funnel run --full-refresh` is the reference, and
funnel_tests/test_build_incremental.py holds the incremental build to it after random sequences of
batches.

How the touched rows are rebuilt: within one transaction, temporary views named like the record
tables (and temporary tables named like the incremental models already rebuilt) shadow the real
ones, holding only the touched keys' rows. DuckDB resolves an unqualified name to the temporary
object first, so each model's own SQL, run unchanged, computes exactly the touched keys' rows, which
then replace the old ones in the real table.

The working database remembers what these tables were built from (`model_builds`, a log of
builds: a fingerprint of the models' SQL, the macros, the configuration and the key;
`model_build_batches`: the record batches they include). A different fingerprint, a missing table,
a build of only some of them or one that failed half-way, or more touched keys than
`INCREMENTAL_MAX_SHARE` of them all makes the next build a full one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

import duckdb

from funnel.keys import IPAD_VARIABLE, install_key
from funnel.metrics import create_sql_macros, sql_macros
from funnel.models import CONFIG_TABLES, INCREMENTAL_KEYS, Model, load_models
from funnel.warehouse import create_schema, write_config_tables

# Past this share of an incremental table's keys touched, rebuilding the whole table is cheaper.
INCREMENTAL_MAX_SHARE = 0.3
# Bumped when the way tables are built changes in a way the fingerprint cannot see.
BUILD_VERSION = "1"

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_builds (  -- one row per build, newest last
    fingerprint VARCHAR,            -- sha256 of the SQL, the macros, the configuration and the key; NULL: forgotten
    built_at    TIMESTAMP NOT NULL,
    mode        VARCHAR NOT NULL    -- full | incremental | forgotten (a failed full build, or only some tables)
);
CREATE TABLE IF NOT EXISTS model_build_batches (
    record_table VARCHAR NOT NULL,
    batch_id     VARCHAR NOT NULL
);
"""


@dataclass
class BuildReport:
    """What a build did: `mode` full, incremental or selected (some intermediate tables only, in full),
    or "none" (no intermediate table selected); `why` a full build was needed; the number of keys
    each incremental key column had touched; the built models' row counts."""

    mode: str = "none"
    why: str = ""
    touched: dict[str, int] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    incremental_marts: tuple[str, ...] = ()

    def _tables(self) -> str:
        return "intermediate tables" + "".join(f" and {name}" for name in self.incremental_marts)

    def summary(self) -> str:
        if self.mode == "incremental":
            keys = ", ".join(f"{n:,} {key.removesuffix('_id')}s" for key, n in self.touched.items())
            return f"{self._tables()} updated incrementally ({keys})"
        if self.mode == "full":
            return f"{self._tables()} rebuilt in full ({self.why})"
        if self.mode == "selected":
            return "selected intermediate tables rebuilt in full; the next run rebuilds all of them"
        return "no intermediate table selected"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_model(conn: duckdb.DuckDBPyConnection, model: Model, *, comments: bool = True) -> None:
    """(Re)build one table or view in full and attach its comments (from schema.yml)."""
    table = _ident(model.name)
    kind = model.materialized.upper()
    # a working database from an older version may hold the model as the other kind
    other = conn.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $1 AND database_name = current_database() "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $1 AND database_name = current_database()",
        [model.name],
    ).fetchall()
    statements = [f"DROP {found} {table}" for (found,) in other if found != kind]
    statements.append(f"CREATE OR REPLACE {kind} {table} AS\n{model.sql}")
    if comments:
        statements.append(f"COMMENT ON {kind} {table} IS {_quote(model.description)}")
        statements.extend(
            f"COMMENT ON COLUMN {table}.{_ident(column)} IS {_quote(description)}"
            for column, description in model.columns.items()
        )
    conn.execute(";\n".join(statements))


def row_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchall()[0][0]


def fingerprint(conn: duckdb.DuckDBPyConnection, models: Iterable[Model]) -> str:
    """What the intermediate tables (and incremental marts) are a function of, besides the records:
    the staging, intermediate and incremental SQL, the macros, the configuration tables and the pseudonymization key (as a MAC
    of a fixed text under it: the key itself is in no table)."""
    digest = hashlib.sha256(f"build {BUILD_VERSION}\n".encode())
    for model in models:
        if model.layer in ("staging", "intermediate") or model.incremental_by:
            digest.update(f"{model.name}\n{model.incremental_by}\n{model.sql}\n".encode())
    for statement in sql_macros():
        digest.update(statement.encode() + b"\n")
    for table in CONFIG_TABLES:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        digest.update(f"{table} {rows!r}\n".encode())
    key = conn.execute(f"SELECT CASE WHEN getvariable('{IPAD_VARIABLE}') IS NOT NULL "
                       "THEN keyed_hash('funnel: the key the tables were built with') END").fetchall()[0][0]
    digest.update(f"key {key}\n".encode())
    return digest.hexdigest()


def _record_batches(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    return {
        table: {b for (b,) in conn.execute(f"SELECT DISTINCT batch_id FROM {table}").fetchall()}
        for table in dict.fromkeys(INCREMENTAL_KEYS.values())
    }


def _state(conn: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None, dict[str, set[str]]]:
    """The newest build's fingerprint and mode (None, None: no build yet), and the batches it included."""
    rows = conn.execute("SELECT fingerprint, mode FROM model_builds ORDER BY built_at DESC, rowid DESC LIMIT 1"
                        ).fetchall()
    batches: dict[str, set[str]] = {}
    for table, batch in conn.execute("SELECT record_table, batch_id FROM model_build_batches").fetchall():
        batches.setdefault(table, set()).add(batch)
    return (rows[0] if rows else (None, None)) + (batches,)


def _log_build(conn: duckdb.DuckDBPyConnection, print_: str | None, mode: str) -> None:
    conn.execute("INSERT INTO model_builds VALUES (?, ?, ?)",
                 [print_, datetime.now(timezone.utc).replace(tzinfo=None), mode])


def _write_state(conn: duckdb.DuckDBPyConnection, print_: str, mode: str, batches: dict[str, set[str]]) -> None:
    _log_build(conn, print_, mode)
    conn.execute("DELETE FROM model_build_batches")
    rows = [(table, batch) for table, ids in batches.items() for batch in sorted(ids)]
    if rows:
        conn.executemany("INSERT INTO model_build_batches VALUES (?, ?)", rows)


def _forget_state(conn: duckdb.DuckDBPyConnection) -> None:
    _log_build(conn, None, "forgotten")
    conn.execute("DELETE FROM model_build_batches")


def last_rebuild(conn: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the incremental tables were last rebuilt in full (or some of them, or a build failed
    half-way): every row since may be new. None when the database has no build log."""
    if not conn.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'model_builds' "
                        "AND database_name = current_database()").fetchall():
        return None
    return conn.execute("SELECT max(built_at) FROM model_builds WHERE mode <> 'incremental'").fetchall()[0][0]


def _existing_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()}


def _touched_keys(conn: duckdb.DuckDBPyConnection, new_batches: dict[str, set[str]]) -> dict[str, int]:
    """Creates temp.touched_<key> for every incremental key; returns how many keys each holds."""
    counts = {}
    for key, table in INCREMENTAL_KEYS.items():
        batches = sorted(new_batches.get(table, ()))
        conn.execute(f"CREATE OR REPLACE TEMP TABLE touched_{key} ({key} VARCHAR)")
        if batches:
            conn.execute(
                f"INSERT INTO temp.touched_{key} SELECT DISTINCT {key} FROM {table} "
                f"WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))",
                [batches],
            )
        counts[key] = conn.execute(f"SELECT count(*) FROM temp.touched_{key}").fetchall()[0][0]
    return counts


def _drop_touched(conn: duckdb.DuckDBPyConnection) -> None:
    for key in INCREMENTAL_KEYS:
        conn.execute(f"DROP TABLE IF EXISTS temp.touched_{key}")


def _too_many(conn: duckdb.DuckDBPyConnection, models: list[Model], touched: dict[str, int]) -> str | None:
    """Why rebuilding in full is cheaper, if it is: the first model of each key has one row per key."""
    for key, n in touched.items():
        first = next((m for m in models if m.incremental_by == key), None)
        if first is None or not n:
            continue
        total = row_count(conn, first.name)
        if n > INCREMENTAL_MAX_SHARE * max(total, 1):
            return f"{n:,} of {total:,} {key} values touched, more than {INCREMENTAL_MAX_SHARE:.0%}"
    return None


def _update_incrementally(conn: duckdb.DuckDBPyConnection, models: list[Model], touched: dict[str, int]) -> None:
    """Replace the touched keys' rows of every incremental model, within the caller's transaction
    (which, if this fails, rolls back the temporary objects too)."""
    database = _ident(conn.execute("SELECT current_database()").fetchall()[0][0])
    shadows: list[str] = []
    for key, table in INCREMENTAL_KEYS.items():
        if touched[key]:
            conn.execute(
                f"CREATE TEMP VIEW {table} AS SELECT * FROM {database}.main.{table} "
                f"WHERE {key} IN (SELECT {key} FROM temp.touched_{key})"
            )
            shadows.append(f"DROP VIEW temp.main.{table}")
    for model in models:
        key = model.incremental_by
        if key is None or not touched[key]:
            continue
        name = _ident(model.name)
        conn.execute(f"CREATE TEMP TABLE {name} AS\n{model.sql}")
        shadows.append(f"DROP TABLE temp.main.{name}")
        column = model.incremental_column
        if column == key:
            stale = f"SELECT {key} FROM temp.touched_{key}"
        else:  # the table shows the key under another name (a published mart): its new rows name them
            stale = f"SELECT {column} FROM temp.main.{name}"
        conn.execute(f"DELETE FROM {database}.main.{name} WHERE {column} IN ({stale})")
        conn.execute(f"INSERT INTO {database}.main.{name} SELECT * FROM temp.main.{name}")
    for statement in reversed(shadows):
        conn.execute(statement)


def build_models(
    conn: duckdb.DuckDBPyConnection,
    names: Iterable[str] | None = None,
    *,
    comments: bool = True,
    incremental: bool = True,
) -> BuildReport:
    """Build the models named (every model by default), in dependency order, on `conn`, whose
    config_* tables must be in place. The intermediate tables and the incremental marts are updated
    incrementally when every one of them is selected and the working database's build state allows it."""
    create_sql_macros(conn)
    conn.execute(STATE_SCHEMA)
    models = load_models()
    wanted = set(names) if names is not None else {m.name for m in models}
    # Built together: the intermediate tables, and the marts that are incremental too.
    family = [m for m in models if m.layer == "intermediate" or m.incremental_by]
    report = BuildReport(incremental_marts=tuple(m.name for m in family if m.layer == "marts"))

    for model in models:
        if model.layer == "staging" and model.name in wanted:
            build_model(conn, model, comments=comments)

    selected = [m for m in family if m.name in wanted]
    if selected and len(selected) < len(family):
        _forget_state(conn)
        for model in selected:
            build_model(conn, model, comments=comments)
        report.mode = "selected"
    elif selected:
        _build_intermediate(conn, family, report, comments=comments, incremental=incremental)

    for model in models:
        if model.name in wanted:
            if model.layer == "marts" and model not in family:
                build_model(conn, model, comments=comments)
            report.row_counts[model.name] = row_count(conn, model.name)
    return report


def _build_intermediate(conn: duckdb.DuckDBPyConnection, models: list[Model], report: BuildReport, *,
                        comments: bool, incremental: bool) -> None:
    print_ = fingerprint(conn, load_models())
    batches = _record_batches(conn)
    built_print, built_mode, built_batches = _state(conn)
    missing = [m.name for m in models if m.name not in _existing_tables(conn)]
    why = ("asked for" if not incremental else "first build" if built_mode is None
           else "the last build built only some of the tables, or failed" if built_mode == "forgotten"
           else "a table is missing: " + ", ".join(missing) if missing
           else "the SQL, the configuration or the key changed" if built_print != print_ else "")
    if not why:
        new_batches = {table: ids - built_batches.get(table, set()) for table, ids in batches.items()}
        gone = {table for table, ids in built_batches.items() if ids - batches.get(table, set())}
        if gone:
            why = "records were removed: " + ", ".join(sorted(gone))
        else:
            conn.execute("BEGIN TRANSACTION")
            try:
                touched = _touched_keys(conn, new_batches)
                why = _too_many(conn, models, touched) or ""
                if not why:
                    _update_incrementally(conn, models, touched)
                    for model in models:
                        if model.incremental_by is None:
                            build_model(conn, model, comments=comments)
                    _write_state(conn, print_, "incremental", batches)
                    report.mode, report.touched = "incremental", touched
                _drop_touched(conn)
                conn.execute("COMMIT" if not why else "ROLLBACK")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if not why:
                return
    # In full: forget the state first, so that a build that fails half-way is followed by a full one.
    _forget_state(conn)
    for model in models:
        build_model(conn, model, comments=comments)
    _write_state(conn, print_, "full", batches)
    report.mode, report.why = "full", why


def build_all(
    conn: duckdb.DuckDBPyConnection,
    config=None,
    *,
    only: Iterable[str] | None = None,
    comments: bool = True,
    key_secret: bytes | None = None,
    incremental: bool = True,
) -> dict[str, int]:
    """Build every model (or those named in `only`, in dependency order) on `conn`, without Dagster
    (tests, benchmarks).

    With a config, its config_* tables are (re)written first. `comments=False` skips the
    COMMENT ON statements (quicker; for tests that only look at values). `key_secret`: the secret
    the published keys are keyed with (funnel.keys), unless the connection already has one
    loaded; the pseudonymous marts fail without it. Returns row counts.
    """
    conn.execute("SET TimeZone = 'UTC'")
    create_schema(conn)
    if key_secret is not None:
        install_key(conn, key_secret)
    if config is not None:
        write_config_tables(conn, config)
    return build_models(conn, only, comments=comments, incremental=incremental).row_counts
