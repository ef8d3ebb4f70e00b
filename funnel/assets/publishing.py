"""The publish asset: the marts, copied into the database analysts open, swapped in atomically."""

from datetime import timezone

import dagster as dg

from funnel.assets.failures import failure_policy
from funnel.assets.progress import say
from funnel.models import PUBLISHED_MARTS, published_order
from funnel.assets.marts import PUBLISHED_FRESHNESS
from funnel.publish import publish
from funnel.resources import FunnelWarehouse


def check_results_of_run(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    """{asset:check -> passed} for every asset check this run evaluated, for publish_log."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = (record.event_log_entry.dagster_event.event_specific_data for record in records)
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in evaluations}


@dg.asset(
    group_name="publishing",
    kinds={"duckdb"},
    deps=list(PUBLISHED_MARTS),
    freshness_policy=PUBLISHED_FRESHNESS,
    description="FUNNEL_HOME/warehouse/funnel.duckdb, the database analysts open read-only: the marts plus "
    "publish_log. Built as a new file beside the old one and swapped in with an atomic rename, only after "
    "every blocking quality check upstream has passed.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
    target = warehouse.paths.published_db
    say(context, f"publishing {len(PUBLISHED_MARTS)} tables to {target}")
    checks = check_results_of_run(context.instance, context.run.run_id)
    with failure_policy(context), warehouse.connect() as conn:
        published = publish(conn, target, list(PUBLISHED_MARTS), context.run.run_id, checks, order=published_order())
    say(context, f"published {target} at {published.published_at.isoformat()}Z")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "published_at": dg.MetadataValue.timestamp(published.published_at.replace(tzinfo=timezone.utc).timestamp()),
            "row_counts": dg.MetadataValue.json(published.row_counts),
            "checks_passed": sum(checks.values()),
            "checks_failed": len(checks) - sum(checks.values()),
        }
    )
