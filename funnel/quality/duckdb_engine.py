"""The DuckDB engine: the rules of a suite evaluated as SQL over the table, in DuckDB.

funnel.quality.validation uses it above FUNNEL_GX_MAX_ROWS rows (a first run's millions of
records, one row per application), where Great Expectations in pandas would cost about a second
per 100k rows and the whole frame in memory. It reports what the GX engine reports: the same
outcomes, counts, sample values and example rows (funnel_tests/test_quality_expectations.py holds
them to it on broken data).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import duckdb

from funnel.quality.report import plain
from funnel.quality.rules import (
    EXAMPLE_ROWS,
    PARTIAL_UNEXPECTED,
    ExpectationOutcome,
    Reporting,
    Rule,
    SuiteResult,
    columns_of,
    ident,
    lists_values,
    shown_columns,
    snake,
    type_problem,
)


def _row_rule_sql(rule: Rule, types: Mapping[str, str]) -> tuple[str, str, list[Any]]:
    """(condition of an unexpected row, condition of a row the rule looks at, the condition's
    parameters) of a row-by-row rule. Raises ValueError for a rule that cannot be evaluated, as GX
    raises: a broken check."""
    kwargs = rule.kwargs
    columns = [ident(c) for c in columns_of(rule)]
    if rule.expectation == "ExpectColumnValuesToNotBeNull":
        return f"{columns[0]} IS NULL", "true", []
    if rule.expectation == "ExpectColumnValuesToBeBetween":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is None and high is None:
            raise ValueError("min_value and max_value cannot both be None")
        outside = [f"{columns[0]} < ?" for _ in [low] if low is not None] + [f"{columns[0]} > ?" for _ in [high]
                                                                             if high is not None]
        return "(" + " OR ".join(outside) + ")", f"{columns[0]} IS NOT NULL", [v for v in (low, high) if v is not None]
    if rule.expectation == "ExpectColumnValuesToBeInSet":
        return f"NOT list_contains(?, {columns[0]})", f"{columns[0]} IS NOT NULL", [list(kwargs["value_set"])]
    if rule.expectation == "ExpectColumnPairValuesAToBeGreaterThanB":
        a, b = columns
        return f"NOT ({a} {'>=' if kwargs.get('or_equal') else '>'} {b})", f"{a} IS NOT NULL AND {b} IS NOT NULL", []
    raise ValueError(f"{rule.expectation} has no SQL form")


def validate_in_duckdb(conn: duckdb.DuckDBPyConnection, suite_name: str, rows_sql: str, rules: Sequence[Rule], *,
                       types: Mapping[str, str], reporting: Reporting = Reporting()) -> SuiteResult:
    """The rules of `validate_frame`, evaluated as SQL over the rows of `rows_sql` (whose columns
    have the DuckDB `types`): one scan for every row-by-row rule, one GROUP BY per uniqueness rule.
    The counts, sample values and example rows are those GX reports (examples ordered by the key)."""
    # a view, not a table: the rows are read by each of the few queries below, never held in memory
    conn.execute(f"CREATE OR REPLACE TEMP VIEW validated_rows AS {rows_sql}")
    try:
        return _validate_rows(conn, suite_name, rules, types, reporting)
    finally:
        conn.execute("DROP VIEW IF EXISTS validated_rows")


def _validate_rows(conn: duckdb.DuckDBPyConnection, suite_name: str, rules: Sequence[Rule],
                   types: Mapping[str, str], reporting: Reporting) -> SuiteResult:
    total = conn.execute("SELECT count(*) FROM validated_rows").fetchone()[0]
    order = ", ".join(ident(c) for c in reporting.key if c in types) or "ALL"
    counted: dict[int, tuple[str, list[Any]]] = {}  # rule index -> (where an unexpected row is, its parameters)
    aggregates: list[str] = []
    aggregate_params: list[Any] = []
    outcomes: dict[int, ExpectationOutcome] = {}

    def broken_rule(index: int, rule: Rule, problem: str) -> None:
        outcomes[index] = ExpectationOutcome(rule.description, snake(rule.expectation), rule.column_label, False,
                                             exception=problem)

    for index, rule in enumerate(rules):
        missing = [c for c in columns_of(rule) if c not in types]
        if missing:
            broken_rule(index, rule, f'ValueError: column "{missing[0]}" does not exist in the table')
        elif rule.expectation == "ExpectColumnValuesToBeInTypeList":  # judged from the table's column types
            try:
                problem = type_problem(rule, types)
            except ValueError as exc:
                broken_rule(index, rule, f"ValueError: {exc}")
                continue
            column = rule.kwargs["column"]
            outcomes[index] = ExpectationOutcome(rule.description, snake(rule.expectation), rule.column_label,
                                                 problem is None, element_count=total, observed_value=types[column])
        elif rule.expectation in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"):
            columns = ", ".join(ident(c) for c in columns_of(rule))
            present = " OR ".join(f"{ident(c)} IS NOT NULL" for c in columns_of(rule))
            counted[index] = (f"({present}) AND ({columns}) IN (SELECT ({columns}) FROM validated_rows "
                              f"GROUP BY ALL HAVING count(*) > 1)", [])
            aggregates += [f"count(*) FILTER (WHERE {counted[index][0]})", f"count(*) FILTER (WHERE {present})"]
        else:
            try:
                condition, domain, condition_params = _row_rule_sql(rule, types)
            except ValueError as exc:
                broken_rule(index, rule, f"ValueError: {exc}")
                continue
            counted[index] = (f"{domain} AND {condition}", condition_params)
            aggregates += [f"count(*) FILTER (WHERE {domain} AND {condition})", f"count(*) FILTER (WHERE {domain})"]
            aggregate_params += condition_params
    counts = conn.execute(f"SELECT {', '.join(aggregates) or '0'} FROM validated_rows", aggregate_params).fetchone()
    for n, (index, (condition, condition_params)) in enumerate(counted.items()):
        rule = rules[index]
        unexpected, looked_at = counts[2 * n], counts[2 * n + 1]
        partial: tuple[Any, ...] = ()
        examples: tuple[dict, ...] = ()
        if unexpected:
            picked = columns_of(rule)
            shown = [c for c in shown_columns(rule, reporting) if c in types]
            fetched = conn.execute(
                f"SELECT {', '.join(ident(c) for c in (*picked, *shown))} FROM validated_rows WHERE {condition} "
                f"ORDER BY {order} LIMIT {PARTIAL_UNEXPECTED}", condition_params).fetchall()
            width = len(picked)
            # as GX lists them: a value, a pair as [A, B], a compound key as {column: value}
            compound = rule.expectation == "ExpectCompoundColumnsToBeUnique"
            partial = tuple(plain(row[0]) if width == 1 else plain(dict(zip(picked, row)) if compound else
                                                                    list(row[:width])) for row in fetched
                            ) if lists_values(rule, reporting.private) else ()
            examples = tuple({c: plain(v) for c, v in zip(shown, row[width:])} for row in fetched[:EXAMPLE_ROWS])
        outcomes[index] = ExpectationOutcome(
            description=rule.description,
            expectation=snake(rule.expectation),
            column=rule.sql if rule.sql is not None else rule.column_label,
            success=unexpected == 0,
            element_count=total,
            unexpected_count=unexpected,
            unexpected_percent=100.0 * unexpected / looked_at if looked_at else 0.0,
            partial_unexpected=partial,
            example_rows=examples,
        )
    return reporting.result(suite_name, total, outcomes, "duckdb")
