"""Invariants of the marts on generated records (hypothesis)."""

import random
from collections import defaultdict
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from funnel_tests.marts_fixtures import STAGES, Interview, Outcome, build, key, rows
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import STAGES, Interview, Outcome, build, key, rows

from funnel.models import PUBLISHED_MARTS
from funnel.contract import OUTCOMES, RECOMMENDATIONS

ROLES = ("swe", "ds")
APPS = 6
# Near a month end, so that generated applications fall into two cohorts.
BASE = datetime(2024, 3, 29, 0, 0)
SKILLS = ("coding", "system_design", "behavioral", "statistics", "communication")

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What application_journeys is built from: enough for the journey property, and quicker.
JOURNEY_MODELS = (
    "stg_stage_outcomes",
    "int_application_attributes",
    "int_latest_stage_records",
    "int_application_stages",
    "int_applications",
    "application_journeys",
)


@st.composite
def datasets(draw, min_records=0):
    roles = draw(st.lists(st.sampled_from(ROLES), min_size=APPS, max_size=APPS))
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, APPS - 1),
                st.sampled_from(STAGES),
                st.sampled_from(OUTCOMES),
                st.integers(0, 5),  # day
                st.sampled_from([0, 12]),  # hour: few distinct instants, so plenty of ties
                st.sampled_from([None, True, False]),
                st.sampled_from([None, "referral", "agency"]),
            ),
            min_size=min_records,
            max_size=24,
        )
    )
    # record ids in an order unrelated to time
    ids = draw(st.permutations(range(len(raw))))
    outcomes = [
        Outcome(f"r{ids[i]:03d}", f"app{a}", roles[a], stage, outcome, BASE + timedelta(days=day, hours=hour),
                requires_travel=travel, source=source)
        for i, (a, stage, outcome, day, hour, travel, source) in enumerate(raw)
    ]
    raw_interviews = draw(
        st.lists(
            st.tuples(st.integers(0, APPS - 1), st.sampled_from(("onsite", "technical_screen")),
                      st.sampled_from(("ann", "ben", "cy")), st.sampled_from(SKILLS), st.sampled_from(RECOMMENDATIONS)),
            max_size=8,
        )
    )
    interviews = [
        Interview(f"i{i:03d}", f"app{a}", stage, who, skill, rec, BASE + timedelta(days=3))
        for i, (a, stage, who, skill, rec) in enumerate(raw_interviews)
    ]
    return outcomes, interviews


def snapshot(conn):
    return {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in PUBLISHED_MARTS}


def check_rate_row(row, successes, n, rate, low, high):
    if row[n]:
        assert row[rate] == row[successes] / row[n]
        assert 0.0 <= row[low] <= row[rate] <= row[high] <= 1.0
    else:
        assert row[rate] is None and row[low] is None and row[high] is None


@SETTINGS
@given(data=datasets(), seed=st.integers(0, 2**32 - 1))
def test_invariants_and_insertion_order(data, seed):
    outcomes, interviews = data
    conn = build(outcomes, interviews, comments=False)

    for table in ("stage_pass_rates", "stage_pass_rates_monthly"):
        for row in rows(conn, table):
            assert row["entered"] == row["passed"] + row["failed"] + row["withdrew"] + row["in_progress"]
            assert row["skipped"] == row["skipped_explicit"] + row["skipped_implied"]
            assert row["decided"] == row["passed"] + row["failed"]
            check_rate_row(row, "passed", "decided", "pass_rate", "pass_rate_low", "pass_rate_high")
            if not row["in_pipeline"]:
                assert row["skipped"] == 0 and row["entered"] > 0
            if row["median_days_in_stage"] is not None:
                assert 0.0 <= row["median_days_in_stage"] <= row["p90_days_in_stage"]

    # the monthly view adds up to the all-time one
    totals = defaultdict(lambda: [0] * 6)
    for row in rows(conn, "stage_pass_rates_monthly"):
        for i, column in enumerate(("entered", "passed", "failed", "withdrew", "in_progress", "skipped")):
            totals[(row["role"], row["stage"])][i] += row[column]
    for row in rows(conn, "stage_pass_rates"):
        if (row["role"], row["stage"]) in totals:
            assert totals[(row["role"], row["stage"])] == [
                row[c] for c in ("entered", "passed", "failed", "withdrew", "in_progress", "skipped")
            ]

    applications = {o.application_id for o in outcomes}
    journeys = rows(conn, "application_journeys")
    assert sorted(r["application_key"] for r in journeys) == sorted(key(a) for a in applications)

    for row in rows(conn, "team_matching_dropoff") + rows(conn, "team_matching_dropoff_monthly"):
        assert row["cleared"] == (row["matched"] + row["unmatched"] + row["withdrew"] + row["in_matching"]
                                  + row["awaiting"] + row["skipped"])
        assert row["stalled"] <= row["in_matching"]
        assert row["offer_accepted"] <= row["offer_extended"] <= row["matched"]
    for row in rows(conn, "travel_vetting"):
        check_rate_row(row | {"decided": row["onsite_passed"] + row["onsite_failed"]}, "onsite_passed", "decided",
                       "onsite_pass_rate", "onsite_pass_rate_low", "onsite_pass_rate_high")
    for row in rows(conn, "interviewer_calibration"):
        check_rate_row(row, "agreed", "compared", "agreement_rate", "agreement_rate_low", "agreement_rate_high")

    # by source: the stage counts add up to stage_pass_rates, the applications to the journeys, and the
    # cohort months to the all-time table; the application-level figures are the same on every stage row
    stage_counts = ("entered", "passed", "failed", "withdrew", "in_progress", "skipped")
    by_stage, per_source = defaultdict(lambda: [0] * 6), {}
    for row in rows(conn, "source_effectiveness"):
        for i, column in enumerate(stage_counts):
            by_stage[(row["role"], row["stage"])][i] += row[column]
        figures = (row["applications"], row["reached_onsite"], row["offers_extended"], row["hired"])
        assert per_source.setdefault((row["role"], row["source"]), figures) == figures
        assert row["hired"] <= row["applications"] and row["offers_extended"] <= row["applications"]
        check_rate_row(row, "hired", "applications", "hire_rate", "hire_rate_low", "hire_rate_high")
        check_rate_row(row | {"decided": row["passed"] + row["failed"]}, "passed", "decided", "pass_rate",
                       "pass_rate_low", "pass_rate_high")
        assert (row["median_days_to_hire"] is None) == (row["hired"] == 0)
    for row in rows(conn, "stage_pass_rates"):
        assert by_stage.get((row["role"], row["stage"]), [0] * 6) == [row[c] for c in stage_counts]
    assert sum(f[0] for f in per_source.values()) == len(journeys)
    monthly_sums = defaultdict(lambda: [0] * 4)
    for (role, source, _), figures in {(r["role"], r["source"], r["cohort_month"]): (
            r["applications"], r["reached_onsite"], r["offers_extended"], r["hired"])
            for r in rows(conn, "source_effectiveness_monthly")}.items():
        monthly_sums[(role, source)] = [a + b for a, b in zip(monthly_sums[(role, source)], figures)]
    assert {k: list(v) for k, v in per_source.items()} == dict(monthly_sums)

    # the same records inserted in another order give identical marts, row for row
    shuffled_outcomes, shuffled_interviews = list(outcomes), list(interviews)
    rng = random.Random(seed)
    rng.shuffle(shuffled_outcomes)
    rng.shuffle(shuffled_interviews)
    assert snapshot(build(shuffled_outcomes, shuffled_interviews, comments=False)) == snapshot(conn)


@settings(SETTINGS, max_examples=25)
@given(
    data=datasets(min_records=1),
    pick=st.integers(0, 10**6),
    stage=st.sampled_from(STAGES),
    result=st.sampled_from(OUTCOMES),
    later_hours=st.integers(1, 72),
)
def test_a_later_record_changes_only_that_applications_journey(data, pick, stage, result, later_hours):
    outcomes, interviews = data
    applications = sorted({o.application_id for o in outcomes})
    target = applications[pick % len(applications)]
    mine = [o for o in outcomes if o.application_id == target]
    later = Outcome(
        "z-later", target, mine[0].role, stage, result, max(o.occurred_at for o in mine) + timedelta(hours=later_hours)
    )
    def journeys(records):
        conn = build(records, only=JOURNEY_MODELS, comments=False)
        return {r["application_key"]: r for r in rows(conn, "application_journeys")}

    before, after = journeys(outcomes), journeys(outcomes + [later])
    assert before.keys() == after.keys()
    for application_key, row in before.items():
        if application_key != key(target):
            assert after[application_key] == row
    assert after[key(target)]["records"] == before[key(target)]["records"] + 1
    assert after[key(target)]["last_record_at"] == later.occurred_at
