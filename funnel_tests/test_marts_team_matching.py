"""team_matching_dropoff and its monthly view on a hand-built fixture; expected numbers by hand."""

from datetime import date, datetime

import pytest

try:
    from funnel_tests.marts_fixtures import build, one, outcome, rows, small_config
except ImportError:  # funnel_tests is not a package
    from marts_fixtures import build, one, outcome, rows, small_config

approx = pytest.approx


def matching_records():
    hc, tm = "hiring_committee", "team_matching"
    return [
        # m1: matched 10 days after the committee; offer accepted
        outcome("m1-hc", "m1", "swe", hc, "passed", "2024-03-01 09:00"),
        outcome("m1-tm", "m1", "swe", tm, "passed", "2024-03-11 09:00"),
        outcome("m1-of", "m1", "swe", "offer", "passed", "2024-03-15 09:00"),
        # m2: matched 4.5 days after the committee; offer extended, not (yet) accepted
        outcome("m2-hc", "m2", "swe", hc, "passed", "2024-03-01 09:00"),
        outcome("m2-tm0", "m2", "swe", tm, "in_progress", "2024-03-02 09:00"),
        outcome("m2-tm", "m2", "swe", tm, "passed", "2024-03-05 21:00"),
        outcome("m2-of", "m2", "swe", "offer", "in_progress", "2024-03-20 09:00"),
        # m3: no team wanted them
        outcome("m3-hc", "m3", "swe", hc, "passed", "2024-03-02 09:00"),
        outcome("m3-tm", "m3", "swe", tm, "failed", "2024-03-20 09:00"),
        # m4: withdrew during matching
        outcome("m4-hc", "m4", "swe", hc, "passed", "2024-03-02 09:00"),
        outcome("m4-tm", "m4", "swe", tm, "withdrew", "2024-03-22 09:00"),
        # m5: in matching since 5 February: 75 days before the as-of time -> stalled
        outcome("m5-hc", "m5", "swe", hc, "passed", "2024-02-01 09:00"),
        outcome("m5-tm", "m5", "swe", tm, "in_progress", "2024-02-05 09:00"),
        # m6: in matching since 5 April: 15 days -> not stalled
        outcome("m6-hc", "m6", "swe", hc, "passed", "2024-04-01 09:00"),
        outcome("m6-tm", "m6", "swe", tm, "in_progress", "2024-04-05 09:00"),
        # m7: passed the committee, no team_matching record yet -> awaiting
        outcome("m7-hc", "m7", "swe", hc, "passed", "2024-04-10 09:00"),
        # m8: failed the committee -> not cleared. Its record is the latest: as-of = 20 April 09:00
        outcome("m8-hc", "m8", "swe", hc, "failed", "2024-04-20 09:00"),
        # m9: no committee record, but a team_matching record -> cleared; exactly 30 days -> not stalled
        outcome("m9-tm", "m9", "swe", tm, "in_progress", "2024-03-21 09:00"),
        # m10: committee still deciding -> not cleared
        outcome("m10-hc", "m10", "swe", hc, "in_progress", "2024-04-12 09:00"),
        # ds has no team_matching in its pipeline: never in this mart, even with a stray record
        outcome("d1-on", "d1", "ds", "onsite", "passed", "2024-03-01 09:00"),
        outcome("d1-tm", "d1", "ds", tm, "passed", "2024-03-03 09:00"),
    ]


def test_team_matching_dropoff_all_time():
    conn = build(matching_records(), config=small_config(stall_days=30))
    assert [r["role"] for r in rows(conn, "team_matching_dropoff")] == ["swe"]
    row = one(conn, "team_matching_dropoff", role="swe")
    assert row["final_evaluation_stage"] == "hiring_committee"
    assert row["as_of"] == datetime(2024, 4, 20, 9, 0)
    assert row["applications"] == 10
    assert row["cleared"] == 8  # m1-m7, m9
    assert (row["matched"], row["unmatched"], row["withdrew"]) == (2, 1, 1)
    assert (row["in_matching"], row["stalled"], row["awaiting"], row["skipped"]) == (3, 1, 1, 0)
    assert (row["offer_extended"], row["offer_accepted"]) == (2, 1)
    assert row["dropoff_rate"] == approx(0.5)  # (1 + 1) / (2 + 1 + 1)
    assert row["median_days_to_match"] == approx(7.25)  # median of 10 and 4.5
    assert row["timed_matches"] == 2


def test_stall_threshold_comes_from_config():
    # with 80 days, m5 (75 days in matching) is no longer stalled
    conn = build(matching_records(), config=small_config(stall_days=80))
    assert one(conn, "team_matching_dropoff", role="swe")["stalled"] == 0
    # with 29 days, m9 (exactly 30 days) is stalled too; m6 (15 days) still is not
    conn = build(matching_records(), config=small_config(stall_days=29))
    assert one(conn, "team_matching_dropoff", role="swe")["stalled"] == 2


def test_as_of_is_the_data_not_the_clock():
    # the same records always give the same result: as-of is the greatest occurred_at
    first = rows(build(matching_records()), "team_matching_dropoff")
    second = rows(build(list(reversed(matching_records()))), "team_matching_dropoff")
    assert first == second


def test_team_matching_dropoff_monthly():
    conn = build(matching_records(), config=small_config(stall_days=30))
    monthly = rows(conn, "team_matching_dropoff_monthly")
    assert [(r["role"], r["cohort_month"]) for r in monthly] == [
        ("swe", date(2024, 2, 1)),
        ("swe", date(2024, 3, 1)),
        ("swe", date(2024, 4, 1)),
    ]
    feb, mar, apr = monthly
    assert (feb["applications"], feb["cleared"], feb["in_matching"], feb["stalled"]) == (1, 1, 1, 1)
    assert feb["dropoff_rate"] is None and feb["median_days_to_match"] is None
    # March: m1 m2 m3 m4 m9
    assert (mar["applications"], mar["cleared"], mar["matched"], mar["unmatched"], mar["withdrew"]) == (5, 5, 2, 1, 1)
    assert (mar["in_matching"], mar["stalled"], mar["awaiting"]) == (1, 0, 0)
    assert mar["dropoff_rate"] == approx(0.5)
    assert mar["median_days_to_match"] == approx(7.25)
    # April: m6 m7 m8 m10
    assert (apr["applications"], apr["cleared"], apr["in_matching"], apr["awaiting"]) == (4, 2, 1, 1)
    assert apr["matched"] == 0 and apr["dropoff_rate"] is None


def test_no_role_with_team_matching_means_no_rows():
    conn = build([outcome("d1", "d1", "ds", "onsite", "passed", "2024-03-01 09:00")])
    assert rows(conn, "team_matching_dropoff") == []
    assert rows(conn, "team_matching_dropoff_monthly") == []


def test_explicitly_skipped_team_matching_is_its_own_status():
    conn = build([
        outcome("s-hc", "s", "swe", "hiring_committee", "passed", "2024-03-01 09:00"),
        outcome("s-tm", "s", "swe", "team_matching", "skipped", "2024-03-02 09:00"),
        outcome("s-of", "s", "swe", "offer", "passed", "2024-03-03 09:00"),
    ])
    row = one(conn, "team_matching_dropoff", role="swe")
    assert (row["cleared"], row["skipped"], row["matched"], row["awaiting"]) == (1, 1, 0, 0)
    # offers are counted for matched applications only
    assert (row["offer_extended"], row["offer_accepted"]) == (0, 0)
    assert row["dropoff_rate"] is None
