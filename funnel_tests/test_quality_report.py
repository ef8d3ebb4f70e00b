"""The HTML result pages: where they are written, what they list, and that they stand alone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from funnel.quality.rules import SCHEMA_EXPECTATION, SCHEMA_RULE, ExpectationOutcome, SuiteResult
from funnel.quality.report import markdown_table, plain, sql_page, suite_page, write_page
from funnel.quality.sql_checks import SqlCheckResult


def suite_result() -> SuiteResult:
    return SuiteResult(
        suite="stage_pass_rates_suite",
        table="stage_pass_rates",
        rows=26,
        outcomes=(
            ExpectationOutcome("pass_rate is in [0, 1]", "expect_column_values_to_be_between", "pass_rate", False,
                               element_count=26, unexpected_count=1, unexpected_percent=3.85,
                               partial_unexpected=(1.2,),
                               example_rows=({"role": "<script>alert(1)</script>", "stage": "onsite", "pass_rate": 1.2},)),
            ExpectationOutcome("role is never NULL", "expect_column_values_to_not_be_null", "role", True,
                               element_count=26, unexpected_count=0),
            ExpectationOutcome("ghost is never NULL", "expect_column_values_to_not_be_null", "ghost", False,
                               exception='Error: The column "ghost" in BatchData does not exist.'),
        ),
    )


def test_a_suite_page_lists_every_expectation_with_counts_examples_and_errors(tmp_path: Path):
    result = suite_result()
    page = write_page(tmp_path, "run-1", suite_page("stage_pass_rates.expectations", result))
    assert page == tmp_path / "quality" / "run-1" / "stage_pass_rates.expectations.html"
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    assert "<link" not in text and "src=" not in text and "http" not in text  # self-contained
    for rule in ("pass_rate is in [0, 1]", "role is never NULL", "ghost is never NULL"):
        assert rule in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "BROKEN: ghost is never NULL" in text and "does not exist" in text
    assert "Failed: pass_rate is in [0, 1]" in text and "1 of 26 rows unexpected" in text
    assert '<span class="badge broken">BROKEN</span>' in text  # the page's status: a broken check
    latest = tmp_path / "quality" / "latest" / "stage_pass_rates.expectations.html"
    assert latest.read_text() == text
    status = json.loads((tmp_path / "quality" / "run-1" / "stage_pass_rates.expectations.json").read_text())
    assert status["status"] == "broken" and status["run_id"] == "run-1"


def test_a_column_of_the_wrong_type_is_named_on_the_page_and_in_the_summary(tmp_path: Path):
    schema = ExpectationOutcome(SCHEMA_RULE, SCHEMA_EXPECTATION, "role, applications", False, element_count=12,
                                partial_unexpected=("applications is HUGEINT, not int",),
                                observed_value={"column types": {"role": "VARCHAR", "applications": "HUGEINT"}})
    result = SuiteResult(suite="travel_vetting_suite", table="travel_vetting", rows=12, outcomes=(schema,))
    assert result.failed == [schema] and not result.broken
    assert result.summary == f"1 of 1 expectations failed on 12 rows: {SCHEMA_RULE}: applications is HUGEINT, not int"
    text = write_page(tmp_path, "run-1", suite_page("travel_vetting.expectations", result)).read_text()
    assert f"Failed: {SCHEMA_RULE}" in text and "Found: applications is HUGEINT, not int" in text
    assert "rows unexpected" not in text


def test_sql_pages_and_the_run_index(tmp_path: Path):
    warn = SqlCheckResult("quarantine_share", False, 3, [{"source_file": "a.csv", "source_line": 2}],
                          "share of rows quarantined", "WARN", {"share": 0.03, "files": [{"file": "a.csv"}]}, "SELECT 1")
    ok = SqlCheckResult("unique_record_ids", True, 0, [], "every record_id is unique")
    write_page(tmp_path, "run/2", sql_page("stage_outcome_records.quarantine_share", warn))
    page = write_page(tmp_path, "run/2", sql_page("interview_records.unique_record_ids", ok))
    assert page.parent.name == "run_2"  # run ids are made safe for file names
    text = (page.parent / "stage_outcome_records.quarantine_share.html").read_text()
    assert '<span class="badge warning">WARNING</span>' in text
    assert "Example failing rows (first 1 of 3)" in text and "a.csv" in text and "SELECT 1" in text
    index = (page.parent / "index.html").read_text()
    assert index.count("<li>") == 2
    assert 'href="stage_outcome_records.quarantine_share.html"' in index
    assert 'href="interview_records.unique_record_ids.html"' in index
    # a later run's page replaces the latest one, and the latest index keeps one entry per check
    write_page(tmp_path, "run-3", sql_page("interview_records.unique_record_ids", ok))
    latest_index = (tmp_path / "quality" / "latest" / "index.html").read_text()
    assert latest_index.count("<li>") == 2 and "run-3" in latest_index and "run/2" in latest_index


def test_values_become_plain_json_and_markdown():
    assert plain(np.int64(3)) == 3 and isinstance(plain(np.int64(3)), int)
    assert plain(float("nan")) is None and plain(np.float64(0.5)) == 0.5
    assert plain(np.array(["a", "b"], dtype=object)) == ["a", "b"]
    assert plain(datetime(2024, 1, 2, 3, 4)) == "2024-01-02T03:04:00"
    assert plain(np.datetime64("NaT")) is None
    table = markdown_table([{"a": 1, "b": "x|y"}, {"a": None, "b": [1, 2]}] * 4)
    lines = table.splitlines()
    assert lines[0] == "| a | b |" and len(lines) == 2 + 5  # only the first 5 rows
    assert lines[2] == "| 1 | x\\|y |" and lines[3] == "| NULL | [1, 2] |"
    assert markdown_table([]) == "(none)"
