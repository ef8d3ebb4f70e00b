"""loop_skill_coverage(_summary), interviewer_calibration and travel_vetting; numbers by hand."""

import pytest

import dataclasses

from funnel.build import build_all
from funnel.quality import sql_checks
from funnel.quality.validation import validate_mart
from funnel.warehouse import write_config_tables

try:
    from funnel_tests.marts_fixtures import build, interview, key, one, outcome, rows, small_config
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import build, interview, key, one, outcome, rows, small_config

approx = pytest.approx


def loop_records():
    outcomes = [
        outcome("L1-ts", "L1", "swe", "technical_screen", "passed", "2024-03-05 09:00"),
        outcome("L1-on", "L1", "swe", "onsite", "passed", "2024-03-21 09:00"),
        outcome("L2-on", "L2", "swe", "onsite", "failed", "2024-03-21 09:00"),
        outcome("L3-on", "L3", "swe", "onsite", "in_progress", "2024-03-19 09:00"),
        outcome("L4-on", "L4", "ds", "onsite", "passed", "2024-03-21 09:00"),
    ]
    interviews = [
        # L1 (swe: behavioral, coding, system_design): every skill once
        interview("i1", "L1", "alice", "coding", "yes"),
        interview("i2", "L1", "bob", "system_design", "strong_yes"),
        interview("i3", "L1", "carol", "behavioral", "yes"),
        interview("i4", "L1", "alice", "coding", "yes", stage="technical_screen", when="2024-03-04 10:00"),
        # L2: coding twice (two interviewers), system_design missing
        interview("i5", "L2", "alice", "coding", "no"),
        interview("i6", "L2", "bob", "coding", "no"),
        interview("i7", "L2", "carol", "behavioral", "yes"),
        # L3: one interviewer, coding plus a skill no role requires
        interview("i8", "L3", "dave", "coding", "yes", when="2024-03-20 10:00"),
        interview("i9", "L3", "dave", "communication", "yes", when="2024-03-20 11:00"),
        # L4 (ds: coding, statistics): covered
        interview("i10", "L4", "alice", "coding", "strong_yes"),
        interview("i11", "L4", "erin", "statistics", "no_decision"),
        # an application with no stage-outcome record
        interview("i12", "ghost", "frank", "coding", "yes"),
    ]
    return outcomes, interviews


def test_loop_skill_coverage_per_loop():
    outcomes, interviews = loop_records()
    conn = build(outcomes, interviews)
    assert len(rows(conn, "loop_skill_coverage")) == 5  # L1-L4 and ghost; technical_screen interviews are no loop
    l1 = one(conn, "loop_skill_coverage", application_key=key("L1"))
    assert (l1["role"], l1["interviews"], l1["interviewers"]) == ("swe", 3, 3)
    assert l1["skills_required"] == ["behavioral", "coding", "system_design"]
    assert l1["skills_covered"] == ["behavioral", "coding", "system_design"]
    assert (l1["skills_missing"], l1["skills_doubled"], l1["fully_covered"]) == ([], [], True)
    assert l1["onsite_outcome"] == "passed"
    l2 = one(conn, "loop_skill_coverage", application_key=key("L2"))
    assert (l2["interviews"], l2["interviewers"]) == (3, 3)
    assert l2["skills_covered"] == ["behavioral", "coding"]
    assert (l2["skills_missing"], l2["skills_missing_count"]) == (["system_design"], 1)
    assert (l2["skills_doubled"], l2["skills_doubled_count"]) == (["coding"], 1)
    assert l2["fully_covered"] is False
    l3 = one(conn, "loop_skill_coverage", application_key=key("L3"))
    assert (l3["interviews"], l3["interviewers"]) == (2, 1)
    assert l3["skills_covered"] == ["coding", "communication"]
    assert l3["skills_missing"] == ["behavioral", "system_design"]
    assert l3["skills_doubled"] == [] and l3["fully_covered"] is False
    l4 = one(conn, "loop_skill_coverage", application_key=key("L4"))
    assert (l4["role"], l4["skills_missing"], l4["fully_covered"]) == ("ds", [], True)
    ghost = one(conn, "loop_skill_coverage", application_key=key("ghost"))
    assert ghost["role"] is None and ghost["skills_missing"] is None and ghost["fully_covered"] is None


def test_loop_skill_coverage_summary():
    outcomes, interviews = loop_records()
    conn = build(outcomes, interviews)
    summary = rows(conn, "loop_skill_coverage_summary")
    assert [r["role"] for r in summary] == ["ds", "swe", None]
    ds, swe, unknown = summary
    assert (ds["loops"], ds["fully_covered"], ds["fully_covered_rate"]) == (1, 1, 1.0)
    assert ds["most_often_missing_skill"] is None and ds["most_often_missing_loops"] == 0
    assert (swe["loops"], swe["fully_covered"]) == (3, 1)
    assert swe["fully_covered_rate"] == approx(1 / 3)
    # system_design is missing from L2 and L3, behavioral from L3 only
    assert (swe["most_often_missing_skill"], swe["most_often_missing_loops"]) == ("system_design", 2)
    assert swe["loops_with_doubled_skill"] == 1
    assert swe["mean_interviewers"] == approx(7 / 3)  # L1 3, L2 3, L3 1 interviewers
    assert (unknown["loops"], unknown["fully_covered"], unknown["fully_covered_rate"]) == (1, 0, None)


def test_most_often_missing_skill_ties_go_to_the_first_name():
    conn = build(
        [outcome("x-on", "x", "swe", "onsite", "passed", "2024-03-21 09:00"),
         outcome("y-on", "y", "swe", "onsite", "passed", "2024-03-21 09:00")],
        [interview("j1", "x", "amy", "behavioral", "yes"), interview("j2", "x", "amy", "system_design", "yes"),
         interview("j3", "y", "amy", "behavioral", "yes"), interview("j4", "y", "amy", "coding", "yes")],
    )
    row = one(conn, "loop_skill_coverage_summary", role="swe")
    # x misses coding, y misses system_design: one loop each
    assert (row["most_often_missing_skill"], row["most_often_missing_loops"]) == ("coding", 1)


def test_interviewer_calibration():
    outcomes, interviews = loop_records()
    conn = build(outcomes, interviews)
    assert [r["interviewer_id"] for r in rows(conn, "interviewer_calibration")] == [
        "alice", "bob", "carol", "dave", "erin", "frank"
    ]
    alice = one(conn, "interviewer_calibration", interviewer_id="alice")
    # yes (L1 onsite passed), yes (L1 technical_screen passed), no (L2 failed), strong_yes (L4 passed)
    assert (alice["interviews"], alice["applications"]) == (4, 3)
    assert (alice["strong_yes"], alice["yes"], alice["no"], alice["strong_no"], alice["no_decision"]) == (1, 2, 1, 0, 0)
    assert alice["yes_share"] == approx(0.75)
    assert (alice["compared"], alice["agreed"], alice["agreement_rate"]) == (4, 4, 1.0)
    carol = one(conn, "interviewer_calibration", interviewer_id="carol")
    # yes on L1 (passed: agrees), yes on L2 (failed: disagrees)
    assert (carol["interviews"], carol["yes_share"], carol["compared"], carol["agreed"]) == (2, 1.0, 2, 1)
    assert carol["agreement_rate"] == approx(0.5)
    assert carol["agreement_rate_low"] == approx(0.0945, abs=1e-4)
    assert carol["agreement_rate_high"] == approx(0.9055, abs=1e-4)
    bob = one(conn, "interviewer_calibration", interviewer_id="bob")
    assert (bob["interviews"], bob["yes_share"], bob["compared"], bob["agreed"]) == (2, 0.5, 2, 2)
    # L3's onsite is undecided: nothing to compare
    dave = one(conn, "interviewer_calibration", interviewer_id="dave")
    assert (dave["interviews"], dave["yes_share"], dave["compared"], dave["agreement_rate"]) == (2, 1.0, 0, None)
    erin = one(conn, "interviewer_calibration", interviewer_id="erin")
    assert (erin["no_decision"], erin["yes_share"], erin["compared"]) == (1, 0.0, 0)
    frank = one(conn, "interviewer_calibration", interviewer_id="frank")
    assert (frank["interviews"], frank["compared"], frank["agreement_rate_low"]) == (1, 0, None)


def test_pseudonymize_interviewers_publishes_keyed_interviewer_ids_with_the_same_numbers():
    outcomes, interviews = loop_records()
    conn = build(outcomes, interviews)
    plain = {r["interviewer_id"]: r for r in rows(conn, "interviewer_calibration")}
    assert sql_checks.reconcile(conn, "interviewer_calibration").passed

    # the setting changes the config tables; the next build publishes keyed ids
    write_config_tables(conn, dataclasses.replace(small_config(), pseudonymize_interviewers=True))
    build_all(conn, only=["interviewer_calibration"])
    keyed = rows(conn, "interviewer_calibration")
    assert [r["interviewer_id"] for r in keyed] == sorted(key(name) for name in plain)  # ordered by the key
    for name, row in plain.items():
        assert one(conn, "interviewer_calibration", interviewer_id=key(name)) == {**row, "interviewer_id": key(name)}
    assert not set(plain) & {r["interviewer_id"] for r in keyed}
    # the checks on the mart hold under the setting
    assert sql_checks.reconcile(conn, "interviewer_calibration").passed
    assert validate_mart(conn, "interviewer_calibration", engine="duckdb").success
    # the loops keep counting distinct interviewers, and never publish their ids
    assert one(conn, "loop_skill_coverage", application_key=key("L1"))["interviewers"] == 3

    # and switching it off again takes effect on the next build too
    write_config_tables(conn, small_config())
    build_all(conn, only=["interviewer_calibration"])
    assert {r["interviewer_id"] for r in rows(conn, "interviewer_calibration")} == set(plain)


def test_travel_vetting():
    records = [
        # t1: latest non-null requires_travel is true (3 Mar); 3 stages before onsite; onsite passed
        outcome("t1-ar", "t1", "swe", "application_review", "passed", "2024-03-01 09:00", requires_travel=False),
        outcome("t1-rs", "t1", "swe", "recruiter_screen", "passed", "2024-03-03 09:00", requires_travel=True),
        outcome("t1-ts", "t1", "swe", "technical_screen", "passed", "2024-03-05 09:00"),
        outcome("t1-on", "t1", "swe", "onsite", "passed", "2024-03-10 09:00"),
        # t2: travel; application_review, technical_screen and (off-pipeline) take_home: 3; onsite failed
        outcome("t2-ar", "t2", "swe", "application_review", "passed", "2024-03-01 09:00", requires_travel=True),
        outcome("t2-ts", "t2", "swe", "technical_screen", "passed", "2024-03-03 09:00"),
        outcome("t2-th", "t2", "swe", "take_home", "passed", "2024-03-05 09:00"),
        outcome("t2-on", "t2", "swe", "onsite", "failed", "2024-03-10 09:00"),
        # t3: no travel; only the recruiter screen before onsite: 1; onsite passed
        outcome("t3-rs", "t3", "swe", "recruiter_screen", "passed", "2024-03-01 09:00", requires_travel=False),
        outcome("t3-on", "t3", "swe", "onsite", "passed", "2024-03-10 09:00"),
        # t4: no travel, rejected at review
        outcome("t4-ar", "t4", "swe", "application_review", "failed", "2024-03-01 09:00", requires_travel=False),
        # t5: unknown; 1 stage before an onsite still in progress
        outcome("t5-ar", "t5", "swe", "application_review", "passed", "2024-03-01 09:00"),
        outcome("t5-on", "t5", "swe", "onsite", "in_progress", "2024-03-10 09:00"),
    ]
    conn = build(records)
    got = rows(conn, "travel_vetting")
    assert [(r["role"], r["requires_travel"]) for r in got] == [("swe", "true"), ("swe", "false"), ("swe", "unknown")]
    travel, local, unknown = got
    assert (travel["applications"], travel["reached_onsite"], travel["mean_stages_before_onsite"]) == (2, 2, 3.0)
    assert (travel["onsite_passed"], travel["onsite_failed"], travel["onsite_pass_rate"]) == (1, 1, 0.5)
    assert travel["reached_onsite_rate"] == 1.0
    assert (local["applications"], local["reached_onsite"], local["mean_stages_before_onsite"]) == (2, 1, 1.0)
    assert (local["onsite_passed"], local["onsite_failed"], local["onsite_pass_rate"]) == (1, 0, 1.0)
    assert local["reached_onsite_rate"] == 0.5
    assert (unknown["applications"], unknown["reached_onsite"], unknown["mean_stages_before_onsite"]) == (1, 1, 1.0)
    assert unknown["onsite_pass_rate"] is None and unknown["onsite_pass_rate_low"] is None
