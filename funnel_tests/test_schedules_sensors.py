"""The daily schedule and the landing sensor, evaluated the way the Dagster daemon does."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from funnel.definitions import defs
from funnel.resources import FunnelWarehouse
from funnel.schedules import daily_refresh
from funnel.sensors import landing_files_sensor


def test_daily_schedule_requests_the_whole_graph_and_is_off_by_default():
    assert daily_refresh.cron_schedule == "0 6 * * *"
    assert daily_refresh.execution_timezone == "UTC"
    assert daily_refresh.default_status == dg.DefaultScheduleStatus.STOPPED
    assert daily_refresh.job_name == "funnel_job"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc))
    requests = daily_refresh.evaluate_tick(context).run_requests
    assert len(requests) == 1
    assert requests[0].asset_selection is None  # the job's own selection: every asset
    assert defs.resolve_schedule_def("daily_refresh") is not None


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "landing" / "stage_outcomes" / "2025").mkdir(parents=True)
    (tmp_path / "landing" / "interviews").mkdir(parents=True)
    return tmp_path


def evaluate(home: Path, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": FunnelWarehouse(home=str(home))})
    result = landing_files_sensor(context)
    return result, context.cursor


def test_sensor_runs_once_per_set_of_new_files_and_skips_when_nothing_changed(home: Path):
    result, cursor = evaluate(home, None)
    assert isinstance(result, dg.SkipReason)
    assert "no new or changed files" in result.skip_message and "(0 files seen)" in result.skip_message
    assert cursor is None

    export = home / "landing" / "stage_outcomes" / "2025" / "01.csv"
    export.write_text("application_id\n")
    (home / "landing" / "stage_outcomes" / ".DS_Store").write_text("x")  # hidden: not an export
    first, cursor = evaluate(home, None)
    assert isinstance(first, dg.RunRequest)
    assert first.tags["funnel/changed_files"] == "1"
    stat = export.stat()
    assert json.loads(cursor) == {"stage_outcomes/2025/01.csv": f"{stat.st_size}:{stat.st_mtime_ns}"}

    # the same files again: no second run
    again, same_cursor = evaluate(home, cursor)
    assert isinstance(again, dg.SkipReason)
    assert "(1 files seen)" in again.skip_message
    assert same_cursor == cursor

    # a second file arrives: a run for it alone, with its own run key
    (home / "landing" / "interviews" / "loop.jsonl").write_text("{}\n")
    second, cursor2 = evaluate(home, cursor)
    assert isinstance(second, dg.RunRequest)
    assert second.tags["funnel/changed_files"] == "1"
    assert second.run_key != first.run_key
    assert set(json.loads(cursor2)) == {"stage_outcomes/2025/01.csv", "interviews/loop.jsonl"}

    # an export overwritten with more rows is a change; a deleted file is not
    export.write_text("application_id\na1\n")
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third, cursor3 = evaluate(home, cursor2)
    assert isinstance(third, dg.RunRequest) and third.tags["funnel/changed_files"] == "1"
    (home / "landing" / "interviews" / "loop.jsonl").unlink()
    fourth, _ = evaluate(home, cursor3)
    assert isinstance(fourth, dg.SkipReason)


def test_sensor_run_key_is_stable_for_the_same_files(home: Path):
    (home / "landing" / "stage_outcomes" / "a.csv").write_text("x\n")
    one, _ = evaluate(home, None)
    two, _ = evaluate(home, None)
    # Dagster drops a RunRequest whose run_key it has seen: an evaluation repeated after a
    # daemon restart (cursor not yet saved) cannot start a duplicate run
    assert one.run_key == two.run_key


def test_sensor_is_on_by_default_and_targets_the_job():
    sensor = defs.resolve_sensor_def("landing_files_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "funnel_job"
