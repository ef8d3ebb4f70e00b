"""The landing-file sensor: a run when new or changed files arrive, never two for the same files."""

import hashlib
import json
import os

import dagster as dg

from funnel.contract import FEEDS
from funnel.ingest import discover
from funnel.jobs import funnel_job
from funnel.resources import FunnelWarehouse


def landing_listing(warehouse: FunnelWarehouse) -> dict[str, str]:
    """{feed/relative path: "size:mtime_ns"} for every landing file. Cheap: no file is read."""
    listing = {}
    for feed in FEEDS:
        for rel, path in discover(warehouse.paths.feed_dir(feed)):
            try:
                st = path.stat()
            except OSError:  # vanished between listing and stat: the next tick sees the truth
                continue
            listing[f"{feed}/{rel}"] = f"{st.st_size}:{st.st_mtime_ns}"
    return listing


@dg.sensor(
    name="landing_files_sensor",
    job=funnel_job,
    minimum_interval_seconds=int(os.environ.get("FUNNEL_SENSOR_INTERVAL", "60")),
    # On by default: dropping files into landing/ is how new data arrives. FUNNEL_SENSOR_DEFAULT=off
    # starts it stopped (switch it in the UI).
    default_status=(
        dg.DefaultSensorStatus.STOPPED
        if os.environ.get("FUNNEL_SENSOR_DEFAULT", "on") == "off"
        else dg.DefaultSensorStatus.RUNNING
    ),
    description="Starts a run of funnel_job when files under FUNNEL_HOME/landing/ are new or changed "
    "(by size and modification time). The cursor remembers what was seen, so the same files never "
    "start two runs; deleted files start none.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: FunnelWarehouse):
    listing = landing_listing(warehouse)
    seen = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, stamp in listing.items() if seen.get(name) != stamp)
    if not changed:
        return dg.SkipReason(f"no new or changed files under {warehouse.paths.landing} ({len(listing)} files seen)")
    # The run key names exactly these file versions: Dagster never starts two runs for one key.
    run_key = hashlib.sha256(json.dumps({n: listing[n] for n in changed}, sort_keys=True).encode()).hexdigest()
    context.update_cursor(json.dumps(listing, sort_keys=True))
    preview = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    context.log.info(f"{len(changed)} new or changed file(s): {preview}")
    return dg.RunRequest(run_key=run_key, tags={"funnel/trigger": "landing_files_sensor", "funnel/changed_files": str(len(changed))})
