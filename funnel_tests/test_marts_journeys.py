"""application_journeys and skipped_stages (fast-tracking) on hand-built fixtures."""

import hashlib
from datetime import date

import pytest

try:
    from funnel_tests.marts_fixtures import (TEST_KEY_SECRET, STAGES, build, insert_outcomes, interview, key,
                                             new_warehouse, one, outcome, rows)
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import (TEST_KEY_SECRET, STAGES, build, insert_outcomes, interview, key, new_warehouse, one,
                                outcome, rows)

from funnel.models import PUBLISHED_MARTS
from funnel.build import build_all
from funnel.config import Config, Role
from funnel.keys import keyed_hash

approx = pytest.approx


def fast_track_records():
    ar, rs, ts, on = "application_review", "recruiter_screen", "technical_screen", "onsite"
    return [
        # f1: recruiter_screen skipped explicitly, technical_screen implied: fast-tracked, onsite passed
        outcome("f1-ar", "f1", "swe", ar, "passed", "2024-03-01 09:00"),
        outcome("f1-rs", "f1", "swe", rs, "skipped", "2024-03-02 09:00"),
        outcome("f1-on", "f1", "swe", on, "passed", "2024-03-10 09:00"),
        # f2: both implied: fast-tracked, onsite failed
        outcome("f2-ar", "f2", "swe", ar, "passed", "2024-03-01 09:00"),
        outcome("f2-on", "f2", "swe", on, "failed", "2024-03-12 09:00"),
        # f3: screened by the recruiter, technical screen skipped: not fast-tracked; hired
        outcome("f3-ar", "f3", "swe", ar, "passed", "2024-03-01 09:00"),
        outcome("f3-rs", "f3", "swe", rs, "passed", "2024-03-03 09:00"),
        outcome("f3-ts", "f3", "swe", ts, "skipped", "2024-03-04 09:00"),
        outcome("f3-on", "f3", "swe", on, "passed", "2024-03-10 09:00"),
        outcome("f3-hc", "f3", "swe", "hiring_committee", "passed", "2024-03-15 09:00"),
        outcome("f3-tm", "f3", "swe", "team_matching", "passed", "2024-03-20 09:00"),
        outcome("f3-of", "f3", "swe", "offer", "passed", "2024-03-25 09:00"),
        # f4: every stage: not fast-tracked, onsite passed
        outcome("f4-ar", "f4", "swe", ar, "passed", "2024-03-01 09:00"),
        outcome("f4-rs", "f4", "swe", rs, "passed", "2024-03-03 09:00"),
        outcome("f4-ts", "f4", "swe", ts, "passed", "2024-03-05 09:00"),
        outcome("f4-on", "f4", "swe", on, "passed", "2024-03-10 09:00"),
        # f5: straight into the onsite (the first stage is implied skipped too): fast-tracked
        outcome("f5-on", "f5", "swe", on, "in_progress", "2024-03-10 09:00", requires_travel=True),
        # f6: waiting after the recruiter screen
        outcome("f6-ar", "f6", "swe", ar, "passed", "2024-03-01 09:00"),
        outcome("f6-rs", "f6", "swe", rs, "passed", "2024-03-03 09:00"),
        # f7: withdrew at review
        outcome("f7-ar", "f7", "swe", ar, "withdrew", "2024-03-01 09:00"),
    ]


def test_skipped_stages_and_how_skippers_fared():
    conn = build(fast_track_records())
    got = {r["stage"]: r for r in rows(conn, "skipped_stages", "role = 'swe'")}
    assert list(got) == ["application_review", "recruiter_screen", "technical_screen", "onsite",
                         "hiring_committee", "team_matching", "offer"]
    review = got["application_review"]
    assert (review["applications"], review["entered"], review["skipped_explicit"], review["skipped_implied"],
            review["skipped"]) == (7, 6, 0, 1, 1)
    assert review["skip_rate"] == approx(1 / 7)
    screen = got["recruiter_screen"]
    # entered f3 f4 f6; explicit f1; implied f2 f5
    assert (screen["entered"], screen["skipped_explicit"], screen["skipped_implied"], screen["skipped"]) == (3, 1, 2, 3)
    assert screen["skip_rate"] == approx(0.5)
    assert (screen["skippers_entered_onsite"], screen["skippers_onsite_passed"], screen["skippers_onsite_failed"]) == (3, 1, 1)
    assert screen["skippers_onsite_pass_rate"] == approx(0.5)
    assert (screen["enterers_entered_onsite"], screen["enterers_onsite_passed"], screen["enterers_onsite_failed"]) == (2, 2, 0)
    assert screen["enterers_onsite_pass_rate"] == approx(1.0)
    assert (screen["skippers_hired"], screen["enterers_hired"]) == (0, 1)
    tech = got["technical_screen"]
    # entered f4; explicit f3; implied f1 f2 f5; f6 and f7 not reached
    assert (tech["entered"], tech["skipped_explicit"], tech["skipped_implied"], tech["skipped"]) == (1, 1, 3, 4)
    assert tech["skip_rate"] == approx(0.8)
    assert (tech["skippers_onsite_passed"], tech["skippers_onsite_failed"]) == (2, 1)  # f1 f3 passed, f2 failed
    assert tech["skippers_onsite_pass_rate"] == approx(2 / 3)
    assert tech["enterers_onsite_pass_rate"] == approx(1.0)
    assert (tech["skippers_hired"], tech["enterers_hired"]) == (1, 0)
    onsite = got["onsite"]
    assert (onsite["entered"], onsite["skipped"], onsite["skip_rate"]) == (5, 0, 0.0)
    assert got["offer"]["skip_rate"] == approx(0.0)  # f3 entered; nobody skipped
    # role level: f1 f2 f5 fast-tracked (onsite passed, failed, in progress); f3 f4 not (both passed)
    for row in got.values():
        assert (row["fast_tracked"], row["fast_tracked_onsite_passed"], row["fast_tracked_onsite_failed"]) == (3, 1, 1)
        assert row["fast_tracked_onsite_pass_rate"] == approx(0.5)
        assert (row["not_fast_tracked_entered_onsite"], row["not_fast_tracked_onsite_passed"]) == (2, 2)
        assert row["not_fast_tracked_onsite_pass_rate"] == approx(1.0)
    # ds has no applications: no rows
    assert rows(conn, "skipped_stages", "role = 'ds'") == []


def test_journeys_fast_tracked_and_statuses():
    conn = build(fast_track_records())
    journeys = {r["application_key"]: r for r in rows(conn, "application_journeys")}
    assert len(journeys) == 7
    f1 = journeys[key("f1")]
    assert (f1["role"], f1["cohort_month"]) == ("swe", date(2024, 3, 1))
    assert f1["stages_entered"] == ["application_review", "onsite"]
    assert (f1["furthest_stage"], f1["final_stage"], f1["final_outcome"], f1["final_status"]) == (
        "onsite", "onsite", "passed", "in_progress")
    assert f1["skipped_stages"] == ["recruiter_screen", "technical_screen"]
    assert f1["skipped_explicit_stages"] == ["recruiter_screen"]
    assert f1["skipped_implied_stages"] == ["technical_screen"]
    assert (f1["fast_tracked"], f1["moved_backward"], f1["has_off_pipeline"]) == (True, False, False)
    assert f1["requires_travel"] is None and f1["records"] == 3
    f2 = journeys[key("f2")]
    assert (f2["fast_tracked"], f2["final_status"]) == (True, "rejected")
    f3 = journeys[key("f3")]
    assert f3["stages_entered"] == ["application_review", "recruiter_screen", "onsite", "hiring_committee",
                                    "team_matching", "offer"]
    assert (f3["final_status"], f3["furthest_stage"], f3["furthest_stage_order"]) == ("hired", "offer", 8)
    assert (f3["skipped_stages"], f3["fast_tracked"]) == (["technical_screen"], False)
    assert journeys[key("f4")]["fast_tracked"] is False
    f5 = journeys[key("f5")]
    assert (f5["fast_tracked"], f5["requires_travel"], f5["stages_entered_count"]) == (True, True, 1)
    assert f5["skipped_stages"] == ["application_review", "recruiter_screen", "technical_screen"]
    f6 = journeys[key("f6")]
    assert (f6["furthest_stage"], f6["final_status"], f6["skipped_stages"], f6["fast_tracked"]) == (
        "recruiter_screen", "in_progress", [], False)
    assert journeys[key("f7")]["final_status"] == "withdrew"


def test_fast_track_needs_a_stage_between_first_and_onsite():
    config = Config(stages=STAGES, roles={"intern": Role("intern", ("application_review", "onsite", "offer"), ("coding",))})
    conn = build([outcome("i1", "i1", "intern", "onsite", "passed", "2024-03-01 09:00")], config=config)
    row = one(conn, "application_journeys", application_key=key("i1"))
    assert row["fast_tracked"] is False
    assert row["skipped_stages"] == ["application_review"]


def test_journeys_flag_off_pipeline_and_backward_moves():
    conn = build([
        outcome("o1-ar", "o1", "swe", "application_review", "passed", "2024-03-01 09:00"),
        outcome("o1-th", "o1", "swe", "take_home", "passed", "2024-03-04 09:00"),
        outcome("o1-on", "o1", "swe", "onsite", "in_progress", "2024-03-08 09:00"),
        outcome("b1", "back", "swe", "technical_screen", "passed", "2024-03-05 09:00"),
        outcome("b2", "back", "swe", "onsite", "in_progress", "2024-03-10 09:00"),
        outcome("b3", "back", "swe", "technical_screen", "in_progress", "2024-03-12 09:00"),
    ])
    o1 = one(conn, "application_journeys", application_key=key("o1"))
    assert o1["stages_entered"] == ["application_review", "take_home", "onsite"]
    assert (o1["off_pipeline_stages"], o1["has_off_pipeline"]) == (["take_home"], True)
    assert o1["skipped_implied_stages"] == ["recruiter_screen", "technical_screen"]
    assert o1["moved_backward"] is False
    back = one(conn, "application_journeys", application_key=key("back"))
    assert back["moved_backward"] is True
    assert (back["final_stage"], back["final_outcome"], back["final_status"]) == ("technical_screen", "in_progress", "in_progress")
    assert back["furthest_stage"] == "onsite"


def test_journeys_are_pseudonymous_and_one_row_per_application():
    conn = build([
        outcome("c1", "app-jan", "swe", "recruiter_screen", "failed", "2024-01-15 09:00", candidate_id="cand-1"),
        outcome("c2", "app-mar", "ds", "recruiter_screen", "passed", "2024-03-02 09:00", candidate_id="cand-1"),
    ])
    journeys = rows(conn, "application_journeys")
    # ordered by role, cohort month, key
    assert [(r["application_key"], r["role"], r["cohort_month"]) for r in journeys] == [
        (key("app-mar"), "ds", date(2024, 3, 1)),
        (key("app-jan"), "swe", date(2024, 1, 1)),
    ]
    assert journeys[1]["final_status"] == "rejected"
    for table in PUBLISHED_MARTS:
        columns = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
        assert not {"application_id", "candidate_id", "record_id"} & set(columns), table
        for row in conn.execute(f"SELECT * FROM {table}").fetchall():
            text = repr(row)
            assert "cand-1" not in text and "app-jan" not in text and "app-mar" not in text, table



def test_application_keys_are_hmacs_under_the_secret_never_plain_hashes_of_the_ids():
    ids = [str(n) for n in range(1, 41)] + ["Ö-17", "申请-9", "a" * 200]  # sequential, as ATS ids often are
    conn = build(
        [outcome(f"r{i}", a, "swe", "onsite", "passed", "2024-03-01 09:00") for i, a in enumerate(ids)],
        [interview(f"i{i}", a, "alice", "coding", "yes") for i, a in enumerate(ids)],
    )
    journeys = [r["application_key"] for r in rows(conn, "application_journeys")]
    loops = [r["application_key"] for r in rows(conn, "loop_skill_coverage")]
    assert sorted(journeys) == sorted(loops) == sorted(keyed_hash(TEST_KEY_SECRET, a) for a in ids)
    guessable = {h(a.encode()).hexdigest() for a in ids for h in (hashlib.sha256, hashlib.md5, hashlib.sha1)} | set(ids)
    assert not guessable & set(journeys)


def test_a_new_secret_changes_every_key_and_nothing_else():
    records = fast_track_records()
    before = build(records)
    after = new_warehouse()
    insert_outcomes(after, records)
    build_all(after, key_secret=b"the replacement secret, after copies were handed out")
    old, new = rows(before, "application_journeys"), rows(after, "application_journeys")
    assert not {r["application_key"] for r in old} & {r["application_key"] for r in new}

    def without_keys(table_rows):
        return sorted((tuple((k, v) for k, v in r.items() if k != "application_key") for r in table_rows), key=repr)

    assert without_keys(old) == without_keys(new)
