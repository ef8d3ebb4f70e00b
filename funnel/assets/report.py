"""The funnel report asset: the published database rendered as one self-contained HTML page.

It reads only FUNNEL_HOME/warehouse/funnel.duckdb, read-only, the way an analyst would, after
`published_warehouse`; it never opens the pipeline's working database. The rendering lives in
funnel.report, imported inside the asset so that loading the definitions does not import
matplotlib. When the published tables the report shows are unchanged since it was last rendered
(funnel.report.render_report with reuse), the asset keeps that report and materializes in
milliseconds, with `reused` in its metadata, so lineage stays whole without a render per run.
"""

from datetime import datetime, timezone

import dagster as dg

from funnel.assets.progress import say
from funnel.assets.publishing import published_warehouse
from funnel.resources import FunnelWarehouse


def _timestamp(value: datetime) -> dg.MetadataValue:
    """A naive UTC datetime (as the published tables hold them) as Dagster timestamp metadata."""
    return dg.MetadataValue.timestamp(value.replace(tzinfo=timezone.utc).timestamp())


@dg.asset(
    group_name="reporting",
    kinds={"html", "matplotlib"},
    deps=[published_warehouse],
    description="FUNNEL_HOME/reports/funnel_report.html: a self-contained HTML report of the published database "
    "(a funnel per role with 95% Wilson intervals on pass rates, skip rates, team-matching drop-off by cohort "
    "month, onsite loop skill coverage, who gets through: source effectiveness and adverse impact per role, each "
    "with its table), a dated copy named after the publish, and "
    "reports/funnel.png, the headline funnel chart, shown in the metadata. Reads only the published "
    "database, read-only. Rendered only when a published table it shows changed (or the report code, or its "
    "files are missing): otherwise the report of an earlier publish of the very same tables is kept, and "
    "`reused` is true; its 'Published' stamp, run id and dated copy are that earlier publish's, and "
    "`latest_published_run_id` names the newest publish.",
)
def funnel_report(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
    from funnel.report import png_markdown, render_report, report_dir

    home = warehouse.paths
    if not home.published_db.exists():
        context.log.warning(f"{home.published_db} does not exist yet: the report says there is no data")
    paths = render_report(home.published_db, report_dir(home.root), reuse=True)
    if paths.reused:
        shown = f" (run {paths.run_id})" if paths.run_id else ""
        say(context, f"report unchanged, not rendered: the published tables it shows are those of the publish it"
                     f" shows{shown}; kept {paths.html}")
    elif paths.empty:
        say(context, f"wrote {paths.html}: no data yet")
    else:
        say(context, f"wrote {paths.html}: {paths.applications:,} applications, {len(paths.chart_ids)} charts"
                     f" ({paths.reason})")
    metadata: dict[str, object] = {
        "path": dg.MetadataValue.path(str(paths.html)),
        "url": dg.MetadataValue.url(paths.html.as_uri()),
        "funnel": dg.MetadataValue.md(png_markdown(paths.png, "funnel")),
        "png_path": dg.MetadataValue.path(str(paths.png)),
        "applications": dg.MetadataValue.int(paths.applications),
        "charts": dg.MetadataValue.json(list(paths.chart_ids)),
        "published_run_id": dg.MetadataValue.text(paths.run_id or ""),
        "reused": dg.MetadataValue.bool(paths.reused),
        "reason": dg.MetadataValue.text(paths.reason),
        "latest_published_run_id": dg.MetadataValue.text(paths.latest_run_id or ""),
    }
    if paths.dated_html is not None:
        metadata["dated_path"] = dg.MetadataValue.path(str(paths.dated_html))
    if paths.published_at is not None:
        metadata["published_at"] = _timestamp(paths.published_at)
    if paths.latest_published_at is not None:
        metadata["latest_published_at"] = _timestamp(paths.latest_published_at)
    if paths.as_of is not None:
        metadata["as_of"] = _timestamp(paths.as_of)
    return dg.MaterializeResult(metadata=metadata)
