"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources.
`dagster dev` loads it through workspace.yaml."""

import dagster as dg

from funnel.assets import checks, ingestion, marts, publishing, report, sources
from funnel.jobs import funnel_job
from funnel.resources import FunnelWarehouse
from funnel.schedules import daily_refresh
from funnel.sensors import landing_files_sensor
from funnel.settings import FunnelHome

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion]), *sources.source_assets, marts.sql_models, publishing.published_warehouse, report.funnel_report],
    asset_checks=checks.asset_checks,
    jobs=[funnel_job],
    schedules=[daily_refresh],
    sensors=[landing_files_sensor],
    resources={"warehouse": FunnelWarehouse(home=str(FunnelHome.from_env().root))},
    executor=dg.in_process_executor,
)
