"""The SQL model files, their Dagster assets, column descriptions, docs, and a real materialization."""

import re
from pathlib import Path

import dagster as dg
import pytest

try:
    from funnel_tests.marts_fixtures import build, insert_outcomes, key, one, outcome, rows, small_config, worked_example
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import build, insert_outcomes, key, one, outcome, rows, small_config, worked_example

from funnel.models import PUBLISHED_MARTS, SOURCE_ASSETS, load_models
from funnel.build import build_all
from funnel.assets.marts import markdown_preview, sql_models
from funnel.resources import FunnelWarehouse
from funnel.warehouse import connect, create_schema, table_columns, write_config_tables

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
MODELS = {m.name: m for m in load_models()}


def test_one_asset_per_sql_file_with_layers_and_kinds():
    # one step builds them all (a subsettable multi-asset); each table is its own asset
    by_key = {key.to_user_string(): spec for key, spec in sql_models.specs_by_key.items()}
    assert set(by_key) == set(MODELS)
    assert sql_models.can_subset and sql_models.op.name == "sql_models"
    for name, model in MODELS.items():
        asset = sql_models
        spec = by_key[name]
        assert model.path.name == f"{name}.sql" and model.path.parent.name == model.layer
        assert spec.group_name == model.layer in ("staging", "intermediate", "marts")
        assert spec.kinds == {"duckdb", "sql"}
        assert spec.description and spec.description == model.description
        assert "warehouse" in asset.required_resource_keys
        assert {dep.asset_key.to_user_string() for dep in spec.deps} == set(model.asset_deps)


def test_lineage_reaches_the_ingestion_assets():
    deps = {key.to_user_string(): {d.asset_key.to_user_string() for d in spec.deps}
            for key, spec in sql_models.specs_by_key.items()}
    assert deps["stg_stage_outcomes"] == {"stage_outcome_records", "funnel_config"}
    assert deps["stg_interviews"] == {"interview_records", "funnel_config"}
    assert deps["quarantine_summary"] == {"stage_outcome_records", "interview_records", "demographic_records"}
    assert deps["stage_pass_rates"] == {"int_application_stages", "int_stage_durations", "funnel_config"}
    assert deps["loop_skill_coverage_summary"] == {"loop_skill_coverage"}
    # every mart reaches an ingestion asset through the graph
    def upstream(name):
        seen, todo = set(), [name]
        while todo:
            for dep in deps.get(todo.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen
    for table in PUBLISHED_MARTS:
        assert upstream(table) & {"stage_outcome_records", "interview_records"}, table


def _referenced_tables(sql: str) -> set[str]:
    ctes = set(re.findall(r"(?:\bWITH|,)\s*([a-z_][a-z0-9_]*)\s+AS\s*\(", sql, flags=re.IGNORECASE))
    found = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b(?!\.)", sql, flags=re.IGNORECASE))
    return {t for t in found if t not in ctes and t.lower() not in {"unnest", "lateral"}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_depends_on_header_matches_the_tables_read(name):
    model = MODELS[name]
    assert _referenced_tables(model.sql) == set(model.depends_on)
    for dep in model.depends_on:
        assert dep in MODELS or dep in SOURCE_ASSETS
    assert not model.sql.rstrip().endswith(";") and model.sql.lstrip().upper().startswith(("SELECT", "WITH"))


def test_build_order_puts_every_model_after_what_it_reads():
    order = [m.name for m in load_models()]
    for model in load_models():
        for dep in model.model_deps:
            assert order.index(dep) < order.index(model.name)


def test_published_marts_are_the_marts_layer():
    assert set(PUBLISHED_MARTS) == {m.name for m in load_models() if m.layer == "marts"}
    assert len(PUBLISHED_MARTS) == len(set(PUBLISHED_MARTS))
    for required in ("stage_pass_rates", "stage_pass_rates_monthly", "skipped_stages", "application_journeys",
                     "team_matching_dropoff", "team_matching_dropoff_monthly", "loop_skill_coverage",
                     "loop_skill_coverage_summary", "interviewer_calibration", "travel_vetting", "source_effectiveness",
                     "source_effectiveness_monthly", "quarantine_summary"):
        assert required in PUBLISHED_MARTS


CONTRACT = {
    "stage_pass_rates": "role stage stage_order entered passed failed withdrew in_progress skipped pass_rate pass_rate_low"
                        " pass_rate_high pass_through_rate median_days_in_stage p90_days_in_stage",
    "stage_pass_rates_monthly": "role cohort_month stage stage_order entered passed failed withdrew in_progress skipped"
                                " pass_rate pass_rate_low pass_rate_high pass_through_rate median_days_in_stage p90_days_in_stage",
    "skipped_stages": "role stage skipped_explicit skipped_implied skipped skip_rate",
    "application_journeys": "application_key role cohort_month stages_entered furthest_stage final_status skipped_stages"
                            " fast_tracked requires_travel",
    "team_matching_dropoff": "role cleared matched unmatched withdrew in_matching stalled awaiting offer_extended"
                             " offer_accepted dropoff_rate median_days_to_match",
    "team_matching_dropoff_monthly": "role cohort_month cleared matched unmatched withdrew in_matching stalled awaiting"
                                     " offer_extended offer_accepted dropoff_rate median_days_to_match",
    "loop_skill_coverage": "application_key role interviewers skills_covered skills_missing skills_doubled fully_covered",
    "loop_skill_coverage_summary": "role loops fully_covered fully_covered_rate most_often_missing_skill",
    "interviewer_calibration": "interviewer_id interviews yes_share agreement_rate",
    "travel_vetting": "role requires_travel applications reached_onsite mean_stages_before_onsite onsite_pass_rate",
    "source_effectiveness": "role source stage stage_order entered passed pass_rate applications reached_onsite"
                            " onsite_pass_rate offers_extended offers_accepted offer_acceptance_rate hired hire_rate"
                            " hire_rate_low hire_rate_high median_days_to_hire",
    "source_effectiveness_monthly": "role source cohort_month stage entered passed applications reached_onsite"
                                    " offers_extended hired hire_rate hire_rate_low hire_rate_high median_days_to_hire",
    "quarantine_summary": "feed reason rows",
    "adverse_impact": "role step dimension group_name applicants selected selection_rate reference_group is_reference"
                      " impact_ratio four_fifths_flag z p_value significant shortfall flip_flop suppressed below_min_share",
}


def test_contract_columns_and_descriptions_of_every_column():
    conn = build([])
    for name, model in MODELS.items():
        columns = [c for c, _ in table_columns(conn, name)]
        assert set(columns) == set(model.columns), f"{name}: schema.yml and the table disagree"
        assert all(model.columns[c] for c in columns)
        for column, comment in conn.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ?", [name]
        ).fetchall():
            assert comment == model.columns[column]
        catalog = "duckdb_views() WHERE view_name" if model.layer == "staging" else "duckdb_tables() WHERE table_name"
        assert conn.execute(f"SELECT comment FROM {catalog} = ?", [name]).fetchall() == [(model.description,)]
    for table, wanted in CONTRACT.items():
        columns = {c for c, _ in table_columns(conn, table)}
        assert set(wanted.split()) <= columns, (table, set(wanted.split()) - columns)


def test_docs_define_every_published_table_and_column():
    text = DOCS.read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.MULTILINE)
    by_table = {section.split("`")[1]: section for section in sections[1:] if section.startswith("`")}
    for table in PUBLISHED_MARTS:
        assert table in by_table, f"docs/metrics.md has no '### `{table}`' section"
        for column in MODELS[table].columns:
            assert re.search(rf"^\| `{re.escape(column)}` \|", by_table[table], flags=re.MULTILINE), (table, column)


def test_docs_worked_example_matches_the_fixture():
    """docs/metrics.md quotes these numbers; test_marts_stage_rates asserts them one by one too."""
    text = DOCS.read_text(encoding="utf-8")
    for quoted in ("| swe | technical_screen | 3 | 5 | 2 | 1 | 1 | 1 | 2 | 0.6667 | 0.2077 | 0.9385 | 0.4 | 0.2857 | 4 | 6.8 |",):
        assert quoted in text
    conn = build(worked_example())
    row = one(conn, "stage_pass_rates", role="swe", stage="technical_screen")
    shown = [row["stage_order"], row["entered"], row["passed"], row["failed"], row["withdrew"], row["in_progress"],
             row["skipped"], round(row["pass_rate"], 4), round(row["pass_rate_low"], 4), round(row["pass_rate_high"], 4),
             round(row["pass_through_rate"], 4), round(row["skip_rate"], 4), row["median_days_in_stage"],
             row["p90_days_in_stage"]]
    assert "| swe | technical_screen | " + " | ".join(f"{v:g}" for v in shown) + " |" in text


def test_markdown_preview():
    conn = build([outcome("q1", "q", "ds", "offer", "passed", "2024-03-01 09:00")])
    preview = markdown_preview(conn, "application_journeys")
    lines = preview.splitlines()
    assert lines[0].startswith("| application_key | role |") and lines[1].startswith("| --- |")
    assert len(lines) == 3 and key("q") in lines[2]


def test_build_all_is_idempotent_and_reports_row_counts():
    conn = build(worked_example())
    before = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in PUBLISHED_MARTS}
    counts = build_all(conn, small_config())
    assert counts["application_journeys"] == 7 and counts["stage_pass_rates"] == 12
    assert {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in PUBLISHED_MARTS} == before


def test_a_staging_table_left_by_an_older_version_becomes_a_view():
    conn = build(worked_example())
    expected = conn.execute("SELECT * FROM stg_stage_outcomes ORDER BY record_id").fetchall()
    conn.execute("DROP VIEW stg_stage_outcomes")
    conn.execute("CREATE TABLE stg_stage_outcomes AS SELECT 'stale' AS record_id")
    build_all(conn, small_config())
    assert conn.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'stg_stage_outcomes'").fetchone() == (1,)
    assert conn.execute("SELECT * FROM stg_stage_outcomes ORDER BY record_id").fetchall() == expected
    assert expected


def test_quarantine_summary():
    conn = build([])
    conn.execute(
        """
        INSERT INTO quarantined_rows VALUES
          ('stage_outcomes', 'a.csv', 2, 'bad_timestamp', 'occurred_at: x', NULL, '{}', 'h1', 'b', '2024-03-01 09:00'),
          ('stage_outcomes', 'a.csv', 3, 'bad_timestamp', 'occurred_at: y', NULL, '{}', 'h2', 'b', '2024-03-01 09:00'),
          ('stage_outcomes', 'b.csv', 2, 'bad_timestamp', 'occurred_at: z', NULL, '{}', 'h3', 'b', '2024-03-02 09:00'),
          ('stage_outcomes', 'b.csv', 4, 'unknown_role', 'role: pilot', NULL, '{}', 'h4', 'b', '2024-03-02 09:00'),
          ('interviews', 'i.csv', 2, 'unknown_skill', 'skill: juggling', NULL, '{}', 'h5', 'b', '2024-03-03 09:00')
        """
    )
    build_all(conn, only=["quarantine_summary"])
    got = [(r["feed"], r["reason"], r["rows"], r["files"]) for r in rows(conn, "quarantine_summary")]
    assert got == [
        ("interviews", "unknown_skill", 1, 1),
        ("stage_outcomes", "bad_timestamp", 3, 2),
        ("stage_outcomes", "unknown_role", 1, 1),
    ]


def test_dagster_materializes_every_table_with_metadata(tmp_path):
    warehouse = FunnelWarehouse(home=str(tmp_path))
    warehouse.paths.ensure()
    conn = connect(warehouse.paths.working_db)
    create_schema(conn)
    write_config_tables(conn, small_config())
    insert_outcomes(conn, worked_example())
    conn.close()

    result = dg.materialize([sql_models], resources={"warehouse": warehouse})
    assert result.success
    materialized = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(materialized) == set(MODELS)
    spr = materialized["stage_pass_rates"].materialization.metadata
    assert spr["dagster/row_count"].value == 12
    schema = spr["dagster/column_schema"].schema
    columns = {c.name: c for c in schema.columns}
    assert columns["pass_rate"].description == MODELS["stage_pass_rates"].columns["pass_rate"]
    assert columns["entered"].type == "BIGINT"
    assert "technical_screen" in spr["preview"].value
    assert "preview" not in materialized["int_applications"].materialization.metadata
    assert materialized["application_journeys"].materialization.metadata["dagster/row_count"].value == 7

    conn = connect(warehouse.paths.working_db, read_only=True)
    try:
        row = one(conn, "stage_pass_rates", role="swe", stage="technical_screen")
        assert (row["entered"], row["passed"], row["skipped"]) == (5, 2, 2)
    finally:
        conn.close()
