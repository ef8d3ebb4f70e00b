"""Ingestion assets: the active configuration, and the three landing feeds as typed records.

Demographics are about people: what these assets log and record as metadata is counts, file paths and
file-level problems, never a row's values (no previews).
"""

import dagster as dg

from funnel.assets.failures import failure_policy
from funnel.assets.marts import column_schema
from funnel.assets.progress import say
from funnel.contract import DEMOGRAPHICS, INTERVIEWS, STAGE_OUTCOMES, Feed
from funnel.ingest import RECORD_TABLES, FeedResult, ingest_feed
from funnel.resources import FunnelWarehouse
from funnel.sources import ATS_NAMES
from funnel.warehouse import write_config_tables

# What an ATS's tables derive: events and interviews, and self-identification where the ATS syncs it (eeoc).
ATS_FEEDS = (STAGE_OUTCOMES.name, INTERVIEWS.name, DEMOGRAPHICS.name)
RECORD_COLUMNS = {
    "record_id": "The record's id: the file's event_id/interview_id, or a sha256 of its normalized required fields (plus team).",
    "application_id": "One candidate's application to one role.",
    "candidate_id": "The person; one person can have several applications.",
    "role": "Role key from the configuration.",
    "stage": "Stage key from the stage catalog.",
    "outcome": "in_progress, passed, failed, withdrew or skipped.",
    "occurred_at": "When it happened, in UTC.",
    "team": "Team, as exported.",
    "source": "Candidate source, as exported.",
    "level": "Level, as exported.",
    "requires_travel": "Whether the candidate must travel for the onsite; NULL when not given or unreadable.",
    "interviewer_id": "The interviewer.",
    "skill": "The skill this interviewer was assigned to evaluate.",
    "recommendation": "strong_yes, yes, no, strong_no or no_decision.",
    "sex": "Self-identified: female, male or another; NULL = unknown (declined, not answered).",
    "race_ethnicity": "Self-identified race/ethnicity category (docs/contract.md); NULL = unknown.",
    "veteran_status": "protected_veteran or not_protected_veteran; NULL = unknown.",
    "disability_status": "yes or no; NULL = unknown.",
    "collected_at": "When the response was collected, in UTC; NULL when the export has none.",
    "content_hash": "sha256 of the normalized content: equal ids with unequal content are conflicting duplicates.",
    "source_file": "Landing file the record was first read from, relative to its feed folder; for an event derived "
                   "from an ATS's tables, <ats>/<table file> (e.g. greenhouse/application_history.csv).",
    "source_line": "Line in that file (CSV: file line; JSON Lines: record number; Parquet: row number).",
    "batch_id": "The Dagster run that ingested it.",
    "ingested_at": "When it was ingested (UTC).",
}


@dg.asset(
    group_name="ingestion",
    kinds={"duckdb", "yaml"},
    description="The active configuration (FUNNEL_HOME/funnel.yaml, or the packaged default) as tables: "
    "config_stages, config_role_stages, config_role_skills, config_skills, config_settings.",
)
def funnel_config(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
    with failure_policy(context):
        config = warehouse.config()
        with warehouse.connect() as conn:
            write_config_tables(conn, config)
    say(context, f"configuration from {config.source}: {len(config.roles)} roles, {len(config.stages)} stages")
    return dg.MaterializeResult(
        metadata={
            "source": config.source,
            "roles": ", ".join(config.roles),
            "stages": ", ".join(config.stages),
            "team_matching_stall_days": config.team_matching_stall_days,
            "pseudonymize_interviewers": config.pseudonymize_interviewers,
        }
    )


def _summary_markdown(result: FeedResult) -> str:
    lines = ["| file | status | rows read | accepted | duplicates | quarantined | problem |", "|---|---|---|---|---|---|---|"]
    for f in result.files:
        if f.status == "unchanged":
            continue
        lines.append(
            f"| {f.path} | {f.status} | {f.rows_read} | {f.rows_accepted} | {f.rows_duplicate} | "
            f"{f.rows_quarantined} | {f.problem or f.warning or ''} |"
        )
    return "\n".join(lines) if len(lines) > 2 else "No new or changed files."


def _ingestion_asset(feed: Feed, description: str, columns: dict[str, str] | None = None) -> dg.AssetsDefinition:
    table = RECORD_TABLES[feed.name]
    descriptions = {**RECORD_COLUMNS, **(columns or {})}
    # The ATS assets write stage events, interviews and responses too: the records' checks come after them.
    ats = [dg.AssetKey(name) for name in ATS_NAMES] if feed.name in ATS_FEEDS else []

    @dg.asset(
        name=table,
        group_name="ingestion",
        kinds={"duckdb", "polars"},
        deps=[funnel_config, *ats],
        description=description,
    )
    def ingest(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
        with failure_policy(context):
            config = warehouse.config()
            with warehouse.connect() as conn:
                result = ingest_feed(
                    conn, warehouse.paths.feed_dir(feed.name), feed, config, context.run.run_id, lambda m: say(context, m)
                )
                total = conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                quarantined_total = conn.execute(
                    "SELECT count(*) FROM quarantined_rows WHERE feed = ?", [feed.name]
                ).fetchall()[0][0]
                schema = column_schema(conn, table, descriptions)
        accepted = result.total("rows_accepted")
        say(
            context,
            f"{feed.name}: {result.count('ingested')} file(s) read, {result.count('rejected')} rejected, "
            f"{accepted:,} rows accepted, {result.total('rows_duplicate'):,} duplicates dropped, "
            f"{result.total('rows_quarantined'):,} quarantined",
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": total,
                "dagster/column_schema": schema,
                "files_read": result.count("ingested"),
                "files_already_ingested": result.count("already_ingested"),
                "files_rejected": result.count("rejected"),
                "files_unchanged": result.count("unchanged"),
                "rows_accepted": accepted,
                "rows_duplicate": result.total("rows_duplicate"),
                "rows_quarantined": result.total("rows_quarantined"),
                "quarantined_by_reason": dg.MetadataValue.json(result.quarantined_by_reason),
                "quarantined_total": quarantined_total,
                "files": dg.MetadataValue.md(_summary_markdown(result)),
            }
        )

    return ingest


stage_outcome_records = _ingestion_asset(
    STAGE_OUTCOMES,
    "Stage outcomes from landing/stage_outcomes/, typed (UTC timestamps) and deduplicated by record id. "
    "Only new or changed files are read; rows breaking the contract go to quarantined_rows with a reason code.",
)
interview_records = _ingestion_asset(
    INTERVIEWS,
    "Onsite-loop interviews from landing/interviews/ (one interviewer's assigned skill and recommendation), "
    "typed and deduplicated like the stage outcomes; rows breaking the contract go to quarantined_rows.",
)
demographic_records = _ingestion_asset(
    DEMOGRAPHICS,
    "Voluntary self-identification from landing/demographics/ (sex, race/ethnicity, veteran and disability "
    "status), one row per response, categories normalized (unknowns as NULL) and deduplicated by candidate and "
    "collected_at. Working database only, never published: the marts use it only for adverse_impact's "
    "suppressed aggregates. Its metadata and logs hold counts, never a response's values.",
    {"record_id": "sha256 of candidate_id and collected_at (empty when none): a response has no id of its own.",
     "candidate_id": "The person who responded."},
)
