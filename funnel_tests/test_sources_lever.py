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

from funnel.assets.marts import build_all
from funnel.config import Config, parse_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.ingest import ingest_feed
from funnel.keys import install_key
from funnel.sources.runner import ingest_source
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.marts_fixtures import TEST_KEY_SECRET, rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YAML = REPO / "funnel" / "default_config.yaml"

# Fivetran's Lever layouts (fivetran/dbt_lever_source: macros/get_<table>_columns.sql, integration_tests/seeds).
COLUMNS = {
    "opportunity": ["id", "_fivetran_synced", "archived_at", "archived_reason_id", "contact", "created_at",
                    "data_protection_contact_allowed", "data_protection_contact_expires_at",
                    "data_protection_store_allowed", "data_protection_store_expires_at", "headline", "is_anonymized",
                    "last_advanced_at", "last_interaction_at", "location", "name", "origin", "owner_id",
                    "snoozed_until", "stage_id", "updated_at"],
    "opportunity_stage_history": ["opportunity_id", "updated_at", "_fivetran_synced", "stage_id", "to_stage_index",
                                  "updater_id"],
    "stage": ["id", "_fivetran_deleted", "_fivetran_synced", "text"],
    "application": ["id", "_fivetran_synced", "archived_at", "archived_reason_id", "candidate_id", "comments",
                    "company", "created_at", "posting_hiring_manager_id", "posting_id", "posting_owner_id",
                    "referrer_id", "requisition_for_hire_id", "type", "opportunity_id"],
    "posting": ["id", "_fivetran_deleted", "_fivetran_synced", "categories_commitment", "categories_department",
                "categories_level", "categories_location", "categories_team", "content_closing",
                "content_closing_html", "content_description", "content_description_html", "created_at",
                "creator_id", "owner_id", "requisition_code", "state", "text", "updated_at"],
    "archive_reason": ["id", "_fivetran_deleted", "_fivetran_synced", "text"],
    "opportunity_source": ["opportunity_id", "source", "_fivetran_synced"],
    "interview": ["id", "_fivetran_synced", "canceled_at", "candidate_id", "created_at", "creator_id", "date",
                  "duration", "feedback_reminder", "gcal_event_url", "location", "note", "panel_id", "stage_id",
                  "subject", "timezone", "opportunity_id"],
    "interview_user": ["interview_id", "user_id", "_fivetran_synced"],
    "interviewer_user": ["interview_id", "user_id", "_fivetran_synced"],
    "feedback_form": ["id", "_fivetran_synced", "candidate_id", "completed_at", "created_at", "creator_id",
                      "deleted_at", "instructions", "interview_id", "score_system_value", "template_id", "text", "type",
                      "opportunity_id"],
}
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
    conn.execute("SET threads = 1")
    create_schema(conn)
    write_config_tables(conn, config)
    install_key(conn, TEST_KEY_SECRET)
    return conn


@pytest.fixture
def landing(tmp_path) -> Path:
    return write_world(tmp_path / "landing" / "lever", world())


def events(conn) -> list[tuple]:
    return conn.execute(
        "SELECT application_id, stage, outcome, strftime(occurred_at, '%m-%d %H:%M') FROM stage_outcome_records"
        " ORDER BY application_id, occurred_at, stage").fetchall()


def test_smoke(landing):
    config = lever_config()
    conn = warehouse(config)
    result = ingest_source(conn, landing, "lever", config, "b1")
    print(result)
    for e in events(conn):
        print(e)
    for q in rows(conn, "quarantined_rows"):
        print(q["source_file"], q["source_line"], q["reason"], q["detail"])
    for r in rows(conn, "landing_files"):
        print(r["path"], r["rows_read"], r["rows_accepted"], r["rows_duplicate"], r["rows_quarantined"], r["rows_excluded"])
    print(conn.execute("SELECT * FROM interview_records").fetchall())
