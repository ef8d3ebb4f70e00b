"""Ashby's tables (as Airbyte's connector lands them) read into stage events and interviews: every
derivation rule, exclusions, re-syncs and mapping changes, the landing_files accounting, the sample
folder, and the synthetic funnel in Ashby's shape against the same funnel as contract files.

Expected numbers are worked out by hand from the tables each test writes (times: March 2025, 09:00 UTC
unless said otherwise)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from funnel import keys, warehouse
from funnel.build import build_all
from funnel.config import Config, parse_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.generate import generate
from funnel.ingest import ingest_feed
from funnel.sources import ashby
from funnel.sources.ashby_shape import expressible, write_tables
from funnel.sources.runner import derive, drop_work_tables, ingest_source
from funnel_tests.marts_fixtures import one, rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "funnel" / "default_config.yaml").read_text(encoding="utf-8"))

STAGE_MAP = {
    "Application Review": "application_review",
    "Recruiter Screen": "recruiter_screen",
    "Technical Interview": "technical_screen",
    "Onsite": "onsite",
    "Hiring Committee": "hiring_committee",
    "Team Matching": "team_matching",
    "Offer": "offer",
}
BLOCK = {
    "roles": {"job-ml": "ml_engineer", "Data Scientist": "data_scientist"},
    "stages": STAGE_MAP,
    "archive_reasons": {"Took another offer": "withdrew"},
    "skills": {"Coding Interview": "coding", "System Design": "ml_system_design", "Behavioral": "behavioral"},
}
# One interview plan: (id, title, type, order).
STAGES = [
    ("st-lead", "New Lead", "Lead", 0),
    ("st-review", "Application Review", "PreInterviewScreen", 1),
    ("st-screen", "Recruiter Screen", "Active", 2),
    ("st-tech", "Technical Interview", "Active", 3),
    ("st-onsite", "Onsite", "Active", 4),
    ("st-hc", "Hiring Committee", "Active", 5),
    ("st-tm", "Team Matching", "Active", 6),
    ("st-ref", "Reference Check", "Active", 7),
    ("st-offer", "Offer", "Offer", 8),
    ("st-hired", "Hired", "Hired", 9),
    ("st-archived", "Archived", "Archived", 10),
]
STAGE_ID = {title: sid for sid, title, _, _ in STAGES}
REASONS = {
    "r-org": ("Not a fit", "RejectedByOrg"),
    "r-cand": ("Candidate withdrew", "RejectedByCandidate"),
    "r-decl": ("Offer declined", "RejectedByCandidate"),
    "r-other": ("Took another offer", "Other"),
    "r-filled": ("Position filled", "Other"),
}
ML = {"id": "job-ml", "title": "ML Engineer"}
DS = {"id": "job-ds", "title": "Data Scientist"}


def day(d: int, hour: int = 9) -> str:
    return f"2025-03-{d:02d}T{hour:02d}:00:00.000Z"


def at(d: int, hour: int = 9) -> datetime:
    return datetime(2025, 3, d, hour)


def config_with(block: dict | None = None) -> Config:
    data = dict(DEFAULT)
    data["sources"] = {"ashby": block or BLOCK}
    return parse_config(data, "test")


def application(app_id: str, status: str = "Active", job: dict = ML, candidate: str | None = None,
                reason: str | None = None, updated: int = 28, source: str = "Referral", **extra) -> dict:
    row = {
        "id": app_id, "createdAt": day(1), "updatedAt": day(updated), "status": status,
        "candidate": {"id": candidate or f"cand-{app_id}", "name": "A Candidate"},
        "job": job,
        "source": {"id": f"src-{source}", "title": source, "isArchived": False},
        "archiveReason": ({"id": reason, "text": REASONS[reason][0], "reasonType": REASONS[reason][1]}
                          if reason else None),
    }
    row.update(extra)
    return row


def history(app_id: str, walk: list[tuple], synced: int = 28) -> list[dict]:
    """walk: (stage title, entered day, left day or None[, history id])."""
    out = []
    for k, step in enumerate(walk):
        title, entered, left = step[:3]
        out.append({
            "id": step[3] if len(step) > 3 else f"{app_id}-h{k}",
            "application_id": app_id, "stageId": STAGE_ID[title], "title": title,
            "enteredStageAt": day(entered), "leftStageAt": day(left) if left is not None else None,
            "stageNumber": k, "application_updated_at": day(synced),
        })
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_landing(root: Path, applications: list[dict], hist: list[dict], feedback: list[dict] | None = None,
                  **tables: list[dict]) -> Path:
    landing = root / "landing" / "ashby"
    write_jsonl(landing / "application.jsonl", applications)
    write_jsonl(landing / "application_history.jsonl", hist)
    write_jsonl(landing / "interview_stage.jsonl", [
        {"id": sid, "title": title, "type": kind, "orderInInterviewPlan": order, "interviewPlanId": "plan-1"}
        for sid, title, kind, order in STAGES])
    write_jsonl(landing / "archive_reason.jsonl", [
        {"id": rid, "text": text, "reasonType": kind, "isArchived": False} for rid, (text, kind) in REASONS.items()])
    if feedback is not None:
        write_jsonl(landing / "application_feedback.jsonl", feedback)
    for name, records in tables.items():
        write_jsonl(landing / f"{name}.jsonl", records)
    return landing


def warehouse_for(config: Config):
    conn = warehouse.connect(":memory:")
    conn.execute("SET threads = 1")
    warehouse.create_schema(conn)
    warehouse.write_config_tables(conn, config)
    keys.install_key(conn, b"test secret")
    return conn


def records(conn, app: str | None = None) -> set[tuple]:
    """(application, stage, outcome, occurred_at) of the accepted stage events."""
    where = "WHERE application_id = ?" if app else ""
    found = conn.execute(f"SELECT application_id, stage, outcome, occurred_at FROM stage_outcome_records {where}",
                         [app] if app else []).fetchall()
    assert len(found) == len(set(found))
    return set(found)


def stage_row(conn, role: str, stage: str) -> dict:
    return one(conn, "stage_pass_rates", role=role, stage=stage)


def files(conn) -> dict[str, tuple]:
    """landing_files of the ashby feed, latest row per path: (read, accepted, duplicate, quarantined, excluded)."""
    return {path: tuple(counts) for path, *counts in conn.execute(
        "SELECT path, rows_read, rows_accepted, rows_duplicate, rows_quarantined, rows_excluded FROM landing_files"
        " WHERE feed = 'ashby' QUALIFY row_number() OVER (PARTITION BY path ORDER BY processed_at DESC) = 1"
        " ORDER BY path").fetchall()}


def assert_accounting(conn) -> None:
    for path, (read, accepted, duplicate, quarantined, excluded) in files(conn).items():
        assert read == accepted + duplicate + quarantined + excluded, path


# ---------------------------------------------------------------------------------------------
# The history rules


def funnel_tables() -> tuple[list[dict], list[dict]]:
    apps = [
        application("hired", "Hired"),
        application("skip", "Archived", reason="r-org"),
        application("withdrew", "Archived", reason="r-cand"),
        application("declined", "Archived", reason="r-decl"),
        application("reopened", "Active"),
        application("back", "Active"),
        application("other", "Archived", reason="r-other"),
        application("filled", "Archived", reason="r-filled"),
    ]
    hist = (
        history("hired", [("Application Review", 1, 2), ("Recruiter Screen", 2, 4), ("Technical Interview", 4, 6),
                          ("Onsite", 6, 9), ("Hiring Committee", 9, 10), ("Team Matching", 10, 14),
                          ("Offer", 14, 16), ("Hired", 16, None)])
        # fast-tracked from the review to the onsite, rejected there
        + history("skip", [("Application Review", 1, 3), ("Onsite", 3, 8), ("Archived", 8, None)])
        + history("withdrew", [("Application Review", 2, 3), ("Recruiter Screen", 3, 5), ("Archived", 5, None)])
        + history("declined", [("Application Review", 1, 2), ("Recruiter Screen", 2, 3), ("Technical Interview", 3, 4),
                               ("Onsite", 4, 6), ("Hiring Committee", 6, 7), ("Team Matching", 7, 9),
                               ("Offer", 9, 11), ("Archived", 11, None)])
        # rejected in the screen, reopened two days later, passed it, now in the technical interview
        + history("reopened", [("Application Review", 1, 2), ("Recruiter Screen", 2, 4), ("Archived", 4, 6),
                               ("Recruiter Screen", 6, 7), ("Technical Interview", 7, None)])
        # moved back from the technical interview to the screen
        + history("back", [("Application Review", 1, 2), ("Recruiter Screen", 2, 3), ("Technical Interview", 3, 5),
                           ("Recruiter Screen", 5, None)])
        + history("other", [("Application Review", 3, 4), ("Archived", 4, None)])
        + history("filled", [("Application Review", 3, 5), ("Archived", 5, None)])
    )
    return apps, hist


def test_history_entries_become_stage_events(tmp_path):
    config = config_with()
    landing = write_landing(tmp_path, *funnel_tables())
    conn = warehouse_for(config)
    result = ingest_source(conn, landing, "ashby", config, "b1")
    assert (result.status, result.problem) == ("derived", None)
    assert result.derived == {"stage_outcomes": 53, "interviews": 0}
    assert result.excluded == {}
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()[0] == 0
    # Hired: in_progress at each stage when entered, passed when left for a later stage; the Hired entry
    # after the offer's own entry adds nothing (the offer's pass is the hire).
    assert records(conn, "hired") == {
        ("hired", "application_review", "in_progress", at(1)), ("hired", "application_review", "passed", at(2)),
        ("hired", "recruiter_screen", "in_progress", at(2)), ("hired", "recruiter_screen", "passed", at(4)),
        ("hired", "technical_screen", "in_progress", at(4)), ("hired", "technical_screen", "passed", at(6)),
        ("hired", "onsite", "in_progress", at(6)), ("hired", "onsite", "passed", at(9)),
        ("hired", "hiring_committee", "in_progress", at(9)), ("hired", "hiring_committee", "passed", at(10)),
        ("hired", "team_matching", "in_progress", at(10)), ("hired", "team_matching", "passed", at(14)),
        ("hired", "offer", "in_progress", at(14)), ("hired", "offer", "passed", at(16)),
    }
    # A stage jumped over emits nothing; the entry before an Archived one ends by the reason's type.
    assert records(conn, "skip") == {
        ("skip", "application_review", "in_progress", at(1)), ("skip", "application_review", "passed", at(3)),
        ("skip", "onsite", "in_progress", at(3)), ("skip", "onsite", "failed", at(8)),
    }
    assert ("withdrew", "recruiter_screen", "withdrew", at(5)) in records(conn, "withdrew")
    assert {("declined", "offer", "in_progress", at(9)), ("declined", "offer", "withdrew", at(11))} <= \
        records(conn, "declined")
    # Reopened: the archival without a reason now is a rejection; the reopened entry is in_progress again.
    assert records(conn, "reopened") == {
        ("reopened", "application_review", "in_progress", at(1)), ("reopened", "application_review", "passed", at(2)),
        ("reopened", "recruiter_screen", "in_progress", at(2)), ("reopened", "recruiter_screen", "failed", at(4)),
        ("reopened", "recruiter_screen", "in_progress", at(6)), ("reopened", "recruiter_screen", "passed", at(7)),
        ("reopened", "technical_screen", "in_progress", at(7)),
    }
    # Backward: no pass for the technical interview (the next entry is an earlier stage).
    assert records(conn, "back") == {
        ("back", "application_review", "in_progress", at(1)), ("back", "application_review", "passed", at(2)),
        ("back", "recruiter_screen", "in_progress", at(2)), ("back", "recruiter_screen", "passed", at(3)),
        ("back", "technical_screen", "in_progress", at(3)), ("back", "recruiter_screen", "in_progress", at(5)),
    }
    # Reason text through archive_reasons first ("Took another offer": withdrew), else the type (Other: failed).
    assert records(conn, "other") == {("other", "application_review", "in_progress", at(3)),
                                      ("other", "application_review", "withdrew", at(4))}
    assert records(conn, "filled") == {("filled", "application_review", "in_progress", at(3)),
                                       ("filled", "application_review", "failed", at(5))}
    assert conn.execute("SELECT DISTINCT role, source FROM stage_outcome_records").fetchall() == [
        ("ml_engineer", "Referral")]
    assert conn.execute("SELECT record_id FROM stage_outcome_records WHERE application_id = 'skip'"
                        " AND outcome = 'failed'").fetchone()[0] == \
        "ashby:application_history:skip-h1:2025-03-08T09:00:00.000000Z:left"

    build_all(conn, config, comments=False)
    expected = {  # stage: (entered, passed, failed, withdrew, in_progress, skipped, pass_rate)
        "application_review": (8, 6, 1, 1, 0, 0, 6 / 7),
        "recruiter_screen": (5, 3, 0, 1, 1, 1, 1.0),
        "technical_screen": (4, 2, 0, 0, 2, 1, 1.0),
        "onsite": (3, 2, 1, 0, 0, 0, 2 / 3),
        "hiring_committee": (2, 2, 0, 0, 0, 0, 1.0),
        "team_matching": (2, 2, 0, 0, 0, 0, 1.0),
        "offer": (2, 1, 0, 1, 0, 0, 1.0),
    }
    for stage, values in expected.items():
        row = stage_row(conn, "ml_engineer", stage)
        got = tuple(row[c] for c in ("entered", "passed", "failed", "withdrew", "in_progress", "skipped"))
        assert got == values[:6], stage
        assert row["pass_rate"] == pytest.approx(values[6]), stage
    skipped = {r["stage"]: (r["skipped_explicit"], r["skipped_implied"])
               for r in rows(conn, "skipped_stages", "role = 'ml_engineer'")}
    assert skipped["recruiter_screen"] == (0, 1) and skipped["technical_screen"] == (0, 1)
    tm = one(conn, "team_matching_dropoff", role="ml_engineer")
    assert (tm["cleared"], tm["matched"], tm["offer_extended"], tm["offer_accepted"]) == (2, 2, 2, 1)
    assert tm["dropoff_rate"] == 0.0
    assert tm["median_days_to_match"] == 3.0  # hired: 14 - 10 = 4 days, declined: 9 - 7 = 2
    journeys = conn.execute("SELECT final_status, moved_backward, count(*) FROM application_journeys"
                            " GROUP BY ALL ORDER BY ALL").fetchall()
    assert journeys == [("hired", False, 1), ("in_progress", False, 1), ("in_progress", True, 1),
                        ("rejected", False, 2), ("withdrew", False, 3)]


def test_leads_deleted_and_superseded_rows_are_excluded(tmp_path):
    apps = [
        application("lead", "Lead"),                                                  # sourced, never applied
        application("converted", "Active"),                                           # a lead who applied
        application("deleted", "Active", _ab_cdc_deleted_at=day(9)),                   # deleted in Ashby
        application("sup", "Active", updated=3),                                       # an earlier sync's version
        application("sup", "Archived", reason="r-org", updated=6),
    ]
    hist = (
        history("lead", [("New Lead", 5, None)])
        + history("converted", [("New Lead", 1, 4), ("Application Review", 4, None)])
        + history("deleted", [("Application Review", 2, None)])
        # the earlier sync read a move to the technical interview, since removed from the history in Ashby
        + history("sup", [("Application Review", 1, 3, "sup-a"), ("Technical Interview", 3, None, "sup-x")], synced=3)
        + history("sup", [("Application Review", 1, 3, "sup-a"), ("Recruiter Screen", 3, 6, "sup-b"),
                          ("Archived", 6, None, "sup-c")], synced=6)
    )
    config = config_with()
    conn = warehouse_for(config)
    result = ingest_source(conn, write_landing(tmp_path, apps, hist), "ashby", config, "b1")
    assert result.excluded == {"deleted": 2, "lead": 3, "superseded": 3}
    assert records(conn) == {
        ("converted", "application_review", "in_progress", at(4)),
        ("sup", "application_review", "in_progress", at(1)), ("sup", "application_review", "passed", at(3)),
        ("sup", "recruiter_screen", "in_progress", at(3)), ("sup", "recruiter_screen", "failed", at(6)),
    }
    assert files(conn) == {
        "application.jsonl": (5, 2, 0, 0, 3),            # lead, deleted, sup's older version excluded
        "application_history.jsonl": (9, 4, 0, 0, 5),    # lead's, New Lead, deleted's, sup's 2 earlier ones
        "archive_reason.jsonl": (5, 5, 0, 0, 0),
        "interview_stage.jsonl": (11, 11, 0, 0, 0),
    }
    assert_accounting(conn)


def test_rewritten_history_after_ingestion_adds_the_new_entries_and_keeps_the_old(tmp_path):
    """A resync that rewrites an application's history: the current history is derived again (held events
    are duplicates, new ones accepted); an event derived from an entry since removed stays as ingested."""
    config = config_with()
    first = history("sup", [("Application Review", 1, 3, "sup-a"), ("Technical Interview", 3, None, "sup-x")],
                    synced=3)
    landing = write_landing(tmp_path, [application("sup", updated=3)], first)
    conn = warehouse_for(config)
    ingest_source(conn, landing, "ashby", config, "b1")
    assert len(records(conn)) == 3
    second = first + history("sup", [("Application Review", 1, 3, "sup-a"), ("Recruiter Screen", 3, 6, "sup-b"),
                                     ("Archived", 6, None, "sup-c")], synced=6)
    write_landing(tmp_path, [application("sup", updated=3), application("sup", "Archived", reason="r-org", updated=6)],
                  second)
    result = ingest_source(conn, landing, "ashby", config, "b2")
    assert result.status == "derived"
    assert records(conn) == {
        ("sup", "application_review", "in_progress", at(1)), ("sup", "application_review", "passed", at(3)),
        ("sup", "recruiter_screen", "in_progress", at(3)), ("sup", "technical_screen", "in_progress", at(3)),
        ("sup", "recruiter_screen", "failed", at(6)),
    }
    # the review entry's events were held already: its current row is a duplicate, its earlier one superseded
    assert files(conn)["application_history.jsonl"] == (5, 2, 1, 0, 2)
    build_all(conn, config, comments=False)
    journey = rows(conn, "application_journeys")[0]
    assert (journey["final_status"], journey["moved_backward"]) == ("rejected", True)  # the stale entry's stage
    assert stage_row(conn, "ml_engineer", "technical_screen")["in_progress"] == 1  # until a full refresh


def test_merged_candidate(tmp_path):
    config = config_with()
    apps = [
        application("m1", candidate="cand-dup", updated=2),          # before Ashby merged the duplicate candidate
        application("m1", candidate="cand-main", updated=5),
        application("m2", job=DS, candidate="cand-main", updated=5),  # the same person's other application
    ]
    hist = history("m1", [("Application Review", 1, None)], synced=5) + history(
        "m2", [("Application Review", 2, None)], synced=5)
    conn = warehouse_for(config)
    result = ingest_source(conn, write_landing(tmp_path, apps, hist), "ashby", config, "b1")
    assert result.excluded == {"superseded": 1}
    assert conn.execute("SELECT application_id, candidate_id, role FROM stage_outcome_records ORDER BY 1").fetchall() \
        == [("m1", "cand-main", "ml_engineer"), ("m2", "cand-main", "data_scientist")]
    build_all(conn, config, comments=False)
    assert conn.execute("SELECT candidate_id, count(*) FROM int_application_attributes GROUP BY 1").fetchall() == [
        ("cand-main", 2)]


def test_a_merge_after_ingestion_is_a_conflicting_duplicate_until_a_full_refresh(tmp_path):
    """The connector rewrote the application row in place: the same event ids with another candidate."""
    config = config_with()
    hist = history("m1", [("Application Review", 1, 2), ("Recruiter Screen", 2, None)])
    landing = write_landing(tmp_path, [application("m1", candidate="cand-dup")], hist)
    conn = warehouse_for(config)
    ingest_source(conn, landing, "ashby", config, "b1")
    write_landing(tmp_path, [application("m1", candidate="cand-main")], hist)
    result = ingest_source(conn, landing, "ashby", config, "b2")
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"conflicting_duplicate": 3}
    assert conn.execute("SELECT DISTINCT candidate_id FROM stage_outcome_records").fetchall() == [("cand-dup",)]
    assert files(conn)["application_history.jsonl"] == (2, 0, 0, 2, 0)
    fresh = warehouse_for(config)  # what `funnel run --full-refresh` does: derive into an empty database
    ingest_source(fresh, landing, "ashby", config, "b3")
    assert fresh.execute("SELECT DISTINCT candidate_id FROM stage_outcome_records").fetchall() == [("cand-main",)]


# ---------------------------------------------------------------------------------------------
# Mapping changes, re-syncs, parts, accounting


def unmapped_tables() -> tuple[list[dict], list[dict]]:
    return [application("u1", "Hired")], history("u1", [
        ("Application Review", 1, 2), ("Onsite", 2, 5), ("Reference Check", 5, 6), ("Offer", 6, 8), ("Hired", 8, None)])


def test_unmapped_stage_is_quarantined_then_accepted_once_mapped(tmp_path):
    landing = write_landing(tmp_path, *unmapped_tables())
    config = config_with()
    conn = warehouse_for(config)
    result = ingest_source(conn, landing, "ashby", config, "b1")
    assert result.derived["stage_outcomes"] == 8
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 2}
    details = conn.execute("SELECT source_file, source_line, detail FROM quarantined_rows ORDER BY detail").fetchall()
    assert {(f, line) for f, line, _ in details} == {("ashby/application_history.jsonl", 3)}
    assert details[0][2].startswith("stage 'reference check' is not one of: application_review")
    assert details[0][2].endswith("(ashby job 'ML Engineer' (id job-ml), stage 'Reference Check')")
    assert files(conn)["application_history.jsonl"] == (5, 4, 0, 1, 0)

    mapped = config_with({**BLOCK, "stages": {**STAGE_MAP, "Reference Check": "hiring_committee"}})
    warehouse.write_config_tables(conn, mapped)
    result = ingest_source(conn, landing, "ashby", mapped, "b2")
    assert result.status == "derived"
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {}
    assert records(conn) == {
        ("u1", "application_review", "in_progress", at(1)), ("u1", "application_review", "passed", at(2)),
        ("u1", "onsite", "in_progress", at(2)), ("u1", "onsite", "passed", at(5)),
        ("u1", "hiring_committee", "in_progress", at(5)), ("u1", "hiring_committee", "passed", at(6)),
        ("u1", "offer", "in_progress", at(6)), ("u1", "offer", "passed", at(8)),
    }
    assert files(conn)["application_history.jsonl"] == (5, 5, 0, 0, 0)
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()[0] == 2  # the record of what happened
    build_all(conn, mapped, comments=False)
    row = stage_row(conn, "ml_engineer", "hiring_committee")
    assert (row["entered"], row["passed"]) == (1, 1)  # counted once
    assert ingest_source(conn, landing, "ashby", mapped, "b3").status == "unchanged"


def test_an_unmapped_name_that_is_a_catalog_key_is_still_quarantined(tmp_path):
    """Ashby's stage "Offer" left out of the mapping is not taken for the catalog's offer."""
    landing = write_landing(tmp_path, *unmapped_tables())
    stages = {k: v for k, v in STAGE_MAP.items() if k != "Offer"}
    config = config_with({**BLOCK, "stages": {**stages, "Reference Check": "hiring_committee"}})
    conn = warehouse_for(config)
    result = ingest_source(conn, landing, "ashby", config, "b1")
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 2}
    assert conn.execute("SELECT DISTINCT detail FROM quarantined_rows").fetchone()[0].startswith(
        "stage 'offer (unmapped)' is not one of")
    # the Hired entry after an unmapped stage is the pass at offer itself
    assert ("u1", "offer", "passed", at(8)) in records(conn)
    assert ("u1", "offer", "in_progress", at(6)) not in records(conn)


def test_a_resync_of_the_same_tables_adds_nothing(tmp_path):
    config = config_with()
    landing = write_landing(tmp_path, *funnel_tables())
    conn = warehouse_for(config)
    assert ingest_source(conn, landing, "ashby", config, "b1").status == "derived"
    assert len(records(conn)) == 53
    assert ingest_source(conn, landing, "ashby", config, "b2").status == "unchanged"
    for path in landing.iterdir():  # the same bytes again, new modification times
        path.write_bytes(path.read_bytes())
        os.utime(path, (path.stat().st_atime + 3600, path.stat().st_mtime + 3600))
    assert ingest_source(conn, landing, "ashby", config, "b3").status == "unchanged"
    # Re-exported with one row repeated: its events are exact duplicates.
    hist_file = landing / "application_history.jsonl"
    lines = hist_file.read_text(encoding="utf-8").splitlines(keepends=True)
    hist_file.write_text("".join(lines) + lines[4], encoding="utf-8")
    result = ingest_source(conn, landing, "ashby", config, "b4")
    assert result.status == "derived"
    assert len(records(conn)) == 53
    assert files(conn)["application_history.jsonl"] == (36, 35, 1, 0, 0)
    assert_accounting(conn)


def test_a_table_in_a_folder_of_parts(tmp_path):
    apps, hist = funnel_tables()
    landing = write_landing(tmp_path, apps, [])
    (landing / "application_history.jsonl").unlink()
    parts = landing / "application_history"
    parts.mkdir()
    # a CSV part and a JSON Lines part, as two syncs may write them
    pl.DataFrame(hist[:20]).write_csv(parts / "part-0001.csv")
    write_jsonl(parts / "part-0002.jsonl", hist[20:])
    config = config_with()
    conn = warehouse_for(config)
    ingest_source(conn, landing, "ashby", config, "b1")
    whole = warehouse_for(config)
    ingest_source(whole, write_landing(tmp_path / "whole", apps, hist), "ashby", config, "b1")
    assert records(conn) == records(whole)
    assert len(records(conn)) == 53
    got = files(conn)
    assert got["application_history/part-0001.csv"] == (20, 20, 0, 0, 0)
    assert got["application_history/part-0002.jsonl"] == (15, 15, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Interviews


def test_interviews_from_application_feedback(tmp_path):
    apps = [application("i1", "Active")]
    hist = history("i1", [("Application Review", 1, 2, "h-review"), ("Recruiter Screen", 2, 4, "h-screen"),
                          ("Onsite", 4, None, "h-onsite")])
    definitions = [{"id": "iv-coding", "title": "Coding Interview"}, {"id": "iv-lunch", "title": "Lunch"},
                   {"id": "iv-beh", "title": "Behavioral"}]
    events = [
        {"id": "ev-1", "interviewId": "iv-coding", "startTime": day(6, 10)},
        {"id": "ev-2", "interviewId": "iv-sd", "startTime": day(6, 11),
         "interview": {"id": "iv-sd", "title": "System Design"}},
    ]

    def fb(fid, values, **extra):
        row = {"id": fid, "applicationId": "i1", "applicationHistoryId": "h-onsite", "interviewId": "iv-coding",
               "submittedAt": day(7), "submittedByUser": {"id": f"user-{fid}"}, "submittedValues": values}
        row.update(extra)
        return row

    feedback = [
        fb("f1", {"overall_recommendation": 4}, interviewEventId="ev-1"),
        fb("f2", {"overall_recommendation": "2"}, interviewId="iv-sd", interviewEventId="ev-2"),
        fb("f3", {}, interviewId="iv-beh"),                                              # no recommendation
        fb("f4", {"overall_recommendation": "Strong No"}, applicationHistoryId="h-screen"),
        fb("f5", {"overall_recommendation": 3}, interviewId="iv-lunch"),                  # an unmapped interview
        fb("f6", {"overall_recommendation": 3}, interviewId=None),                        # no interview at all
    ]
    config = config_with()
    conn = warehouse_for(config)
    landing = write_landing(tmp_path, apps, hist, feedback, interview_event=events, interview=definitions)
    result = ingest_source(conn, landing, "ashby", config, "b1")
    assert result.excluded == {"not an interview": 1}
    assert result.feeds["interviews"].quarantined_by_reason == {"unknown_skill": 1}
    assert conn.execute(
        "SELECT record_id, stage, interviewer_id, skill, recommendation, occurred_at FROM interview_records"
        " ORDER BY record_id").fetchall() == [
        ("ashby:application_feedback:f1", "onsite", "user-f1", "coding", "strong_yes", at(6, 10)),
        ("ashby:application_feedback:f2", "onsite", "user-f2", "ml_system_design", "no", at(6, 11)),
        ("ashby:application_feedback:f3", "onsite", "user-f3", "behavioral", "no_decision", at(7)),
        ("ashby:application_feedback:f4", "recruiter_screen", "user-f4", "coding", "strong_no", at(7)),
    ]
    detail = conn.execute("SELECT detail FROM quarantined_rows").fetchone()[0]
    assert detail.endswith("(ashby interview 'Lunch' of job 'ML Engineer', stage 'Onsite')")
    assert files(conn)["application_feedback.jsonl"] == (6, 4, 0, 1, 1)
    assert_accounting(conn)


# ---------------------------------------------------------------------------------------------
# The sample folder


def sample_landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing" / "ashby"
    shutil.copytree(REPO / "data" / "samples" / "ashby", landing, ignore=shutil.ignore_patterns("*.yaml"))
    return landing


def sample_config() -> Config:
    block = yaml.safe_load((REPO / "data" / "samples" / "ashby" / "sources.yaml").read_text(encoding="utf-8"))
    return config_with(block["sources"]["ashby"])


def test_the_sample_folder(tmp_path):
    config = sample_config()
    conn = warehouse_for(config)
    result = ingest_source(conn, sample_landing(tmp_path), "ashby", config, "sample")
    assert result.excluded == {"deleted": 2, "lead": 3, "superseded": 6}
    assert result.notes == {"applications": 10, "applications without history": 0}
    assert {k: v.quarantined_by_reason for k, v in result.feeds.items()} == {
        "stage_outcomes": {"unknown_stage": 2}, "interviews": {"unknown_skill": 1}}
    # every row of every table file, once
    assert files(conn) == {
        "application.jsonl": (13, 10, 0, 0, 3),
        "application_feedback.jsonl": (9, 8, 0, 1, 0),
        "application_history/part-0001.jsonl": (26, 20, 0, 1, 5),
        "application_history/part-0002.jsonl": (27, 24, 0, 0, 3),
        "archive_reason.jsonl": (5, 5, 0, 0, 0),
        "interview.jsonl": (6, 6, 0, 0, 0),
        "interview_event.jsonl": (9, 9, 0, 0, 0),
        "interview_stage.jsonl": (19, 19, 0, 0, 0),
    }
    assert_accounting(conn)
    build_all(conn, config, comments=False)
    screen = stage_row(conn, "ml_engineer", "recruiter_screen")
    assert (screen["entered"], screen["passed"], screen["failed"], screen["withdrew"], screen["in_progress"],
            screen["skipped"], screen["pass_rate"]) == (6, 3, 1, 1, 1, 1, 0.75)
    tm = one(conn, "team_matching_dropoff", role="ml_engineer")
    assert (tm["cleared"], tm["matched"], tm["offer_extended"], tm["offer_accepted"], tm["median_days_to_match"]) == \
        (2, 2, 2, 1, 11.0)
    assert conn.execute("SELECT role, final_status, count(*) FROM application_journeys GROUP BY ALL ORDER BY ALL"
                        ).fetchall() == [
        ("data_scientist", "hired", 1), ("data_scientist", "in_progress", 1),
        ("ml_engineer", "hired", 1), ("ml_engineer", "in_progress", 2), ("ml_engineer", "rejected", 2),
        ("ml_engineer", "withdrew", 3)]
    assert conn.execute("SELECT count(DISTINCT application_id), count(*) FROM interview_records").fetchone() == (3, 8)


def test_inventory_of_the_sample(tmp_path):
    config = sample_config()
    conn = warehouse.connect(":memory:")
    loaded, problem, _ = derive(conn, sample_landing(tmp_path), "ashby", config.sources["ashby"], config)
    assert problem is None
    found = ashby.inventory(conn, config.sources["ashby"])
    drop_work_tables(conn)
    ml, ds = "7f3c2a10-9d4b-4e8a-b1c5-2f6e8d0a4b31", "c2e91b57-3a6d-4f02-8e4c-9b1a7d5e3f68"
    assert [f for f in found if f["kind"] == "job"] == [
        {"kind": "job", "job_id": ds, "job_name": "Data Scientist, Growth", "applications": 2},
        {"kind": "job", "job_id": ml, "job_name": "Machine Learning Engineer", "applications": 8},
    ]
    assert [(f["job_name"], f["name"], f["applications"]) for f in found if f["kind"] == "stage"] == [
        ("Data Scientist, Growth", "Application Review", 2), ("Data Scientist, Growth", "Recruiter Screen", 1),
        ("Data Scientist, Growth", "Technical Interview", 1), ("Data Scientist, Growth", "Take Home", 1),
        ("Data Scientist, Growth", "Onsite", 1), ("Data Scientist, Growth", "Offer", 1),
        ("Machine Learning Engineer", "Application Review", 8), ("Machine Learning Engineer", "Recruiter Screen", 6),
        ("Machine Learning Engineer", "Technical Interview", 4), ("Machine Learning Engineer", "Onsite", 3),
        ("Machine Learning Engineer", "Hiring Committee", 2), ("Machine Learning Engineer", "Team Matching", 2),
        ("Machine Learning Engineer", "Reference Check", 1), ("Machine Learning Engineer", "Offer", 2),
    ]
    assert [(f["name"], f["interviews"]) for f in found if f["kind"] == "interview"] == [
        ("Behavioral", 1), ("Coding", 3), ("Culture Add", 1), ("ML System Design", 2), ("ML Theory", 2)]
    assert [(f["name"], f["applications"]) for f in found if f["kind"] == "reason"] == [
        ("Accepted another offer", 1), ("Candidate withdrew", 1), ("Not a fit", 1), ("Offer declined", 1),
        ("Position filled", 1)]


# ---------------------------------------------------------------------------------------------
# The synthetic funnel in Ashby's shape against the same funnel as contract files


COMPARED_MARTS = ("stage_pass_rates", "skipped_stages", "team_matching_dropoff")


def test_the_generated_funnel_in_ashby_shape_publishes_the_same_marts(tmp_path):
    base = parse_config(dict(DEFAULT), "test")
    generate(tmp_path / "generated", 150, 5, base)
    # The clean funnel: the generated files' accepted records (the contract's dirty rows quarantined).
    reader = warehouse_for(base)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(reader, tmp_path / "generated" / feed.name, feed, base, "read")
    events = reader.sql(
        "SELECT record_id AS event_id, application_id, candidate_id, role, stage, outcome,"
        " strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at, team, source, level,"
        " CAST(requires_travel AS VARCHAR) AS requires_travel FROM stage_outcome_records"
        " ORDER BY source_file, source_line").pl()
    interviews = reader.sql(
        "SELECT record_id AS interview_id, application_id, stage, interviewer_id, skill, recommendation,"
        " strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at FROM interview_records"
        " ORDER BY source_file, source_line").pl()

    # What Ashby cannot express (ashby_shape): explicit skips, a pass not followed by a later stage,
    # an earlier archival's own reason. The contract side gets the same funnel without them.
    kept = expressible(events, base)
    assert (events.height, kept.height) == (464, 459)
    assert events.filter(pl.col("outcome") == "skipped").height == 4
    contract = tmp_path / "contract"
    (contract / "stage_outcomes").mkdir(parents=True)
    (contract / "interviews").mkdir()
    kept.write_csv(contract / "stage_outcomes" / "events.csv")
    interviews.write_csv(contract / "interviews" / "interviews.csv")
    by_contract = warehouse_for(base)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(by_contract, contract / feed.name, feed, base, "c")
    build_all(by_contract, base, comments=False)

    block = write_tables(tmp_path / "landing" / "ashby", events, interviews, base)
    config = config_with(block)
    by_ashby = warehouse_for(config)
    result = ingest_source(by_ashby, tmp_path / "landing" / "ashby", "ashby", config, "a")
    # Ashby's own dirt: leads and deleted applications excluded, earlier syncs superseded, the unmapped
    # Reference Check stage quarantined.
    assert result.excluded == {"deleted": 6, "lead": 26, "superseded": 10}
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 2}
    assert result.feeds["interviews"].quarantined_by_reason == {}
    assert_accounting(by_ashby)
    build_all(by_ashby, config, comments=False)

    for mart in COMPARED_MARTS:
        expected, got = by_contract.sql(f"SELECT * FROM {mart}").pl(), by_ashby.sql(f"SELECT * FROM {mart}").pl()
        assert expected.height > 0, mart
        assert got.columns == expected.columns, mart
        assert _same(got, expected), mart
    assert by_ashby.execute("SELECT count(*) FROM interview_records").fetchone() == \
        by_contract.execute("SELECT count(*) FROM interview_records").fetchone()


def _same(got: pl.DataFrame, expected: pl.DataFrame) -> bool:
    if got.shape != expected.shape:
        return False
    for a, b in zip(got.rows(), expected.rows()):
        for x, y in zip(a, b):
            if isinstance(x, float) and isinstance(y, float):
                if x != pytest.approx(y, rel=1e-12, abs=1e-12):
                    return False
            elif x != y:
                return False
    return True


def test_airbyte_plural_stream_names_are_read_as_the_tables(tmp_path):
    """A folder synced as Airbyte lands it (applications.jsonl, interview_stages.jsonl, ...) reads as the sample."""
    plural = {table: alias for alias, table in ashby.TABLE_ALIASES.items()}
    landing = sample_landing(tmp_path / "plural")
    renamed = []
    for path in sorted(landing.iterdir()):
        stem = path.name.split(".")[0]
        if stem in plural:
            path.rename(path.with_name(plural[stem] + path.name[len(stem):]))
            renamed.append(plural[stem])
    assert {"applications", "interview_stages", "archive_reasons"} <= set(renamed)
    results = []
    for folder in (landing, sample_landing(tmp_path / "singular")):
        config = sample_config()
        conn = warehouse_for(config)
        ingest_source(conn, folder, "ashby", config, "b1")
        results.append(conn.execute("SELECT record_id, stage, outcome FROM stage_outcome_records ORDER BY ALL").fetchall())
    assert results[0] == results[1] and len(results[0]) > 10
