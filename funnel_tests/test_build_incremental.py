"""An incremental build equals a full rebuild, table by table, after any sequence of batches.

Random sequences of landing batches go through the real ingestion (so exact duplicates are dropped,
conflicting and broken rows quarantined): new applications, corrections of old ones, late records
with earlier timestamps, interviews, self-identification responses, and sometimes a changed
configuration. After each batch the working database is built the way a run builds it
(incrementally where it can) and compared with a full rebuild of the same records: every
intermediate table holds the same rows, every published mart the same rows in the same order.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from funnel import build
from funnel.build import build_models
from funnel.config import default_config
from funnel.contract import FEEDS
from funnel.ingest import ingest_feed
from funnel.keys import install_key
from funnel.models import PUBLISHED_MARTS, load_models, published_order
from funnel.publish import publish
from funnel.quality.sql_checks import single_terminal_outcome
from funnel.quality.validation import rewritten_rows, validate_mart
from funnel.warehouse import connect, create_schema, write_config_tables
from funnel_tests.conftest import INTERVIEW_COLUMNS, STAGE_COLUMNS, write_csv
from funnel_tests.marts_fixtures import TEST_KEY_SECRET

CONFIG = default_config()
ROLES = ("ml_engineer", "research_scientist")  # one pipeline with team matching, one without
APPS = 8
BASE = datetime(2024, 5, 28, 9, 0)  # near a month end: two cohorts
OUTCOMES = ("passed", "failed", "withdrew", "in_progress", "skipped")
DEMOGRAPHIC_COLUMNS = ["candidate_id", "sex", "race_ethnicity", "veteran_status", "disability_status", "collected_at"]
# Shrinking a sequence of batches takes minutes: a failure is reported as found.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
INTERMEDIATE = tuple(m.name for m in load_models() if m.layer == "intermediate")

# A changed configuration: a longer stall, and a role whose pipeline loses a stage.
CHANGED_CONFIG = dataclasses.replace(
    CONFIG,
    team_matching_stall_days=3,
    roles={**CONFIG.roles, "research_scientist": dataclasses.replace(
        CONFIG.roles["research_scientist"],
        pipeline=tuple(s for s in CONFIG.roles["research_scientist"].pipeline if s != "take_home"))},
)


def _event(app: int, stage: str, outcome: str, day: int, hour: int, event_id: str | None, travel: str, source: str):
    return {"event_id": event_id or "", "application_id": f"app{app}", "candidate_id": f"cand{app % 5}",
            "role": ROLES[app % 2], "stage": stage, "outcome": outcome,
            "occurred_at": (BASE + timedelta(days=day, hours=hour)).isoformat() + "Z",
            "team": "", "source": source, "level": "", "requires_travel": travel}


events = st.builds(
    _event,
    st.integers(0, APPS - 1),
    st.sampled_from(CONFIG.stages),
    st.sampled_from(OUTCOMES),
    st.integers(-10, 40),  # negative: a late record older than what is already there
    st.sampled_from([0, 12]),  # few distinct instants: plenty of ties
    st.one_of(st.none(), st.sampled_from([f"e{i}" for i in range(6)])),  # a reused event_id: duplicate
    st.sampled_from(["", "true", "false"]),
    st.sampled_from(["", "referral", "agency"]),
)
broken_events = st.builds(  # quarantined: an unknown outcome, a missing application, a bad timestamp
    lambda row, how: {**row, **how},
    events,
    st.sampled_from([{"outcome": "maybe"}, {"application_id": ""}, {"occurred_at": "32/01/2025"}]),
)
interviews = st.builds(
    lambda app, who, skill, rec, day: {
        "interview_id": "", "application_id": f"app{app}", "stage": "onsite", "interviewer_id": who, "skill": skill,
        "recommendation": rec, "occurred_at": (BASE + timedelta(days=day)).isoformat() + "Z"},
    st.integers(0, APPS - 1), st.sampled_from(["ann", "ben"]), st.sampled_from(["coding", "ml_theory", "behavioral"]),
    st.sampled_from(["strong_yes", "yes", "no", "strong_no"]), st.integers(0, 20),
)
responses = st.builds(
    lambda cand, sex, day: {"candidate_id": f"cand{cand}", "sex": sex, "race_ethnicity": "Asian",
                            "veteran_status": "", "disability_status": "No",
                            "collected_at": (BASE + timedelta(days=day)).isoformat() + "Z"},
    st.integers(0, 4), st.sampled_from(["Female", "Male", "", "decline_to_self_identify"]), st.integers(0, 30),
)
batches = st.lists(
    st.fixed_dictionaries({
        "events": st.lists(events, min_size=1, max_size=14),
        "broken": st.lists(broken_events, max_size=2),
        "interviews": st.lists(interviews, max_size=4),
        "responses": st.lists(responses, max_size=3),
        "change_config": st.booleans(),
    }),
    min_size=2,
    max_size=4,
)


def _snapshot(conn) -> dict[str, list[tuple]]:
    tables = {name: conn.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in INTERMEDIATE}
    # the published marts as publishing copies them: in the table's order, or the order it declares
    order = published_order()
    tables.update({name: conn.execute(f"SELECT * FROM {name} {order.get(name, '')}").fetchall()
                   for name in PUBLISHED_MARTS})
    return tables


def _same(value, other) -> bool:
    """Equal; floats within 1e-12 relative (a sum over rows stored in another order may differ in the
    last bit), lists and tuples element by element."""
    if isinstance(value, float) and isinstance(other, float):
        return value == other or abs(value - other) <= 1e-12 * max(abs(value), abs(other))
    if isinstance(value, (list, tuple)) and isinstance(other, (list, tuple)):
        return len(value) == len(other) and all(_same(a, b) for a, b in zip(value, other))
    return value == other


def _assert_same(incremental: dict, full: dict, step: int) -> None:
    for table, rows in full.items():
        got = incremental[table]
        assert len(got) == len(rows), f"batch {step}: {table} has {len(got)} rows incrementally, {len(rows)} in full"
        for i, (a, b) in enumerate(zip(got, rows)):
            assert _same(a, b), f"batch {step}: {table} row {i} differs:\n incremental {a}\n full        {b}"


def _full_rebuild(conn) -> dict[str, list[tuple]]:
    """A full rebuild of the same records, inside a transaction that is rolled back."""
    conn.execute("BEGIN TRANSACTION")
    try:
        report = build_models(conn, comments=False, incremental=False)
        assert report.mode == "full"
        return _snapshot(conn)
    finally:
        conn.execute("ROLLBACK")


def _land(root: Path, step: int, batch: dict) -> None:
    write_csv(root / "stage_outcomes" / f"batch{step}.csv", batch["events"] + batch["broken"], STAGE_COLUMNS)
    if batch["interviews"]:
        write_csv(root / "interviews" / f"batch{step}.csv", batch["interviews"], INTERVIEW_COLUMNS)
    if batch["responses"]:
        write_csv(root / "demographics" / f"batch{step}.csv", batch["responses"], DEMOGRAPHIC_COLUMNS)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(sequence=batches)
def test_incremental_build_equals_full_rebuild_after_every_batch(sequence):
    with TemporaryDirectory() as tmp, mock.patch.object(build, "INCREMENTAL_MAX_SHARE", float("inf")):
        root = Path(tmp)
        conn = connect(":memory:")
        conn.execute("SET threads = 1")
        install_key(conn, TEST_KEY_SECRET)
        create_schema(conn)
        config = CONFIG
        for step, batch in enumerate(sequence):
            changed = batch["change_config"] and step > 0
            if changed:
                config = CHANGED_CONFIG if config is CONFIG else CONFIG
            write_config_tables(conn, config)
            _land(root / "landing", step, batch)
            for name, feed in FEEDS.items():
                ingest_feed(conn, root / "landing" / name, feed, config, f"batch-{step}")
            report = build_models(conn, comments=False)
            expected_mode = "full" if step == 0 or changed else "incremental"
            assert report.mode == expected_mode, (step, report.why)
            _assert_same(_snapshot(conn), _full_rebuild(conn), step)
        conn.close()


def _working_database():
    """An empty working database in memory, with the default configuration and the tests' key."""
    conn = connect(":memory:")
    install_key(conn, TEST_KEY_SECRET)
    create_schema(conn)
    write_config_tables(conn, CONFIG)
    return conn


def _deliver(conn, root: Path, batch: str, events: list[dict]) -> None:
    """`events` landed as one stage_outcomes CSV and ingested as batch `batch`."""
    write_csv(root / "stage_outcomes" / f"{batch}.csv", events, STAGE_COLUMNS)
    ingest_feed(conn, root / "stage_outcomes", FEEDS["stage_outcomes"], CONFIG, batch)


def _records_of(conn, app: str) -> int:
    return conn.execute("SELECT count(*) FROM int_latest_stage_records WHERE application_id = ?", [app]).fetchall()[0][0]


def test_only_touched_applications_are_rebuilt_and_the_state_records_batches(tmp_path):
    conn = _working_database()
    _deliver(conn, tmp_path, "run-1", [_event(a, "application_review", "passed", a, 0, None, "", "") for a in range(6)])
    report = build_models(conn, comments=False)
    assert (report.mode, report.why) == ("full", "first build")
    assert conn.execute("SELECT record_table, batch_id FROM model_build_batches ORDER BY ALL").fetchall() == [
        ("stage_outcome_records", "run-1")]

    # one more record for app1 only: one application touched, the others' rows left as they are
    _deliver(conn, tmp_path, "run-2", [_event(1, "recruiter_screen", "failed", 3, 0, None, "", "")])
    with mock.patch.object(build, "INCREMENTAL_MAX_SHARE", 0.5):
        report = build_models(conn, comments=False)
    assert report.mode == "incremental" and report.touched == {"application_id": 1, "candidate_id": 0}
    assert report.summary() == (
        "intermediate tables and application_journeys updated incrementally (1 applications, 0 candidates)")
    assert _records_of(conn, "app1") == 2 and _records_of(conn, "app2") == 1
    assert conn.execute("SELECT final_status FROM int_applications WHERE application_id = 'app1'").fetchall() == [
        ("rejected",)]
    assert conn.execute("SELECT count(*) FROM model_build_batches").fetchall() == [(2,)]

    # nothing new: incremental, nothing touched
    assert build_models(conn, comments=False).touched == {"application_id": 0, "candidate_id": 0}

    # more than the share touched: a full build says why
    _deliver(conn, tmp_path, "run-3", [_event(a, "recruiter_screen", "passed", 4, 0, None, "", "") for a in (2, 3, 4)])
    report = build_models(conn, comments=False)
    assert (report.mode, report.why) == ("full", "3 of 6 application_id values touched, more than 30%")

    # a changed configuration rebuilds in full; so does a build of only some intermediate tables
    write_config_tables(conn, dataclasses.replace(CONFIG, team_matching_stall_days=5))
    assert build_models(conn, comments=False).why == "the SQL, the configuration or the key changed"
    install_key(conn, b"another secret")
    assert build_models(conn, comments=False).why == "the SQL, the configuration or the key changed"
    assert build_models(conn, ["int_application_attributes"], comments=False).mode == "selected"
    assert build_models(conn, comments=False).why == "the last build built only some of the tables, or failed"
    conn.execute("DROP TABLE int_team_matching")
    assert build_models(conn, comments=False).why == "a table is missing: int_team_matching"


def test_a_failed_incremental_build_leaves_tables_and_state_as_they_were(tmp_path):
    conn = _working_database()
    _deliver(conn, tmp_path, "run-1", [_event(a, "application_review", "passed", a, 0, None, "", "") for a in range(6)])
    build_models(conn, comments=False)
    before = _snapshot(conn)
    _deliver(conn, tmp_path, "run-2", [_event(1, "onsite", "passed", 3, 0, None, "", "")])
    team_matching = next(m for m in load_models() if m.name == "int_team_matching")
    broken = dataclasses.replace(team_matching, sql="SELECT error('disk full')")
    real = build.build_model

    def failing(c, model, **kw):
        return real(c, broken if model.name == "int_team_matching" else model, **kw)

    with mock.patch.object(build, "INCREMENTAL_MAX_SHARE", float("inf")), mock.patch.object(build, "build_model", failing):
        with pytest.raises(Exception, match="disk full"):
            build_models(conn, comments=False)
    assert _snapshot(conn) == before
    assert conn.execute("SELECT batch_id FROM model_build_batches").fetchall() == [("run-1",)]
    assert not conn.execute("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()
    with mock.patch.object(build, "INCREMENTAL_MAX_SHARE", float("inf")):
        assert build_models(conn, comments=False).mode == "incremental"
    assert _records_of(conn, "app1") == 2


def test_an_incremental_mart_is_published_in_its_order(tmp_path):
    conn = _working_database()
    _deliver(conn, tmp_path, "run-1", [_event(a, "application_review", "passed", 5, 0, None, "", "") for a in range(6)])
    build_models(conn, comments=False)
    # app0 moves to an earlier cohort month (a late record from April): its row is rewritten in place, last
    _deliver(conn, tmp_path, "run-2", [_event(0, "application_review", "in_progress", -30, 0, None, "", "")])
    with mock.patch.object(build, "INCREMENTAL_MAX_SHARE", float("inf")):
        assert build_models(conn, comments=False).mode == "incremental"
    order = published_order()
    assert order == {"application_journeys": "ORDER BY role, cohort_month, application_key"}
    in_order = conn.execute(f"SELECT * FROM application_journeys {order['application_journeys']}").fetchall()
    assert conn.execute("SELECT * FROM application_journeys").fetchall() != in_order  # rewritten in place
    published = publish(conn, tmp_path / "funnel.duckdb", list(PUBLISHED_MARTS), "run-2", order=order)
    conn.execute(f"ATTACH '{published.path}' AS analysts (READ_ONLY)")
    assert conn.execute("SELECT * FROM analysts.application_journeys").fetchall() == in_order
    assert [row[2] for row in in_order][:2] == [date(2024, 4, 1), date(2024, 6, 1)]  # cohort months


def test_an_incremental_marts_suite_reads_the_rows_rewritten_since_the_last_publish(tmp_path):
    conn = _working_database()
    _deliver(conn, tmp_path, "run-1", [_event(a, "application_review", "passed", 1, 0, None, "", "") for a in range(6)])
    build_models(conn, comments=False)
    # nothing published yet: every row
    assert rewritten_rows(conn, "application_journeys", "run-1") is None
    assert validate_mart(conn, "application_journeys", run_id="run-1").rows == 6
    publish(conn, tmp_path / "funnel.duckdb", list(PUBLISHED_MARTS), "run-1")

    _deliver(conn, tmp_path, "run-2", [_event(a, "recruiter_screen", "passed", 2, 0, None, "", "") for a in (1, 7)])
    with mock.patch.object(build, "INCREMENTAL_MAX_SHARE", float("inf")):
        assert build_models(conn, comments=False).mode == "incremental"
    result = validate_mart(conn, "application_journeys", run_id="run-2")
    assert result.success and result.rows == 2  # app1 (rewritten) and app7 (new), of 7
    assert result.where.startswith('"application_key" IN (SELECT application_key FROM "int_applications" WHERE ')
    assert validate_mart(conn, "application_journeys").rows == 7  # without a run: every row
    assert rewritten_rows(conn, "stage_pass_rates", "run-2") is None  # not incremental: every row

    # single_terminal_outcome reads the same applications: a second decision of app7 is found, app3's is not
    assert single_terminal_outcome(conn, "run-2").passed
    conn.execute("INSERT INTO int_latest_stage_records SELECT * REPLACE ('failed' AS outcome) "
                 "FROM int_latest_stage_records WHERE application_id IN ('app3', 'app7')")
    scoped = single_terminal_outcome(conn, "run-2")
    assert scoped.metrics["applications_checked"] == "rewritten since the last publish"
    assert [(e["application_id"], e["outcomes"]) for e in scoped.examples if e["found_in"] == "int_latest_stage_records"
            ] == [("app7", ["failed", "passed"])]
    assert {e["application_id"] for e in single_terminal_outcome(conn).examples} == {"app3", "app7"}

    # a rewritten row that breaks a rule fails the suite
    conn.execute("UPDATE application_journeys SET records = 0 WHERE application_key = "
                 "(SELECT application_key FROM int_applications WHERE application_id = 'app7')")
    failed = validate_mart(conn, "application_journeys", run_id="run-2")
    assert not failed.success and failed.unexpected_rows == 1

    # after a full rebuild that no run published, every row again
    write_config_tables(conn, dataclasses.replace(CONFIG, team_matching_stall_days=5))
    assert build_models(conn, comments=False).mode == "full"
    assert rewritten_rows(conn, "application_journeys", "run-2") is None
    assert validate_mart(conn, "application_journeys", run_id="run-2").rows == 7
