"""The set-based SQL checks: each passes on good data and fails on a crafted bad case, with the
failing count and example rows; the quarantine share warns below the threshold and errors above it."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnel.models import PUBLISHED_MARTS
from funnel.publish import PUBLISH_LOG_DDL
from funnel.quality import sql_checks
from funnel_tests.conftest import generated_warehouse, private_copy

BATCH = "run-good"


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory) -> Path:
    return generated_warehouse(tmp_path_factory.mktemp("sql"), 150, 9, BATCH)


@pytest.fixture
def conn(warehouse_file: Path, tmp_path: Path):
    with private_copy(warehouse_file, tmp_path) as connection:
        yield connection


def all_checks(conn) -> list[sql_checks.SqlCheckResult]:
    results = [
        sql_checks.unique_record_ids(conn, "stage_outcome_records"),
        sql_checks.unique_record_ids(conn, "interview_records"),
        sql_checks.one_role_per_application(conn),
        sql_checks.single_terminal_outcome(conn),
    ]
    results += [sql_checks.mart_rows_in_config(conn, mart) for mart in sql_checks.MART_CONFIG_COLUMNS]
    results += [sql_checks.reconcile(conn, mart) for mart in dict.fromkeys(r.mart for r in sql_checks.RECONCILIATIONS)]
    results.append(sql_checks.no_person_level_demographics(conn, PUBLISHED_MARTS))
    return results


def test_every_check_passes_on_good_data(conn):
    results = all_checks(conn)
    assert len(results) == 4 + len(sql_checks.MART_CONFIG_COLUMNS) + len(set(PUBLISHED_MARTS)) + 1
    for result in results:
        assert result.passed, (result.name, result.summary, result.examples[:3])
        assert result.failing_count == 0 and result.examples == []
    # every published mart is reconciled with the records or with another mart
    assert {r.mart for r in sql_checks.RECONCILIATIONS} == set(PUBLISHED_MARTS)


def test_duplicate_record_ids_are_found(conn):
    # the records tables have no primary key (10M keys would have to fit in memory): this check guards them
    conn.execute(
        "INSERT INTO stage_outcome_records SELECT * REPLACE ('run-dup' AS batch_id, 'again.csv' AS source_file)"
        " FROM stage_outcome_records ORDER BY record_id LIMIT 2"
    )
    result = sql_checks.unique_record_ids(conn, "stage_outcome_records")
    assert not result.passed and result.severity == "ERROR"
    assert result.failing_count == 2
    first = result.examples[0]
    assert first["records"] == 2 and first["batches"] == ["run-dup", BATCH]
    assert any(src.startswith("again.csv:") for src in first["read_from"])
    assert sql_checks.unique_record_ids(conn, "interview_records").passed
    # the check of the run that ingested them: no run has published yet, so every batch is read, as above
    first_run = sql_checks.unique_record_ids(conn, "stage_outcome_records", "run-dup")
    assert (first_run.passed, first_run.failing_count, first_run.examples) == (False, 2, result.examples)
    assert first_run.metrics["records_checked"] == first_run.metrics["records"]

def published(conn, *runs: str) -> None:
    """Record publishes of `runs` in the working database's publish_log, as funnel.publish does."""
    conn.execute(PUBLISH_LOG_DDL)
    for run in runs:
        conn.execute("INSERT INTO publish_log VALUES (now()::TIMESTAMP, ?, '[]', '{}', '{}')", [run])


def test_duplicate_record_ids_are_checked_in_the_batches_no_run_has_published(conn):
    published(conn, BATCH)
    assert sql_checks.unique_record_ids(conn, "stage_outcome_records", "run-next").metrics["records_checked"] == 0
    # a batch that repeats two stored ids, ingested by a run that was blocked (it never published)
    conn.execute(
        "INSERT INTO stage_outcome_records SELECT * REPLACE ('run-dup' AS batch_id, 'again.csv' AS source_file,"
        " now()::TIMESTAMP AS ingested_at) FROM stage_outcome_records ORDER BY record_id LIMIT 2"
    )
    for run in ("run-dup", "run-next"):  # its own run, and the next one: the batch keeps blocking
        result = sql_checks.unique_record_ids(conn, "stage_outcome_records", run)
        assert not result.passed and result.severity == "ERROR" and result.failing_count == 2
        first = result.examples[0]
        assert first["records"] == 2 and first["batches"] == ["run-dup", BATCH]
        assert any(src.startswith("again.csv:") for src in first["read_from"])
        assert result.metrics["records_checked"] == 2  # not the stored records
    # the ids of published batches are not compared again: only the whole-table check still sees the pair
    published(conn, "run-dup")
    later = sql_checks.unique_record_ids(conn, "stage_outcome_records", "run-next")
    assert later.passed and later.metrics["records_checked"] == 0
    assert not sql_checks.unique_record_ids(conn, "stage_outcome_records").passed


def test_an_application_with_two_roles_is_a_warning(conn):
    app, role = conn.execute(
        "SELECT application_id, any_value(role) FROM stage_outcome_records GROUP BY 1 ORDER BY 1 LIMIT 1"
    ).fetchone()
    other = "research_scientist" if role != "research_scientist" else "data_scientist"
    conn.execute(
        "INSERT INTO stage_outcome_records SELECT * REPLACE (record_id || '-x' AS record_id, ? AS role)"
        " FROM stage_outcome_records WHERE application_id = ? LIMIT 1",
        [other, app],
    )
    result = sql_checks.one_role_per_application(conn)
    assert not result.passed and result.severity == "WARN"
    assert result.failing_count == 1
    assert result.examples == [
        {"application_id": app, "roles_named": 2, "roles": sorted([role, other]),
         "records": result.examples[0]["records"], "latest_role": result.examples[0]["latest_role"]}
    ]


def test_two_roles_are_looked_for_in_the_applications_the_unpublished_batches_touched(conn):
    published(conn, BATCH)
    app, role, records = conn.execute(
        "SELECT application_id, any_value(role), count(*) FROM stage_outcome_records GROUP BY 1 ORDER BY 1 LIMIT 1"
    ).fetchone()
    other = "research_scientist" if role != "research_scientist" else "data_scientist"
    conn.execute(
        "INSERT INTO stage_outcome_records SELECT * REPLACE (record_id || '-x' AS record_id, ? AS role,"
        " 'run-role' AS batch_id, now()::TIMESTAMP AS ingested_at)"
        " FROM stage_outcome_records WHERE application_id = ? LIMIT 1",
        [other, app],
    )
    for run in ("run-role", "run-next"):
        result = sql_checks.one_role_per_application(conn, run)
        assert not result.passed and result.severity == "WARN" and result.failing_count == 1
        assert result.examples[0]["roles"] == sorted([role, other])
        assert result.examples[0]["records"] == records + 1  # all its records, the stored ones too
        assert result.metrics["applications_checked"] == 1
    published(conn, "run-role")
    assert sql_checks.one_role_per_application(conn, "run-next").passed
    assert not sql_checks.one_role_per_application(conn).passed  # every application: still there


def test_mart_rows_outside_the_configuration_are_found(conn):
    role, stage = conn.execute(
        "SELECT role, stage FROM stage_pass_rates WHERE in_pipeline ORDER BY role, stage LIMIT 1"
    ).fetchone()
    conn.execute("UPDATE stage_pass_rates SET role = 'ghost' WHERE role = ? AND stage = 'offer'", [role])
    conn.execute("UPDATE stage_pass_rates SET in_pipeline = false WHERE role = ? AND stage = ?", [role, stage])
    result = sql_checks.mart_rows_in_config(conn, "stage_pass_rates")
    assert not result.passed and result.failing_count == 2
    problems = {(r["role"], r["stage"]): r["problem"] for r in result.examples}
    assert problems[("ghost", "offer")].startswith("role ghost is not a configured role")
    assert problems[(role, stage)] == f"in_pipeline = false but {stage} is in the pipeline of role {role}"
    conn.execute("UPDATE skipped_stages SET stage = 'take_home' WHERE role = 'software_engineer' AND stage = 'onsite'")
    skipped = sql_checks.mart_rows_in_config(conn, "skipped_stages")
    assert skipped.failing_count == 1
    assert skipped.examples[0]["problem"] == "stage take_home is not in the pipeline of role software_engineer"


def test_an_application_counted_at_two_terminal_outcomes_is_found(conn):
    app, stage, outcome = conn.execute(
        "SELECT application_id, stage, outcome FROM int_latest_stage_records WHERE outcome = 'passed'"
        " ORDER BY application_id, stage LIMIT 1"
    ).fetchone()
    conn.execute(
        "INSERT INTO int_latest_stage_records SELECT * REPLACE ('failed' AS outcome, record_id || '-x' AS record_id)"
        " FROM int_latest_stage_records WHERE application_id = ? AND stage = ?",
        [app, stage],
    )
    result = sql_checks.single_terminal_outcome(conn)
    assert not result.passed and result.failing_count == 2  # the duplicate, and the disagreement it causes
    dup = next(r for r in result.examples if r["found_in"] == "int_latest_stage_records")
    assert dup == {"found_in": "int_latest_stage_records", "application_id": app, "stage": stage,
                   "terminal_rows": 2, "outcomes": ["failed", "passed"]}


def test_counts_that_do_not_reconcile_are_found_with_expected_and_actual(conn):
    journeys = conn.execute("SELECT count(*), sum(records) FROM application_journeys").fetchone()
    conn.execute("DELETE FROM application_journeys WHERE application_key = (SELECT min(application_key) FROM application_journeys)")
    result = sql_checks.reconcile(conn, "application_journeys")
    assert not result.passed and result.failing_count == 2
    by_name = {r["reconciliation"]: r for r in result.examples}
    assert by_name["applications"] == {"reconciliation": "applications", "expected": journeys[0],
                                       "actual": journeys[0] - 1}
    assert by_name["records"]["expected"] == journeys[1] and by_name["records"]["actual"] < journeys[1]
    assert result.metrics["failing_by_reconciliation"] == {"applications": 1, "records": 1}

    conn.execute(
        "UPDATE stage_pass_rates_monthly SET passed = passed + 1 WHERE (role, cohort_month, stage) = "
        "(SELECT (role, cohort_month, stage) FROM stage_pass_rates_monthly WHERE passed > 0"
        " ORDER BY role, cohort_month, stage LIMIT 1)"
    )
    monthly = sql_checks.reconcile(conn, "stage_pass_rates_monthly")
    assert monthly.failing_count == 1
    row = monthly.examples[0]
    assert row["measure"] == "passed" and row["actual"] == row["expected"] + 1


def quarantine_batch(conn, batch: str, read: int, quarantined: int, hour: int) -> None:
    conn.execute(
        "INSERT INTO landing_files (feed, path, content_hash, size_bytes, modified_at, status, problem, rows_read,"
        " rows_accepted, rows_duplicate, rows_quarantined, batch_id, processed_at)"
        " VALUES ('stage_outcomes', ?, 'h-' || ?, 1, NULL, 'ingested', NULL, ?, ?, 0, ?, ?,"
        " TIMESTAMP '2100-01-01' + to_hours(?))",  # newer than the fixture's own batch
        [f"{batch}.csv", batch, read, read - quarantined, quarantined, batch, hour],
    )
    for line in range(quarantined):
        conn.execute(
            "INSERT INTO quarantined_rows VALUES ('stage_outcomes', ?, ?, 'unknown_outcome', 'outcome ''x''', NULL,"
            " '{}', ?, ?, now()::TIMESTAMP)",
            [f"{batch}.csv", line + 2, f"{batch}-{line}", batch],
        )


def test_quarantine_share_of_the_newest_batch_passes_warns_and_errors_by_threshold(conn):
    quarantine_batch(conn, "b-clean", 100, 0, hour=1)
    clean = sql_checks.quarantine_share(conn, "stage_outcomes", threshold=0.05)
    assert clean.passed and clean.metrics["rows_read"] == 100 and clean.metrics["share"] == 0
    assert clean.metrics["batch_id"] == "b-clean"
    quarantine_batch(conn, "b-some", 100, 3, hour=2)
    some = sql_checks.quarantine_share(conn, "stage_outcomes", threshold=0.05)
    assert not some.passed and some.severity == "WARN" and some.failing_count == 3
    assert some.metrics["share"] == pytest.approx(0.03)
    assert [e["source_line"] for e in some.examples] == [2, 3, 4]
    quarantine_batch(conn, "b-many", 100, 10, hour=3)
    many = sql_checks.quarantine_share(conn, "stage_outcomes", threshold=0.05)
    assert not many.passed and many.severity == "ERROR" and many.failing_count == 10
    assert many.metrics["batch_id"] == "b-many"
    assert many.metrics["quarantined_by_reason"] == {"unknown_outcome": 10}
    assert many.metrics["files"] == [{"file": "b-many.csv", "rows_read": 100, "rows_quarantined": 10, "share": 0.1}]
    # the same batch under a higher threshold is only a warning
    assert sql_checks.quarantine_share(conn, "stage_outcomes", threshold=0.2).severity == "WARN"
    # another feed is judged by its own newest batch: the fixture's, with nothing quarantined
    interviews = sql_checks.quarantine_share(conn, "interviews", threshold=0.05)
    assert interviews.passed and interviews.metrics["batch_id"] == BATCH
    assert interviews.metrics["rows_read"] > 0 and interviews.metrics["rows_quarantined"] == 0


def test_quarantine_threshold_comes_from_the_configuration(conn):
    quarantine_batch(conn, "b-many", 100, 10, hour=1)
    conn.execute("UPDATE config_settings SET quarantine_threshold = 0.2")
    assert sql_checks.quarantine_share(conn, "stage_outcomes").severity == "WARN"
    conn.execute("UPDATE config_settings SET quarantine_threshold = 0.05")
    result = sql_checks.quarantine_share(conn, "stage_outcomes")
    assert result.severity == "ERROR" and result.metrics["threshold"] == 0.05


def test_no_person_level_demographics_finds_columns_and_values_at_person_grain(conn):
    assert sql_checks.no_person_level_demographics(conn, PUBLISHED_MARTS).passed
    conn.execute("CREATE TABLE leaky_journeys AS SELECT application_key, role, 'female' AS gender_guess,"
                 " 'asian' AS sex FROM application_journeys LIMIT 3")
    conn.execute("CREATE TABLE role_mix AS SELECT 'swe' AS role, 'female_x_asian' AS group_label")  # no person key
    result = sql_checks.no_person_level_demographics(conn, [*PUBLISHED_MARTS, "leaky_journeys", "role_mix"])
    assert not result.passed and result.failing_count == 3
    assert [(e["table_name"], e["column_name"], e["problem"], e["example"]) for e in result.examples] == [
        ("leaky_journeys", "sex", "a demographic column", None),
        ("leaky_journeys", "gender_guess", "a demographic value at application_key grain", "female"),
        ("leaky_journeys", "sex", "a demographic value at application_key grain", "asian"),
    ]
    # adverse_impact's dimension columns are aggregates; the same column beside a person key is not
    conn.execute("CREATE TABLE adverse_leak AS SELECT application_key, 'sex' AS dimension, 'female' AS group_name"
                 " FROM application_journeys LIMIT 1")
    leak = sql_checks.no_person_level_demographics(conn, ["adverse_leak"])
    assert [(e["column_name"], e["example"]) for e in leak.examples] == [("group_name", "female")]
