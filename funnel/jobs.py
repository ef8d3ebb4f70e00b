"""The job that runs the whole asset graph: ingest, marts, checks, publish."""

import dagster as dg

# Every step of a run executes in one process, one after another (the Definitions' executor):
# DuckDB allows one writing process.
funnel_job = dg.define_asset_job(
    "funnel_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, rebuild the marts, check them and publish the analysts' database.",
)

