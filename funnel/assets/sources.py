"""One asset per applicant tracking system: its synced tables under landing/<ats>/, derived into stage
events and interviews and handed to the records (funnel/sources). An ATS with neither a landing
folder nor a `sources:` block in funnel.yaml is not in use: its asset records that and does nothing."""

import dagster as dg

from funnel.assets.failures import failure_policy
from funnel.assets.progress import say
from funnel.resources import FunnelWarehouse
from funnel.sources import ATS_NAMES
from funnel.sources.runner import SourceResult, ingest_source

TITLES = {"greenhouse": "Greenhouse (Fivetran)", "lever": "Lever (Fivetran)", "ashby": "Ashby (Airbyte)"}


def _files_markdown(result: SourceResult) -> str:
    lines = ["| table file | rows read | accepted | duplicates | quarantined | excluded | problem |",
             "|---|---|---|---|---|---|---|"]
    for f in result.files:
        c = result.counts.get(f.path, {})
        lines.append(f"| {f.path} | {f.rows} | {c.get('accepted', 0)} | {c.get('duplicate', 0)} | "
                     f"{c.get('quarantined', 0)} | {c.get('excluded', 0)} | {f.problem or result.problem or ''} |")
    return "\n".join(lines)


def _source_asset(ats: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=ats,
        group_name="sources",
        kinds={"duckdb", "polars"},
        deps=["funnel_config"],
        description=f"{TITLES[ats]} tables as the connector syncs them, under landing/{ats}/: stage events and "
        f"interviews derived from them with the sources.{ats} mapping of funnel.yaml (and self-identification "
        "responses from an EEO table the connector syncs), into the records (docs/sources.md). Derived again "
        "only when the tables or the mapping changed. Its metadata counts responses, never shows one.",
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
        with failure_policy(context):
            config = warehouse.config()
            with warehouse.connect() as conn:
                result = ingest_source(conn, warehouse.paths.landing / ats, ats, config, context.run.run_id,
                                       lambda m: say(context, m))
        metadata: dict = {"status": result.status, "table_files": len(result.files)}
        if result.problem:
            metadata["problem"] = result.problem
        if result.status in ("derived", "incomplete"):
            quarantined = {reason: n for feed in result.feeds.values() for reason, n in feed.quarantined_by_reason.items()}
            metadata.update({
                "rows_accepted": result.total("accepted"),
                "rows_duplicate": result.total("duplicate"),
                "rows_quarantined": result.total("quarantined"),
                "rows_excluded": result.total("excluded"),
                "excluded_by_rule": dg.MetadataValue.json(result.excluded),
                "events_derived": dg.MetadataValue.json(result.derived),
                "quarantined_by_reason": dg.MetadataValue.json(quarantined),
                "notes": dg.MetadataValue.json(result.notes),
                "files": dg.MetadataValue.md(_files_markdown(result)),
            })
        if result.status != "not_in_use":  # most installations use one ATS or none: no line for the others
            say(context, f"{ats}: {result.status}" + (f" ({result.problem})" if result.problem else ""))
        return dg.MaterializeResult(metadata=metadata)

    return _asset


source_assets = [_source_asset(ats) for ats in ATS_NAMES]
