"""Validating a table of the working database against its suite: the entry point of the suites.

    validate_mart(conn, mart, run_id)          every row of a published mart (of an incremental
                                               mart: the rows rewritten since the last publish)
    validate_records(conn, table, batch_id)    the records one run (batch) ingested
    validate_table(conn, table, spec, config)  any table, against any TableSpec

A suite is the table's rules (funnel.quality.rules) less those its declared schema guarantees:
the column types (and NOT NULL / key constraints the DDL enforces) are one outcome, read from
DuckDB's catalog; the rest are evaluated on the rows, by Great Expectations on a pandas frame
(funnel.quality.gx_engine; GX's SQL datasource over DuckDB is broken: every expectation silently
fails) or, above FUNNEL_GX_MAX_ROWS rows, as SQL in DuckDB (funnel.quality.duckdb_engine). Both
engines report the same outcomes.

`great_expectations` is imported when a frame is first validated, never
at module import.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import duckdb

from funnel.models import load_models
from funnel.quality.duckdb_engine import validate_in_duckdb
from funnel.quality.gx_engine import validate_frame
from funnel.quality.rules import (
    MART_SPECS,
    RECORD_SPECS,
    ConfigValues,
    DeclaredSchema,
    ExpectationOutcome,
    Reporting,
    Rule,
    SuiteResult,
    TableSpec,
    ident,
    referenced_columns,
    rules_for,
    schema_outcome,
    split_by_schema,
)
from funnel.quality.sql_checks import rewritten_keys
from funnel.settings import FunnelError

__all__ = ["SuiteResult", "ExpectationOutcome", "gx_max_rows", "validate_mart",
           "validate_records", "validate_table"]


def gx_max_rows() -> int:
    """Tables with more rows than this (FUNNEL_GX_MAX_ROWS, default 200,000) are validated in DuckDB:
    Great Expectations costs ~1 s per 100k rows in pandas plus the frame's memory."""
    value = os.environ.get("FUNNEL_GX_MAX_ROWS", "200000")
    try:
        return int(value)
    except ValueError:
        raise FunnelError(f"FUNNEL_GX_MAX_ROWS: {value!r} is not a whole number of rows") from None


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def validate_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    spec: TableSpec,
    config: ConfigValues,
    *,
    where: str | None = None,
    params: Sequence[Any] = (),
    suite_name: str | None = None,
    engine: str | None = None,
) -> SuiteResult:
    """Validate the rows of `table` (optionally `WHERE <where>`) against the rules of `spec`.

    The rules the table's declared schema guarantees are reported first, as one outcome
    (`rules.SCHEMA_RULE`); the others are evaluated on the rows by `engine`: "great_expectations"
    (GX on a pandas frame of the rows), "duckdb" (the same rules as SQL over the table), or None:
    GX up to `gx_max_rows()` rows, DuckDB above, where reading every row into pandas would cost
    minutes and gigabytes. Both give the same outcomes.

    Only the columns the rules read are fetched. A rule naming a column the table lacks is broken
    (GX raises on it); an invariant whose SQL does not bind is broken too.
    """
    schema = DeclaredSchema.of(conn, table)
    types = dict(schema.types)
    if not types:
        raise ValueError(f"table {table!r} does not exist in the working database")
    covered, rules = split_by_schema(rules_for(spec, config), schema)
    wanted: dict[str, None] = {}
    for rule in rules:
        if rule.sql is None:
            wanted.update(dict.fromkeys(c for c in rule.columns if c in types))
    wanted.update(dict.fromkeys(c for c in spec.key if c in types))
    filter_sql = f" WHERE {where}" if where else ""
    invariant_columns: list[str] = []
    broken: list[ExpectationOutcome] = []
    example_columns: dict[str, tuple[str, ...]] = {}
    kept_rules: list[Rule] = []
    for rule in rules:
        if rule.sql is None:
            kept_rules.append(rule)
            continue
        expr = f"(({rule.sql}) IS NOT FALSE) AS {ident(rule.columns[0])}"
        try:
            conn.execute(f"SELECT {expr} FROM {ident(table)}{filter_sql} LIMIT 0", list(params))
        except duckdb.Error as exc:
            broken.append(ExpectationOutcome(rule.description, "expect_column_values_to_be_in_set", rule.sql, False,
                                             exception=f"invariant SQL does not run: {str(exc).splitlines()[0]}"))
            continue
        kept_rules.append(rule)
        invariant_columns.append(expr)
        involved = referenced_columns(rule.sql, types)
        example_columns[rule.description] = involved
        wanted.update(dict.fromkeys(involved))
    shown_where = where
    if where and params:  # the filter with its values: for people, and for the DuckDB engine's view
        parts = where.split("?")
        shown_where = parts[0] + "".join(_literal(value) + part for value, part in zip(params, parts[1:]))
    select = ", ".join([*(ident(c) for c in wanted), *invariant_columns]) or "1 AS __row"
    if engine is None:
        rows = conn.execute(f"SELECT count(*) FROM {ident(table)}{filter_sql}", list(params)).fetchone()[0]
        engine = "great_expectations" if rows <= gx_max_rows() else "duckdb"
    reporting = Reporting(key=spec.key, table=table, where=shown_where, example_columns=example_columns,
                          broken=broken, private=spec.private)
    if engine == "duckdb":
        rows_sql = f"SELECT {select} FROM {ident(table)}{f' WHERE {shown_where}' if shown_where else ''}"
        result = validate_in_duckdb(
            conn, suite_name or table, rows_sql, kept_rules,
            types={**types, **{c: "BOOLEAN" for c in (r.columns[0] for r in kept_rules if r.sql)}}, reporting=reporting)
    elif engine == "great_expectations":
        frame = conn.execute(f"SELECT {select} FROM {ident(table)}{filter_sql}", list(params)).df()
        result = validate_frame(suite_name or table, frame, kept_rules, reporting)
    else:
        raise ValueError(f"unknown validation engine {engine!r}: great_expectations or duckdb")
    if not covered:
        return result
    return dataclasses.replace(result, outcomes=(schema_outcome(covered, schema, result.rows), *result.outcomes))


def rewritten_rows(conn: duckdb.DuckDBPyConnection, mart: str, run_id: str | None) -> tuple[str, list[Any]] | None:
    """The rows of an incremental mart (application_journeys) rewritten since the last publish, as
    (SQL condition, parameters): those of the keys `sql_checks.rewritten_keys` names. None for every
    row (the mart is not incremental, or every row may be new)."""
    model = next((m for m in load_models() if m.name == mart), None)
    if model is None or model.incremental_by is None:
        return None
    scope = rewritten_keys(conn, model.incremental_by, run_id)
    if scope is None:
        return None
    key, column = model.incremental_by, model.incremental_column
    touched, params = scope
    if column != key:  # the mart shows the key under another name: an intermediate table maps one to the other
        mapping = next(m.name for m in load_models()
                       if m.layer == "intermediate" and m.incremental_by == key and column in m.columns)
        touched = f"SELECT {column} FROM {ident(mapping)} WHERE {key} IN ({touched})"
    return f"{ident(column)} IN ({touched})", params


def validate_mart(conn: duckdb.DuckDBPyConnection, mart: str, config: ConfigValues | None = None, *,
                  engine: str | None = None, run_id: str | None = None) -> SuiteResult:
    """A published mart against its suite: every row, or for an incremental mart checked by run
    `run_id`, the rows rewritten since the last publish (`rewritten_rows`)."""
    scope = rewritten_rows(conn, mart, run_id)
    return validate_table(conn, mart, MART_SPECS[mart], config or ConfigValues.from_db(conn),
                          where=scope[0] if scope else None, params=scope[1] if scope else (),
                          suite_name=f"{mart}_suite", engine=engine)


def validate_records(
    conn: duckdb.DuckDBPyConnection, table: str, batch_id: str, config: ConfigValues | None = None, *,
    engine: str | None = None,
) -> SuiteResult:
    """The records one run (batch) ingested against the records suite; older batches are not re-read."""
    return validate_table(
        conn,
        table,
        RECORD_SPECS[table],
        config or ConfigValues.from_db(conn),
        where="batch_id = ?",
        params=[batch_id],
        suite_name=f"{table}_batch_suite",
        engine=engine,
    )
