"""The analytics layers (staging -> intermediate -> marts) as Dagster assets over SQL files.

Every table is one SQL file under funnel/sql/<layer>/<table>.sql holding a single SELECT; the
staging layer is built as views, the intermediate and marts layers as tables.
A leading block of `--` comments is the table's description; a `-- depends_on: a, b` line in
it names the tables the SELECT reads. Column descriptions live in funnel/sql/<layer>/schema.yml
and are applied as DuckDB comments and as Dagster column schema metadata.

`build_all(conn, config, key_secret=...)` runs every model in dependency order without Dagster
(tests, benchmarks); `mart_assets` are the same models as Dagster assets (their connection
carries the installation's key, see funnel.keys).
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Iterable, Mapping

import dagster as dg
import duckdb
import yaml

from funnel.assets.failures import failure_policy
from funnel.assets.progress import say
from funnel.config import Config
from funnel.keys import install_key
from funnel.metrics import create_sql_macros
from funnel.resources import FunnelWarehouse
from funnel.warehouse import create_schema, table_columns, write_config_tables

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = ("staging", "intermediate", "marts")
PREVIEW_ROWS = 10
# What analysts see should be at most a day old (the daily schedule), with slack for a failed run:
# the UI marks a published mart stale (warn) after 26 hours and failing after 48.
PUBLISHED_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26))

# Tables written outside these models, mapped to the Dagster assets that write them.
SOURCE_ASSETS: dict[str, tuple[str, ...]] = {
    "stage_outcome_records": ("stage_outcome_records",),
    "interview_records": ("interview_records",),
    "demographic_records": ("demographic_records",),
    # The ingestion assets record refused rows and landing files as they go.
    "quarantined_rows": ("stage_outcome_records", "interview_records", "demographic_records"),
    "landing_files": ("interview_records",),
    "config_stages": ("funnel_config",),
    "config_role_stages": ("funnel_config",),
    "config_role_skills": ("funnel_config",),
    "config_skills": ("funnel_config",),
    "config_settings": ("funnel_config",),
}

# The tables analysts get, in the order they are documented.
PUBLISHED_MARTS: tuple[str, ...] = (
    "stage_pass_rates",
    "stage_pass_rates_monthly",
    "skipped_stages",
    "application_journeys",
    "team_matching_dropoff",
    "team_matching_dropoff_monthly",
    "loop_skill_coverage",
    "loop_skill_coverage_summary",
    "interviewer_calibration",
    "travel_vetting",
    "source_effectiveness",
    "source_effectiveness_monthly",
    "adverse_impact",
    "quarantine_summary",
)

_DEPENDS_ON = re.compile(r"^depends_on\s*:\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Model:
    """One SQL file: a table built by `CREATE OR REPLACE TABLE <name> AS <sql>`."""

    name: str
    layer: str
    path: Path
    sql: str
    description: str
    depends_on: tuple[str, ...]
    columns: Mapping[str, str] = field(default_factory=dict)

    @property
    def materialized(self) -> str:
        """"view" for staging (a projection of the records and a lookup in a 13-row catalog: writing
        it as a table cost ~9 s at 10M records, recomputing it in each reader costs a fraction),
        "table" for the rest."""
        return "view" if self.layer == "staging" else "table"

    @property
    def model_deps(self) -> tuple[str, ...]:
        return tuple(d for d in self.depends_on if d not in SOURCE_ASSETS)

    @property
    def asset_deps(self) -> tuple[str, ...]:
        keys: dict[str, None] = {}
        for dep in self.depends_on:
            keys.update(dict.fromkeys(SOURCE_ASSETS.get(dep, (dep,))))
        return tuple(keys)


def _parse_header(text: str) -> tuple[str, tuple[str, ...], str]:
    """(description, depends_on, body) of a model file."""
    lines = text.splitlines()
    description: list[str] = []
    depends: list[str] = []
    i = 0
    while i < len(lines) and (lines[i].strip().startswith("--") or not lines[i].strip()):
        comment = lines[i].strip()[2:].strip()
        match = _DEPENDS_ON.match(comment)
        if match:
            depends.extend(d.strip() for d in match.group(1).split(",") if d.strip())
        elif comment:
            description.append(comment)
        i += 1
    body = "\n".join(lines[i:]).strip().rstrip(";").strip()
    return " ".join(description), tuple(dict.fromkeys(depends)), body


def _load_schema(layer_dir: Path) -> dict[str, dict[str, str]]:
    path = layer_dir / "schema.yml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: dict((spec or {}).get("columns") or {}) for name, spec in (data.get("models") or {}).items()}


@lru_cache(maxsize=1)
def load_models() -> tuple[Model, ...]:
    """Every model, in an order where each comes after the models it reads."""
    models: dict[str, Model] = {}
    for layer in LAYERS:
        layer_dir = SQL_DIR / layer
        columns = _load_schema(layer_dir)
        for path in sorted(layer_dir.glob("*.sql")):
            description, depends_on, body = _parse_header(path.read_text(encoding="utf-8"))
            if not description:
                raise ValueError(f"{path}: needs a leading -- comment describing the table")
            models[path.stem] = Model(path.stem, layer, path, body, description, depends_on, columns.get(path.stem, {}))
    for model in models.values():
        unknown = [d for d in model.model_deps if d not in models]
        if unknown:
            raise ValueError(f"{model.path}: depends_on names unknown tables {unknown}")
    order = TopologicalSorter({m.name: set(m.model_deps) for m in models.values()})
    # deterministic: among the models ready to build, staging first, then by name
    ordered: list[str] = []
    order.prepare()
    while order.is_active():
        ready = sorted(order.get_ready(), key=lambda name: (LAYERS.index(models[name].layer), name))
        ordered.extend(ready)
        order.done(*ready)
    return tuple(models[name] for name in ordered)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_model(conn: duckdb.DuckDBPyConnection, model: Model, *, macros: bool = True, comments: bool = True) -> None:
    """(Re)build one table or view and attach its comments (from schema.yml)."""
    if macros:
        create_sql_macros(conn)
    table = _ident(model.name)
    kind = model.materialized.upper()
    # a working database from an older version may hold the model as the other kind
    other = conn.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $1 AND database_name = current_database() "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $1 AND database_name = current_database()",
        [model.name],
    ).fetchall()
    statements = [f"DROP {found} {table}" for (found,) in other if found != kind]
    statements.append(f"CREATE OR REPLACE {kind} {table} AS\n{model.sql}")
    if comments:
        statements.append(f"COMMENT ON {kind} {table} IS {_quote(model.description)}")
        statements.extend(
            f"COMMENT ON COLUMN {table}.{_ident(column)} IS {_quote(description)}"
            for column, description in model.columns.items()
        )
    conn.execute(";\n".join(statements))


def build_all(
    conn: duckdb.DuckDBPyConnection,
    config: Config | None = None,
    *,
    only: Iterable[str] | None = None,
    comments: bool = True,
    key_secret: bytes | None = None,
) -> dict[str, int]:
    """Build every model (or those named in `only`, in dependency order) on `conn`.

    With a config, its config_* tables are (re)written first. `comments=False` skips the
    COMMENT ON statements (quicker; for tests that only look at values). `key_secret`: the secret
    the published keys are keyed with (funnel.keys), unless the connection already has one
    loaded; the pseudonymous marts fail without it. Returns row counts.
    """
    conn.execute("SET TimeZone = 'UTC'")
    create_schema(conn)
    if key_secret is not None:
        install_key(conn, key_secret)
    if config is not None:
        write_config_tables(conn, config)
    create_sql_macros(conn)
    wanted = set(only) if only is not None else None
    counts: dict[str, int] = {}
    for model in load_models():
        if wanted is not None and model.name not in wanted:
            continue
        build_model(conn, model, macros=False, comments=comments)
        counts[model.name] = row_count(conn, model.name)
    return counts


def row_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchall()[0][0]


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


def markdown_preview(conn: duckdb.DuckDBPyConnection, table: str, limit: int = PREVIEW_ROWS) -> str:
    """The first rows of a table as a markdown table (the mart's own ORDER BY order)."""
    frame = conn.sql(f"SELECT * FROM {_ident(table)} LIMIT {int(limit)}").pl()
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body]) if frame.columns else "(no columns)"


def materialize_metadata(conn: duckdb.DuckDBPyConnection, model: Model) -> dict[str, object]:
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(row_count(conn, model.name)),
        "dagster/column_schema": column_schema(conn, model.name, model.columns),
        "dagster/table_name": model.name,
        "sql": dg.MetadataValue.md(f"```sql\n{model.sql}\n```"),
    }
    if model.layer == "marts":
        metadata["preview"] = dg.MetadataValue.md(markdown_preview(conn, model.name))
    return metadata


def _make_asset(model: Model) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        group_name=model.layer,
        kinds={"duckdb", "sql"},
        description=model.description,
        deps=[dg.AssetKey(key) for key in model.asset_deps],
        tags={"funnel/published": "true"} if model.name in PUBLISHED_MARTS else None,
        freshness_policy=PUBLISHED_FRESHNESS if model.name in PUBLISHED_MARTS else None,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: FunnelWarehouse) -> dg.MaterializeResult:
        with failure_policy(context), warehouse.connect() as conn:
            build_model(conn, model)
            metadata = materialize_metadata(conn, model)
        say(context, f"built {model.name}: {metadata['dagster/row_count'].value:,} rows")
        return dg.MaterializeResult(metadata=metadata)

    return _asset


mart_assets: list[dg.AssetsDefinition] = [_make_asset(model) for model in load_models()]
