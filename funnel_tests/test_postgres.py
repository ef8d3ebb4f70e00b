"""The deployment a team runs, for real: the Dagster instance in a throwaway PostgreSQL server
(FUNNEL_POSTGRES_URL), `dagster-daemon run` as its own process, and `funnel run` submitting to the
run queue instead of running in its own process. Skipped, saying why, where PostgreSQL's binaries
are absent (.ci/run installs them)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from funnel import cli
from funnel.config import default_config
from funnel.generate import generate
from funnel.instance import DAGSTER_YAML, DAGSTER_YAML_POSTGRES, LOCATION_NAME, MARKER, prepare
from funnel.instance_storage import PostgresStorage, with_psycopg2
from funnel.settings import FunnelHome
from funnel_tests.postgres import free_port, postgres_server, postgres_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
FUNNEL_VARS = ("FUNNEL_HOME", "DAGSTER_HOME", "FUNNEL_POSTGRES_URL", "FUNNEL_QUEUE_TIMEOUT")


def environment(url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FUNNEL_VARS}
    if url:
        env["FUNNEL_POSTGRES_URL"] = url
    return {**env, **extra}


def funnel(home: Path, url: str | None, command: str, *args: str, timeout: float = 600, **extra: str):
    return subprocess.run(
        [sys.executable, "-m", "funnel.cli", command, "--home", str(home), *args],
        capture_output=True, text=True, env=environment(url, **extra), cwd=ROOT, timeout=timeout,
    )


def query(url: str, sql: str, *params) -> list[tuple]:
    """Straight from PostgreSQL, with the driver dagster-postgres uses: not through Dagster."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@contextmanager
def instance_at(dagster_home: Path, url: str | None):
    """The Dagster instance configured by DAGSTER_HOME/dagster.yaml, as the webserver loads it."""
    saved = os.environ.get("FUNNEL_POSTGRES_URL")
    if url:
        os.environ["FUNNEL_POSTGRES_URL"] = url
    else:
        os.environ.pop("FUNNEL_POSTGRES_URL", None)
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
            yield instance
    finally:
        if saved is None:
            os.environ.pop("FUNNEL_POSTGRES_URL", None)
        else:
            os.environ["FUNNEL_POSTGRES_URL"] = saved


def wait_until_finished(url: str, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = query(url, "SELECT status FROM runs WHERE run_id = %s", run_id)[0][0]
        if status in ("SUCCESS", "FAILURE", "CANCELED") or time.monotonic() > deadline:
            return status
        time.sleep(1)


def run_id_in(text: str, pattern: str = r"run (\S+) queued") -> str:
    match = re.search(pattern, text)
    assert match, text
    return match.group(1)


@pytest.fixture(scope="module")
def pg_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("pg_home")
    generate(home / "landing", 100, 11, default_config())
    return home


def heartbeat_since(url: str, since: float) -> bool:
    """The daemon's run queue has reported since `since` (it has started, and created the tables)."""
    try:
        return bool(query(url, "SELECT 1 FROM daemon_heartbeats WHERE daemon_type = 'QUEUED_RUN_COORDINATOR'"
                               " AND timestamp > to_timestamp(%s) AT TIME ZONE 'UTC'", since))
    except psycopg2.Error:  # no tables yet
        return False


@pytest.fixture(scope="module")
def daemon(pg_home: Path, postgres_url: str):
    """`dagster-daemon run` over the same FUNNEL_HOME, DAGSTER_HOME and PostgreSQL instance, as its
    systemd unit starts it (docs/deploy.md): `python -m funnel.instance` first, then the daemon."""
    env = environment(postgres_url, FUNNEL_HOME=str(pg_home), DAGSTER_HOME=str(pg_home / ".dagster"),
                      FUNNEL_SENSOR_DEFAULT="off")  # only the runs the tests submit
    prepared = subprocess.run([sys.executable, "-m", "funnel.instance"], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=120)
    assert prepared.returncode == 0, prepared.stderr
    assert "Dagster instance: PostgreSQL at 127.0.0.1:" in prepared.stdout
    log_path = pg_home / "daemon.log"
    log = log_path.open("w")
    started = time.time()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not heartbeat_since(postgres_url, started - 5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dagster-daemon did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(1)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def test_dagster_yaml_follows_the_setting_and_leaves_the_users_own_alone(tmp_path, monkeypatch, capsys, postgres_url):
    for name in FUNNEL_VARS:
        monkeypatch.setenv(name, "")  # prepare() sets FUNNEL_HOME and DAGSTER_HOME: restored afterwards
    monkeypatch.delenv("DAGSTER_HOME")
    home = FunnelHome(tmp_path)
    config = tmp_path / ".dagster" / "dagster.yaml"
    assert prepare(home) is None
    assert config.read_text() == DAGSTER_YAML
    # a file written by an earlier funnel (no PostgreSQL then) is funnel's, and follows the setting
    config.write_text("# Written by funnel on first use. Runs from the CLI, the schedule and the UI share this instance.\n"
                      "telemetry:\n  enabled: false\n")
    prepare(home)
    assert config.read_text() == DAGSTER_YAML

    monkeypatch.setenv("FUNNEL_POSTGRES_URL", postgres_url)
    target = prepare(home)
    assert (target.host, target.user) == ("127.0.0.1", "funnel_test") and postgres_url.endswith(f":{target.port}/{target.database}")
    assert config.read_text() == DAGSTER_YAML_POSTGRES
    password = re.search(r"://[^:]+:([^@]+)@", postgres_url).group(1)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    # the instance as the webserver and the daemon load it: PostgreSQL, and a queue of one funnel run at a time
    with instance_at(tmp_path / ".dagster", postgres_url) as instance:
        assert instance.get_ref().storage_data.class_name == PostgresStorage.__name__
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert instance.run_storage._engine.dialect.driver == "psycopg2"  # pinned: see funnel.instance_storage
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == [
            {"key": "dagster/code_location", "value": LOCATION_NAME, "limit": 1}]
        assert instance.get_run_records() is not None
    assert with_psycopg2(postgres_url).startswith("postgresql+psycopg2://")
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["location_name"] == LOCATION_NAME == cli.LOCATION_NAME

    monkeypatch.delenv("FUNNEL_POSTGRES_URL")
    assert prepare(home) is None
    assert config.read_text() == DAGSTER_YAML
    with instance_at(tmp_path / ".dagster", None) as instance:  # the embedded default, queue included
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        queue = instance.get_concurrency_config().run_queue_config
        assert (queue.max_concurrent_runs, queue.tag_concurrency_limits) == (
            1, [{"key": "dagster/code_location", "value": LOCATION_NAME, "limit": 1}])

    own = "# my instance\ntelemetry:\n  enabled: true\n"
    config.write_text(own)
    capsys.readouterr()
    prepare(home)
    assert config.read_text() == own
    monkeypatch.setenv("FUNNEL_POSTGRES_URL", postgres_url)
    prepare(home)
    assert config.read_text() == own
    assert capsys.readouterr().err == (f"funnel: FUNNEL_POSTGRES_URL is set, but {config} is your own (its first "
                                       f"line is not '{MARKER}'): it decides where the instance is kept\n")


def test_a_wrong_url_or_server_is_one_line_before_dagster_starts(tmp_path, monkeypatch, capsys, postgres_server, postgres_url):
    db = postgres_url.rsplit("/", 1)[1]
    port = postgres_server.port
    closed = free_port()
    cases = {
        "localhost:5432/funnel": "FUNNEL_POSTGRES_URL is not a URL; expected postgresql://user:password@host:port/database",
        "mysql://u:pw@db.example.com/funnel": "FUNNEL_POSTGRES_URL has mysql://; expected postgresql://user:password@host:port/database",
        "postgresql://u:pw@db.example.com:99999/funnel": "FUNNEL_POSTGRES_URL is not a valid URL (Port out of range 0-65535); "
                                                         "expected postgresql://user:password@host:port/database",
        f"postgresql://u:pw@127.0.0.1:{port}/": "FUNNEL_POSTGRES_URL names no database; expected postgresql://user:password@host:port/database",
        postgres_server.url(db, password="not-the-password-4711"):
            f"FUNNEL_POSTGRES_URL: cannot connect to PostgreSQL at 127.0.0.1:{port} (database {db}, user funnel_test): "
            'password authentication failed for user "funnel_test"',
        postgres_server.url("no_such_db"):
            f"FUNNEL_POSTGRES_URL: cannot connect to PostgreSQL at 127.0.0.1:{port} (database no_such_db, user funnel_test): "
            'database "no_such_db" does not exist',
        postgres_url.replace(f":{port}/", f":{closed}/"):
            f"FUNNEL_POSTGRES_URL: cannot connect to PostgreSQL at 127.0.0.1:{closed} (database {db}, user funnel_test): "
            "connection refused (is the server running, and listening on that address?)",
    }
    for url, message in cases.items():
        monkeypatch.setenv("FUNNEL_POSTGRES_URL", url)
        monkeypatch.setenv("FUNNEL_HOME", str(tmp_path))
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        assert cli.main(["run", "--home", str(tmp_path)]) == 2, url
        err = capsys.readouterr().err
        assert err == f"funnel: {message}\n", url
        for secret in ("pw", "not-the-password-4711", postgres_server.password):
            assert f":{secret}@" not in err and f" {secret}" not in err
        assert not (tmp_path / ".dagster").exists()  # checked before anything was written or started


def test_without_a_daemon_funnel_run_says_so_and_takes_its_run_off_the_queue(pg_home, postgres_url):
    # no daemon yet (the module's daemon starts with the next test): nobody takes runs off the queue
    result = funnel(pg_home, postgres_url, "run", FUNNEL_QUEUE_TIMEOUT="3")
    assert result.returncode == 2, result.stderr
    run_id = run_id_in(result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"funnel: run {run_id} waited 3 s in the queue and no Dagster daemon started it (")
    assert lines[-1].endswith("); it was taken off the queue. Start `dagster-daemon run` (or `funnel ui`) with the same "
                              "FUNNEL_HOME and FUNNEL_POSTGRES_URL (docs/deploy.md), or unset FUNNEL_POSTGRES_URL to "
                              "run in this process")
    assert "Traceback" not in result.stderr
    assert query(postgres_url, "SELECT status FROM runs WHERE run_id = %s", run_id) == [("CANCELED",)]
    assert not (pg_home / "warehouse" / "funnel.duckdb").exists()


SUBMIT_LIKE_THE_SENSOR = """
import dagster as dg
from funnel import cli
from funnel.instance import prepare
from funnel.settings import FunnelHome

prepare(FunnelHome.from_env())
with dg.DagsterInstance.get() as instance:
    # what the daemon does with the landing sensor's RunRequest: a run of the code location, to the queue
    _, run = cli._create_new_run(instance, {}, {"dagster/sensor_name": "landing_files_sensor",
                                                "funnel/trigger": "landing_files_sensor"}, None)
    instance.submit_run(run.run_id, workspace=None)
    print(run.run_id)
"""


def test_a_cli_run_and_a_sensor_run_submitted_at_once_queue_and_both_succeed(daemon, pg_home, postgres_url):
    env = environment(postgres_url, FUNNEL_HOME=str(pg_home))
    sensor = subprocess.Popen([sys.executable, "-c", SUBMIT_LIKE_THE_SENSOR], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    command = subprocess.Popen([sys.executable, "-m", "funnel.cli", "run", "--home", str(pg_home)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    sensor_out, sensor_err = sensor.communicate(timeout=300)
    assert sensor.returncode == 0, sensor_err
    sensor_run = sensor_out.strip().splitlines()[-1]
    out, err = command.communicate(timeout=900)
    assert command.returncode == 0, err + "\n" + (pg_home / "daemon.log").read_text()[-3000:]
    cli_run = run_id_in(err)
    # reported as a run in this process is: the summary, and the check lines
    assert out.startswith(f"run {cli_run} succeeded\n  this run:  ")
    assert f"published: {pg_home / 'warehouse' / 'funnel.duckdb'}" in out
    assert "funnel: check warning: stage_outcome_records:quarantine_share: WARN: " in err
    assert "Traceback" not in err

    # recorded in PostgreSQL, read without Dagster (the run queued behind the CLI's may still be going)
    wait_until_finished(postgres_url, sensor_run)
    rows = dict(query(postgres_url, "SELECT run_id, status FROM runs WHERE run_id IN (%s, %s)", cli_run, sensor_run))
    assert rows == {cli_run: "SUCCESS", sensor_run: "SUCCESS"}
    assert not (pg_home / ".dagster" / "history").exists()  # no SQLite run storage beside it

    with instance_at(pg_home / ".dagster", postgres_url) as instance:
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=[cli_run, sensor_run]))}
        assert records[cli_run].dagster_run.tags["funnel/trigger"] == "cli"
        assert records[sensor_run].dagster_run.tags["dagster/sensor_name"] == "landing_files_sensor"
        for record in records.values():
            assert record.dagster_run.tags["dagster/code_location"] == LOCATION_NAME
        first, second = sorted(records.values(), key=lambda r: r.start_time)
        # one after the other, never both at once
        assert first.end_time <= second.start_time
        # and the second waited in the queue: it was enqueued while the first was still going
        enqueued = instance.all_logs(second.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)[0].timestamp
        assert enqueued < first.end_time
        for run_id in records:
            events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
            assert not [e for e in events if e.is_step_failure or e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
            assert {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS} >= {
                "published_warehouse", "stage_outcome_records"}

    # the dagster CLI (as the webserver would) loads the instance from the generated dagster.yaml and lists both
    listed = subprocess.run([str(Path(sys.executable).parent / "dagster"), "run", "list"], capture_output=True, text=True,
                            env=environment(postgres_url, DAGSTER_HOME=str(pg_home / ".dagster")), cwd=ROOT, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f"Run: {cli_run}" in listed.stdout and f"Run: {sensor_run}" in listed.stdout


def test_a_failed_run_is_re_executed_from_failure_through_the_queue(daemon, pg_home, postgres_url):
    warehouse = pg_home / "warehouse"
    shutil.move(warehouse / "funnel.duckdb", pg_home / "published.keep")
    (warehouse / "funnel.duckdb" / "in-the-way").mkdir(parents=True)  # publishing fails: a folder in the way
    failed = funnel(pg_home, postgres_url, "run", "--select", "published_warehouse")
    assert failed.returncode == 1, failed.stderr
    assert "funnel: step published_warehouse failed: " in failed.stderr and "Traceback" not in failed.stderr
    run_id = run_id_in(failed.stderr, r"funnel rerun (\S+)` re-executes")
    assert query(postgres_url, "SELECT status FROM runs WHERE run_id = %s", run_id) == [("FAILURE",)]

    shutil.rmtree(warehouse / "funnel.duckdb")
    rerun = funnel(pg_home, postgres_url, "rerun", run_id)
    assert rerun.returncode == 0, rerun.stderr
    new_run = run_id_in(rerun.stdout, r"run (\S+) succeeded")
    assert query(postgres_url, "SELECT status FROM runs WHERE run_id = %s", new_run) == [("SUCCESS",)]
    with instance_at(pg_home / ".dagster", postgres_url) as instance:
        run = instance.get_run_by_id(new_run)
        assert (run.parent_run_id, run.root_run_id) == (run_id, run_id)
        assert run.tags["dagster/is_resume_retry"] == "true"
        started = [e.dagster_event.step_key for e in instance.all_logs(new_run, of_type=dg.DagsterEventType.STEP_START)]
        assert started == ["published_warehouse"]  # only the failed step ran again
    conn = duckdb.connect(str(warehouse / "funnel.duckdb"), read_only=True)
    try:
        assert conn.execute("SELECT run_id FROM publish_log ORDER BY published_at DESC LIMIT 1").fetchone() == (new_run,)
    finally:
        conn.close()


def test_the_server_stopped_mid_session_is_one_clear_line(postgres_server, postgres_url, pg_home):
    db = postgres_url.rsplit("/", 1)[1]
    expected = (f"funnel: FUNNEL_POSTGRES_URL: cannot connect to PostgreSQL at 127.0.0.1:{postgres_server.port} "
                f"(database {db}, user funnel_test): connection refused (is the server running, and listening on "
                "that address?)\n")
    postgres_server.stop()
    try:
        for command, args in (("run", ()), ("rerun", ("some-run",)), ("ui", ("--port", str(free_port())))):
            result = funnel(pg_home, postgres_url, command, *args, timeout=120)
            assert (result.returncode, result.stderr) == (2, expected), command
            assert postgres_server.password not in result.stdout + result.stderr
        prepared = subprocess.run([sys.executable, "-m", "funnel.instance", "--home", str(pg_home)], capture_output=True,
                                  text=True, env=environment(postgres_url), cwd=ROOT, timeout=120)
        assert (prepared.returncode, prepared.stderr) == (2, expected)
    finally:
        postgres_server.start()
    assert query(postgres_url, "SELECT count(*) FROM runs")[0][0] > 0  # the history is still there
