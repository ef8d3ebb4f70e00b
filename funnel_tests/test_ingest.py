"""Landing files to typed, deduplicated records: the contract, its reason codes, each format, incremental runs."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
import yaml

from funnel.config import parse_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.ingest import FeedResult, ingest_feed
from funnel.warehouse import connect, create_schema, table_columns
from funnel_tests.conftest import INTERVIEW_COLUMNS, STAGE_COLUMNS, iv, so, write_csv, write_jsonl

ROLES = "ml_engineer, software_engineer, research_scientist, data_scientist"
STAGES = "application_review, recruiter_screen, technical_screen, take_home, onsite, hiring_committee, team_matching, offer"
SKILLS = "coding, ml_theory, ml_system_design, behavioral, system_design, research_depth, statistics, product_sense, communication"




def hashed_id(*fields: str) -> str:
    """The record id of a row sent without an id: sha256 of its normalized fields joined by the unit separator."""
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def ingest(conn, folder, config, feed=STAGE_OUTCOMES, batch="b1") -> FeedResult:
    return ingest_feed(conn, folder, feed, config, batch)


def stage_records(conn) -> list[tuple]:
    return conn.execute(
        "SELECT record_id, application_id, candidate_id, role, stage, outcome, occurred_at, team, source, level,"
        " requires_travel, source_file, source_line FROM stage_outcome_records ORDER BY source_file, source_line"
    ).fetchall()


def quarantined(conn) -> list[tuple]:
    return conn.execute(
        "SELECT feed, source_file, source_line, reason, detail, record_id, raw_values::VARCHAR"
        " FROM quarantined_rows ORDER BY source_file, source_line"
    ).fetchall()


def file_counts(result: FeedResult) -> list[tuple]:
    return [(f.path, f.status, f.rows_read, f.rows_accepted, f.rows_duplicate, f.rows_quarantined) for f in result.files]


def snapshot(conn) -> dict[str, list[tuple]]:
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("landing_files", "stage_outcome_records", "interview_records", "quarantined_rows")
    }


T = datetime(2024, 3, 1, 10, 0)


# ---------------------------------------------------------------------------------------------
# Accepted rows: typed, normalized, identified


def test_valid_row_is_stored_typed_with_its_event_id(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [so(event_id="E1", team="Search", source="referral", level="L5", requires_travel="yes")],
              STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config, batch="run-1")
    assert file_counts(result) == [("so.csv", "ingested", 1, 1, 0, 0)]
    assert result.quarantined_by_reason == {}
    row = conn.execute("SELECT * FROM stage_outcome_records").fetchone()
    columns = [d[0] for d in conn.description]
    stored = dict(zip(columns, row))
    assert {k: stored[k] for k in columns if k not in ("content_hash", "ingested_at")} == {
        "record_id": "E1", "application_id": "A1", "candidate_id": "C1", "role": "ml_engineer", "stage": "onsite",
        "outcome": "passed", "occurred_at": T, "team": "Search", "source": "referral", "level": "L5",
        "requires_travel": True, "source_file": "so.csv", "source_line": 2, "batch_id": "run-1",
    }
    assert len(stored["content_hash"]) == 64
    assert conn.execute(
        "SELECT feed, path, status, problem, rows_read, rows_accepted, rows_duplicate, rows_quarantined, batch_id,"
        " content_hash = ?, size_bytes FROM landing_files",
        [hashlib.sha256((tmp_path / "so.csv").read_bytes()).hexdigest()],
    ).fetchall() == [("stage_outcomes", "so.csv", "ingested", None, 1, 1, 0, 0, "run-1", True, (tmp_path / "so.csv").stat().st_size)]


def test_normalization_trims_and_lowercases_keys_but_keeps_identifier_case(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [so(event_id="  E1 ", application_id=" App-7 ", candidate_id=" Cand-X ", role=" ML_Engineer ",
                                       stage=" Onsite", outcome=" Passed ", occurred_at=" 2024-03-01T10:00:00Z ",
                                       team=" Search ", source="  ", requires_travel=" YES ")], STAGE_COLUMNS)
    ingest(conn, tmp_path, config)
    assert stage_records(conn) == [
        ("E1", "App-7", "Cand-X", "ml_engineer", "onsite", "passed", T, "Search", None, None, True, "so.csv", 2)
    ]


def test_interview_row_is_stored_typed(conn, config, tmp_path):
    write_csv(tmp_path / "iv.csv", [iv(interview_id="I-1", skill=" Communication ", recommendation="Strong_Yes",
                                       occurred_at="2024-03-01T11:00:00+01:00")], INTERVIEW_COLUMNS)
    result = ingest(conn, tmp_path, config, INTERVIEWS)
    assert file_counts(result) == [("iv.csv", "ingested", 1, 1, 0, 0)]
    assert conn.execute(
        "SELECT record_id, application_id, stage, interviewer_id, skill, recommendation, occurred_at, source_file, source_line"
        " FROM interview_records"
    ).fetchall() == [("I-1", "A1", "onsite", "I1", "communication", "strong_yes", T, "iv.csv", 2)]


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), (" Yes ", True), ("t", True), ("y", True),
     ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False), ("f", False), ("n", False),
     ("", None)],
)
def test_requires_travel_booleans(conn, config, tmp_path, text, expected):
    write_csv(tmp_path / "so.csv", [so(requires_travel=text)], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert result.files[0].warning is None
    assert conn.execute("SELECT requires_travel FROM stage_outcome_records").fetchall() == [(expected,)]


def test_unreadable_requires_travel_is_kept_as_null_with_a_warning(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [so(application_id="A1", requires_travel="yes"),
                                    so(application_id="A2", requires_travel="maybe"),
                                    so(application_id="A3", requires_travel="2")], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    warning = "2 row(s) with an unreadable requires_travel, kept as unknown (first: line 3, 'maybe')"
    assert file_counts(result) == [("so.csv", "ingested", 3, 3, 0, 0)]
    assert result.files[0].warning == warning
    assert conn.execute("SELECT application_id, requires_travel FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("A1", True), ("A2", None), ("A3", None)]
    assert conn.execute("SELECT status, problem FROM landing_files").fetchall() == [("ingested", warning)]
    assert quarantined(conn) == []


def test_record_id_without_event_id_is_a_hash_of_required_fields_plus_team(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [
        so(event_id="", team="Search"),
        so(event_id="   ", team="Ads"),                           # differs only in team: another record
        so(team=" search "),                                      # team is an identifier: case kept, so another record
        so(occurred_at="2024-03-01T12:00:00+02:00", role="ML_ENGINEER", outcome="Passed", team="Search"),  # same as line 2
    ], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("so.csv", "ingested", 4, 3, 1, 0)]
    fields = ("A1", "C1", "ml_engineer", "onsite", "passed", "2024-03-01T10:00:00.000000Z")
    assert conn.execute("SELECT record_id, team, source_line FROM stage_outcome_records ORDER BY source_line").fetchall() == [
        (hashed_id(*fields, "Search"), "Search", 2),
        (hashed_id(*fields, "Ads"), "Ads", 3),
        (hashed_id(*fields, "search"), "search", 4),
    ]


def test_rows_without_event_id_differing_only_in_source_are_a_conflict(conn, config, tmp_path):
    """`source` is not part of the hashed id, so the second row has the first's id with different content."""
    write_csv(tmp_path / "so.csv", [so(source="referral"), so(source="linkedin"), so(level="L4")], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    record_id = hashed_id("A1", "C1", "ml_engineer", "onsite", "passed", "2024-03-01T10:00:00.000000Z", "")
    assert file_counts(result) == [("so.csv", "ingested", 3, 1, 0, 2)]
    assert result.quarantined_by_reason == {"conflicting_duplicate": 2}
    assert conn.execute("SELECT record_id, source, level FROM stage_outcome_records").fetchall() == [(record_id, "referral", None)]
    detail = f"id '{record_id}' was read first with different content (so.csv line 2)"
    assert [(q[2], q[3], q[4], q[5]) for q in quarantined(conn)] == [
        (3, "conflicting_duplicate", detail, record_id),
        (4, "conflicting_duplicate", detail, record_id),
    ]


# ---------------------------------------------------------------------------------------------
# Reason codes, details and precedence


@pytest.mark.parametrize(
    "values, reason, detail",
    [
        ({"application_id": ""}, "missing_required", "missing application_id"),
        ({"candidate_id": "   "}, "missing_required", "missing candidate_id"),
        ({"role": None, "outcome": None, "occurred_at": None}, "missing_required", "missing role, outcome, occurred_at"),
        ({"occurred_at": "yesterday"}, "bad_timestamp", "occurred_at 'yesterday' is not an ISO-8601 timestamp"),
        ({"occurred_at": "2024-02-30T10:00:00Z"}, "bad_timestamp", "occurred_at '2024-02-30T10:00:00Z' is not an ISO-8601 timestamp"),
        ({"occurred_at": "2024-03-01T25:00:00"}, "bad_timestamp", "occurred_at '2024-03-01T25:00:00' is not an ISO-8601 timestamp"),
        ({"occurred_at": "infinity"}, "bad_timestamp", "occurred_at 'infinity' is not an ISO-8601 timestamp"),
        ({"occurred_at": "epoch"}, "bad_timestamp", "occurred_at 'epoch' is not an ISO-8601 timestamp"),
        ({"role": "Chef"}, "unknown_role", f"role 'chef' is not one of: {ROLES}"),
        ({"stage": "lunch"}, "unknown_stage", f"stage 'lunch' is not one of: {STAGES}"),
        ({"outcome": "maybe"}, "unknown_outcome", "outcome 'maybe' is not one of: in_progress, passed, failed, withdrew, skipped"),
    ],
)
def test_stage_outcome_reason_codes(conn, config, tmp_path, values, reason, detail):
    write_csv(tmp_path / "good.csv", [so(application_id="OK")], STAGE_COLUMNS)
    write_csv(tmp_path / "sub" / "bad.csv", [so(application_id="OK2"), so(event_id="E9", **values)], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("good.csv", "ingested", 1, 1, 0, 0), ("sub/bad.csv", "ingested", 2, 1, 0, 1)]
    assert result.quarantined_by_reason == {reason: 1}
    assert [(q[0], q[1], q[2], q[3], q[4], q[5]) for q in quarantined(conn)] == [
        ("stage_outcomes", "sub/bad.csv", 3, reason, detail, "E9")]
    assert conn.execute("SELECT application_id FROM stage_outcome_records ORDER BY 1").fetchall() == [("OK",), ("OK2",)]


@pytest.mark.parametrize(
    "values, reason, detail",
    [
        ({"interviewer_id": ""}, "missing_required", "missing interviewer_id"),
        ({"application_id": None, "skill": None}, "missing_required", "missing application_id, skill"),
        ({"occurred_at": "03/01/2024"}, "bad_timestamp", "occurred_at '03/01/2024' is not an ISO-8601 timestamp"),
        ({"stage": "dinner"}, "unknown_stage", f"stage 'dinner' is not one of: {STAGES}"),
        ({"skill": "Juggling"}, "unknown_skill", f"skill 'juggling' is not one of: {SKILLS}"),
        ({"recommendation": "meh"}, "unknown_recommendation",
         "recommendation 'meh' is not one of: strong_yes, yes, no, strong_no, no_decision"),
    ],
)
def test_interview_reason_codes(conn, config, tmp_path, values, reason, detail):
    write_csv(tmp_path / "iv.csv", [iv(interviewer_id="OK"), iv(interview_id="I9", **values)], INTERVIEW_COLUMNS)
    result = ingest(conn, tmp_path, config, INTERVIEWS)
    assert file_counts(result) == [("iv.csv", "ingested", 2, 1, 0, 1)]
    assert result.quarantined_by_reason == {reason: 1}
    assert [(q[0], q[1], q[2], q[3], q[4], q[5]) for q in quarantined(conn)] == [("interviews", "iv.csv", 3, reason, detail, "I9")]
    assert conn.execute("SELECT interviewer_id FROM interview_records").fetchall() == [("OK",)]


def _ingestion_time(conn) -> datetime:
    return conn.execute("SELECT max(quarantined_at) FROM quarantined_rows").fetchone()[0]


def test_implausible_timestamps_are_quarantined_both_ways(conn, config, tmp_path):
    """A date far in the future (9999-12-31 would become the dataset's as-of time) or before
    earliest_timestamp is quarantined; the bounds themselves and a clock a few hours ahead are not."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    soon = (now + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [
        so(event_id="E1", occurred_at="9999-12-31"),
        so(event_id="E2", occurred_at="0001-01-01T00:00:00Z"),
        so(event_id="E3", occurred_at="1999-12-31T23:59:59Z"),
        so(event_id="E4", occurred_at="2000-01-01T00:00:00Z"),
        so(event_id="E5", occurred_at=soon),
        so(event_id="E6", occurred_at=(now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S+02:00")),
    ]
    write_csv(tmp_path / "so.csv", rows, STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    latest = (_ingestion_time(conn) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = f"is later than the time of ingestion plus future_tolerance_days ({latest})"
    earlier = "is earlier than earliest_timestamp (2000-01-01T00:00:00Z)"
    assert [(q[2], q[3], q[4], q[5]) for q in quarantined(conn)] == [
        (2, "implausible_timestamp", f"occurred_at '9999-12-31' {later}", "E1"),
        (3, "implausible_timestamp", f"occurred_at '0001-01-01T00:00:00Z' {earlier}", "E2"),
        (4, "implausible_timestamp", f"occurred_at '1999-12-31T23:59:59Z' {earlier}", "E3"),
        (7, "implausible_timestamp", f"occurred_at '{rows[5]['occurred_at']}' {later}", "E6"),
    ]
    assert result.quarantined_by_reason == {"implausible_timestamp": 4}
    assert conn.execute("SELECT record_id, occurred_at FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("E4", datetime(2000, 1, 1)), ("E5", datetime.strptime(soon, "%Y-%m-%dT%H:%M:%SZ"))]


def test_plausible_range_comes_from_the_configuration(conn, tmp_path):
    config = parse_config(yaml.safe_load(
        "stages: [onsite]\nroles: {ml_engineer: {pipeline: [onsite], onsite_skills: [coding]}}\n"
        "future_tolerance_days: 0\nearliest_timestamp: 2024-01-01\n"), "test")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    write_csv(tmp_path / "iv.csv", [
        iv(interview_id="I1", occurred_at="2023-12-31T23:00:00Z"),
        iv(interview_id="I2", occurred_at="2024-01-01T00:00:00Z"),
        iv(interview_id="I3", occurred_at=(now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ], INTERVIEW_COLUMNS)
    ingest(conn, tmp_path, config, INTERVIEWS)
    latest = _ingestion_time(conn).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(q[2], q[3], q[4]) for q in quarantined(conn)] == [
        (2, "implausible_timestamp", "occurred_at '2023-12-31T23:00:00Z' is earlier than earliest_timestamp (2024-01-01T00:00:00Z)"),
        (4, "implausible_timestamp", f"occurred_at '{(now + timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%SZ')}' "
            f"is later than the time of ingestion plus future_tolerance_days ({latest})"),
    ]
    assert conn.execute("SELECT record_id FROM interview_records").fetchall() == [("I2",)]


STAGE_PRECEDENCE = [
    ({"candidate_id": "", "occurred_at": "bad", "role": "x", "stage": "x", "outcome": "x"}, "missing_required"),
    ({"occurred_at": "bad", "role": "x", "stage": "x", "outcome": "x"}, "bad_timestamp"),
    ({"occurred_at": "9999-12-31", "role": "x", "stage": "x", "outcome": "x"}, "implausible_timestamp"),
    ({"role": "x", "stage": "x", "outcome": "x"}, "unknown_role"),
    ({"stage": "x", "outcome": "x"}, "unknown_stage"),
    ({"outcome": "x"}, "unknown_outcome"),
]
INTERVIEW_PRECEDENCE = [
    ({"stage": "", "occurred_at": "bad", "skill": "x", "recommendation": "x"}, "missing_required"),
    ({"occurred_at": "bad", "stage": "x", "skill": "x", "recommendation": "x"}, "bad_timestamp"),
    ({"occurred_at": "0001-01-01", "stage": "x", "skill": "x", "recommendation": "x"}, "implausible_timestamp"),
    ({"stage": "x", "skill": "x", "recommendation": "x"}, "unknown_stage"),
    ({"skill": "x", "recommendation": "x"}, "unknown_skill"),
    ({"recommendation": "x"}, "unknown_recommendation"),
]


def test_stage_outcome_reason_precedence(conn, config, tmp_path):
    """A row with several problems gets the first code; conflicting_duplicate comes last of all."""
    rows = [so(event_id="E1")] + [so(event_id="E1", **values) for values, _ in STAGE_PRECEDENCE]
    write_csv(tmp_path / "so.csv", rows, STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert [(q[2], q[3]) for q in quarantined(conn)] == [(i + 3, reason) for i, (_, reason) in enumerate(STAGE_PRECEDENCE)]
    assert file_counts(result) == [("so.csv", "ingested", 7, 1, 0, 6)]
    assert quarantined(conn)[0][4] == "missing candidate_id"


def test_interview_reason_precedence(conn, config, tmp_path):
    rows = [iv(interview_id="I1")] + [iv(interview_id="I1", **values) for values, _ in INTERVIEW_PRECEDENCE]
    write_csv(tmp_path / "iv.csv", rows, INTERVIEW_COLUMNS)
    result = ingest(conn, tmp_path, config, INTERVIEWS)
    assert [(q[2], q[3]) for q in quarantined(conn)] == [(i + 3, reason) for i, (_, reason) in enumerate(INTERVIEW_PRECEDENCE)]
    assert file_counts(result) == [("iv.csv", "ingested", 7, 1, 0, 6)]


def test_quarantined_row_keeps_file_line_and_raw_values_as_read(conn, config, tmp_path):
    path = tmp_path / "2024" / "march" / "export.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "Application_ID, candidate_id ,role,stage,outcome,occurred_at,team,extra\n"
        "A1,C1,ml_engineer,onsite,passed,2024-03-01T10:00:00Z,,x\n"
        " A2 ,C1, Chef ,onsite,passed,2024-03-01T10:00:00+02:00,  Search,\"a, b\"\n"
        ",C1,ml_engineer,onsite,passed,2024-03-01T10:00:00Z,,\n",
        encoding="utf-8",
    )
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("2024/march/export.csv", "ingested", 3, 1, 0, 2)]
    rows = quarantined(conn)
    assert [r[:6] for r in rows] == [
        ("stage_outcomes", "2024/march/export.csv", 3, "unknown_role", f"role 'chef' is not one of: {ROLES}", None),
        ("stage_outcomes", "2024/march/export.csv", 4, "missing_required", "missing application_id", None),
    ]
    # Every column of the file, extra ones too, with its value exactly as read (headers normalized).
    assert json.loads(rows[0][6]) == {
        "application_id": " A2 ", "candidate_id": "C1", "role": " Chef ", "stage": "onsite", "outcome": "passed",
        "occurred_at": "2024-03-01T10:00:00+02:00", "team": "  Search", "extra": "a, b",
    }
    assert json.loads(rows[1][6]) == {
        "application_id": None, "candidate_id": "C1", "role": "ml_engineer", "stage": "onsite", "outcome": "passed",
        "occurred_at": "2024-03-01T10:00:00Z", "team": None, "extra": None,
    }


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_exact_duplicate_is_dropped_and_counted_not_quarantined(conn, config, tmp_path):
    """Same id and the same normalized content (the same instant at another offset, other spacing/case)."""
    write_csv(tmp_path / "a.csv", [so(event_id="E1", requires_travel="yes"), so(event_id="E2")], STAGE_COLUMNS)
    write_csv(tmp_path / "b.csv", [so(event_id="E1", occurred_at="2024-03-01T12:00:00+02:00", outcome=" Passed ",
                                      role="ML_Engineer", requires_travel="true")], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.csv", "ingested", 2, 2, 0, 0), ("b.csv", "ingested", 1, 0, 1, 0)]
    assert quarantined(conn) == []
    assert [(r[0], r[11], r[12]) for r in stage_records(conn)] == [("E1", "a.csv", 2), ("E2", "a.csv", 3)]
    # And against records of an earlier run.
    write_csv(tmp_path / "c.csv", [so(event_id="E2", occurred_at="2024-03-01T05:00:00-05:00")], STAGE_COLUMNS)
    again = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(again)[-1] == ("c.csv", "ingested", 1, 0, 1, 0)
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone() == (2,)
    assert quarantined(conn) == []


def test_conflicting_duplicate_keeps_the_first_read_by_path_then_line(conn, config, tmp_path):
    # Written in reverse order: reading order is by relative path, not by creation time.
    write_csv(tmp_path / "b.csv", [so(event_id="E1", outcome="failed")], STAGE_COLUMNS)
    write_csv(tmp_path / "a" / "z.csv", [so(event_id="E1", outcome="withdrew")], STAGE_COLUMNS)
    write_csv(tmp_path / "a.csv", [so(event_id="E2"), so(event_id="E1", outcome="passed"), so(event_id="E2", outcome="failed")],
              STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [
        ("a.csv", "ingested", 3, 2, 0, 1),
        ("a/z.csv", "ingested", 1, 0, 0, 1),
        ("b.csv", "ingested", 1, 0, 0, 1),
    ]
    assert result.quarantined_by_reason == {"conflicting_duplicate": 3}
    assert conn.execute("SELECT record_id, outcome, source_file, source_line FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("E1", "passed", "a.csv", 3), ("E2", "passed", "a.csv", 2)]
    assert [(q[1], q[2], q[3], q[4], q[5]) for q in quarantined(conn)] == [
        ("a.csv", 4, "conflicting_duplicate", "id 'E2' was read first with different content (a.csv line 2)", "E2"),
        ("a/z.csv", 2, "conflicting_duplicate", "id 'E1' was read first with different content (a.csv line 3)", "E1"),
        ("b.csv", 2, "conflicting_duplicate", "id 'E1' was read first with different content (a.csv line 3)", "E1"),
    ]
    # A later run conflicting with the kept record names where it came from.
    write_csv(tmp_path / "c.csv", [so(event_id="E2", stage="offer")], STAGE_COLUMNS)
    later = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(later)[-1] == ("c.csv", "ingested", 1, 0, 0, 1)
    assert quarantined(conn)[-1][1:6] == (
        "c.csv", 2, "conflicting_duplicate", "id 'E2' was already ingested with different content (from a.csv line 2)", "E2")
    assert conn.execute("SELECT stage FROM stage_outcome_records WHERE record_id = 'E2'").fetchall() == [("onsite",)]


def test_a_conflicting_duplicate_keeps_its_raw_values_as_read(conn, config, tmp_path):
    """Like any quarantined row: every column of its file, extra ones too, in file order, as read."""
    write_csv(tmp_path / "a.csv", [so(event_id="E1")], STAGE_COLUMNS)
    (tmp_path / "b.csv").write_text(
        "note,Event_ID,application_id,candidate_id,role,stage,outcome,occurred_at\n"
        '"x, y",E1, A1 ,C1,ml_engineer,onsite,FAILED,2024-03-01T10:00:00Z\n',
        encoding="utf-8",
    )
    ingest(conn, tmp_path, config)
    assert [q[1:4] + q[6:] for q in quarantined(conn)] == [(
        "b.csv", 2, "conflicting_duplicate",
        '{"note":"x, y","event_id":"E1","application_id":" A1 ","candidate_id":"C1","role":"ml_engineer",'
        '"stage":"onsite","outcome":"FAILED","occurred_at":"2024-03-01T10:00:00Z"}',
    )]


def test_invalid_row_never_conflicts_with_or_replaces_a_valid_one(conn, config, tmp_path):
    write_csv(tmp_path / "a.csv", [so(event_id="E1", outcome="maybe"), so(event_id="E1")], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.csv", "ingested", 2, 1, 0, 1)]
    assert [(q[2], q[3]) for q in quarantined(conn)] == [(2, "unknown_outcome")]
    assert [(r[0], r[5], r[12]) for r in stage_records(conn)] == [("E1", "passed", 3)]


def test_interview_duplicates_and_conflicts(conn, config, tmp_path):
    write_csv(tmp_path / "a.csv", [
        iv(), iv(occurred_at="2024-03-01T11:00:00+01:00", recommendation="YES"),   # exact duplicate by hashed id
        iv(interview_id="X1"), iv(interview_id="X1", recommendation="no"),          # conflict by given id
        iv(interviewer_id="I2"),                                                  # another interviewer: another record
    ], INTERVIEW_COLUMNS)
    result = ingest(conn, tmp_path, config, INTERVIEWS)
    assert file_counts(result) == [("a.csv", "ingested", 5, 3, 1, 1)]
    hashed = hashed_id("A1", "onsite", "I1", "coding", "yes", "2024-03-01T10:00:00.000000Z")
    assert conn.execute("SELECT record_id, interviewer_id, source_line FROM interview_records ORDER BY source_line").fetchall() == [
        (hashed, "I1", 2), ("X1", "I1", 4), (hashed_id("A1", "onsite", "I2", "coding", "yes", "2024-03-01T10:00:00.000000Z"), "I2", 6)]
    assert [(q[2], q[3], q[5]) for q in quarantined(conn)] == [(5, "conflicting_duplicate", "X1")]


# ---------------------------------------------------------------------------------------------
# Timestamps


def test_offsets_are_converted_to_utc_and_no_offset_means_utc(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [
        so(event_id="late", occurred_at="2024-03-01T09:00:00Z"),
        so(event_id="early", occurred_at="2024-03-01T10:00:00+02:00"),
        so(event_id="naive", occurred_at="2024-03-01 09:30:00"),
        so(event_id="west", occurred_at="2024-02-29T23:15:00-05:00"),
        so(event_id="date", occurred_at="2024-03-01"),
        so(event_id="frac", occurred_at="2024-03-01T09:00:00.250+00:00"),
    ], STAGE_COLUMNS)
    ingest(conn, tmp_path, config)
    assert conn.execute("SELECT record_id, occurred_at FROM stage_outcome_records ORDER BY occurred_at").fetchall() == [
        ("date", datetime(2024, 3, 1, 0, 0)),
        ("west", datetime(2024, 3, 1, 4, 15)),
        ("early", datetime(2024, 3, 1, 8, 0)),
        ("late", datetime(2024, 3, 1, 9, 0)),
        ("frac", datetime(2024, 3, 1, 9, 0, 0, 250000)),
        ("naive", datetime(2024, 3, 1, 9, 30)),
    ]


# ---------------------------------------------------------------------------------------------
# File formats

SAME_RECORDS_CSV = [
    so(event_id="E1", application_id="101", occurred_at="2024-03-01T10:00:00+02:00", requires_travel="yes", team="Search"),
    so(application_id="102", candidate_id="7", stage="offer", outcome="withdrew", occurred_at="2024-03-02T09:30:00Z",
       requires_travel="0", level="L4"),
]


def _record_table(conn, table="stage_outcome_records"):
    return conn.execute(f"SELECT * EXCLUDE (source_file, source_line, ingested_at) FROM {table} ORDER BY record_id").fetchall()


def test_the_same_records_in_every_format_give_the_same_record_table(config, tmp_path):
    csv_dir, pq_dir, jsonl_dir, ndjson_dir = (tmp_path / name for name in ("csv", "parquet", "jsonl", "ndjson"))
    write_csv(csv_dir / "x.csv", SAME_RECORDS_CSV, STAGE_COLUMNS)
    pq_dir.mkdir()
    pl.DataFrame({
        "event_id": ["E1", None],
        "application_id": [101, 102],                      # numbers, read as their text
        "candidate_id": ["C1", "7"],
        "role": ["ml_engineer", "ml_engineer"],
        "stage": ["onsite", "offer"],
        "outcome": ["passed", "withdrew"],
        # Zone-aware, in another zone: the same instants as the CSV's, 2024-03-01T08:00Z and 2024-03-02T09:30Z.
        "occurred_at": pl.Series([datetime(2024, 3, 1, 8, 0), datetime(2024, 3, 2, 9, 30)])
        .dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Kolkata"),
        "team": ["Search", None],
        "level": [None, "L4"],
        "requires_travel": [True, False],   # a boolean column
    }).write_parquet(pq_dir / "x.parquet")
    json_rows = [
        {"event_id": "E1", "application_id": 101, "candidate_id": "C1", "role": "ml_engineer", "stage": "onsite",
         "outcome": "passed", "occurred_at": "2024-03-01T03:00:00-05:00", "team": "Search", "requires_travel": True},
        {"application_id": 102, "candidate_id": 7, "role": "ml_engineer", "stage": "offer", "outcome": "withdrew",
         "occurred_at": "2024-03-02T09:30:00Z", "level": "L4", "requires_travel": False, "source": None},
    ]
    write_jsonl(jsonl_dir / "x.jsonl", json_rows)
    write_jsonl(ndjson_dir / "x.ndjson", json_rows)
    tables = []
    for folder in (csv_dir, pq_dir, jsonl_dir, ndjson_dir):
        conn = connect(":memory:")
        create_schema(conn)
        result = ingest(conn, folder, config)
        assert [(f.status, f.rows_read, f.rows_accepted) for f in result.files] == [("ingested", 2, 2)], folder.name
        tables.append(_record_table(conn))
        conn.close()
    assert tables[0] == tables[1] == tables[2] == tables[3]
    second = hashed_id("102", "7", "ml_engineer", "offer", "withdrew", "2024-03-02T09:30:00.000000Z", "")
    assert [(r[0], r[1], r[2], r[6], r[7], r[9], r[10]) for r in tables[0]] == [
        ("E1", "101", "C1", datetime(2024, 3, 1, 8, 0), "Search", None, True),
        (second, "102", "7", datetime(2024, 3, 2, 9, 30), None, "L4", False),
    ]


def test_parquet_timestamps_as_typed_and_booleans(conn, config, tmp_path):
    aware = pl.Series([datetime(2024, 3, 1, 10, 0)] * 2).dt.replace_time_zone("Etc/GMT-2")   # = UTC+02:00
    pl.DataFrame({
        "event_id": ["P1", "P2"], "application_id": ["A1", "A2"], "candidate_id": ["C1", "C2"],
        "role": ["ml_engineer", "chef"], "stage": ["onsite", "onsite"], "outcome": ["passed", "passed"],
        "occurred_at": aware, "requires_travel": [False, None],
    }).write_parquet(tmp_path / "aware.parquet")
    pl.DataFrame({
        "event_id": ["P3"], "application_id": ["A3"], "candidate_id": ["C3"], "role": ["ml_engineer"],
        "stage": ["offer"], "outcome": ["passed"], "occurred_at": [datetime(2024, 3, 1, 9, 0)],     # naive: UTC
        "requires_travel": [True],
    }).write_parquet(tmp_path / "naive.parquet")
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("aware.parquet", "ingested", 2, 1, 0, 1), ("naive.parquet", "ingested", 1, 1, 0, 0)]
    assert conn.execute("SELECT record_id, occurred_at, requires_travel, source_line FROM stage_outcome_records ORDER BY occurred_at").fetchall() == [
        ("P1", datetime(2024, 3, 1, 8, 0), False, 1), ("P3", datetime(2024, 3, 1, 9, 0), True, 1)]
    (row,) = quarantined(conn)
    assert row[1:6] == ("aware.parquet", 2, "unknown_role", f"role 'chef' is not one of: {ROLES}", "P2")
    assert json.loads(row[6]) == {
        "event_id": "P2", "application_id": "A2", "candidate_id": "C2", "role": "chef", "stage": "onsite",
        "outcome": "passed", "occurred_at": "2024-03-01T08:00:00Z", "requires_travel": None,
    }


def test_json_lines_types_and_line_numbers(conn, config, tmp_path):
    (tmp_path / "a.jsonl").write_text(
        '{"interview_id": 1, "application_id": 55, "stage": "Onsite", "interviewer_id": 9, "skill": "coding",'
        ' "recommendation": "no", "occurred_at": "2024-03-01T10:00:00+02:00"}\n'
        '{"interview_id": 2, "application_id": 55, "stage": "onsite", "interviewer_id": 9, "skill": "coding",'
        ' "recommendation": true, "occurred_at": "2024-03-01T10:00:00Z", "note": {"k": [1, 2]}}\n',
        encoding="utf-8",
    )
    write_jsonl(tmp_path / "b.ndjson", [iv(interview_id="n1", stage="onsite", recommendation="strong_no")])
    result = ingest(conn, tmp_path, config, INTERVIEWS)
    assert file_counts(result) == [("a.jsonl", "ingested", 2, 1, 0, 1), ("b.ndjson", "ingested", 1, 1, 0, 0)]
    assert conn.execute("SELECT record_id, application_id, interviewer_id, stage, occurred_at, source_file, source_line"
                        " FROM interview_records ORDER BY record_id").fetchall() == [
        ("1", "55", "9", "onsite", datetime(2024, 3, 1, 8, 0), "a.jsonl", 1),
        ("n1", "A1", "I1", "onsite", T, "b.ndjson", 1)]
    (row,) = quarantined(conn)
    assert row[1:5] == ("a.jsonl", 2, "unknown_recommendation",
                        "recommendation 'true' is not one of: strong_yes, yes, no, strong_no, no_decision")
    raw = json.loads(row[6])
    assert raw["recommendation"] == "true" and raw["application_id"] == "55" and raw["note"] == '{"k":[1,2]}'


def test_json_lines_numbers_and_booleans_for_requires_travel(conn, config, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [so(event_id="j1", requires_travel=True), so(event_id="j2", requires_travel=False),
                                       so(event_id="j3", requires_travel=1), so(event_id="j4", requires_travel=0),
                                       so(event_id="j5")])
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.jsonl", "ingested", 5, 5, 0, 0)] and result.files[0].warning is None
    assert conn.execute("SELECT record_id, requires_travel FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("j1", True), ("j2", False), ("j3", True), ("j4", False), ("j5", None)]


# ---------------------------------------------------------------------------------------------
# Incremental runs


def test_the_same_file_twice_is_read_once(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [so(event_id="E1"), so(event_id="E2", outcome="nope")], STAGE_COLUMNS)
    first = ingest(conn, tmp_path, config, batch="b1")
    before = snapshot(conn)
    second = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(first) == [("so.csv", "ingested", 2, 1, 0, 1)]
    assert file_counts(second) == [("so.csv", "unchanged", 0, 0, 0, 0)]
    assert snapshot(conn) == before
    assert conn.execute("SELECT path, status, batch_id FROM landing_files").fetchall() == [("so.csv", "ingested", "b1")]


def test_a_renamed_or_copied_file_is_not_read_again(conn, config, tmp_path):
    write_csv(tmp_path / "so.csv", [so(event_id="E1")], STAGE_COLUMNS)
    ingest(conn, tmp_path, config, batch="b1")
    records = stage_records(conn)
    (tmp_path / "so.csv").rename(tmp_path / "renamed.csv")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "copy.csv").write_bytes((tmp_path / "renamed.csv").read_bytes())
    result = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(result) == [("deep/copy.csv", "already_ingested", 0, 0, 0, 0),
                                   ("renamed.csv", "already_ingested", 0, 0, 0, 0)]
    assert stage_records(conn) == records
    assert conn.execute("SELECT path, status, batch_id FROM landing_files ORDER BY processed_at, path").fetchall() == [
        ("so.csv", "ingested", "b1"), ("deep/copy.csv", "already_ingested", "b2"), ("renamed.csv", "already_ingested", "b2")]
    third = ingest(conn, tmp_path, config, batch="b3")
    assert [f.status for f in third.files] == ["unchanged", "unchanged"]


def test_a_copy_in_the_same_run_is_read_once(conn, config, tmp_path):
    write_csv(tmp_path / "a.csv", [so(event_id="E1")], STAGE_COLUMNS)
    (tmp_path / "b.csv").write_bytes((tmp_path / "a.csv").read_bytes())
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.csv", "ingested", 1, 1, 0, 0), ("b.csv", "already_ingested", 0, 0, 0, 0)]


def test_a_touched_file_is_not_read_again(conn, config, tmp_path):
    path = write_csv(tmp_path / "so.csv", [so(event_id="E1")], STAGE_COLUMNS)
    ingest(conn, tmp_path, config, batch="b1")
    records = stage_records(conn)
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    os.utime(path, (later.timestamp(), later.timestamp()))
    result = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(result) == [("so.csv", "unchanged", 0, 0, 0, 0)]
    assert stage_records(conn) == records
    # The new mtime is remembered, so the next run does not even hash the file again.
    assert conn.execute("SELECT modified_at, batch_id FROM landing_files").fetchall() == [(datetime(2030, 1, 2, 3, 4, 5), "b1")]


def test_an_overwritten_file_adds_only_its_new_rows(conn, config, tmp_path):
    old = [so(event_id="E1"), so(application_id="A2"), so(event_id="E3", outcome="bogus")]
    write_csv(tmp_path / "export.csv", old, STAGE_COLUMNS)
    first = ingest(conn, tmp_path, config, batch="b1")
    assert file_counts(first) == [("export.csv", "ingested", 3, 2, 0, 1)]
    # The export grows: the same rows (one moved), plus new ones.
    write_csv(tmp_path / "export.csv", [so(event_id="E4", stage="offer"), *old, so(application_id="A5"),
                                        so(event_id="E1", outcome="failed")], STAGE_COLUMNS)
    second = ingest(conn, tmp_path, config, batch="b2")
    assert file_counts(second) == [("export.csv", "ingested", 6, 2, 3, 1)]
    assert second.quarantined_by_reason == {"conflicting_duplicate": 1}
    assert conn.execute("SELECT application_id, record_id = 'E4' OR record_id = 'E1', batch_id, source_line"
                        " FROM stage_outcome_records ORDER BY batch_id, source_line").fetchall() == [
        ("A1", True, "b1", 2), ("A2", False, "b1", 3), ("A1", True, "b2", 2), ("A5", False, "b2", 6)]
    # The bad row is not quarantined twice; the new conflict is.
    assert [(q[1], q[2], q[3], q[5]) for q in quarantined(conn)] == [
        ("export.csv", 4, "unknown_outcome", "E3"), ("export.csv", 7, "conflicting_duplicate", "E1")]
    assert conn.execute("SELECT path, rows_read, batch_id FROM landing_files ORDER BY processed_at").fetchall() == [
        ("export.csv", 3, "b1"), ("export.csv", 6, "b2")]


def test_nested_folders_hidden_files_and_reading_order(conn, config, tmp_path):
    for rel in ("b.csv", "a/b/c/d/e.csv", "a.csv", "10.csv", "9.csv", "a/z.csv", "A.csv"):
        write_csv(tmp_path / rel, [so(application_id=rel)], STAGE_COLUMNS)
    for rel in (".hidden.csv", ".git/x.csv", "a/.~lock.e.csv#", "a/b/.DS_Store"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"\x00junk")
    result = ingest(conn, tmp_path, config)
    order = ["10.csv", "9.csv", "A.csv", "a.csv", "a/b/c/d/e.csv", "a/z.csv", "b.csv"]
    assert [f.path for f in result.files] == order
    assert all(f.status == "ingested" and f.rows_accepted == 1 for f in result.files)
    assert conn.execute("SELECT source_file, application_id FROM stage_outcome_records ORDER BY source_file").fetchall() == [
        (rel, rel) for rel in order]


def test_a_missing_feed_folder_reads_nothing(conn, config, tmp_path):
    result = ingest(conn, tmp_path / "nope", config)
    assert result.files == [] and snapshot(conn)["landing_files"] == []


# ---------------------------------------------------------------------------------------------
# Encodings and separators: Excel's CSVs


def excel_csv(path, rows, columns=STAGE_COLUMNS, *, encoding="cp1252", delimiter=",", bom=False):
    """A CSV the way Excel saves one: CRLF lines, a field quoted only when it must be, in `encoding`
    (Windows-1252 for Excel on Windows). A None row is a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([] if row is None else ["" if row.get(c) is None else row.get(c) for c in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + out.getvalue().encode(encoding))
    return path


def with_encoding(config, encoding):
    """The configuration with `encoding:` set, as a funnel.yaml would set it."""
    return parse_config({**yaml.safe_load(config.to_yaml()), "encoding": encoding}, "funnel.yaml")


def encodings(conn) -> list[tuple]:
    return conn.execute("SELECT path, status, encoding FROM landing_files ORDER BY path").fetchall()


def test_a_windows_1252_csv_is_read_with_its_exact_characters(conn, config, tmp_path):
    path = excel_csv(tmp_path / "excel.csv", [
        so(event_id="E1", candidate_id="José", team="Zoë’s team – Œuvre", source="€ referral"),
        so(event_id="E2", application_id="A2", candidate_id="Zoë", team="Søren"),
    ])
    assert b"Jos\xe9" in path.read_bytes() and b"\x92" in path.read_bytes()  # 'é' and '’' as Windows-1252 bytes
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("excel.csv", "ingested", 2, 2, 0, 0)]
    assert result.files[0].encoding == "windows-1252"
    assert [(r[0], r[2], r[7], r[8], r[12]) for r in stage_records(conn)] == [
        ("E1", "José", "Zoë’s team – Œuvre", "€ referral", 2),
        ("E2", "Zoë", "Søren", None, 3),
    ]
    assert encodings(conn) == [("excel.csv", "ingested", "windows-1252")]
    # A copy under another name is not read again: the same bytes, the same encoding.
    (tmp_path / "copy.csv").write_bytes(path.read_bytes())
    assert file_counts(ingest(conn, tmp_path, config, batch="b2")) == [
        ("copy.csv", "already_ingested", 0, 0, 0, 0), ("excel.csv", "unchanged", 0, 0, 0, 0)]
    assert encodings(conn) == [("copy.csv", "already_ingested", "windows-1252"), ("excel.csv", "ingested", "windows-1252")]


def test_a_quarantined_row_of_a_windows_1252_file_keeps_its_raw_values_decoded(conn, config, tmp_path):
    excel_csv(tmp_path / "excel.csv", [so(event_id="E1"), so(event_id="E2", candidate_id="José", outcome="Réussi", team="Zoë")])
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("excel.csv", "ingested", 2, 1, 0, 1)]
    (row,) = quarantined(conn)
    assert row[1:6] == ("excel.csv", 3, "unknown_outcome",
                        "outcome 'réussi' is not one of: in_progress, passed, failed, withdrew, skipped", "E2")
    assert json.loads(row[6]) == {
        "event_id": "E2", "application_id": "A1", "candidate_id": "José", "role": "ml_engineer", "stage": "onsite",
        "outcome": "Réussi", "occurred_at": "2024-03-01T10:00:00Z", "team": "Zoë", "source": None, "level": None,
        "requires_travel": None,
    }


def test_utf8_with_or_without_a_byte_order_mark_is_utf8_and_parquet_has_no_text_encoding(conn, config, tmp_path):
    # application_id first: with the byte order mark glued to it, it would not be recognized.
    columns = STAGE_COLUMNS[1:] + ["event_id"]
    excel_csv(tmp_path / "bom.csv", [so(event_id="E1", candidate_id="José"), so(event_id="E2", stage="lunch")],
              columns, encoding="utf-8", bom=True)
    write_csv(tmp_path / "plain.csv", [so(event_id="E3", candidate_id="Zoë")], STAGE_COLUMNS)
    (tmp_path / "lines.jsonl").write_bytes(codecs.BOM_UTF8 + json.dumps(so(event_id="E4", candidate_id="Øyvind"),
                                                                         ensure_ascii=False).encode() + b"\n")
    pl.DataFrame([so(event_id="E5", candidate_id="Zoë")]).write_parquet(tmp_path / "table.parquet")
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("bom.csv", "ingested", 2, 1, 0, 1), ("lines.jsonl", "ingested", 1, 1, 0, 0),
                                   ("plain.csv", "ingested", 1, 1, 0, 0), ("table.parquet", "ingested", 1, 1, 0, 0)]
    assert encodings(conn) == [("bom.csv", "ingested", "utf-8"), ("lines.jsonl", "ingested", "utf-8"),
                               ("plain.csv", "ingested", "utf-8"), ("table.parquet", "ingested", None)]
    assert [(r[0], r[2], r[11], r[12]) for r in stage_records(conn)] == [
        ("E1", "José", "bom.csv", 2), ("E4", "Øyvind", "lines.jsonl", 1), ("E3", "Zoë", "plain.csv", 2),
        ("E5", "Zoë", "table.parquet", 1)]
    (row,) = quarantined(conn)
    assert row[1:4] == ("bom.csv", 3, "unknown_stage") and list(json.loads(row[6])) == columns


def test_encoding_in_funnel_yaml_forces_one(conn, config, tmp_path):
    latin1 = with_encoding(config, "latin-1")
    assert latin1.encoding == "iso8859-1"
    # 0x80 is '€' in Windows-1252, which auto-detection would read; in Latin-1 it is the control character U+0080.
    path = excel_csv(tmp_path / "latin1.csv", [so(event_id="E1", candidate_id="José", team="\x80")], encoding="latin-1")
    assert b"Jos\xe9" in path.read_bytes()
    ingest(conn, tmp_path, latin1)
    assert [(r[0], r[2], r[7]) for r in stage_records(conn)] == [("E1", "José", "\x80")]
    assert encodings(conn) == [("latin1.csv", "ingested", "iso8859-1")]


def test_a_forced_encoding_the_file_is_not_in_rejects_it_naming_line_and_byte(conn, config, tmp_path):
    path = excel_csv(tmp_path / "excel.csv", [so(event_id="E1"), so(event_id="E2", candidate_id="José")])
    offset = path.read_bytes().index(b"\xe9")
    result = ingest(conn, tmp_path, with_encoding(config, "utf-8"))
    problem = f"not valid UTF-8, the encoding funnel.yaml sets: line 3, byte offset {offset}: byte 0xE9, invalid continuation byte"
    assert [(f.path, f.status, f.problem) for f in result.files] == [("excel.csv", "rejected", problem)]
    assert conn.execute("SELECT status, problem, encoding, rows_read FROM landing_files").fetchall() == [
        ("rejected", problem, None, 0)]
    assert stage_records(conn) == []


def test_utf8_text_then_bytes_that_are_not_is_rejected_as_mixed_encodings(conn, config, tmp_path):
    """Read as Windows-1252, the file's UTF-8 'ë' would turn into 'Ã«': rejected, never mangled."""
    path = write_csv(tmp_path / "appended.csv", [so(event_id="E1", candidate_id="Zoë")], STAGE_COLUMNS)
    before = path.read_bytes()
    path.write_bytes(before + "E2,A2,José,ml_engineer,onsite,passed,2024-03-01,,,,\n".encode("cp1252"))  # appended in Excel
    result = ingest(conn, tmp_path, config)
    problem = (f"mixed encodings: UTF-8 text ('ë' on line 2), then bytes that are not UTF-8 (line 3, byte offset "
               f"{len(before) + 9}: byte 0xE9, invalid continuation byte); save the file in one encoding (if it is all "
               "Windows-1252, set encoding: windows-1252 in funnel.yaml)")
    assert [(f.status, f.problem) for f in result.files] == [("rejected", problem)]
    assert encodings(conn) == [("appended.csv", "rejected", None)]


def test_a_rejected_file_records_the_encoding_it_was_read_with(conn, config, tmp_path):
    excel_csv(tmp_path / "excel.csv", [{"application_id": "A1", "candidate_id": "José"}], ["application_id", "candidate_id"])
    result = ingest(conn, tmp_path, config)
    assert [(f.status, f.problem) for f in result.files] == [
        ("rejected", "missing required column(s): role, stage, outcome, occurred_at")]
    assert encodings(conn) == [("excel.csv", "rejected", "windows-1252")]


def test_utf16_is_read_only_when_funnel_yaml_says_so(conn, config, tmp_path):
    """Excel's "Unicode Text": UTF-16 with a byte order mark, tab-separated."""
    excel_csv(tmp_path / "unicode.csv", [so(event_id="E1", candidate_id="Zoë")], encoding="utf-16", delimiter="\t")
    result = ingest(conn, tmp_path, config)
    assert [(f.status, f.problem) for f in result.files] == [
        ("rejected", "UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8, or set encoding: utf-16"
                     " in funnel.yaml")]
    forced = connect(":memory:")
    try:
        create_schema(forced)
        assert file_counts(ingest(forced, tmp_path, with_encoding(config, "utf-16"))) == [("unicode.csv", "ingested", 1, 1, 0, 0)]
        assert [(r[0], r[2], r[12]) for r in stage_records(forced)] == [("E1", "Zoë", 2)]
        assert encodings(forced) == [("unicode.csv", "ingested", "utf-16")]
    finally:
        forced.close()


def test_json_lines_fall_back_to_windows_1252_too(conn, config, tmp_path):
    (tmp_path / "a.jsonl").write_bytes(json.dumps(so(event_id="J1", candidate_id="José"), ensure_ascii=False).encode("cp1252") + b"\n")
    assert file_counts(ingest(conn, tmp_path, config)) == [("a.jsonl", "ingested", 1, 1, 0, 0)]
    assert [(r[0], r[2]) for r in stage_records(conn)] == [("J1", "José")]
    assert encodings(conn) == [("a.jsonl", "ingested", "windows-1252")]


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_separated_csvs_are_read(conn, config, tmp_path, delimiter):
    # European Excel separates with semicolons (the comma is their decimal mark). Fields with a quote are quoted.
    excel_csv(tmp_path / "export.csv", [
        so(event_id="E1", team='Search "Core", Ads', source='referral; "internal"', level="L5"),
        None,  # a blank line: not a row, and the lines after it keep their numbers
        so(event_id="E2", application_id="A2", candidate_id="José", outcome="réussi", team="a;b,c"),
        so(event_id="E3", application_id="A3", candidate_id="Zoë", team="Paris, France", source="x;y"),
    ], delimiter=delimiter)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("export.csv", "ingested", 3, 2, 0, 1)]
    assert [(r[0], r[1], r[2], r[7], r[8], r[9], r[12]) for r in stage_records(conn)] == [
        ("E1", "A1", "C1", 'Search "Core", Ads', 'referral; "internal"', "L5", 2),
        ("E3", "A3", "Zoë", "Paris, France", "x;y", None, 5),
    ]
    (row,) = quarantined(conn)
    assert row[1:4] == ("export.csv", 4, "unknown_outcome")
    assert json.loads(row[6])["candidate_id"] == "José" and json.loads(row[6])["team"] == "a;b,c"
    assert encodings(conn) == [("export.csv", "ingested", "windows-1252")]


def test_the_separator_is_the_one_the_header_holds_most_outside_quotes(conn, config, tmp_path):
    header = "application_id;candidate_id;role;stage;outcome;occurred_at"
    # As many commas as semicolons, but the commas are inside a quoted name: semicolon-separated.
    (tmp_path / "a.csv").write_text(header + ';"notes, remarks, comments, misc, other, more"\n'
                                    "A1;C1;ml_engineer;onsite;passed;2024-03-01;a, b\n", encoding="utf-8")
    # No comma, semicolon or tab in the header: a one-column comma-separated file.
    (tmp_path / "b.csv").write_text("application_id\nA1;C1\n", encoding="utf-8")
    # One tab, two commas: comma-separated, the tab is part of a name.
    (tmp_path / "c.csv").write_text(header.replace(";", ",") + ",notes\tx,y\n"
                                    "A2,C2,ml_engineer,onsite,passed,2024-03-01,n,z\n", encoding="utf-8")
    result = ingest(conn, tmp_path, config)
    assert [(f.path, f.status, f.problem, f.rows_read) for f in result.files] == [
        ("a.csv", "ingested", None, 1),
        ("b.csv", "rejected", "missing required column(s): candidate_id, role, stage, outcome, occurred_at", 0),
        ("c.csv", "ingested", None, 1),
    ]
    assert quarantined(conn) == []
    assert conn.execute("SELECT source_file, application_id, candidate_id FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("a.csv", "A1", "C1"), ("c.csv", "A2", "C2")]


def test_a_working_database_of_an_earlier_version_gets_the_encoding_column(tmp_path, config):
    path = tmp_path / "pipeline.duckdb"
    old = connect(path)
    # landing_files as versions before `encoding` created it, with a file already recorded.
    old.execute(
        "CREATE TABLE landing_files (feed VARCHAR NOT NULL, path VARCHAR NOT NULL, content_hash VARCHAR NOT NULL,"
        " size_bytes BIGINT NOT NULL, modified_at TIMESTAMP, status VARCHAR NOT NULL, problem VARCHAR,"
        " rows_read BIGINT NOT NULL DEFAULT 0, rows_accepted BIGINT NOT NULL DEFAULT 0,"
        " rows_duplicate BIGINT NOT NULL DEFAULT 0, rows_quarantined BIGINT NOT NULL DEFAULT 0,"
        " batch_id VARCHAR NOT NULL, processed_at TIMESTAMP NOT NULL, PRIMARY KEY (feed, path, content_hash))"
    )
    old.execute("INSERT INTO landing_files VALUES ('stage_outcomes', 'old.csv', 'h', 1, NULL, 'ingested', NULL,"
                " 1, 1, 0, 0, 'b0', TIMESTAMP '2024-01-01')")
    old.close()
    conn = connect(path)
    try:
        create_schema(conn)
        create_schema(conn)  # and again: nothing changes
        columns = [name for name, _ in table_columns(conn, "landing_files")]
        assert columns[-3:] == ["processed_at", "encoding", "rows_excluded"]
        excel_csv(tmp_path / "landing" / "excel.csv", [so(event_id="E1", candidate_id="José")])
        assert file_counts(ingest(conn, tmp_path / "landing", config)) == [("excel.csv", "ingested", 1, 1, 0, 0)]
        assert conn.execute("SELECT path, rows_read, encoding, rows_excluded FROM landing_files ORDER BY path").fetchall() == [
            ("excel.csv", 1, "windows-1252", 0), ("old.csv", 1, None, 0)]
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# File-level problems

HEADER = ",".join(["application_id", "candidate_id", "role", "stage", "outcome", "occurred_at"]) + "\n"


def _empty_parquet(path):
    pl.DataFrame(schema={c: pl.String for c in STAGE_COLUMNS}).write_parquet(path)


FILE_PROBLEMS = [
    pytest.param("empty.csv", b"", "empty file", id="empty-csv"),
    pytest.param("header.csv", HEADER.encode(), "empty: no data rows", id="header-only-csv"),
    pytest.param("blank.jsonl", b"", "empty file", id="empty-jsonl"),
    pytest.param("empty.parquet", _empty_parquet, "empty: no data rows", id="zero-row-parquet"),
    pytest.param("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
                 "binary content (NUL bytes), not a CSV text file", id="binary-csv"),
    pytest.param("image.jsonl", b"\x00\x01\x02", "binary content (NUL bytes), not a JSON Lines text file", id="binary-jsonl"),
    pytest.param("c1.csv", (HEADER + "A1,C\x81,ml_engineer,onsite,passed,2024-03-01\n").encode("latin-1"),
                 f"neither UTF-8 (line 2, byte offset {len(HEADER) + 4}: byte 0x81, invalid start byte) nor Windows-1252"
                 f" (line 2, byte offset {len(HEADER) + 4}: byte 0x81, undefined in windows-1252); if it is in another"
                 " encoding, set encoding: in funnel.yaml", id="neither-utf8-nor-windows-1252-csv"),
    pytest.param("unicode.csv", HEADER.encode("utf-16"), "UTF-16 text (it starts with a UTF-16 byte order mark): save it as"
                 " UTF-8, or set encoding: utf-16 in funnel.yaml", id="utf16-csv"),
    pytest.param("text.parquet", HEADER.encode(), "not a Parquet file (no PAR1 magic bytes)", id="text-named-parquet"),
    pytest.param("cut.parquet", b"PAR1\x00\x00", "cannot be read as PARQUET: ", id="truncated-parquet"),
    pytest.param("broken.jsonl", b'{"application_id": "A1"}\n{"application_id": \n',
                 "cannot be read as JSON Lines: line 2: Expecting value", id="invalid-json"),
    pytest.param("list.ndjson", b'[1, 2]\n', "cannot be read as JSON Lines: line 1 is not a JSON object", id="json-not-objects"),
    pytest.param("blank.ndjson", b'\n  \n\n', "empty: no data rows", id="blank-lines-jsonl"),
    pytest.param("blank.csv", (HEADER + "\n\n").encode(), "empty: no data rows", id="header-and-blank-lines-csv"),
    pytest.param("missing.csv", b"application_id,candidate_id,role,stage,occurred_at\nA1,C1,ml_engineer,onsite,2024-03-01\n",
                 "missing required column(s): outcome", id="csv-missing-column"),
    pytest.param("missing.jsonl", b'{"application_id": "A1", "candidate_id": "C1"}\n',
                 "missing required column(s): role, stage, outcome, occurred_at", id="jsonl-missing-columns"),
    pytest.param("dupe.csv", (HEADER.strip() + ",Role\n" + "A1,C1,ml_engineer,onsite,passed,2024-03-01,x\n").encode(),
                 "duplicate column names in header: application_id, candidate_id, role, stage, outcome, occurred_at, Role",
                 id="duplicate-columns"),
    pytest.param("notes.txt", HEADER.encode(), "unsupported file type '.txt'; expected one of .csv, .jsonl, .ndjson, .parquet",
                 id="txt"),
    pytest.param("README", b"hello", "unsupported file type '(no extension)'; expected one of .csv, .jsonl, .ndjson, .parquet",
                 id="no-extension"),
]


@pytest.mark.parametrize("name, content, problem", FILE_PROBLEMS)
def test_file_level_problems_reject_the_file_and_the_run_goes_on(conn, config, tmp_path, name, content, problem):
    write_csv(tmp_path / "a_good.csv", [so(event_id="G1")], STAGE_COLUMNS)
    write_csv(tmp_path / "z_good.csv", [so(event_id="G2")], STAGE_COLUMNS)
    bad = tmp_path / "m" / name
    bad.parent.mkdir()
    if callable(content):
        content(bad)
    else:
        bad.write_bytes(content)
    before = bad.read_bytes()
    result = ingest(conn, tmp_path, config)
    statuses = {f.path: (f.status, f.problem) for f in result.files}
    assert statuses["a_good.csv"] == statuses["z_good.csv"] == ("ingested", None)
    status, got = statuses[f"m/{name}"]
    assert status == "rejected"
    assert got == problem if not problem.endswith(": ") else got.startswith(problem) and len(got) > len(problem)
    assert bad.read_bytes() == before  # left in place, untouched
    assert conn.execute("SELECT record_id FROM stage_outcome_records ORDER BY 1").fetchall() == [("G1",), ("G2",)]
    assert conn.execute("SELECT status, problem, rows_read FROM landing_files WHERE path = ?", [f"m/{name}"]).fetchall() == [
        ("rejected", got, 0)]
    assert quarantined(conn) == []
    # Not re-reported on the next run while it is unchanged; re-read once it is fixed.
    assert [f.status for f in ingest(conn, tmp_path, config, batch="b2").files] == ["unchanged"] * 3


def test_a_fixed_rejected_file_is_read(conn, config, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(HEADER, encoding="utf-8")
    assert file_counts(ingest(conn, tmp_path, config)) == [("x.csv", "rejected", 0, 0, 0, 0)]
    write_csv(path, [so(event_id="E1")], STAGE_COLUMNS)
    assert file_counts(ingest(conn, tmp_path, config, batch="b2")) == [("x.csv", "ingested", 1, 1, 0, 0)]


def test_a_name_with_a_quote_in_the_config_does_not_break_classification(conn, tmp_path):

    config = parse_config({"stages": ["o'hare_visit", "offer"], "roles": {"r": {"pipeline": ["o'hare_visit", "offer"]}}}, "test")
    write_csv(tmp_path / "so.csv", [so(role="r", stage="o'hare_visit"), so(role="r", stage="lunch")], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("so.csv", "ingested", 2, 1, 0, 1)]
    assert [(q[3], q[4]) for q in quarantined(conn)] == [("unknown_stage", "stage 'lunch' is not one of: o'hare_visit, offer")]


def test_blank_lines_in_a_csv_are_not_rows(conn, config, tmp_path):
    write_csv(tmp_path / "x.csv", [so(event_id="E1"), so(event_id="E2")], STAGE_COLUMNS)
    text = (tmp_path / "x.csv").read_text()
    lines = text.splitlines(keepends=True)
    (tmp_path / "x.csv").write_text(lines[0] + lines[1] + "\n" + lines[2] + "\n\n", encoding="utf-8")
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("x.csv", "ingested", 2, 2, 0, 0)]
    assert conn.execute("SELECT record_id, source_line FROM stage_outcome_records ORDER BY 1").fetchall() == [("E1", 2), ("E2", 4)]


def test_an_unreadable_file_is_rejected_and_the_run_goes_on(conn, config, tmp_path, monkeypatch):
    import funnel.ingest as ingest_module

    write_csv(tmp_path / "a.csv", [so(event_id="E1")], STAGE_COLUMNS)
    write_csv(tmp_path / "b.csv", [so(event_id="E2")], STAGE_COLUMNS)
    real = ingest_module.file_sha256

    def no_permission(path):
        if path.name == "a.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(ingest_module, "file_sha256", no_permission)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.csv", "rejected", 0, 0, 0, 0), ("b.csv", "ingested", 1, 1, 0, 0)]
    assert result.files[0].problem == "cannot be read: Permission denied"
    monkeypatch.setattr(ingest_module, "file_sha256", real)
    assert file_counts(ingest(conn, tmp_path, config, batch="b2")) == [
        ("a.csv", "ingested", 1, 1, 0, 0), ("b.csv", "unchanged", 0, 0, 0, 0)]


# ---------------------------------------------------------------------------------------------
# Reruns change nothing; nothing is deleted


def test_rerunning_over_the_same_landing_folder_changes_nothing(config, tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [so(event_id="E1"), so(event_id="E1"), so(event_id="E1", outcome="failed"),
                                  so(role="nope"), so(application_id="A2", requires_travel="perhaps")], STAGE_COLUMNS)
    write_jsonl(landing / "x" / "b.jsonl", [so(event_id="E5", occurred_at="2024-03-05T10:00:00-08:00")])
    (landing / "c.csv").write_bytes(b"\x00\x00")
    db = tmp_path / "warehouse" / "w.duckdb"
    db.parent.mkdir()
    conn = connect(db)
    create_schema(conn)
    first = ingest(conn, landing, config, batch="run-1")
    conn.close()
    assert file_counts(first) == [("a.csv", "ingested", 5, 2, 1, 2), ("c.csv", "rejected", 0, 0, 0, 0),
                                  ("x/b.jsonl", "ingested", 1, 1, 0, 0)]
    conn = connect(db)
    create_schema(conn)  # idempotent: drops nothing
    before = snapshot(conn)
    assert len(before["stage_outcome_records"]) == 3 and len(before["quarantined_rows"]) == 2
    second = ingest(conn, landing, config, batch="run-2")
    assert [f.status for f in second.files] == ["unchanged"] * 3
    assert snapshot(conn) == before
    # Files removed from the landing folder: their records stay.
    for path in (landing / "a.csv", landing / "x" / "b.jsonl"):
        path.unlink()
    ingest(conn, landing, config, batch="run-3")
    assert snapshot(conn) == before
    conn.close()


def test_a_killed_run_leaves_no_partial_batch(conn, config, tmp_path, monkeypatch):
    import funnel.ingest as ingest_module

    write_csv(tmp_path / "a.csv", [so(event_id="E1")], STAGE_COLUMNS)

    real_store = ingest_module._store_batch

    def store_then_die(*args, **kwargs):
        real_store(*args, **kwargs)
        raise RuntimeError("killed")

    monkeypatch.setattr(ingest_module, "_store_batch", store_then_die)
    with pytest.raises(RuntimeError, match="killed"):
        ingest(conn, tmp_path, config)
    assert snapshot(conn) == {"landing_files": [], "stage_outcome_records": [], "interview_records": [], "quarantined_rows": []}
    monkeypatch.undo()
    assert file_counts(ingest(conn, tmp_path, config, batch="b2")) == [("a.csv", "ingested", 1, 1, 0, 0)]


def test_repeated_bad_rows_are_quarantined_once(conn, config, tmp_path):
    """The same raw row for the same reason, in two files or twice in one, is one quarantined row."""
    bad = so(event_id="B1", stage="lunch")
    write_csv(tmp_path / "a.csv", [bad, bad], STAGE_COLUMNS)
    write_csv(tmp_path / "b.csv", [so(event_id="OK"), bad], STAGE_COLUMNS)
    result = ingest(conn, tmp_path, config)
    assert file_counts(result) == [("a.csv", "ingested", 2, 0, 1, 1), ("b.csv", "ingested", 2, 1, 1, 0)]
    assert [(q[1], q[2], q[3]) for q in quarantined(conn)] == [("a.csv", 2, "unknown_stage")]


def test_every_row_read_is_accounted_for(conn, config, tmp_path):
    rows = [so(event_id=f"E{i % 7}", outcome=("passed", "failed", "x", "")[i % 4], occurred_at=f"2024-03-{1 + i % 28:02d}T10:00:00Z")
            for i in range(60)]
    write_csv(tmp_path / "a.csv", rows[:30], STAGE_COLUMNS)
    write_jsonl(tmp_path / "b.jsonl", rows[30:])
    result = ingest(conn, tmp_path, config)
    for f in result.files:
        assert f.rows_read == 30 == f.rows_accepted + f.rows_duplicate + f.rows_quarantined
    accepted = conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone()[0]
    assert accepted == result.total("rows_accepted") == 7
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()[0] == result.total("rows_quarantined")
    assert sum(result.quarantined_by_reason.values()) == result.total("rows_quarantined")
    assert set(result.quarantined_by_reason) == {"missing_required", "unknown_outcome", "conflicting_duplicate"}
