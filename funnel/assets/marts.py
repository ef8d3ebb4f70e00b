"""The SQL models (staging -> intermediate -> marts, funnel.models) as Dagster assets.

All models are one subsettable multi-asset: one step builds every selected model (funnel.build,
incrementally where it can), and each table is still its own asset in the UI, with its lineage,
row count, column schema, SQL and, for the marts, a preview. One step instead of one per table
saves Dagster's per-step cost (about 0.1 s a step in the event log) and lets the intermediate
tables be updated together, in one transaction.
"""

from datetime import timedelta
from typing import Iterator, Mapping

import dagster as dg
import duckdb

from funnel.assets.failures import failure_policy
from funnel.assets.progress import log, say
from funnel.build import build_models, row_count
from funnel.models import PUBLISHED_MARTS, Model, load_models
from funnel.resources import FunnelWarehouse
from funnel.warehouse import table_columns

PREVIEW_ROWS = 10
# What analysts see should be at most a day old (the daily schedule), with slack for a failed run:
# the UI marks a published mart stale (warn) after 26 hours and failing after 48.
PUBLISHED_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_schema(conn: duckdb.DuckDBPyConnection, table: str, descriptions: Mapping[str, str]) -> dg.TableSchema:
    """The table's columns and types as Dagster shows them, each with its description."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=dtype, description=descriptions.get(name))
            for name, dtype in table_columns(conn, table)
        ]
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_preview(conn: duckdb.DuckDBPyConnection, table: str, limit: int = PREVIEW_ROWS, order: str = "") -> str:
    """The first rows of a table as a markdown table (the mart's own ORDER BY order, or `order`)."""
    frame = conn.sql(f"SELECT * FROM {_ident(table)} {order} LIMIT {int(limit)}").pl()
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body]) if frame.columns else "(no columns)"


def materialize_metadata(conn: duckdb.DuckDBPyConnection, model: Model, rows: int | None = None) -> dict[str, object]:
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(row_count(conn, model.name) if rows is None else rows),
        "dagster/column_schema": column_schema(conn, model.name, model.columns),
        "dagster/table_name": model.name,
        "sql": dg.MetadataValue.md(f"```sql\n{model.sql}\n```"),
    }
    if model.layer == "marts":
        metadata["preview"] = dg.MetadataValue.md(markdown_preview(conn, model.name, order=model.published_order))
    return metadata


def _spec(model: Model) -> dg.AssetSpec:
    published = model.name in PUBLISHED_MARTS
    return dg.AssetSpec(
        key=model.name,
        group_name=model.layer,
        kinds={"duckdb", "sql"},
        description=model.description,
        deps=[dg.AssetKey(key) for key in model.asset_deps],
        tags={"funnel/published": "true"} if published else None,
        freshness_policy=PUBLISHED_FRESHNESS if published else None,
        skippable=True,
    )


@dg.multi_asset(name="sql_models", specs=[_spec(model) for model in load_models()], can_subset=True)
def sql_models(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> Iterator[dg.MaterializeResult]:
    """Builds the selected models; the intermediate tables incrementally when the run selects them all."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with failure_policy(context), warehouse.connect() as conn:
        say(context, f"building {len(selected)} tables from the records")
        report = build_models(conn, selected)
        say(context, report.summary())
        results = []
        for model in load_models():
            if model.name in selected:
                metadata = materialize_metadata(conn, model, report.row_counts.get(model.name))
                # to the terminal only: each line in the run's event log costs a write, and the
                # materializations carry the row counts
                log.info(f"built {model.name}: {metadata['dagster/row_count'].value:,} rows")
                results.append(dg.MaterializeResult(asset_key=model.name, metadata=metadata))
    yield from results
