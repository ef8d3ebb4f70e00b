"""Greenhouse's tables as Fivetran syncs them, into stage events and interviews (funnel/sources/greenhouse.py),
and the synthetic funnel written in Greenhouse's shape (funnel/sources/greenhouse_shape.py).

Each test writes a few tables into a temporary landing/greenhouse/, derives and ingests them like a run
(funnel.sources.runner.ingest_source), builds the marts and checks numbers worked out by hand."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from funnel.build import build_all
from funnel.config import Config, default_config, parse_config
from funnel.contract import INTERVIEWS, STAGE_OUTCOMES
from funnel.generate import generate
from funnel.ingest import ingest_feed
from funnel.keys import install_key
from funnel.sources import greenhouse
from funnel.sources import greenhouse_shape as shape
from funnel.sources.runner import ingest_source
from funnel.sources.tables import discover_tables, load_tables
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.conftest import write_csv

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "samples" / "greenhouse"
SECRET = b"test secret"

# The block of the tables below: job 4001 by id, 4002 by name; stage 50017 ("Reference Check") unmapped.
BLOCK = {
    "roles": {"4001": "ml_engineer", "Research Scientist, LLMs": "research_scientist"},
    "stages": {"Application Review": "application_review", "Phone Screen": "recruiter_screen",
               "Technical Interview": "technical_screen", "Take Home Test": "take_home", "Face to Face": "onsite",
               "Hiring Committee": "hiring_committee", "Team Matching": "team_matching", "Offer": "offer"},
    "skills": {"Coding": "coding", "ML System Design": "ml_system_design"},
}
JOBS = [{"id": 4001, "name": "Machine Learning Engineer"}, {"id": 4002, "name": "Research Scientist, LLMs"}]
STAGES = [  # id, job, name, priority: written out of priority order on purpose
    (50018, 4001, "Offer", 7), (50011, 4001, "Application Review", 0), (50012, 4001, "Phone Screen", 1),
    (50013, 4001, "Technical Interview", 2), (50014, 4001, "Face to Face", 3), (50015, 4001, "Hiring Committee", 4),
    (50016, 4001, "Team Matching", 5), (50017, 4001, "Reference Check", 6),
    (50021, 4002, "Application Review", 0), (50022, 4002, "Phone Screen", 1), (50023, 4002, "Take Home Test", 2),
    (50024, 4002, "Face to Face", 3), (50025, 4002, "Hiring Committee", 4), (50026, 4002, "Offer", 5),
]
REASONS = [{"id": 101, "name": "Lacking skills", "type_name": "We rejected them"},
           {"id": 102, "name": "Candidate withdrew", "type_name": "They rejected us"},
           {"id": 103, "name": "Other", "type_name": "None specified"}]
APP_COLUMNS = ["id", "candidate_id", "applied_at", "status", "current_stage_id", "last_activity_at", "rejected_at",
               "rejected_reason_id", "source_id", "prospect", "is_deleted", "_fivetran_deleted"]
HISTORY_COLUMNS = ["application_id", "updated_at", "new_stage_id", "new_status"]


def gh_config(block: dict | None = None, **settings) -> Config:
    data = yaml.safe_load(default_config().to_yaml())
    data.update(settings)
    data["sources"] = {"greenhouse": block or BLOCK}
    return parse_config(data, "test")


def warehouse(config: Config):
    conn = connect(":memory:")
    conn.execute("SET threads = 1")
    create_schema(conn)
    write_config_tables(conn, config)
    install_key(conn, SECRET)
    return conn


def app(id, job=4001, status="active", candidate=None, **values) -> tuple[dict, dict]:
    """An application row (and its job_application row)."""
    row = {"id": id, "candidate_id": candidate or f"c{id}", "applied_at": "2024-03-01 09:00:00.000", "status": status,
           "prospect": "false", "is_deleted": "false", "_fivetran_deleted": "false"}
    row.update(values)
    return row, {"application_id": id, "job_id": job}


def hist(application, when, stage=None, status="active") -> dict:
    return {"application_id": application, "updated_at": f"2024-{when}:00.000", "new_stage_id": stage,
            "new_status": status}


def write_tables(folder: Path, apps: list[tuple[dict, dict]], history: list[dict], **tables: list[dict]) -> Path:
    """landing/greenhouse/ with the jobs, stages and reasons above, these applications and history rows,
    and any other table given (offer=[...], scorecard=[...])."""
    write_csv(folder / "job.csv", JOBS)
    write_csv(folder / "job_stage.csv", [{"id": i, "job_id": j, "name": n, "priority": p} for i, j, n, p in STAGES])
    write_csv(folder / "rejection_reason.csv", REASONS)
    write_csv(folder / "application.csv", [a for a, _ in apps], APP_COLUMNS)
    write_csv(folder / "job_application.csv", [j for _, j in apps])
    write_csv(folder / "application_history.csv", history, HISTORY_COLUMNS)
    for table, rows in tables.items():
        write_csv(folder / f"{table}.csv", rows)
    return folder


def events(conn, application: str) -> list[tuple[str, str, str]]:
    """An application's accepted stage events: (stage, outcome, MM-DD HH:MM), by time then stage order."""
    return conn.execute(
        """
        SELECT r.stage, r.outcome, strftime(r.occurred_at, '%m-%d %H:%M') FROM stage_outcome_records AS r
        JOIN config_stages AS s USING (stage)
        WHERE application_id = ? ORDER BY r.occurred_at, s.stage_order, r.outcome
        """, [application]).fetchall()


def pass_rates(conn, role: str) -> dict[str, tuple]:
    """stage -> (entered, passed, failed, withdrew, in_progress, skipped) of stage_pass_rates."""
    rows = conn.execute(
        "SELECT stage, entered, passed, failed, withdrew, in_progress, skipped FROM stage_pass_rates WHERE role = ?"
        " ORDER BY stage_order", [role]).fetchall()
    return {stage: tuple(rest) for stage, *rest in rows}


def files(conn) -> dict[str, tuple[int, int, int, int, int]]:
    """landing_files of greenhouse, latest version per path: (read, accepted, duplicate, quarantined, excluded)."""
    rows = conn.execute(
        "SELECT path, rows_read, rows_accepted, rows_duplicate, rows_quarantined, rows_excluded FROM landing_files"
        " WHERE feed = 'greenhouse' QUALIFY row_number() OVER (PARTITION BY path ORDER BY processed_at DESC) = 1"
        " ORDER BY path").fetchall()
    return {path: tuple(rest) for path, *rest in rows}


def assert_every_row_counted(conn) -> None:
    for path, (read, accepted, duplicate, quarantined, excluded) in files(conn).items():
        assert read == accepted + duplicate + quarantined + excluded, path


# ---------------------------------------------------------------------------------------------
# The sample: every rule once


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample") / "greenhouse"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("*.yaml"))
    data = yaml.safe_load(default_config().to_yaml())
    data.update(yaml.safe_load((SAMPLE / "sources.yaml").read_text(encoding="utf-8")))
    config = parse_config(data, "sample")
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    build_all(conn, config, comments=False)
    yield conn, result, folder, config
    conn.close()


def test_the_sample_derives_every_rule(sample):
    conn, result, _, _ = sample
    assert result.status == "derived" and result.problem is None
    # 1010 a prospect (application + job_application), 1011 deleted (+ 2 history rows, its eeoc row), 1014
    # converted (+ 1 history row): 3 + 6 + 2.
    assert result.excluded == {"converted": 3, "deleted": 6, "prospect": 2}
    # events: 89 accepted and the unknown_stage one; scorecards: 5 and Culture Add; responses: eeoc rows but 1011's
    assert result.derived == {"stage_outcomes": 90, "interviews": 6, "demographics": 7}
    assert result.notes == {"derived without history": 2, "merged candidates": 1}
    # hired: a move is passed at the stage left and in_progress at the next, at the same time; hired at
    # Offer is passed there, and the accepted offer (v2; v1 deprecated gives nothing) passes it again.
    assert events(conn, "1001") == [
        ("application_review", "in_progress", "03-04 09:00"),
        ("application_review", "passed", "03-06 15:30"), ("recruiter_screen", "in_progress", "03-06 15:30"),
        ("recruiter_screen", "passed", "03-13 15:00"), ("technical_screen", "in_progress", "03-13 15:00"),
        ("technical_screen", "passed", "03-20 10:00"), ("onsite", "in_progress", "03-20 10:00"),
        ("onsite", "passed", "03-28 00:45"), ("hiring_committee", "in_progress", "03-28 00:45"),
        ("hiring_committee", "passed", "04-03 14:00"), ("team_matching", "in_progress", "04-03 14:00"),
        ("team_matching", "passed", "04-18 09:20"), ("offer", "in_progress", "04-18 09:20"),
        ("offer", "passed", "04-22 15:00"), ("offer", "passed", "04-22 15:00"),
    ]
    # rejection ("We rejected them") vs withdrawal ("They rejected us"), at the stage of the last active row
    assert events(conn, "1002")[-1] == ("technical_screen", "failed", "03-19 12:00")
    assert events(conn, "1003")[-1] == ("recruiter_screen", "withdrew", "03-11 08:00")
    # a skip: from Application Review straight to Face to Face (recruiter and technical screens jumped over)
    assert events(conn, "1004") == [
        ("application_review", "in_progress", "03-07 09:00"),
        ("application_review", "passed", "03-09 10:00"), ("onsite", "in_progress", "03-09 10:00"),
        ("onsite", "passed", "03-20 17:00"), ("hiring_committee", "in_progress", "03-20 17:00"),
    ]
    # an offer declined: the rejection ("Offer declined", They rejected us) and the rejected offer
    assert events(conn, "1005")[-2:] == [("offer", "withdrew", "04-26 09:00")] * 2
    # reopened: rejected at the phone screen (no reason any more: unspecified_rejection = failed), active again
    assert events(conn, "1006")[3:] == [
        ("recruiter_screen", "failed", "03-15 10:00"), ("recruiter_screen", "in_progress", "03-18 09:00"),
        ("recruiter_screen", "passed", "03-22 11:00"), ("technical_screen", "in_progress", "03-22 11:00"),
    ]
    # backward: Technical Interview, then back to Phone Screen: only the in_progress
    assert events(conn, "1007")[-1:] == [("recruiter_screen", "in_progress", "03-21 15:00")]
    # without history: first stage at applied_at, Take Home Test at last_activity_at, "None specified" failed
    assert events(conn, "1009") == [
        ("application_review", "in_progress", "02-20 10:00"),
        ("application_review", "passed", "02-26 12:00"), ("take_home", "in_progress", "02-26 12:00"),
        ("take_home", "failed", "03-01 09:00"),
    ]
    # the merged candidate 3099 is 3012, the candidate of 1013 too; Team Selection is team_matching for job 4003
    assert conn.execute("SELECT DISTINCT application_id, candidate_id FROM stage_outcome_records"
                        " WHERE application_id IN ('1012', '1013') ORDER BY 1").fetchall() == [("1012", "3012"), ("1013", "3012")]
    assert events(conn, "1012")[-1] == ("team_matching", "in_progress", "04-15 09:00")
    assert events(conn, "1013") == [
        ("application_review", "in_progress", "01-08 09:00"),
        ("application_review", "passed", "02-20 16:00"), ("offer", "in_progress", "02-20 16:00"),
        ("offer", "passed", "02-20 16:00"),
    ]
    assert conn.execute("SELECT count(*) FROM stage_outcome_records WHERE application_id IN ('1010', '1011', '1014')"
                        ).fetchone() == (0,)
    # source and requires_travel from the application
    assert conn.execute("SELECT DISTINCT source, requires_travel FROM stage_outcome_records WHERE application_id = '1005'"
                        ).fetchall() == [("LinkedIn", True)]


def test_the_sample_has_only_its_two_built_in_problems(sample):
    conn, _, _, _ = sample
    assert conn.execute("SELECT source_file, source_line, reason FROM quarantined_rows ORDER BY 1, 2").fetchall() == [
        ("greenhouse/application_history.csv", 43, "unknown_stage"),  # 1008 moved into Reference Check
        ("greenhouse/scorecard.csv", 6, "unknown_skill"),  # the "Culture Add" interview
    ]
    detail = conn.execute("SELECT detail FROM quarantined_rows WHERE reason = 'unknown_stage'").fetchone()[0]
    assert detail.startswith("stage 'reference check' is not one of: ")
    assert detail.endswith('(greenhouse job 4001 "Machine Learning Engineer", stage "Reference Check" (job_stage 50017))')
    assert files(conn) == {
        "application.csv": (14, 11, 0, 0, 3),
        "application_history.csv": (51, 47, 0, 1, 3),
        "candidate.csv": (14, 14, 0, 0, 0),
        "interview.csv": (6, 6, 0, 0, 0),
        "job.csv": (3, 3, 0, 0, 0),
        "job_application.csv": (14, 11, 0, 0, 3),
        "job_stage.csv": (21, 21, 0, 0, 0),
        "offer.csv": (3, 3, 0, 0, 0),
        "rejection_reason.csv": (4, 4, 0, 0, 0),
        "scorecard.csv": (7, 5, 0, 1, 1),  # 90007 is deleted
        "source.csv": (3, 3, 0, 0, 0),
        "eeoc.csv": (8, 7, 0, 0, 1),  # 1011's is its deleted application's
    }
    assert_every_row_counted(conn)


def test_the_sample_marts(sample):
    conn, _, _, _ = sample
    # ml_engineer, 1001-1008. recruiter_screen: passed 1001, 1002, 1005, 1006 (reopened, then moved on),
    # 1008; withdrew 1003; in_progress 1007 (moved back); 1004 skipped it. technical_screen: passed 1001,
    # 1005, 1008; failed 1002; in_progress 1006, 1007; 1004 skipped it.
    assert pass_rates(conn, "ml_engineer") == {
        "application_review": (8, 8, 0, 0, 0, 0),
        "recruiter_screen": (7, 5, 0, 1, 1, 1),
        "technical_screen": (6, 3, 1, 0, 2, 1),
        "onsite": (4, 4, 0, 0, 0, 0),
        "hiring_committee": (4, 3, 0, 0, 1, 0),
        "team_matching": (3, 3, 0, 0, 0, 0),
        "offer": (2, 1, 0, 1, 0, 0),
    }
    # 1013 (hired without history) jumped from application review to the offer: five implied skips
    assert pass_rates(conn, "software_engineer") == {
        "application_review": (2, 2, 0, 0, 0, 0),
        "recruiter_screen": (1, 1, 0, 0, 0, 1),
        "technical_screen": (1, 1, 0, 0, 0, 1),
        "onsite": (1, 1, 0, 0, 0, 1),
        "hiring_committee": (1, 1, 0, 0, 0, 1),
        "team_matching": (1, 0, 0, 0, 1, 1),
        "offer": (1, 1, 0, 0, 0, 0),
    }
    assert conn.execute(
        "SELECT skipped_implied, fast_tracked FROM skipped_stages WHERE role = 'ml_engineer' AND stage = 'technical_screen'"
    ).fetchone() == (1, 1)
    # cleared: 1001, 1005, 1008 (hiring committee passed); all three matched; offers extended 1001, 1005, accepted 1001
    assert conn.execute(
        "SELECT role, applications, cleared, matched, in_matching, awaiting, offer_extended, offer_accepted, dropoff_rate"
        " FROM team_matching_dropoff ORDER BY role").fetchall() == [
        ("ml_engineer", 8, 3, 3, 0, 0, 2, 1, 0.0), ("software_engineer", 2, 1, 0, 1, 0, 0, 0, None)]
    assert dict(conn.execute("SELECT application_id, final_status FROM int_applications").fetchall()) == {
        "1001": "hired", "1002": "rejected", "1003": "withdrew", "1004": "in_progress", "1005": "withdrew",
        "1006": "in_progress", "1007": "in_progress", "1008": "in_progress", "1009": "rejected",
        "1012": "in_progress", "1013": "hired"}
    assert conn.execute("SELECT application_id FROM int_applications WHERE moved_backward").fetchall() == [("1007",)]
    # interviews: at Face to Face by default, at the Technical Interview through the interview table
    assert conn.execute("SELECT application_id, stage, interviewer_id, skill, recommendation FROM interview_records"
                        " ORDER BY occurred_at").fetchall() == [
        ("1002", "technical_screen", "20001", "coding", "strong_no"),
        ("1001", "onsite", "20001", "coding", "yes"),
        ("1001", "onsite", "20002", "ml_system_design", "strong_yes"),
        ("1001", "onsite", "20003", "ml_theory", "yes"),
        ("1001", "onsite", "20004", "behavioral", "no_decision"),
    ]


def test_the_sample_eeoc_answers_are_the_candidates_responses(sample):
    conn, _, _, _ = sample
    # Greenhouse's wording in the contract's categories; "Decline To Self Identify" and "I don't wish to answer"
    # unknown (NULL); 1012 is the merged candidate 3099, now 3012, who answered for 1013 before
    assert conn.execute(
        "SELECT candidate_id, sex, race_ethnicity, veteran_status, disability_status, strftime(collected_at, '%m-%d %H:%M'),"
        " source_file, source_line FROM demographic_records ORDER BY source_line").fetchall() == [
        ("3001", "female", "asian", "not_protected_veteran", "no", "03-04 09:05", "greenhouse/eeoc.csv", 2),
        ("3002", "male", "white", "protected_veteran", "yes", "03-05 10:04", "greenhouse/eeoc.csv", 3),
        ("3003", None, "black_or_african_american", None, None, "03-06 09:36", "greenhouse/eeoc.csv", 4),
        ("3005", "female", "hispanic_or_latino", "not_protected_veteran", "no", "03-10 09:07", "greenhouse/eeoc.csv", 5),
        ("3009", "male", "two_or_more_races", None, None, "02-20 10:03", "greenhouse/eeoc.csv", 6),
        ("3012", "female", "american_indian_or_alaska_native", None, "no", "03-18 09:04", "greenhouse/eeoc.csv", 8),
        ("3012", "female", "american_indian_or_alaska_native", "not_protected_veteran", "no", "01-08 09:06",
         "greenhouse/eeoc.csv", 9),
    ]
    # the latest response per candidate: 3012's is 1012's (March), its veteran status unknown
    assert conn.execute("SELECT candidate_id, sex, veteran_status FROM int_candidate_demographics"
                        " WHERE candidate_id IN ('3011', '3012')").fetchall() == [("3012", "female", None)]


def test_inventory_of_the_sample(sample):
    _, _, folder, config = sample
    conn = connect(":memory:")
    load_tables(conn, discover_tables(folder), None)
    found = greenhouse.inventory(conn, config.sources["greenhouse"])
    conn.close()
    jobs = [(d["job_id"], d["job_name"], d["applications"], d["role"]) for d in found if d["kind"] == "job"]
    assert jobs == [("4001", "Machine Learning Engineer", 8, "ml_engineer"),
                    ("4002", "Research Scientist, LLMs", 1, "research_scientist"),
                    ("4003", "Software Engineer", 2, "software_engineer")]
    stages = {(d["job_id"], d["name"]): (d["applications"], d["stage"]) for d in found if d["kind"] == "stage"}
    assert stages[("4001", "Phone Screen")] == (7, "recruiter_screen")  # all but 1004
    assert stages[("4001", "Reference Check")] == (1, None)
    assert stages[("4002", "Take Home Test")] == (1, "take_home")  # 1009's current stage (no history)
    assert stages[("4002", "Application Review")] == (1, "application_review")  # and its first one
    assert stages[("4003", "Team Selection")] == (1, "team_matching")
    assert [d["name"] for d in found if d["kind"] == "stage" and d["job_id"] == "4001"] == [
        "Application Review", "Phone Screen", "Technical Interview", "Face to Face", "Hiring Committee",
        "Team Matching", "Reference Check", "Offer"]  # in priority order
    interviews = {d["name"]: (d["interviews"], d["skill"]) for d in found if d["kind"] == "interview"}
    assert interviews == {"Behavioral": (1, "behavioral"), "Coding": (1, "coding"), "Culture Add": (1, None),
                          "ML System Design": (1, "ml_system_design"), "ML Theory": (1, "ml_theory"),
                          "Technical Interview - Coding": (1, "coding")}
    reasons = {d["name"]: d["applications"] for d in found if d["kind"] == "reason"}
    assert reasons == {"Lacking skill(s)/qualification(s)": 1, "Candidate withdrew": 1, "Offer declined": 1,
                       "Other (add notes below)": 1}


# ---------------------------------------------------------------------------------------------
# Rules, one at a time


def test_rejection_types_and_unspecified_rejection(tmp_path):
    apps = [app(1, status="rejected", rejected_reason_id=101), app(2, status="rejected", rejected_reason_id=102),
            app(3, status="rejected", rejected_reason_id=103), app(4, status="rejected"),
            app(5, status="rejected", rejected_reason_id=999)]  # a reason the table lacks
    history = []
    for a in range(1, 6):
        history += [hist(a, "03-01 09:00", 50011), hist(a, "03-02 09:00", 50012), hist(a, "03-04 10:00", status="rejected")]
    folder = write_tables(tmp_path / "greenhouse", apps, history)
    for unspecified, expected in (("failed", ["failed", "withdrew", "failed", "failed", "failed"]),
                                  ("withdrew", ["failed", "withdrew", "withdrew", "withdrew", "withdrew"])):
        config = gh_config({**BLOCK, "unspecified_rejection": unspecified})
        conn = warehouse(config)
        ingest_source(conn, folder, "greenhouse", config, "b1")
        assert [events(conn, str(a))[-1] for a in range(1, 6)] == [
            ("recruiter_screen", outcome, "03-04 10:00") for outcome in expected]
        build_all(conn, config, comments=False)
        n_failed = expected.count("failed")
        assert pass_rates(conn, "ml_engineer")["recruiter_screen"] == (5, 0, n_failed, 5 - n_failed, 0, 0)
        conn.close()


def test_hired_offers_and_a_hire_at_another_stage(tmp_path):
    apps = [app(1, status="hired"), app(2, status="hired"), app(3, status="rejected", rejected_reason_id=102),
            app(4), app(5, job=4002, status="hired")]
    history = [
        # 1: hired at Offer; its offer accepted three days before the hire
        hist(1, "03-01 09:00", 50011), hist(1, "03-10 09:00", 50018), hist(1, "03-15 09:00", status="hired"),
        # 2: hired straight from the hiring committee: passed there and at offer
        hist(2, "03-01 09:00", 50015), hist(2, "03-12 09:00", status="hired"),
        # 3: declined the offer
        hist(3, "03-01 09:00", 50018), hist(3, "03-09 09:00", status="rejected"),
        # 4: at the offer, unresolved
        hist(4, "03-01 09:00", 50018),
        # 5: "Research Scientist, LLMs" (a job mapped by its name), hired at its Offer stage
        hist(5, "03-01 09:00", 50026), hist(5, "03-20 09:00", status="hired"),
    ]
    offers = [
        {"id": 61, "application_id": 1, "status": "accepted", "resolved_at": "2024-03-12 09:00:00", "_fivetran_deleted": "false"},
        {"id": 62, "application_id": 3, "status": "rejected", "resolved_at": "2024-03-08 18:00:00", "_fivetran_deleted": "false"},
        {"id": 63, "application_id": 4, "status": "unresolved", "resolved_at": None, "_fivetran_deleted": "false"},
        {"id": 64, "application_id": 4, "status": "accepted", "resolved_at": "2024-03-05 09:00:00", "_fivetran_deleted": "true"},
    ]
    folder = write_tables(tmp_path / "greenhouse", apps, history, offer=offers)
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.excluded == {"deleted": 1}
    assert events(conn, "1") == [("application_review", "in_progress", "03-01 09:00"),
                                 ("application_review", "passed", "03-10 09:00"), ("offer", "in_progress", "03-10 09:00"),
                                 ("offer", "passed", "03-12 09:00"), ("offer", "passed", "03-15 09:00")]
    assert events(conn, "2") == [("hiring_committee", "in_progress", "03-01 09:00"),
                                 ("hiring_committee", "passed", "03-12 09:00"), ("offer", "passed", "03-12 09:00")]
    assert events(conn, "3") == [("offer", "in_progress", "03-01 09:00"), ("offer", "withdrew", "03-08 18:00"),
                                 ("offer", "withdrew", "03-09 09:00")]
    assert events(conn, "4") == [("offer", "in_progress", "03-01 09:00")]
    assert events(conn, "5") == [("offer", "in_progress", "03-01 09:00"), ("offer", "passed", "03-20 09:00")]
    build_all(conn, config, comments=False)
    assert pass_rates(conn, "ml_engineer")["offer"] == (4, 2, 0, 1, 1, 0)
    assert conn.execute("SELECT role, offers_extended, offers_accepted, offers_declined, offers_pending, hired"
                        " FROM source_effectiveness WHERE stage = 'offer' ORDER BY role").fetchall() == [
        ("ml_engineer", 4, 2, 1, 1, 2), ("research_scientist", 1, 1, 0, 0, 1)]
    assert files(conn)["offer.csv"] == (4, 3, 0, 0, 1)
    assert_every_row_counted(conn)


def test_applications_without_history(tmp_path):
    apps = [
        # still at the first stage
        app(1, applied_at="2024-02-01 09:00:00", current_stage_id=50011, last_activity_at="2024-02-03 09:00:00"),
        # rejected at the Technical Interview, "They rejected us"
        app(2, status="rejected", applied_at="2024-02-01 09:00:00", current_stage_id=50013,
            last_activity_at="2024-02-10 09:00:00", rejected_at="2024-02-12 09:00:00", rejected_reason_id=102),
        # hired at the Hiring Committee: five events, the fifth (passed at offer) read from its job_application row
        app(3, status="hired", applied_at="2024-02-01 09:00:00", current_stage_id=50015,
            last_activity_at="2024-02-20 09:00:00"),
        # with history: not derived from the application row
        app(4, applied_at="2024-02-01 09:00:00", current_stage_id=50013),
    ]
    folder = write_tables(tmp_path / "greenhouse", apps, [hist(4, "02-05 09:00", 50012)])
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.notes == {"derived without history": 3}
    assert events(conn, "1") == [("application_review", "in_progress", "02-01 09:00")]
    assert events(conn, "2") == [("application_review", "in_progress", "02-01 09:00"),
                                 ("application_review", "passed", "02-10 09:00"),
                                 ("technical_screen", "in_progress", "02-10 09:00"),
                                 ("technical_screen", "withdrew", "02-12 09:00")]
    assert events(conn, "3") == [("application_review", "in_progress", "02-01 09:00"),
                                 ("application_review", "passed", "02-20 09:00"),
                                 ("hiring_committee", "in_progress", "02-20 09:00"),
                                 ("hiring_committee", "passed", "02-20 09:00"), ("offer", "passed", "02-20 09:00")]
    assert events(conn, "4") == [("recruiter_screen", "in_progress", "02-05 09:00")]
    assert conn.execute("SELECT source_file, source_line FROM stage_outcome_records"
                        " WHERE record_id = 'greenhouse:application:3:hired_offer'").fetchone() == (
        "greenhouse/job_application.csv", 4)
    build_all(conn, config, comments=False)
    # 3 jumped from application review to the hiring committee: recruiter screen, technical screen and onsite
    # are implied skips; 2 skipped the recruiter screen
    rates = pass_rates(conn, "ml_engineer")
    assert rates["recruiter_screen"] == (1, 0, 0, 0, 1, 2)
    assert rates["technical_screen"] == (1, 0, 0, 1, 0, 1)
    assert rates["onsite"] == (0, 0, 0, 0, 0, 1)


def test_prospects_deleted_and_converted_rows_are_excluded_not_quarantined(tmp_path):
    apps = [app(1), app(2, prospect="true"), app(3, _fivetran_deleted="true"), app(4, is_deleted="TRUE"),
            app(5, status="converted"), app(6, prospect="t", _fivetran_deleted="true")]
    history = [hist(a, "03-01 09:00", 50011) for a in range(1, 7)] + [hist(3, "03-03 09:00", 50012)]
    scorecards = [
        {"id": 91, "application_id": 1, "interview": "Coding", "interviewed_at": "2024-03-02 10:00:00",
         "overall_recommendation": "yes", "submitted_by_user_id": 7, "_fivetran_deleted": "false"},
        {"id": 92, "application_id": 1, "interview": "Coding", "interviewed_at": "2024-03-02 11:00:00",
         "overall_recommendation": "no", "submitted_by_user_id": 8, "_fivetran_deleted": "true"},
        {"id": 93, "application_id": 3, "interview": "Coding", "interviewed_at": "2024-03-02 10:00:00",
         "overall_recommendation": "yes", "submitted_by_user_id": 7, "_fivetran_deleted": "false"},
    ]
    folder = write_tables(tmp_path / "greenhouse", apps, history, scorecard=scorecards)
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    # deleted: 3 (application, job_application, 2 history rows, its scorecard), 4 (3 rows), 6 (deleted before
    # prospect: 3 rows), scorecard 92 -> 5 + 3 + 3 + 1; prospect: 2 -> 3; converted: 5 -> 3
    assert result.excluded == {"converted": 3, "deleted": 12, "prospect": 3}
    assert conn.execute("SELECT DISTINCT application_id FROM stage_outcome_records").fetchall() == [("1",)]
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone() == (0,)
    assert conn.execute("SELECT interviewer_id, recommendation FROM interview_records").fetchall() == [("7", "yes")]
    assert files(conn) == {
        "application.csv": (6, 1, 0, 0, 5), "application_history.csv": (7, 1, 0, 0, 6),
        "job.csv": (2, 2, 0, 0, 0), "job_application.csv": (6, 1, 0, 0, 5), "job_stage.csv": (14, 14, 0, 0, 0),
        "rejection_reason.csv": (3, 3, 0, 0, 0), "scorecard.csv": (3, 1, 0, 0, 2),
    }
    assert_every_row_counted(conn)


def test_merged_candidates_take_the_surviving_id(tmp_path):
    apps = [app(1, candidate=301), app(2, candidate=302), app(3, candidate=303)]
    # 301 was merged into 302, and 302 later into 303: both applications are 303's
    candidates = [{"id": 301, "new_candidate_id": 302}, {"id": 302, "new_candidate_id": 303},
                  {"id": 303, "new_candidate_id": None}]
    folder = write_tables(tmp_path / "greenhouse", apps, [hist(a, "03-01 09:00", 50011) for a in (1, 2, 3)],
                          candidate=candidates)
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.notes == {"merged candidates": 2}
    # a requires_travel_column the application table lacks: said in the notes, requires_travel unknown
    config = gh_config({**BLOCK, "requires_travel_column": "custom_requires_travel"})
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.notes == {"merged candidates": 2,
                            "application has no custom_requires_travel column (requires_travel_column)": 1}
    assert conn.execute("SELECT DISTINCT requires_travel FROM stage_outcome_records").fetchall() == [(None,)]
    assert conn.execute("SELECT application_id, candidate_id FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("1", "303"), ("2", "303"), ("3", "303")]


def test_jobs_stages_and_interviews_are_matched_by_id_or_name(tmp_path):
    jobs_block = {
        # 4001 by id and, differently, by name: the id wins; 4002 by a name in other case and spacing;
        # 4003's name is a role key but not mapped: quarantined all the same
        "roles": {"4001": "ml_engineer", "Machine Learning Engineer": "software_engineer",
                  "  research scientist, llms ": "research_scientist"},
        "stages": {"application review": "application_review", "PHONE SCREEN": "recruiter_screen",
                   "Face to Face": "onsite"},
        "job_stages": {"4002": {"Face to Face": "hiring_committee"}},
        "skills": {" coding ": "coding"},
    }
    jobs = JOBS + [{"id": 4003, "name": "data_scientist"}]
    apps = [app(1), app(2, job=4002), app(3, job=4003), app(4, job=4004)]
    history = [hist(1, "03-01 09:00", 50014), hist(2, "03-01 09:00", 50024), hist(3, "03-01 09:00", 50011),
               hist(4, "03-01 09:00", 50011)]
    scorecards = [{"id": 95, "application_id": 2, "interview": "CODING", "interviewed_at": "2024-03-02 10:00:00",
                   "overall_recommendation": "strong_yes", "submitted_by_user_id": 7, "_fivetran_deleted": "false"}]
    folder = write_tables(tmp_path / "greenhouse", apps, history, scorecard=scorecards)
    write_csv(folder / "job.csv", jobs)
    config = gh_config(jobs_block)
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    assert conn.execute("SELECT application_id, role, stage FROM stage_outcome_records ORDER BY 1").fetchall() == [
        ("1", "ml_engineer", "onsite"), ("2", "research_scientist", "hiring_committee")]
    assert conn.execute("SELECT skill, recommendation FROM interview_records").fetchall() == [("coding", "strong_yes")]
    assert conn.execute("SELECT source_line, reason, detail FROM quarantined_rows ORDER BY 1").fetchall() == [
        (4, "unknown_role", "role 'data_scientist (unmapped)' is not one of: ml_engineer, software_engineer, "
         "research_scientist, data_scientist (greenhouse job 4003 \"data_scientist\", "
         "stage \"Application Review\" (job_stage 50011))"),
        (5, "unknown_role", "role 'job 4004' is not one of: ml_engineer, software_engineer, research_scientist, "
         "data_scientist (greenhouse job 4004 (not in the job table), stage \"Application Review\" (job_stage 50011))"),
    ]


def test_a_move_between_two_stages_of_one_catalog_stage_decides_nothing(tmp_path):
    # For job 4001 "Reference Check" is a second onsite stage: Face to Face -> Reference Check stays in the onsite.
    block = {**BLOCK, "job_stages": {"4001": {"Reference Check": "onsite"}}}
    history = [hist(1, "03-01 09:00", 50014), hist(1, "03-05 09:00", 50017), hist(2, "03-01 09:00", 50014),
               hist(2, "03-05 09:00", 50017), hist(2, "03-09 09:00", 50018)]
    folder = write_tables(tmp_path / "greenhouse", [app(1), app(2)], history)
    config = gh_config(block)
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    assert events(conn, "1") == [("onsite", "in_progress", "03-01 09:00"), ("onsite", "in_progress", "03-05 09:00")]
    assert events(conn, "2")[-2:] == [("onsite", "passed", "03-09 09:00"), ("offer", "in_progress", "03-09 09:00")]
    build_all(conn, config, comments=False)
    assert pass_rates(conn, "ml_engineer")["onsite"] == (2, 1, 0, 0, 1, 0)


def test_interviews_take_the_stage_of_their_interview(tmp_path):
    # "Coding" is an interview at the Technical Interview and at Face to Face of job 4001: a scorecard goes to
    # the one the application was at that day; without an interview of its name it is at onsite.
    interviews = [{"id": 81, "job_stage_id": 50013, "name": "Coding"}, {"id": 82, "job_stage_id": 50014, "name": "Coding"},
                  {"id": 83, "job_stage_id": 50024, "name": "Coding"}]
    history = [hist(1, "03-01 09:00", 50013), hist(1, "03-10 09:00", 50014)]
    scorecards = [
        {"id": 1, "application_id": 1, "interview": "Coding", "interviewed_at": "2024-03-02 10:00:00",
         "overall_recommendation": "definitely_not", "submitted_by_user_id": 7},
        {"id": 2, "application_id": 1, "interview": "coding", "interviewed_at": "2024-03-11 10:00:00",
         "overall_recommendation": "no", "submitted_by_user_id": 7},
        {"id": 3, "application_id": 1, "interview": "ML System Design", "interviewed_at": "2024-03-11 11:00:00",
         "overall_recommendation": "no_decision", "submitted_by_user_id": 8},
        {"id": 4, "application_id": 1, "interview": "Coding", "interviewed_at": "2024-03-12 10:00:00",
         "overall_recommendation": "maybe", "submitted_by_user_id": 9},
    ]
    folder = write_tables(tmp_path / "greenhouse", [app(1)], history, interview=interviews, scorecard=scorecards)
    config = gh_config()
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    assert conn.execute("SELECT record_id, stage, interviewer_id, skill, recommendation FROM interview_records"
                        " ORDER BY occurred_at").fetchall() == [
        ("greenhouse:scorecard:1", "technical_screen", "7", "coding", "strong_no"),
        ("greenhouse:scorecard:2", "onsite", "7", "coding", "no"),
        ("greenhouse:scorecard:3", "onsite", "8", "ml_system_design", "no_decision"),
    ]
    assert conn.execute("SELECT reason FROM quarantined_rows").fetchall() == [("unknown_recommendation",)]


# ---------------------------------------------------------------------------------------------
# Runs: a mapping change, resyncs, folders of parts


def test_an_unmapped_stage_is_quarantined_then_accepted_once_mapped(tmp_path):
    apps = [app(1), app(2)]
    history = [hist(1, "03-01 09:00", 50011), hist(1, "03-05 09:00", 50016), hist(1, "03-20 09:00", 50017),
               hist(1, "03-25 09:00", 50018),
               hist(2, "03-01 09:00", 50011), hist(2, "03-06 09:00", 50017), hist(2, "03-09 09:00", status="rejected")]
    folder = write_tables(tmp_path / "greenhouse", apps, history)
    before = gh_config()
    conn = warehouse(before)
    first = ingest_source(conn, folder, "greenhouse", before, "b1")
    # Reference Check (50017): 1's move into it (in_progress) and out of it (passed), 2's move into it and
    # its rejection there: four events, on four history rows (a row is quarantined when one of its events is)
    assert first.feeds["stage_outcomes"].quarantined_by_reason == {"unknown_stage": 4}
    assert files(conn)["application_history.csv"] == (7, 3, 0, 4, 0)
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone() == (7,)

    after = gh_config({**BLOCK, "job_stages": {"4001": {"reference check": "hiring_committee"}}})
    conn_rows = conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()
    second = ingest_source(conn, folder, "greenhouse", after, "b2")
    assert second.status == "derived"
    assert second.feeds["stage_outcomes"].quarantined_by_reason == {}
    # the four events are accepted; the seven held before are duplicates of themselves, counted once
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone() == (11,)
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone() == conn_rows
    # landing_files holds one row per file and content, replaced by the derivation that read it last; the
    # quarantine keeps what the first one found
    assert files(conn)["application_history.csv"] == (7, 7, 0, 0, 0)
    assert conn.execute("SELECT batch_id FROM landing_files WHERE path = 'application_history.csv'").fetchall() == [("b2",)]
    assert conn.execute("SELECT batch_id, count(*) FROM quarantined_rows GROUP BY ALL").fetchall() == [("b1", 4)]
    assert events(conn, "2") == [("application_review", "in_progress", "03-01 09:00"),
                                 ("application_review", "passed", "03-06 09:00"),
                                 ("hiring_committee", "in_progress", "03-06 09:00"),
                                 ("hiring_committee", "failed", "03-09 09:00")]
    build_all(conn, after, comments=False)
    # hiring committee: 1 passed (moved on to Offer at 03-25; Team Matching -> Reference Check is backward in
    # the catalog, which the marts flag), 2 failed
    rates = pass_rates(conn, "ml_engineer")
    assert rates["hiring_committee"] == (2, 1, 1, 0, 0, 0)
    assert rates["offer"] == (1, 0, 0, 0, 1, 0)
    # a third run, nothing changed: nothing derived
    assert ingest_source(conn, folder, "greenhouse", after, "b3").status == "unchanged"


def test_a_resync_of_the_same_tables_adds_nothing(tmp_path):
    apps = [app(1), app(2, status="rejected", rejected_reason_id=101)]
    history = [hist(1, "03-01 09:00", 50011), hist(1, "03-04 09:00", 50012),
               hist(2, "03-01 09:00", 50011), hist(2, "03-02 09:00", status="rejected")]
    folder = write_tables(tmp_path / "greenhouse", apps, history)
    config = gh_config()
    conn = warehouse(config)
    assert ingest_source(conn, folder, "greenhouse", config, "b1").status == "derived"
    held = conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone()
    assert held == (5,)
    assert ingest_source(conn, folder, "greenhouse", config, "b2").status == "unchanged"
    # the same bytes written again (a sync that rewrote every file): new mtimes, same contents
    for path in folder.iterdir():
        data = path.read_bytes()
        path.write_bytes(data)
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert ingest_source(conn, folder, "greenhouse", config, "b3").status == "unchanged"
    # re-exported with a row repeated (an overlapping incremental sync): derived again, nothing added
    write_csv(folder / "application_history.csv", history + [history[1]], HISTORY_COLUMNS)
    result = ingest_source(conn, folder, "greenhouse", config, "b4")
    assert result.status == "derived"
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone() == held
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone() == (0,)
    assert files(conn)["application_history.csv"] == (5, 4, 1, 0, 0)
    assert_every_row_counted(conn)


def test_a_row_rewritten_in_place_conflicts_until_a_full_refresh(tmp_path):
    apps = [app(1, status="rejected", rejected_reason_id=101)]
    history = [hist(1, "03-01 09:00", 50011), hist(1, "03-04 09:00", 50012), hist(1, "03-06 09:00", status="rejected")]
    folder = write_tables(tmp_path / "greenhouse", apps, history)
    config = gh_config()
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    assert events(conn, "1")[-1] == ("recruiter_screen", "failed", "03-06 09:00")
    # The recruiter corrects the reason to "Candidate withdrew"; the connector updates the row in place.
    write_csv(folder / "application.csv", [app(1, status="rejected", rejected_reason_id=102)[0]], APP_COLUMNS)
    result = ingest_source(conn, folder, "greenhouse", config, "b2")
    # the rejection's id comes again with other content: quarantined, the first one kept; the other three
    # events are duplicates of themselves
    assert result.feeds["stage_outcomes"].quarantined_by_reason == {"conflicting_duplicate": 1}
    assert events(conn, "1")[-1] == ("recruiter_screen", "failed", "03-06 09:00")
    assert files(conn)["application_history.csv"] == (3, 2, 0, 1, 0)
    # `funnel run --full-refresh` starts from an empty working database: derived anew, the correction holds
    fresh = warehouse(config)
    ingest_source(fresh, folder, "greenhouse", config, "b3")
    assert events(fresh, "1")[-1] == ("recruiter_screen", "withdrew", "03-06 09:00")


def test_a_table_in_a_folder_of_parts(tmp_path):
    apps = [app(1), app(2)]
    history = [hist(1, "03-01 09:00", 50011), hist(1, "03-04 09:00", 50012), hist(2, "03-01 09:00", 50011),
               hist(2, "03-03 09:00", 50013), hist(1, "03-08 09:00", 50014)]
    single = write_tables(tmp_path / "single" / "greenhouse", apps, history)
    parts = write_tables(tmp_path / "parts" / "greenhouse", apps, [])
    (parts / "application_history.csv").unlink()
    # one part as CSV, the other as Parquet with typed timestamps; 1's rows are split across the two
    write_csv(parts / "application_history" / "part-0001.csv", history[:3], HISTORY_COLUMNS)
    pl.DataFrame({
        "application_id": [2, 1], "updated_at": [datetime(2024, 3, 3, 9), datetime(2024, 3, 8, 9)],
        "new_stage_id": [50013, 50014], "new_status": ["active", "active"],
    }).write_parquet(parts / "application_history" / "part-0002.parquet")
    config = gh_config()
    got = {}
    for name, folder in (("single", single), ("parts", parts)):
        conn = warehouse(config)
        ingest_source(conn, folder, "greenhouse", config, "b1")
        got[name] = (events(conn, "1"), events(conn, "2"))
        if name == "parts":
            assert {p: f for p, f in files(conn).items() if p.startswith("application_history")} == {
                "application_history/part-0001.csv": (3, 3, 0, 0, 0),
                "application_history/part-0002.parquet": (2, 2, 0, 0, 0)}
            # the instant is spelled one way in an event id, whatever the file's format
            assert conn.execute("SELECT record_id FROM stage_outcome_records WHERE source_file LIKE '%.parquet'"
                                " ORDER BY 1").fetchall() == [
                ("greenhouse:application_history:1:2024-03-08T09:00:00.000000Z:active:50014:in_progress",),
                ("greenhouse:application_history:1:2024-03-08T09:00:00.000000Z:active:50014:passed",),
                ("greenhouse:application_history:2:2024-03-03T09:00:00.000000Z:active:50013:in_progress",),
                ("greenhouse:application_history:2:2024-03-03T09:00:00.000000Z:active:50013:passed",)]
        conn.close()
    assert got["single"] == got["parts"]
    assert got["parts"][0] == [("application_review", "in_progress", "03-01 09:00"),
                               ("application_review", "passed", "03-04 09:00"),
                               ("recruiter_screen", "in_progress", "03-04 09:00"),
                               ("recruiter_screen", "passed", "03-08 09:00"), ("onsite", "in_progress", "03-08 09:00")]


def test_a_missing_table_derives_nothing_and_says_why(tmp_path):
    folder = write_tables(tmp_path / "greenhouse", [app(1)], [hist(1, "03-01 09:00", 50011)])
    (folder / "job_stage.csv").unlink()
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert (result.status, result.problem) == ("incomplete", "no job_stage table")
    assert conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone() == (0,)


# ---------------------------------------------------------------------------------------------
# Self-identification: the eeoc table, into the demographics feed

EEOC_COLUMNS = ["application_id", "gender_description", "race_description", "veteran_status_description",
                "disability_status_description", "submitted_at", "_fivetran_deleted"]
NOT_VET, VET = "I am not a protected veteran", "I identify as one or more of the classifications of protected veteran"
DECLINED = "I don't wish to answer"


def eeoc(application, gender="", race="", veteran="", disability="", at="2024-03-01 09:05:00.000",
         deleted="false") -> dict:
    """An eeoc row, as Fivetran syncs it: one application's answers."""
    return {"application_id": application, "gender_description": gender, "race_description": race,
            "veteran_status_description": veteran, "disability_status_description": disability, "submitted_at": at,
            "_fivetran_deleted": deleted}


def responses(conn) -> list[tuple]:
    return conn.execute(
        "SELECT candidate_id, sex, race_ethnicity, veteran_status, disability_status, strftime(collected_at, '%m-%d %H:%M'),"
        " source_file, source_line FROM demographic_records ORDER BY source_line").fetchall()


def with_eeoc(folder: Path, rows: list[dict], apps: list[tuple[dict, dict]], **tables) -> Path:
    """landing/greenhouse/ with these applications (each at Application Review) and eeoc rows."""
    write_tables(folder, apps, [hist(a["id"], "03-01 09:00", 50011) for a, _ in apps], **tables)
    write_csv(folder / "eeoc.csv", rows, EEOC_COLUMNS)
    return folder


def test_eeoc_wordings_become_the_contracts_categories(tmp_path):
    rows = [
        eeoc(1, "Male", "White", NOT_VET,
             "No, I don't have a disability, or a history/record of having a disability"),
        eeoc(2, "Female", "Asian", VET, "Yes, I have a disability, or have a history/record of having a disability"),
        eeoc(3, "Decline To Self Identify", "Black or African American", DECLINED, DECLINED),
        eeoc(4, " FEMALE ", "Hispanic or Latino", VET + " listed above",
             "Yes, I have a disability (or previously had a disability)"),
        eeoc(5, "", "Native Hawaiian or Other Pacific Islander", "",
             "No, I do not have a disability and have not had one in the past"),
        eeoc(6, "Male", "American Indian or Alaskan Native", NOT_VET + ".", "I do not want to answer"),
        eeoc(7, "Male", "Two or More Races", "I identify as one or more of the classifications of a protected veteran",
             "Yes, I have a disability, or have had one in the past"),
        eeoc(8, "Decline To Self Identify", "Decline To Self Identify", "", "", at=""),
    ]
    folder = with_eeoc(tmp_path / "greenhouse", rows, [app(a) for a in range(1, 9)])
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.derived["demographics"] == 8 and result.feeds["demographics"].quarantined_by_reason == {}
    eeoc_file = "greenhouse/eeoc.csv"
    assert responses(conn) == [
        ("c1", "male", "white", "not_protected_veteran", "no", "03-01 09:05", eeoc_file, 2),
        ("c2", "female", "asian", "protected_veteran", "yes", "03-01 09:05", eeoc_file, 3),
        ("c3", None, "black_or_african_american", None, None, "03-01 09:05", eeoc_file, 4),
        ("c4", "female", "hispanic_or_latino", "protected_veteran", "yes", "03-01 09:05", eeoc_file, 5),
        ("c5", None, "native_hawaiian_or_other_pacific_islander", None, "no", "03-01 09:05", eeoc_file, 6),
        ("c6", "male", "american_indian_or_alaska_native", "not_protected_veteran", None, "03-01 09:05", eeoc_file, 7),
        ("c7", "male", "two_or_more_races", "protected_veteran", "yes", "03-01 09:05", eeoc_file, 8),
        ("c8", None, None, None, None, None, eeoc_file, 9),  # declined everything, no submitted_at: kept, unknown
    ]
    # every eeoc row is one table row of the ATS's accounting, counted once
    assert files(conn)["eeoc.csv"] == (8, 8, 0, 0, 0)
    assert conn.execute("SELECT stage_events, interviews, demographics FROM source_derivations").fetchall() == [(8, 0, 8)]
    assert_every_row_counted(conn)


def test_an_eeoc_wording_without_a_mapping_is_quarantined_and_named(tmp_path):
    from funnel.sources.suggest import unmapped

    rows = [eeoc(1, "Female", "Hispanic/Latino", NOT_VET, DECLINED), eeoc(2, "Non-binary", "White"), eeoc(3, "Male")]
    folder = with_eeoc(tmp_path / "greenhouse", rows, [app(1), app(2), app(3)])
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert result.feeds["demographics"].quarantined_by_reason == {"unknown_category": 2}
    assert responses(conn) == [("c3", "male", None, None, None, "03-01 09:05", "greenhouse/eeoc.csv", 4)]
    categories = "female, male, another; nor unknown: decline_to_self_identify, i_don_t_wish_to_answer, unknown or empty"
    races = ("hispanic_or_latino, white, black_or_african_american, asian, native_hawaiian_or_other_pacific_islander, "
             "american_indian_or_alaska_native, two_or_more_races; nor unknown: decline_to_self_identify, "
             "i_don_t_wish_to_answer, unknown or empty")
    assert conn.execute("SELECT feed, source_file, source_line, reason, detail FROM quarantined_rows"
                        " ORDER BY source_line").fetchall() == [
        ("demographics", "greenhouse/eeoc.csv", 2, "unknown_category",
         f"race_ethnicity 'Hispanic/Latino' (normalized: 'hispanic_latino') is not one of: {races}"
         " (greenhouse eeoc of application 1)"),
        ("demographics", "greenhouse/eeoc.csv", 3, "unknown_category",
         f"sex 'Non-binary' (normalized: 'non_binary') is not one of: {categories} (greenhouse eeoc of application 2)"),
    ]
    assert files(conn)["eeoc.csv"] == (3, 1, 0, 2, 0)
    # `funnel validate landing/greenhouse` lists them with the other problems (its user runs the pipeline)
    missing, problems = unmapped("greenhouse", folder, config)
    assert missing == []
    assert [(Path(f).name, line, reason) for f, line, reason, _ in problems] == [
        ("eeoc.csv", 2, "unknown_category"), ("eeoc.csv", 3, "unknown_category")]


def test_eeoc_rows_take_the_merged_candidate_and_leave_out_deleted_rows_and_excluded_applications(tmp_path):
    # 1's candidate 301 was merged into 302; 2 is a prospect, 3 deleted; 4's eeoc row is deleted; 5 has two
    # rows (an earlier sync's and the current one: the last read counts); 9 is not in the application table
    apps = [app(1, candidate=301), app(2, prospect="true"), app(3, _fivetran_deleted="true"), app(4), app(5)]
    rows = [eeoc(1, "Female", "Asian", at="2024-03-02 10:00:00.000"), eeoc(2, "Male"), eeoc(3, "Male"),
            eeoc(4, "Male", deleted="true"), eeoc(5, "Male", "White"), eeoc(5, "Male", "Asian"), eeoc(9, "Female")]
    candidates = [{"id": 301, "new_candidate_id": 302}, {"id": 302, "new_candidate_id": None}]
    folder = with_eeoc(tmp_path / "greenhouse", rows, apps, candidate=candidates)
    config = gh_config()
    conn = warehouse(config)
    result = ingest_source(conn, folder, "greenhouse", config, "b1")
    assert responses(conn) == [
        ("302", "female", "asian", None, None, "03-02 10:00", "greenhouse/eeoc.csv", 2),
        ("c5", "male", "asian", None, None, "03-01 09:05", "greenhouse/eeoc.csv", 7),
    ]
    # prospect 2: application, job_application, history and eeoc rows; deleted: 3's four, and 4's eeoc row
    assert result.excluded == {"deleted": 5, "prospect": 4}
    assert result.derived["demographics"] == 3
    assert conn.execute("SELECT source_line, reason, detail FROM quarantined_rows").fetchall() == [
        (8, "missing_required", "missing candidate_id (greenhouse eeoc of application 9 (not in the application table))")]
    # 5's first row is read and superseded (accepted, as a job or stage row is)
    assert files(conn)["eeoc.csv"] == (7, 3, 0, 1, 3)
    assert_every_row_counted(conn)


def test_a_resync_of_the_eeoc_table_adds_nothing(tmp_path):
    rows = [eeoc(1, "Female", "Asian", NOT_VET), eeoc(2, "Male", "White", VET)]
    folder = with_eeoc(tmp_path / "greenhouse", rows, [app(1), app(2)])
    config = gh_config()
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    held = responses(conn)
    assert [r[:5] for r in held] == [("c1", "female", "asian", "not_protected_veteran", None),
                                     ("c2", "male", "white", "protected_veteran", None)]
    assert ingest_source(conn, folder, "greenhouse", config, "b2").status == "unchanged"
    # re-exported with 1's row repeated last (an overlapping sync): derived again, the response a duplicate
    write_csv(folder / "eeoc.csv", rows + [rows[0]], EEOC_COLUMNS)
    result = ingest_source(conn, folder, "greenhouse", config, "b3")
    assert result.status == "derived" and result.derived["demographics"] == 2
    assert responses(conn) == held
    assert conn.execute("SELECT count(*) FROM quarantined_rows").fetchone() == (0,)
    assert files(conn)["eeoc.csv"] == (3, 2, 1, 0, 0)
    assert_every_row_counted(conn)


def test_eeoc_answers_reach_adverse_impact_as_groups(tmp_path):
    # Application Review: 1, 2, 4, 5 and 6 pass (moved on to the phone screen), 3 is rejected there. 4's
    # candidate was merged into 1's, whose only answers are 4's; 6's eeoc row is deleted: unknown.
    apps = [app(1, candidate=301), app(2, candidate=302), app(3, candidate=303, status="rejected", rejected_reason_id=101),
            app(4, candidate=304), app(5, candidate=305), app(6, candidate=306)]
    history = [hist(a, "03-01 09:00", 50011) for a in range(1, 7)]
    history += [hist(a, "03-05 09:00", 50012) for a in (1, 2, 4, 5, 6)] + [hist(3, "03-05 09:00", status="rejected")]
    rows = [eeoc(2, "Female", "Black or African American"), eeoc(3, "Male", "White"), eeoc(4, "Female", "Asian"),
            eeoc(5, "Decline To Self Identify", "Two or More Races"), eeoc(6, "Male", "White", deleted="true")]
    candidates = [{"id": 304, "new_candidate_id": 301}]
    folder = write_tables(tmp_path / "greenhouse", apps, history, candidate=candidates)
    write_csv(folder / "eeoc.csv", rows, EEOC_COLUMNS)
    config = gh_config(fairness={"min_group_size": 1, "min_group_share": 0})
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    build_all(conn, config, comments=False)
    got = conn.execute(
        "SELECT dimension, group_name, applicants, selected, is_reference, impact_ratio, suppressed FROM adverse_impact"
        " WHERE role = 'ml_engineer' AND step = 'application_review' AND dimension IN ('sex', 'race_ethnicity')"
        " ORDER BY dimension DESC, group_name = 'unknown', group_name").fetchall()
    assert got == [
        ("sex", "female", 3, 3, True, 1.0, False),  # 1 (as 301, with 4's answers), 2 and 4
        ("sex", "male", 1, 0, False, 0.0, False),  # 3
        ("sex", "unknown", 2, 2, False, None, False),  # 5 declined, 6's row deleted
        ("race_ethnicity", "asian", 2, 2, True, 1.0, False),
        ("race_ethnicity", "black_or_african_american", 1, 1, False, 1.0, False),
        ("race_ethnicity", "two_or_more_races", 1, 1, False, 1.0, False),
        ("race_ethnicity", "white", 1, 0, False, 0.0, False),
        ("race_ethnicity", "unknown", 1, 1, False, None, False),
    ]


def test_a_working_database_from_before_the_demographics_column_gets_it(tmp_path):
    # source_derivations as an earlier version made it: no demographics column, one derivation recorded
    conn = connect(":memory:")
    conn.execute("CREATE TABLE source_derivations (source VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,"
                 " batch_id VARCHAR NOT NULL, derived_at TIMESTAMP NOT NULL, stage_events BIGINT NOT NULL,"
                 " interviews BIGINT NOT NULL, excluded JSON NOT NULL, notes JSON NOT NULL)")
    conn.execute("INSERT INTO source_derivations VALUES ('lever', 'f0', 'b0', TIMESTAMP '2024-01-01', 5, 1, '{}', '{}')")
    config = gh_config()
    create_schema(conn)
    write_config_tables(conn, config)
    install_key(conn, SECRET)
    folder = with_eeoc(tmp_path / "greenhouse", [eeoc(1, "Female")], [app(1)])
    assert ingest_source(conn, folder, "greenhouse", config, "b1").status == "derived"
    assert conn.execute("SELECT source, stage_events, interviews, demographics FROM source_derivations"
                        " ORDER BY derived_at").fetchall() == [("lever", 5, 1, None), ("greenhouse", 1, 0, 1)]
    create_schema(conn)  # the next run's: nothing more to add
    assert [c for (c,) in conn.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'source_derivations'"
                                       " ORDER BY column_index").fetchall()][-2:] == ["notes", "demographics"]


def test_the_quarantine_check_of_the_ats_shows_no_response_detail(tmp_path):
    from funnel.quality.sql_checks import quarantine_share

    # one event quarantined (Reference Check is unmapped), one response (an answer no category fits)
    folder = write_tables(tmp_path / "greenhouse", [app(1), app(2)],
                          [hist(1, "03-01 09:00", 50017), hist(2, "03-01 09:00", 50011)])
    write_csv(folder / "eeoc.csv", [eeoc(2, "Non-binary")], EEOC_COLUMNS)
    config = gh_config()
    conn = warehouse(config)
    ingest_source(conn, folder, "greenhouse", config, "b1")
    check = quarantine_share(conn, "greenhouse")
    assert check.metrics["quarantined_by_reason"] == {"unknown_category": 1, "unknown_stage": 1}
    assert [(e["source_file"], e["source_line"], e["reason"]) for e in check.examples] == [
        ("greenhouse/application_history.csv", 2, "unknown_stage"), ("greenhouse/eeoc.csv", 2, "unknown_category")]
    assert check.examples[0]["detail"].startswith("stage 'reference check' is not one of:")
    assert check.examples[1]["detail"] is None
    assert "Non-binary" not in repr(check) and "non_binary" not in repr(check)


# ---------------------------------------------------------------------------------------------
# The synthetic funnel in Greenhouse's shape


def _clean(landing: Path, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accepted records of a generated contract folder, as the contract's columns."""
    conn = warehouse(config)
    for feed in (STAGE_OUTCOMES, INTERVIEWS):
        ingest_feed(conn, landing / feed.name, feed, config, "g")
    events_ = conn.sql("SELECT record_id AS event_id, application_id, candidate_id, role, stage, outcome, occurred_at,"
                       " team, source, level, requires_travel FROM stage_outcome_records"
                       " ORDER BY source_file, source_line").pl()
    interviews = conn.sql("SELECT record_id AS interview_id, application_id, stage, interviewer_id, skill,"
                          " recommendation, occurred_at FROM interview_records ORDER BY source_file, source_line").pl()
    conn.close()
    return events_, interviews


def _marts(conn) -> dict[str, pl.DataFrame]:
    return {m: conn.sql(f"SELECT * FROM {m}").pl()
            for m in ("stage_pass_rates", "skipped_stages", "team_matching_dropoff")}


def test_the_greenhouse_shape_publishes_the_same_marts_as_contract_files(tmp_path):
    base = default_config()
    # seed 35: explicit skips, applications without history, passes with nothing after them
    generate(tmp_path / "contract", 150, 35, base)
    clean, interviews = _clean(tmp_path / "contract", base)
    folder = tmp_path / "landing" / "greenhouse"
    block = shape.write_tables(folder, clean, interviews, base)
    config = gh_config(block)  # the returned block is a valid one

    # Greenhouse's side: its tables, derived
    gh = warehouse(config)
    result = ingest_source(gh, folder, "greenhouse", config, "b1")
    assert result.status == "derived"
    assert result.notes["derived without history"] > 0 and result.notes["merged candidates"] > 0
    assert set(result.excluded) == {"converted", "deleted", "prospect"}
    # the applications at the unmapped stage, and only they, are quarantined
    assert gh.execute("SELECT DISTINCT reason FROM quarantined_rows").fetchall() == [("unknown_stage",)]
    assert_every_row_counted(gh)
    build_all(gh, config, comments=False)

    # the contract's side: the same funnel as Greenhouse can express it, as contract files
    expressed = shape.expressible(clean, config)
    write_csv(tmp_path / "expressed" / "stage_outcomes" / "events.csv", expressed.to_dicts(), list(expressed.columns))
    contract = warehouse(config)
    ingest_feed(contract, tmp_path / "expressed" / "stage_outcomes", STAGE_OUTCOMES, config, "c1")
    build_all(contract, config, comments=False)
    for mart, frame in _marts(contract).items():
        assert frame.height > 0
        assert frame.equals(_marts(gh)[mart]), mart

    # What Greenhouse cannot express, against the clean contract funnel itself: explicit skips (implied
    # instead, the same total), and a pass with nothing after it (the application moves to the next stage
    # of its pipeline: one more entered and in_progress there). Decisions are the same.
    raw = warehouse(config)
    write_csv(tmp_path / "raw" / "stage_outcomes" / "events.csv",
              clean.with_columns(pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dicts(), list(clean.columns))
    ingest_feed(raw, tmp_path / "raw" / "stage_outcomes", STAGE_OUTCOMES, config, "r1")
    build_all(raw, config, comments=False)
    keys = ["role", "stage"]
    same = ["passed", "failed", "withdrew", "skipped", "pass_rate"]
    x = raw.sql("SELECT * FROM stage_pass_rates").pl()
    y = gh.sql("SELECT * FROM stage_pass_rates").pl()
    assert x.select(keys + same).equals(y.select(keys + same))
    assert clean.filter(pl.col("outcome") == "skipped").height == x["skipped_explicit"].sum() > 0
    assert y["skipped_explicit"].sum() == 0
    last = clean.sort("occurred_at").group_by("application_id").agg(pl.col("stage", "outcome", "role").last())
    hanging = last.filter((pl.col("outcome") == "passed") & (pl.col("stage") != "offer"))
    assert hanging.height > 0
    assert (y["entered"] - x["entered"]).sum() == hanging.height == (y["in_progress"] - x["in_progress"]).sum()
