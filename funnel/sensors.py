"""The landing-file sensor: a run when new or changed files arrive, never two for the same files."""

import hashlib
import json
import os

import dagster as dg
import duckdb

from funnel.contract import FEEDS
from funnel.ingest import already_held, discover
from funnel.jobs import funnel_job
from funnel.resources import FunnelWarehouse
from funnel.sources import ATS_NAMES
from funnel.warehouse import WarehouseBusy, connect, exclusive_lock


def landing_listing(warehouse: FunnelWarehouse) -> dict[str, str]:
    """{feed/relative path: "size:mtime_ns"} for every landing file. Cheap: no file is read."""
    listing = {}
    for feed in (*FEEDS, *ATS_NAMES):  # the contract's feeds, and the ATS tables' folders
        for rel, path in discover(warehouse.paths.feed_dir(feed)):
            try:
                st = path.stat()
            except OSError:  # vanished between listing and stat: the next tick sees the truth
                continue
            listing[f"{feed}/{rel}"] = f"{st.st_size}:{st.st_mtime_ns}"
    return listing


def held_by_working_database(warehouse: FunnelWarehouse, names: list[str]) -> set[str]:
    """Those of `names` (feed/relative path) whose content the working database already holds
    (landing_files): a run would read nothing from them. Raises WarehouseBusy when a run holds the
    database: DuckDB allows no reader beside a writer, and the sensor must never wait on a run."""
    working_db = warehouse.paths.working_db
    if not working_db.exists():
        return set()
    by_feed: dict[str, list] = {}
    for name in names:
        feed, rel = name.split("/", 1)
        by_feed.setdefault(feed, []).append((rel, warehouse.paths.feed_dir(feed) / rel))
    with exclusive_lock(working_db, timeout=0):
        conn = connect(working_db, read_only=True)
        try:
            return {f"{feed}/{rel}" for feed, files in by_feed.items() for rel in already_held(conn, feed, files)}
        except duckdb.CatalogException:  # a database no run has finished creating: it holds nothing
            return set()
        finally:
            conn.close()


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
    description="Starts a run of funnel_job when files under FUNNEL_HOME/landing/ hold new content: "
    "new or changed by size and modification time, and not already in the working database (files a "
    "`funnel run` ingested start nothing). The cursor remembers what was seen, so the same files never "
    "start two runs; deleted files start none.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: FunnelWarehouse):
    listing = landing_listing(warehouse)
    seen = json.loads(context.cursor) if context.cursor else {}
    stat_changed = sorted(name for name, stamp in listing.items() if seen.get(name) != stamp)
    if not stat_changed:
        return dg.SkipReason(f"no new or changed files under {warehouse.paths.landing} ({len(listing)} files seen)")
    try:
        held = held_by_working_database(warehouse, stat_changed)
    except WarehouseBusy:
        # The cursor stays: the next tick looks at these files again.
        return dg.SkipReason(f"{len(stat_changed)} new or changed file(s), but a run is using the working "
                             "database; they are checked on the next tick")
    context.update_cursor(json.dumps(listing, sort_keys=True))
    changed = [name for name in stat_changed if name not in held]
    if not changed:
        return dg.SkipReason(f"{len(stat_changed)} new or changed file(s) under {warehouse.paths.landing}, all with "
                             "content the working database already holds (ingested by an earlier run)")
    # The run key names exactly these file versions: Dagster never starts two runs for one key.
    run_key = hashlib.sha256(json.dumps({n: listing[n] for n in changed}, sort_keys=True).encode()).hexdigest()
    preview = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    context.log.info(f"{len(changed)} new or changed file(s): {preview}")
    return dg.RunRequest(run_key=run_key, tags={"funnel/trigger": "landing_files_sensor", "funnel/changed_files": str(len(changed))})
