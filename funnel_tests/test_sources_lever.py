"""Lever's tables, as Fivetran's connector syncs them, read into stage events and interviews
(funnel/sources/lever.py, docs/sources.md "Lever"). Every expected number is worked out by hand
from the fixture below."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from funnel.build import build_all
from funnel.config import Config, parse_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.ingest import ingest_feed
from funnel.keys import install_key
from funnel.sources import lever, lever_shape
from funnel.sources.lever import LAYOUTS
from funnel.sources.runner import ingest_source
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.marts_fixtures import TEST_KEY_SECRET, rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YAML = REPO / "funnel" / "default_config.yaml"

# Fivetran's Lever layouts (fivetran/dbt_lever_source: macros/get_<table>_columns.sql, integration_tests/seeds).
COLUMNS = {table: list(columns) for table, columns in LAYOUTS.items()}
SYNCED = "2024-05-01 06:00:00.000"

# Lever's pipeline is account-wide: every stage has one index (to_stage_index).
STAGES = [
    ("lead-new", "New lead", 0), ("lead-reached-out", "Reached out", 1), ("applicant-new", "New applicant", 2),
    ("st-rs", "Recruiter Screen", 3), ("st-ts", "Technical Screen", 4), ("st-th", "Take Home", 5),
    ("st-on", "On-site", 6), ("st-ref", "Reference Check", 7), ("st-hc", "Hiring Committee", 8),
    ("st-tm", "Team Matching", 9), ("offer", "Offer", 10),
]
INDEX = {stage_id: index for stage_id, _, index in STAGES}

LEVER_BLOCK = {
    "roles": {"Machine Learning Engineer": "ml_engineer", "p-swe": "software_engineer",
              "  data SCIENTIST ": "data_scientist"},
    "stages": {"New applicant": "application_review", "recruiter screen": "recruiter_screen",
               "Technical Screen": "technical_screen", "Take Home": "take_home", "On-site": "onsite",
               "Hiring Committee": "hiring_committee", "Team Matching": "team_matching", "Offer": "offer"},
    "archive_reasons": {"Offer Declined": "withdrew", "Withdrew": "withdrew", "Underqualified": "failed"},
    "skills": {"Coding": "coding", "ML System Design": "ml_system_design", "Behavioral": "behavioral"},
}


def lever_config(**changes) -> Config:
    data = yaml.safe_load(DEFAULT_YAML.read_text())
    block = {key: dict(value) for key, value in LEVER_BLOCK.items()}
    for key, value in changes.items():
        block[key] = value
    data["sources"] = {"lever": block}
    return parse_config(data, "test")


def at(day: str) -> str:
    """A Fivetran timestamp (UTC, no offset) in 2024: at('03-01 09:00')."""
    return f"2024-{day}:00.000"


def write_table(folder: Path, table: str, records: list[dict], name: str | None = None) -> Path:
    """One table file in the connector's layout: every column of the table, then any extra one."""
    columns = COLUMNS[table] + [c for r in records for c in r if c not in COLUMNS[table]]
    columns = list(dict.fromkeys(columns))
    path = folder / (name or f"{table}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            row = {"_fivetran_synced": SYNCED, **record}
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return path


def opportunity(opp: str, contact: str, stage: str, archived: tuple[str, str] | None = None, **extra) -> dict:
    return {"id": opp, "contact": contact, "stage_id": stage, "created_at": at("02-20 08:00"), "origin": "applied",
            "name": f"Candidate {contact}", "archived_at": archived[0] if archived else None,
            "archived_reason_id": archived[1] if archived else None, "is_anonymized": "false", **extra}


def moves(opp: str, *steps: tuple[str, str]) -> list[dict]:
    """Stage changes: (stage id, time)."""
    return [{"opportunity_id": opp, "stage_id": stage, "to_stage_index": INDEX[stage], "updated_at": when,
             "updater_id": "u-recruiter"} for stage, when in steps]


def application(opp: str, posting: str, **extra) -> dict:
    return {"id": f"app-{opp}", "opportunity_id": opp, "posting_id": posting, "created_at": at("02-20 08:00"),
            "type": "posting", **extra}


def world() -> dict[str, list[dict]]:
    """A small Lever account covering every rule (times UTC, 2024)."""
    tables: dict[str, list[dict]] = {
        "stage": [{"id": s, "text": text, "_fivetran_deleted": "false"} for s, text, _ in STAGES],
        "posting": [
            {"id": "p-ml", "text": "Machine Learning Engineer", "categories_team": "ML Platform",
             "categories_level": "Senior", "state": "published", "_fivetran_deleted": "false"},
            {"id": "p-swe", "text": "Software Engineer", "categories_team": "Backend", "state": "published",
             "_fivetran_deleted": "false"},
            {"id": "p-ds", "text": "Data Scientist", "state": "published", "_fivetran_deleted": "false"},
        ],
        "archive_reason": [{"id": r, "text": text, "_fivetran_deleted": "false"} for r, text in (
            ("r-hired", "Hired"), ("r-withdrew", "Withdrew"), ("r-declined", "Offer Declined"),
            ("r-under", "Underqualified"), ("r-timing", "Timing"))],
    }
    opps, hist, apps = [], [], []
    # opp-hired: every stage, hired against a requisition.
    opps.append(opportunity("opp-hired", "c-1", "offer", (at("04-20 09:00"), "r-hired")))
    hist += moves("opp-hired", ("applicant-new", at("03-01 09:00")), ("st-rs", at("03-04 09:00")),
                  ("st-ts", at("03-08 09:00")), ("st-on", at("03-15 09:00")), ("st-hc", at("03-22 09:00")),
                  ("st-tm", at("03-26 09:00")), ("offer", at("04-10 09:00")))
    apps.append(application("opp-hired", "p-ml", requisition_for_hire_id="req-1"))
    # opp-rejected: rejected (Underqualified) at the recruiter screen.
    opps.append(opportunity("opp-rejected", "c-2", "st-rs", (at("03-09 09:00"), "r-under")))
    hist += moves("opp-rejected", ("applicant-new", at("03-01 09:00")), ("st-rs", at("03-05 09:00")))
    apps.append(application("opp-rejected", "p-ml"))
    # opp-withdrew: withdrew at the technical screen.
    opps.append(opportunity("opp-withdrew", "c-3", "st-ts", (at("03-12 09:00"), "r-withdrew")))
    hist += moves("opp-withdrew", ("applicant-new", at("03-02 09:00")), ("st-rs", at("03-06 09:00")),
                  ("st-ts", at("03-10 09:00")))
    apps.append(application("opp-withdrew", "p-swe"))
    # opp-declined: declined the offer.
    opps.append(opportunity("opp-declined", "c-4", "offer", (at("04-05 09:00"), "r-declined")))
    hist += moves("opp-declined", ("applicant-new", at("03-01 10:00")), ("st-rs", at("03-04 10:00")),
                  ("st-ts", at("03-07 10:00")), ("st-on", at("03-14 10:00")), ("st-hc", at("03-20 10:00")),
                  ("st-tm", at("03-22 10:00")), ("offer", at("04-01 10:00")))
    apps.append(application("opp-declined", "p-swe"))
    # opp-skip: from New applicant straight to the On-site (recruiter and technical screens jumped over).
    opps.append(opportunity("opp-skip", "c-5", "st-on"))
    hist += moves("opp-skip", ("applicant-new", at("03-03 09:00")), ("st-on", at("03-10 09:00")))
    apps.append(application("opp-skip", "p-ml"))
    # opp-back: a data scientist moved back from the technical screen to the recruiter screen.
    opps.append(opportunity("opp-back", "c-6", "st-rs"))
    hist += moves("opp-back", ("applicant-new", at("03-01 09:00")), ("st-rs", at("03-03 09:00")),
                  ("st-ts", at("03-06 09:00")), ("st-rs", at("03-08 09:00")))
    apps.append(application("opp-back", "p-ds"))
    # opp-merged: c-1 again (Lever moved the duplicate's opportunity onto the surviving contact),
    # archived for a reason the mapping does not list: failed.
    opps.append(opportunity("opp-merged", "c-1", "applicant-new", (at("03-07 09:00"), "r-timing")))
    hist += moves("opp-merged", ("applicant-new", at("03-05 09:00")))
    apps.append(application("opp-merged", "p-ds"))
    # opp-lead: a lead that never applied: every row of it excluded.
    opps.append(opportunity("opp-lead", "c-7", "lead-reached-out", (at("03-09 09:00"), "r-timing"), origin="sourced"))
    hist += moves("opp-lead", ("lead-new", at("03-01 09:00")), ("lead-reached-out", at("03-02 09:00")))
    apps.append(application("opp-lead", "p-ml", type="user"))
    # opp-sourced: a lead who then applied: only its lead-stage change is excluded.
    opps.append(opportunity("opp-sourced", "c-8", "st-rs", origin="sourced"))
    hist += moves("opp-sourced", ("lead-new", at("02-25 09:00")), ("applicant-new", at("03-01 09:00")),
                  ("st-rs", at("03-04 09:00")))
    apps.append(application("opp-sourced", "p-swe"))
    # opp-ref: through a Reference Check, a stage the mapping lacks, into the hiring committee.
    opps.append(opportunity("opp-ref", "c-9", "st-hc"))
    hist += moves("opp-ref", ("applicant-new", at("03-01 09:00")), ("st-rs", at("03-04 09:00")),
                  ("st-ts", at("03-07 09:00")), ("st-on", at("03-12 09:00")), ("st-ref", at("03-18 09:00")),
                  ("st-hc", at("03-22 09:00")))
    apps.append(application("opp-ref", "p-ml"))
    # opp-deleted: a re-sync found it gone and marked it deleted: every row of it excluded.
    opps.append(opportunity("opp-deleted", "c-10", "st-rs", _fivetran_deleted="true"))
    hist += moves("opp-deleted", ("applicant-new", at("03-02 09:00")), ("st-rs", at("03-05 09:00")))
    apps.append(application("opp-deleted", "p-ml"))
    tables["opportunity"] = opps
    tables["opportunity_stage_history"] = hist
    tables["application"] = apps
    tables["opportunity_source"] = [
        {"opportunity_id": "opp-hired", "source": "Referral"}, {"opportunity_id": "opp-hired", "source": "LinkedIn"},
        {"opportunity_id": "opp-rejected", "source": "LinkedIn"}, {"opportunity_id": "opp-lead", "source": "Sourced"},
    ]
    tables["interview"] = [
        {"id": "iv-loop", "opportunity_id": "opp-hired", "stage_id": "st-on", "date": at("03-18 10:00"),
         "duration": 240, "subject": "On-site loop", "timezone": "America/Los_Angeles"},
        {"id": "iv-canceled", "opportunity_id": "opp-rejected", "stage_id": "st-rs", "date": at("03-07 10:00"),
         "canceled_at": at("03-06 12:00"), "duration": 30},
        {"id": "iv-screen", "opportunity_id": "opp-withdrew", "stage_id": "st-ts", "date": at("03-11 15:00"),
         "duration": 60},
    ]
    tables["interview_user"] = [
        {"interview_id": "iv-loop", "user_id": "u-1"}, {"interview_id": "iv-loop", "user_id": "u-2"},
        {"interview_id": "iv-loop", "user_id": "u-3"}, {"interview_id": "iv-canceled", "user_id": "u-4"},
        {"interview_id": "iv-screen", "user_id": "u-5"},
    ]

    def form(fid: str, interview: str | None, opp: str, creator: str | None, text: str, score: str | None,
             completed: str | None = at("03-18 18:00"), **extra) -> dict:
        return {"id": fid, "interview_id": interview, "opportunity_id": opp, "creator_id": creator, "text": text,
                "score_system_value": score, "completed_at": completed, "created_at": at("03-18 17:00"),
                "type": "interview", **extra}

    tables["feedback_form"] = [
        form("f-1", "iv-loop", "opp-hired", "u-1", "Coding", "4 - Strong Hire"),
        form("f-2", "iv-loop", "opp-hired", "u-2", "ML System Design", "3 - Hire"),
        form("f-3", "iv-loop", "opp-hired", "u-3", "Behavioral", "2 - No Hire"),
        form("f-4", "iv-loop", "opp-hired", "u-3", "Coding", "1 - Strong No Hire", deleted_at=at("03-19 09:00")),
        form("f-5", "iv-loop", "opp-hired", "u-2", "Culture Add", "3 - Hire"),
        form("f-6", "iv-screen", "opp-withdrew", None, "Coding", None, completed=at("03-11 17:00")),
        form("f-7", None, "opp-skip", "u-1", "Debrief", "3 - Hire"),
        form("f-8", "iv-loop", "opp-hired", "u-1", "Behavioral", None, completed=None),
    ]
    return tables


def write_world(folder: Path, tables: dict[str, list[dict]]) -> Path:
    for table, records in tables.items():
        write_table(folder, table, records)
    return folder



def warehouse(config: Config) -> duckdb.DuckDBPyConnection:
    conn = connect(":memory:")
    conn.execute("SET threads = 1")  # tiny data, a shared machine
    create_schema(conn)
    write_config_tables(conn, config)
    install_key(conn, TEST_KEY_SECRET)
    return conn


def records(conn, app: str | None = None) -> list[tuple]:
    """(application, stage, outcome, 'mm-dd HH:MM') of the accepted stage events, in time order."""
    where = "WHERE application_id = ?" if app else ""
    return conn.execute(
        "SELECT application_id, stage, outcome, strftime(occurred_at, '%m-%d %H:%M') FROM stage_outcome_records"
        f" {where} ORDER BY application_id, occurred_at, stage_order(stage), outcome", [app] if app else []).fetchall()


def files(conn) -> dict[str, tuple]:
    """landing_files of the latest version of each table file: (read, accepted, duplicate, quarantined, excluded)."""
    return {path: tuple(counts) for path, *counts in conn.execute(
        "SELECT path, rows_read, rows_accepted, rows_duplicate, rows_quarantined, rows_excluded FROM landing_files"
        " WHERE feed = 'lever' QUALIFY row_number() OVER (PARTITION BY path ORDER BY processed_at DESC) = 1"
        " ORDER BY path").fetchall()}


def mart(conn, table: str, columns: str, where: str) -> list[tuple]:
    return conn.execute(f"SELECT {columns} FROM {table} WHERE {where}").fetchall()


def stage_order_macro(conn, config: Config) -> None:
    listed = ", ".join(f"'{stage}'" for stage in config.stages)
    conn.execute(f"CREATE OR REPLACE TEMP MACRO stage_order(s) AS list_position([{listed}], s)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The world synced once, derived and ingested, every mart built."""
    config = lever_config()
    landing = write_world(tmp_path_factory.mktemp("world") / "landing" / "lever", world())
    conn = warehouse(config)
    stage_order_macro(conn, config)
    result = ingest_source(conn, landing, "lever", config, "b1")
    build_all(conn, config)
    yield conn, result
    conn.close()


def journey(conn, app: str) -> dict:
    from funnel.keys import keyed_hash
    (found,) = rows(conn, "application_journeys", "application_key = ?", [keyed_hash(TEST_KEY_SECRET, app)])
    return found


# ---------------------------------------------------------------------------------------------
# How each outcome is derived


def test_stage_changes_and_a_hire_against_a_requisition(run):
    conn, _ = run
    # Every stage change is in_progress there; a change to a later stage also passes the previous one.
    # Archived as hired (a requisition_for_hire_id) at the Offer stage: passed at offer, once.
    assert records(conn, "opp-hired") == [
        ("opp-hired", "application_review", "in_progress", "03-01 09:00"),
        ("opp-hired", "application_review", "passed", "03-04 09:00"),
        ("opp-hired", "recruiter_screen", "in_progress", "03-04 09:00"),
        ("opp-hired", "recruiter_screen", "passed", "03-08 09:00"),
        ("opp-hired", "technical_screen", "in_progress", "03-08 09:00"),
        ("opp-hired", "technical_screen", "passed", "03-15 09:00"),
        ("opp-hired", "onsite", "in_progress", "03-15 09:00"),
        ("opp-hired", "onsite", "passed", "03-22 09:00"),
        ("opp-hired", "hiring_committee", "in_progress", "03-22 09:00"),
        ("opp-hired", "hiring_committee", "passed", "03-26 09:00"),
        ("opp-hired", "team_matching", "in_progress", "03-26 09:00"),
        ("opp-hired", "team_matching", "passed", "04-10 09:00"),
        ("opp-hired", "offer", "in_progress", "04-10 09:00"),
        ("opp-hired", "offer", "passed", "04-20 09:00"),
    ]
    found = journey(conn, "opp-hired")
    assert (found["role"], found["final_stage"], found["final_status"]) == ("ml_engineer", "offer", "hired")
    # The event carries the posting's team and level and the opportunity's first source.
    assert conn.execute("SELECT DISTINCT candidate_id, team, level, source FROM stage_outcome_records"
                        " WHERE application_id = 'opp-hired'").fetchall() == [("c-1", "ML Platform", "Senior", "Referral")]
    assert conn.execute("SELECT record_id FROM stage_outcome_records WHERE application_id = 'opp-hired'"
                        " AND stage = 'offer' ORDER BY occurred_at").fetchall() == [
        ("lever:opportunity_stage_history:opp-hired:2024-04-10T09:00:00.000000Z:offer:in_progress",),
        ("lever:opportunity:opp-hired:2024-04-20T09:00:00.000000Z:archived",)]


def test_a_hire_archived_before_the_offer_stage_passes_the_offer_too(tmp_path):
    tables = world()
    # Archived "Hired" (no requisition) while still in Team Matching: passed there and at offer.
    tables["opportunity"][0].update(stage_id="st-tm", archived_at=at("04-02 09:00"))
    tables["opportunity_stage_history"] = [h for h in tables["opportunity_stage_history"]
                                           if not (h["opportunity_id"] == "opp-hired" and h["stage_id"] == "offer")]
    tables["application"][0]["requisition_for_hire_id"] = None
    config = lever_config()
    conn = warehouse(config)
    stage_order_macro(conn, config)
    ingest_source(conn, write_world(tmp_path / "lever", tables), "lever", config, "b1")
    assert records(conn, "opp-hired")[-3:] == [
        ("opp-hired", "team_matching", "in_progress", "03-26 09:00"),
        ("opp-hired", "team_matching", "passed", "04-02 09:00"),
        ("opp-hired", "offer", "passed", "04-02 09:00"),
    ]


def test_rejection_withdrawal_and_an_unmapped_reason(run):
    conn, _ = run
    # Underqualified (mapped: failed) at the recruiter screen; Withdrew (mapped: withdrew) at the
    # technical screen; Timing (not mapped) is failed.
    assert records(conn, "opp-rejected")[-1] == ("opp-rejected", "recruiter_screen", "failed", "03-09 09:00")
    assert records(conn, "opp-withdrew")[-1] == ("opp-withdrew", "technical_screen", "withdrew", "03-12 09:00")
    assert records(conn, "opp-merged") == [("opp-merged", "application_review", "in_progress", "03-05 09:00"),
                                           ("opp-merged", "application_review", "failed", "03-07 09:00")]
    # ml_engineer: opp-hired, opp-rejected, opp-skip (jumped over the screens), opp-ref.
    assert mart(conn, "stage_pass_rates", "entered, passed, failed, withdrew, in_progress, skipped, pass_rate",
                "role = 'ml_engineer' AND stage = 'recruiter_screen'") == [(3, 2, 1, 0, 0, 1, pytest.approx(2 / 3))]
    # software_engineer: opp-withdrew, opp-declined, opp-sourced (still in the recruiter screen).
    assert mart(conn, "stage_pass_rates", "entered, passed, failed, withdrew, in_progress, pass_rate",
                "role = 'software_engineer' AND stage = 'technical_screen'") == [(2, 1, 0, 1, 0, 1.0)]
    assert mart(conn, "stage_pass_rates", "entered, passed, in_progress",
                "role = 'software_engineer' AND stage = 'recruiter_screen'") == [(3, 2, 1)]
    assert [journey(conn, a)["final_status"] for a in ("opp-rejected", "opp-withdrew", "opp-merged")] == [
        "rejected", "withdrew", "rejected"]


def test_an_offer_declined(run):
    conn, _ = run
    assert records(conn, "opp-declined")[-3:] == [
        ("opp-declined", "team_matching", "passed", "04-01 10:00"),
        ("opp-declined", "offer", "in_progress", "04-01 10:00"),
        ("opp-declined", "offer", "withdrew", "04-05 09:00"),
    ]
    assert mart(conn, "stage_pass_rates", "entered, passed, failed, withdrew, pass_rate",
                "role = 'software_engineer' AND stage = 'offer'") == [(1, 0, 0, 1, None)]
    # Team matching: opp-declined matched 10 days after its committee pass (03-22 -> 04-01); for ml_engineer
    # opp-hired matched after 15 days and accepted; opp-ref is still in the committee (not cleared).
    assert mart(conn, "team_matching_dropoff", "role, cleared, matched, offer_extended, offer_accepted, median_days_to_match",
                "true ORDER BY role") == [("ml_engineer", 1, 1, 1, 1, 15.0), ("software_engineer", 1, 1, 1, 0, 10.0)]


def test_a_skipped_stage_is_implied_by_the_jump(run):
    conn, _ = run
    # New applicant -> On-site: application_review passed at the jump; both screens skipped (implied).
    assert records(conn, "opp-skip") == [("opp-skip", "application_review", "in_progress", "03-03 09:00"),
                                         ("opp-skip", "application_review", "passed", "03-10 09:00"),
                                         ("opp-skip", "onsite", "in_progress", "03-10 09:00")]
    assert mart(conn, "skipped_stages", "stage, skipped_explicit, skipped_implied, fast_tracked",
                "role = 'ml_engineer' AND stage IN ('recruiter_screen', 'technical_screen') ORDER BY stage_order") == [
        ("recruiter_screen", 0, 1, 1), ("technical_screen", 0, 1, 1)]
    found = journey(conn, "opp-skip")
    assert (found["skipped_implied_stages"], found["fast_tracked"]) == (["recruiter_screen", "technical_screen"], True)


def test_a_move_backward(run):
    conn, _ = run
    # Technical Screen (index 4) back to Recruiter Screen (index 3): only the in_progress; nothing passed.
    assert records(conn, "opp-back")[-3:] == [("opp-back", "recruiter_screen", "passed", "03-06 09:00"),
                                              ("opp-back", "technical_screen", "in_progress", "03-06 09:00"),
                                              ("opp-back", "recruiter_screen", "in_progress", "03-08 09:00")]
    assert journey(conn, "opp-back")["moved_backward"] is True
    # The latest record at the recruiter screen is the in_progress of 03-08: entered, not passed.
    assert mart(conn, "stage_pass_rates", "stage, entered, passed, in_progress",
                "role = 'data_scientist' AND stage IN ('recruiter_screen', 'technical_screen') ORDER BY stage_order") == [
        ("recruiter_screen", 1, 0, 1), ("technical_screen", 1, 0, 1)]


def test_a_merged_candidate_is_one_candidate_with_two_applications(run):
    conn, _ = run
    # Lever moves a merged duplicate's opportunities onto the surviving contact: both carry c-1.
    assert conn.execute("SELECT DISTINCT application_id, role FROM stage_outcome_records WHERE candidate_id = 'c-1'"
                        " ORDER BY 1").fetchall() == [("opp-hired", "ml_engineer"), ("opp-merged", "data_scientist")]


def test_leads_deleted_rows_and_canceled_interviews_are_excluded_by_rule(run):
    conn, result = run
    # opp-lead: its opportunity, two lead-stage changes, application and source (5 rows). opp-sourced: its
    # New lead change. opp-deleted: opportunity, two changes, application (4) and the deleted form f-4.
    assert result.excluded == {"canceled interview": 2, "deleted": 5, "feedback without interview": 1, "lead": 5,
                               "lead stage": 1, "unsubmitted feedback": 1}
    assert records(conn, "opp-lead") == [] and records(conn, "opp-deleted") == []
    assert records(conn, "opp-sourced") == [("opp-sourced", "application_review", "in_progress", "03-01 09:00"),
                                            ("opp-sourced", "application_review", "passed", "03-04 09:00"),
                                            ("opp-sourced", "recruiter_screen", "in_progress", "03-04 09:00")]
    # Notes: opportunities derived, archived and hired (opp-lead's archive is excluded with it).
    assert result.notes == {"opportunities": 9, "archived": 5, "hired": 1}


def test_interviews_from_feedback_forms(run):
    conn, _ = run
    assert conn.execute("SELECT record_id, application_id, stage, interviewer_id, skill, recommendation,"
                        " strftime(occurred_at, '%m-%d %H:%M') FROM interview_records ORDER BY record_id").fetchall() == [
        ("lever:feedback_form:f-1", "opp-hired", "onsite", "u-1", "coding", "strong_yes", "03-18 10:00"),
        ("lever:feedback_form:f-2", "opp-hired", "onsite", "u-2", "ml_system_design", "yes", "03-18 10:00"),
        ("lever:feedback_form:f-3", "opp-hired", "onsite", "u-3", "behavioral", "no", "03-18 10:00"),
        # No creator: the interview's only interviewer; no score: no_decision; at the interview's stage.
        ("lever:feedback_form:f-6", "opp-withdrew", "technical_screen", "u-5", "coding", "no_decision", "03-11 15:00"),
    ]
    (quarantined,) = rows(conn, "quarantined_rows", "feed = 'interviews'")
    assert (quarantined["source_file"], quarantined["source_line"], quarantined["reason"]) == (
        "lever/feedback_form.csv", 6, "unknown_skill")
    assert quarantined["detail"].endswith(
        '(Lever feedback form "Culture Add", interview stage "On-site", posting "Machine Learning Engineer"'
        ' (posting_id p-ml))')


def test_landing_files_count_every_row_once(run):
    conn, _ = run
    assert files(conn) == {
        # path: (read, accepted, duplicate, quarantined, excluded)
        "application.csv": (11, 9, 0, 0, 2),
        "archive_reason.csv": (5, 5, 0, 0, 0),
        "feedback_form.csv": (8, 4, 0, 1, 3),
        "interview.csv": (3, 2, 0, 0, 1),
        "interview_user.csv": (5, 4, 0, 0, 1),
        "opportunity.csv": (11, 9, 0, 0, 2),
        "opportunity_source.csv": (4, 3, 0, 0, 1),
        # opp-ref's changes into and out of the unmapped Reference Check are quarantined (one event each).
        "opportunity_stage_history.csv": (39, 32, 0, 2, 5),
        "posting.csv": (3, 3, 0, 0, 0),
        "stage.csv": (11, 11, 0, 0, 0),
    }
    for read, accepted, duplicate, quarantined, excluded in files(conn).values():
        assert read == accepted + duplicate + quarantined + excluded


# ---------------------------------------------------------------------------------------------
# Mapping changes, resyncs, connectors rewriting rows


def test_an_unmapped_stage_is_quarantined_then_accepted_once_mapped(tmp_path):
    landing = write_world(tmp_path / "lever", world())
    config = lever_config()
    conn = warehouse(config)
    stage_order_macro(conn, config)
    first = ingest_source(conn, landing, "lever", config, "b1")
    assert first.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 2}
    details = [r["detail"] for r in rows(conn, "quarantined_rows", "feed = 'stage_outcomes' ORDER BY source_line")]
    assert all(d.startswith("stage 'reference check' is not one of") and
               d.endswith('(Lever stage "Reference Check", posting "Machine Learning Engineer" (posting_id p-ml))')
               for d in details)
    # The change into Reference Check still passes the On-site.
    assert records(conn, "opp-ref")[-2:] == [("opp-ref", "onsite", "passed", "03-18 09:00"),
                                             ("opp-ref", "hiring_committee", "in_progress", "03-22 09:00")]

    # Reference Check is a step of the hiring committee: a run after the mapping changed derives again.
    mapped = lever_config(stages={**LEVER_BLOCK["stages"], "Reference Check": "hiring_committee"})
    write_config_tables(conn, mapped)
    second = ingest_source(conn, landing, "lever", mapped, "b2")
    assert second.status == "derived"
    assert records(conn, "opp-ref")[-3:] == [("opp-ref", "onsite", "passed", "03-18 09:00"),
                                             ("opp-ref", "hiring_committee", "in_progress", "03-18 09:00"),
                                             ("opp-ref", "hiring_committee", "in_progress", "03-22 09:00")]
    # Accepted once: the batch added exactly that event, everything else was held already; the change
    # from Reference Check to Hiring Committee (one catalog stage) decides nothing.
    assert conn.execute("SELECT count(*) FROM stage_outcome_records WHERE batch_id = 'b2'").fetchall() == [(1,)]
    assert files(conn)["opportunity_stage_history.csv"] == (39, 34, 0, 0, 5)
    build_all(conn, mapped)
    assert mart(conn, "stage_pass_rates", "entered, passed, in_progress",
                "role = 'ml_engineer' AND stage = 'hiring_committee'") == [(2, 1, 1)]
    # The quarantine keeps what happened; nothing is quarantined again.
    assert conn.execute("SELECT count(*) FROM quarantined_rows WHERE feed = 'stage_outcomes'").fetchall() == [(2,)]
    assert ingest_source(conn, landing, "lever", mapped, "b3").status == "unchanged"


def test_a_resync_of_the_same_tables_adds_nothing(tmp_path):
    tables = world()
    landing = write_world(tmp_path / "lever", tables)
    config = lever_config()
    conn = warehouse(config)
    stage_order_macro(conn, config)
    assert ingest_source(conn, landing, "lever", config, "b1").status == "derived"
    held = conn.execute("SELECT count(*) FROM stage_outcome_records").fetchall()
    # The same files again; then the same bytes written anew (new modification times).
    assert ingest_source(conn, landing, "lever", config, "b2").status == "unchanged"
    for path in landing.iterdir():
        path.write_bytes(path.read_bytes())
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert ingest_source(conn, landing, "lever", config, "b3").status == "unchanged"
    # The history re-exported with a row repeated (an overlapping page): derived again, nothing added.
    write_table(landing, "opportunity_stage_history", tables["opportunity_stage_history"]
                + [tables["opportunity_stage_history"][2]])
    result = ingest_source(conn, landing, "lever", config, "b4")
    assert result.status == "derived"
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchall() == held
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchall() == [(3,)]
    assert files(conn)["opportunity_stage_history.csv"] == (40, 32, 1, 2, 5)


def test_a_table_as_a_folder_of_parts_in_other_formats_gives_the_same_events(tmp_path):
    tables = world()
    history = tables.pop("opportunity_stage_history")
    single = write_world(tmp_path / "single" / "lever", {**tables, "opportunity_stage_history": history})
    parts = write_world(tmp_path / "parts" / "lever", tables)
    folder = parts / "opportunity_stage_history"
    write_table(folder, "opportunity_stage_history", history[:15], "part-0001.csv")
    # Parquet with typed timestamps, overlapping the first part by one row.
    frame = pl.DataFrame(history[14:30]).with_columns(
        pl.col("updated_at").str.strptime(pl.Datetime("ms"), "%Y-%m-%d %H:%M:%S%.3f"),
        pl.col("to_stage_index").cast(pl.Int64))
    frame.write_parquet(folder / "part-0002.parquet")
    # JSON Lines with the Lever API's epoch milliseconds.
    epoch = [{**h, "updated_at": int(datetime.fromisoformat(h["updated_at"] + "+00:00").timestamp() * 1000)}
             for h in history[30:]]
    pl.DataFrame(epoch).write_ndjson(folder / "part-0003.jsonl")
    config = lever_config()
    conn = warehouse(config)
    ingest_source(conn, single, "lever", config, "b1")
    held = conn.execute("SELECT record_id, content_hash FROM stage_outcome_records ORDER BY 1").fetchall()
    # Derived from scratch, the parts give what the single file gave: the same ids and contents.
    fresh = warehouse(config)
    result = ingest_source(fresh, parts, "lever", config, "b1")
    assert fresh.execute("SELECT record_id, content_hash FROM stage_outcome_records ORDER BY 1").fetchall() == held
    history_files = {k: v for k, v in files(fresh).items() if k.startswith("opportunity_stage_history/")}
    assert history_files == {
        "opportunity_stage_history/part-0001.csv": (15, 15, 0, 0, 0),
        # its first row repeats part 1's last; opp-lead's two changes and opp-sourced's New lead
        "opportunity_stage_history/part-0002.parquet": (16, 12, 1, 0, 3),
        # opp-ref's two changes around Reference Check; opp-deleted's two
        "opportunity_stage_history/part-0003.jsonl": (9, 5, 0, 2, 2),
    }
    assert result.excluded["lead"] == 5
    # As a resync of the single file (the connector's export changed format): nothing new.
    ingest_source(conn, parts, "lever", config, "b2")
    assert conn.execute("SELECT record_id, content_hash FROM stage_outcome_records ORDER BY 1").fetchall() == held
    assert [v[2] for k, v in files(conn).items() if k.startswith("opportunity_stage_history/")] == [15, 13, 5]


def test_a_reopened_application(tmp_path):
    config = lever_config()
    conn = warehouse(config)
    stage_order_macro(conn, config)
    tables = world()
    # Sync 1: opp-rejected archived (Underqualified) at the recruiter screen on 03-09.
    ingest_source(conn, write_world(tmp_path / "1" / "lever", tables), "lever", config, "b1")
    # Sync 2: unarchived (the connector rewrites the row) and moved on to the technical screen on 03-12,
    # then archived again on 03-20, withdrawn.
    tables["opportunity"][1].update(stage_id="st-ts", archived_at=at("03-20 09:00"), archived_reason_id="r-withdrew")
    tables["opportunity_stage_history"].append(moves("opp-rejected", ("st-ts", at("03-12 09:00")))[0])
    ingest_source(conn, write_world(tmp_path / "2" / "lever", tables), "lever", config, "b2")
    assert records(conn, "opp-rejected") == [
        ("opp-rejected", "application_review", "in_progress", "03-01 09:00"),
        ("opp-rejected", "application_review", "passed", "03-05 09:00"),
        ("opp-rejected", "recruiter_screen", "in_progress", "03-05 09:00"),
        ("opp-rejected", "recruiter_screen", "failed", "03-09 09:00"),
        ("opp-rejected", "recruiter_screen", "passed", "03-12 09:00"),
        ("opp-rejected", "technical_screen", "in_progress", "03-12 09:00"),
        ("opp-rejected", "technical_screen", "withdrew", "03-20 09:00"),
    ]
    build_all(conn, config)
    # The latest record at the recruiter screen is the pass: opp-hired and opp-ref passed it too.
    assert mart(conn, "stage_pass_rates", "entered, passed, failed",
                "role = 'ml_engineer' AND stage = 'recruiter_screen'") == [(3, 3, 0)]
    assert journey(conn, "opp-rejected")["final_status"] == "withdrew"


def test_a_connector_rewriting_a_row_in_place(tmp_path):
    config = lever_config()
    conn = warehouse(config)
    stage_order_macro(conn, config)
    tables = world()
    ingest_source(conn, write_world(tmp_path / "1" / "lever", tables), "lever", config, "b1")
    # The candidate of opp-rejected merged into another contact after the first sync: every event of
    # the opportunity is derived again with another candidate_id under the same id.
    tables["opportunity"][1]["contact"] = "c-2-merged"
    result = ingest_source(conn, write_world(tmp_path / "2" / "lever", tables), "lever", config, "b2")
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"conflicting_duplicate": 4}
    # The records keep the first version; the conflicts are in the quarantine, naming the held record.
    assert conn.execute("SELECT DISTINCT candidate_id FROM stage_outcome_records WHERE application_id = 'opp-rejected'"
                        ).fetchall() == [("c-2",)]
    assert conn.execute("SELECT count(*) FROM quarantined_rows WHERE reason = 'conflicting_duplicate'"
                        " AND detail LIKE '%was already ingested with different content%'").fetchall() == [(4,)]
    # `funnel run --full-refresh` derives from the current tables into a new working database.
    fresh = warehouse(config)
    ingest_source(fresh, tmp_path / "2" / "lever", "lever", config, "b1")
    assert fresh.execute("SELECT DISTINCT candidate_id FROM stage_outcome_records WHERE application_id = 'opp-rejected'"
                         ).fetchall() == [("c-2-merged",)]


# ---------------------------------------------------------------------------------------------
# The mapping, the tables a derivation needs, the inventory


def test_a_posting_id_wins_over_a_posting_name(tmp_path):
    tables = world()
    # A second "Machine Learning Engineer" posting, mapped by its id to software_engineer.
    tables["posting"].append({"id": "p-ml-2", "text": "Machine Learning Engineer", "state": "published"})
    tables["application"][1]["posting_id"] = "p-ml-2"  # opp-rejected
    config = lever_config(roles={**LEVER_BLOCK["roles"], "p-ml-2": "software_engineer"})
    conn = warehouse(config)
    ingest_source(conn, write_world(tmp_path / "lever", tables), "lever", config, "b1")
    assert conn.execute("SELECT DISTINCT application_id, role FROM stage_outcome_records WHERE application_id IN"
                        " ('opp-hired', 'opp-rejected') ORDER BY 1").fetchall() == [
        ("opp-hired", "ml_engineer"), ("opp-rejected", "software_engineer")]


def test_an_unmapped_posting_is_quarantined_as_unknown_role(tmp_path):
    config = lever_config(roles={"p-swe": "software_engineer", "Data Scientist": "data_scientist"})
    conn = warehouse(config)
    result = ingest_source(conn, write_world(tmp_path / "lever", world()), "lever", config, "b1")
    # opp-hired 14 events, opp-rejected 4, opp-skip 3, opp-ref 9 (two of them also an unknown stage: unknown_role first).
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_role": 32}
    detail = conn.execute("SELECT detail FROM quarantined_rows WHERE source_line = 2 AND source_file LIKE '%history%'"
                          ).fetchall()[0][0]
    assert detail == ("role 'machine learning engineer' is not one of: ml_engineer, software_engineer, research_scientist,"
                      " data_scientist (Lever stage \"New applicant\", posting \"Machine Learning Engineer\""
                      " (posting_id p-ml))")


def test_a_missing_table_derives_nothing_and_says_why(tmp_path):
    tables = world()
    del tables["archive_reason"]
    config = lever_config()
    conn = warehouse(config)
    result = ingest_source(conn, write_world(tmp_path / "lever", tables), "lever", config, "b1")
    assert (result.status, result.problem) == ("incomplete", "no archive_reason table")
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchall() == [(0,)]


def test_inventory_lists_postings_stages_forms_and_reasons(tmp_path):
    from funnel.sources.tables import discover_tables, load_tables

    conn = warehouse(lever_config())
    load_tables(conn, discover_tables(write_world(tmp_path / "lever", world())), None)
    found = lever.inventory(conn, lever_config().sources["lever"])
    assert [i for i in found if i["kind"] == "job"] == [
        {"kind": "job", "job_id": "p-ds", "job_name": "Data Scientist", "applications": 2},
        {"kind": "job", "job_id": "p-ml", "job_name": "Machine Learning Engineer", "applications": 4},
        {"kind": "job", "job_id": "p-swe", "job_name": "Software Engineer", "applications": 3},
    ]
    # Per posting, in Lever's pipeline order, with the opportunities that reached each stage (no leads).
    assert [(i["job_id"], i["name"], i["applications"]) for i in found if i["kind"] == "stage" and i["job_id"] == "p-ml"] == [
        ("p-ml", "New applicant", 4), ("p-ml", "Recruiter Screen", 3), ("p-ml", "Technical Screen", 2),
        ("p-ml", "On-site", 3), ("p-ml", "Reference Check", 1), ("p-ml", "Hiring Committee", 2),
        ("p-ml", "Team Matching", 1), ("p-ml", "Offer", 1)]
    assert [(i["name"], i["interviews"]) for i in found if i["kind"] == "interview"] == [
        ("Behavioral", 1), ("Coding", 2), ("Culture Add", 1), ("ML System Design", 1)]
    assert [(i["name"], i["applications"]) for i in found if i["kind"] == "reason"] == [
        ("Hired", 1), ("Offer Declined", 1), ("Timing", 1), ("Underqualified", 1), ("Withdrew", 1)]


# ---------------------------------------------------------------------------------------------
# The sample folder


def test_the_sample_has_only_the_problems_it_is_built_to_have(tmp_path):
    sample = REPO / "data" / "samples" / "lever"
    landing = tmp_path / "landing" / "lever"
    shutil.copytree(sample, landing)  # sources.yaml included: it is not a table
    data = yaml.safe_load(DEFAULT_YAML.read_text())
    data.update(yaml.safe_load((sample / "sources.yaml").read_text()))
    config = parse_config(data, "sources.yaml")
    conn = warehouse(config)
    result = ingest_source(conn, landing, "lever", config, "b1")
    # Problems: the Reference Check stage (the changes into and out of it) and the Culture Add form.
    assert [(r["source_file"], r["source_line"], r["reason"]) for r in
            rows(conn, "quarantined_rows", "true ORDER BY source_file, source_line")] == [
        ("lever/feedback_form.csv", 5, "unknown_skill"),
        ("lever/opportunity_stage_history/part-0002.csv", 15, "unknown_stage"),
        ("lever/opportunity_stage_history/part-0002.csv", 16, "unknown_stage"),
    ]
    assert result.excluded == {"canceled interview": 2, "deleted": 1, "lead": 4, "lead stage": 2}
    assert files(conn)["opportunity_stage_history/part-0002.csv"] == (21, 14, 1, 2, 4)
    build_all(conn, config)
    # Eleven opportunities, one a lead: ten applications, one hired, one declining the offer.
    assert conn.execute("SELECT count(*), count(*) FILTER (WHERE final_status = 'hired'),"
                        " count(*) FILTER (WHERE final_status = 'withdrew') FROM application_journeys").fetchall() == [
        (10, 1, 2)]
    assert mart(conn, "stage_pass_rates", "entered, passed, withdrew", "role = 'software_engineer' AND stage = 'offer'"
                ) == [(1, 0, 1)]


# ---------------------------------------------------------------------------------------------
# The generator's shape: the same funnel as contract files and as Lever's tables


def _clean_frames(landing: Path, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accepted records of a generated contract landing folder, as contract text columns."""
    conn = connect(":memory:")
    create_schema(conn)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(conn, landing / feed.name, feed, config, "clean")
    text = "%Y-%m-%dT%H:%M:%S.%fZ"
    events = conn.sql(
        "SELECT record_id AS event_id, application_id, candidate_id, role, stage, outcome,"
        f" strftime(occurred_at, '{text}') AS occurred_at, team, source, level,"
        " CAST(requires_travel AS VARCHAR) AS requires_travel FROM stage_outcome_records"
        " ORDER BY source_file, source_line").pl()
    interviews = conn.sql(
        "SELECT record_id AS interview_id, application_id, stage, interviewer_id, skill, recommendation,"
        f" strftime(occurred_at, '{text}') AS occurred_at FROM interview_records ORDER BY source_file, source_line").pl()
    conn.close()
    return events, interviews


COMPARED_MARTS = ("stage_pass_rates", "skipped_stages", "team_matching_dropoff")


def test_the_synthetic_funnel_as_lever_tables_publishes_what_the_contract_files_do(tmp_path):
    from funnel.config import default_config
    from funnel.generate import generate

    base = default_config()
    generate(tmp_path / "generated", 150, 11, base)
    # The clean funnel (the generator's dirty rows quarantined, its re-exports dropped).
    events, interviews = _clean_frames(tmp_path / "generated", base)

    block = lever_shape.write_tables(tmp_path / "lever" / "lever", events, interviews, base)
    data = yaml.safe_load(DEFAULT_YAML.read_text())
    data["sources"] = {"lever": block}
    config = parse_config(data, "generated")
    assert "Reference Check" not in block["stages"]

    # The same funnel as contract files, as far as Lever expresses it (lever_shape.expressible).
    shown_events, shown_interviews = lever_shape.expressible(events, interviews, base)
    contract = tmp_path / "contract"
    (contract / "stage_outcomes").mkdir(parents=True)
    (contract / "interviews").mkdir(parents=True)
    shown_events.write_csv(contract / "stage_outcomes" / "funnel.csv")
    shown_interviews.drop("ord").write_csv(contract / "interviews" / "funnel.csv")

    as_contract, as_lever = warehouse(config), warehouse(config)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        result = ingest_feed(as_contract, contract / feed.name, feed, config, "b1")
        assert result.total("rows_quarantined") == 0
    lever_result = ingest_source(as_lever, tmp_path / "lever" / "lever", "lever", config, "b1")
    build_all(as_contract, config)
    build_all(as_lever, config)
    for name in COMPARED_MARTS:
        expected = as_contract.sql(f"SELECT * FROM {name}").pl()
        assert expected.height > 0
        assert as_lever.sql(f"SELECT * FROM {name}").pl().equals(expected), name
    # The same interviews too.
    query = ("SELECT application_id, stage, interviewer_id, skill, recommendation, occurred_at"
             " FROM interview_records ORDER BY ALL")
    assert as_lever.execute(query).fetchall() == as_contract.execute(query).fetchall()

    # Lever's own dirt went where it belongs: leads and deleted rows excluded, the unmapped stage and posting
    # quarantined, the overlapping re-export of the history dropped as duplicates.
    assert set(lever_result.excluded) == {"canceled interview", "deleted", "lead", "lead stage"}
    assert set(lever_result.feeds["stage_outcomes"].quarantined_by_reason) == {"unknown_role", "unknown_stage"}
    assert lever_result.total("duplicate") > 0

    # What `expressible` changes is timing and entering, never a decision: per role and stage the
    # passed, failed and withdrew counts are those of the generated funnel itself.
    original = warehouse(config)
    (tmp_path / "original" / "stage_outcomes").mkdir(parents=True)
    events.write_csv(tmp_path / "original" / "stage_outcomes" / "funnel.csv")
    ingest_feed(original, tmp_path / "original" / "stage_outcomes", STAGE_OUTCOMES, config, "b1")
    build_all(original, config, only=["stg_stage_outcomes", "int_latest_stage_records", "int_application_attributes",
                                      "int_application_stages", "int_stage_durations", "stage_pass_rates"])
    decisions = "SELECT role, stage, passed, failed, withdrew FROM stage_pass_rates ORDER BY ALL"
    assert original.execute(decisions).fetchall() == as_lever.execute(decisions).fetchall()


def test_an_unmapped_name_that_reads_as_a_configured_key_is_still_unmapped(tmp_path):
    # "Coding" would lower-case to the skill coding and "Offer" to the stage offer: without a mapping
    # they are Lever's names, not funnel's keys.
    stages = {k: v for k, v in LEVER_BLOCK["stages"].items() if k != "Offer"}
    config = lever_config(stages=stages, skills={"Behavioral": "behavioral", "ML System Design": "ml_system_design"})
    conn = warehouse(config)
    result = ingest_source(conn, write_world(tmp_path / "lever", world()), "lever", config, "b1")
    # At Offer: opp-hired's change in and its hire, opp-declined's change in and its decline (their
    # changes out of Team Matching still pass it); opp-ref's two around Reference Check, as always.
    # Coding: f-1 and f-6; Culture Add: f-5.
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 6}
    assert result.feeds["interviews"].quarantined_by_reason == {"unknown_skill": 3}
    assert conn.execute("SELECT DISTINCT split_part(detail, ' is not', 1) FROM quarantined_rows ORDER BY 1").fetchall() == [
        ("skill 'coding (unmapped)'",), ("skill 'culture add'",), ("stage 'offer (unmapped)'",),
        ("stage 'reference check'",)]
