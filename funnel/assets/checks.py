"""Quality checks as Dagster asset checks: they sit between the marts and the publish asset, in
three steps (multi-asset checks): the records' checks, the ATS assets' checks and the marts' checks.

Every check is `blocking=True`. A check that fails with severity ERROR stops every asset downstream
of the asset it targets in the same run - and `published_warehouse` depends on every published
mart, which depend on the record assets - so the published database stays exactly as it was.
A failure with severity WARN (some rows quarantined below the threshold, an application naming
two roles) is shown but does not block.

On the record assets (the batch this run ingested):
    batch_expectations          Great Expectations suite over the rows with batch_id = this run
                                (above FUNNEL_GX_MAX_ROWS rows, the same rules as SQL in DuckDB)
    unique_record_ids           no record id twice (all batches)
    quarantine_share            share of this run's rows quarantined: ERROR above the threshold, WARN below
                                (also on each ATS asset: the rows of its newest derivation)
    one_role_per_application    (stage_outcome_records) WARN: records are append-only, see sql_checks
On every published mart:
    expectations                Great Expectations suite over every row (likewise)
    roles_and_stages_in_config  role / stage columns exist in the configuration (marts that have them)
    reconciles_with_records     counts that must agree between records and marts, by definition
    single_terminal_outcome     (stage_pass_rates) no application counted at two terminal outcomes
    no_person_level_demographics (adverse_impact) no published table holds demographics about a person

Each result carries counts, the first example failing rows as a markdown table, and the path (and
file:// URL) of an HTML page under FUNNEL_HOME/quality/<run_id>/ with the full results.
`great_expectations` is imported only when an expectations check runs.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import dagster as dg
import duckdb

from funnel.assets.failures import failure_policy
from funnel.ingest import RECORD_TABLES
from funnel.models import PUBLISHED_MARTS, SOURCE_ASSETS, load_models
from funnel.quality import sql_checks
from funnel.quality.validation import validate_mart, validate_records
from funnel.quality.report import (EXAMPLES_IN_METADATA, markdown_table, sql_page, suite_page, write_indexes,
                                   write_page)
from funnel.resources import FunnelWarehouse
from funnel.sources import ATS_NAMES

FEED_OF_TABLE = {table: feed for feed, table in RECORD_TABLES.items()}
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _asset_keys(tables: tuple[str, ...], target: str) -> list[dg.AssetKey]:
    """The assets that write `tables` (besides the check's own asset), so the check runs after them."""
    models = {m.name for m in load_models()}
    keys: dict[str, None] = {}
    for table in tables:
        if table in SOURCE_ASSETS:
            keys.update(dict.fromkeys(SOURCE_ASSETS[table]))
        elif table in models:
            keys[table] = None
        else:
            raise ValueError(f"check on {target} reads {table!r}, which no asset writes")
    keys.pop(target, None)
    return [dg.AssetKey(k) for k in keys]


def _metadata_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return dg.MetadataValue.json(value)
    if value is None:
        return dg.MetadataValue.text("")
    return value


def _page_metadata(page: Path) -> dict[str, Any]:
    return {"report": dg.MetadataValue.path(str(page)), "report_url": dg.MetadataValue.url(page.resolve().as_uri())}


def _suite_check_result(context: dg.AssetCheckExecutionContext, check: "Check", result: Any,
                        page: Path) -> dg.AssetCheckResult:
    failed_table = [
        {"rule": o.description, "unexpected rows": o.unexpected_count, "of rows": o.element_count,
         "sample values": list(o.partial_unexpected[:5]) or o.observed_value}
        for o in result.failed
    ]
    metadata: dict[str, Any] = {
        "rows_validated": result.rows,
        "selection": result.where or "all rows",
        "engine": result.engine,
        "expectations": len(result.outcomes),
        "failed_expectations": len(result.failed),
        "broken_expectations": len(result.broken),
        "unexpected_rows": result.unexpected_rows,
        "failed": dg.MetadataValue.md(markdown_table(failed_table, limit=50)),
        "examples": dg.MetadataValue.md(markdown_table(result.examples(EXAMPLES_IN_METADATA))),
        **_page_metadata(page),
    }
    if result.broken:
        metadata["broken"] = dg.MetadataValue.md(markdown_table(
            [{"rule": o.description, "error": o.exception} for o in result.broken], limit=50))
        context.log.error(f"{result.suite}: {result.summary} - see {page}")
    elif not result.success:
        context.log.warning(f"{result.suite}: {result.summary} - see {page}")
    return dg.AssetCheckResult(asset_key=check.asset, check_name=check.name, passed=result.success, severity=ERROR, metadata=metadata,
                               description=result.summary[:2000])


def _sql_check_result(context: dg.AssetCheckExecutionContext, check: "Check", result: sql_checks.SqlCheckResult,
                      page: Path) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {
        "failing": result.failing_count,
        "examples": dg.MetadataValue.md(markdown_table(result.examples, EXAMPLES_IN_METADATA)),
        **{k: _metadata_value(v) for k, v in result.metrics.items()},
        **_page_metadata(page),
    }
    severity = WARN if result.severity == "WARN" else ERROR
    if not result.passed:
        log = context.log.error if severity == ERROR else context.log.warning
        log(f"{result.name}: {result.summary} - see {page}")
    return dg.AssetCheckResult(asset_key=check.asset, check_name=check.name, passed=result.passed, severity=severity, metadata=metadata,
                               description=result.summary[:2000])


@dataclass(frozen=True)
class Check:
    """One blocking check: evaluated on the working database, written as an HTML page, reported."""

    asset: str
    name: str
    description: str
    evaluate: Callable[[duckdb.DuckDBPyConnection, str], Any]
    page: Callable[..., Any]
    check_result: Callable[..., dg.AssetCheckResult]
    reads: tuple[str, ...] = ()

    @property
    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(name=self.name, asset=self.asset, description=self.description, blocking=True,
                                 additional_deps=_asset_keys(self.reads, self.asset) or None)

    def run(self, context: dg.AssetCheckExecutionContext, conn: duckdb.DuckDBPyConnection,
            warehouse: FunnelWarehouse) -> dg.AssetCheckResult:
        result = self.evaluate(conn, context.run.run_id)
        written = write_page(warehouse.paths.root, context.run.run_id,
                             self.page(f"{self.asset}.{self.name}", result, title=f"{self.asset}: {self.name}"),
                             index=False)
        return self.check_result(context, self, result, written)


def _gx_check(asset: str, name: str, description: str,
              validate: Callable[[duckdb.DuckDBPyConnection, str], Any]) -> Check:
    return Check(asset, name, description, validate, page=suite_page, check_result=_suite_check_result)


def _sql_check(asset: str, name: str, description: str,
               evaluate: Callable[[duckdb.DuckDBPyConnection, str], sql_checks.SqlCheckResult],
               reads: tuple[str, ...] = ()) -> Check:
    return Check(asset, name, description, evaluate, page=sql_page, check_result=_sql_check_result, reads=reads)


def _record_checks(table: str) -> list[Check]:
    feed = FEED_OF_TABLE[table]
    checks = [
        _gx_check(
            table, "batch_expectations",
            f"Great Expectations suite over the {table} this run ingested (batch_id = run id): required columns "
            "not NULL, types, accepted values, role/stage/skill in the configuration, record_id unique.",
            lambda conn, run_id, table=table: validate_records(conn, table, run_id),
        ),
        _sql_check(
            table, "unique_record_ids",
            f"No record_id of this run's batch (or of a batch no run has published yet) appears twice in {table}: "
            "the new ids are looked up among the stored ones.",
            lambda conn, run_id, table=table: sql_checks.unique_record_ids(conn, table, run_id),
        ),
        _sql_check(
            table, "quarantine_share",
            f"Share of the newest batch of {feed} rows that was quarantined: above `quarantine_threshold` "
            "(funnel.yaml, default 5%) fails with ERROR and blocks publishing; above 0 and below it, a WARN.",
            lambda conn, run_id, feed=feed: sql_checks.quarantine_share(conn, feed),
        ),
    ]
    if table == "stage_outcome_records":
        checks.append(_sql_check(
            table, "one_role_per_application",
            "All stage-outcome records of an application this run touched name one role (WARN: records are "
            "append-only, and the marts take the latest record's role).",
            lambda conn, run_id: sql_checks.one_role_per_application(conn, run_id),
        ))
    return checks


def _rows_checked(mart: str) -> str:
    incremental = any(m.name == mart and m.incremental_by for m in load_models())
    return (f"the rows of {mart} rewritten since the last publish (every row after a full rebuild)" if incremental
            else f"every row of {mart}")


def _mart_checks(mart: str) -> list[Check]:
    checks = [
        _gx_check(
            mart, "expectations",
            f"Great Expectations suite over {_rows_checked(mart)}: key columns not NULL and unique, types, counts >= 0, "
            "rates in [0, 1], low <= rate <= high, accepted values and row invariants.",
            lambda conn, run_id, mart=mart: validate_mart(conn, mart, run_id=run_id),
        )
    ]
    if mart in sql_checks.MART_CONFIG_COLUMNS:
        checks.append(_sql_check(
            mart, "roles_and_stages_in_config",
            f"Every {mart} row's role and stage columns exist in the configuration.",
            lambda conn, run_id, mart=mart: sql_checks.mart_rows_in_config(conn, mart),
            reads=("config_role_stages", "config_stages"),
        ))
    reconciliations = sql_checks.reconciliations_for(mart)
    if reconciliations:
        checks.append(_sql_check(
            mart, "reconciles_with_records",
            "Counts that must agree by the metric definitions: " + "; ".join(r.description for r in reconciliations),
            lambda conn, run_id, mart=mart: sql_checks.reconcile(conn, mart),
            reads=tuple(dict.fromkeys(t for r in reconciliations for t in r.reads)),
        ))
    if mart == "adverse_impact":
        checks.append(_sql_check(
            mart, "no_person_level_demographics",
            "No table about to be published holds a demographic column or value at application or candidate "
            "grain: demographics reach the analysts' database only as adverse_impact's suppressed aggregates.",
            lambda conn, run_id: sql_checks.no_person_level_demographics(conn, PUBLISHED_MARTS),
            reads=PUBLISHED_MARTS,
        ))
    if mart == "stage_pass_rates":
        checks.append(_sql_check(
            mart, "single_terminal_outcome",
            "No application is counted at two terminal outcomes (passed/failed/withdrew) at the same stage (the "
            "applications whose rows were rewritten since the last publish; every one after a full rebuild).",
            lambda conn, run_id: sql_checks.single_terminal_outcome(conn, run_id),
            reads=("int_latest_stage_records", "int_application_stages"),
        ))
    return checks


def _source_checks(ats: str) -> list[Check]:
    return [_sql_check(
        ats, "quarantine_share",
        f"Share of the rows of the {ats} tables the newest derivation read whose events were quarantined (an "
        "unmapped job, stage or interview name, a bad timestamp, an EEO answer that is no category): above "
        "`quarantine_threshold` (funnel.yaml, default 5%) fails with ERROR and blocks publishing; above 0 and "
        "below it, a WARN. A self-identification response's example rows show where and why, never its detail.",
        lambda conn, run_id, ats=ats: sql_checks.quarantine_share(conn, ats),
    )]


def _checks_step(name: str, description: str, checks: list[Check]) -> dg.AssetChecksDefinition:
    """Several checks as one step (a subsettable multi-asset check): one Dagster step and one
    connection instead of one each. Every selected check is evaluated even when one of them raises
    (the step then fails with that error, after reporting the others)."""
    by_key = {check.spec.key: check for check in checks}

    @dg.multi_asset_check(name=name, description=description, specs=[c.spec for c in checks], can_subset=True)
    def _step(context: dg.AssetCheckExecutionContext, warehouse: FunnelWarehouse) -> Iterator[dg.AssetCheckResult]:
        selected = [check for key, check in by_key.items() if key in context.selected_asset_check_keys]
        errors: list[BaseException] = []
        with failure_policy(context), warehouse.connect() as conn:
            for check in selected:
                try:
                    yield check.run(context, conn, warehouse)
                except Exception as exc:  # the other checks still report; the step fails below
                    context.log.error(f"{check.asset}:{check.name} could not be evaluated: {exc}")
                    errors.append(exc)
        if selected:
            write_indexes(warehouse.paths.root, context.run.run_id)
        if errors:
            raise errors[0]

    return _step


asset_checks: list[dg.AssetChecksDefinition] = [
    _checks_step("record_checks", "The checks of the records this run ingested.",
                 [check for table in RECORD_TABLES.values() for check in _record_checks(table)]),
    _checks_step("source_checks", "The checks of the events derived from the ATS tables.",
                 [check for ats in ATS_NAMES for check in _source_checks(ats)]),
    _checks_step("mart_checks", "The checks of the marts about to be published.",
                 [check for mart in PUBLISHED_MARTS for check in _mart_checks(mart)]),
]
