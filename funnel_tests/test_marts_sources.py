"""source_effectiveness and source_effectiveness_monthly on hand-built fixtures; expected numbers by hand.

`source_worked_example()` is the worked example of docs/metrics.md ("Sources"); the docs' numbers
are asserted here one by one and, as quoted, by test_docs_source_worked_example_matches_the_fixture.
"""

import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

try:
    from funnel_tests.marts_fixtures import DS_PIPELINE, STAGES, build, counts, one, outcome, rows, small_config
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import DS_PIPELINE, STAGES, build, counts, one, outcome, rows, small_config

from funnel.config import Config, Role
from funnel.metrics import wilson_interval
from funnel.quality import sql_checks
from funnel.quality.validation import validate_mart

approx = pytest.approx
DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"

# The figures of a (role, source), the same on each of its stage rows.
SOURCE_FIGURES = ("applications", "reached_onsite", "onsite_passed", "onsite_failed", "onsite_pass_rate",
                  "offers_extended", "offers_accepted", "offers_declined", "offers_rescinded", "offers_pending",
                  "offer_acceptance_rate", "hired", "hire_rate", "hire_rate_low", "hire_rate_high",
                  "median_days_to_hire")
STAGE_COUNTS = ("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
                "skipped_implied")


def source_worked_example():
    """The worked example of docs/metrics.md: role ds (pipeline application_review → recruiter_screen →
    take_home → onsite → offer), sources referral, job_board and unknown, and one swe application."""
    ref, jb = {"source": "referral"}, {"source": "job_board"}
    return [
        # r1 (referral): every stage, the offer pending then accepted: hired 14 days after its first record
        outcome("r1-ar", "r1", "ds", "application_review", "passed", "2024-03-01 09:00", **ref),
        outcome("r1-rs", "r1", "ds", "recruiter_screen", "passed", "2024-03-03 09:00", **ref),
        outcome("r1-th", "r1", "ds", "take_home", "passed", "2024-03-06 09:00", **ref),
        outcome("r1-on", "r1", "ds", "onsite", "passed", "2024-03-10 09:00", **ref),
        outcome("r1-of1", "r1", "ds", "offer", "in_progress", "2024-03-12 09:00", **ref),
        outcome("r1-of2", "r1", "ds", "offer", "passed", "2024-03-15 09:00", **ref),
        # r2 (referral): fast-tracked from application review to the onsite; hired after 6.5 days
        outcome("r2-ar", "r2", "ds", "application_review", "passed", "2024-03-02 09:00", **ref),
        outcome("r2-on", "r2", "ds", "onsite", "passed", "2024-03-05 09:00", **ref),
        outcome("r2-of", "r2", "ds", "offer", "passed", "2024-03-08 21:00", **ref),
        # r3 (referral): take-home skipped explicitly, failed the onsite
        outcome("r3-ar", "r3", "ds", "application_review", "passed", "2024-03-04 09:00", **ref),
        outcome("r3-rs", "r3", "ds", "recruiter_screen", "passed", "2024-03-05 09:00", **ref),
        outcome("r3-th", "r3", "ds", "take_home", "skipped", "2024-03-06 09:00", **ref),
        outcome("r3-on", "r3", "ds", "onsite", "failed", "2024-03-09 09:00", **ref),
        # r4: job_board on its first record, referral on the next, none on its latest: referral (April cohort)
        outcome("r4-ar", "r4", "ds", "application_review", "passed", "2024-04-01 09:00", **jb),
        outcome("r4-rs", "r4", "ds", "recruiter_screen", "passed", "2024-04-03 09:00", **ref),
        outcome("r4-th", "r4", "ds", "take_home", "in_progress", "2024-04-05 09:00"),
        # j1 (job_board): declined the offer
        outcome("j1-ar", "j1", "ds", "application_review", "passed", "2024-03-01 09:00", **jb),
        outcome("j1-rs", "j1", "ds", "recruiter_screen", "passed", "2024-03-04 09:00", **jb),
        outcome("j1-th", "j1", "ds", "take_home", "passed", "2024-03-08 09:00", **jb),
        outcome("j1-on", "j1", "ds", "onsite", "passed", "2024-03-12 09:00", **jb),
        outcome("j1-of", "j1", "ds", "offer", "withdrew", "2024-03-14 09:00", **jb),
        # j2 (job_board): hired after 10 days
        outcome("j2-ar", "j2", "ds", "application_review", "passed", "2024-03-01 09:00", **jb),
        outcome("j2-rs", "j2", "ds", "recruiter_screen", "passed", "2024-03-02 09:00", **jb),
        outcome("j2-th", "j2", "ds", "take_home", "passed", "2024-03-05 09:00", **jb),
        outcome("j2-on", "j2", "ds", "onsite", "passed", "2024-03-08 09:00", **jb),
        outcome("j2-of", "j2", "ds", "offer", "passed", "2024-03-11 09:00", **jb),
        # j3 (job_board): rejected at application review
        outcome("j3-ar", "j3", "ds", "application_review", "failed", "2024-03-02 09:00", **jb),
        # j4 (job_board): withdrew during the onsite
        outcome("j4-ar", "j4", "ds", "application_review", "passed", "2024-03-03 09:00", **jb),
        outcome("j4-rs", "j4", "ds", "recruiter_screen", "passed", "2024-03-04 09:00", **jb),
        outcome("j4-th", "j4", "ds", "take_home", "passed", "2024-03-06 09:00", **jb),
        outcome("j4-on", "j4", "ds", "onsite", "withdrew", "2024-03-09 09:00", **jb),
        # u1 (no source on any record): the offer was rescinded
        outcome("u1-ar", "u1", "ds", "application_review", "passed", "2024-03-01 09:00"),
        outcome("u1-rs", "u1", "ds", "recruiter_screen", "passed", "2024-03-02 09:00"),
        outcome("u1-th", "u1", "ds", "take_home", "passed", "2024-03-04 09:00"),
        outcome("u1-on", "u1", "ds", "onsite", "passed", "2024-03-06 09:00"),
        outcome("u1-of", "u1", "ds", "offer", "failed", "2024-03-09 09:00"),
        # u2 (no source): still in application review
        outcome("u2-ar", "u2", "ds", "application_review", "in_progress", "2024-03-20 09:00"),
        # s1: a referral for another role counts under that role
        outcome("s1-ar", "s1", "swe", "application_review", "passed", "2024-03-01 09:00", **ref),
    ]


def figures(row: dict) -> dict:
    return {c: row[c] for c in SOURCE_FIGURES}


def by_stage(conn, role: str, source: str) -> dict[str, dict]:
    found = rows(conn, "source_effectiveness", "role = ? AND source = ?", [role, source])
    return {r["stage"]: r for r in found}


def test_rows_per_role_source_and_stage_in_order():
    conn = build(source_worked_example())
    got = [(r["role"], r["source"], r["stage"]) for r in rows(conn, "source_effectiveness")]
    swe = ("application_review", "recruiter_screen", "technical_screen", "onsite", "hiring_committee",
           "team_matching", "offer")
    # role, then source (alphabetical, so 'unknown' sorts among the names), then stage order
    assert got == ([("ds", "job_board", s) for s in DS_PIPELINE] + [("ds", "referral", s) for s in DS_PIPELINE]
                   + [("ds", "unknown", s) for s in DS_PIPELINE] + [("swe", "referral", s) for s in swe])
    for row in rows(conn, "source_effectiveness"):
        assert row["in_pipeline"] is True and row["hire_stage"] == "offer"
        assert row["stage_order"] == STAGES.index(row["stage"]) + 1


def test_a_role_with_two_sources_and_an_unknown_one():
    conn = build(source_worked_example())
    referral = by_stage(conn, "ds", "referral")
    for row in referral.values():  # the same application-level figures on every stage row
        assert figures(row) == figures(referral["application_review"])
    assert figures(referral["offer"]) == {
        "applications": 4, "reached_onsite": 3, "onsite_passed": 2, "onsite_failed": 1,
        "onsite_pass_rate": approx(2 / 3), "offers_extended": 2, "offers_accepted": 2, "offers_declined": 0,
        "offers_rescinded": 0, "offers_pending": 0, "offer_acceptance_rate": 1.0, "hired": 2, "hire_rate": 0.5,
        "hire_rate_low": approx(0.15, abs=1e-4), "hire_rate_high": approx(0.85, abs=1e-4),
        "median_days_to_hire": approx(10.25),
    }
    job_board = by_stage(conn, "ds", "job_board")
    assert figures(job_board["onsite"]) == {
        "applications": 4, "reached_onsite": 3, "onsite_passed": 2, "onsite_failed": 0,
        "onsite_pass_rate": 1.0, "offers_extended": 2, "offers_accepted": 1, "offers_declined": 1,
        "offers_rescinded": 0, "offers_pending": 0, "offer_acceptance_rate": 0.5, "hired": 1, "hire_rate": 0.25,
        "hire_rate_low": approx(0.0456, abs=1e-4), "hire_rate_high": approx(0.6994, abs=1e-4),
        "median_days_to_hire": approx(10.0),
    }
    unknown = by_stage(conn, "ds", "unknown")
    assert figures(unknown["offer"]) == {
        "applications": 2, "reached_onsite": 1, "onsite_passed": 1, "onsite_failed": 0,
        "onsite_pass_rate": 1.0, "offers_extended": 1, "offers_accepted": 0, "offers_declined": 0,
        "offers_rescinded": 1, "offers_pending": 0, "offer_acceptance_rate": None, "hired": 0, "hire_rate": 0.0,
        "hire_rate_low": 0.0, "hire_rate_high": approx(0.6576, abs=1e-4), "median_days_to_hire": None,
    }
    swe = by_stage(conn, "swe", "referral")
    assert figures(swe["offer"]) == {
        "applications": 1, "reached_onsite": 0, "onsite_passed": 0, "onsite_failed": 0, "onsite_pass_rate": None,
        "offers_extended": 0, "offers_accepted": 0, "offers_declined": 0, "offers_rescinded": 0,
        "offers_pending": 0, "offer_acceptance_rate": None, "hired": 0, "hire_rate": 0.0, "hire_rate_low": 0.0,
        "hire_rate_high": approx(0.7935, abs=1e-4), "median_days_to_hire": None,
    }
    # per-stage counts (entered, passed, failed, withdrew, in_progress, skipped)
    assert {s: counts(r) for s, r in job_board.items()} == {
        "application_review": (4, 3, 1, 0, 0, 0), "recruiter_screen": (3, 3, 0, 0, 0, 0),
        "take_home": (3, 3, 0, 0, 0, 0), "onsite": (3, 2, 0, 1, 0, 0), "offer": (2, 1, 0, 1, 0, 0),
    }
    assert {s: counts(r) for s, r in unknown.items()} == {
        "application_review": (2, 1, 0, 0, 1, 0), "recruiter_screen": (1, 1, 0, 0, 0, 0),
        "take_home": (1, 1, 0, 0, 0, 0), "onsite": (1, 1, 0, 0, 0, 0), "offer": (1, 0, 1, 0, 0, 0),
    }
    assert job_board["application_review"]["pass_rate"] == 0.75
    assert job_board["onsite"]["pass_through_rate"] == approx(2 / 3)


def test_the_latest_non_null_source_wins_and_a_later_null_does_not_erase_it():
    conn = build(source_worked_example())
    # r4 said job_board, then referral, then nothing: it is a referral (4 referral applications, not 3)
    assert one(conn, "source_effectiveness", role="ds", source="referral", stage="take_home")["applications"] == 4
    assert one(conn, "source_effectiveness", role="ds", source="job_board", stage="take_home")["applications"] == 4
    same = "2024-03-05 12:00"
    conn = build([
        # a change of source at a later stage wins, whatever the stage order
        outcome("a1", "moved", "ds", "recruiter_screen", "passed", "2024-03-01 09:00", source="agency"),
        outcome("a2", "moved", "ds", "application_review", "passed", "2024-03-02 09:00", source="referral"),
        outcome("a3", "moved", "ds", "take_home", "in_progress", "2024-03-03 09:00"),
        # same instant: the decision beats in_progress, even with the smaller record id
        outcome("t-b", "tie", "ds", "recruiter_screen", "in_progress", same, source="agency"),
        outcome("t-a", "tie", "ds", "recruiter_screen", "passed", same, source="job_board"),
        # same instant, same rank: the greater record id
        outcome("w-1", "rank", "ds", "recruiter_screen", "failed", same, source="agency"),
        outcome("w-2", "rank", "ds", "application_review", "passed", same, source="university"),
        # the latest record names no source: an earlier one still does
        outcome("n1", "nulls", "ds", "recruiter_screen", "passed", "2024-03-01 09:00", source="university"),
        outcome("n2", "nulls", "ds", "take_home", "failed", "2024-03-04 09:00"),
        # no record names one
        outcome("x1", "none", "ds", "recruiter_screen", "passed", "2024-03-01 09:00"),
    ])
    applications = {(r["source"], r["applications"]) for r in rows(conn, "source_effectiveness")}
    assert applications == {("referral", 1), ("job_board", 1), ("university", 2), ("unknown", 1)}
    # sources are kept as recorded (not lower-cased)
    conn = build([outcome("c1", "case", "ds", "application_review", "passed", "2024-03-01 09:00", source="LinkedIn")])
    assert {r["source"] for r in rows(conn, "source_effectiveness")} == {"LinkedIn"}


def test_hire_rate_and_its_interval_match_the_python_wilson_interval():
    records = []
    for i in range(10):
        app, src = f"h{i}", "referral" if i < 7 else "agency"
        records.append(outcome(f"{app}-ar", app, "ds", "application_review", "passed", "2024-03-01 09:00", source=src))
        if i in (0, 1, 2, 7):  # hired: 3 of 7 referrals, 1 of 3 from the agency
            records.append(outcome(f"{app}-of", app, "ds", "offer", "passed", "2024-03-11 09:00", source=src))
    conn = build(records)
    for source, hired, applications in (("referral", 3, 7), ("agency", 1, 3)):
        row = one(conn, "source_effectiveness", role="ds", source=source, stage="offer")
        low, high = wilson_interval(hired, applications)
        assert (row["hired"], row["applications"]) == (hired, applications)
        assert row["hire_rate"] == hired / applications
        assert row["hire_rate_low"] == approx(low, rel=1e-12) and row["hire_rate_high"] == approx(high, rel=1e-12)
        assert row["hire_rate_low"] < row["hire_rate"] < row["hire_rate_high"]
        # the offer acceptance and onsite intervals come from the same macro
        assert row["offer_acceptance_rate"] == 1.0
        assert row["offer_acceptance_rate_low"] == approx(wilson_interval(hired, hired)[0], rel=1e-12)
        assert row["median_days_to_hire"] == approx(10.0)
        assert row["reached_onsite"] == 0  # hired without an onsite record: not a reached onsite


def test_onsite_pass_rate_and_offer_acceptance_leave_out_withdrawals_rescinded_and_pending():
    def app(name, onsite, offer=None):
        found = [outcome(f"{name}-on", name, "ds", "onsite", onsite, "2024-03-05 09:00", source="agency")]
        if offer:
            found.append(outcome(f"{name}-of", name, "ds", "offer", offer, "2024-03-09 09:00", source="agency"))
        return found
    conn = build([
        *app("p1", "passed", "passed"), *app("p2", "passed", "passed"), *app("p3", "passed", "withdrew"),
        *app("p4", "passed", "failed"), *app("p5", "passed", "in_progress"), *app("p6", "passed", "skipped"),
        *app("p7", "passed", "failed"), *app("f1", "failed"), *app("w1", "withdrew"), *app("i1", "in_progress"),
    ])
    row = one(conn, "source_effectiveness", role="ds", source="agency", stage="offer")
    # onsite: 7 passed, 1 failed, 1 withdrew, 1 in progress: 7 / (7 + 1)
    assert (row["reached_onsite"], row["onsite_passed"], row["onsite_failed"]) == (10, 7, 1)
    assert row["onsite_pass_rate"] == approx(7 / 8)
    low, high = wilson_interval(7, 8)
    assert (row["onsite_pass_rate_low"], row["onsite_pass_rate_high"]) == (approx(low), approx(high))
    # offer: extended to p1..p5 and p7 (p6's offer is skipped, not extended); accepted 2, declined 1,
    # rescinded 2, pending 1: acceptance = accepted / (accepted + declined) = 2 / (2 + 1)
    assert (row["offers_extended"], row["offers_accepted"], row["offers_declined"], row["offers_rescinded"],
            row["offers_pending"]) == (6, 2, 1, 2, 1)
    assert row["offer_acceptance_rate"] == approx(2 / 3)
    assert row["offer_acceptance_rate_low"] == approx(0.2077, abs=1e-4)
    assert row["offer_acceptance_rate_high"] == approx(0.9385, abs=1e-4)
    # the offer row's own pass_rate is stage_pass_rates': accepted / (accepted + rescinded) = 2 / 4
    assert counts(row) == (6, 2, 2, 1, 1, 1) and row["skipped_explicit"] == 1
    assert row["pass_rate"] == 0.5
    # the onsite row's counts are the onsite figures
    onsite = one(conn, "source_effectiveness", role="ds", source="agency", stage="onsite")
    assert counts(onsite) == (10, 7, 1, 1, 1, 0) and onsite["pass_rate"] == row["onsite_pass_rate"]
    assert (row["hired"], row["hire_rate"]) == (2, 0.2)


def test_median_days_to_hire_with_an_even_number_of_hires():
    records = []
    # hires after 2, 3.5, 7.25 and 20 days (first record -> the accepted offer): median (3.5 + 7.25) / 2
    for name, first, hired_at in (("e1", "2024-03-01 00:00", "2024-03-03 00:00"),
                                  ("e2", "2024-03-01 12:00", "2024-03-05 00:00"),
                                  ("e3", "2024-03-02 00:00", "2024-03-09 06:00"),
                                  ("e4", "2024-02-28 00:00", "2024-03-19 00:00")):
        records += [outcome(f"{name}-ar", name, "ds", "application_review", "passed", first, source="referral"),
                    outcome(f"{name}-of", name, "ds", "offer", "passed", hired_at, source="referral")]
    # not hired: an accepted offer followed by a later record elsewhere (backward move), and one in progress
    records += [outcome("n1-of", "n1", "ds", "offer", "passed", "2024-03-02 00:00", source="referral"),
                outcome("n1-on", "n1", "ds", "onsite", "in_progress", "2024-03-30 00:00", source="referral"),
                outcome("n2-ar", "n2", "ds", "application_review", "in_progress", "2024-03-01 00:00", source="referral")]
    conn = build(records)
    row = one(conn, "source_effectiveness", role="ds", source="referral", stage="offer")
    assert (row["applications"], row["hired"], row["offers_accepted"]) == (6, 4, 5)
    assert row["median_days_to_hire"] == approx((3.5 + 7.25) / 2)
    # by cohort: February holds e4 alone (20 days), March the other three (median 3.5)
    feb = one(conn, "source_effectiveness_monthly", role="ds", source="referral", cohort_month=date(2024, 2, 1),
              stage="offer")
    mar = one(conn, "source_effectiveness_monthly", role="ds", source="referral", cohort_month=date(2024, 3, 1),
              stage="offer")
    assert (feb["hired"], feb["median_days_to_hire"]) == (1, approx(20.0))
    assert (mar["hired"], mar["median_days_to_hire"]) == (3, approx(3.5))


def test_a_role_whose_pipeline_does_not_end_with_an_offer_hires_at_its_last_stage():
    config = Config(stages=STAGES, roles={"intern": Role("intern", ("application_review", "onsite"), ())})
    conn = build([
        outcome("i1", "in1", "intern", "application_review", "passed", "2024-03-01 09:00", source="university"),
        outcome("i2", "in1", "intern", "onsite", "passed", "2024-03-04 21:00", source="university"),
        outcome("i3", "in2", "intern", "onsite", "failed", "2024-03-04 09:00", source="university"),
    ], config=config)
    row = one(conn, "source_effectiveness", role="intern", source="university", stage="onsite")
    assert (row["hire_stage"], row["hired"], row["offers_extended"]) == ("onsite", 1, 0)
    assert row["median_days_to_hire"] == approx(3.5)
    assert validate_mart(conn, "source_effectiveness", engine="duckdb").success


def test_skipped_stages_and_a_fast_tracked_application_count_as_in_stage_pass_rates():
    conn = build(source_worked_example())
    referral = by_stage(conn, "ds", "referral")
    # r2 went from application review straight to the onsite: implied skips of recruiter_screen and take_home;
    # r3 skipped the take-home explicitly
    assert counts(referral["recruiter_screen"]) == (3, 3, 0, 0, 0, 1)
    assert (referral["recruiter_screen"]["skipped_explicit"], referral["recruiter_screen"]["skipped_implied"]) == (0, 1)
    assert counts(referral["take_home"]) == (2, 1, 0, 0, 1, 2)
    assert (referral["take_home"]["skipped_explicit"], referral["take_home"]["skipped_implied"]) == (1, 1)
    assert referral["take_home"]["skip_rate"] == 0.5
    assert counts(referral["onsite"]) == (3, 2, 1, 0, 0, 0)
    assert referral["onsite"]["pass_rate"] == approx(2 / 3)
    # over the sources, every stage count is stage_pass_rates'
    summed = defaultdict(lambda: [0] * len(STAGE_COUNTS))
    for row in rows(conn, "source_effectiveness"):
        for i, column in enumerate(STAGE_COUNTS):
            summed[(row["role"], row["stage"])][i] += row[column]
    for row in rows(conn, "stage_pass_rates"):
        expected = [row[c] for c in STAGE_COUNTS]
        assert summed.get((row["role"], row["stage"]), [0] * len(STAGE_COUNTS)) == expected, row["stage"]


def test_off_pipeline_stages_are_rows_of_their_source():
    conn = build([
        outcome("o1", "off", "swe", "application_review", "passed", "2024-03-01 09:00", source="agency"),
        outcome("o2", "off", "swe", "take_home", "passed", "2024-03-03 09:00", source="agency"),  # not in swe's pipeline
        outcome("o3", "other", "swe", "application_review", "passed", "2024-03-01 09:00", source="referral"),
    ])
    take_home = one(conn, "source_effectiveness", role="swe", source="agency", stage="take_home")
    assert take_home["in_pipeline"] is False and take_home["pipeline_order"] is None
    assert counts(take_home) == (1, 1, 0, 0, 0, 0)
    assert rows(conn, "source_effectiveness", "source = 'referral' AND stage = 'take_home'") == []


def test_the_monthly_rows_add_up_to_the_all_time_table():
    conn = build(source_worked_example())
    monthly = rows(conn, "source_effectiveness_monthly", "role = 'ds' AND source = 'referral'")
    # r1..r3 in March, r4 in April: one row per pipeline stage for each cohort, in order
    assert [(r["cohort_month"], r["stage"]) for r in monthly] == (
        [(date(2024, 3, 1), s) for s in DS_PIPELINE] + [(date(2024, 4, 1), s) for s in DS_PIPELINE])
    march = [r for r in monthly if r["cohort_month"] == date(2024, 3, 1)]
    assert {(r["applications"], r["hired"], r["median_days_to_hire"]) for r in march} == {(3, 2, 10.25)}
    assert {r["hire_rate"] for r in march} == {2 / 3}
    april = [r for r in monthly if r["cohort_month"] == date(2024, 4, 1)]
    assert {(r["applications"], r["hired"], r["hire_rate"], r["median_days_to_hire"]) for r in april} == {(1, 0, 0.0, None)}
    assert counts(next(r for r in april if r["stage"] == "take_home")) == (1, 0, 0, 0, 1, 0)
    additive = ("applications", "reached_onsite", "onsite_passed", "onsite_failed", "offers_extended",
                "offers_accepted", "offers_declined", "offers_rescinded", "offers_pending", "hired")
    stage_sums, source_sums = defaultdict(lambda: [0] * len(STAGE_COUNTS)), defaultdict(lambda: [0] * len(additive))
    seen = set()
    for row in rows(conn, "source_effectiveness_monthly"):
        for i, column in enumerate(STAGE_COUNTS):
            stage_sums[(row["role"], row["source"], row["stage"])][i] += row[column]
        group = (row["role"], row["source"], row["cohort_month"])
        if group not in seen:  # the application-level figures once per role, source and cohort month
            seen.add(group)
            for i, column in enumerate(additive):
                source_sums[(row["role"], row["source"])][i] += row[column]
    all_time = rows(conn, "source_effectiveness")
    assert {(r["role"], r["source"], r["stage"]): [r[c] for c in STAGE_COUNTS] for r in all_time} == dict(stage_sums)
    assert {(r["role"], r["source"]): [r[c] for c in additive] for r in all_time} == dict(source_sums)
    for mart in ("source_effectiveness", "source_effectiveness_monthly"):
        assert sql_checks.reconcile(conn, mart).passed


def test_docs_source_worked_example_matches_the_fixture():
    """docs/metrics.md quotes one row per source of the worked example; the numbers are the mart's."""
    text = DOCS.read_text(encoding="utf-8")
    conn = build(source_worked_example())
    shown = ("applications", "reached_onsite", "onsite_pass_rate", "offers_extended", "offers_accepted",
             "offers_declined", "offers_rescinded", "offer_acceptance_rate", "hired", "hire_rate", "hire_rate_low",
             "hire_rate_high", "median_days_to_hire")
    header = "| role | source | " + " | ".join(shown) + " |"
    assert header in text

    def cell(value):
        return "NULL" if value is None else f"{round(value, 4):g}"

    quoted = 0
    for source in ("job_board", "referral", "unknown"):
        row = one(conn, "source_effectiveness", role="ds", source=source, stage="offer")
        line = f"| ds | {source} | " + " | ".join(cell(row[c]) for c in shown) + " |"
        assert line in text, line
        quoted += 1
    assert quoted == 3
    # and the per-stage row the docs quote
    take_home = one(conn, "source_effectiveness", role="ds", source="referral", stage="take_home")
    stage_cols = ("entered", "passed", "failed", "withdrew", "in_progress", "skipped", "skipped_explicit",
                  "skipped_implied", "pass_rate", "pass_through_rate", "skip_rate")
    assert ("| ds | referral | take_home | " + " | ".join(cell(take_home[c]) for c in stage_cols) + " |") in text
    assert re.search(r"^### `source_effectiveness`$", text, flags=re.MULTILINE)


@pytest.mark.parametrize("engine", ("great_expectations", "duckdb"))
def test_the_suites_pass_on_the_example_and_catch_inconsistent_rows(engine):
    conn = build(source_worked_example())
    for mart in ("source_effectiveness", "source_effectiveness_monthly"):
        result = validate_mart(conn, mart, engine=engine)
        assert result.success and not result.broken, (mart, result.summary)
    conn.execute("UPDATE source_effectiveness SET hire_rate_low = hire_rate + 0.01 WHERE role = 'ds' AND source = 'referral'"
                 " AND stage = 'offer'")
    conn.execute("UPDATE source_effectiveness SET entered = entered + 1 WHERE source = 'job_board' AND stage = 'onsite'")
    conn.execute("UPDATE source_effectiveness SET hired = offers_accepted + 1, hire_rate = (offers_accepted + 1) / applications,"
                 " median_days_to_hire = 1.0 WHERE source = 'unknown' AND stage = 'take_home'")
    conn.execute("UPDATE source_effectiveness SET source = 'referral' WHERE source = 'unknown' AND stage = 'offer'")
    result = validate_mart(conn, "source_effectiveness", engine=engine)
    assert not result.broken
    failed = {o.description: o.unexpected_count for o in result.failed}
    assert failed == {
        "hire_rate_low <= hire_rate": 1,
        "entered = passed + failed + withdrew + in_progress": 1,
        "hired <= offers_accepted when hire_stage is offer": 1,
        "one row per (role, source, stage)": 2,
    }
