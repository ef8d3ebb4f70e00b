"""stage_pass_rates and stage_pass_rates_monthly on hand-built fixtures; expected numbers by hand."""

from datetime import date

import pytest

try:
    from funnel_tests.marts_fixtures import DS_PIPELINE, SWE_PIPELINE, build, counts, one, outcome, rows, worked_example
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import DS_PIPELINE, SWE_PIPELINE, build, counts, one, outcome, rows, worked_example

from funnel.models import PUBLISHED_MARTS

approx = pytest.approx


def test_worked_example_technical_screen():
    conn = build(worked_example())
    row = one(conn, "stage_pass_rates", role="swe", stage="technical_screen")
    # entered: a1 a2 a3 a4 a7; passed a1 (corrected) a7; failed a2; withdrew a3; in_progress a4
    assert counts(row) == (5, 2, 1, 1, 1, 2)
    assert (row["skipped_explicit"], row["skipped_implied"]) == (1, 1)  # a5 explicit, a6 implied
    assert row["stage_order"] == 3 and row["pipeline_order"] == 3 and row["in_pipeline"] is True
    assert row["decided"] == 3
    assert row["pass_rate"] == approx(2 / 3)
    # Wilson 95% for 2 of 3, from published tables: (0.2077, 0.9385)
    assert row["pass_rate_low"] == approx(0.2077, abs=1e-4)
    assert row["pass_rate_high"] == approx(0.9385, abs=1e-4)
    assert row["pass_through_rate"] == approx(2 / 5)
    assert row["skip_rate"] == approx(2 / 7)
    # days in stage, per decided record: a1 failed 4 Mar->8 Mar = 4 and passed 4 Mar->9 Mar = 5
    # (its failure is at the same stage, not an earlier one), a2 4->6 = 2,
    # a3 5 Mar 09:00->6 Mar 21:00 = 1.5, a7 (no earlier decision) first record 2 Mar -> 10 Mar = 8.
    # sorted 1.5 2 4 5 8
    assert row["timed_decisions"] == 5
    assert row["median_days_in_stage"] == approx(4.0)
    assert row["p90_days_in_stage"] == approx(6.8)  # position 0.9 * 4 = 3.6: 5 + 0.6 * (8 - 5)


def test_worked_example_other_stages():
    conn = build(worked_example())
    review = one(conn, "stage_pass_rates", role="swe", stage="application_review")
    assert counts(review) == (6, 6, 0, 0, 0, 1)  # a7 skipped it (implied)
    assert review["skipped_implied"] == 1 and review["skip_rate"] == approx(1 / 7)
    assert review["median_days_in_stage"] == approx(0.0)  # first stage, a single record each
    screen = one(conn, "stage_pass_rates", role="swe", stage="recruiter_screen")
    assert counts(screen) == (6, 6, 0, 0, 0, 1)
    assert screen["pass_rate_high"] == approx(1.0)
    # 3 3 4 4 3 3 days after application review: median 3, p90 at position 4.5 of 0..5 -> 4
    assert screen["median_days_in_stage"] == approx(3.0)
    assert screen["p90_days_in_stage"] == approx(4.0)
    onsite = one(conn, "stage_pass_rates", role="swe", stage="onsite")
    assert counts(onsite) == (2, 1, 0, 0, 1, 0)
    assert onsite["pass_rate"] == approx(1.0)
    assert onsite["pass_rate_low"] == approx(0.2065, abs=1e-4)
    # a6's onsite: previous decision recruiter screen 4 Mar -> 12 Mar
    assert onsite["median_days_in_stage"] == approx(8.0)
    committee = one(conn, "stage_pass_rates", role="swe", stage="hiring_committee")
    assert counts(committee) == (0, 0, 0, 0, 0, 0)
    assert committee["pass_rate"] is None and committee["pass_rate_low"] is None
    assert committee["pass_through_rate"] is None and committee["skip_rate"] is None
    assert committee["median_days_in_stage"] is None
    # ds has no applications: still one zero row per pipeline stage
    ds = rows(conn, "stage_pass_rates", "role = 'ds'")
    assert [r["stage"] for r in ds] == list(DS_PIPELINE)
    assert all(counts(r) == (0, 0, 0, 0, 0, 0) for r in ds)
    # ordered by role, then stage order
    swe = rows(conn, "stage_pass_rates", "role = 'swe'")
    assert [r["stage"] for r in swe] == list(SWE_PIPELINE)
    assert [r["role"] for r in rows(conn, "stage_pass_rates")] == ["ds"] * 5 + ["swe"] * 7


def test_correction_failed_then_passed_counts_the_pass():
    conn = build([
        outcome("r1", "x", "ds", "take_home", "failed", "2024-03-02 10:00"),
        outcome("r2", "x", "ds", "take_home", "passed", "2024-03-03 10:00"),
        # and a pass corrected to a failure
        outcome("r3", "y", "ds", "take_home", "passed", "2024-03-02 10:00"),
        outcome("r4", "y", "ds", "take_home", "failed", "2024-03-04 10:00"),
    ])
    row = one(conn, "stage_pass_rates", role="ds", stage="take_home")
    assert counts(row) == (2, 1, 1, 0, 0, 0)
    assert row["pass_rate"] == approx(0.5)


def test_ties_on_occurred_at():
    same = "2024-03-05 12:00"
    conn = build([
        # decision beats in_progress, even with the smaller record id
        outcome("t-b", "p1", "swe", "technical_screen", "in_progress", same),
        outcome("t-a", "p1", "swe", "technical_screen", "failed", same),
        # skipped beats in_progress
        outcome("u-a", "p2", "swe", "technical_screen", "in_progress", same),
        outcome("u-b", "p2", "swe", "technical_screen", "skipped", same),
        # a decision beats skipped
        outcome("v-b", "p3", "swe", "technical_screen", "skipped", same),
        outcome("v-a", "p3", "swe", "technical_screen", "withdrew", same),
        # two decisions: the greater record id wins
        outcome("w-2", "p4", "swe", "technical_screen", "failed", same),
        outcome("w-1", "p4", "swe", "technical_screen", "passed", same),
        # and the later record still wins over any rank
        outcome("z-1", "p5", "swe", "technical_screen", "passed", "2024-03-05 11:59"),
        outcome("z-0", "p5", "swe", "technical_screen", "in_progress", same),
    ])
    row = one(conn, "stage_pass_rates", role="swe", stage="technical_screen")
    # p1 failed, p2 skipped (explicit), p3 withdrew, p4 failed (w-2), p5 in_progress
    assert counts(row) == (4, 0, 2, 1, 1, 1)
    assert row["skipped_explicit"] == 1


def test_timezone_offsets_order_by_utc_instant():
    conn = build([
        # 10:00+02:00 is 08:00Z; 09:00Z is later although its clock reading is earlier: passed wins
        outcome("k1", "tz1", "ds", "recruiter_screen", "failed", "2024-03-05T10:00:00+02:00"),
        outcome("k2", "tz1", "ds", "recruiter_screen", "passed", "2024-03-05T09:00:00+00:00"),
        # 09:00-03:00 is 12:00Z, later than 11:00Z: failed wins
        outcome("k3", "tz2", "ds", "recruiter_screen", "failed", "2024-03-05T09:00:00-03:00"),
        outcome("k4", "tz2", "ds", "recruiter_screen", "passed", "2024-03-05T11:00:00+00:00"),
        # first record 1 April 01:00+03:00 = 31 March 22:00Z: a March cohort
        outcome("k5", "tz3", "ds", "recruiter_screen", "in_progress", "2024-04-01T01:00:00+03:00"),
    ])
    row = one(conn, "stage_pass_rates", role="ds", stage="recruiter_screen")
    assert counts(row) == (3, 1, 1, 0, 1, 0)
    monthly = rows(conn, "stage_pass_rates_monthly", "role = 'ds' AND stage = 'recruiter_screen'")
    assert [(r["cohort_month"], r["entered"]) for r in monthly] == [(date(2024, 3, 1), 3)]


def test_explicit_and_implied_skips_only_on_pipeline_stages():
    conn = build([
        # s1: recruiter_screen skipped explicitly, take_home never recorded, onsite entered
        outcome("s1-ar", "s1", "ds", "application_review", "passed", "2024-03-01 09:00"),
        outcome("s1-rs", "s1", "ds", "recruiter_screen", "skipped", "2024-03-02 09:00"),
        outcome("s1-on", "s1", "ds", "onsite", "in_progress", "2024-03-03 09:00"),
        # s2: stuck in recruiter_screen; nothing after it is skipped
        outcome("s2-ar", "s2", "ds", "application_review", "passed", "2024-03-01 09:00"),
        outcome("s2-rs", "s2", "ds", "recruiter_screen", "in_progress", "2024-03-02 09:00"),
        # s3: skipped take_home explicitly but never entered a later stage
        outcome("s3-ar", "s3", "ds", "application_review", "passed", "2024-03-01 09:00"),
        outcome("s3-th", "s3", "ds", "take_home", "skipped", "2024-03-02 09:00"),
    ])
    by_stage = {r["stage"]: r for r in rows(conn, "stage_pass_rates", "role = 'ds'")}
    # s2 in progress; s1 skipped explicitly. s3 has no record there and entered no later
    # pipeline stage (an explicit skip of take_home is not entering it): not reached, no skip.
    assert counts(by_stage["recruiter_screen"]) == (1, 0, 0, 0, 1, 1)
    assert (by_stage["recruiter_screen"]["skipped_explicit"], by_stage["recruiter_screen"]["skipped_implied"]) == (1, 0)
    assert counts(by_stage["take_home"]) == (0, 0, 0, 0, 0, 2)  # s1 implied, s3 explicit
    assert (by_stage["take_home"]["skipped_explicit"], by_stage["take_home"]["skipped_implied"]) == (1, 1)
    assert by_stage["take_home"]["skip_rate"] == approx(1.0)
    assert counts(by_stage["onsite"]) == (1, 0, 0, 0, 1, 0)
    assert counts(by_stage["offer"]) == (0, 0, 0, 0, 0, 0)


def test_off_pipeline_stage_is_counted_and_flagged():
    conn = build([
        outcome("o1-ar", "o1", "swe", "application_review", "passed", "2024-03-01 09:00"),
        outcome("o1-th", "o1", "swe", "take_home", "passed", "2024-03-04 09:00"),  # not in swe's pipeline
        outcome("o1-on", "o1", "swe", "onsite", "in_progress", "2024-03-08 09:00"),
        outcome("o2-ar", "o2", "swe", "application_review", "passed", "2024-03-01 09:00"),
        outcome("o2-th", "o2", "swe", "take_home", "failed", "2024-03-05 09:00"),
        # an explicit skip at an off-pipeline stage is not a skip of the role's pipeline
        outcome("o3-ar", "o3", "ds", "application_review", "passed", "2024-03-01 09:00"),
        outcome("o3-ts", "o3", "ds", "technical_screen", "skipped", "2024-03-02 09:00"),
    ])
    take_home = one(conn, "stage_pass_rates", role="swe", stage="take_home")
    assert take_home["in_pipeline"] is False and take_home["off_pipeline"] is True
    assert take_home["pipeline_order"] is None and take_home["stage_order"] == 4
    assert counts(take_home) == (2, 1, 1, 0, 0, 0)
    assert take_home["pass_rate"] == approx(0.5)
    # time in an off-pipeline stage: application_review 1 Mar -> 4 Mar and -> 5 Mar
    assert take_home["median_days_in_stage"] == approx(3.5)
    swe_stages = [r["stage"] for r in rows(conn, "stage_pass_rates", "role = 'swe'")]
    assert swe_stages == ["application_review", "recruiter_screen", "technical_screen", "take_home", "onsite",
                          "hiring_committee", "team_matching", "offer"]
    # entering an off-pipeline stage does not imply skips; the pipeline stage onsite does (o1)
    assert one(conn, "stage_pass_rates", role="swe", stage="recruiter_screen")["skipped_implied"] == 1
    assert one(conn, "stage_pass_rates", role="swe", stage="technical_screen")["skipped_implied"] == 1
    # only skipped at an off-pipeline stage: no row
    assert rows(conn, "stage_pass_rates", "role = 'ds' AND stage = 'technical_screen'") == []


def test_backward_move_is_not_a_pass():
    conn = build([
        outcome("b1", "back", "swe", "technical_screen", "passed", "2024-03-05 09:00"),
        outcome("b2", "back", "swe", "onsite", "in_progress", "2024-03-10 09:00"),
        # sent back to a second technical screen
        outcome("b3", "back", "swe", "technical_screen", "in_progress", "2024-03-12 09:00"),
    ])
    assert counts(one(conn, "stage_pass_rates", role="swe", stage="technical_screen")) == (1, 0, 0, 0, 1, 0)
    assert counts(one(conn, "stage_pass_rates", role="swe", stage="onsite")) == (1, 0, 0, 0, 1, 0)


def test_in_progress_at_every_stage():
    records = [
        outcome(f"ip-{i}", "ip", "swe", stage, "in_progress", f"2024-03-{i + 1:02d} 09:00")
        for i, stage in enumerate(SWE_PIPELINE)
    ]
    conn = build(records)
    for row in rows(conn, "stage_pass_rates", "role = 'swe'"):
        assert counts(row) == (1, 0, 0, 0, 1, 0), row["stage"]
        assert row["pass_rate"] is None and row["pass_rate_low"] is None and row["pass_rate_high"] is None
        assert row["pass_through_rate"] == 0.0
        assert row["skip_rate"] == 0.0
        assert row["median_days_in_stage"] is None


def test_candidate_with_two_applications_counts_both():
    conn = build([
        outcome("c1", "app-jan", "swe", "recruiter_screen", "failed", "2024-01-15 09:00", candidate_id="cand-1"),
        outcome("c2", "app-mar", "ds", "recruiter_screen", "passed", "2024-03-02 09:00", candidate_id="cand-1"),
    ])
    assert counts(one(conn, "stage_pass_rates", role="swe", stage="recruiter_screen")) == (1, 0, 1, 0, 0, 0)
    assert counts(one(conn, "stage_pass_rates", role="ds", stage="recruiter_screen")) == (1, 1, 0, 0, 0, 0)
    months = [(r["role"], r["cohort_month"]) for r in rows(conn, "stage_pass_rates_monthly", "stage = 'recruiter_screen'")]
    assert months == [("ds", date(2024, 3, 1)), ("swe", date(2024, 1, 1))]


def test_cohort_months_split_by_first_record():
    conn = build([
        # cohort February although its decision is in March
        outcome("m1", "feb", "ds", "application_review", "in_progress", "2024-02-28 09:00"),
        outcome("m2", "feb", "ds", "application_review", "passed", "2024-03-02 09:00"),
        outcome("m3", "mar1", "ds", "application_review", "failed", "2024-03-03 09:00"),
        outcome("m4", "mar2", "ds", "application_review", "passed", "2024-03-31 23:59"),
    ])
    monthly = rows(conn, "stage_pass_rates_monthly", "role = 'ds'")
    # every pipeline stage for each of the two cohorts, February first
    assert [(r["cohort_month"], r["stage"]) for r in monthly] == (
        [(date(2024, 2, 1), s) for s in DS_PIPELINE] + [(date(2024, 3, 1), s) for s in DS_PIPELINE]
    )
    feb = one(conn, "stage_pass_rates_monthly", role="ds", cohort_month=date(2024, 2, 1), stage="application_review")
    mar = one(conn, "stage_pass_rates_monthly", role="ds", cohort_month=date(2024, 3, 1), stage="application_review")
    assert counts(feb) == (1, 1, 0, 0, 0, 0)
    assert feb["median_days_in_stage"] == approx(3.0)  # 28 Feb -> 2 Mar (2024 is a leap year)
    assert counts(mar) == (2, 1, 1, 0, 0, 0)
    assert mar["pass_rate"] == approx(0.5)
    # no rows for swe: it has no applications in any cohort
    assert rows(conn, "stage_pass_rates_monthly", "role = 'swe'") == []


def test_empty_input_gives_zero_rows_per_pipeline_stage_and_empty_marts():
    conn = build([])
    spr = rows(conn, "stage_pass_rates")
    assert [(r["role"], r["stage"]) for r in spr] == (
        [("ds", s) for s in DS_PIPELINE] + [("swe", s) for s in SWE_PIPELINE]
    )
    for row in spr:
        assert counts(row) == (0, 0, 0, 0, 0, 0)
        assert row["pass_rate"] is None and row["pass_through_rate"] is None and row["skip_rate"] is None
    for table in PUBLISHED_MARTS:
        if table != "stage_pass_rates":
            assert rows(conn, table) == [], table
