"""Set-based quality checks, in DuckDB SQL over the working database.

Each check returns a `SqlCheckResult`: passed, how many rows/keys fail, example failing rows
(dicts), a description of the rule, the severity a failure has (ERROR blocks publishing, WARN
does not), a few numbers for the check's metadata, and the SQL that found the failures.

Checks:
    unique_record_ids(conn, table, run)  no record id of the run's batch twice in a records table (stage outcomes,
                                         interviews, demographics)
    one_role_per_application(conn, run)  every application the run's batch touched names one role in its records
    mart_rows_in_config(conn, mart)      every mart row's role / stage exists in config_role_stages / config_stages
    single_terminal_outcome(conn)        no application counted at two terminal outcomes at one stage
    reconcile(conn, mart)                row counts and sums that must match between records and marts
    quarantine_share(conn, feed)         the share of the feed's newest batch's rows quarantined (WARN / ERROR)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import duckdb

from funnel.build import last_rebuild
from funnel.contract import DEMOGRAPHIC_CATEGORIES, FEEDS
from funnel.ingest import RECORD_TABLES
from funnel.models import INCREMENTAL_KEYS
from funnel.quality.report import plain

EXAMPLE_ROWS = 20
TERMINAL_OUTCOMES = ("passed", "failed", "withdrew")


@dataclass(frozen=True)
class SqlCheckResult:
    name: str
    passed: bool
    failing_count: int
    examples: list[dict]
    description: str
    severity: str = "ERROR"  # what a failure means: ERROR (blocks publishing) or WARN
    metrics: dict[str, Any] = field(default_factory=dict)
    sql: str = ""

    @property
    def summary(self) -> str:
        if self.passed:
            return f"passed: {self.description}"
        return f"{self.severity}: {self.failing_count:,} failing - {self.description}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def failing_rows(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = (), limit: int = EXAMPLE_ROWS
) -> tuple[int, list[dict]]:
    """(number of rows `sql` returns, the first `limit` of them as dicts) - in one query."""
    rel = conn.execute(
        f"SELECT *, count(*) OVER () AS __failing FROM ({sql}) AS failing LIMIT {int(limit)}", list(params)
    )
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()
    if not rows:
        return 0, []
    total = rows[0][-1]
    return int(total), [{n: plain(v) for n, v in zip(names[:-1], row[:-1])} for row in rows]


def _result(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    description: str,
    sql: str,
    params: Sequence[Any] = (),
    *,
    severity: str = "ERROR",
    metrics: Mapping[str, Any] | None = None,
) -> SqlCheckResult:
    failing, examples = failing_rows(conn, sql, params)
    return SqlCheckResult(name, failing == 0, failing, examples, description, severity, dict(metrics or {}), sql.strip())


def _count(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> int:
    return int(conn.execute(sql, list(params)).fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Records


def _has_publish_log(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the working database has a publish_log (publishing creates it)."""
    return bool(_count(conn, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'publish_log'"
                             " AND schema_name = current_schema() AND database_name = current_database()"))


def _published_until(conn: duckdb.DuckDBPyConnection, table: str) -> Any:
    """When the newest row of `table` that a published run ingested was ingested (None: no run
    published any). A run publishes only when its blocking checks passed, and they ran after its
    ingestion: every row ingested until then was checked by them."""
    if not _has_publish_log(conn):
        return None
    return conn.execute(f"SELECT max(ingested_at) FROM {_ident(table)} WHERE batch_id IN "
                        "(SELECT run_id FROM publish_log)").fetchall()[0][0]


def changed_rows(conn: duckdb.DuckDBPyConnection, table: str, batch_id: str | None) -> tuple[str, list[Any], str]:
    """The rows of a records table a check of run `batch_id` reads: (an SQL condition, its parameters,
    the rows in words).

    The batch's own rows, and those of every batch ingested after the newest one a published run
    ingested: a batch whose run was blocked stays under check until a run publishes, so a problem
    it brought keeps blocking as it did when every check read the whole table. No batch_id, or
    no published run yet (a first run): every row.
    """
    if batch_id is None:
        return "true", [], "all batches"
    published = _published_until(conn, table)
    if published is None:
        return "true", [], "all batches (no run has published yet)"
    return ("(batch_id = ? OR ingested_at > ?)", [batch_id, published],
            f"batch {batch_id} and any other batch ingested since the last published one")


def rewritten_keys(conn: duckdb.DuckDBPyConnection, key: str, run_id: str | None) -> tuple[str, list[Any]] | None:
    """The keys (application_id, candidate_id) whose rows of the incremental tables (funnel.build) were
    rewritten since the last publish, as a subquery and its parameters: the keys of the records
    `changed_rows` reads. None, for every row: no run id, nothing published yet, or the tables were
    rebuilt in full (or some of them) since the last publish. Every other row was checked when it was
    written, by a run that then published."""
    if run_id is None:
        return None
    rebuilt = last_rebuild(conn)
    published = (conn.execute("SELECT max(published_at) FROM publish_log").fetchall()[0][0]
                 if _has_publish_log(conn) else None)
    if rebuilt is None or published is None or rebuilt >= published:
        return None
    source = INCREMENTAL_KEYS[key]
    condition, params, _ = changed_rows(conn, source, run_id)
    return f"SELECT {key} FROM {source} WHERE {condition}", params


def _sharing_with_changed(table: str, column: str, where: str) -> str:
    """A SEMI JOIN that keeps the rows of `table` whose `column` value a changed row (`where`) has;
    nothing when every row is read."""
    if where == "true":
        return ""
    return f"SEMI JOIN (SELECT DISTINCT {column} FROM {_ident(table)} WHERE {where}) AS changed USING ({column})"


def unique_record_ids(conn: duckdb.DuckDBPyConnection, table: str, batch_id: str | None = None) -> SqlCheckResult:
    """No record id of the batch (see `changed_rows`: with no batch_id, of any batch) appears twice
    in a records table (all batches): a new id is compared with the stored ones, not every id with
    every other."""
    if table not in RECORD_TABLES.values():
        raise ValueError(f"not a records table: {table!r}")
    where, params, scope = changed_rows(conn, table, batch_id)
    # the repeated ids first, then their details: lists built for every id would cost seconds per million
    checked = _sharing_with_changed(table, "record_id", where)
    sql = f"""
        WITH repeated AS (SELECT record_id FROM {_ident(table)} {checked} GROUP BY record_id HAVING count(*) > 1)
        SELECT record_id, count(*) AS records,
               list(source_file || ':' || source_line ORDER BY source_file, source_line)[1:5] AS read_from,
               list(DISTINCT batch_id ORDER BY batch_id) AS batches
        FROM {_ident(table)} SEMI JOIN repeated USING (record_id)
        GROUP BY record_id
        ORDER BY records DESC, record_id
    """
    what = f"every record_id in {table}" if where == "true" else f"every record_id of {scope} in {table}"
    return _result(conn, "unique_record_ids", f"{what} is unique (across all batches)", sql, params, metrics={
        "records": _count(conn, f"SELECT count(*) FROM {_ident(table)}"),
        "records_checked": _count(conn, f"SELECT count(*) FROM {_ident(table)} WHERE {where}", params),
        "checked": scope,
    })


def one_role_per_application(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None, *,
                             severity: str = "WARN") -> SqlCheckResult:
    """Every application the batch's stage-outcome records name (see `changed_rows`: with no
    batch_id, every application) names one role in all its records.

    WARN by default: records are append-only, so an application that ever got a record with a
    second role keeps it forever - failing at ERROR would block publishing with no way to fix the
    data. The marts define an application's role as its latest record's (int_application_attributes).
    """
    where, params, scope = changed_rows(conn, "stage_outcome_records", batch_id)
    checked = _sharing_with_changed("stage_outcome_records", "application_id", where)
    sql = f"""
        WITH mixed AS (
            SELECT application_id FROM stage_outcome_records {checked}
            GROUP BY application_id HAVING min(role) <> max(role)
        )
        SELECT application_id, count(DISTINCT role) AS roles_named, list(DISTINCT role ORDER BY role) AS roles,
               count(*) AS records,
               arg_max(role, occurred_at) AS latest_role
        FROM stage_outcome_records SEMI JOIN mixed USING (application_id)
        GROUP BY application_id
        ORDER BY application_id
    """
    which = "an application" if where == "true" else f"an application that {scope} touched"
    return _result(conn, "one_role_per_application", f"all stage-outcome records of {which} name the same role",
                   sql, params, severity=severity, metrics={
                       "applications_checked": _count(conn, "SELECT count(DISTINCT application_id) FROM "
                                                            f"stage_outcome_records WHERE {where}", params),
                       "checked": scope,
                   })


# ---------------------------------------------------------------------------------------------
# Marts against the configuration


@dataclass(frozen=True)
class ConfigColumns:
    """Which columns of a mart hold configuration keys.

    role: the role column; role_nullable: NULL is a legitimate value (unknown role).
    stages: stage columns (NULL allowed only where the mart defines it: nullable_stages).
    pipeline: "flag" = the in_pipeline column must say whether (role, stage) is in config_role_stages;
    "always" = every (role, stage column) pair must be in config_role_stages; None = no pipeline rule.
    """

    role: str | None = "role"
    role_nullable: bool = False
    stages: tuple[str, ...] = ()
    nullable_stages: tuple[str, ...] = ()
    pipeline: str | None = None


MART_CONFIG_COLUMNS: dict[str, ConfigColumns] = {
    "stage_pass_rates": ConfigColumns(stages=("stage",), pipeline="flag"),
    "stage_pass_rates_monthly": ConfigColumns(stages=("stage",), pipeline="flag"),
    "skipped_stages": ConfigColumns(stages=("stage",), pipeline="always"),
    "application_journeys": ConfigColumns(stages=("furthest_stage", "final_stage"), nullable_stages=("furthest_stage",)),
    "team_matching_dropoff": ConfigColumns(stages=("final_evaluation_stage",), pipeline="always"),
    "team_matching_dropoff_monthly": ConfigColumns(stages=("final_evaluation_stage",), pipeline="always"),
    "loop_skill_coverage": ConfigColumns(role_nullable=True),
    "loop_skill_coverage_summary": ConfigColumns(role_nullable=True),
    "travel_vetting": ConfigColumns(),
    "source_effectiveness": ConfigColumns(stages=("stage",), pipeline="flag"),
    "source_effectiveness_monthly": ConfigColumns(stages=("stage",), pipeline="flag"),
}


def mart_rows_in_config(conn: duckdb.DuckDBPyConnection, mart: str) -> SqlCheckResult:
    """Every row's role is a configured role and every stage is in the stage catalog (and, where the
    mart says, in the role's pipeline)."""
    spec = MART_CONFIG_COLUMNS[mart]
    problems: list[str] = []
    if spec.role:
        r = _ident(spec.role)
        if not spec.role_nullable:
            problems.append(f"CASE WHEN {r} IS NULL THEN 'role is NULL' END")
        problems.append(
            f"CASE WHEN {r} IS NOT NULL AND {r} NOT IN (SELECT role FROM config_role_stages)"
            f" THEN 'role ' || {r} || ' is not a configured role' END"
        )
    for column in spec.stages:
        s = _ident(column)
        if column not in spec.nullable_stages:
            problems.append(f"CASE WHEN {s} IS NULL THEN '{column} is NULL' END")
        problems.append(
            f"CASE WHEN {s} IS NOT NULL AND {s} NOT IN (SELECT stage FROM config_stages)"
            f" THEN '{column} ' || {s} || ' is not in the stage catalog' END"
        )
        in_pipeline = (
            f"EXISTS (SELECT 1 FROM config_role_stages rs WHERE rs.role = m.{_ident(spec.role or 'role')}"
            f" AND rs.stage = m.{s})"
        )
        if spec.pipeline == "always":
            problems.append(
                f"CASE WHEN {s} IS NOT NULL AND NOT {in_pipeline}"
                f" THEN '{column} ' || {s} || ' is not in the pipeline of role ' || coalesce(m.{_ident(spec.role or 'role')}, 'NULL') END"
            )
        elif spec.pipeline == "flag":
            problems.append(
                f"CASE WHEN in_pipeline IS DISTINCT FROM {in_pipeline}"
                f" THEN 'in_pipeline = ' || coalesce(CAST(in_pipeline AS VARCHAR), 'NULL') || ' but ' || {s}"
                f" || CASE WHEN {in_pipeline} THEN ' is' ELSE ' is not' END || ' in the pipeline of role ' || m.{_ident(spec.role or 'role')} END"
            )
    shown = [c for c in (spec.role, *spec.stages) if c]
    if "cohort_month" in _columns(conn, mart):
        shown.insert(1, "cohort_month")
    sql = f"""
        SELECT {', '.join(_ident(c) for c in shown)}, problem
        FROM (SELECT m.*, concat_ws('; ', {', '.join(problems)}) AS problem FROM {_ident(mart)} AS m)
        WHERE problem <> ''
    """
    keys = [c for c in (spec.role, *spec.stages) if c]
    pipeline = {"flag": "; in_pipeline says whether (role, stage) is in the role's pipeline",
                "always": "; each stage is in the role's pipeline"}.get(spec.pipeline or "", "")
    return _result(conn, "roles_and_stages_in_config",
                   f"every {mart} row's {', '.join(keys)} {'is' if len(keys) == 1 else 'are'} in the configuration "
                   f"(config_role_stages / config_stages){pipeline}", sql,
                   metrics={"rows": _count(conn, f"SELECT count(*) FROM {_ident(mart)}")})


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = current_schema()"
        " AND database_name = current_database() ORDER BY column_index", [table]).fetchall()]


# ---------------------------------------------------------------------------------------------
# Privacy

# Columns that identify an application or a candidate: a table holding one is at person grain.
PERSON_KEYS = ("application_key", "application_id", "candidate_id", "candidate_key")


def no_person_level_demographics(conn: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> SqlCheckResult:
    """No table about to be published carries demographics about a person: no column named after a
    demographic field (except in the aggregate adverse_impact, which has no person key), and no
    text column of a person-grain table holding a sex or race/ethnicity category or intersection."""
    fields = (*DEMOGRAPHIC_CATEGORIES, "sex_x_race_ethnicity")
    values = [*DEMOGRAPHIC_CATEGORIES["sex"], *DEMOGRAPHIC_CATEGORIES["race_ethnicity"]]
    values += [f"{s}_x_{r}" for s in DEMOGRAPHIC_CATEGORIES["sex"] for r in DEMOGRAPHIC_CATEGORIES["race_ethnicity"]]
    parts: list[str] = []
    for table in tables:
        columns = dict(conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = current_schema()"
            " AND database_name = current_database()", [table]).fetchall())
        person_keys = [c for c in columns if c in PERSON_KEYS]
        for column in columns:
            if column in fields and (table != "adverse_impact" or person_keys):
                parts.append(f"SELECT '{table}' AS table_name, '{column}' AS column_name, "
                             "'a demographic column' AS problem, NULL AS example")
        if not person_keys:
            continue
        for column, dtype in columns.items():
            if dtype == "VARCHAR" and column not in PERSON_KEYS:
                parts.append(
                    f"SELECT '{table}' AS table_name, '{column}' AS column_name, "
                    f"'a demographic value at {person_keys[0]} grain' AS problem, any_value({_ident(column)}) AS example "
                    f"FROM {_ident(table)} WHERE {_ident(column)} IN ({_sql_list(values)}) HAVING count(*) > 0"
                )
    sql = (f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY table_name, problem, column_name" if parts
           else "SELECT NULL AS table_name WHERE false")
    return _result(conn, "no_person_level_demographics",
                   "no published table holds a demographic column or value at application or candidate grain "
                   "(demographics reach analysts only as adverse_impact's suppressed aggregates)", sql,
                   metrics={"tables": len(tables)})


# ---------------------------------------------------------------------------------------------
# Terminal outcomes


def single_terminal_outcome(conn: duckdb.DuckDBPyConnection, run_id: str | None = None) -> SqlCheckResult:
    """No application is counted at two terminal outcomes (passed / failed / withdrew) at one stage:
    the latest-record table holds at most one decision per application and stage, and the
    per-stage table the pass-rate marts count from agrees with it. With a run id, only the
    applications whose rows were rewritten since the last publish (`rewritten_keys`)."""
    terminal = _sql_list(TERMINAL_OUTCOMES)
    scope = rewritten_keys(conn, "application_id", run_id)
    only = f" AND application_id IN ({scope[0]})" if scope else ""
    params = list(scope[1]) * 2 if scope else []  # `only` appears twice
    sql = f"""
        WITH latest AS (
            SELECT application_id, stage, outcome FROM int_latest_stage_records WHERE true{only}
        ),
        stages AS (
            SELECT application_id, stage, entered, latest_outcome FROM int_application_stages WHERE true{only}
        ),
        twice_latest AS (
            SELECT application_id, stage FROM latest WHERE outcome IN ({terminal})
            GROUP BY ALL HAVING count(*) > 1
        ),
        twice_stages AS (
            SELECT application_id, stage FROM stages WHERE entered AND latest_outcome IN ({terminal})
            GROUP BY ALL HAVING count(*) > 1
        )
        SELECT 'int_latest_stage_records' AS found_in, application_id, stage,
               count(*) AS terminal_rows, list(outcome ORDER BY outcome) AS outcomes
        FROM latest SEMI JOIN twice_latest USING (application_id, stage)
        WHERE outcome IN ({terminal})
        GROUP BY application_id, stage
        UNION ALL
        SELECT 'int_application_stages', application_id, stage,
               count(*), list(latest_outcome ORDER BY latest_outcome)
        FROM stages SEMI JOIN twice_stages USING (application_id, stage)
        WHERE entered AND latest_outcome IN ({terminal})
        GROUP BY application_id, stage
        UNION ALL
        SELECT 'int_application_stages vs int_latest_stage_records', s.application_id, s.stage,
               1, [s.latest_outcome, l.outcome]
        FROM stages AS s
        JOIN latest AS l USING (application_id, stage)
        WHERE s.latest_outcome IS DISTINCT FROM l.outcome
        ORDER BY 1, 2, 3
    """
    return _result(conn, "single_terminal_outcome",
                   "no application is counted at two terminal outcomes (passed/failed/withdrew) at the same stage",
                   sql, params, metrics={
                       "applications_checked": "rewritten since the last publish" if scope else "all",
                       "terminal_decisions": _count(
                           conn, f"SELECT count(*) FROM int_latest_stage_records WHERE outcome IN ({terminal}){only}",
                           list(scope[1]) if scope else [])})


# ---------------------------------------------------------------------------------------------
# Reconciliation: numbers that must agree between the records and the marts, by definition


@dataclass(frozen=True)
class Reconciliation:
    """`expected` and `actual` each SELECT the key columns and a `value`; every key must have the
    same value on both sides (a key missing on one side counts as 0)."""

    name: str
    mart: str  # the mart the check is attached to
    description: str
    key: tuple[str, ...]
    expected: str
    actual: str
    reads: tuple[str, ...] = ()  # tables other than `mart` the SQL reads (upstream assets of the check)


def _unpivot(table: str, key: Sequence[str], measures: Sequence[str], *, sum_over: bool = False) -> str:
    """key..., measure, value - one row per measure (summed per key when sum_over)."""
    cols = ", ".join(_ident(c) for c in (*key, *measures))
    source = f"SELECT {cols} FROM {_ident(table)}"
    if sum_over:
        source = (
            f"SELECT {', '.join(_ident(k) for k in key)}, "
            + ", ".join(f"sum({_ident(m)})::BIGINT AS {_ident(m)}" for m in measures)
            + f" FROM {_ident(table)} GROUP BY ALL"
        )
    return (
        f"SELECT {', '.join(_ident(k) for k in key)}, measure, value FROM ({source}) "
        f"UNPIVOT (value FOR measure IN ({', '.join(_ident(m) for m in measures)}))"
    )


_STAGE_MEASURES = ("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
                   "skipped_implied", "timed_decisions")
_TM_MEASURES = ("applications", "cleared", "matched", "unmatched", "withdrew", "in_matching", "stalled",
                "awaiting", "skipped", "offer_extended", "offer_accepted", "timed_matches")
_SOURCE_STAGE_MEASURES = ("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
                          "skipped_implied")
# figures of a (role, source), repeated on each of its stage rows: read once per (role, source[, cohort_month])
_SOURCE_MEASURES = ("applications", "reached_onsite", "onsite_passed", "onsite_failed", "offers_extended",
                    "offers_accepted", "offers_declined", "offers_rescinded", "offers_pending", "hired")


def _per_source(table: str, key: Sequence[str]) -> str:
    """The application-level figures of a source_effectiveness table, one row per distinct value of
    `key` + the measures (a group whose rows disagree shows twice, and does not add up)."""
    cols = ", ".join(_ident(c) for c in (*key, *_SOURCE_MEASURES))
    return f"(SELECT DISTINCT {cols} FROM {_ident(table)})"

RECONCILIATIONS: tuple[Reconciliation, ...] = (
    Reconciliation(
        "applications", "application_journeys",
        "one journey per application in stage_outcome_records",
        (), "SELECT count(DISTINCT application_id) AS value FROM stage_outcome_records",
        "SELECT count(*) AS value FROM application_journeys",
        reads=("stage_outcome_records",),
    ),
    Reconciliation(
        "records", "application_journeys",
        "the journeys' records add up to the rows of stage_outcome_records",
        (), "SELECT count(*) AS value FROM stage_outcome_records",
        "SELECT coalesce(sum(records), 0)::BIGINT AS value FROM application_journeys",
        reads=("stage_outcome_records",),
    ),
    Reconciliation(
        "latest_outcomes", "stage_pass_rates",
        "per role, stage and outcome: entered applications counted as passed/failed/withdrew/in_progress equal "
        "the latest records (one per application and stage) with that outcome",
        ("role", "stage", "outcome"),
        "SELECT role, stage, outcome, count(*) AS value FROM int_latest_stage_records "
        "WHERE outcome <> 'skipped' GROUP BY ALL",
        "SELECT role, stage, measure AS outcome, value FROM ("
        + _unpivot("stage_pass_rates", ("role", "stage"), ("passed", "failed", "withdrew", "in_progress"))
        + ")",
        reads=("int_latest_stage_records",),
    ),
    Reconciliation(
        "months_add_up", "stage_pass_rates_monthly",
        "per role and stage, the cohort months add up to the all-time stage_pass_rates counts",
        ("role", "stage", "measure"),
        _unpivot("stage_pass_rates", ("role", "stage"), _STAGE_MEASURES),
        _unpivot("stage_pass_rates_monthly", ("role", "stage"), _STAGE_MEASURES, sum_over=True),
        reads=("stage_pass_rates",),
    ),
    Reconciliation(
        "applications_per_stage", "skipped_stages",
        "per role and pipeline stage, applications = the role's application_journeys rows",
        ("role", "stage"),
        "SELECT j.role, rs.stage, count(*) AS value FROM application_journeys AS j "
        "JOIN config_role_stages AS rs ON rs.role = j.role GROUP BY ALL",
        "SELECT role, stage, applications AS value FROM skipped_stages",
        reads=("application_journeys", "config_role_stages"),
    ),
    Reconciliation(
        "applications", "team_matching_dropoff",
        "per role with team_matching, applications = the role's application_journeys rows",
        ("role",),
        "SELECT role, count(*) AS value FROM application_journeys WHERE role IN "
        "(SELECT role FROM config_role_stages WHERE stage = 'team_matching') GROUP BY role",
        "SELECT role, applications AS value FROM team_matching_dropoff",
        reads=("application_journeys", "config_role_stages"),
    ),
    Reconciliation(
        "months_add_up", "team_matching_dropoff_monthly",
        "per role, the cohort months add up to the all-time team_matching_dropoff counts",
        ("role", "measure"),
        _unpivot("team_matching_dropoff", ("role",), _TM_MEASURES),
        _unpivot("team_matching_dropoff_monthly", ("role",), _TM_MEASURES, sum_over=True),
        reads=("team_matching_dropoff",),
    ),
    Reconciliation(
        "applications", "travel_vetting",
        "per role, the applications of the three requires_travel rows add up to the role's application_journeys rows",
        ("role",),
        "SELECT role, count(*) AS value FROM application_journeys GROUP BY role",
        "SELECT role, sum(applications)::BIGINT AS value FROM travel_vetting GROUP BY role",
        reads=("application_journeys",),
    ),
    Reconciliation(
        "applications_and_hires", "source_effectiveness",
        "per role, the sources' applications and hires add up to the role's application_journeys rows and hires "
        "(each source's figures are the same on all its rows)",
        ("role", "measure"),
        "SELECT role, measure, value FROM (SELECT role, count(*) AS applications, "
        "count(*) FILTER (WHERE final_status = 'hired') AS hired FROM application_journeys GROUP BY role) "
        "UNPIVOT (value FOR measure IN (applications, hired))",
        "SELECT role, measure, sum(value)::BIGINT AS value FROM ("
        "SELECT role, source, applications, hired FROM " + _per_source("source_effectiveness", ("role", "source"))
        + ") UNPIVOT (value FOR measure IN (applications, hired)) GROUP BY ALL",
        reads=("application_journeys",),
    ),
    Reconciliation(
        "sources_add_up", "source_effectiveness",
        "per role and stage, the sources' counts add up to stage_pass_rates",
        ("role", "stage", "measure"),
        _unpivot("stage_pass_rates", ("role", "stage"), _SOURCE_STAGE_MEASURES),
        _unpivot("source_effectiveness", ("role", "stage"), _SOURCE_STAGE_MEASURES, sum_over=True),
        reads=("stage_pass_rates",),
    ),
    Reconciliation(
        "months_add_up", "source_effectiveness_monthly",
        "per role, source and stage, the cohort months add up to the all-time source_effectiveness counts",
        ("role", "source", "stage", "measure"),
        _unpivot("source_effectiveness", ("role", "source", "stage"), _SOURCE_STAGE_MEASURES),
        _unpivot("source_effectiveness_monthly", ("role", "source", "stage"), _SOURCE_STAGE_MEASURES, sum_over=True),
        reads=("source_effectiveness",),
    ),
    Reconciliation(
        "application_months_add_up", "source_effectiveness_monthly",
        "per role and source, the cohort months' applications, onsite, offer and hire counts add up to the "
        "all-time source_effectiveness figures",
        ("role", "source", "measure"),
        f"SELECT role, source, measure, value FROM {_per_source('source_effectiveness', ('role', 'source'))} "
        f"UNPIVOT (value FOR measure IN ({', '.join(_SOURCE_MEASURES)}))",
        f"SELECT role, source, measure, sum(value)::BIGINT AS value FROM "
        f"{_per_source('source_effectiveness_monthly', ('role', 'source', 'cohort_month'))} "
        f"UNPIVOT (value FOR measure IN ({', '.join(_SOURCE_MEASURES)})) GROUP BY ALL",
        reads=("source_effectiveness",),
    ),
    Reconciliation(
        "loops", "loop_skill_coverage",
        "one loop per application with an onsite interview in interview_records",
        (), "SELECT count(DISTINCT application_id) AS value FROM interview_records WHERE stage = 'onsite'",
        "SELECT count(*) AS value FROM loop_skill_coverage",
        reads=("interview_records",),
    ),
    Reconciliation(
        "interviews", "loop_skill_coverage",
        "the loops' interviews add up to the onsite rows of interview_records",
        (), "SELECT count(*) AS value FROM interview_records WHERE stage = 'onsite'",
        "SELECT coalesce(sum(interviews), 0)::BIGINT AS value FROM loop_skill_coverage",
        reads=("interview_records",),
    ),
    Reconciliation(
        "loops", "loop_skill_coverage_summary",
        "per role, loops = the role's loop_skill_coverage rows",
        ("role",),
        "SELECT role, count(*) AS value FROM loop_skill_coverage GROUP BY role",
        "SELECT role, loops AS value FROM loop_skill_coverage_summary",
        reads=("loop_skill_coverage",),
    ),
    Reconciliation(
        "interviews", "interviewer_calibration",
        "per interviewer, interviews = the interviewer's rows in interview_records",
        ("interviewer_id",),
        # the interviewer as published: keyed under pseudonymize_interviewers (funnel.keys), once per
        # interviewer rather than once per record (keying is one-to-one: the sums are the same)
        "SELECT published_interviewer_id(r.interviewer_id, s.pseudonymize_interviewers) AS interviewer_id,"
        " sum(r.interviews)::BIGINT AS value FROM (SELECT interviewer_id, count(*) AS interviews"
        " FROM interview_records GROUP BY interviewer_id) AS r CROSS JOIN config_settings AS s GROUP BY ALL",
        "SELECT interviewer_id, interviews AS value FROM interviewer_calibration",
        reads=("interview_records", "config_settings"),
    ),
    Reconciliation(
        "rows", "quarantine_summary",
        "per feed and reason, rows = the rows of quarantined_rows",
        ("feed", "reason"),
        "SELECT feed, reason, count(*) AS value FROM quarantined_rows GROUP BY ALL",
        'SELECT feed, reason, "rows" AS value FROM quarantine_summary',
        reads=("quarantined_rows",),
    ),
    Reconciliation(
        "stage_applicants", "adverse_impact",
        "per role, pipeline stage and dimension without a suppressed group, the groups' applicants and selected "
        "add up to stage_pass_rates' passed + failed and passed",
        ("role", "step", "dimension", "measure"),
        "SELECT s.role, s.stage AS step, d.dimension, m.measure,"
        " CASE m.measure WHEN 'applicants' THEN s.passed + s.failed ELSE s.passed END AS value"
        " FROM stage_pass_rates AS s"
        " CROSS JOIN (VALUES ('sex'), ('race_ethnicity'), ('sex_x_race_ethnicity')) AS d(dimension)"
        " CROSS JOIN (VALUES ('applicants'), ('selected')) AS m(measure)"
        " WHERE s.in_pipeline AND (s.role, s.stage, d.dimension) NOT IN"
        " (SELECT role, step, dimension FROM adverse_impact WHERE suppressed)",
        "SELECT role, step, dimension, measure, sum(value)::BIGINT AS value FROM ("
        + _unpivot("adverse_impact", ("role", "step", "dimension"), ("applicants", "selected"))
        + ") WHERE step <> 'overall' AND (role, step, dimension) NOT IN"
        " (SELECT role, step, dimension FROM adverse_impact WHERE suppressed) GROUP BY ALL",
        reads=("stage_pass_rates",),
    ),
    Reconciliation(
        "overall_applicants", "adverse_impact",
        "per role and dimension without a suppressed group, the overall applicants and selected add up to the "
        "role's journeys hired or rejected, and hired",
        ("role", "dimension", "measure"),
        "SELECT j.role, d.dimension, m.measure,"
        " count(*) FILTER (WHERE m.measure = 'applicants' OR j.final_status = 'hired') AS value"
        " FROM application_journeys AS j"
        " CROSS JOIN (VALUES ('sex'), ('race_ethnicity'), ('sex_x_race_ethnicity')) AS d(dimension)"
        " CROSS JOIN (VALUES ('applicants'), ('selected')) AS m(measure)"
        " WHERE j.final_status IN ('hired', 'rejected') AND (j.role, d.dimension) NOT IN"
        " (SELECT role, dimension FROM adverse_impact WHERE step = 'overall' AND suppressed) GROUP BY ALL",
        "SELECT role, dimension, measure, sum(value)::BIGINT AS value FROM ("
        + _unpivot("adverse_impact", ("role", "step", "dimension"), ("applicants", "selected"))
        + ") WHERE step = 'overall' AND (role, dimension) NOT IN"
        " (SELECT role, dimension FROM adverse_impact WHERE step = 'overall' AND suppressed) GROUP BY ALL",
        reads=("application_journeys",),
    ),
)


def reconciliations_for(mart: str) -> tuple[Reconciliation, ...]:
    return tuple(r for r in RECONCILIATIONS if r.mart == mart)


def _reconciliation_sql(r: Reconciliation) -> str:
    if r.key:
        keys = ", ".join(f"coalesce(e.{_ident(k)}, a.{_ident(k)}) AS {_ident(k)}" for k in r.key)
        on = " AND ".join(f"e.{_ident(k)} IS NOT DISTINCT FROM a.{_ident(k)}" for k in r.key)
    else:
        keys, on = "", "true"
    return f"""
        SELECT '{r.name}' AS reconciliation, {keys + ', ' if keys else ''}
               coalesce(e.value, 0)::BIGINT AS expected, coalesce(a.value, 0)::BIGINT AS actual
        FROM ({r.expected}) AS e
        FULL OUTER JOIN ({r.actual}) AS a ON {on}
        WHERE coalesce(e.value, 0) <> coalesce(a.value, 0)
    """


def reconcile(conn: duckdb.DuckDBPyConnection, mart: str) -> SqlCheckResult:
    """Every reconciliation attached to `mart`; examples name the reconciliation that failed."""
    checks = reconciliations_for(mart)
    if not checks:
        raise ValueError(f"no reconciliations defined for {mart!r}")
    failing_total = 0
    examples: list[dict] = []
    per_check: dict[str, int] = {}
    for r in checks:
        failing, rows = failing_rows(conn, _reconciliation_sql(r))
        per_check[r.name] = failing
        failing_total += failing
        examples.extend(rows[: max(0, EXAMPLE_ROWS - len(examples))])
    description = "; ".join(f"{r.name}: {r.description}" for r in checks)
    return SqlCheckResult(
        "reconciles_with_records", failing_total == 0, failing_total, examples, description, "ERROR",
        {"failing_by_reconciliation": per_check},
        "\n\n".join(f"-- {r.name}{_reconciliation_sql(r)}" for r in checks),
    )


# ---------------------------------------------------------------------------------------------
# Quarantine share of the newest batch


def quarantine_share(
    conn: duckdb.DuckDBPyConnection, feed: str, threshold: float | None = None
) -> SqlCheckResult:
    """Rows quarantined / rows read in the newest batch of one feed: the files of the latest run
    that read any (so a blocked batch keeps blocking until newer files arrive, or the threshold
    `quarantine_threshold` in funnel.yaml is raised).

    0 -> passed; > 0 and <= threshold -> failed with severity WARN (publishing goes on);
    > threshold -> failed with severity ERROR (publishing is blocked).
    """
    if threshold is None:
        threshold = conn.execute("SELECT quarantine_threshold FROM config_settings").fetchall()[0][0]
    newest = conn.execute(
        "SELECT batch_id FROM landing_files WHERE feed = ? AND status = 'ingested'"
        " ORDER BY processed_at DESC, batch_id DESC LIMIT 1",
        [feed],
    ).fetchall()
    batch_id = newest[0][0] if newest else None
    rows_read, rows_quarantined, files = conn.execute(
        "SELECT coalesce(sum(rows_read), 0)::BIGINT, coalesce(sum(rows_quarantined), 0)::BIGINT, count(*)"
        " FROM landing_files WHERE feed = ? AND batch_id = ? AND status = 'ingested'",
        [feed, batch_id],
    ).fetchone()
    share = rows_quarantined / rows_read if rows_read else 0.0
    # An ATS's events are quarantined under the feed they were derived for, from files named <ats>/<table file>.
    of_feed = "feed = ?" if feed in FEEDS else "starts_with(source_file, ? || '/')"
    by_reason = dict(conn.execute(
        f"SELECT reason, count(*) FROM quarantined_rows WHERE {of_feed} AND batch_id = ? GROUP BY reason ORDER BY reason",
        [feed, batch_id],
    ).fetchall())
    by_file = [
        {"file": f, "rows_read": r, "rows_quarantined": q, "share": round(q / r, 4) if r else None}
        for f, r, q in conn.execute(
            "SELECT path, rows_read, rows_quarantined FROM landing_files WHERE feed = ? AND batch_id = ?"
            " AND status = 'ingested' ORDER BY rows_quarantined DESC, path LIMIT 20",
            [feed, batch_id],
        ).fetchall()
    ]
    # A demographics row's detail can hold its category as sent (unknown_category): shown beside its file and
    # line, it would say something about a person. Its examples are where and why only; quarantined_rows (the
    # working database) and `funnel validate` have the rest.
    # An ATS's rows hold responses too where it syncs self-identification (Greenhouse's eeoc): their detail
    # stays out, the events' details stay in.
    private_feeds = [name for name, f in FEEDS.items() if any(column in DEMOGRAPHIC_CATEGORIES for column in f.columns)]
    if feed in FEEDS:
        detail = "" if feed in private_feeds else ", detail"
    else:
        detail = f", CASE WHEN feed IN ({', '.join(repr(f) for f in private_feeds)}) THEN NULL ELSE detail END AS detail"
    sql = f"""
        SELECT source_file, source_line, reason{detail} FROM quarantined_rows
        WHERE {of_feed} AND batch_id = ? ORDER BY source_file, source_line
    """
    _, examples = failing_rows(conn, sql, [feed, batch_id])
    if rows_quarantined == 0:
        passed, severity = True, "ERROR"
    elif share > threshold:
        passed, severity = False, "ERROR"
    else:
        passed, severity = False, "WARN"
    description = (
        f"share of the {feed} rows of the newest batch (run {batch_id}) that were quarantined: "
        f"{rows_quarantined:,} of {rows_read:,} = {share:.2%} (blocks publishing above {threshold:.2%}, warns above 0)"
        if rows_read else f"no {feed} rows have been read yet"
    )
    return SqlCheckResult(
        "quarantine_share", passed, int(rows_quarantined), examples, description, severity,
        {"batch_id": batch_id or "", "rows_read": int(rows_read), "rows_quarantined": int(rows_quarantined), "share": round(share, 6),
         "threshold": threshold, "files_read": int(files), "quarantined_by_reason": by_reason, "files": by_file},
        sql.strip(),
    )
