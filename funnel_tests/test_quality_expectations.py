"""The Great Expectations suites: they pass on good data, name the right expectation with the right
counts and example rows on bad data, and tell a broken expectation (it raised) from bad data.

One generated warehouse per module; tests that change data work on a copy of its file.
GX is imported once per session (it takes seconds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from funnel.assets.marts import PUBLISHED_MARTS
from funnel.ingest import RECORD_TABLES
from funnel.quality.expectations import (
    MART_SPECS,
    RECORD_SPECS,
    ConfigValues,
    Rule,
    rules_for,
    validate_frame,
    validate_mart,
    validate_records,
    validate_table,
)
from funnel.settings import FunnelError
from funnel_tests.conftest import generated_warehouse, private_copy

BATCH = "run-good"
ENGINES = ("great_expectations", "duckdb")


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory) -> Path:
    return generated_warehouse(tmp_path_factory.mktemp("gx"), 150, 5, BATCH)


@pytest.fixture
def conn(warehouse_file: Path, tmp_path: Path):
    """A private copy of the good warehouse, to break on purpose."""
    with private_copy(warehouse_file, tmp_path) as connection:
        yield connection


def test_a_suite_is_defined_for_every_published_mart_and_both_record_tables():
    assert set(MART_SPECS) == set(PUBLISHED_MARTS)
    assert set(RECORD_SPECS) == set(RECORD_TABLES.values())
    config = ConfigValues(roles=("r",), stages=("s",), skills=("k",))
    descriptions = [r.description for r in rules_for(MART_SPECS["stage_pass_rates"], config)]
    assert len(descriptions) == len(set(descriptions))
    for expected in ("pass_rate is in [0, 1]", "pass_rate_low <= pass_rate", "pass_rate <= pass_rate_high",
                     "entered >= 0", "one row per (role, stage)", "entered = passed + failed + withdrew + in_progress",
                     "role is one of r (from the configuration's roles)"):
        assert expected in descriptions


def test_suites_pass_on_good_data(conn):
    # (every mart's suite passing on good data is also asserted end to end in test_quality_checks)
    config = ConfigValues.from_db(conn)
    for mart in ("stage_pass_rates", "application_journeys", "loop_skill_coverage"):
        result = validate_mart(conn, mart, config)
        assert result.success, (mart, result.summary)
        assert not result.broken and not result.failed
        assert result.rows == conn.execute(f"SELECT count(*) FROM {mart}").fetchone()[0] > 0
        assert len(result.outcomes) == len(rules_for(MART_SPECS[mart], config))
    for table in RECORD_TABLES.values():
        result = validate_records(conn, table, BATCH, config)
        assert result.success, (table, result.summary)
        assert result.rows == conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_rates_and_a_broken_sum_are_reported_with_counts_and_example_rows(conn, engine):
    # three rows broken three ways: a rate of 1.2, low above the rate, entered != the sum of outcomes
    rows = conn.execute(
        "SELECT role, stage FROM stage_pass_rates WHERE pass_rate BETWEEN 0.05 AND 0.9 ORDER BY role, stage LIMIT 3"
    ).fetchall()
    (r1, s1), (r2, s2), (r3, s3) = rows
    conn.execute("UPDATE stage_pass_rates SET pass_rate = 1.2 WHERE role = ? AND stage = ?", [r1, s1])
    conn.execute("UPDATE stage_pass_rates SET pass_rate_low = pass_rate + 0.01 WHERE role = ? AND stage = ?", [r2, s2])
    conn.execute("UPDATE stage_pass_rates SET entered = entered + 3 WHERE role = ? AND stage = ?", [r3, s3])
    result = validate_mart(conn, "stage_pass_rates", engine=engine)
    assert result.engine == engine
    assert not result.success and not result.broken
    failed = {o.description: o for o in result.failed}
    assert set(failed) == {
        "pass_rate is in [0, 1]",
        "pass_rate <= pass_rate_high",  # 1.2 is also above its interval
        "pass_rate_low <= pass_rate",
        "entered = passed + failed + withdrew + in_progress",
    }
    assert all(o.unexpected_count == 1 for o in failed.values())
    rate = failed["pass_rate is in [0, 1]"]
    assert rate.partial_unexpected == (1.2,)
    assert rate.example_rows == ({"role": r1, "stage": s1, "pass_rate": 1.2},)
    low = failed["pass_rate_low <= pass_rate"].example_rows[0]
    assert (low["role"], low["stage"]) == (r2, s2) and low["pass_rate_low"] > low["pass_rate"]
    total = failed["entered = passed + failed + withdrew + in_progress"].example_rows[0]
    assert (total["role"], total["stage"]) == (r3, s3)
    assert total["entered"] == total["passed"] + total["failed"] + total["withdrew"] + total["in_progress"] + 3
    assert result.unexpected_rows == 4
    assert result.summary.startswith("4 of ")
    assert {row["rule"] for row in result.examples(10)} == set(failed)


@pytest.mark.parametrize("engine", ENGINES)
def test_records_suite_reads_only_the_batch_and_catches_values_outside_the_contract(conn, engine):
    conn.execute(
        """
        INSERT INTO stage_outcome_records
        SELECT record_id || '-new', application_id, candidate_id, role, stage, outcome, occurred_at, team, source,
               level, requires_travel, content_hash, source_file, source_line, 'run-bad', ingested_at
        FROM stage_outcome_records ORDER BY record_id LIMIT 5
        """
    )
    conn.execute("UPDATE stage_outcome_records SET outcome = 'pased' WHERE record_id = (SELECT min(record_id) FROM stage_outcome_records WHERE batch_id = 'run-bad')")
    conn.execute("UPDATE stage_outcome_records SET role = 'astronaut' WHERE record_id = (SELECT max(record_id) FROM stage_outcome_records WHERE batch_id = 'run-bad')")
    bad = validate_records(conn, "stage_outcome_records", "run-bad", engine=engine)
    assert bad.rows == 5
    assert {o.description for o in bad.failed} == {
        "outcome is one of in_progress, passed, failed, withdrew, skipped",
        "role is one of data_scientist, ml_engineer, research_scientist, software_engineer "
        "(from the configuration's roles)",
    }
    outcome = next(o for o in bad.failed if o.description.startswith("outcome"))
    assert outcome.unexpected_count == 1 and outcome.partial_unexpected == ("pased",)
    assert outcome.example_rows[0]["outcome"] == "pased" and outcome.example_rows[0]["record_id"].endswith("-new")
    # the good batch is not re-read and still passes
    good = validate_records(conn, "stage_outcome_records", BATCH, engine=engine)
    assert good.success and good.rows > 5


def test_an_expectation_that_raises_is_broken_not_bad_data(conn):
    frame = pd.DataFrame({"rate": [0.5, 0.25]})
    rules = [
        Rule("ExpectColumnValuesToBeBetween", {"column": "rate", "min_value": 0, "max_value": 1}, "rate in [0, 1]",
             ("rate",)),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "no_such_column"}, "no_such_column is never NULL",
             ("no_such_column",)),
        Rule("ExpectColumnValuesToBeBetween", {"column": "rate"}, "between without bounds", ("rate",)),
    ]
    result = validate_frame("broken_suite", frame, rules)
    assert not result.success
    assert result.failed == []  # nothing is blamed on the data
    assert result.outcome("rate in [0, 1]").success
    missing = result.outcome("no_such_column is never NULL")
    assert missing.broken and "no_such_column" in missing.exception
    assert result.outcome("between without bounds").broken
    assert result.summary.startswith("BROKEN CHECK: 2 expectation(s) raised")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_spec_naming_a_missing_column_or_sql_that_does_not_bind_is_broken(conn, engine):
    spec = MART_SPECS["travel_vetting"]
    broken_spec = type(spec)(key=spec.key, counts=("applications", "not_a_column"),
                             invariants={"nonsense": "no_column_here > 1"})
    table = validate_table(conn, "travel_vetting", broken_spec, ConfigValues.from_db(conn), engine=engine)
    assert {o.description for o in table.broken} == {"not_a_column is never NULL", "not_a_column is of type int",
                                                       "not_a_column >= 0", "nonsense"}
    assert "not_a_column" in table.outcome("not_a_column >= 0").exception
    assert "does not run" in table.outcome("nonsense").exception
    assert table.outcome("applications >= 0").success and table.failed == []


def test_both_engines_report_the_same_outcomes_on_broken_data(conn, monkeypatch):
    # duplicated keys, NULLs, values outside their sets and ranges, a broken invariant, in two tables
    conn.execute("UPDATE application_journeys SET final_status = 'ghosted' WHERE application_key IN "
                 "(SELECT application_key FROM application_journeys ORDER BY application_key LIMIT 3)")
    conn.execute("UPDATE application_journeys SET records = 0, role = NULL WHERE application_key = "
                 "(SELECT max(application_key) FROM application_journeys)")
    conn.execute("INSERT INTO application_journeys SELECT * FROM application_journeys ORDER BY application_key LIMIT 2")
    conn.execute("UPDATE application_journeys SET stages_entered_count = stages_entered_count + 1 WHERE "
                 "application_key = (SELECT min(application_key) FROM application_journeys WHERE stages_entered_count > 0)")
    conn.execute("UPDATE stage_pass_rates SET pass_rate_high = pass_rate - 0.5, skip_rate = -0.25 "
                 "WHERE pass_rate > 0.5")
    conn.execute("INSERT INTO stage_pass_rates SELECT * FROM stage_pass_rates LIMIT 1")
    config = ConfigValues.from_db(conn)
    for mart in ("application_journeys", "stage_pass_rates"):
        by_engine = {engine: validate_mart(conn, mart, config, engine=engine) for engine in ENGINES}
        gx, sql = by_engine["great_expectations"], by_engine["duckdb"]
        assert gx.rows == sql.rows
        assert [o.description for o in gx.outcomes] == [o.description for o in sql.outcomes]
        failed = {o.description for o in gx.failed}
        assert failed == {o.description for o in sql.failed} and len(failed) >= 3, mart
        for g, d in zip(gx.outcomes, sql.outcomes):
            assert g.success == d.success, g.description
            if not g.success:
                assert g.unexpected_count == d.unexpected_count, g.description
                assert sorted(map(str, g.partial_unexpected)) == sorted(map(str, d.partial_unexpected)), g.description
                assert len(d.example_rows) == min(d.unexpected_count, 20), g.description
    # left to choose, the engine follows FUNNEL_GX_MAX_ROWS
    monkeypatch.setenv("FUNNEL_GX_MAX_ROWS", "10")
    assert validate_mart(conn, "application_journeys", config).engine == "duckdb"
    assert validate_mart(conn, "travel_vetting", config).engine == "great_expectations"
    monkeypatch.setenv("FUNNEL_GX_MAX_ROWS", "many")
    with pytest.raises(FunnelError, match="FUNNEL_GX_MAX_ROWS: 'many' is not a whole number"):
        validate_mart(conn, "travel_vetting", config)


def test_both_engines_judge_column_types_alike(conn):
    # an unCAST sum() is a HUGEINT, a float64 in pandas: not a count for either engine
    conn.execute("ALTER TABLE travel_vetting ALTER applications TYPE HUGEINT")
    conn.execute("ALTER TABLE travel_vetting ALTER reached_onsite_rate TYPE DECIMAL(9, 6)")
    config = ConfigValues.from_db(conn)
    by_engine = {engine: validate_mart(conn, "travel_vetting", config, engine=engine) for engine in ENGINES}
    for result in by_engine.values():
        assert {o.description for o in result.failed} == {"applications is of type int"}
        assert result.outcome("reached_onsite_rate is of type float").success
