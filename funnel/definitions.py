"""The Dagster code location: assembles assets, jobs and resources. `dagster dev` loads this."""

from __future__ import annotations

import dagster as dg

from funnel.assets import ingestion, marts, publishing
from funnel.resources import FunnelWarehouse
from funnel.settings import FunnelHome

# DuckDB allows one writer: every step of a run executes in one process, one after another.
funnel_job = dg.define_asset_job(
    "funnel_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, rebuild the marts and publish the analysts' database.",
)

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion]), *marts.mart_assets, publishing.published_warehouse],
    jobs=[funnel_job],
    resources={"warehouse": FunnelWarehouse(home=str(FunnelHome.from_env().root))},
    executor=dg.in_process_executor,
)
