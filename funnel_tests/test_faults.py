"""Crashes and repeats: a run killed with SIGKILL at any step leaves the published database a whole
old or new snapshot and the landing files untouched, the next run publishes what an uninterrupted
run would have, and two runs over the same files publish identical tables."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from funnel.assets.marts import PUBLISHED_MARTS
from funnel.config import default_config
from funnel.generate import generate

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("FUNNEL_HOME", "DAGSTER_HOME")}


def run_funnel(home: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def run_and_kill_at(home: Path, marker: str) -> list[str]:
    """Start `funnel run` and SIGKILL it as soon as a progress line matching `marker` appears."""
    process = subprocess.Popen(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT,
    )
    seen = []
    try:
        for line in process.stderr:
            seen.append(line.rstrip())
            if re.search(marker, line):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, f"the run ended before {marker!r}:\n" + "\n".join(seen)
    return seen


def published_tables(home: Path) -> dict[str, list[tuple]]:
    """Every published mart, rows in stored order (publish_log differs between runs by design)."""
    conn = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        return {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in PUBLISHED_MARTS}
    finally:
        conn.close()


def publish_count(home: Path) -> int:
    conn = duckdb.connect(str(home / "warehouse" / "funnel.duckdb"), read_only=True)
    try:
        return conn.execute("SELECT count(*) FROM publish_log").fetchall()[0][0]
    finally:
        conn.close()


def landing_hashes(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "landing").rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A generated landing folder, and the files held back for the second delivery."""
    root = tmp_path_factory.mktemp("landing")
    generate(root / "landing", 400, 5, default_config())
    files = sorted(p for p in (root / "landing" / "stage_outcomes").rglob("*") if p.is_file())
    return root / "landing", files[-4:]


def copy_landing(landing: tuple[Path, list[Path]], home: Path, *, held_back: bool) -> None:
    source, later = landing
    shutil.copytree(source, home / "landing")
    if held_back:
        for path in later:
            (home / "landing" / path.relative_to(source)).unlink()


@pytest.fixture(scope="module")
def reference(landing, tmp_path_factory) -> dict:
    """What uninterrupted runs publish: after the first delivery, and after both."""
    first = tmp_path_factory.mktemp("first")
    copy_landing(landing, first, held_back=True)
    run_funnel(first)
    both = tmp_path_factory.mktemp("both")
    copy_landing(landing, both, held_back=False)
    run_funnel(both)
    return {"old": published_tables(first), "new": published_tables(both), "home": both}


def test_a_second_run_over_the_same_files_publishes_identical_tables(reference):
    home = reference["home"]
    again = run_funnel(home)
    assert "0 file(s) read, 0 rejected; 0 rows ingested" in again.stdout
    assert published_tables(home) == reference["new"]
    assert publish_count(home) == 2


def test_a_full_refresh_rebuilds_from_the_landing_files_and_publishes_the_same_tables(reference):
    home = reference["home"]
    result = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run", "--full-refresh"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "full refresh:" in result.stderr
    contents = len(set(landing_hashes(home).values()))
    assert f"this run:  {contents} file(s) read" in result.stdout  # every landing file read again
    assert published_tables(home) == reference["new"]


def test_reference_deliveries_differ(reference):
    # otherwise "old or new" below would prove nothing
    assert reference["old"]["stage_pass_rates"] != reference["new"]["stage_pass_rates"]
    assert len(reference["new"]["application_journeys"]) > len(reference["old"]["application_journeys"])


def test_sigkill_at_every_step_leaves_old_or_new_and_the_next_run_recovers(landing, reference, tmp_path):
    home = tmp_path / "home"
    copy_landing(landing, home, held_back=True)
    run_funnel(home)
    assert published_tables(home) == reference["old"]
    source, later = landing
    for path in later:  # the second delivery lands
        shutil.copy2(path, home / "landing" / path.relative_to(source))
    hashes = landing_hashes(home)

    # killed while reading files, while rebuilding the marts, and while publishing
    for marker, allowed in [
        (r"^stage_outcomes: .*: read ", ["old"]),
        (r"^built int_application_stages", ["old"]),
        (r"^publishing ", ["old", "new"]),
    ]:
        run_and_kill_at(home, marker)
        snapshot = published_tables(home)  # opens: the file is whole and a valid database
        assert any(snapshot == reference[name] for name in allowed), f"killed at {marker}: a mixed snapshot"
        assert landing_hashes(home) == hashes, "a landing file was modified"
        assert not list((home / "warehouse").glob(".funnel.duckdb.*.building")) or marker == r"^publishing "

    recovered = run_funnel(home)
    assert "marked abandoned run" in recovered.stderr
    assert published_tables(home) == reference["new"]
    assert landing_hashes(home) == hashes
    assert not list((home / "warehouse").glob(".funnel.duckdb.*.building"))


def test_a_failed_run_re_executed_from_failure_publishes_what_a_clean_run_does(landing, reference, tmp_path):
    home = tmp_path / "home"
    copy_landing(landing, home, held_back=False)
    # publishing fails: something occupies the published database's path
    (home / "warehouse" / "funnel.duckdb" / "in-the-way").mkdir(parents=True)
    failed = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "run"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert failed.returncode == 1
    assert "step published_warehouse failed" in failed.stderr
    assert "Traceback" not in failed.stderr
    run_id = re.search(r"funnel rerun (\S+)` re-executes", failed.stderr).group(1)

    shutil.rmtree(home / "warehouse" / "funnel.duckdb")
    rerun = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "--home", str(home), "rerun", run_id],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert published_tables(home) == reference["new"]
    # only the failed step ran again: nothing was ingested or rebuilt
    assert "read " not in rerun.stderr and "built " not in rerun.stderr
    assert "publishing " in rerun.stderr
