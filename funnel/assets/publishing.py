"""The publish asset: the marts, copied into the database analysts open, swapped in atomically."""

import dagster as dg

from funnel.assets.ingestion import say
from funnel.assets.marts import PUBLISHED_MARTS
from funnel.publish import publish
from funnel.resources import FunnelWarehouse


@dg.asset(
    group_name="publishing",
    kinds={"duckdb"},
    deps=list(PUBLISHED_MARTS),
    description="FUNNEL_HOME/warehouse/funnel.duckdb, the database analysts open read-only: the marts plus "
    "publish_log. Built as a new file beside the old one and swapped in with an atomic rename.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        published = publish(conn, warehouse.paths.published_db, list(PUBLISHED_MARTS), context.run_id)
    say(context, f"published {len(published.row_counts)} tables to {published.path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "published_at": published.published_at.isoformat() + "Z",
            "row_counts": dg.MetadataValue.json(published.row_counts),
        }
    )
