"""adverse_impact: selection rates per group at every step, against the reference group, with small
cells suppressed. Every expected number is worked out by hand (the two known cases of the issue
come from the Guidelines' arithmetic, the z and p values from the formulas and scipy's convention)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from funnel.config import Fairness
from funnel.fairness import fisher_exact_p
from funnel_tests.marts_fixtures import INGESTED_AT, _insert, build_all, new_warehouse, one, outcome, rows, small_config

ONLY = ("stg_stage_outcomes", "int_application_attributes", "int_latest_stage_records", "int_application_stages",
        "int_applications", "int_candidate_demographics", "adverse_impact")


class Cohort:
    """Applications built in bulk: each candidate applies once (unless told otherwise), passes every
    pipeline stage before `stage`, and passes or fails `stage`."""

    def __init__(self) -> None:
        self.outcomes: list = []
        self.people: list[tuple] = []
        self.count = 0

    def add(self, role: str, stage: str, passed: int, failed: int, sex: str | None, race: str | None,
            *, demographics: bool = True) -> list[str]:
        pipeline = small_config().roles[role].pipeline
        before = pipeline[: pipeline.index(stage)]
        candidates = []
        for i in range(passed + failed):
            self.count += 1
            app, cand = f"{role}-{self.count}", f"c{self.count}"
            for n, step in enumerate(before):
                self.outcomes.append(outcome(f"{app}-{n}", app, role, step, "passed", f"2024-03-0{n + 1} 09:00", candidate_id=cand))
            result = "passed" if i < passed else "failed"
            self.outcomes.append(outcome(f"{app}-x", app, role, stage, result, "2024-03-09 09:00", candidate_id=cand))
            if demographics:
                self.people.append((cand, sex, race))
            candidates.append(cand)
        return candidates

    def build(self, fairness: Fairness | None = None, extra_people: list[tuple] = ()):
        config = small_config()
        if fairness is not None:
            config = replace(config, fairness=fairness)
        conn = new_warehouse(config)
        from funnel_tests.marts_fixtures import insert_outcomes

        insert_outcomes(conn, self.outcomes)
        insert_demographics(conn, [(cand, sex, race, None) for cand, sex, race in [*self.people, *extra_people]])
        build_all(conn, only=ONLY, comments=False)
        return conn


def insert_demographics(conn, people: list[tuple]) -> None:
    """(candidate_id, sex, race_ethnicity, collected_at) rows, in reading order."""
    _insert(conn, "demographic_records", [
        (f"d{line}", cand, sex, race, None, None, collected_at, f"h{line}", "demo.csv", line, "b1", INGESTED_AT)
        for line, (cand, sex, race, collected_at) in enumerate(people, start=2)
    ])


def impact(conn, role: str, step: str, dimension: str, group: str) -> dict:
    return one(conn, "adverse_impact", role=role, step=step, dimension=dimension, group_name=group)


# ---------------------------------------------------------------------------------------------
# The statistics on their own


def test_the_known_cases_of_the_statistics():
    assert fisher_exact_p(12, 40, 48, 80) == pytest.approx(0.0034092, rel=1e-4)
    assert round(fisher_exact_p(3, 20, 16, 80), 6) == 0.757062
    conn = new_warehouse()
    from funnel.metrics import create_sql_macros

    create_sql_macros(conn)
    first = conn.execute("SELECT below_four_fifths(12, 40, 48, 80), round(two_proportion_z(12, 40, 48, 80), 6),"
                         " selection_shortfall(12, 40, 48, 80), flip_flop(12, 40, 48, 80)").fetchone()
    assert first == (True, 3.098387, 8.0, False)
    second = conn.execute("SELECT below_four_fifths(3, 20, 16, 80), round(two_proportion_z(3, 20, 16, 80), 6),"
                          " round(selection_shortfall(3, 20, 16, 80), 12), flip_flop(3, 20, 16, 80)").fetchone()
    assert second == (True, 0.509813, 0.8, True)
    # exactly four fifths is not below it, though 0.6 / 0.75 is 0.7999999999999999 in floating point
    assert 0.6 / 0.75 < 0.8
    assert conn.execute("SELECT below_four_fifths(3, 5, 3, 4), below_four_fifths(2, 5, 3, 4)").fetchone() == (False, True)
    # no variance (nobody or everybody selected): no z
    assert conn.execute("SELECT two_proportion_z(0, 10, 0, 20), two_proportion_z(10, 10, 20, 20)").fetchone() == (None, None)


# ---------------------------------------------------------------------------------------------
# The mart


def test_the_two_known_cases_per_stage_and_overall():
    cohort = Cohort()
    cohort.add("swe", "technical_screen", 48, 32, "male", "asian")
    cohort.add("swe", "technical_screen", 12, 28, "female", "asian")
    cohort.add("ds", "take_home", 16, 64, "female", "white")
    cohort.add("ds", "take_home", 3, 17, "male", "white")
    conn = cohort.build()

    female = impact(conn, "swe", "technical_screen", "sex", "female")
    assert (female["applicants"], female["selected"], female["selection_rate"]) == (40, 12, 0.3)
    assert (female["reference_group"], female["is_reference"], female["impact_ratio"]) == ("male", False, 0.5)
    assert female["four_fifths_flag"] is True and female["significant"] is True and female["flip_flop"] is False
    assert round(female["z"], 6) == 3.098387
    assert female["p_value"] == pytest.approx(0.0034092, rel=1e-4)
    assert female["shortfall"] == 8.0
    male = impact(conn, "swe", "technical_screen", "sex", "male")
    assert (male["applicants"], male["selected"], male["selection_rate"], male["is_reference"]) == (80, 48, 0.6, True)
    assert (male["impact_ratio"], male["four_fifths_flag"], male["significant"], male["flip_flop"]) == (1.0, False, False, False)
    assert (male["z"], male["p_value"], male["shortfall"]) == (None, None, None)

    small = impact(conn, "ds", "take_home", "sex", "male")
    assert (small["applicants"], small["selected"], small["selection_rate"]) == (20, 3, 0.15)
    assert small["impact_ratio"] == 0.75  # exactly: one division of integer products
    assert small["four_fifths_flag"] is True and small["significant"] is False and small["flip_flop"] is True
    assert (round(small["z"], 6), round(small["p_value"], 6), round(small["shortfall"], 12)) == (0.509813, 0.757062, 0.8)

    # the earlier stages passed everybody: every group at 100%, nobody flagged
    review = impact(conn, "swe", "application_review", "sex", "female")
    assert (review["applicants"], review["selected"], review["impact_ratio"], review["four_fifths_flag"]) == (40, 40, 1.0, False)
    assert review["reference_group"] == "male"  # equal rates: the larger group
    # overall: nobody hired yet, the failed are rejected: every group at 0% (no ratio, no flag, p = 1)
    overall = impact(conn, "swe", "overall", "sex", "female")
    assert (overall["applicants"], overall["selected"], overall["selection_rate"]) == (28, 0, 0.0)
    assert (overall["reference_group"], overall["impact_ratio"], overall["four_fifths_flag"]) == ("male", None, False)
    assert (overall["z"], overall["p_value"], overall["shortfall"], overall["flip_flop"]) == (None, 1.0, 0.0, False)
    # steps: overall first, then the pipeline's stages the applications reached, in pipeline order
    steps = [r["step"] for r in rows(conn, "adverse_impact", "role = 'swe' AND dimension = 'sex' AND group_name = 'female'")]
    assert steps == ["overall", "application_review", "recruiter_screen", "technical_screen"]


def test_hired_applications_are_selected_overall():
    cohort = Cohort()
    hired = cohort.add("ds", "offer", 12, 0, "female", "asian")  # passed the last stage: hired
    cohort.add("ds", "offer", 0, 10, "male", "asian")  # offer rescinded: rejected
    conn = cohort.build()
    assert len(hired) == 12
    female, male = impact(conn, "ds", "overall", "sex", "female"), impact(conn, "ds", "overall", "sex", "male")
    assert (female["applicants"], female["selected"], female["is_reference"]) == (12, 12, True)
    assert (male["applicants"], male["selected"], male["impact_ratio"], male["four_fifths_flag"]) == (10, 0, 0.0, True)
    assert male["shortfall"] == pytest.approx(10 * 12 / 22)
    assert male["flip_flop"] is False  # 1/10 is still below 11/12


def test_exactly_four_fifths_is_not_flagged():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 3, 2, "female", "asian")  # 3 of 5
    cohort.add("swe", "recruiter_screen", 3, 1, "male", "asian")  # 3 of 4
    conn = cohort.build(Fairness(min_group_size=1, min_group_share=0.02))
    female = impact(conn, "swe", "recruiter_screen", "sex", "female")
    assert female["impact_ratio"] == 0.8 and female["four_fifths_flag"] is False


def test_ties_for_the_highest_rate_go_to_the_larger_group_then_the_name():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 10, 10, "female", "white")  # 50% of 20
    cohort.add("swe", "recruiter_screen", 6, 6, "male", "asian")  # 50% of 12
    cohort.add("swe", "recruiter_screen", 6, 6, "another", "black_or_african_american")  # 50% of 12
    conn = cohort.build()
    assert {r["reference_group"] for r in rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'sex'")} == {"female"}
    # race: asian and black_or_african_american tie at 12 as well as on the rate; the white group is larger
    race = rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'race_ethnicity'")
    assert [(r["group_name"], r["is_reference"], r["impact_ratio"]) for r in race] == [
        ("asian", False, 1.0), ("black_or_african_american", False, 1.0), ("white", True, 1.0)]
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 6, 6, "male", "white")
    cohort.add("swe", "recruiter_screen", 6, 6, "female", "asian")
    conn = cohort.build()
    assert impact(conn, "swe", "recruiter_screen", "sex", "male")["reference_group"] == "female"  # by name


def test_a_group_with_nobody_selected():
    cohort = Cohort()
    cohort.add("swe", "technical_screen", 10, 10, "female", "asian")
    cohort.add("swe", "technical_screen", 0, 20, "male", "asian")
    conn = cohort.build()
    male = impact(conn, "swe", "technical_screen", "sex", "male")
    assert (male["selection_rate"], male["impact_ratio"], male["four_fifths_flag"], male["shortfall"]) == (0.0, 0.0, True, 5.0)
    assert male["flip_flop"] is False and male["significant"] is True
    assert male["p_value"] == pytest.approx(fisher_exact_p(0, 20, 10, 20))


def test_groups_under_the_minimum_share_keep_counts_but_are_not_compared():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 300, 289, "female", "white")  # 589
    cohort.add("swe", "recruiter_screen", 1, 10, "female", "asian")  # 11 of 600 known: under 2%
    cohort.add("swe", "recruiter_screen", 5, 5, "female", "black_or_african_american")  # 10
    conn = cohort.build()
    # known applicants 610: 2% is 12.2, so both small groups are under the share
    asian = impact(conn, "swe", "recruiter_screen", "race_ethnicity", "asian")
    assert (asian["applicants"], asian["selected"], asian["below_min_share"], asian["suppressed"]) == (11, 1, True, False)
    assert asian["selection_rate"] == pytest.approx(1 / 11)
    assert (asian["impact_ratio"], asian["four_fifths_flag"], asian["z"], asian["p_value"]) == (None, None, None, None)
    black = impact(conn, "swe", "recruiter_screen", "race_ethnicity", "black_or_african_american")
    assert (black["applicants"], black["below_min_share"], black["impact_ratio"]) == (10, True, None)
    white = impact(conn, "swe", "recruiter_screen", "race_ethnicity", "white")
    assert (white["is_reference"], white["below_min_share"]) == (True, False)
    # exactly at the share is not under it: 12 of 600 is 2%
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 300, 288, "female", "white")
    cohort.add("swe", "recruiter_screen", 6, 6, "female", "asian")
    conn = cohort.build()
    asian = impact(conn, "swe", "recruiter_screen", "race_ethnicity", "asian")
    assert (asian["below_min_share"], asian["impact_ratio"]) == (False, (6 * 588) / (12 * 300))  # 0.98


def test_small_groups_are_suppressed_and_a_lone_one_takes_the_next_smallest_with_it():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 40, 20, "female", "white")
    cohort.add("swe", "recruiter_screen", 15, 15, "female", "asian")
    cohort.add("swe", "recruiter_screen", 3, 2, "female", "black_or_african_american")  # 5: under 10
    conn = cohort.build()
    race = {r["group_name"]: r for r in rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'race_ethnicity'")}
    assert race["black_or_african_american"]["suppressed"] and race["asian"]["suppressed"]  # 30: the next smallest
    for name in ("black_or_african_american", "asian"):
        suppressed = race[name]
        assert (suppressed["applicants"], suppressed["selected"], suppressed["selection_rate"]) == (None, None, None)
        assert (suppressed["impact_ratio"], suppressed["four_fifths_flag"], suppressed["z"], suppressed["p_value"],
                suppressed["shortfall"], suppressed["flip_flop"], suppressed["below_min_share"]) == (None,) * 7
        assert suppressed["is_reference"] is False
    assert (race["white"]["applicants"], race["white"]["suppressed"], race["white"]["is_reference"]) == (60, False, True)
    # two small groups protect each other: nothing else is suppressed
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 40, 20, "female", "white")
    cohort.add("swe", "recruiter_screen", 15, 15, "female", "asian")
    cohort.add("swe", "recruiter_screen", 3, 2, "female", "black_or_african_american")
    cohort.add("swe", "recruiter_screen", 4, 4, "female", "two_or_more_races")
    conn = cohort.build()
    suppressed = [r["group_name"] for r in rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'race_ethnicity' AND suppressed")]
    assert suppressed == ["black_or_african_american", "two_or_more_races"]
    # the minimum size comes from funnel.yaml
    conn = cohort.build(Fairness(min_group_size=5, min_group_share=0.02))
    assert [r["group_name"] for r in rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'race_ethnicity' AND suppressed")] == []


def test_unknown_is_counted_apart_and_the_intersection_is_unknown_when_either_is():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 30, 10, "female", "asian")
    cohort.add("swe", "recruiter_screen", 20, 20, "male", "asian")
    cohort.add("swe", "recruiter_screen", 5, 10, "male", None)  # race declined
    cohort.add("swe", "recruiter_screen", 2, 10, None, None, demographics=False)  # never answered
    conn = cohort.build()
    unknown_sex = impact(conn, "swe", "recruiter_screen", "sex", "unknown")
    assert (unknown_sex["applicants"], unknown_sex["selected"], unknown_sex["suppressed"]) == (12, 2, False)
    assert (unknown_sex["selection_rate"], unknown_sex["impact_ratio"], unknown_sex["reference_group"]) == (None, None, "female")
    assert (unknown_sex["four_fifths_flag"], unknown_sex["below_min_share"], unknown_sex["is_reference"]) == (None, None, False)
    male = impact(conn, "swe", "recruiter_screen", "sex", "male")
    assert (male["applicants"], male["selected"]) == (55, 25)
    assert male["impact_ratio"] == pytest.approx((25 / 55) / (30 / 40))
    unknown_race = impact(conn, "swe", "recruiter_screen", "race_ethnicity", "unknown")
    assert (unknown_race["applicants"], unknown_race["selected"]) == (27, 7)
    both = {r["group_name"]: (r["applicants"], r["selected"]) for r in
            rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'sex_x_race_ethnicity'")}
    assert both == {"female_x_asian": (40, 30), "male_x_asian": (40, 20), "unknown": (27, 7)}
    # unknown is listed last
    assert [r["group_name"] for r in rows(conn, "adverse_impact", "step = 'recruiter_screen' AND dimension = 'sex'")] == [
        "female", "male", "unknown"]


def test_a_candidate_with_two_applications_and_one_self_identification():
    cohort = Cohort()
    cohort.add("swe", "recruiter_screen", 10, 10, "male", "white")
    cohort.add("ds", "recruiter_screen", 10, 10, "male", "white")
    twice = cohort.add("swe", "recruiter_screen", 12, 0, "female", "white")
    # the same twelve candidates also apply to ds (and fail there): one demographics row each
    for n, cand in enumerate(twice):
        app = f"again-{n}"
        cohort.outcomes.append(outcome(f"{app}-0", app, "ds", "application_review", "passed", "2024-03-01 09:00", candidate_id=cand))
        cohort.outcomes.append(outcome(f"{app}-x", app, "ds", "recruiter_screen", "failed", "2024-03-09 09:00", candidate_id=cand))
    conn = cohort.build()
    assert (impact(conn, "swe", "recruiter_screen", "sex", "female")["applicants"],
            impact(conn, "ds", "recruiter_screen", "sex", "female")["applicants"],
            impact(conn, "ds", "recruiter_screen", "sex", "female")["selected"]) == (12, 12, 0)


def test_the_latest_self_identification_wins():
    conn = new_warehouse()
    insert_demographics(conn, [
        ("c1", "female", "asian", datetime(2024, 1, 5)),
        ("c1", "male", "white", datetime(2024, 1, 2)),  # older, read later: loses
        ("c2", "female", "white", None),
        ("c2", None, None, datetime(2024, 1, 1)),  # a dated response beats an undated one, and declines
        ("c3", "male", "asian", datetime(2024, 2, 1)),
        ("c3", "another", "asian", datetime(2024, 2, 1)),  # the same time: the later read wins
    ])
    build_all(conn, only=("int_candidate_demographics",), comments=False)
    assert conn.execute("SELECT candidate_id, sex, race_ethnicity FROM int_candidate_demographics").fetchall() == [
        ("c1", "female", "asian"), ("c2", None, None), ("c3", "another", "asian")]
