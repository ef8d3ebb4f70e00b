"""The daily schedule and the landing sensor, evaluated the way the Dagster daemon does."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from funnel.definitions import defs
from funnel.resources import FunnelWarehouse
from funnel.schedules import daily_refresh
from funnel.sensors import landing_files_sensor
from funnel.warehouse import exclusive_lock


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


@pytest.fixture(scope="module")
def home_after_cli_run(tmp_path_factory) -> Path:
    """A FUNNEL_HOME whose landing files a `funnel run` from the shell has ingested; no sensor ever ran."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME")}
    for args in (["generate", "--applications", "80", "--seed", "5"], ["run"]):
        done = subprocess.run([sys.executable, "-m", "funnel.cli", *args, "--home", str(home)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
    return home


def test_first_sensor_tick_after_a_cli_run_starts_nothing(home_after_cli_run: Path):
    """`make run` then `make ui`: the sensor starts with an empty cursor, and the files it sees were
    all ingested already. It skips, and remembers them."""
    home = home_after_cli_run
    files = sorted(p for p in (home / "landing").rglob("*") if p.is_file())
    assert len(files) > 4
    result, cursor = evaluate(home, None)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == (
        f"{len(files)} new or changed file(s) under {home / 'landing'}, all with content the working database "
        "already holds (ingested by an earlier run)"
    )
    assert set(json.loads(cursor)) == {p.relative_to(home / "landing").as_posix() for p in files}
    again, same = evaluate(home, cursor)
    assert isinstance(again, dg.SkipReason) and "no new or changed files" in again.skip_message and same == cursor


def test_sensor_after_a_cli_run_starts_a_run_only_for_new_content(home_after_cli_run: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(home_after_cli_run, home)  # copy2 keeps mtimes: the database's stamps still match
    landing = home / "landing" / "stage_outcomes"
    ingested = sorted(p for p in landing.rglob("*.csv"))[0]
    # a copy under another name and a touched file hold known content; a new export does not
    shutil.copyfile(ingested, landing / "copy_of_an_export.csv")
    os.utime(ingested, ns=(ingested.stat().st_atime_ns, ingested.stat().st_mtime_ns + 5 * 10**9))
    (landing / "new.csv").write_text("application_id,candidate_id,role,stage,outcome,occurred_at\n"
                                     "n1,c1,ml_engineer,onsite,passed,2025-01-01T10:00:00Z\n")
    result, cursor = evaluate(home, None)
    assert isinstance(result, dg.RunRequest)
    assert result.tags["funnel/changed_files"] == "1"
    stat = (landing / "new.csv").stat()
    expected_key = hashlib.sha256(
        json.dumps({"stage_outcomes/new.csv": f"{stat.st_size}:{stat.st_mtime_ns}"}, sort_keys=True).encode()
    ).hexdigest()
    assert result.run_key == expected_key
    assert {"stage_outcomes/new.csv", "stage_outcomes/copy_of_an_export.csv"} <= set(json.loads(cursor))


def test_sensor_waits_for_a_run_holding_the_working_database(home_after_cli_run: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(home_after_cli_run, home)
    with exclusive_lock(home / "warehouse" / "pipeline.duckdb"):
        result, cursor = evaluate(home, None)
    assert isinstance(result, dg.SkipReason)
    assert "a run is using the working database; they are checked on the next tick" in result.skip_message
    assert cursor is None  # nothing remembered: the next tick looks again
    result, cursor = evaluate(home, None)
    assert isinstance(result, dg.SkipReason) and "already holds" in result.skip_message and cursor
