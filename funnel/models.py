"""The SQL models (staging -> intermediate -> marts): one file per table under funnel/sql/<layer>/.

Every file holds a single SELECT; the staging layer is built as views, the intermediate and marts
layers as tables. A leading block of `--` comments is the table's description, with two kinds of
special line:

    -- depends_on: a, b             the tables the SELECT reads
    -- incremental_by: application_id [as application_key]
                                    the table is made of independent groups of rows, one per value of
                                    this key: a run rebuilds only the groups of the keys its new records
                                    touched (funnel.build). A mart can be incremental too when its SELECT
                                    ends in an ORDER BY: its rows are replaced in place, so the published
                                    copy is put in that order (`published_order`)

Column descriptions live in funnel/sql/<layer>/schema.yml and are applied as DuckDB comments and
as Dagster column schema metadata. Nothing here imports Dagster: tests and benchmarks build the
models directly (funnel.build), the assets in funnel.assets.marts wrap the same models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Mapping

import yaml

SQL_DIR = Path(__file__).resolve().parent / "sql"
LAYERS = ("staging", "intermediate", "marts")

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
CONFIG_TABLES = tuple(table for table in SOURCE_ASSETS if table.startswith("config_"))

# The record table whose new rows say which keys of an incremental model a run must rebuild.
INCREMENTAL_KEYS: dict[str, str] = {
    "application_id": "stage_outcome_records",
    "candidate_id": "demographic_records",
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

_TRAILING_ORDER_BY = re.compile(r"\bORDER\s+BY\s+([^()]+?)\s*$", re.IGNORECASE)
_SPECIAL = re.compile(r"^(depends_on|incremental_by)\s*:\s*(.*)$", re.IGNORECASE)


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
    incremental_by: str | None = None
    # The column that identifies a key's rows in the table, when it is not the key itself (a
    # published mart shows application_key, not application_id): `incremental_by: application_id
    # as application_key`. The touched keys' old rows are then those whose column value the
    # recomputed rows hold, so every touched key must still have a row (one row per application).
    incremental_column: str | None = None

    @property
    def materialized(self) -> str:
        """"view" for staging (a projection of the records and a lookup in a 13-row catalog: writing
        it as a table cost ~9 s at 10M records, recomputing it in each reader costs a fraction),
        "table" for the rest."""
        return "view" if self.layer == "staging" else "table"

    @property
    def published_order(self) -> str:
        """The ORDER BY its published copy needs ("" when the table is already in its order): an
        incremental mart's rows are replaced in place, so only a full build leaves them in order."""
        if self.incremental_by is None:
            return ""
        match = _TRAILING_ORDER_BY.search(self.sql)
        return f"ORDER BY {match.group(1).strip()}" if match else ""

    @property
    def model_deps(self) -> tuple[str, ...]:
        return tuple(d for d in self.depends_on if d not in SOURCE_ASSETS)

    @property
    def asset_deps(self) -> tuple[str, ...]:
        keys: dict[str, None] = {}
        for dep in self.depends_on:
            keys.update(dict.fromkeys(SOURCE_ASSETS.get(dep, (dep,))))
        return tuple(keys)


def _parse_header(text: str) -> tuple[str, dict[str, list[str]], str]:
    """(description, special lines, body) of a model file."""
    lines = text.splitlines()
    description: list[str] = []
    special: dict[str, list[str]] = {"depends_on": [], "incremental_by": []}
    i = 0
    while i < len(lines) and (lines[i].strip().startswith("--") or not lines[i].strip()):
        comment = lines[i].strip()[2:].strip()
        match = _SPECIAL.match(comment)
        if match:
            special[match.group(1).lower()].extend(d.strip() for d in match.group(2).split(",") if d.strip())
        elif comment:
            description.append(comment)
        i += 1
    body = "\n".join(lines[i:]).strip().rstrip(";").strip()
    return " ".join(description), special, body


def _load_schema(layer_dir: Path) -> dict[str, dict[str, str]]:
    path = layer_dir / "schema.yml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: dict((spec or {}).get("columns") or {}) for name, spec in (data.get("models") or {}).items()}


def _check_incremental(model: Model, models: Mapping[str, Model]) -> None:
    """An incremental model may read only what can be narrowed to the touched keys: its key's record
    table (through staging), incremental models with the same key, and the configuration."""
    key = model.incremental_by
    if key is None:
        return
    if model.layer == "staging":
        raise ValueError(f"{model.path}: a view cannot be incremental")
    if model.layer == "marts" and not model.published_order:
        raise ValueError(f"{model.path}: an incremental mart's SELECT must end in ORDER BY (its published order)")
    if key not in INCREMENTAL_KEYS:
        raise ValueError(f"{model.path}: incremental_by {key!r} is not one of {sorted(INCREMENTAL_KEYS)}")
    for dep in model.depends_on:
        upstream = models.get(dep)
        if upstream is None:
            allowed = dep == INCREMENTAL_KEYS[key] or dep in CONFIG_TABLES
        elif upstream.layer == "staging":
            allowed = all(d == INCREMENTAL_KEYS[key] or d in CONFIG_TABLES for d in upstream.depends_on)
        else:
            allowed = upstream.incremental_by == key
        if not allowed:
            raise ValueError(f"{model.path}: incremental_by {key} but reads {dep}, which is not narrowed by {key}")


@lru_cache(maxsize=1)
def load_models() -> tuple[Model, ...]:
    """Every model, in an order where each comes after the models it reads."""
    models: dict[str, Model] = {}
    for layer in LAYERS:
        layer_dir = SQL_DIR / layer
        columns = _load_schema(layer_dir)
        for path in sorted(layer_dir.glob("*.sql")):
            description, special, body = _parse_header(path.read_text(encoding="utf-8"))
            if not description:
                raise ValueError(f"{path}: needs a leading -- comment describing the table")
            if len(special["incremental_by"]) > 1:
                raise ValueError(f"{path}: incremental_by names one key column")
            key, _, column = (special["incremental_by"] or [""])[0].partition(" as ")
            models[path.stem] = Model(
                path.stem, layer, path, body, description, tuple(dict.fromkeys(special["depends_on"])),
                columns.get(path.stem, {}), key.strip() or None, (column.strip() or key.strip()) or None,
            )
    for model in models.values():
        unknown = [d for d in model.model_deps if d not in models]
        if unknown:
            raise ValueError(f"{model.path}: depends_on names unknown tables {unknown}")
        _check_incremental(model, models)
    order = TopologicalSorter({m.name: set(m.model_deps) for m in models.values()})
    # deterministic: among the models ready to build, staging first, then by name
    ordered: list[str] = []
    order.prepare()
    while order.is_active():
        ready = sorted(order.get_ready(), key=lambda name: (LAYERS.index(models[name].layer), name))
        ordered.extend(ready)
        order.done(*ready)
    return tuple(models[name] for name in ordered)


def published_order() -> dict[str, str]:
    """{mart: ORDER BY clause} for the published marts whose working copy is not in order."""
    return {m.name: m.published_order for m in load_models() if m.name in PUBLISHED_MARTS and m.published_order}
